"""Probability that an op's answer is correct, and how a decomposed task's quality composes.

``p_correct = sigmoid(a * (theta - b(d)))`` (item-response model of
models/quality.yaml), with ``b`` piecewise linear in the MATH difficulty ``d``
through the fitted levels 1..5. A whole task is one op: ``q = p_correct(theta, L)``.

A decomposed task is correct only if every subtask and the aggregation step are
correct; errors compound along chained sub-answers (arXiv 2410.00151), so the
task's quality is the product of its ops' qualities, ``q = q_agg * prod_s q_s``
(``compose_decomposed``). The composition rules (``COMPOSITION_RULES``) differ in
what one op's quality is:

``product`` (schema-1 files): each op is an item of its own difficulty ``d_op``,
    ``q_op = p_correct(theta, d_op)``.
``work-share`` (the default of new instances): a task of level ``L`` is an amount
    of reasoning work ``W(L)`` (``work_of_difficulty``, MATH reference-solution
    length by level). An op whose difficulty is ``d_op`` carries the work
    ``W(d_op)``, a share ``W(d_op) / W(L)`` of the whole task's, and succeeds with
    ``q_op = p_correct(theta, L) ** ((1 - uplift) * W(d_op) / W(L))``: each unit of
    work is done at the per-unit success of the whole task, and decomposition
    removes a share ``uplift`` of the error exponent (fitted to Plan-and-Solve,
    arXiv 2305.04091). With one model on every op, shares summing to 1 and no
    uplift, the decomposed task's quality equals the whole task's exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def difficulty_to_b(difficulty: float, b_levels: Sequence[float]) -> float:
    """IRT difficulty ``b`` of a MATH difficulty in [1, len(b_levels)], linear between levels."""
    n = len(b_levels)
    if n < 2:
        raise ValueError(f"b_levels: need at least 2 levels, got {n}")
    if not 1.0 <= difficulty <= n:
        raise ValueError(f"difficulty: must be in [1, {n}], got {difficulty!r}")
    return _difficulty_to_b_unchecked(difficulty, b_levels)


def _difficulty_to_b_unchecked(difficulty: float, b_levels: Sequence[float]) -> float:
    """``difficulty_to_b`` on inputs already checked (the instance checks them once at load)."""
    n = len(b_levels)
    lo = min(int(math.floor(difficulty)), n - 1)  # difficulty == n falls in the last segment
    frac = difficulty - lo
    return b_levels[lo - 1] + frac * (b_levels[lo] - b_levels[lo - 1])


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def p_correct(theta: float, difficulty: float, a: float, b_levels: Sequence[float]) -> float:
    """``sigmoid(a * (theta - b(difficulty)))``: success probability of a model of ability ``theta``."""
    if not a > 0:
        raise ValueError(f"a: must be > 0, got {a!r}")
    difficulty_to_b(difficulty, b_levels)  # its checks
    return _p_correct_unchecked(theta, difficulty, a, b_levels)


def _p_correct_unchecked(theta: float, difficulty: float, a: float, b_levels: Sequence[float]) -> float:
    """``p_correct`` on inputs already checked: the cost tables' fast path (PhysicsSettings and the
    tasks' difficulties are checked once when the instance is built)."""
    return _p_correct_of_b(theta, _difficulty_to_b_unchecked(difficulty, b_levels), a)


def _p_correct_of_b(theta: float, b: float, a: float) -> float:
    """``p_correct`` from the IRT difficulty ``b`` (``difficulty_to_b``) already worked out: the cost
    tables rate every model of an op at one difficulty, so they convert it to ``b`` once per op."""
    return _sigmoid(a * (theta - b))


def _check_work_levels(work_levels: Sequence[float]) -> None:
    if len(work_levels) < 2:
        raise ValueError(f"work_levels: need at least 2 levels, got {len(work_levels)}")
    prev = 0.0
    for i, w in enumerate(work_levels):
        if not (math.isfinite(w) and w > prev):
            raise ValueError(
                f"work_levels[{i}]: must be finite and above the level below (0 below level 1), got {w!r}"
            )
        prev = w


