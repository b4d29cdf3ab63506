"""Branching decisions of the branch-and-price search (docs/cg.md, "Branch-and-price").

A node of the search is the root's column space restricted by a list of **decisions**, each
about one task's assignment:

- ``Decision(task, mode, None, None, True)``: the task runs in ``mode``; ``False``: it does not;
- ``Decision(task, mode, op, option, True)``: the task runs in ``mode`` *and* op ``op`` takes
  ``option``; ``False``: the negation (another mode, or another option of that op).

The two children of a node take a decision and its negation, so they partition the node's
solutions: every solution of the node lies in exactly one child, which is why the largest bound
over the open nodes is a valid bound for the whole problem. A node's column space keeps only the
option combinations every decision allows (``restrict``); the shared master keeps every column
generated so far, and a node switches off the ones its decisions exclude (``allowed_mask``), so a
child's master starts from its parent's columns (warm start) and pricing never returns an
excluded column. When every task has one mode and one combination left (``is_leaf``), the
remaining gap is the one of the time-indexed relaxation of the schedule, which the fixed-
assignment MIP closes (``solve.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from offload_opt.solvers.cg.grid import Column, ColumnSpace, ModeSpace
from offload_opt.solvers.cg.pricing import Pricer

INTEGRAL_EPS = 1e-6  # a share of a task's LP value below this (or above 1 - it) counts as integral


@dataclass(frozen=True)
class Decision:
    """One branching decision on a task's mode (``op is None``) or on one op's option."""

    task: int
    mode: int
    op: int | None
    option: int | None
    positive: bool

    def holds(self, task: int, mode: int, options: tuple[int, ...] | np.ndarray) -> bool:
        """Whether an assignment (``task``'s mode and options) satisfies this decision."""
        if task != self.task:
            return True
        hit = mode == self.mode and (self.op is None or int(options[self.op]) == self.option)
        return hit == self.positive

    def negated(self) -> Decision:
        return dataclasses.replace(self, positive=not self.positive)


def column_allowed(col: Column, decisions: list[Decision]) -> bool:
    """Whether a column satisfies every decision."""
    return all(d.holds(col.task, col.mode, col.options) for d in decisions)


def _row_mask(ms: ModeSpace, decisions: list[Decision]) -> np.ndarray:
    """Rows (option combinations) of a mode space that every decision allows."""
    keep = np.ones(ms.size, dtype=bool)
    for d in decisions:
        if d.task != ms.task:
            continue
        if ms.mode != d.mode:
            hit = np.zeros(ms.size, dtype=bool)
        elif d.op is None:
            hit = np.ones(ms.size, dtype=bool)
        else:
            hit = ms.combos[:, d.op] == d.option
        keep &= hit if d.positive else ~hit
    return keep


def _take(ms: ModeSpace, keep: np.ndarray) -> ModeSpace:
    """The mode space restricted to the rows ``keep`` (per-option data unchanged)."""
    return dataclasses.replace(
        ms,
        combos=ms.combos[keep],
        quality=ms.quality[keep],
        head_s=ms.head_s[keep],
        earliest=ms.earliest[keep],
        final_dur_s=ms.final_dur_s[keep],
        out_s=ms.out_s[keep],
        latency_max_s=ms.latency_max_s[keep],
        lags={e: v[keep] for e, v in ms.lags.items()},
    )


def restrict(space: ColumnSpace, decisions: list[Decision]) -> ColumnSpace:
    """The column space of a node: same grid, horizon and resource groups (so the same master
    rows), each task's option combinations limited to those every decision allows."""
    if not decisions:
        return space
    modes = []
    for spaces in space.modes:
        kept = []
        for ms in spaces:
            keep = _row_mask(ms, decisions)
            if keep.all():
                kept.append(ms)
            elif keep.any():
                kept.append(_take(ms, keep))
        modes.append(kept)
    return dataclasses.replace(space, modes=modes)


def allowed_mask(columns: list[Column | None], decisions: list[Decision]) -> np.ndarray:
    """Per master column (None: a task's artificial column, always allowed): may the node use it."""
    return np.array([c is None or column_allowed(c, decisions) for c in columns], dtype=bool)


def is_leaf(space: ColumnSpace) -> bool:
    """Every task has exactly one mode and one option combination left."""
    return all(len(s) == 1 and s[0].size == 1 for s in space.modes)


def choose(space: ColumnSpace, columns: list[Column | None], x: np.ndarray) -> Decision | None:
    """The decision to branch on at a node whose master LP solution is ``x``, or None at a leaf.

    Most fractional first: the (task, mode) whose LP share is closest to 1/2; when every mode
    share is integral, the (task, mode, op, option) closest to 1/2. When the LP's assignment is
    integral (each task uses one combination) but the node is not a leaf, the LP's own choice is
    branched on for the first task with another combination left: the positive child then fixes
    more of the assignment, so every path ends at a leaf.
    """
    n = len(space.modes)
    mode_share: dict[tuple[int, int], float] = {}
    opt_share: dict[tuple[int, int, int, int], float] = {}
    for c, v in zip(columns, x, strict=True):
        if c is None or v <= INTEGRAL_EPS:
            continue
        mode_share[(c.task, c.mode)] = mode_share.get((c.task, c.mode), 0.0) + v
        for k, o in enumerate(c.options):
            key = (c.task, c.mode, k, o)
            opt_share[key] = opt_share.get(key, 0.0) + v

    def frac(v: float) -> float:
        return abs(v - 0.5)

    live_modes = [{ms.mode for ms in s} for s in space.modes]
    cands = [(frac(v), t, m) for (t, m), v in mode_share.items() if INTEGRAL_EPS < v < 1 - INTEGRAL_EPS]
    if cands:
        _, t, m = min(cands)
        return Decision(t, m, None, None, True)
    ocands = [
        (frac(v), t, m, k, o) for (t, m, k, o), v in opt_share.items() if INTEGRAL_EPS < v < 1 - INTEGRAL_EPS
    ]
    if ocands:
        _, t, m, k, o = min(ocands)
        return Decision(t, m, k, o, True)
    # the LP's assignment is integral: fix it, one op (or mode) at a time
    for t in range(n):
        used = [m for (tt, m), v in mode_share.items() if tt == t and v > 1 - INTEGRAL_EPS]
        if len(live_modes[t]) > 1:
            m = used[0] if used and used[0] in live_modes[t] else min(live_modes[t])
            return Decision(t, m, None, None, True)
        if len(space.modes[t]) == 0:
            continue
        ms = space.modes[t][0]
        if ms.size <= 1:
            continue
        opts = next(
            (c.options for c, v in zip(columns, x, strict=True) if c is not None and c.task == t and v > 0.5),
            None,
        )
        for k in range(ms.n_ops):
            values = np.unique(ms.combos[:, k])
            if len(values) > 1:
                o = int(opts[k]) if opts is not None and int(opts[k]) in values else int(values[0])
                return Decision(t, ms.mode, k, o, True)
    return None


def in_space_mask(columns: list[Column | None], space: ColumnSpace) -> np.ndarray:
    """Per master column (None: artificial, always allowed): is its combination still in ``space``."""
    kept: dict[tuple[int, int], set[tuple[int, ...]]] = {}
    for spaces in space.modes:
        for ms in spaces:
            kept[(ms.task, ms.mode)] = {tuple(int(o) for o in row) for row in ms.combos}
    return np.array([c is None or c.options in kept.get((c.task, c.mode), ()) for c in columns], dtype=bool)


def assignments(space: ColumnSpace) -> float:
    """How many assignments (one combination per task) a space has left."""
    return float(np.prod([float(sum(ms.size for ms in s)) for s in space.modes]))


def prune(
    space: ColumnSpace, pi: np.ndarray, bound: float, values: list[float], level: float
) -> tuple[ColumnSpace, int]:
    """Lagrangian fixing: drop every combination that cannot lead to a solution above ``level``.

    For duals ``pi >= 0`` with ``bound = L(pi) = sum_t v_t(pi) + pi . cap`` (``values``: the
    ``v_t``), any solution that gives task t combination c is worth at most
    ``bound - v_t + v_{t,c}`` (``v_{t,c}``: the best reduced reward of c's columns; the other
    tasks keep their own maxima). Combinations where that is not above ``level`` (the incumbent
    within ``mip_gap``) are dropped: the node then holds every solution worth more. The cheap
    upper bounds of pricing screen the combinations first; the dynamic program decides the rest.
    Returns the pruned space and how many combinations were dropped.
    """
    pricer = Pricer(space, pi)
    dropped = 0
    modes = []
    for t, spaces in enumerate(space.modes):
        need = level - (bound - values[t])  # keep c only when v_{t,c} > need
        slack = 1e-9 * max(1.0, abs(need))
        kept = []
        for ms in spaces:
            ub = pricer.combination_bounds(ms)
            keep = ub > need - slack
            rows = np.flatnonzero(keep)
            if len(rows):
                keep[rows] = pricer.combination_values(ms, rows) > need - slack
            dropped += int(ms.size - keep.sum())
            if keep.all():
                kept.append(ms)
            elif keep.any():
                kept.append(_take(ms, keep))
        modes.append(kept)
    return dataclasses.replace(space, modes=modes), dropped
