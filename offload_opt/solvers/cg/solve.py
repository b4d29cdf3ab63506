"""The ``cg`` solver: time-indexed column generation, a valid bound and its incumbents.

Flow of one call (docs/cg.md):

1. heuristics (``warm_start``) give an incumbent; its evaluated reward gives each task a reward
   floor and a latest completion (the MIP's argument, ``mip.solve.build_windows``), which set the
   horizon and prune options;
2. the column space on a grid of ``grid`` seconds (``grid.py``) and the master LP (``master.py``)
   start from the incumbent's own columns;
3. each iteration solves the master LP, prices every task exactly (``pricing.py``) at Wentges-
   smoothed duals and adds improving columns; the Lagrangian bound
   ``L(pi) = sum_t max_c (r_c - pi a_c) + pi . capacity`` is valid for every ``pi >= 0``, so the
   best one so far is a valid bound whenever the time limit stops the loop;
4. every few iterations and at the end, the master is solved as an integer program; its columns
   are decoded into a ``Solution`` (slots and orders by the columns' periods) and timed by the
   evaluator; the best evaluated solution is the incumbent;
5. a solved LP that leaves a gap is re-solved on halved grids down to ``min_grid`` (each grid's
   bound is valid; the least is kept);
6. branch-and-price (``branch_and_price``): best-bound search over decisions on modes and options
   (``branch.py``), node masters warm-started from the shared column pool, Lagrangian fixing,
   small nodes scheduled exactly by the restricted MIP (``leaf.py``); the global bound (largest
   over open nodes, unsettled nodes and closed levels) is valid wherever the search stops.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from offload_opt.costs import SOURCE, CostTables
from offload_opt.evaluator import Evaluation, evaluate
from offload_opt.solution import Assignment, Solution, activities_of, decisions_to_assignments, make_solution
from offload_opt.solvers.cg.branch import (
    Decision,
    assignments,
    choose,
    in_space_mask,
    is_leaf,
    prune,
    restrict,
)
from offload_opt.solvers.cg.grid import Column, ColumnSpace
from offload_opt.solvers.cg.leaf import solve_leaf
from offload_opt.solvers.cg.master import Master
from offload_opt.solvers.cg.pricing import Pricer
from offload_opt.solvers.mip.model import Target
from offload_opt.solvers.mip.structure import Structure
from offload_opt.solvers.mip.warm import warm_start_budget, warm_start_solution
from offload_opt.solvers.mip.windows import build_windows
from offload_opt.solvers.options import CgOptions
from offload_opt.solvers.output import SolverOutput, Termination

NAME = "cg"
DESCRIPTION = "time-indexed column generation: valid Lagrangian bound, incumbents from the integer master"
REDUCED_EPS = 1e-7  # a column enters the master when its reduced reward beats the task's dual by this


def check_supported(costs: CostTables) -> None:
    """ValueError naming the form the cg solver does not handle."""
    if costs.instance.explicit is not None:
        raise ValueError(
            "instance.explicit: the cg solver does not support the explicit-cost form (makespan); "
            "use --solver mip"
        )
    obj = costs.objective
    if obj.kind != "reward":
        raise ValueError(f"objective.kind: the cg solver needs 'reward', got {obj.kind!r}")
    if not obj.latency_weight_per_s > 0:
        raise ValueError(
            f"objective.latency_weight_per_s: the cg solver needs > 0 (a finite horizon), "
            f"got {obj.latency_weight_per_s!r}"
        )


def build_space(
    costs: CostTables,
    grid_s: float,
    incumbent: float | None = None,
    known_floors: list[float] | None = None,
) -> ColumnSpace:
    """The column space on a grid of ``grid_s`` s for every solution with reward >= ``incumbent``.

    With an incumbent, each task's reward floor, latest completion and allowed options come from
    the MIP's windows (``mip.solve.build_windows``); without one, the generic horizon of an
    earliest-start schedule bounds every completion, so every solution maps into the space.
    ``known_floors``: per-task reward floors already proven for those solutions (e.g.
    ``lagrangian_floors``); the larger of them and the contention-free floors is used.
    """
    check_supported(costs)
    st = Structure.build(costs)
    win, floors = build_windows(st, Target("reward"), incumbent, known_floors=known_floors)
    allowed = {(st.acts[i].task, st.acts[i].mode, st.acts[i].local): list(v) for i, v in win.allowed.items()}
    return ColumnSpace.build(
        costs, grid_s, list(win.latest_completion), floors, allowed, dict(win.mode_allowed)
    )


def decode(costs: CostTables, space: ColumnSpace, columns: list[Column], solver: str = NAME) -> Solution:
    """A Solution from one column per task: slots and resource orders follow the columns' periods.

    Every op is planned at ``max(period * g, head)``; on a k-slot server each op takes the slot
    that frees earliest in planned order; transfers are ordered on their channel by when their
    data is planned to be ready. The evaluator then times the orders exactly.
    """
    g = space.grid_s
    plan: list[tuple[float, int, int, Column]] = []  # (planned start, task, op, column)
    for col in columns:
        ms = space.mode_space(col.task, col.mode)
        assert ms is not None
        row = space.find_row(ms, col.options)
        assert row is not None
        for k in range(ms.n_ops):
            plan.append((max(col.periods[k] * g, float(ms.head_s[row, k])), col.task, k, col))
    plan.sort(key=lambda x: (x[0], x[1], x[2]))
    free: dict[tuple[str, ...], list[float]] = {}
    assignments: dict[int, Assignment] = {}
    start_s: dict[str, float] = {}
    op_start: dict[tuple[int, int], float] = {}
    for st, ti, k, col in plan:
        task = costs.tasks[ti]
        op = task.modes[col.mode].ops[k]
        opt = op.options[col.options[k]]
        slots = free.setdefault(opt.resources, [0.0] * len(opt.resources))
        s = min(range(len(slots)), key=lambda i: (max(slots[i], st), i))
        slots[s] = max(slots[s], st) + opt.duration_s
        a = assignments.setdefault(ti, Assignment(col.mode, list(col.options), [""] * len(col.options)))
        a.resources[k] = opt.resources[s]
        op_start[(ti, k)] = st
    for ti, a in assignments.items():
        task = costs.tasks[ti]
        mode = task.modes[a.mode]
        acts = activities_of(costs, task, a)
        n = len(mode.ops)
        for k in range(n):
            start_s[acts[k][0]] = op_start[(ti, k)]
        for j, f in enumerate(mode.flows):
            if f.src == SOURCE:
                ready = task.release_s
            else:
                ready = op_start[(ti, f.src)] + mode.ops[f.src].options[a.options[f.src]].duration_s
            start_s[acts[n + j][0]] = ready
    return make_solution(costs, assignments, start_s, solver)


def columns_of_solution(
    space: ColumnSpace, solution: Solution, ev: Evaluation
) -> tuple[list[Column], list[str]]:
    """The columns of an evaluated solution (one per task), and why some are not in the space."""
    assignments = decisions_to_assignments(space.costs, solution)
    out, why = [], []
    for ti, a in sorted(assignments.items()):
        col, reason = space.column_of_schedule(ti, a, ev)
        if col is None:
            why.append(f"{space.costs.tasks[ti].id}: {reason}")
        else:
            out.append(col)
    return out, why


def lagrangian_bound(space: ColumnSpace, pi: np.ndarray, keep: int = 1, thresholds: Any = None):
    """L(pi) = sum_t max_c (r_c - pi a_c) + pi . capacity, and each task's pricing result."""
    pricer = Pricer(space, pi)
    priced = []
    total = float((pi.sum(axis=1) * space.capacity).sum())
    for t in range(len(space.costs.tasks)):
        thr = -np.inf if thresholds is None else float(thresholds[t])
        p = pricer.price_task(t, keep=keep, threshold=thr)
        priced.append(p)
        total += p.value
    return total, priced


