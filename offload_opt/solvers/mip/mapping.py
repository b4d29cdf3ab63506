"""Solutions <-> model values: MIP starts from a solution, a solution from the variable values, and the
objective of a solution read from the model with all its decisions fixed (the claimed objective)."""

from __future__ import annotations

import math
import time
from collections import defaultdict

import pyomo.environ as pyo
from pyomo.contrib.appsi.base import TerminationCondition

from offload_opt.evaluator import Evaluation
from offload_opt.solution import (
    Assignment,
    Placement,
    Sequence,
    Solution,
    TaskDecision,
    activities_of,
    decisions_to_assignments,
    make_solution,
)
from offload_opt.solvers.mip.highs import run_highs
from offload_opt.solvers.mip.model import EPS, MipModel, OutOfTime, Target, server_key
from offload_opt.solvers.mip.structure import (
    Structure,
    apply_completion_bounds,
    generic_horizon,
    heads_and_tails,
)

NAME = "mip"


def canonical_slots(st: Structure, solution: Solution) -> Solution:
    """Relabel identical slots so that each server's slots are ordered by the smallest activity they host.

    The schedule is unchanged (identical slots are interchangeable); the result satisfies the
    model's slot symmetry breaking.
    """
    costs = st.costs
    assignments = decisions_to_assignments(costs, solution)
    act_of = {a.key: a.index for a in st.acts}
    first: dict[tuple[str, ...], dict[str, int]] = defaultdict(dict)
    for ti, asg in assignments.items():
        mode = costs.tasks[ti].modes[asg.mode]
        for k, op in enumerate(mode.ops):
            res = op.options[asg.options[k]].resources
            if len(res) > 1:
                i = act_of[f"{costs.tasks[ti].id}/{op.name}"]
                cur = first[res].get(asg.resources[k])
                first[res][asg.resources[k]] = i if cur is None else min(cur, i)
    rename: dict[str, str] = {}
    for res, used in first.items():
        for new, (old, _) in enumerate(sorted(used.items(), key=lambda kv: kv[1])):
            rename[old] = res[new]
    if all(k == v for k, v in rename.items()):
        return solution
    decisions = []
    for d in solution.decisions:
        placements = []
        for p in d.placements:
            ti = costs.task_index[d.task]
            mode = costs.tasks[ti].modes[costs.tasks[ti].mode_index[d.mode]]
            op = mode.ops[mode.op_index[p.op]]
            opt = next(o for o in op.options if o.node == p.node and o.model == p.model)
            slot = p.slot
            if len(opt.resources) > 1:
                slot = opt.resources.index(rename.get(opt.resources[p.slot], opt.resources[p.slot]))
            placements.append(Placement(p.op, p.node, p.model, slot))
        decisions.append(TaskDecision(d.task, d.mode, tuple(placements)))
    sequences = tuple(
        sorted(
            (Sequence(rename.get(s.resource, s.resource), s.activities) for s in solution.sequences),
            key=lambda s: s.resource,
        )
    )
    return Solution(tuple(decisions), sequences, solution.solver, meta=dict(solution.meta))


