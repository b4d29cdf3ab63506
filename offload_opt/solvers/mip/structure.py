"""The activity network the MIP is built on, and valid time windows for it.

``Structure`` lists every activity (op or flow) of every mode of every task
with its candidate placements (options, slots, routes of a flow between the
nodes of its two ends) exactly as the evaluator derives them from the cost
tables. ``Windows`` adds lower bounds on start times (heads), lower bounds on
the time from an activity's end to its task's completion (tails), and an
upper bound on each task's completion; they give the big-Ms, prune options
that provably cannot appear in an optimal solution, and filter the pairs of
activities that can ever compete for a resource (docs/mip.md, "Windows").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from offload_opt.costs import SINK, SOURCE, CostTables
from offload_opt.solution import flow_key, op_key

PRUNE_TOL = 1e-7  # relative slack kept when pruning by a cutoff (never prune a tie)


@dataclass(frozen=True)
class Route:
    """One way a flow can go: the nodes of its two ends, its duration and its channel (None: none)."""

    src_node: str
    dst_node: str
    duration_s: float
    channel: str | None


@dataclass
class Act:
    """One activity of one mode: an op (``local`` = op index) or a flow (``local`` = flow index)."""

    index: int
    key: str
    task: int
    mode: int
    kind: str  # "op" | "flow"
    local: int
    src: int = -1  # flows: activity index of the source op, -1 for SOURCE
    dst: int = -1  # flows: activity index of the destination op, -1 for SINK
    routes: tuple[Route, ...] = ()
    final: bool = False  # its end counts towards the task's completion (latency)


@dataclass
class Structure:
    """Activities of every mode, their candidate resources and the intra-mode precedence closure."""

    costs: CostTables
    acts: list[Act] = field(default_factory=list)
    mode_acts: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    op_act: dict[tuple[int, int, int], int] = field(default_factory=dict)  # (task, mode, op) -> act
    flow_act: dict[tuple[int, int, int], int] = field(default_factory=dict)  # (task, mode, flow) -> act
    succ: dict[int, set[int]] = field(default_factory=dict)  # transitive successors within the mode

    @classmethod
    def build(cls, costs: CostTables) -> Structure:
        st = cls(costs)
        for ti, task in enumerate(costs.tasks):
            for mi, mode in enumerate(task.modes):
                ids: list[int] = []
                for k, op in enumerate(mode.ops):
                    a = Act(len(st.acts), op_key(task.id, op.name), ti, mi, "op", k)
                    st.acts.append(a)
                    st.op_act[(ti, mi, k)] = a.index
                    ids.append(a.index)
                has_sink = any(f.dst == SINK for f in mode.flows)
                for k, f in enumerate(mode.flows):
                    # SOURCE / SINK flows exist only on the wireless form, where every task has an owner
                    src_nodes = [_owner(task)] if f.src == SOURCE else _nodes(mode.ops[f.src])
                    dst_nodes = [_owner(task)] if f.dst == SINK else _nodes(mode.ops[f.dst])
                    routes = []
                    for n1 in src_nodes:
                        for n2 in dst_nodes:
                            tr = costs.transfer(f, n1, n2)
                            routes.append(Route(n1, n2, tr.duration_s, tr.channel))
                    a = Act(
                        len(st.acts),
                        flow_key(task.id, mode, f),
                        ti,
                        mi,
                        "flow",
                        k,
                        src=-1 if f.src == SOURCE else st.op_act[(ti, mi, f.src)],
                        dst=-1 if f.dst == SINK else st.op_act[(ti, mi, f.dst)],
                        routes=tuple(routes),
                        final=f.dst == SINK,
                    )
                    st.acts.append(a)
                    st.flow_act[(ti, mi, k)] = a.index
                    ids.append(a.index)
                if not has_sink:  # explicit form: the job ends when its last op ends
                    for k in range(len(mode.ops)):
                        st.acts[st.op_act[(ti, mi, k)]].final = True
                st.mode_acts[(ti, mi)] = ids
                st._close(ids)
        return st

    def _close(self, ids: list[int]) -> None:
        direct: dict[int, list[int]] = {i: [] for i in ids}
        for i in ids:
            a = self.acts[i]
            if a.kind == "flow":
                if a.src >= 0:
                    direct[a.src].append(i)
                if a.dst >= 0:
                    direct[i].append(a.dst)
        for i in ids:
            seen: set[int] = set()
            stack = list(direct[i])
            while stack:
                j = stack.pop()
                if j not in seen:
                    seen.add(j)
                    stack.extend(direct[j])
            self.succ[i] = seen

    # -- lookups --

    def op_of(self, a: Act):
        return self.costs.tasks[a.task].modes[a.mode].ops[a.local]

    def flow_of(self, a: Act):
        return self.costs.tasks[a.task].modes[a.mode].flows[a.local]

    def comparable(self, i: int, j: int) -> bool:
        """True when a precedence path orders i and j (same mode), so they can never overlap."""
        return j in self.succ.get(i, ()) or i in self.succ.get(j, ())

    def in_flows(self, i: int) -> list[int]:
        a = self.acts[i]
        mode = self.costs.tasks[a.task].modes[a.mode]
        return [self.flow_act[(a.task, a.mode, k)] for k in mode.in_flows[a.local]]

    def out_flows(self, i: int) -> list[int]:
        a = self.acts[i]
        mode = self.costs.tasks[a.task].modes[a.mode]
        return [self.flow_act[(a.task, a.mode, k)] for k, f in enumerate(mode.flows) if f.src == a.local]


def _owner(task) -> str:
    """The device a wireless task's input comes from and its answer goes to."""
    assert task.owner is not None, f"task {task.id}: a flow from or to the device needs an owner"
    return task.owner


