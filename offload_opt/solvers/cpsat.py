"""Exact back-end for the explicit-cost form: OR-Tools CP-SAT with optional interval variables.

The model is the classic flexible-job-shop / DAG-scheduling CP formulation (as
PyJobShop builds it): per op a start and an end, per (op, allowed processor) an
optional interval whose presence literal picks the processor (exactly one per
op), ``NoOverlap`` per processor, ``end(src) + cost <= start(dst)`` on every
edge where ``cost`` is paid only when the two ops sit on different processors,
ops no earlier than their job's release, and the makespan (latest end)
minimised. Only the explicit-cost form is supported: the wireless model's
channels, slots and quality are the MIP's job.

CP-SAT works in integers: every duration, edge cost and release is scaled by
the smallest power of ten (up to 10**6) that makes them all integral; other
data is refused with a one-line error. ``ortools`` is an optional dependency
(``pip install offload-opt[cpsat]``).
"""

from __future__ import annotations

import math
from typing import Any

from offload_opt.costs import CostTables
from offload_opt.solution import Assignment, make_solution
from offload_opt.solvers.bounds import makespan_bounds
from offload_opt.solvers.options import CpsatOptions
from offload_opt.solvers.output import SolverOutput, Termination

MAX_SCALE_DIGITS = 6
WIRELESS_REASON = (
    "cpsat: only explicit-cost makespan instances are supported (use mip for wireless scenarios)"
)
MISSING_REASON = "cpsat: needs the optional dependency ortools (pip install 'offload-opt[cpsat]')"


def integer_scale(values: list[float]) -> int:
    """Smallest 10**k (k <= 6) making every value integral; ValueError naming the first value that is not."""
    for k in range(MAX_SCALE_DIGITS + 1):
        scale = 10**k
        if all(abs(v * scale - round(v * scale)) <= 1e-9 * max(1.0, abs(v * scale)) for v in values):
            return scale
    bad = next(v for v in values if abs(v * 10**MAX_SCALE_DIGITS - round(v * 10**MAX_SCALE_DIGITS)) > 1e-9)
    raise ValueError(f"cpsat: durations, costs and releases must be multiples of 1e-6, got {bad!r}")


def _data_values(costs: CostTables) -> list[float]:
    out: list[float] = []
    for t in costs.tasks:
        out.append(t.release_s)
        mode = t.modes[0]
        out.extend(f.size for f in mode.flows)
        for op in mode.ops:
            out.extend(o.duration_s for o in op.options)
    return out


def _hint_starts(costs: CostTables, solver_name: str, seed: int) -> dict[str, tuple[str, float]]:
    """(option node, start) of every op key in the evaluated schedule of heuristic ``solver_name``."""
    from offload_opt.evaluator import evaluate
    from offload_opt.solvers.mip.warm import HEURISTICS  # the warm-start table the mip uses too

    func, opts = HEURISTICS[solver_name]  # names are checked by CpsatOptions
    out = func(costs, time_limit_s=None, seed=seed, options=opts)
    if out.solution is None:
        return {}
    ev = evaluate(costs, out.solution)
    nodes = {f"{d.task}/{p.op}": p.node for d in out.solution.decisions for p in d.placements}
    return {key: (nodes[key], a.start_s) for key, a in ev.schedule.items() if key in nodes}


def identical_processors(costs: CostTables) -> bool:
    """Every op runs on every processor in the same time and every transfer is free (e.g. the STG set)."""
    n_proc = len(costs.instance.explicit.processors) if costs.instance.explicit else 0
    for t in costs.tasks:
        mode = t.modes[0]
        if any(f.size != 0 for f in mode.flows):
            return False
        for op in mode.ops:
            if len(op.options) != n_proc or len({o.duration_s for o in op.options}) != 1:
                return False
    return True


def partition_intervals(spans: dict[Any, tuple[int, int]], machines: int) -> dict[Any, int]:
    """Machine index of each half-open span ``[start, end)``, never two overlapping on one machine.

    Greedy by start time onto the machine free longest (Hu's interval partitioning); succeeds whenever at
    most ``machines`` spans overlap at any instant, which the cumulative constraint guarantees.
    """
    free_at = [0] * machines
    out: dict[Any, int] = {}
    for key, (start, end) in sorted(spans.items(), key=lambda kv: (kv[1], kv[0])):
        m = min(range(machines), key=lambda k: (free_at[k] > start, free_at[k], k))
        if free_at[m] > start:
            raise RuntimeError(
                f"cpsat: more than {machines} ops overlap at {start}: the cumulative is violated"
            )
        out[key] = m
        free_at[m] = end
    return out


