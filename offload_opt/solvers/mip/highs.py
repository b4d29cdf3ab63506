"""HiGHS in memory through Pyomo's appsi interface: one place that sets its options."""

from __future__ import annotations

import highspy
from pyomo.contrib.appsi.solvers.highs import Highs

from offload_opt.solvers.mip.model import MipModel

_scheduler_threads: list[int] = []  # thread count HiGHS's global scheduler was started with


def _use_threads(threads: int | None) -> int:
    """HiGHS starts one global task scheduler per process and refuses a later run asking for another
    thread count; restart the scheduler when the count changes (0: HiGHS's default)."""
    n = 0 if threads is None else int(threads)
    if _scheduler_threads and _scheduler_threads[0] != n:
        highspy.Highs.resetGlobalScheduler(True)
    _scheduler_threads[:] = [n]
    return n


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
        "threads": _use_threads(threads),
        "solve_relaxation": relax,
    }
    return opt.solve(model.m)