def _nodes(op) -> list[str]:
    return list(dict.fromkeys(o.node for o in op.options))


@dataclass
class Windows:
    """Valid bounds on when activities can run in any solution worth keeping.

    ``head[i][o]``: earliest start of op ``i`` on option ``o`` (flows: one value).
    ``tail[i][o]``: least time from the end of op ``i`` on option ``o`` to its task's completion.
    ``latest_completion[t]``: no solution at least as good as the cutoff completes task t later
    (absolute time), ``math.inf`` when nothing bounds it.
    ``allowed[i][o]``: option o of op i can still appear in such a solution.
    """

    head: dict[int, list[float]]
    tail: dict[int, list[float]]
    flow_head: dict[int, float]
    flow_tail: dict[int, float]
    min_latency: dict[tuple[int, int], float]  # (task, mode) -> lower bound on latency
    best_quality: dict[tuple[int, int], float]  # (task, mode) -> upper bound on quality
    latest_completion: list[float]
    allowed: dict[int, list[bool]]
    mode_allowed: dict[tuple[int, int], bool]
    # exact contention-free bounds per option (None when the enumeration was too large):
    opt_latency_lb: dict[int, list[float]] = field(default_factory=dict)  # least latency with op i on o
    opt_quality_ub: dict[int, list[float]] = field(default_factory=dict)  # best quality with op i on o
    opt_reward_ub: dict[int, list[float]] = field(default_factory=dict)  # best reward with op i on o
    mode_reward_ub: dict[tuple[int, int], float] = field(default_factory=dict)

    def est(self, st: Structure, i: int) -> float:
        """Earliest start of activity i over its allowed options."""
        if st.acts[i].kind == "flow":
            return self.flow_head[i]
        vals = [h for h, ok in zip(self.head[i], self.allowed[i], strict=True) if ok]
        return min(vals) if vals else self.head[i][0]

    def lct(self, st: Structure, i: int) -> float:
        """Latest completion of activity i (when its mode is chosen)."""
        a = st.acts[i]
        end = self.latest_completion[a.task]
        if a.kind == "flow":
            return end - self.flow_tail[i]
        vals = [t for t, ok in zip(self.tail[i], self.allowed[i], strict=True) if ok]
        return end - (min(vals) if vals else 0.0)