def reduced_reward(col: Column, pi: np.ndarray) -> float:
    """r_c - pi . a_c of one column."""
    return col.reward - sum(float(pi[g, first : first + count].sum()) for g, first, count in col.occupancy)


def add_improving(master: Master, priced: list, pi_lp: np.ndarray, mu: np.ndarray) -> int:
    """Add the priced columns whose reduced reward at the LP's duals beats their task's dual."""
    added = 0
    for t, p in enumerate(priced):
        for _, col in p.columns:
            if reduced_reward(col, pi_lp) > mu[t] + REDUCED_EPS:
                added += master.add(col)
    return added


@dataclass
class Run:
    """Column generation on one column space: its master, best Lagrangian bound and counters."""

    space: ColumnSpace
    master: Master
    bound: float = math.inf
    best_pi: np.ndarray | None = None
    values: list[float] = field(default_factory=list)  # each task's priced value at best_pi
    iterations: int = 0
    converged: bool = False
    evaluated: int = 0
    lp_value: float = math.nan
    empty: bool = False  # some task had no column at all

    def note(self, value: float, pi: np.ndarray, priced: list) -> None:
        self.evaluated += sum(p.evaluated for p in priced)
        if not math.isfinite(value):
            # a task without any column: no solution the space keeps exists (without an
            # incumbent: the instance is infeasible, e.g. a deadline); never a bound to report
            self.empty = True
            return
        if value < self.bound:
            self.bound, self.best_pi, self.values = value, pi, [p.value for p in priced]

    def generate(
        self,
        opts: CgOptions,
        deadline: float,
        stop: Callable[[], bool],
        after: Callable[[int], None] | None = None,
    ) -> None:
        """Iterate until the LP is solved, ``stop()``, the deadline or ``opts.max_iterations``."""
        while True:
            if opts.max_iterations is not None and self.iterations >= opts.max_iterations:
                return
            if time.perf_counter() >= deadline or stop():
                return
            self.lp_value, pi_lp, mu = self.master.solve_lp()
            self.iterations += 1
            alpha = opts.smoothing if self.best_pi is not None else 0.0
            pi = pi_lp if self.best_pi is None or alpha == 0 else alpha * self.best_pi + (1 - alpha) * pi_lp
            value, priced = lagrangian_bound(self.space, pi, opts.columns_per_task)
            self.note(value, pi, priced)
            added = add_improving(self.master, priced, pi_lp, mu)
            if added == 0 and alpha > 0:  # mispricing: price at the LP duals themselves
                value, priced = lagrangian_bound(self.space, pi_lp, opts.columns_per_task)
                self.note(value, pi_lp, priced)
                added = add_improving(self.master, priced, pi_lp, mu)
            if added == 0:
                self.converged = True  # exact pricing at the LP's duals finds nothing: LP solved
                return
            if after is not None:
                after(self.iterations)


