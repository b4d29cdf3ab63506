"""Exact makespan for integral explicit-cost instances: destructive bounds with a time-indexed MIP (HiGHS).

For a trial makespan ``H`` (integer time units) the question "is there a
schedule ending by ``H``?" is a feasibility problem with a strong LP
relaxation in the time-indexed form (Sousa & Wolsey, Math. Prog. 54, 1992):
one binary ``y[o, k, t]`` per op ``o``, allowed option ``k`` and integer start
``t`` inside the op's window ``[head, H - tail - d]`` (heads and tails of
``bounds.heads_tails``), and

- every op starts once: ``sum_{k,t} y[o,k,t] = 1``;
- a processor runs one op at a time: for every processor and every unit
  ``[t, t+1)``, the ops whose option there covers it sum to at most 1;
- precedence ``src -> dst`` through cumulative variables: ``F_src(t)``
  (src finished by ``t``) ``>= S_dst(t)`` (dst started by ``t``), and with an
  edge cost ``c`` paid across processors, per node ``n`` the dst may use:
  ``F_src(t - c) + F_src^n(t) - F_src^n(t - c) >= S_dst^n(t)`` (finished by
  ``t - c`` anywhere, or by ``t`` on ``n`` itself).

This is exact for integral data: a feasible point is a schedule ending by
``H``, and no schedule ending by ``H`` is cut off.

*Destructive bounding* (Klein & Scholl, EJOR 112, 1999): starting from the
makespan lower bound of ``bounds.py`` (rounded up), each trial ``H`` that HiGHS
proves infeasible raises the lower bound to ``H + 1``; the first feasible
``H`` gives a schedule whose makespan equals the bound, hence optimal. An
incumbent from a heuristic (``warm_start``, default ``local-search``) caps the
trials: when the bound reaches it, the incumbent is proven. Small horizons
suit this form (the model grows with ``H``); ``max_columns`` refuses models
beyond it with a reason instead of running out of memory. On Kacem's 15 x 10
instance it proves makespan 10 infeasible in a few seconds where CP-SAT with
two workers needs about a minute (docs/model.md "Readers").

Data are scaled to integers as for ``cpsat`` (``cpsat.integer_scale``); every
schedule found is re-evaluated by the evaluator, like every solver's.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from offload_opt.costs import CostTables
from offload_opt.solution import Assignment, make_solution
from offload_opt.solvers.bounds import heads_tails, makespan_bounds
from offload_opt.solvers.options import TimeIndexedOptions
from offload_opt.solvers.output import SolverOutput

WIRELESS_REASON = (
    "time-indexed: only explicit-cost makespan instances are supported (use mip or cg for wireless scenarios)"
)


class _Model:
    """The time-indexed feasibility model for one trial horizon, as column and row arrays for highspy."""

    def __init__(self) -> None:
        self.n_cols = 0
        self.integer: list[int] = []
        self.ub: list[float] = []
        self.rows_lo: list[float] = []
        self.rows_hi: list[float] = []
        self.starts: list[int] = [0]
        self.index: list[int] = []
        self.value: list[float] = []

    def col(self, integer: bool) -> int:
        j = self.n_cols
        self.n_cols += 1
        self.ub.append(1.0)
        if integer:
            self.integer.append(j)
        return j

    def row(self, lo: float, hi: float, terms: list[tuple[int, float]]) -> None:
        self.rows_lo.append(lo)
        self.rows_hi.append(hi)
        for j, v in terms:
            self.index.append(j)
            self.value.append(v)
        self.starts.append(len(self.index))


def _scale(costs: CostTables) -> int:
    """The power of ten making every duration, cost and release integral (as ``cpsat`` scales)."""
    from offload_opt.solvers.cpsat import _data_values, integer_scale

    return integer_scale(_data_values(costs))


def count_columns(costs: CostTables, horizon: int, scale: int) -> int:
    """Binary start columns of the model at ``horizon`` (scaled units): the size guard of ``max_columns``."""
    heads, tails = heads_tails(costs)
    n = 0
    for ti, task in enumerate(costs.tasks):
        for i, op in enumerate(task.modes[0].ops):
            h = round(heads[ti, i] * scale)
            q = round(tails[ti, i] * scale)
            for opt in op.options:
                n += max(0, horizon - q - round(opt.duration_s * scale) - h + 1)
    return n


def _feasible_at(
    costs: CostTables, horizon: int, scale: int, time_limit_s: float | None, threads: int
) -> tuple[str, dict[tuple[int, int], tuple[int, int]] | None]:
    """Solve the feasibility model at ``horizon``: ("feasible", {(task, op): (option, start)}),
    ("infeasible", None) or ("unknown", None) when the time ran out."""
    import highspy

    from offload_opt.solvers.highs_threads import use_threads

    heads, tails = heads_tails(costs)
    m = _Model()
    y: dict[tuple[int, int], list[tuple[int, int, int, int, str]]] = {}  # (col, option, start, dur, node)
    for ti, task in enumerate(costs.tasks):
        for i, op in enumerate(task.modes[0].ops):
            h = round(heads[ti, i] * scale)
            q = round(tails[ti, i] * scale)
            cols = []
            for j, opt in enumerate(op.options):
                d = round(opt.duration_s * scale)
                for t in range(h, horizon - q - d + 1):
                    cols.append((m.col(True), j, t, d, opt.node))
            if not cols:
                return "infeasible", None  # a window closed by the bounds alone
            y[ti, i] = cols
            m.row(1.0, 1.0, [(c[0], 1.0) for c in cols])
    # one op at a time per processor (resources[0] of the option)
    busy: dict[tuple[str, int], list[int]] = {}
    for (ti, i), cols in y.items():
        ops = costs.tasks[ti].modes[0].ops[i].options
        for col, j, t, d, _node in cols:
            res = ops[j].resources[0]
            for u in range(t, t + d):
                busy.setdefault((res, u), []).append(col)
    for cols_u in busy.values():
        if len(cols_u) > 1:
            m.row(-math.inf, 1.0, [(c, 1.0) for c in cols_u])

    # cumulative "started by t" / "finished by t" variables, per node when an edge cost needs them
    def cumulative(ti: int, i: int, finished: bool, node: str | None) -> list[int]:
        """Columns C(t), t = 0..horizon, with C(t) = C(t-1) + the op's starts (or ends) at t."""
        at: dict[int, list[int]] = {}
        for col, _j, t, d, nd in y[ti, i]:
            if node is None or nd == node:
                at.setdefault(t + d if finished else t, []).append(col)
        out: list[int] = []
        for t in range(horizon + 1):
            c = m.col(False)
            terms = [(c, 1.0)] + [(k, -1.0) for k in at.get(t, [])]
            if out:
                terms.append((out[-1], -1.0))
            m.row(0.0, 0.0, terms)
            out.append(c)
        return out

    memo: dict[tuple[int, int, bool, str | None], list[int]] = {}

    def cum(ti: int, i: int, finished: bool, node: str | None = None) -> list[int]:
        key = (ti, i, finished, node)
        if key not in memo:
            memo[key] = cumulative(ti, i, finished, node)
        return memo[key]

    for ti, task in enumerate(costs.tasks):
        mode = task.modes[0]
        for f in mode.flows:
            if f.src < 0 or f.dst < 0:
                continue
            c = round(f.size * scale)
            fin = cum(ti, f.src, True)
            if c == 0:
                st = cum(ti, f.dst, False)
                for t in range(horizon + 1):
                    m.row(0.0, math.inf, [(fin[t], 1.0), (st[t], -1.0)])
                continue
            src_nodes = {o.node for o in mode.ops[f.src].options}
            for node in sorted({o.node for o in mode.ops[f.dst].options}):
                st = cum(ti, f.dst, False, node)
                same = cum(ti, f.src, True, node) if node in src_nodes else None
                for t in range(horizon + 1):
                    terms = [(st[t], -1.0)]
                    if t - c >= 0:
                        terms.append((fin[t - c], 1.0))
                    if same is not None:
                        terms.append((same[t], 1.0))
                        if t - c >= 0:
                            terms.append((same[t - c], -1.0))
                    m.row(0.0, math.inf, terms)

    from pyomo.common.tee import capture_output

    with capture_output(capture_fd=True):  # the banner HiGHS prints on stdout on construction
        hs = highspy.Highs()
    hs.setOptionValue("output_flag", False)
    hs.setOptionValue("threads", use_threads(threads))
    hs.setOptionValue("random_seed", 0)
    if time_limit_s is not None:
        hs.setOptionValue("time_limit", max(0.01, float(time_limit_s)))
    n = m.n_cols
    hs.addVars(n, np.zeros(n), np.asarray(m.ub))
    if m.integer:
        idx = np.asarray(m.integer, dtype=np.int32)
        hs.changeColsIntegrality(len(idx), idx, np.full(len(idx), highspy.HighsVarType.kInteger))
    hs.addRows(
        len(m.rows_lo),
        np.asarray(m.rows_lo),
        np.asarray(m.rows_hi),
        len(m.index),
        np.asarray(m.starts[:-1], dtype=np.int32),
        np.asarray(m.index, dtype=np.int32),
        np.asarray(m.value),
    )
    hs.run()
    status = hs.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        return "infeasible", None
    if hs.getInfo().primal_solution_status != 2:  # no feasible point (time limit)
        return "unknown", None
    x = hs.getSolution().col_value
    chosen = {}
    for key, cols in y.items():
        col, j, t, _d, _node = max(cols, key=lambda c: x[c[0]])
        chosen[key] = (j, t)
    return "feasible", chosen


