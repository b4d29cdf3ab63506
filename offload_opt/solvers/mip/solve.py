"""The ``mip`` solver: build (``model.py``), warm-start, solve with HiGHS in memory, check, report.

Flow of one call (docs/mip.md, "Solving"):

1. a heuristic (``warm_start``) gives an incumbent; its evaluated objective bounds every
   task's latency (``structure.Windows``), which prunes options and sets the big-Ms;
2. the model orders activities that share a resource: by default (``lazy="all"``) only pairs of
   one task on a unary resource at first, the rest (pairs on a unary resource, k + 1 ops on a
   k-slot server) when a solution of the relaxation overlaps them (row generation; each
   relaxation's bound is valid);
3. the best solution is re-solved with all its decisions and sequences fixed (an LP whose least
   schedule is the evaluator's), and the claimed objective is read from those MIP variables.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import defaultdict
from dataclasses import dataclass, fields
from typing import Any

import highspy
import pyomo.environ as pyo
from pyomo.contrib.appsi.base import TerminationCondition
from pyomo.contrib.appsi.solvers.highs import Highs

from offload_opt.costs import CostTables
from offload_opt.evaluator import Evaluation, evaluate
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
from offload_opt.solvers.base import SolverOutput, get_solver, register
from offload_opt.solvers.mip.model import MipModel, Pair, Target, server_key
from offload_opt.solvers.mip.structure import (
    Structure,
    Windows,
    apply_completion_bounds,
    generic_horizon,
    heads_and_tails,
    task_reward_floors,
)

NAME = "mip"
LAZY_MODES = ("none", "channels", "all", "full")
MAX_CLIQUES_PER_EVENT = 20
MAX_CLIQUES_PER_SERVER = 200
EPS = 1e-9  # two activities closer than this do not overlap
NUMERIC_GAP = 1e-6  # relative: an evaluated solution this close to the bound is proven optimal


def _target(costs: CostTables, max_mean_latency: float | None, min_mean_accuracy: float | None) -> Target:
    if max_mean_latency is not None and min_mean_accuracy is not None:
        raise ValueError("max_mean_latency, min_mean_accuracy: give at most one")
    kind = costs.objective.kind
    if max_mean_latency is not None or min_mean_accuracy is not None:
        if kind != "reward":
            raise ValueError(f"max_mean_latency/min_mean_accuracy: need a reward objective, not {kind!r}")
        if max_mean_latency is not None:
            if not max_mean_latency >= 0:
                raise ValueError(f"max_mean_latency: must be >= 0, got {max_mean_latency!r}")
            return Target("accuracy", float(max_mean_latency))
        assert min_mean_accuracy is not None
        if not 0 <= min_mean_accuracy <= 1:
            raise ValueError(f"min_mean_accuracy: must be in [0, 1], got {min_mean_accuracy!r}")
        return Target("latency", float(min_mean_accuracy))
    return Target(kind)


def target_value(target: Target, ev: Evaluation, costs: CostTables) -> float:
    """The model's objective for an evaluated solution (equals the evaluator's for reward/makespan)."""
    if target.kind in ("reward", "makespan"):
        assert ev.objective is not None
        return ev.objective
    if target.kind == "accuracy":
        return costs.objective.accuracy_weight * sum(t.quality for t in ev.tasks)
    return sum(t.latency_s for t in ev.tasks)


def satisfies(target: Target, ev: Evaluation) -> bool:
    """Feasible for the evaluator and for the target's side constraint."""
    if not ev.feasible:
        return False
    n = len(ev.tasks)
    if target.kind == "accuracy":
        assert target.limit is not None
        return ev.mean_latency_s <= target.limit * (1 + 1e-9) + 1e-9 or n == 0
    if target.kind == "latency":
        assert target.limit is not None
        return ev.mean_quality >= target.limit * (1 - 1e-9) - 1e-12 or n == 0
    return True


def _gap(target: Target, value: float, bound: float) -> float:
    diff = bound - value if target.sense == "max" else value - bound
    return max(0.0, diff) / max(abs(value), 1e-9)


def _better(target: Target, a: float, b: float | None) -> bool:
    if b is None:
        return True
    return a > b if target.sense == "max" else a < b