def heads_and_tails(st: Structure) -> Windows:
    """Contention-free lower bounds on heads, tails and latency (valid for every schedule)."""
    costs = st.costs
    head: dict[int, list[float]] = {}
    tail: dict[int, list[float]] = {}
    flow_head: dict[int, float] = {}
    flow_tail: dict[int, float] = {}
    min_latency: dict[tuple[int, int], float] = {}
    best_quality: dict[tuple[int, int], float] = {}
    for ti, task in enumerate(costs.tasks):
        r = task.release_s
        for mi, mode in enumerate(task.modes):
            finish: dict[int, list[float]] = {}
            for k in mode.topo_order:
                i = st.op_act[(ti, mi, k)]
                op = mode.ops[k]
                hs = []
                for o in op.options:
                    h = max(r, o.ready_s)
                    for fi in st.in_flows(i):
                        fa = st.acts[fi]
                        if fa.src < 0:
                            d = min(rt.duration_s for rt in fa.routes if rt.dst_node == o.node)
                            h = max(h, r + d)
                        else:
                            src_opts = st.op_of(st.acts[fa.src]).options
                            best = math.inf
                            for so, fin in zip(src_opts, finish[fa.src], strict=True):
                                d = min(
                                    rt.duration_s
                                    for rt in fa.routes
                                    if rt.src_node == so.node and rt.dst_node == o.node
                                )
                                best = min(best, fin + d)
                            h = max(h, best)
                    hs.append(h)
                head[i] = hs
                finish[i] = [h + o.duration_s for h, o in zip(hs, op.options, strict=True)]
            for fi in st.mode_acts[(ti, mi)]:
                fa = st.acts[fi]
                if fa.kind == "flow":
                    flow_head[fi] = r if fa.src < 0 else min(finish[fa.src])
            # tails, reverse topological order
            for k in reversed(mode.topo_order):
                i = st.op_act[(ti, mi, k)]
                op = mode.ops[k]
                ts = []
                for o in op.options:
                    t = 0.0
                    for fi in st.out_flows(i):
                        fa = st.acts[fi]
                        if fa.dst < 0:
                            t = max(t, min(rt.duration_s for rt in fa.routes if rt.src_node == o.node))
                        else:
                            dst_opts = st.op_of(st.acts[fa.dst]).options
                            best = math.inf
                            for do, dt in zip(dst_opts, tail[fa.dst], strict=True):
                                d = min(
                                    rt.duration_s
                                    for rt in fa.routes
                                    if rt.src_node == o.node and rt.dst_node == do.node
                                )
                                best = min(best, d + do.duration_s + dt)
                            t = max(t, best)
                    ts.append(t)
                tail[i] = ts
            for fi in st.mode_acts[(ti, mi)]:
                fa = st.acts[fi]
                if fa.kind == "flow":
                    if fa.dst < 0:
                        flow_tail[fi] = 0.0
                    else:
                        dst_opts = st.op_of(st.acts[fa.dst]).options
                        flow_tail[fi] = min(
                            o.duration_s + t for o, t in zip(dst_opts, tail[fa.dst], strict=True)
                        )
            ends = []
            for k in range(len(mode.ops)):
                i = st.op_act[(ti, mi, k)]
                ends.append(min(f + t for f, t in zip(finish[i], tail[i], strict=True)))
            min_latency[(ti, mi)] = max(ends) - r
            q = 1.0
            for op in mode.ops:
                q *= max(o.quality for o in op.options)
            best_quality[(ti, mi)] = q
    allowed = {i: [True] * len(v) for i, v in head.items()}
    mode_allowed = dict.fromkeys(min_latency, True)
    win = Windows(
        head,
        tail,
        flow_head,
        flow_tail,
        min_latency,
        best_quality,
        [math.inf] * len(costs.tasks),
        allowed,
        mode_allowed,
    )
    _per_option_bounds(st, win)
    return win


ENUMERATION_LIMIT = 400_000  # option combinations of one mode enumerated exactly


def _broadcaster(n: int):
    """values -> array with their axes at ``axes`` of an n-axis grid (size 1 elsewhere)."""

    def along(values, *axes):
        shape = [1] * n
        for ax, size in zip(axes, np.shape(values), strict=True):
            shape[ax] = size
        return np.reshape(np.asarray(values, dtype=float), shape)

    return along


