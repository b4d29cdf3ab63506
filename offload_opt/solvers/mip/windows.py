"""Valid time windows for one call: contention-free ones from the incumbent, then LP-priced reward floors.

Phase 1 of a MIP call (docs/mip.md, "Windows"): every solution at least as good as the
incumbent fits these windows, so they prune options and set the big-Ms.
"""

from __future__ import annotations

import time

import pyomo.environ as pyo
from pyomo.contrib.appsi.base import TerminationCondition
from pyomo.contrib.appsi.solvers.highs import Highs

from offload_opt.solvers.mip.highs import run_highs
from offload_opt.solvers.mip.model import MipModel, Target
from offload_opt.solvers.mip.structure import (
    Structure,
    Windows,
    apply_completion_bounds,
    generic_horizon,
    heads_and_tails,
    reward_per_latency_s,
    task_reward_floors,
)


def build_windows(
    st: Structure, target: Target, incumbent: float | None, known_floors: list[float] | None = None
) -> tuple[Windows, list[float] | None]:
    """Valid windows for every solution at least as good as ``incumbent`` (target value), and reward floors.

    ``known_floors``: per-task reward floors already proven for those solutions (``lp_floors``);
    the larger of them and the contention-free floors is used.
    """
    costs = st.costs
    win = heads_and_tails(st)
    horizon = generic_horizon(st)
    n = len(costs.tasks)
    latest = []
    for task in costs.tasks:
        lim = horizon
        if task.deadline_s is not None:
            lim = min(lim, task.release_s + task.deadline_s * (1 + 1e-9) + 1e-9)
        latest.append(lim)
    min_lat = [
        min(win.min_latency[(t, m)] for m in range(len(task.modes))) for t, task in enumerate(costs.tasks)
    ]
    floors = None
    if target.kind == "reward" and incumbent is not None and reward_per_latency_s(costs) > 0:
        floors = task_reward_floors(st, win, incumbent - 1e-6 * max(1.0, abs(incumbent)))
        if known_floors is not None:
            floors = [max(a, b) for a, b in zip(floors, known_floors, strict=True)]
    elif target.kind == "makespan" and incumbent is not None:
        latest = [min(lim, incumbent * (1 + 1e-9) + 1e-9) for lim in latest]
    elif target.kind == "accuracy":
        assert target.limit is not None
        total = n * target.limit * (1 + 1e-9) + 1e-9
        latest = [
            min(lim, task.release_s + total - (sum(min_lat) - min_lat[t]))
            for t, (lim, task) in enumerate(zip(latest, costs.tasks, strict=True))
        ]
    elif target.kind == "latency" and incumbent is not None:
        total = incumbent * (1 + 1e-9) + 1e-9
        latest = [
            min(lim, task.release_s + total - (sum(min_lat) - min_lat[t]))
            for t, (lim, task) in enumerate(zip(latest, costs.tasks, strict=True))
        ]
    apply_completion_bounds(st, win, latest, floors)
    return win, floors


def lp_floors(
    model: MipModel, incumbent: float, floors: list[float], threads: int | None, deadline: float | None
) -> list[float]:
    """Tighter per-task reward floors from the LP relaxation (reward objective).

    For task t, B_t = max over the LP relaxation of the other tasks' summed reward. Every solution
    the model keeps (total reward >= incumbent) is a point of that LP, so its reward for t is at
    least incumbent - B_t. Contention is priced in the LP (load cuts, time-indexed occupation),
    so this floor is much higher than the contention-free one, which shortens every task's
    latest completion and prunes options. Returns the floors unchanged if an LP is not solved.
    """
    m, costs = model.m, model.costs
    rewards = [model.task_reward(t) for t in range(len(costs.tasks))]
    target = incumbent - 1e-6 * max(1.0, abs(incumbent))
    opt = Highs()
    opt.config.load_solution = False
    m.obj.deactivate()
    out = list(floors)
    try:
        for t in range(len(costs.tasks)):
            remaining = None if deadline is None else deadline - time.perf_counter()
            if remaining is not None and remaining <= 0:
                break
            m.floor_obj = pyo.Objective(
                expr=sum(r for k, r in enumerate(rewards) if k != t), sense=pyo.maximize
            )
            res = run_highs(model, remaining, 1e-4, threads, warm=False, solver=opt, relax=True)
            m.del_component(m.floor_obj)
            if res.termination_condition != TerminationCondition.optimal:
                break
            b = max(res.best_feasible_objective, res.best_objective_bound)
            out[t] = max(out[t], target - b - 1e-6 * max(1.0, abs(b)))
    finally:
        if hasattr(m, "floor_obj"):
            m.del_component(m.floor_obj)
        m.obj.activate()
    return out
