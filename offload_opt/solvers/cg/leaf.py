"""Small nodes of branch-and-price, scheduled exactly by the MIP (docs/cg.md).

At a leaf every task's mode and options are fixed, but the time-indexed relaxation still
relaxes the schedule (floored periods, no channels, in-tree lags), so the leaf's column bound can
stay above what any schedule of that assignment is worth. The MIP of ``solvers/mip`` with its
windows restricted to the leaf's assignment (every other mode and option switched off) decides
the slots and orders exactly: a fixed assignment is small for it (docs/mip.md: about 0.25 s on
M). Its bound is valid for the leaf's solutions worth at least the incumbent (the windows and
per-task reward floors come from the incumbent, the MIP's own argument), and every solution it
finds is timed by the evaluator.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from pyomo.contrib.appsi.solvers.highs import Highs

from offload_opt.evaluator import Evaluation
from offload_opt.solution import Solution
from offload_opt.solvers.cg.grid import ColumnSpace
from offload_opt.solvers.mip.driver import Incumbent, run_rounds
from offload_opt.solvers.mip.model import MipModel, OutOfTime, Target
from offload_opt.solvers.mip.report import MipReport
from offload_opt.solvers.mip.structure import Structure
from offload_opt.solvers.mip.windows import build_windows
from offload_opt.solvers.options import MipOptions
from offload_opt.solvers.output import Termination

LEAF_TIME_GRID_S = 0.5  # the MIP's own default time-indexed rows


@dataclass
class LeafResult:
    """What the fixed-assignment MIP proved about one leaf."""

    termination: Termination  # optimal / infeasible (nothing worth the incumbent) / time_limit / ...
    bound: float | None  # valid for the leaf's solutions worth at least the incumbent (None: none)
    solution: Solution | None
    evaluation: Evaluation | None
    value: float | None
    seconds: float


def solve_leaf(
    st: Structure,
    space: ColumnSpace,
    incumbent: float | None,
    known_floors: list[float] | None,
    mip_gap: float,
    threads: int,
    seed: int,
    deadline: float | None,
) -> LeafResult:
    """The MIP restricted to the modes and options left in ``space`` (a leaf: one assignment).

    The MIP's options are per op, so a node with several combinations left gets the union of
    their options per op: a superset of the node, whose bound is therefore valid for the node,
    and whose solutions are feasible solutions of the instance either way.
    """
    t0 = time.perf_counter()
    win, floors = build_windows(st, Target("reward"), incumbent, known_floors=known_floors)
    live: dict[tuple[int, int], list[set[int]]] = {}  # (task, mode) -> per op, the options left
    for t, spaces in enumerate(space.modes):
        for ms in spaces:
            live[(t, ms.mode)] = [{int(o) for o in np.unique(ms.combos[:, k])} for k in range(ms.n_ops)]
    for (t, m), ok in list(win.mode_allowed.items()):
        win.mode_allowed[(t, m)] = ok and (t, m) in live
    for i, flags in win.allowed.items():
        a = st.acts[i]
        left = live.get((a.task, a.mode))
        win.allowed[i] = [bool(v) and left is not None and o in left[a.local] for o, v in enumerate(flags)]
    tasks_live = {t for (t, m), ok in win.mode_allowed.items() if ok}
    if len(tasks_live) < len(space.modes):
        # the incumbent's windows already exclude what is left: nothing here is worth the incumbent
        return LeafResult("infeasible", None, None, None, None, time.perf_counter() - t0)
    try:
        model = MipModel(
            st,
            win,
            Target("reward"),
            reward_cut=floors,
            capacity=True,
            time_grid=LEAF_TIME_GRID_S,
            deadline=deadline,
        )
    except OutOfTime:
        return LeafResult("time_limit", None, None, None, None, time.perf_counter() - t0)
    candidates = model.candidate_pairs()
    model.add_pairs(
        {
            p: rs
            for p, rs in candidates.items()
            if st.acts[p[0]].task == st.acts[p[1]].task and any(model.limit[r] == 1 for r in rs)
        }
    )
    opt = Highs()
    opt.config.load_solution = False
    opt.set_instance(model.m)
    best = Incumbent()
    options = MipOptions(mip_gap=mip_gap, threads=threads)
    termination, bound = run_rounds(
        model, opt, candidates, best, options, seed, deadline, MipReport(target="reward")
    )
    return LeafResult(
        termination, bound, best.solution, best.evaluation, best.value, time.perf_counter() - t0
    )