def _per_option_bounds(st: Structure, win: Windows) -> None:
    """Least latency, best quality and best reward of each option, contention-free.

    Exact over every combination of options of the mode's ops (numpy broadcasting, one axis per
    op: the critical path with each flow's duration taken between the nodes of its two ends), when
    the number of combinations is at most ENUMERATION_LIMIT; otherwise the head + duration + tail
    bound per option and the best qualities of the other ops taken independently.
    """
    costs = st.costs
    reward = costs.task_reward  # the one definition of a task's reward (costs.py)
    for ti, task in enumerate(costs.tasks):
        r = task.release_s
        for mi, mode in enumerate(task.modes):
            ops = [st.op_act[(ti, mi, k)] for k in range(len(mode.ops))]
            sizes = [len(op.options) for op in mode.ops]
            if math.prod(sizes) > ENUMERATION_LIMIT:
                qbest = [max(o.quality for o in op.options) for op in mode.ops]
                for k, i in enumerate(ops):
                    others = math.prod(q for k2, q in enumerate(qbest) if k2 != k)
                    lat = [
                        win.head[i][o] + op.duration_s + win.tail[i][o] - r
                        for o, op in enumerate(mode.ops[k].options)
                    ]
                    qual = [o.quality * others for o in mode.ops[k].options]
                    win.opt_latency_lb[i] = lat
                    win.opt_quality_ub[i] = qual
                    win.opt_reward_ub[i] = [reward(q, x) for q, x in zip(qual, lat, strict=True)]
                win.mode_reward_ub[(ti, mi)] = reward(win.best_quality[(ti, mi)], win.min_latency[(ti, mi)])
                continue
            n = len(sizes)
            along = _broadcaster(n)

            finish: dict[int, np.ndarray] = {}
            latency = np.zeros([1] * n)
            for k in mode.topo_order:
                i = ops[k]
                opts = mode.ops[k].options
                h = along([max(r, o.ready_s) for o in opts], k)
                for fi in st.in_flows(i):
                    fa = st.acts[fi]
                    if fa.src < 0:
                        d = [min(rt.duration_s for rt in fa.routes if rt.dst_node == o.node) for o in opts]
                        h = np.maximum(h, r + along(d, k))
                    else:
                        p = st.acts[fa.src].local
                        src_opts = mode.ops[p].options
                        dm = {(rt.src_node, rt.dst_node): rt.duration_s for rt in fa.routes}
                        d2 = [[dm[(so.node, o.node)] for o in opts] for so in src_opts]
                        h = np.maximum(h, finish[p] + along(d2, p, k))
                finish[k] = h + along([o.duration_s for o in opts], k)
            has_sink = False
            for fi in st.mode_acts[(ti, mi)]:
                fa = st.acts[fi]
                if fa.kind == "flow" and fa.dst < 0:
                    has_sink = True
                    p = st.acts[fa.src].local
                    d = [
                        min(rt.duration_s for rt in fa.routes if rt.src_node == o.node)
                        for o in mode.ops[p].options
                    ]
                    latency = np.maximum(latency, finish[p] + along(d, p) - r)
            if not has_sink:
                for k in range(n):
                    latency = np.maximum(latency, finish[k] - r)
            quality = np.ones([1] * n)
            for k in range(n):
                quality = quality * along([o.quality for o in mode.ops[k].options], k)
            latency = np.broadcast_to(latency, sizes)
            quality = np.broadcast_to(quality, sizes)
            rewards: Any = costs.task_reward(quality, latency)  # type: ignore[arg-type]  # linear: works on arrays
            for k, i in enumerate(ops):
                axes = tuple(a for a in range(n) if a != k)
                win.opt_latency_lb[i] = latency.min(axis=axes).tolist() if axes else latency.tolist()
                win.opt_quality_ub[i] = quality.max(axis=axes).tolist() if axes else quality.tolist()
                win.opt_reward_ub[i] = rewards.max(axis=axes).tolist() if axes else rewards.tolist()
            win.min_latency[(ti, mi)] = max(win.min_latency[(ti, mi)], float(latency.min()))
            win.mode_reward_ub[(ti, mi)] = float(rewards.max())


def reward_per_latency_s(costs: CostTables) -> float:
    """Reward a task loses per second of latency, read from ``costs.task_reward`` (linear in latency).

    The one definition of a task's reward is ``costs.task_reward``; the windows invert it
    (the latest completion at which a quality still reaches a reward floor) through this slope.
    """
    return costs.task_reward(0.0, 0.0) - costs.task_reward(0.0, 1.0)


