"""Constructive starts for the improvement heuristics: every one is built, the best is kept.

An improvement heuristic (``local-search``, ``alns``) must never return
something worse than a constructive heuristic the user could have run
instead. So it starts from the best of them: ``greedy`` in each of its task
orders, and the paper's baselines (``best-single-mode``, ``nearest-edge``,
``local-only``). "Best" is the search's own score: the summed reward minus the
deadline penalty (``Engine.task_value``), so a start that meets every
deadline beats one that misses any; on the explicit form, minus the makespan
(there only ``greedy``, i.e. HEFT, applies). Ties go to the earlier start in
``START_NAMES``.

A start is a placed ``Engine`` plus its plan's priority order (units), which
is what the searches re-schedule. A baseline's start is the engine the
baseline placed (``baselines.baseline_engine``), with its own order (first
come, first served, each task's ops topologically): the baseline's schedule
itself, with no solution built and nothing placed twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from offload_opt.costs import CostTables
from offload_opt.solvers.baselines import (
    RULES,
    baseline_engine,
    solve_best_single_mode,
    solve_local_only,
    solve_nearest_edge,
)
from offload_opt.solvers.greedy import TASK_ORDERS, greedy_schedule
from offload_opt.solvers.options import CONSTRUCTIVE_STARTS
from offload_opt.solvers.timeline import Engine, Unit

_BASELINES = {
    "best-single-mode": solve_best_single_mode,
    "nearest-edge": solve_nearest_edge,
    "local-only": solve_local_only,
}
START_NAMES: tuple[str, ...] = CONSTRUCTIVE_STARTS  # greedy in each order, then the baselines
assert tuple(f"greedy-{o}" for o in TASK_ORDERS) + tuple(_BASELINES) == START_NAMES


@dataclass
class Start:
    """A constructive schedule placed on an engine, with the priority order of its ops."""

    name: str
    eng: Engine
    units: list[Unit]
    score: float  # summed reward minus deadline penalties, or minus the makespan (explicit form)


def engine_score(eng: Engine) -> float:
    """What the searches maximise: summed ``task_value`` (reward minus deadline penalty), or -makespan."""
    if eng.makespan_objective:
        return -eng.objective()
    return sum(eng.task_value(ti) for ti in range(len(eng.tasks)))


def build_start(costs: CostTables, name: str) -> Start | None:
    """One constructive start by name (``START_NAMES``); None when it does not apply to the instance."""
    if name.startswith("greedy-"):
        eng = Engine(costs)
        return Start(name, eng, greedy_schedule(eng, name.removeprefix("greedy-")), engine_score(eng))
    if name not in _BASELINES:
        raise ValueError(f"option: starts must be among {list(START_NAMES)}, got {name!r}")
    if costs.instance.is_explicit:  # the baselines need devices and APs
        return None
    # the baseline's own engine: placed first come, first served, each task's ops topologically
    eng, _ = baseline_engine(costs, RULES[name])
    order = sorted(range(len(costs.tasks)), key=lambda t: (costs.tasks[t].release_s, t))
    units: list[Unit] = []
    for ti in order:
        st = eng.placed(ti)
        units.extend((ti, i) for i in costs.tasks[ti].modes[st.mode].topo_order)
    return Start(name, eng, units, engine_score(eng))


def best_start(costs: CostTables, names: Sequence[str] = START_NAMES) -> tuple[Start, dict[str, float]]:
    """The best constructive start among ``names`` and the score of every one built (for ``info``)."""
    best: Start | None = None
    scores: dict[str, float] = {}
    for name in names:
        if costs.objective.kind == "makespan" and not name.startswith("greedy-"):
            continue  # baselines need devices and APs
        if costs.objective.kind == "makespan" and best is not None:
            break  # every greedy order is HEFT on the explicit form: one is enough
        s = build_start(costs, name)
        if s is None:
            continue
        scores[name] = s.score
        if best is None or s.score > best.score:
            best = s
    if best is None:
        raise ValueError(f"option: starts {list(names)} give no schedule for this instance")
    return best, scores