def new_run(space: ColumnSpace, opts: CgOptions, solution: Solution | None, ev: Evaluation | None) -> Run:
    """A run whose master starts from the columns of an evaluated solution (when given)."""
    run = Run(space, Master(space, opts.threads))
    if solution is not None and ev is not None:
        for c in columns_of_solution(space, solution, ev)[0]:
            run.master.add(c)
    return run


def lagrangian_floors(run: Run, incumbent: float) -> list[float]:
    """Per-task reward floors from the best Lagrangian bound of a run (docs/cg.md, "Horizon").

    For any pi >= 0 and any solution, the other tasks' rewards sum to at most
    ``L(pi) - v_t(pi)`` (v_t: task t's priced value; dropping t's own occupation only lowers the
    sum), so a solution worth at least ``incumbent`` gives task t at least
    ``incumbent - (L(pi) - v_t(pi))``.
    """
    target = incumbent - 1e-6 * max(1.0, abs(incumbent))
    return [target - (run.bound - v) - 1e-9 * max(1.0, abs(run.bound)) for v in run.values]


@dataclass(order=True)
class Node:
    """An open node of the search: the root's space restricted by ``decisions`` (and pruned).

    Ordered for a heap: the largest bound first, then the deepest (to reach small nodes and
    incumbents sooner among equal bounds), then the oldest.
    """

    key: tuple[float, int, int]
    bound: float = field(compare=False)  # valid for every solution of the node worth the incumbent
    decisions: list[Decision] = field(compare=False, default_factory=list)
    space: ColumnSpace | None = field(compare=False, default=None)  # the node's (pruned) space