def generic_horizon(st: Structure) -> float:
    """No activity of an earliest-start schedule ends later than this (any solution).

    In a schedule where every activity starts as early as its release, ready time, data and
    resource predecessor allow, the binding predecessors of any activity form a chain of distinct
    activities back to a ready time, so its end is at most the latest ready time plus the sum of
    the longest durations of all activities of the longest mode of every task. A channel busy
    with committed transfers is a ready time of the transfers on it.
    """
    costs = st.costs
    latest_ready = max(costs.channel_ready_s.values(), default=0.0)
    total = 0.0
    for ti, task in enumerate(costs.tasks):
        latest_ready = max(latest_ready, task.release_s)
        worst = 0.0
        for mi in range(len(task.modes)):
            s = 0.0
            for i in st.mode_acts[(ti, mi)]:
                a = st.acts[i]
                if a.kind == "op":
                    opts = st.op_of(a).options
                    s += max(o.duration_s for o in opts)
                    latest_ready = max(latest_ready, max(o.ready_s for o in opts))
                else:
                    s += max(rt.duration_s for rt in a.routes)
            worst = max(worst, s)
        total += worst
    return latest_ready + total


def apply_completion_bounds(
    st: Structure, win: Windows, latest: list[float], reward_floor: list[float] | None = None
) -> None:
    """Set each task's latest completion and prune options and modes that cannot meet it.

    ``latest[t]``: absolute time no kept solution completes task t after. ``reward_floor[t]``
    (reward objective): every kept solution gives task t a reward of at least this; an option
    (or mode) whose best contention-free reward is below the floor is pruned, and a task whose
    quality is at most q completes by ``release + (accuracy_weight * q - floor) / latency_weight``.
    An option is also pruned when its least latency misses ``latest``.
    """
    costs = st.costs
    slope = reward_per_latency_s(costs)
    win.latest_completion = list(latest)

    def below(value: float, limit: float) -> bool:
        return value < limit - PRUNE_TOL * max(1.0, abs(limit))

    for ti, task in enumerate(costs.tasks):
        loosest = -math.inf
        for mi, mode in enumerate(task.modes):
            ok_mode = True
            q_best = 0.0
            for k in range(len(mode.ops)):
                i = st.op_act[(ti, mi, k)]
                for oi in range(len(mode.ops[k].options)):
                    lat = win.opt_latency_lb[i][oi]
                    if below(latest[ti] - task.release_s, lat):
                        win.allowed[i][oi] = False
                    if reward_floor is not None and below(win.opt_reward_ub[i][oi], reward_floor[ti]):
                        win.allowed[i][oi] = False
                if not any(win.allowed[i]):
                    ok_mode = False
                qk = (
                    max(q for q, ok in zip(win.opt_quality_ub[i], win.allowed[i], strict=True) if ok)
                    if any(win.allowed[i])
                    else 0.0
                )
                q_best = qk if k == 0 else min(q_best, qk)
            if reward_floor is not None and below(win.mode_reward_ub[(ti, mi)], reward_floor[ti]):
                ok_mode = False
            if below(latest[ti] - task.release_s, win.min_latency[(ti, mi)]):
                ok_mode = False
            win.mode_allowed[(ti, mi)] = ok_mode
            if ok_mode:
                lim = latest[ti]
                if reward_floor is not None:
                    lim = min(
                        lim,
                        task.release_s
                        # task_reward(q_best, L) >= floor solved for the latency L
                        + (costs.task_reward(q_best, 0.0) - reward_floor[ti]) / slope,
                    )
                loosest = max(loosest, lim)
        win.latest_completion[ti] = loosest if loosest > -math.inf else latest[ti]


def task_reward_floors(st: Structure, win: Windows, incumbent: float) -> list[float]:
    """Least reward each task has in any solution with total reward >= ``incumbent``.

    Every task's reward is at most its contention-free best ``UB_t`` (``mode_reward_ub``), so a
    solution worth at least ``incumbent`` gives task t at least ``incumbent - sum_{t' != t} UB_t'``.
    """
    ub = [
        max(win.mode_reward_ub[(ti, mi)] for mi in range(len(task.modes)))
        for ti, task in enumerate(st.costs.tasks)
    ]
    total = sum(ub)
    return [incumbent - (total - ub[ti]) for ti in range(len(st.costs.tasks))]