# ---------------------------------------------------------------------- windows


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
    if target.kind == "reward" and incumbent is not None and costs.objective.latency_weight_per_s > 0:
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
    obj = costs.objective
    rewards = [
        obj.accuracy_weight * model.quality(t) - obj.latency_weight_per_s * (m.done[t] - task.release_s)
        for t, task in enumerate(costs.tasks)
    ]
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
            res = _run(model, remaining, 1e-4, threads, warm=False, solver=opt, relax=True)
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


# ---------------------------------------------------------------------- solutions <-> model values


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
        val = 1.0 if node.get(a.src) == rt.src_node and node.get(a.dst) == rt.dst_node else 0.0
        m.route[i, r].set_value(val, skip_validation=True)
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


def find_conflicts(
    model: MipModel, times: dict[int, tuple[float, float, str | None]], candidates: dict[Pair, list[str]]
) -> tuple[dict[Pair, list[str]], list[tuple[str, tuple[int, ...]]]]:
    """Resource conflicts of these times the model does not rule out yet.

    Returned: pairs overlapping on a unary resource, and (resource, k + 1 activities) running at
    one time on a resource with k slots.
    """
    st = model.st
    on: dict[str, list[int]] = defaultdict(list)
    for i, (_, _, res) in times.items():
        if res is not None:
            on[res].append(i)
    pairs: dict[Pair, list[str]] = {}
    cliques: list[tuple[str, tuple[int, ...]]] = []
    crowded: set[str] = set()
    for res, acts in on.items():
        k = model.limit.get(res, 1)
        acts.sort(key=lambda i: (times[i][0], times[i][1]))
        active: list[int] = []  # activities of positive length still running
        for j in acts:
            sj, ej, _ = times[j]
            active = [i for i in active if times[i][1] > sj + EPS]
            overlapping = [i for i in active if ej > times[i][0] + EPS]  # all contain [sj, ...)
            if len(overlapping) >= k:
                if k == 1:
                    for i in overlapping:
                        pair = (min(i, j), max(i, j))
                        if pair in model.pairs:
                            continue
                        if pair not in candidates:
                            raise AssertionError(
                                f"mip: {st.acts[i].key} and {st.acts[j].key} overlap outside their windows"
                            )
                        pairs[pair] = candidates[pair]
                else:
                    crowded.add(res)
                    for combo in itertools.islice(
                        itertools.combinations(overlapping, k), MAX_CLIQUES_PER_EVENT
                    ):
                        members = tuple(sorted((*combo, j)))
                        if (res, members) not in model.cliques:
                            cliques.append((res, members))
            if ej > sj + EPS:
                active.append(j)
    # a crowded server: order every k + 1 of the ops placed on it, not just those that overlapped
    for res in crowded:
        k = model.limit[res]
        for combo in itertools.islice(itertools.combinations(sorted(on[res]), k + 1), MAX_CLIQUES_PER_SERVER):
            if (res, combo) not in model.cliques:
                cliques.append((res, combo))
    return pairs, cliques


MAX_CONTENT_OPS = 7  # server-content cuts enumerate orders: at most 7! = 5040


def least_completion_sum(jobs: list[tuple[int, float, float, float]], k: int) -> float:
    """Least sum over tasks of max(C_j + tail_j) for jobs (task, release, p, tail) on k identical slots.

    Exact: any schedule of identical slots, taken in order of start and list-scheduled on the
    slot free first, starts nothing later; so the least over all orders of that list schedule
    is the optimum (orders are enumerated with a bound on the partial sum).
    """
    best = math.inf
    n = len(jobs)

    def rec(order_left: list[int], free: list[float], done: dict[int, float]) -> None:
        nonlocal best
        if sum(done.values()) >= best:
            return
        if not order_left:
            best = sum(done.values())
            return
        kk = min(range(k), key=lambda x: free[x])
        for idx, j in enumerate(order_left):
            t, rel, p, tail = jobs[j]
            c = max(free[kk], rel) + p
            old_free, old_done = free[kk], done.get(t)
            free[kk] = c
            done[t] = max(old_done if old_done is not None else -math.inf, c + tail)
            rec(order_left[:idx] + order_left[idx + 1 :], free, done)
            free[kk] = old_free
            if old_done is None:
                del done[t]
            else:
                done[t] = old_done

    rec(list(range(n)), [-math.inf] * k, {})
    return best