@dataclass
class Tree:
    """The open nodes of branch-and-price and what the closed ones proved.

    ``global_bound``: every solution worth at least the incumbent lies in an open node, in a node
    the MIP could not settle (``stuck``), or in a closed node whose bound was at most the incumbent
    (within ``mip_gap``; ``closed_max`` keeps the largest such bound). So the largest of these
    bounds and the incumbent is a valid bound, wherever the search stops.
    """

    root_bound: float
    open: list[Node] = field(default_factory=list)
    stuck: list[float] = field(default_factory=list)
    closed_max: float = -math.inf
    processed: int = 1  # the root
    counter: int = 0
    max_depth: int = 0
    node_mips: int = 0
    node_mip_time_s: float = 0.0
    pruned: int = 0  # combinations dropped by Lagrangian fixing, summed over nodes
    iterations: int = 0

    def push(self, bound: float, decisions: list[Decision], space: ColumnSpace) -> None:
        self.counter += 1
        heapq.heappush(self.open, Node((-bound, -len(decisions), self.counter), bound, decisions, space))

    def close(self, bound: float) -> None:
        self.closed_max = max(self.closed_max, bound)

    def global_bound(self, incumbent: float | None) -> float:
        values = [self.closed_max, *self.stuck, *(n.bound for n in self.open)]
        if incumbent is not None:
            values.append(incumbent)
        return max(values)