def work_of_difficulty(difficulty: float, work_levels: Sequence[float]) -> float:
    """Reasoning work ``W(d)`` of difficulty ``d`` in (0, len(work_levels)].

    Piecewise linear through ``(0, 0), (1, W1), ..., (n, Wn)``: below level 1 a
    difficulty ``d`` is a fraction ``d`` of a level-1 task's work, which is
    where most subtasks of a decomposed MATH task fall.
    """
    _check_work_levels(work_levels)
    n = len(work_levels)
    if not 0.0 < difficulty <= n:
        raise ValueError(f"difficulty: must be in (0, {n}], got {difficulty!r}")
    return _work_of_difficulty_unchecked(difficulty, work_levels)


def _work_of_difficulty_unchecked(difficulty: float, work_levels: Sequence[float]) -> float:
    """``work_of_difficulty`` on inputs already checked (the cost tables' fast path)."""
    n = len(work_levels)
    if difficulty <= 1.0:
        return difficulty * work_levels[0]
    lo = min(int(math.floor(difficulty)), n - 1)
    frac = difficulty - lo
    return work_levels[lo - 1] + frac * (work_levels[lo] - work_levels[lo - 1])


def difficulty_of_work(work: float, work_levels: Sequence[float]) -> float:
    """Inverse of ``work_of_difficulty``: the difficulty whose work is ``work`` (in (0, W(n)])."""
    _check_work_levels(work_levels)
    if not 0.0 < work <= work_levels[-1]:
        raise ValueError(f"work: must be in (0, {work_levels[-1]}], got {work!r}")
    return _difficulty_of_work_unchecked(work, work_levels)


def _difficulty_of_work_unchecked(work: float, work_levels: Sequence[float]) -> float:
    """``difficulty_of_work`` on inputs already checked (the generator's fast path: it checks the work
    levels once per instance and each work's range itself)."""
    if work <= work_levels[0]:
        return work / work_levels[0]
    for k in range(1, len(work_levels)):
        if work <= work_levels[k]:
            return k + (work - work_levels[k - 1]) / (work_levels[k] - work_levels[k - 1])
    raise AssertionError("unreachable: work <= work_levels[-1]")


def check_uplift(uplift: float) -> None:
    """``uplift`` is a share of the error exponent: valid in [0, 1)."""
    if not (isinstance(uplift, (int, float)) and 0.0 <= uplift < 1.0):
        raise ValueError(f"decomposition_uplift: must be in [0, 1), got {uplift!r}")


def work_share_quality(q_whole: float, work_share: float, uplift: float) -> float:
    """Quality of an op carrying ``work_share`` of a task whose whole-task quality is ``q_whole``.

    ``q_whole ** ((1 - uplift) * work_share)`` (rule ``work-share``, module docstring).
    """
    if not 0.0 <= q_whole <= 1.0:
        raise ValueError(f"q_whole: must be in [0, 1], got {q_whole!r}")
    if not (math.isfinite(work_share) and work_share >= 0.0):
        raise ValueError(f"work_share: must be finite and >= 0, got {work_share!r}")
    check_uplift(uplift)
    return _work_share_quality_unchecked(q_whole, work_share, uplift)


def _work_share_quality_unchecked(q_whole: float, work_share: float, uplift: float) -> float:
    """``work_share_quality`` on inputs already checked (the cost tables' fast path)."""
    return q_whole ** ((1.0 - uplift) * work_share)


def uplift_from_accuracies(q_whole: float, q_decomposed: float) -> float:
    """The uplift that turns whole-task accuracy ``q_whole`` into ``q_decomposed`` (one model, shares summing to 1).

    ``1 - ln(q_decomposed) / ln(q_whole)``: how models/quality.yaml fits the uplift to published pairs.
    """
    if not (0.0 < q_whole < 1.0 and 0.0 < q_decomposed < 1.0):
        raise ValueError(f"accuracies: must be in (0, 1), got {q_whole!r} and {q_decomposed!r}")
    return 1.0 - math.log(q_decomposed) / math.log(q_whole)


def compose_decomposed(q_agg: float, q_subtasks: Iterable[float]) -> float:
    """Quality of a decomposed task: ``q_agg * prod(q_subtasks)`` (see the module docstring)."""
    q = q_agg
    if not 0.0 <= q_agg <= 1.0:
        raise ValueError(f"q_agg: must be in [0, 1], got {q_agg!r}")
    for i, qs in enumerate(q_subtasks):
        if not 0.0 <= qs <= 1.0:
            raise ValueError(f"q_subtasks[{i}]: must be in [0, 1], got {qs!r}")
        q *= qs
    return q