def solve_time_indexed(
    costs: CostTables, *, time_limit_s: float | None, seed: int, options: TimeIndexedOptions
) -> SolverOutput:
    """Minimise the makespan of an integral explicit-cost instance by destructive bounding (module docstring).

    Options: ``threads`` (HiGHS threads, default 1), ``warm_start`` (heuristic whose evaluated schedule is
    the incumbent, default ``local-search``; ``none``), ``max_columns`` (largest time-indexed model tried).
    """
    if costs.instance.explicit is None or costs.objective.kind != "makespan":
        return SolverOutput(None, "error", info={"reason": WIRELESS_REASON})
    if time_limit_s is not None and not time_limit_s > 0:
        raise ValueError(f"time_limit: must be > 0, got {time_limit_s!r}")
    from offload_opt.evaluator import evaluate

    t0 = time.perf_counter()
    scale = _scale(costs)
    lb = max(0, math.ceil(makespan_bounds(costs).best_s * scale - 1e-9))
    info: dict[str, Any] = {"scale": scale, "root_bound": lb / scale, "trials": []}

    incumbent = None
    ub = math.inf
    if options.warm_start is not None:
        from offload_opt.solvers.mip.warm import HEURISTICS  # the warm-start table the mip uses too

        func, opts = HEURISTICS[options.warm_start]
        out = func(costs, time_limit_s=None, seed=seed, options=opts)
        if out.solution is not None:
            ev = evaluate(costs, out.solution)
            if ev.feasible and ev.objective is not None:
                incumbent, ub = out.solution, round(ev.objective * scale)
                info["incumbent_by"] = options.warm_start

    def left() -> float | None:
        return None if time_limit_s is None else time_limit_s - (time.perf_counter() - t0)

    while lb < ub:
        remaining = left()
        if remaining is not None and remaining <= 0:
            break
        n_cols = count_columns(costs, lb, scale)
        if n_cols > options.max_columns:
            info["stopped"] = f"the model at makespan {lb / scale:g} needs {n_cols} columns > max_columns"
            break
        tt = time.perf_counter()
        status, chosen = _feasible_at(costs, lb, scale, remaining, options.threads)
        info["trials"].append((lb / scale, status, round(time.perf_counter() - tt, 3)))
        if status == "infeasible":
            lb += 1
            continue
        if status == "unknown":
            break
        assert chosen is not None
        assignments: dict[int, Assignment] = {}
        start_s: dict[str, float] = {}
        for ti, task in enumerate(costs.tasks):
            mode = task.modes[0]
            opts_of = [chosen[ti, i][0] for i in range(len(mode.ops))]
            assignments[ti] = Assignment(
                0, opts_of, [mode.ops[i].options[j].resources[0] for i, j in enumerate(opts_of)]
            )
        order = sorted(
            chosen,
            key=lambda k: (
                chosen[k][1],
                chosen[k][1] + costs.tasks[k[0]].modes[0].ops[k[1]].options[chosen[k][0]].duration_s * scale,
                k,
            ),
        )
        for ti, i in order:
            task = costs.tasks[ti]
            start_s[f"{task.id}/{task.modes[0].ops[i].name}"] = chosen[ti, i][1] / scale
        sol = make_solution(costs, assignments, start_s, "time-indexed")
        ev = evaluate(costs, sol)
        value = round(ev.objective * scale) if ev.feasible and ev.objective is not None else math.inf
        if value < ub:
            incumbent, ub = sol, value
            info["incumbent_by"] = "time-indexed"
        break  # feasible at the lower bound: the optimum is lb (value <= lb and >= lb)

    info["wall_s"] = time.perf_counter() - t0
    bound = lb / scale
    if incumbent is None:
        return SolverOutput(None, "time_limit", bound=bound, info=info)
    proven = ub <= lb
    return SolverOutput(
        incumbent,
        "optimal" if proven else "time_limit",
        claimed_objective=ub / scale if proven else None,
        bound=min(bound, ub / scale),
        info=info,
    )
