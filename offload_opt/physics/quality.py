"""Probability that an op's answer is correct (item-response model of models/quality.yaml).

``p_correct = sigmoid(a * (theta_model - b(d)))``, with ``b`` piecewise linear in
the MATH difficulty ``d`` through the fitted levels 1..5.

Composition rule for a decomposed task: it is correct only if every subtask and
the aggregation step are correct, and these events are treated as independent,
so ``q = q_agg * prod_s q_s``. A whole task is a single op: ``q = p_correct``.
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
    return _sigmoid(a * (theta - difficulty_to_b(difficulty, b_levels)))


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
