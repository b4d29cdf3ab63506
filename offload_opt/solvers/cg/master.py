"""The restricted master problem, solved with highspy directly (many small re-solves).

maximise   sum_c reward_c x_c
subject to sum_{c of task t} x_c = 1                      (one convexity row per task)
           sum_c occupies_c(group, tau) x_c <= capacity_g  (one row per group and period)
           0 <= x_c <= 1                                   (integer in ``solve_integer``)

Every task also has an artificial column with reward ``-ARTIFICIAL`` and no occupation, so the
master is feasible before any real column exists; it never affects the Lagrangian bound, which
is computed from exact pricing, not from the master's value.
"""

from __future__ import annotations

import highspy
import numpy as np
from pyomo.common.tee import capture_output

from offload_opt.solvers.cg.grid import Column, ColumnSpace
from offload_opt.solvers.highs_threads import use_threads

ARTIFICIAL = 1e3


class Master:
    """Restricted master LP / integer program over the columns added so far."""

    def __init__(self, space: ColumnSpace, threads: int = 1):
        self.space = space
        self.n_tasks = len(space.costs.tasks)
        self.n_groups = len(space.groups)
        self.horizon = space.horizon
        self.threads = threads
        with capture_output(capture_fd=True):  # the banner HiGHS prints on stdout on construction
            h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", use_threads(threads))
        h.changeObjectiveSense(highspy.ObjSense.kMaximize)
        n_rows = self.n_tasks + self.n_groups * self.horizon
        lower = np.concatenate(
            [np.ones(self.n_tasks), np.full(self.n_groups * self.horizon, -highspy.kHighsInf)]
        )
        upper = np.concatenate([np.ones(self.n_tasks), np.repeat(space.capacity, self.horizon)])
        h.addRows(
            n_rows,
            lower,
            upper,
            0,
            np.zeros(n_rows, dtype=np.int32),
            np.zeros(0, dtype=np.int32),
            np.zeros(0),
        )
        self.h = h
        self.columns: list[Column | None] = []  # None: artificial
        self.x = np.zeros(0)  # the last LP solution, one value per column
        self.mask: np.ndarray | None = None  # columns a branch-and-price node may use (None: all)
        self.index: dict[tuple, int] = {}  # column key -> its index in HiGHS
        for t in range(self.n_tasks):
            self._add(-ARTIFICIAL, np.array([t], dtype=np.int32), np.ones(1))
            self.columns.append(None)

    @staticmethod
    def key(col: Column) -> tuple:
        return (col.task, col.mode, col.options, col.periods)

    def row_of(self, group: int, period: int) -> int:
        return self.n_tasks + group * self.horizon + period

    def _add(self, reward: float, index: np.ndarray, value: np.ndarray) -> None:
        self.h.addCol(reward, 0.0, 1.0, len(index), index, value)

    def add(self, col: Column) -> bool:
        """Add a column unless the same one is already there; True when added."""
        key = self.key(col)
        if key in self.index:
            return False
        self.index[key] = self.h.getNumCol()
        occ: dict[int, float] = {col.task: 1.0}
        for g, first, count in col.occupancy:
            for p in range(first, first + count):
                r = self.row_of(g, p)
                occ[r] = occ.get(r, 0.0) + 1.0
        idx = np.array(sorted(occ), dtype=np.int32)
        self._add(col.reward, idx, np.array([occ[int(i)] for i in idx]))
        self.columns.append(col)
        if self.mask is not None:
            self.mask = np.append(self.mask, True)  # only a node's own (allowed) columns are added
        return True

    def restrict(self, mask: np.ndarray | None) -> None:
        """Let the LP use only the columns where ``mask`` is True (upper bound 0 on the others);
        None: every column. The columns stay in the master, so a later node can use them again."""
        n = self.h.getNumCol()
        ub = np.ones(n) if mask is None else mask.astype(float)
        self.h.changeColsBounds(n, np.arange(n, dtype=np.int32), np.zeros(n), ub)
        self.mask = None if mask is None else mask.copy()

    def solve_lp(self) -> tuple[float, np.ndarray, np.ndarray]:
        """LP value, capacity duals pi (G, H) clipped at 0, convexity duals mu (tasks)."""
        h = self.h
        h.setOptionValue(
            "threads", use_threads(self.threads)
        )  # another solver may have restarted HiGHS's scheduler
        h.run()
        status = h.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"cg master LP: {h.modelStatusToString(status)}")
        sol = h.getSolution()
        self.x = np.asarray(sol.col_value, dtype=float)
        duals = np.asarray(sol.row_dual, dtype=float)
        # HiGHS reports duals of a maximisation with the sign of d(objective)/d(rhs)
        mu = duals[: self.n_tasks]
        pi = np.maximum(0.0, duals[self.n_tasks :]).reshape(self.n_groups, self.horizon)
        return float(h.getInfo().objective_function_value), pi, mu

    def solve_integer(self, time_limit_s: float, start: list[Column] | None = None) -> list[Column] | None:
        """Best integer selection of the columns so far (one real column per task), or None.

        ``start``: columns of a known solution, given to HiGHS as a starting point.
        """
        n = self.h.getNumCol()
        with capture_output(capture_fd=True):
            h = highspy.Highs()  # a fresh instance: its time limit then counts from this solve
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", use_threads(self.threads))
        h.passModel(self.h.getModel())
        h.changeColsIntegrality(n, np.arange(n, dtype=np.int32), np.full(n, highspy.HighsVarType.kInteger))
        h.setOptionValue("time_limit", max(0.05, float(time_limit_s)))
        if start:
            x0 = np.zeros(n)
            for c in start:
                j = self.index.get(self.key(c))
                if j is not None:
                    x0[j] = 1.0
            covered = {c.task for c in start if self.key(c) in self.index}
            for t in range(self.n_tasks):  # tasks the start leaves out take their artificial column
                if t not in covered:
                    x0[t] = 1.0
            sol0 = highspy.HighsSolution()
            sol0.col_value = list(x0)
            sol0.value_valid = True
            h.setSolution(sol0)
        h.run()
        sol = h.getSolution()
        x = np.asarray(sol.col_value) if sol.value_valid else None
        if x is None:
            return None
        chosen = [self.columns[j] for j in np.flatnonzero(x > 0.5)]
        if any(c is None for c in chosen) or len(chosen) != self.n_tasks:
            return None
        return [c for c in chosen if c is not None]