def load_values(model: MipModel, solution: Solution, ev: Evaluation) -> None:
    """Set every model variable to the values that ``solution`` (evaluated as ``ev``) implies (MIP start)."""
    m, st, costs = model.m, model.st, model.costs
    assignments = decisions_to_assignments(costs, solution)
    for ti, mi in model.modes:
        m.mode[ti, mi].set_value(1 if assignments[ti].mode == mi else 0, skip_validation=True)
    q_run: dict[tuple[int, int], float] = {}
    for i in model.ops:
        a = st.acts[i]
        asg = assignments[a.task]
        on = asg.mode == a.mode
        for o in model.opts[i]:
            val = 1 if on and asg.options[a.local] == o else 0
            m.place[i, o].set_value(val, skip_validation=True)
            res = model._option(i, o).resources
            if len(res) > 1 and not model.capacity:
                for s, r in enumerate(res):
                    m.slot[i, o, s].set_value(
                        1 if val and asg.resources[a.local] == r else 0, skip_validation=True
                    )
    for ti, mi in model.modes:
        on = assignments[ti].mode == mi
        z = 1.0 if on else 0.0
        for k in range(len(costs.tasks[ti].modes[mi].ops)):
            i = st.op_act[(ti, mi, k)]
            for o in model.opts[i]:
                if (i, o) in m.chain:
                    m.chain[i, o].set_value(
                        z if on and assignments[ti].options[k] == o else 0.0, skip_validation=True
                    )
            if on:
                z *= model._option(i, assignments[ti].options[k]).quality
        q_run[(ti, mi)] = z
    node = {}
    for i in model.ops:
        a = st.acts[i]
        asg = assignments[a.task]
        if asg.mode == a.mode:
            node[i] = model._option(i, asg.options[a.local]).node
    for i, r in model.route_index:
        a = st.acts[i]
        rt = a.routes[r]
        on_route = 1.0 if node.get(a.src) == rt.src_node and node.get(a.dst) == rt.dst_node else 0.0
        m.route[i, r].set_value(on_route, skip_validation=True)
    for i in model.live:
        a = st.acts[i]
        on = assignments[a.task].mode == a.mode
        start = ev.schedule[a.key].start_s if on else 0.0
        m.start[i].set_value(start, skip_validation=True)
        if a.kind == "op":
            for o in model.opts[i]:
                chosen = on and assignments[a.task].options[a.local] == o
                m.start_on[i, o].set_value(start if chosen else 0.0, skip_validation=True)
    for ti, tm in enumerate(ev.tasks):
        done = costs.tasks[ti].release_s + tm.latency_s
        m.done[ti].set_value(done, skip_validation=True)
        for t, mi in model.modes:
            if t == ti and model.multi[ti]:
                m.done_mode[ti, mi].set_value(
                    done if assignments[ti].mode == mi else 0.0, skip_validation=True
                )
    if hasattr(m, "makespan"):
        m.makespan.set_value(ev.makespan_s, skip_validation=True)
    if hasattr(m, "busy"):  # time-indexed occupation: the part of each op's run inside each period
        grid = model.time_grid
        for i, o, t in m.busy:
            a = st.acts[i]
            asg = assignments[a.task]
            work = 0.0
            if asg.mode == a.mode and asg.options[a.local] == o:
                sched = ev.schedule[a.key]
                work = max(0.0, min(sched.end_s, (t + 1) * grid) - max(sched.start_s, t * grid))
            m.busy[i, o, t].set_value(work, skip_validation=True)
    # resource order: on a unary resource the sequence, on a k-slot server (capacity) the time order
    position: dict[str, tuple[str, int]] = {}
    for seq in solution.sequences:
        for p, key in enumerate(seq.activities):
            position[key] = (seq.resource, p)
    placed = {}
    for ti, asg in assignments.items():
        for key, channel in activities_of(costs, costs.tasks[ti], asg):
            placed[key] = channel
    act_of = {a.key: a.index for a in st.acts}
    where: dict[int, str | None] = {}
    for key, channel in placed.items():
        i = act_of[key]
        a = st.acts[i]
        option = assignments[a.task].options[a.local] if a.kind == "op" else None
        where[i] = model_resource(model, i, option, channel)
    for i, j in model.pairs:
        bij = bji = 0
        ri, rj = where.get(i), where.get(j)
        if ri is not None and ri == rj:
            if model.limit.get(ri, 1) == 1:
                pi, pj = position[st.acts[i].key], position[st.acts[j].key]
                bij, bji = (1, 0) if pi[1] < pj[1] else (0, 1)
            else:
                si, sj = ev.schedule[st.acts[i].key], ev.schedule[st.acts[j].key]
                if si.end_s <= sj.start_s + EPS:
                    bij = 1
                elif sj.end_s <= si.start_s + EPS:
                    bji = 1
        m.before[i, j].set_value(bij, skip_validation=True)
        m.before[j, i].set_value(bji, skip_validation=True)


def model_resource(model: MipModel, i: int, option: int | None, channel: str | None) -> str | None:
    """The resource activity i occupies in the model's terms (a server, not a slot, with ``capacity``)."""
    a = model.st.acts[i]
    if a.kind == "flow":
        return channel
    assert option is not None
    res = model._option(i, option).resources
    return server_key(res) if (model.capacity and len(res) > 1) else res[0]