def branch_and_price(
    costs: CostTables,
    space: ColumnSpace,
    root: Run,
    tree: Tree,
    opts: CgOptions,
    seed: int,
    deadline: float,
    floors: list[float] | None,
    offer: Callable[[Solution, Evaluation, str], None],
    incumbent: Callable[[], float | None],
    try_integer: Callable[[float, str | None], None],
) -> bool:
    """Best-bound branch-and-price from the solved root (docs/cg.md, "Branch-and-price").

    Each node restricts its parent's column space by one more decision, switches off the master's
    columns outside it (the remaining columns, its ancestors' included, warm-start its LP) and
    runs column generation on it; its bound is the least of its parent's and its own best
    Lagrangian bound. Then Lagrangian fixing (``branch.prune``) drops the combinations that
    cannot beat the incumbent. A node is closed when its bound is at most the incumbent (within
    ``mip_gap``) or a task has no column left; a node with at most ``node_mip_assignments``
    assignments left goes to the MIP restricted to them (``leaf.solve_leaf``), which schedules
    exactly. Incumbents: node LP solutions that are integral, and every ``node_integer_every``
    nodes the integer master of the node's columns, decoded and timed by the evaluator. Returns
    True when the search stopped for another reason than the time limit (``node_limit``, or
    nothing left it can process); the tree holds a valid bound either way.
    """
    master = root.master
    st = Structure.build(costs) if opts.leaf_mip else None

    def close_level() -> float:
        """Nodes (and fixed combinations) at most this good are closed; the level becomes a bound.

        A hair (1e-9 of the allowance) inside incumbent + mip_gap, so that a search that closes
        everything reports a gap within ``mip_gap`` despite rounding (stricter closing, still valid).
        """
        z = incumbent()
        assert z is not None
        return z + opts.mip_gap * max(abs(z), 1e-9) * (1.0 - 1e-9)

    def settle(nspace: ColumnSpace, nbound: float) -> float | None:
        """A small node: the MIP over what is left. Returns None when that settled the node, else
        the node's bound (then a leaf stays open as ``stuck``, another node is branched on)."""
        if st is None:
            return nbound
        tree.node_mips += 1
        res = solve_leaf(
            st,
            nspace,
            incumbent(),
            floors,
            opts.mip_gap,
            opts.threads,
            seed,
            # at most a quarter of the time left: an unsettled node keeps a valid bound anyway
            None
            if not math.isfinite(deadline)
            else time.perf_counter() + 0.25 * max(0.0, deadline - time.perf_counter()),
        )
        tree.node_mip_time_s += res.seconds
        if res.solution is not None and res.evaluation is not None:
            offer(res.solution, res.evaluation, f"node MIP (node {tree.processed})")
        if res.termination == "infeasible":
            tree.close(-math.inf)  # nothing in the node is worth the incumbent
            return None
        if res.bound is not None and (res.termination == "optimal" or res.bound <= close_level()):
            tree.close(min(nbound, res.bound))
            return None
        return nbound if res.bound is None else min(nbound, res.bound)  # unsettled (time limit)

    def expand(nspace: ColumnSpace, nbound: float, decisions: list[Decision], run: Run) -> None:
        """Prune a solved node, then settle it (small) or branch (two children)."""
        if opts.fixing and run.best_pi is not None and run.values:
            level = close_level()
            nspace, dropped = prune(nspace, run.best_pi, run.bound, run.values, level)
            tree.pruned += dropped
            if dropped:
                tree.close(level)  # what was dropped is worth at most the level: the bound says so
            if any(not s for s in nspace.modes):
                return
        if is_leaf(nspace) or assignments(nspace) <= opts.node_mip_assignments:
            left = settle(nspace, nbound)
            if left is None:
                return
            nbound = left
            if is_leaf(nspace):
                tree.stuck.append(nbound)
                return
        mask = in_space_mask(master.columns, nspace)
        master.restrict(mask)
        decision = choose(nspace, master.columns, master.x * mask)  # the LP's columns still in the node
        if decision is None:  # not expected: a non-leaf always has something to branch on
            tree.stuck.append(nbound)
            return
        for d in (decision, decision.negated()):
            tree.push(nbound, [*decisions, d], restrict(nspace, [d]))

    expand(space, tree.root_bound, [], root)
    while tree.open:
        if tree.global_bound(incumbent()) <= close_level():
            for n in tree.open:
                tree.close(n.bound)
            tree.open.clear()
            return False
        node = heapq.heappop(tree.open)
        if node.bound <= close_level():
            tree.close(node.bound)
            continue
        if time.perf_counter() >= deadline:
            heapq.heappush(tree.open, node)
            return False
        if opts.node_limit is not None and tree.processed >= opts.node_limit:
            heapq.heappush(tree.open, node)
            return True
        tree.processed += 1
        tree.max_depth = max(tree.max_depth, len(node.decisions))
        nspace = node.space
        assert nspace is not None
        if any(not s for s in nspace.modes):
            tree.close(-math.inf)  # some task has no combination left: no solution in this node
            continue
        master.restrict(in_space_mask(master.columns, nspace))
        run = Run(nspace, master)
        parent = node.bound

        def prune_now(r: Run = run, p: float = parent) -> bool:
            return min(p, r.bound) <= close_level()

        run.generate(opts, deadline, prune_now)
        tree.iterations += run.iterations
        if run.empty:
            tree.close(-math.inf)  # a task without a column: nothing worth the incumbent here
            continue
        nbound = min(parent, run.bound)
        if nbound <= close_level():
            tree.close(nbound)
            continue
        if not run.converged:  # the time limit: the node stays open with what it proved
            tree.push(nbound, node.decisions, nspace)
            return False
        real = [(c, v) for c, v in zip(master.columns, master.x, strict=True) if c is not None and v > 1e-9]
        if all(v > 1 - 1e-6 for _, v in real) and len(real) == len(space.modes):
            sol = decode(costs, space, [c for c, _ in real])
            offer(sol, evaluate(costs, sol), f"node LP (node {tree.processed})")
        elif opts.node_integer_every and tree.processed % opts.node_integer_every == 0:
            remaining = max(0.0, deadline - time.perf_counter())
            try_integer(min(1.0, 0.05 * remaining), f"node {tree.processed}")
        if nbound <= close_level():
            tree.close(nbound)
            continue
        expand(nspace, nbound, node.decisions, run)
    return True