def content_cuts(model: MipModel, assignments: dict, times: dict, crowded: set[str]) -> int:
    """Server-content cuts for the ops a solution put on each crowded server (``add_content_cut``)."""
    st, win = model.st, model.win
    added = 0
    for res in crowded:
        if res.startswith("srv:") and not model.capacity:
            continue  # one slot of a server: the options do not say which slot, so no cut
        members = []
        for i, (_, _, r) in times.items():
            a = st.acts[i]
            if r == res and a.kind == "op":
                members.append((i, assignments[a.task].options[a.local]))
        if not 1 < len(members) <= MAX_CONTENT_OPS:
            continue
        jobs = [
            (st.acts[i].task, model._option_window(i, o)[0], model._option(i, o).duration_s, win.tail[i][o])
            for i, o in members
        ]
        if model.add_content_cut(members, least_completion_sum(jobs, model.limit.get(res, 1))):
            added += 1
    return added


# ---------------------------------------------------------------------- polishing / claimed objective


def polish(st: Structure, target: Target, solution: Solution, threads: int | None) -> tuple[float, MipModel]:
    """Objective of ``solution`` computed from the MIP variables with all its decisions and sequences fixed.

    The fixed model is an LP over start times; minimising every start and completion gives the
    least schedule, which is the evaluator's when the model encodes the timing rules exactly.
    """
    win = heads_and_tails(st)
    horizon = generic_horizon(st)
    apply_completion_bounds(st, win, [horizon] * len(st.costs.tasks), None)
    model = MipModel(st, win, Target(st.costs.objective.kind), fixed=solution)
    res = _run(model, time_limit=None, mip_gap=0.0, threads=threads, warm=False)
    if res.termination_condition != TerminationCondition.optimal:
        raise RuntimeError(f"mip: the fixed model of a solution is not solved ({res.termination_condition})")
    res.solution_loader.load_vars()
    m = model.m
    if target.kind == "makespan" or st.costs.objective.kind == "makespan":
        return float(m.makespan.value), model
    return model.value(model.reward_expr()), model


# ---------------------------------------------------------------------- HiGHS


_scheduler_threads: list[int] = []  # thread count HiGHS's global scheduler was started with


def _use_threads(threads: int | None) -> int:
    """HiGHS starts one global task scheduler per process and refuses a later run asking for another
    thread count; restart the scheduler when the count changes (0: HiGHS's default)."""
    n = 0 if threads is None else int(threads)
    if _scheduler_threads and _scheduler_threads[0] != n:
        highspy.Highs.resetGlobalScheduler(True)
    _scheduler_threads[:] = [n]
    return n


