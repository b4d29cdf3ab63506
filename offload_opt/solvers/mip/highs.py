"""HiGHS in memory through Pyomo's appsi interface: one place that sets its options."""

from __future__ import annotations

from pyomo.contrib.appsi.solvers.highs import Highs

from offload_opt.solvers.highs_threads import use_threads
from offload_opt.solvers.mip.model import MipModel


def run_highs(
    model: MipModel,
    time_limit: float | None,
    mip_gap: float,
    threads: int | None,
    warm: bool,
    solver: Highs | None = None,
    seed: int = 0,
    log: bool = False,
    relax: bool = False,
):
    opt = solver or Highs()
    opt.config.load_solution = False
    opt.config.stream_solver = log
    opt.config.time_limit = None if time_limit is None else max(time_limit, 0.01)
    opt.config.mip_gap = mip_gap
    opt.config.warmstart = warm
    opt.highs_options = {
        "random_seed": int(seed) % 2147483647,
        "threads": use_threads(threads),
        "solve_relaxation": relax,
    }
    return opt.solve(model.m)


def forget_solution(solver: Highs) -> None:
    """Clear the solution HiGHS keeps from its last run (the model stays).

    HiGHS takes a kept solution as the next run's MIP start even when appsi's ``warmstart`` is
    off, so a run meant to be without a start needs this first.
    """
    solver._solver_model.clearSolver()