def solve_cg(costs: CostTables, *, time_limit_s: float | None, seed: int, options: CgOptions) -> SolverOutput:
    """Column generation on ``costs`` until the LP converges, the gap closes or the time runs out."""
    opts = options
    check_supported(costs)
    t0 = time.perf_counter()
    deadline = math.inf if time_limit_s is None else t0 + time_limit_s
    info: dict[str, Any] = {}
    budget = opts.warm_start_s if opts.warm_start_s is not None else warm_start_budget(costs, time_limit_s)
    objectives: dict[str, float | None] = {}
    name, best_sol, best_ev = warm_start_solution(costs, opts.warm_start, budget, seed, deadline, objectives)
    info["warm_start_objectives"] = objectives
    if name is not None:
        info["warm_start"] = name
    if best_ev is not None and not best_ev.feasible:
        best_sol = best_ev = None
    best_val = None if best_ev is None else float(best_ev.objective)  # type: ignore[arg-type]
    info["incumbent_source"] = info.get("warm_start") if best_ev is not None else None
    info["heuristic_time_s"] = time.perf_counter() - t0
    g = opts.grid_for(len(costs.tasks))
    bound = math.inf

    def gap_closed() -> bool:
        return best_val is not None and bound - best_val <= opts.mip_gap * max(abs(best_val), 1e-9)

    # coarse pass: a cheap valid bound whose per-task values tighten the floors and the horizon
    floors = None
    coarse = opts.coarse_grid_for(g)
    if coarse is not None and best_val is not None:
        tc = time.perf_counter()
        cdeadline = tc + opts.coarse_share * max(0.0, deadline - tc) if math.isfinite(deadline) else deadline
        crun = new_run(build_space(costs, coarse, best_val), opts, best_sol, best_ev)
        crun.generate(opts, cdeadline, gap_closed)
        bound = min(bound, crun.bound)
        if crun.values and math.isfinite(crun.bound):
            floors = lagrangian_floors(crun, best_val)
        info.update(
            coarse_grid=coarse,
            coarse_horizon_periods=crun.space.horizon,
            coarse_iterations=crun.iterations,
            coarse_bound=crun.bound,
            coarse_time_s=time.perf_counter() - tc,
        )

    space = build_space(costs, g, best_val, floors)
    run = new_run(space, opts, best_sol, best_ev)
    info.update(grid=g, horizon_periods=space.horizon, resource_groups=len(space.groups))
    info["build_time_s"] = time.perf_counter() - t0
    integer_spent = 0.0
    integer_budget = opts.integer_share * (time_limit_s if time_limit_s is not None else 60.0)

    def offer(sol: Solution, ev: Evaluation, source: str) -> None:
        """Keep an evaluated solution when it beats the incumbent."""
        nonlocal best_sol, best_ev, best_val
        if ev.feasible and (best_val is None or ev.objective > best_val + 1e-12):  # type: ignore[operator]
            best_sol, best_ev, best_val = sol, ev, float(ev.objective)  # type: ignore[arg-type]
            info["incumbent_source"] = source

    def try_integer(limit_s: float, where: str | None = None) -> None:
        nonlocal integer_spent
        ti = time.perf_counter()
        start = None
        if best_sol is not None and best_ev is not None:
            start = columns_of_solution(space, best_sol, best_ev)[0]
        chosen = run.master.solve_integer(limit_s, start)
        integer_spent += time.perf_counter() - ti
        if chosen is None:
            return
        sol = decode(costs, space, chosen)
        offer(sol, evaluate(costs, sol), f"integer master ({where or f'iteration {run.iterations}'})")

    def after(iteration: int) -> None:
        nonlocal bound
        bound = min(bound, run.bound)
        if opts.integer_every and iteration % opts.integer_every == 0 and integer_spent < integer_budget:
            try_integer(min(integer_budget - integer_spent, max(0.0, deadline - time.perf_counter())))

    def fine_stop() -> bool:
        nonlocal bound
        bound = min(bound, run.bound)
        return gap_closed()

    run.generate(opts, deadline, fine_stop, after)
    bound = min(bound, run.bound)
    grids = [g]
    # grid refinement: once the LP is solved, what is left of the root gap is mostly the time grid's
    # (floored periods); halving the grid tightens it, and the run's Lagrangian floors keep the
    # finer horizon short. Every grid's bound is valid, so the least is kept.
    while (
        run.converged
        and not gap_closed()
        and best_val is not None
        and space.grid_s / 2 >= opts.min_grid * (1 - 1e-9)
        and deadline - time.perf_counter() > 0.1 * (time_limit_s or 0.0)
    ):
        # this grid's columns first: the finer master starts from the incumbent's columns only
        remaining = max(0.0, deadline - time.perf_counter())
        try_integer(min(0.8 * remaining, max(0.5, min(integer_budget - integer_spent, 0.1 * remaining))))
        if gap_closed() or best_val is None:
            break
        lf = lagrangian_floors(run, best_val)
        floors = lf if floors is None else [max(a, b) for a, b in zip(floors, lf, strict=True)]
        space = build_space(costs, space.grid_s / 2, best_val, floors)
        run = new_run(space, opts, best_sol, best_ev)
        run.generate(opts, deadline, fine_stop, after)
        bound = min(bound, run.bound)
        grids.append(space.grid_s)
    info.update(grid=space.grid_s, grids=grids, horizon_periods=space.horizon)
    if not gap_closed():
        remaining = max(0.0, deadline - time.perf_counter())
        share = max(0.0, integer_budget - integer_spent)
        if time_limit_s is None:
            try_integer(max(share, 1.0))
        elif remaining > 0.05:
            if run.converged and opts.branching and opts.node_limit != 1:
                # the tree gets most of the time; the root's integer master a share of it
                try_integer(min(0.8 * remaining, max(0.5, min(share, 0.1 * remaining))))
            else:
                # a solved LP cannot move the bound any more without branching: the rest of the time
                # goes to the integer master, whose columns may still hold a better incumbent
                # (HiGHS overruns its limit by a second or more on large masters: keep a margin)
                try_integer(
                    0.8 * remaining if run.converged else min(0.8 * remaining, max(share, 0.1 * remaining))
                )
    info.update(
        iterations=run.iterations,
        columns=len([c for c in run.master.columns if c is not None]),
        lp_value=run.lp_value,
        converged=run.converged,
        combinations_evaluated=run.evaluated,
        root_bound=bound,
        nodes=1,
    )
    search_stopped = False
    if opts.branching and run.converged and not gap_closed() and best_val is not None:
        tb = time.perf_counter()
        tree = Tree(bound)
        search_stopped = branch_and_price(
            costs, space, run, tree, opts, seed, deadline, floors, offer, lambda: best_val, try_integer
        )
        bound = min(bound, tree.global_bound(best_val))
        info.update(
            nodes=tree.processed,
            open_nodes=len(tree.open) + len(tree.stuck),
            max_depth=tree.max_depth,
            node_mips=tree.node_mips,
            node_mip_time_s=tree.node_mip_time_s,
            combinations_fixed=tree.pruned,
            node_iterations=tree.iterations,
            bnp_time_s=time.perf_counter() - tb,
            columns=len([c for c in run.master.columns if c is not None]),
        )

    if best_val is not None:
        if bound < best_val - 1e-6 * max(1.0, abs(best_val)):  # a symptom of a bug, shown not hidden
            info["bound_below_incumbent"] = f"Lagrangian bound {bound!r} < incumbent {best_val!r}"
        bound = max(bound, best_val)  # OPT >= incumbent: the bound is for solutions at least this good
    info.update(integer_time_s=integer_spent)
    if run.empty:
        info["empty_tasks"] = "some task has no column in the space: no solution the space keeps exists"
    if best_sol is None or best_ev is None:
        # without an incumbent the space holds every feasible solution: no column means infeasible
        none_found: Termination = "infeasible" if run.empty else "time_limit"
        return SolverOutput(
            None, none_found, None, bound if math.isfinite(bound) else None, info["build_time_s"], info
        )
    assert best_val is not None
    termination: Termination
    if gap_closed():
        termination = "optimal"
    elif (
        search_stopped
        or (not opts.branching and run.converged)
        or (opts.max_iterations is not None and run.iterations >= opts.max_iterations)
    ):
        termination = "feasible"  # stopped by node_limit / max_iterations, or no branching asked for
    else:
        termination = "time_limit"
    return SolverOutput(
        best_sol,
        termination,
        claimed_objective=best_val,
        bound=bound if math.isfinite(bound) else None,
        build_time_s=info["build_time_s"],
        info=info,
    )
