"""Warm start: the best evaluated solution of a few heuristics (or a given solution).

The heuristics are imported directly (same layer of the solver package), not looked up in the
registry, so the MIP does not import the layer above it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from offload_opt.costs import CostTables
from offload_opt.evaluator import Evaluation, evaluate
from offload_opt.solution import Solution
from offload_opt.solvers.alns import solve_alns
from offload_opt.solvers.baselines import solve_best_single_mode, solve_local_only, solve_nearest_edge
from offload_opt.solvers.greedy import solve_greedy
from offload_opt.solvers.heft import solve_cpop, solve_heft
from offload_opt.solvers.local_search import solve_local_search
from offload_opt.solvers.mip.model import Target
from offload_opt.solvers.mip.targets import better
from offload_opt.solvers.options import (
    AlnsOptions,
    CgOptions,
    GreedyOptions,
    HeftOptions,
    LocalSearchOptions,
    NoOptions,
)
from offload_opt.solvers.output import SolverOutput

# name -> (solver function, its default options): the heuristics a warm start may name
# (the same names as options.WARM_START_HEURISTICS, which MipOptions checks; a test keeps them equal)
HEURISTICS: dict[str, tuple[Callable[..., SolverOutput], Any]] = {
    "greedy": (solve_greedy, GreedyOptions()),
    "local-search": (solve_local_search, LocalSearchOptions()),
    "heft": (solve_heft, HeftOptions()),
    "cpop": (solve_cpop, HeftOptions()),
    "best-single-mode": (solve_best_single_mode, NoOptions()),
    "nearest-edge": (solve_nearest_edge, NoOptions()),
    "local-only": (solve_local_only, NoOptions()),
    "alns": (solve_alns, AlnsOptions()),
}


def warm_start_solution(
    costs: CostTables,
    warm_start: tuple[str, ...] | Solution | None,
    budget_s: float | None,
    seed: int,
    deadline: float | None,
    objectives: dict[str, float | None],
) -> tuple[str | None, Solution | None, Evaluation | None]:
    """The best evaluated solution among the named heuristics (each given ``budget_s``) or a given one.

    Returned: its name, the solution and its evaluation (all None when there is none). A heuristic
    is not started once ``deadline`` (perf_counter seconds) has passed. ``objectives`` receives
    every heuristic's evaluated objective (None: infeasible).
    """
    if warm_start is None:
        return None, None, None
    sols: list[tuple[str, Solution]] = []
    if isinstance(warm_start, Solution):
        sols.append(("given", warm_start))
    else:
        for name in warm_start:
            if deadline is not None and time.perf_counter() >= deadline:
                break
            func, opts = HEURISTICS[name]  # names are checked by MipOptions
            out = func(costs, time_limit_s=budget_s, seed=seed, options=opts)
            if out.solution is not None:
                sols.append((name, out.solution))
    best: tuple[str, Solution, Evaluation] | None = None
    sense = Target(costs.objective.kind)
    for name, sol in sols:
        ev = evaluate(costs, sol)
        value = ev.objective if ev.feasible else None
        objectives[name] = value
        if value is not None and (best is None or better(sense, value, best[2].objective)):
            best = (name, sol, ev)
    if best is None:
        return None, None, None
    return best


def warm_start_budget(costs: CostTables, time_limit_s: float | None) -> float:
    """Seconds each warm-start heuristic may take: 0.1 s per task, at most 5% of the time limit."""
    budget = 0.1 * max(1, len(costs.tasks))
    if time_limit_s is not None:
        budget = min(budget, 0.05 * time_limit_s)
    return max(budget, 0.05)


@dataclass
class CgStart:
    """What a ``cg`` run handed to the MIP (docs/mip.md, "Hand-over from cg").

    ``bound``: cg's valid upper bound on the reward (None: none); ``solution`` / ``evaluation``:
    its best evaluated incumbent (None: none); ``termination`` and ``info``: cg's own;
    ``time_s``: wall seconds it took; ``skipped``: why cg did not run (None: it ran).
    """

    solution: Solution | None = None
    evaluation: Evaluation | None = None
    bound: float | None = None
    termination: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    time_s: float = 0.0
    skipped: str | None = None


def cg_start(
    costs: CostTables,
    target: Target,
    time_limit_s: float | None,
    warm_start: tuple[str, ...] | Solution | None,
    warm_start_s: float | None,
    seed: int,
) -> CgStart:
    """Run the ``cg`` solver for ``time_limit_s`` (None: until its LP converges) from the MIP's warm start.

    Only for the instance's own reward objective (cg bounds nothing else): for a side-constrained
    target, a makespan or a form cg does not support, nothing runs and ``skipped`` says why. The
    import is local: cg builds on this package's windows and warm start, so a top-level import
    would be circular.
    """
    from offload_opt.solvers.cg.solve import check_supported, solve_cg

    if target.kind != "reward" or target.limit is not None:
        return CgStart(skipped=f"cg hand-over: cg bounds the reward only, not the {target.kind!r} target")
    try:
        check_supported(costs)
    except ValueError as exc:
        return CgStart(skipped=f"cg hand-over: {exc}")
    t0 = time.perf_counter()
    out = solve_cg(
        costs,
        time_limit_s=time_limit_s,
        seed=seed,
        options=CgOptions(warm_start=warm_start, warm_start_s=warm_start_s),
    )
    took = time.perf_counter() - t0
    ev = evaluate(costs, out.solution) if out.solution is not None else None
    if ev is not None and not ev.feasible:  # never expected: cg keeps evaluated, feasible incumbents
        ev = None
    bound = out.bound if out.bound is not None and math.isfinite(out.bound) else None
    return CgStart(out.solution if ev is not None else None, ev, bound, out.termination, dict(out.info), took)
