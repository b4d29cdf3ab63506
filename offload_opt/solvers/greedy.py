"""Greedy: a decomposition-aware list scheduler maximising each task's marginal reward.

Tasks are taken one at a time in a priority order (option ``order``):

- ``"spt"`` (default): earliest expected completion first, i.e. by release
  plus the task's upward rank (HEFT's rank with mean computation and mean
  transfer costs: mean input transfer + mean compute + mean answer transfer).
  The objective sums latencies, so short tasks first pays, as in SPT for
  total completion time;
- ``"release"``: first come, first served;
- ``"rank"``: HEFT's longest upward rank first (good for makespan, poor here).

Mean reward over 5 seeds of the default scenario: 12 users x 3 APs: spt 5.63,
release 5.37, rank 4.87; 100 x 10: 25.1 / 20.8 / 12.6 (best-single-mode:
5.39 and 22.7).

For the task at hand every mode is tried against the current timelines: its
ops in decreasing upward rank, each on the option and slot of best marginal
reward (``Engine.choose_option``: ``costs.task_reward`` of the task quality
by ``costs.task_quality`` with the ops not placed yet at their best option,
against the latency up to the op's finish, or the answer's arrival for the
final op). The mode whose completed schedule gives the task the highest
reward (``Engine.task_value``, deadline misses heavily penalised) is kept and
the others are taken back. Hard deadlines: that op-by-op reward choice is
myopic (an op's deadline check sees only its own finish, so early ops take
slow high-quality options and the later ones run out of time). When the task
misses its deadline it is placed again deadline-first: every mode with each
op on its earliest-finishing option, then upgraded one op at a time to a
higher-quality option while the task's value rises (``_upgrade``), and the
better of the two placements is kept. So a task misses only when neither the
reward choice nor the fastest placement (then upgraded) meets its deadline
on the current timelines. A mode, or a partly placed one, whose reward bound
cannot beat the best mode so far is skipped; like the option pruning inside
``choose_option`` this never changes the choice, it only saves time.
Placement is insertion-based (``timeline.py``), so the claimed objective is
exactly the evaluator's.

For the ``whole`` mode the choice is exact (every (node, model, slot) is
measured with its input transfer, compute and answer transfer), so on a
single task greedy is never worse than the best-single-mode baseline.

On the explicit-cost form (objective makespan) greedy is HEFT.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Any

from offload_opt.costs import CostTables
from offload_opt.solvers.heft import heft_schedule
from offload_opt.solvers.options import GreedyOptions
from offload_opt.solvers.output import SolverOutput
from offload_opt.solvers.timeline import RANK_DIGITS, Engine, Unit


def _order_release(eng: Engine) -> list[int]:
    return sorted(range(len(eng.tasks)), key=lambda t: (eng.tasks[t].release_s, t))


def _order_spt(eng: Engine) -> list[int]:
    # earliest expected completion first: release + the whole-mode upward rank (mean in + compute + out)
    if len(eng.tasks) == 1:  # nothing to order (the simulator's arrival epoch): skip the ranks
        return [0]
    return sorted(
        range(len(eng.tasks)),
        key=lambda t: (round(eng.tasks[t].release_s + eng.task_rank(t, 0), RANK_DIGITS), t),
    )


def _order_rank(eng: Engine) -> list[int]:
    # HEFT's rule: longest upward rank first
    return sorted(range(len(eng.tasks)), key=lambda t: (-round(eng.task_rank(t, 0), RANK_DIGITS), t))


TASK_ORDERS: dict[str, Callable[[Engine], list[int]]] = {
    "spt": _order_spt,
    "release": _order_release,
    "rank": _order_rank,
}


def _insert_modes(eng: Engine, ti: int, todo: list[int], score: str) -> list[Unit]:
    """Place task ``ti`` in the best of the modes ``todo``, each op on its ``score``-best option
    (``Engine.choose_option``); returns its ops in placement order.

    A mode is measured op by op; it is abandoned as soon as its reward bound
    (``Engine.mode_bound``, ``Engine.partial_bound``) cannot beat the best
    mode so far, which never changes the choice.
    """
    best_v, best = -math.inf, None
    while todo:
        m = todo.pop(0)
        st = eng.begin(ti, m)
        order = eng.op_order(ti, m)
        v = None
        for n, i in enumerate(order):
            eng.place_op(ti, i, eng.choose_option(ti, i, score))
            if best is not None and n < len(order) - 1 and eng.partial_bound(ti) <= best_v:
                v, order = -math.inf, order[: n + 1]  # cannot beat the best mode any more
                break
        if v is None:
            v = eng.task_value(ti)
        better = v > best_v
        if better:
            best_v = v
        todo = [m2 for m2 in todo if eng.mode_bound(ti, m2) > best_v]
        if not todo and better:
            return [(ti, i) for i in order]  # the last mode measured is the best: keep it as placed
        recs = [(i, st.opts[i], eng.unplace_op(ti, i)) for i in reversed(order)]
        if better:
            best = (m, order, recs)
    assert best is not None
    m, order, recs = best
    _restore(eng, ti, m, order, recs)
    return [(ti, i) for i in order]


def _restore(eng: Engine, ti: int, m: int, order: list[int], recs: list[tuple[int, int, Any]]) -> None:
    """Put back ops taken off (``recs`` in reverse placement order) onto the timelines they came from."""
    eng.begin(ti, m)
    for i, j, r in reversed(recs):  # the timelines are as they were when these were made: put them back
        eng.restore_op(ti, i, j, r)


def misses_deadline(eng: Engine, ti: int) -> bool:
    """Whether placed task ``ti`` has a deadline and its answer arrives after it."""
    d = eng.tasks[ti].deadline_s
    return d is not None and eng.latency_s(ti) > d


UPGRADE_PASSES = 1  # passes of the one-op upgrade after a deadline-first placement (bounds its cost)


def _upgrade(eng: Engine, ti: int, order: list[int]) -> None:
    """Raise the value of placed task ``ti`` (ops placed in ``order``, the last placed on the engine) by
    one-op upgrades: op ``order[n]`` onto an option of higher quality, the ops after it again
    deadline-first (``"eft"``).

    A change is kept when it raises ``Engine.task_value`` (so a met deadline
    stays met unless the reward gain outweighs the penalty, which cannot
    happen: the penalty is ~1e3 per second); at most ``UPGRADE_PASSES``
    passes over the ops. This is what turns "every op fastest" into "the
    best quality that still answers in time" one op at a time, e.g. an
    expert on one subtask while the others stay fast.
    """
    st = eng.placed(ti)
    ops = eng.tasks[ti].modes[st.mode].ops
    best_v = eng.task_value(ti)
    for _ in range(UPGRADE_PASSES):
        improved = False
        for n, i in enumerate(order):
            options = ops[i].options
            for j in range(len(options)):
                if options[j].quality <= options[st.opts[i]].quality:
                    continue  # the ops before are already fastest-or-better: only a better quality can pay
                saved = [(k, st.opts[k], eng.unplace_op(ti, k)) for k in reversed(order[n:])]
                eng.place_op(ti, i, j)
                for k in order[n + 1 :]:
                    eng.place_op(ti, k, eng.choose_option(ti, k, "eft"))
                v = eng.task_value(ti)
                if v > best_v + 1e-12 * max(1.0, abs(best_v)):
                    best_v, improved = v, True  # keep it placed
                    continue
                for k in reversed(order[n:]):
                    eng.unplace_op(ti, k)
                for k, jj, r in reversed(saved):
                    eng.restore_op(ti, k, jj, r)
        if not improved:
            return


def insert_task(
    eng: Engine, ti: int, modes: Iterable[int] | None = None, *, deadline_first: bool = True
) -> list[Unit]:
    """Place task ``ti`` greedily: best of its ``modes`` (all by default); returns its ops in placement order.

    Each op goes on the option of best marginal reward (``choose_option``
    ``"reward"``). That choice is myopic about a deadline: an early op may
    take a slow, high-quality option that leaves the later ops no time. So
    when the task misses its deadline, it is placed again deadline-first
    (every op on its earliest-finishing option, ``"eft"``, in every mode) and
    the placement of higher ``Engine.task_value`` is kept (the deadline
    penalty makes a met deadline win). ``deadline_first=False`` skips that
    second try (the reward-only placement, for comparison). A deadline-first
    placement that meets the deadline is then upgraded op by op
    (``_upgrade``: another option for one op, the later ops fastest again,
    kept if the task's value rises).
    """
    todo = list(range(len(eng.tasks[ti].modes))) if modes is None else list(modes)
    units = _insert_modes(eng, ti, list(todo), "reward")
    if not deadline_first or not misses_deadline(eng, ti):
        return units
    st = eng.placed(ti)
    v, m = eng.task_value(ti), st.mode
    order = [i for _, i in units]
    recs = [(i, st.opts[i], eng.unplace_op(ti, i)) for i in reversed(order)]
    fast = _insert_modes(eng, ti, list(todo), "eft")
    if not misses_deadline(eng, ti):
        _upgrade(eng, ti, [i for _, i in fast])
    if eng.task_value(ti) > v:
        return fast
    for _, i in reversed(fast):
        eng.unplace_op(ti, i)
    _restore(eng, ti, m, order, recs)
    return units


def greedy_schedule(eng: Engine, order_rule: str = "spt") -> list[Unit]:
    """Greedy over all tasks in the ``order_rule`` priority; returns the op order (for the local search)."""
    if eng.makespan_objective:
        return heft_schedule(eng, [0] * len(eng.tasks))
    if order_rule not in TASK_ORDERS:
        raise ValueError(f"option order: must be one of {sorted(TASK_ORDERS)}, got {order_rule!r}")
    units: list[Unit] = []
    for ti in TASK_ORDERS[order_rule](eng):
        units.extend(insert_task(eng, ti))
    return units


def solve_greedy(
    costs: CostTables, *, time_limit_s: float | None, seed: int, options: GreedyOptions
) -> SolverOutput:
    """The ``greedy`` solver (registry.py): one greedy pass in ``options.order``."""
    t0 = time.perf_counter()
    eng = Engine(costs)
    greedy_schedule(eng, options.order)
    info: dict[str, Any] = {"scheduler": "insertion-based", "schedule_time_s": time.perf_counter() - t0}
    if eng.makespan_objective:
        info["delegated"] = "heft (explicit-cost form, makespan)"
    else:
        info["order"] = options.order
    if not eng.deadlines_met():
        info["deadlines"] = "some deadline is missed"
    return SolverOutput(eng.solution("greedy"), "heuristic", claimed_objective=eng.objective(), info=info)