def extract_solution(
    model: MipModel,
) -> tuple[Solution, dict[int, Assignment], dict[int, tuple[float, float, str | None]]]:
    """The solution the current variable values describe, built with make_solution from the start times.

    Returned beside it: per chosen activity (start, end, model resource). With ``capacity``,
    the ops of a server are given its slots by interval colouring in order of start (each to a
    slot already free, else to the one free first: the evaluator then queues it).
    """
    costs, st, m = model.costs, model.st, model.m
    chosen = model.chosen()
    assignments = {ti: Assignment(mi, opts, res) for ti, (mi, opts, res) in chosen.items()}
    modes = {ti: mi for ti, (mi, _, _) in chosen.items()}
    times: dict[int, tuple[float, float, str | None]] = {}
    act_of = {a.key: a.index for a in st.acts}
    for ti, asg in assignments.items():
        task = costs.tasks[ti]
        for key, channel in activities_of(costs, task, asg):
            i = act_of[key]
            s = float(m.start[i].value)
            e = s + float(pyo.value(model.duration(i)))
            a = st.acts[i]
            option = asg.options[a.local] if a.kind == "op" else None
            times[i] = (s, e, model_resource(model, i, option, channel))
    if model.capacity:
        by_server: dict[str, list[int]] = defaultdict(list)
        for i, (_, _, res) in times.items():
            a = st.acts[i]
            if a.kind == "op" and res is not None and res.startswith("srv:") and res.count(":") == 2:
                by_server[res].append(i)
        for ops in by_server.values():
            ops.sort(key=lambda i: (times[i][0], times[i][1]))
            a0 = st.acts[ops[0]]
            slots = model._option(ops[0], assignments[a0.task].options[a0.local]).resources
            free = [-math.inf] * len(slots)
            for i in ops:
                s, e, _ = times[i]
                ready = [k for k in range(len(slots)) if free[k] <= s + 1e-9]
                k = (
                    max(ready, key=lambda kk: free[kk])
                    if ready
                    else min(range(len(slots)), key=lambda kk: free[kk])
                )
                free[k] = max(free[k], s) + (e - s)
                a = st.acts[i]
                assignments[a.task].resources[a.local] = slots[k]
    del modes
    # insertion order by midpoint: exact ties in start (a zero-duration activity) go first
    order = sorted(times, key=lambda i: (times[i][0] + times[i][1], times[i][0]))
    start_s = {st.acts[i].key: times[i][0] for i in order}
    return make_solution(costs, assignments, start_s, solver=NAME), assignments, times


def polish(
    st: Structure, target: Target, solution: Solution, threads: int | None, deadline: float | None = None
) -> tuple[float, MipModel]:
    """Objective of ``solution`` computed from the MIP variables with all its decisions and sequences fixed.

    The fixed model is an LP over start times; minimising every start and completion gives the
    least schedule, which is the evaluator's when the model encodes the timing rules exactly.
    ``deadline`` (perf_counter seconds): ``OutOfTime`` when it passes before the LP is solved.
    """
    win = heads_and_tails(st)
    horizon = generic_horizon(st)
    apply_completion_bounds(st, win, [horizon] * len(st.costs.tasks), None)
    model = MipModel(st, win, Target(st.costs.objective.kind), fixed=solution, deadline=deadline)
    remaining = None if deadline is None else deadline - time.perf_counter()
    if remaining is not None and remaining <= 0:
        raise OutOfTime("mip: the time limit ended before the fixed model of the best solution was solved")
    res = run_highs(model, time_limit=remaining, mip_gap=0.0, threads=threads, warm=False)
    if res.termination_condition == TerminationCondition.maxTimeLimit:
        raise OutOfTime("mip: the time limit ended while solving the fixed model of the best solution")
    if res.termination_condition != TerminationCondition.optimal:
        raise RuntimeError(f"mip: the fixed model of a solution is not solved ({res.termination_condition})")
    res.solution_loader.load_vars()
    m = model.m
    if target.kind == "makespan" or st.costs.objective.kind == "makespan":
        return float(m.makespan.value), model
    return model.value(model.reward_expr()), model