def solve_cpsat(
    costs: CostTables, *, time_limit_s: float | None, seed: int, options: CpsatOptions
) -> SolverOutput:
    """Minimise the makespan of an explicit-cost instance with CP-SAT.

    Options: ``threads`` (CP-SAT workers, default 2), ``warm_start`` (a heuristic whose evaluated schedule is
    given to CP-SAT as a complete hint, default ``heft``; ``none`` for no hint), ``log`` (CP-SAT's search log).
    """
    # Like the baselines on explicit instances: an instance this solver does not handle is a result with no
    # solution and a reason (so sweeps over every registered solver go on), not an exception.
    if costs.instance.explicit is None or costs.objective.kind != "makespan":
        return SolverOutput(None, "error", info={"reason": WIRELESS_REASON})
    try:
        from ortools.sat.python import cp_model
    except ImportError:
        return SolverOutput(None, "error", info={"reason": MISSING_REASON})
    threads = options.threads
    if time_limit_s is not None and not time_limit_s > 0:
        raise ValueError(f"time_limit: must be > 0, got {time_limit_s!r}")

    import time

    t_build = time.perf_counter()
    scale = integer_scale(_data_values(costs))

    def iv(x: float) -> int:
        return int(round(x * scale))

    horizon = (
        sum(iv(t.release_s) for t in costs.tasks)
        + sum(max(iv(o.duration_s) for o in op.options) for t in costs.tasks for op in t.modes[0].ops)
        + sum(iv(f.size) for t in costs.tasks for f in t.modes[0].flows)
    )
    n_proc = len(costs.instance.explicit.processors)
    identical = identical_processors(costs)
    model = cp_model.CpModel()
    starts: dict[tuple[int, int], Any] = {}
    ends: dict[tuple[int, int], Any] = {}
    present: dict[tuple[int, int], dict[int, Any]] = {}
    per_resource: dict[str, list[Any]] = {}
    for ti, task in enumerate(costs.tasks):
        mode = task.modes[0]
        for i, op in enumerate(mode.ops):
            s = model.new_int_var(iv(task.release_s), horizon, f"s_{ti}_{i}")
            e = model.new_int_var(iv(task.release_s), horizon, f"e_{ti}_{i}")
            starts[ti, i], ends[ti, i] = s, e
            if identical:
                # identical processors, free transfers: the cumulative below is the whole resource model;
                # processors are assigned after the solve (interval partitioning never needs more than
                # the peak overlap, which the cumulative caps at the processor count)
                model.add(e == s + iv(op.options[0].duration_s))
                present[ti, i] = {}
                continue
            lits = {}
            for j, opt in enumerate(op.options):
                lit = model.new_bool_var(f"x_{ti}_{i}_{j}") if len(op.options) > 1 else model.new_constant(1)
                interval = model.new_optional_interval_var(s, iv(opt.duration_s), e, lit, f"I_{ti}_{i}_{j}")
                per_resource.setdefault(opt.resources[0], []).append(interval)
                lits[j] = lit
            model.add_exactly_one(lits.values())
            present[ti, i] = lits
        for f in mode.flows:
            if f.src < 0 or f.dst < 0:
                continue  # the explicit form has no owner device: no source/sink flows
            src, dst = (ti, f.src), (ti, f.dst)
            model.add(ends[src] <= starts[dst])
            cost = iv(f.size)
            if cost == 0:
                continue
            # the cost is paid unless both ends sit on the same processor
            src_by_node = {mode.ops[f.src].options[j].node: lit for j, lit in present[src].items()}
            for j, lit in present[dst].items():
                node = mode.ops[f.dst].options[j].node
                cond = [lit] + ([src_by_node[node].Not()] if node in src_by_node else [])
                model.add(ends[src] + cost <= starts[dst]).only_enforce_if(cond)
    for intervals in per_resource.values():
        model.add_no_overlap(intervals)
    # Redundant: every op holds some processor for at least its minimum duration from its start, so all
    # ops together never need more than the processor count at once (energetic reasoning: total work).
    fixed = []
    for (ti, i), s in starts.items():
        dmin = min(o.duration_s for o in costs.tasks[ti].modes[0].ops[i].options)
        fixed.append(model.new_fixed_size_interval_var(s, iv(dmin), f"F_{ti}_{i}"))
    model.add_cumulative(fixed, [1] * len(fixed), n_proc)
    lower = makespan_bounds(costs)
    lb = max(0, math.ceil(lower.best_s * scale - 1e-9))
    makespan = model.new_int_var(min(lb, horizon), horizon, "makespan")
    model.add_max_equality(makespan, list(ends.values()))
    model.minimize(makespan)

    # A complete hint from a cheap heuristic: measured on Brandimarte mk09 / mk10 (30 s, 2 workers) it took
    # CP-SAT's incumbent from 366 / 629 (no hint) to 317 / 228. None or "none" turns it off.
    warm = options.warm_start
    if warm is not None:
        hints = _hint_starts(costs, str(warm), seed)
        for (ti, i), s in starts.items():
            key = f"{costs.tasks[ti].id}/{costs.tasks[ti].modes[0].ops[i].name}"
            if key not in hints:
                continue
            node, start = hints[key]
            model.add_hint(s, iv(start))
            for j, lit in present[ti, i].items():
                if len(present[ti, i]) > 1:
                    model.add_hint(lit, costs.tasks[ti].modes[0].ops[i].options[j].node == node)
    build_s = time.perf_counter() - t_build

    solver = cp_model.CpSolver()
    solver.parameters.num_workers = threads
    solver.parameters.random_seed = seed
    if time_limit_s is not None:
        solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.log_search_progress = options.log
    status = solver.solve(model)
    info: dict[str, Any] = {
        "lower_bound": lower.best_s,
        "scale": scale,
        "status": solver.status_name(status),
        "wall_s": solver.wall_time,
    }
    bound = solver.best_objective_bound / scale if status in (cp_model.OPTIMAL, cp_model.FEASIBLE) else None
    if status == cp_model.INFEASIBLE:
        return SolverOutput(None, "infeasible", build_time_s=build_s, info=info)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return SolverOutput(None, "time_limit", build_time_s=build_s, info=info)

    assignments: dict[int, Assignment] = {}
    start_s: dict[str, float] = {}
    # zero-length ops first among equal starts, as the partition and the evaluator expect
    order = sorted(starts, key=lambda k: (solver.value(starts[k]), solver.value(ends[k]), k))
    if identical:
        processor_of = partition_intervals(
            {k: (solver.value(starts[k]), solver.value(ends[k])) for k in starts}, n_proc
        )
    for ti, task in enumerate(costs.tasks):
        mode = task.modes[0]
        if identical:
            chosen = [processor_of[ti, i] for i in range(len(mode.ops))]
            assignments[ti] = Assignment(
                0, chosen, [mode.ops[i].options[j].resources[0] for i, j in enumerate(chosen)]
            )
            continue
        chosen = [
            next(j for j, lit in present[ti, i].items() if solver.boolean_value(lit))
            for i in range(len(mode.ops))
        ]
        assignments[ti] = Assignment(
            0, chosen, [mode.ops[i].options[j].resources[0] for i, j in enumerate(chosen)]
        )
    for ti, i in order:
        task = costs.tasks[ti]
        start_s[f"{task.id}/{task.modes[0].ops[i].name}"] = solver.value(starts[ti, i]) / scale
    sol = make_solution(costs, assignments, start_s, "cpsat")
    objective = solver.objective_value / scale
    termination: Termination = "optimal" if status == cp_model.OPTIMAL else "time_limit"
    info["cpsat_makespan"] = objective
    # The evaluator starts every op as early as the sequences allow, so its makespan is never above
    # CP-SAT's; they are equal at an optimum, which is when the claim is checked.
    claimed = objective if termination == "optimal" else None
    if bound is not None and math.isfinite(bound):
        bound = max(0.0, bound)
    return SolverOutput(
        sol, termination, claimed_objective=claimed, bound=bound, build_time_s=build_s, info=info
    )