def _run(
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


def _warm_start_solution(
    costs: CostTables, warm_start: Any, budget_s: float | None, seed: int, info: dict[str, Any]
) -> tuple[Solution | None, Evaluation | None]:
    """The best evaluated solution among the named heuristics (each given ``budget_s``) or a given one."""
    if warm_start is None or warm_start is False or warm_start == "none":
        return None, None
    if isinstance(warm_start, Solution):
        sols = [("given", warm_start)]
    else:
        names = [warm_start] if isinstance(warm_start, str) else list(warm_start)
        sols = []
        for name in names:
            try:
                solver = get_solver(name)
            except ValueError as exc:
                info.setdefault("warm_start_errors", []).append(str(exc))
                continue
            out = solver(costs, time_limit_s=budget_s, seed=seed)
            if out.solution is not None:
                sols.append((name, out.solution))
    best = None
    sense = Target(costs.objective.kind)
    for name, sol in sols:
        ev = evaluate(costs, sol)
        info.setdefault("warm_start_objectives", {})[name] = ev.objective if ev.feasible else None
        if ev.feasible and (best is None or _better(sense, ev.objective, best[2].objective)):
            best = (name, sol, ev)
    if best is None:
        return None, None
    info["warm_start"] = best[0]
    return best[1], best[2]


def warm_start_budget(costs: CostTables, time_limit_s: float | None) -> float:
    """Seconds each warm-start heuristic may take: 0.1 s per task, at most 5% of the time limit."""
    budget = 0.1 * max(1, len(costs.tasks))
    if time_limit_s is not None:
        budget = min(budget, 0.05 * time_limit_s)
    return max(budget, 0.05)


# ---------------------------------------------------------------------- the solver


@dataclass(frozen=True)
class MipOptions:
    """Options of the ``mip`` solver (docs/mip.md has the table)."""

    mip_gap: float = 1e-4
    threads: int | None = None
    warm_start: Any = ("greedy", "local-search")
    warm_start_s: float | None = None
    max_mean_latency: float | None = None
    min_mean_accuracy: float | None = None
    fix: Solution | None = None
    lazy: str = "all"
    windows: bool = True
    symmetry: bool = True
    server_cuts: bool = True
    bound_cuts: bool = True
    log: bool = False
    time_grid: float | None = 0.5
    floor_passes: int = 2
    content: bool = True

    def __post_init__(self) -> None:
        if not (isinstance(self.mip_gap, int | float) and self.mip_gap >= 0):
            raise ValueError(f"option: mip_gap must be a number >= 0, got {self.mip_gap!r}")
        if self.threads is not None and not (isinstance(self.threads, int) and self.threads >= 0):
            raise ValueError(f"option: threads must be an integer >= 0, got {self.threads!r}")
        if self.warm_start_s is not None and not self.warm_start_s > 0:
            raise ValueError(f"option: warm_start_s must be > 0, got {self.warm_start_s!r}")
        if self.lazy not in LAZY_MODES:
            raise ValueError(f"option: lazy must be one of {LAZY_MODES}, got {self.lazy!r}")
        if self.time_grid is not None and not (
            isinstance(self.time_grid, int | float) and math.isfinite(self.time_grid) and self.time_grid > 0
        ):
            raise ValueError(
                f"option: time_grid must be a number of seconds > 0 or None, got {self.time_grid!r}"
            )
        if not (isinstance(self.floor_passes, int) and self.floor_passes >= 0):
            raise ValueError(f"option: floor_passes must be an integer >= 0, got {self.floor_passes!r}")


@register(NAME, "exact MIP (Pyomo + HiGHS in memory): optimal decisions with a proven bound", exact=True)
def solve_mip(costs: CostTables, *, time_limit_s: float | None, seed: int, **options: Any) -> SolverOutput:
    """Solve ``costs`` to proven optimality (or to the time limit); options: ``MipOptions``."""
    known = {f.name for f in fields(MipOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"option: unknown option(s) {unknown} (known: {sorted(known)})")
    return _solve(costs, time_limit_s, seed, **options)


def _solve(
    costs: CostTables,
    time_limit_s: float | None,
    seed: int,
    *,
    mip_gap: float = 1e-4,
    threads: int | None = None,
    warm_start: Any = ("greedy", "local-search"),
    warm_start_s: float | None = None,
    max_mean_latency: float | None = None,
    min_mean_accuracy: float | None = None,
    fix: Solution | None = None,
    lazy: str = "all",
    windows: bool = True,
    symmetry: bool = True,
    server_cuts: bool = True,
    bound_cuts: bool = True,
    log: bool = False,
    time_grid: float | None = 0.5,
    floor_passes: int = 2,
    content: bool = True,
) -> SolverOutput:
    """Solve ``costs`` to proven optimality (or to the time limit); see the module docstring."""
    t0 = time.perf_counter()
    MipOptions(
        mip_gap,
        threads,
        warm_start,
        warm_start_s,
        max_mean_latency,
        min_mean_accuracy,
        fix,
        lazy,
        time_grid=time_grid,
        floor_passes=floor_passes,
    )
    target = _target(costs, max_mean_latency, min_mean_accuracy)
    info: dict[str, Any] = {"target": target.kind}
    st = Structure.build(costs)

    if fix is not None:
        tb = time.perf_counter()
        try:
            value, model = polish(st, target, fix, threads)
        except RuntimeError as exc:  # e.g. sequences that contradict precedence
            info["error"] = str(exc)
            return SolverOutput(None, "infeasible", None, None, time.perf_counter() - t0, info)
        solution, _, _ = extract_solution(model)
        info["solve_time_s"] = time.perf_counter() - tb
        info["fixed"] = True
        return SolverOutput(solution, "feasible", value, None, time.perf_counter() - t0, info)

    deadline = None if time_limit_s is None else t0 + time_limit_s
    budget = warm_start_s if warm_start_s is not None else warm_start_budget(costs, time_limit_s)
    inc_sol, inc_ev = _warm_start_solution(costs, warm_start, budget, seed, info)
    inc_val = None
    if inc_ev is not None and satisfies(target, inc_ev):
        inc_val = target_value(target, inc_ev, costs)
    else:
        inc_sol = inc_ev = None
    info["heuristic_time_s"] = time.perf_counter() - t0

    tb = time.perf_counter()
    win, floors = build_windows(st, target, inc_val if windows else None)
    # the time-indexed rows need the incumbent's windows: over the generic horizon they are many
    # and weak (a 4-user instance without warm start: 36 s instead of 4 s)
    grid = time_grid if windows and inc_val is not None else None
    info["time_grid"] = grid
    floor_deadline = (
        None if deadline is None else time.perf_counter() + 0.1 * max(0.0, deadline - time.perf_counter())
    )
    for _ in range(floor_passes if floors is not None and inc_val is not None else 0):
        draft = MipModel(
            st,
            win,
            target,
            reward_cut=floors,
            capacity=lazy in ("all", "full"),
            server_cuts=server_cuts,
            bound_cuts=bound_cuts,
            time_grid=grid,
        )
        floors = lp_floors(draft, inc_val, floors, threads, floor_deadline)
        win, floors = build_windows(st, target, inc_val, known_floors=floors)
    info["floor_time_s"] = time.perf_counter() - tb
    model = MipModel(
        st,
        win,
        target,
        reward_cut=floors,
        symmetry=symmetry,
        capacity=lazy in ("all", "full"),
        server_cuts=server_cuts,
        bound_cuts=bound_cuts,
        time_grid=grid,
    )
    candidates = model.candidate_pairs()
    if lazy == "none":
        first = dict(candidates)
    elif lazy == "channels":
        first = {
            p: rs
            for p, rs in candidates.items()
            if st.acts[p[0]].task == st.acts[p[1]].task or any(not r.startswith("chan:") for r in rs)
        }
    else:  # intra-task pairs on unary resources; the rest when a solution overlaps them
        first = {
            p: rs
            for p, rs in candidates.items()
            if st.acts[p[0]].task == st.acts[p[1]].task and any(model.limit[r] == 1 for r in rs)
        }
    model.add_pairs(first)
    if lazy == "full":  # every pair and every (k + 1)-set of a k-slot server, no rounds needed
        on_server: dict[str, list[int]] = defaultdict(list)
        for i, on in model._on.items():
            for r in on:
                if model.limit.get(r, 1) > 1:
                    on_server[r].append(i)
        cliques = [
            (r, combo)
            for r, acts in on_server.items()
            for combo in itertools.combinations(sorted(acts), model.limit[r] + 1)
        ]
        model.add_cliques(cliques, candidates)
        info["cliques"] = len(model.cliques)
    if inc_sol is not None:
        inc_sol = canonical_slots(st, inc_sol)
        load_values(model, inc_sol, evaluate(costs, inc_sol))
    opt = Highs()
    opt.config.load_solution = False
    opt.set_instance(model.m)
    build_time = time.perf_counter() - tb
    info.update(
        time_indexed_vars=getattr(model, "time_indexed_vars", 0),
        candidate_pairs=len(candidates),
        options_pruned=sum(not ok for v in win.allowed.values() for ok in v),
        modes_pruned=sum(not ok for ok in win.mode_allowed.values()),
    )

    best_sol, best_ev, best_val = inc_sol, inc_ev, inc_val
    bound: float | None = None
    termination = "error"
    iterations = 0
    ts = time.perf_counter()
    mip_objective = None
    while True:
        iterations += 1
        remaining = None if deadline is None else deadline - time.perf_counter()
        if remaining is not None and remaining <= 0:
            termination = "time_limit"
            break
        tr = time.perf_counter()
        res = _run(
            model, remaining, mip_gap, threads, warm=best_sol is not None, solver=opt, seed=seed, log=log
        )
        tc = res.termination_condition
        info.setdefault("round_log", []).append(
            (
                round(time.perf_counter() - tr, 2),
                str(tc).rsplit(".", 1)[-1],
                res.best_objective_bound,
                res.best_feasible_objective,
            )
        )
        if res.best_objective_bound is not None and math.isfinite(res.best_objective_bound):
            b = float(res.best_objective_bound)
            if bound is None or (b < bound if target.sense == "max" else b > bound):
                bound = b
        if tc == TerminationCondition.infeasible:
            termination = "infeasible" if best_sol is None else "error"
            if best_sol is not None:
                info["error"] = "the model is infeasible although a feasible incumbent exists"
            break
        if tc in (TerminationCondition.unbounded, TerminationCondition.infeasibleOrUnbounded):
            termination = "unbounded" if tc == TerminationCondition.unbounded else "infeasible"
            break
        found = res.best_feasible_objective is not None
        pairs: dict[Pair, list[str]] = {}
        cliques: list[tuple[str, tuple[int, ...]]] = []
        if found:
            res.solution_loader.load_vars()
            mip_objective = float(res.best_feasible_objective)
            sol, last_assignments, times = extract_solution(model)
            ev = evaluate(costs, sol)
            if satisfies(target, ev):
                val = target_value(target, ev, costs)
                if _better(target, val, best_val):
                    best_sol, best_ev, best_val = sol, ev, val
            pairs, cliques = find_conflicts(model, times, candidates)
        if tc == TerminationCondition.optimal:
            # the relaxation is solved: done when its solution needs no more order, or when the
            # evaluated best solution already reaches its bound (within the gap, or within the
            # numerical tolerance the MIP objective is checked with)
            reached = (
                best_val is not None
                and bound is not None
                and _gap(target, best_val, bound) <= max(mip_gap, NUMERIC_GAP)
            )
            if (not pairs and not cliques) or reached:
                termination = "optimal"
                break
            added = model.add_pairs(pairs) + model.add_cliques(cliques, candidates)
            added += model.separate_load_cuts()
            if content and target.kind != "makespan":
                crowded = {r for r, _ in cliques} | {
                    r for p, rs in pairs.items() for r in rs if not r.startswith("chan:")
                }
                added += content_cuts(model, last_assignments, times, crowded)
            info["rounds_added"] = info.get("rounds_added", []) + [added]
            if not added:
                # every overlap left is one the model already forbids: HiGHS accepted it within its
                # feasibility tolerance, and another round would return the same solution
                termination = "error"
                info["error"] = "mip: overlaps within HiGHS's tolerance and no new row to add"
                break
            if best_sol is not None:
                load_values(model, canonical_slots(st, best_sol), best_ev)
            continue
        termination = "time_limit" if tc == TerminationCondition.maxTimeLimit else "error"
        if termination == "error":
            info["error"] = f"HiGHS stopped with {tc}"
        break
    solve_time = time.perf_counter() - ts
    info.update(
        solve_time_s=solve_time, iterations=iterations, pairs=len(model.pairs), mip_objective=mip_objective
    )

    if best_sol is None:
        return SolverOutput(
            None,
            termination if termination != "optimal" else "error",
            None,
            bound if target.kind in ("reward", "makespan") else None,
            build_time,
            info,
        )
    tp = time.perf_counter()
    try:
        claimed: float | None = polish(st, target, best_sol, threads)[0]
    except RuntimeError as exc:  # never expected: the evaluator accepted this solution
        claimed = None
        info["error"] = f"the fixed model of the best solution failed: {exc}"
    info["polish_time_s"] = time.perf_counter() - tp
    info["target_value"] = best_val
    if target.kind in ("reward", "makespan"):
        out_bound = bound
    else:
        info["target_bound"] = bound
        out_bound = None  # a bound on the constrained target is not a bound on the evaluator's objective
    if termination == "optimal" and bound is not None and best_val is not None:
        info["target_gap"] = abs(bound - best_val) / max(abs(best_val), 1e-9)
    return SolverOutput(best_sol, termination, claimed, out_bound, build_time, info)
