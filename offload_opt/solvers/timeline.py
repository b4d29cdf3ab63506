"""The scheduling core every heuristic shares: per-resource timelines and an insertion-based list scheduler.

A heuristic decides, op by op in a priority order, the option (node, model)
and slot of each op; this module turns those decisions into start times.
Placing an op also places the flows it needs: its incoming flows (from the
owner's device or from its parent ops, already placed) just before it, and its
flows to the owner's device (the final answer) just after it.

Scheduling is **insertion-based** (as in HEFT): an activity takes the earliest
idle gap on its resource that starts no earlier than its own ready time
(release, queue backlog, end of its incoming data) and is long enough; it is
never appended behind work that leaves such a gap. Each activity therefore
starts at ``max(ready time, end of its predecessor on the resource)``, and
placing a later activity into a gap never moves one already placed. That is
exactly the evaluator's semi-active rule, so the start times computed here are
the evaluator's start times for the resulting sequences, and a heuristic's
claimed objective equals the evaluator's (not approximately: the same float
operations). ``Engine.solution()`` builds the ``Solution`` with
``make_solution`` and ``Engine.objective()`` gives the claim.

Placements are undone in LIFO order only (``Engine.unplace_op``): a heuristic
tries an option tentatively, measures it, and takes it back; the local search
re-schedules a suffix of the priority order.

The reward of a task always comes from ``costs.task_quality`` and
``costs.task_reward``; transfer durations always from ``costs.transfer``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from heapq import heapify, heappop, heapreplace
from operator import attrgetter

from offload_opt.costs import SOURCE, CostTables, Mode, Transfer
from offload_opt.solution import Assignment, Solution, flow_key, make_solution, op_key

Unit = tuple[int, int]  # (task index, op index within the task's current mode): one step of a priority order
_quality = attrgetter("quality")  # an option's quality (the key of ``max`` over options)
RANK_DIGITS = 9  # upward ranks are compared after rounding, so that mathematically equal ranks tie


class Timelines:
    """Busy intervals of every unary resource, sorted by start; insertion-based gap search.

    Intervals on one resource never overlap, so their starts and ends are both
    sorted. ``earliest`` returns the start and the list position of the first
    gap that fits; ``insert`` must be given that position (it also orders
    zero-length activities exactly as the evaluator will), ``pop`` undoes an
    ``insert`` in LIFO order.

    ``floor_s``: resource -> time before which nothing starts on it (a channel busy with
    committed transfers, ``CostTables.channel_ready_s``): every ready time on that resource
    is raised to it, as the evaluator raises the ready time of a transfer on the channel.
    """

    __slots__ = ("_floor", "_lines")

    def __init__(self, floor_s: Mapping[str, float] | None = None) -> None:
        self._lines: dict[str, tuple[list[float], list[float], list[str]]] = {}
        self._floor: dict[str, float] = dict(floor_s or {})

    def earliest(self, resource: str, ready_s: float, duration_s: float) -> tuple[float, int]:
        """Earliest start >= ``ready_s`` (and >= the resource's floor) of a gap of ``duration_s`` on
        ``resource``, and its list position."""
        if self._floor:  # only channels busy with committed transfers have one
            floor = self._floor.get(resource)
            if floor is not None and ready_s < floor:
                ready_s = floor
        line = self._lines.get(resource)
        if line is None:
            return ready_s, 0
        starts, ends, _ = line
        if not ends or ready_s >= ends[-1]:  # after everything placed (the common case): no gap to search
            return ready_s, len(ends)
        i = bisect_right(ends, ready_s)
        t = ready_s
        n = len(starts)
        while i < n:
            if t + duration_s <= starts[i]:
                return t, i
            e = ends[i]
            if e > t:
                t = e
            i += 1
        return t, n

    def earliest_of(self, resources: Sequence[str], ready_s: float, duration_s: float) -> float:
        """Earliest start over ``resources`` (identical slots): ``min(earliest(r, ...)[0])``, stopping
        at a slot where the op starts at ``ready_s``. The same values as ``earliest``, in one call
        (the searches ask this for every option they measure)."""
        best = math.inf
        lines = self._lines
        floors = self._floor
        for r in resources:
            t = ready_s
            if floors:
                floor = floors.get(r)
                if floor is not None and t < floor:
                    t = floor
            line = lines.get(r)
            if line is not None:
                ends = line[1]
                if ends and t < ends[-1]:
                    starts = line[0]
                    i = bisect_right(ends, t)
                    n = len(starts)
                    while i < n:
                        if t + duration_s <= starts[i]:
                            break
                        e = ends[i]
                        if e > t:
                            t = e
                        i += 1
            if t < best:
                best = t
                if t <= ready_s:
                    break  # no slot can start earlier
        return best

    def insert(self, resource: str, pos: int, start_s: float, end_s: float, key: str) -> None:
        line = self._lines.get(resource)
        if line is None:
            line = self._lines[resource] = ([], [], [])
        line[0].insert(pos, start_s)
        line[1].insert(pos, end_s)
        line[2].insert(pos, key)

    def pop(self, resource: str, pos: int) -> None:
        line = self._lines[resource]
        del line[0][pos], line[1][pos], line[2][pos]

    def sequences(self) -> dict[str, list[tuple[float, str]]]:
        """(start, key) of every activity, per resource, in timeline order."""
        return {r: list(zip(s, k, strict=True)) for r, (s, _, k) in self._lines.items() if s}


# A placed activity: (key, resource or None, start, end, list position on the resource or -1).
Record = tuple[str, str | None, float, float, int]


class ModeInfo:
    """Per (task, mode) tables the scheduler needs, computed once: keys, flow ends, transfer cache."""

    __slots__ = (
        "mode",
        "op_keys",
        "flow_keys",
        "in_flows",
        "sink_flows",
        "best_option",
        "tr",
        "rank_u",
        "op_order",
        "mean_tr",
        "bound",
        "path_lb",
    )

    def __init__(self, task_id: str, mode: Mode) -> None:
        self.mode = mode
        self.op_keys = [op_key(task_id, op.name) for op in mode.ops]
        self.flow_keys = [flow_key(task_id, mode, f) for f in mode.flows]
        # per op: (flow, source op or SOURCE) of the flows into it, and the flows from it to the owner
        self.in_flows: list[list[tuple[int, int]]] = [[] for _ in mode.ops]
        self.sink_flows: list[list[int]] = [[] for _ in mode.ops]
        for k, f in enumerate(mode.flows):
            if f.dst >= 0:
                self.in_flows[f.dst].append((k, f.src))
            elif f.src >= 0:
                self.sink_flows[f.src].append(k)
        # per op, its option of highest quality (stands in for ops not placed yet in quality estimates)
        self.best_option = [max(op.options, key=_quality) for op in mode.ops]
        self.tr: list[dict[tuple[str, str], Transfer]] = [{} for _ in mode.flows]
        self.rank_u: list[float] | None = None
        self.op_order: list[int] | None = None
        self.mean_tr: dict[int, float] = {}
        self.bound: float | None = None
        self.path_lb = 0.0


class TaskState:
    """The current decisions and placed times of one task."""

    __slots__ = ("mode", "opts", "res", "end", "out_end", "recs", "placed")

    def __init__(self, mode: int, n_ops: int) -> None:
        self.mode = mode
        self.opts = [-1] * n_ops
        self.res: list[str | None] = [None] * n_ops
        self.end = [0.0] * n_ops
        self.out_end = [-math.inf] * n_ops  # latest arrival of this op's flows to the owner (final ops)
        self.recs: list[list[Record]] = [[] for _ in range(n_ops)]
        self.placed = 0


class Engine:
    """Timelines plus per-task decisions: place ops, measure options, build the solution.

    ``score`` of an option is ``"reward"`` (marginal task reward through
    ``costs.task_reward``) or ``"eft"`` (earliest finish, HEFT's rule).
    """

    def __init__(self, costs: CostTables) -> None:
        self.costs = costs
        self.tasks = costs.tasks
        self.tl = Timelines(costs.channel_ready_s)  # channels busy with committed transfers
        self.state: list[TaskState | None] = [None] * len(costs.tasks)  # None: not begun
        self._info: dict[tuple[int, int], ModeInfo] = {}
        self._hop_cache: dict[int, float] = {}
        self._quality_memo: dict[tuple[int, int, tuple[int, ...]], float] = {}  # see task_quality
        self._bound_memo: dict[tuple[int, int, tuple[int, ...]], float] = {}  # see options_bound
        self.makespan_objective = costs.objective.kind == "makespan"
        self.explicit = costs.instance.is_explicit  # explicit-cost form: no devices, no wireless hops
        obj = costs.objective
        # penalty per second past a deadline, so that searches prefer feasible schedules
        self.deadline_penalty = 1e3 * (1.0 + obj.accuracy_weight + obj.latency_weight_per_s)

    # -- static tables --

    def info(self, ti: int, m: int) -> ModeInfo:
        mi = self._info.get((ti, m))
        if mi is None:
            task = self.tasks[ti]
            mi = self._info[(ti, m)] = ModeInfo(task.id, task.modes[m])
        return mi

    def transfer(self, mi: ModeInfo, k: int, src: str, dst: str) -> Transfer:
        cache = mi.tr[k]
        tr = cache.get((src, dst))
        if tr is None:
            tr = cache[(src, dst)] = self.costs.transfer(mi.mode.flows[k], src, dst)
        return tr

    def mean_transfer_s(self, ti: int, mi: ModeInfo, k: int) -> float:
        """Mean communication cost of flow ``k`` (HEFT's c-bar), used for priorities only.

        Explicit form: the mean over every pair of distinct processors of its
        two ops (the edge weight when bandwidths are equal, as in Topcuoglu et
        al.). Wireless form: one hop between the owner's device and an AP, the
        cost that matters (AP-AP backhaul is small): the mean over the AP nodes
        of the task's reference flow (its first flow from the owner, usually
        the whole task's input), scaled by size. Never a schedule time, so the
        scaling costs nothing in exactness and saves ten transfer look-ups per flow.
        """
        cache = mi.mean_tr
        if k in cache:
            return cache[k]
        f = mi.mode.flows[k]
        if self.explicit:
            ops = mi.mode.ops
            src_nodes = [o.node for o in ops[f.src].options]
            dst_nodes = [o.node for o in ops[f.dst].options]
            vals = [self.transfer(mi, k, a, b).duration_s for a in src_nodes for b in dst_nodes if a != b]
            v = sum(vals) / len(vals) if vals else 0.0
        else:
            v = f.size * self._hop_s_per_byte(ti)
        cache[k] = v
        return v

    def _hop_s_per_byte(self, ti: int) -> float:
        """Mean seconds per byte of one device-AP hop of the task's reference flow (see mean_transfer_s)."""
        v = self._hop_cache.get(ti)
        if v is None:
            task = self.tasks[ti]
            v = 0.0
            for m in range(len(task.modes)):
                mi = self.info(ti, m)
                ref = next((k for k, f in enumerate(mi.mode.flows) if f.src == SOURCE and f.size > 0), None)
                if ref is None:
                    continue
                f = mi.mode.flows[ref]
                # a SOURCE flow exists only in the wireless form, which has an owner
                assert task.owner is not None
                nodes = dict.fromkeys(o.node for o in mi.mode.ops[f.dst].options if o.node != task.owner)
                if nodes:
                    v = (
                        sum(self.transfer(mi, ref, task.owner, n).duration_s for n in nodes)
                        / len(nodes)
                        / f.size
                    )
                    break
            self._hop_cache[ti] = v
        return v

    def upward_ranks(self, ti: int, m: int) -> list[float]:
        """HEFT upward rank of every op: mean duration + max over successors (mean transfer + their rank)."""
        mi = self.info(ti, m)
        if mi.rank_u is None:
            mode = mi.mode
            w = [sum(o.duration_s for o in op.options) / len(op.options) for op in mode.ops]
            rank = [0.0] * len(mode.ops)
            succ: list[list[int]] = [[] for _ in mode.ops]
            for k, f in enumerate(mode.flows):
                if f.src >= 0:
                    succ[f.src].append(k)
            for i in reversed(mode.topo_order):
                tail = 0.0
                for k in succ[i]:
                    f = mode.flows[k]
                    c = self.mean_transfer_s(ti, mi, k)
                    tail = max(tail, c + (rank[f.dst] if f.dst >= 0 else 0.0))
                rank[i] = w[i] + tail
            mi.rank_u = rank
        return mi.rank_u

    def task_rank(self, ti: int, m: int) -> float:
        """Upward rank of the task in mode ``m``: the longest mean path from the release to the answer."""
        mi = self.info(ti, m)
        rank = self.upward_ranks(ti, m)
        best = 0.0
        for i in range(len(mi.mode.ops)):
            for k, src in mi.in_flows[i]:
                if src == SOURCE:
                    best = max(best, self.mean_transfer_s(ti, mi, k) + rank[i])
            if not any(src == SOURCE for _, src in mi.in_flows[i]):
                best = max(best, rank[i])
        return best

    def mode_bound(self, ti: int, m: int) -> float:
        """An upper bound of the task's reward in mode ``m``: best quality of every op, and the longest
        path of the least (backlog + compute) time, with no transfer and no waiting."""
        mi = self.info(ti, m)
        if mi.bound is None:
            mode = mi.mode
            rel = self.tasks[ti].release_s
            lb = [0.0] * len(mode.ops)
            for i in mode.topo_order:
                own = min(max(o.ready_s - rel, 0.0) + o.duration_s for o in mode.ops[i].options)
                lb[i] = own + max((lb[src] for _, src in mi.in_flows[i] if src >= 0), default=0.0)
            q = self.costs.task_quality(mode, mi.best_option)
            mi.path_lb = max(lb)
            mi.bound = self.costs.task_reward(q, mi.path_lb)
        return mi.bound

    def partial_bound(self, ti: int) -> float:
        """An upper bound of the task's reward with some ops placed: their qualities, the others at their
        best, and a latency no shorter than any placed op's end or the mode's no-wait path."""
        st = self.state[ti]
        assert st is not None
        self.mode_bound(ti, st.mode)  # computes the no-wait path
        mi = self.info(ti, st.mode)
        mode = mi.mode
        base = [mode.ops[p].options[j] if j >= 0 else mi.best_option[p] for p, j in enumerate(st.opts)]
        rel = self.tasks[ti].release_s
        lat = max(max(e for e, j in zip(st.end, st.opts, strict=True) if j >= 0) - rel, mi.path_lb)
        return self.costs.task_reward(self.costs.task_quality(mode, base), lat)

    def mode_value_bound(self, ti: int, m: int) -> float:
        """An upper bound of the task's value in mode ``m`` whatever its options and slots: the best
        quality of every op (``task_quality`` rises with each op's), and a latency no shorter than the
        longest path where each op starts at the latest of the release, its option's ready time and
        its parents' earliest ends (no transfer, no queueing). Unlike ``mode_bound``, which adds an
        op's backlog to its parents' path instead of overlapping them and so can exceed what a
        schedule reaches, this one is valid (the early rejection of ``local_search`` needs a valid
        bound; greedy keeps ``mode_bound`` so that its decisions stay as they were). Memoised."""
        key = (ti, m, ())
        memo = self._bound_memo
        v = memo.get(key)
        if v is None:
            mi = self.info(ti, m)
            mode = mi.mode
            rel = self.tasks[ti].release_s
            end = [0.0] * len(mode.ops)
            for i in mode.topo_order:
                after = max((end[src] for _, src in mi.in_flows[i] if src >= 0), default=0.0)
                end[i] = min(max(after, o.ready_s - rel) + o.duration_s for o in mode.ops[i].options)
            q = self.costs.task_quality(mode, mi.best_option)
            v = memo[key] = self.costs.task_reward(q, max(end))
        return v

    def options_bound(self, ti: int, m: int, opts: tuple[int, ...]) -> float:
        """An upper bound of the task's value in mode ``m`` with option ``opts[i]`` for op ``i``,
        wherever it is placed: its exact quality, and the latency of the no-wait path with these
        options (backlog, compute and every transfer's duration, no queueing). ``place_op`` never
        starts anything earlier (a flow ends >= its data's ready time + its duration, an op starts
        >= its option's ready time and its flows' ends), and the reward falls with the latency
        (``latency_weight_per_s >= 0``), so the value, deadline penalty included, is at most this.
        Memoised on (task, mode, options)."""
        key = (ti, m, opts)
        memo = self._bound_memo
        v = memo.get(key)
        if v is None:
            mi = self.info(ti, m)
            mode = mi.mode
            task = self.tasks[ti]
            rel = task.release_s
            ends = [0.0] * len(mode.ops)
            latest = -math.inf
            for i in mode.topo_order:
                opt = mode.ops[i].options[opts[i]]
                ready = rel if rel > opt.ready_s else opt.ready_s
                for k, src in mi.in_flows[i]:
                    if src < 0:
                        assert task.owner is not None  # SOURCE flows: wireless form, which has an owner
                        src_node, data_ready = task.owner, rel
                    else:
                        src_node = mode.ops[src].options[opts[src]].node
                        data_ready = ends[src] if ends[src] > rel else rel
                    e = data_ready + self.transfer(mi, k, src_node, opt.node).duration_s
                    if e > ready:
                        ready = e
                ends[i] = end = ready + opt.duration_s
                if mi.sink_flows[i]:
                    assert task.owner is not None  # SINK flows: wireless form, which has an owner
                    for k in mi.sink_flows[i]:
                        e = end + self.transfer(mi, k, opt.node, task.owner).duration_s
                        if e > latest:
                            latest = e
            if latest == -math.inf:
                latest = max(ends)
            q = self.costs.task_quality(mode, [mode.ops[i].options[j] for i, j in enumerate(opts)])
            v = memo[key] = self.costs.task_reward(q, latest - rel)
        return v

    def op_order(self, ti: int, m: int) -> list[int]:
        """Ops of the mode by decreasing upward rank (ties: topological position): a topological order."""
        mi = self.info(ti, m)
        if mi.op_order is None:
            rank = self.upward_ranks(ti, m)
            topo_pos = {i: p for p, i in enumerate(mi.mode.topo_order)}
            mi.op_order = sorted(range(len(rank)), key=lambda i: (-round(rank[i], RANK_DIGITS), topo_pos[i]))
        return mi.op_order

    # -- placing --

    def placed(self, ti: int) -> TaskState:
        """The state of task ti, which ``begin`` has started (an AssertionError otherwise)."""
        st = self.state[ti]
        assert st is not None, f"task {ti} is not begun"
        return st

    def begin(self, ti: int, m: int) -> TaskState:
        """Start (or restart) the decisions of task ``ti`` in mode ``m``; none of its ops may be placed."""
        st = self.state[ti]
        assert st is None or st.placed == 0, "unplace the task's ops first"
        st = self.state[ti] = TaskState(m, len(self.tasks[ti].modes[m].ops))
        return st

    def _put_flow(self, key: str, tr: Transfer, ready_s: float, recs: list[Record]) -> float:
        ch = tr.channel
        if ch is None:
            end = ready_s + tr.duration_s
            recs.append((key, None, ready_s, end, -1))
            return end
        tl = self.tl
        line = tl._lines.get(ch)
        if tl._floor and ch in tl._floor:
            t, pos = tl.earliest(ch, ready_s, tr.duration_s)
        elif line is None:  # Timelines.earliest's answers with no gap to search, inlined
            t, pos = ready_s, 0
        elif not line[1] or ready_s >= line[1][-1]:
            t, pos = ready_s, len(line[1])
        else:
            t, pos = tl.earliest(ch, ready_s, tr.duration_s)
        end = t + tr.duration_s
        if line is None:  # Timelines.insert, inlined (hot in the searches)
            line = tl._lines[ch] = ([], [], [])
        line[0].insert(pos, t)
        line[1].insert(pos, end)
        line[2].insert(pos, key)
        recs.append((key, ch, t, end, pos))
        return end

    def place_op(self, ti: int, i: int, j: int, resource: str | None = None) -> float:
        """Place op ``i`` of task ``ti`` on option ``j`` (its incoming and answer flows too); its end.

        The slot is ``resource`` if given, else the option's resource where the
        op starts earliest (first such slot on ties).
        """
        st = self.state[ti]
        assert st is not None
        task = self.tasks[ti]
        mi = self.info(ti, st.mode)
        opt = mi.mode.ops[i].options[j]
        node = opt.node
        rel = task.release_s
        recs: list[Record] = []
        tl = self.tl
        put_flow = self._put_flow
        ready = rel if rel > opt.ready_s else opt.ready_s
        for k, src in mi.in_flows[i]:
            if src < 0:
                # SOURCE flows exist only in the wireless form, which has an owner
                assert task.owner is not None
                src_node, data_ready = task.owner, rel
            else:
                src_node = mi.mode.ops[src].options[st.opts[src]].node
                data_ready = st.end[src] if st.end[src] > rel else rel
            tr = mi.tr[k].get((src_node, node)) or self.transfer(mi, k, src_node, node)
            end = put_flow(mi.flow_keys[k], tr, data_ready, recs)
            if end > ready:
                ready = end
        dur = opt.duration_s
        if resource is None:
            best_t, best_pos, resource = math.inf, 0, opt.resources[0]
            lines, floors = tl._lines, tl._floor
            for r in opt.resources:
                line = lines.get(r)
                if floors and r in floors:
                    t, pos = tl.earliest(r, ready, dur)
                elif line is None:  # Timelines.earliest's answers with no gap to search, inlined
                    t, pos = ready, 0
                elif not line[1] or ready >= line[1][-1]:
                    t, pos = ready, len(line[1])
                else:
                    t, pos = tl.earliest(r, ready, dur)
                if t < best_t:
                    best_t, best_pos, resource = t, pos, r
                    if t <= ready:
                        break  # no slot starts before the ready time: the first such slot is taken anyway
        else:
            if resource not in opt.resources:
                raise ValueError(f"resource: {resource!r} is not a slot of option {node}/{opt.model}")
            best_t, best_pos = tl.earliest(resource, ready, dur)
        end = best_t + dur
        key = mi.op_keys[i]
        line = tl._lines.get(resource)  # Timelines.insert, inlined (hot in the searches)
        if line is None:
            line = tl._lines[resource] = ([], [], [])
        line[0].insert(best_pos, best_t)
        line[1].insert(best_pos, end)
        line[2].insert(best_pos, key)
        recs.append((key, resource, best_t, end, best_pos))
        st.opts[i], st.res[i], st.end[i] = j, resource, end
        out = -math.inf
        owner = task.owner
        for k in mi.sink_flows[i]:
            # SINK flows exist only in the wireless form, which has an owner
            assert owner is not None
            tr = mi.tr[k].get((node, owner)) or self.transfer(mi, k, node, owner)
            e = put_flow(mi.flow_keys[k], tr, end, recs)
            if e > out:
                out = e
        st.out_end[i] = out
        st.recs[i] = recs
        st.placed += 1
        return end

    def unplace_op(self, ti: int, i: int) -> list[Record]:
        """Take op ``i`` of task ``ti`` (and its flows) off the timelines; LIFO order only. Its records."""
        st = self.state[ti]
        assert st is not None
        recs = st.recs[i]
        lines = self.tl._lines
        for _, res, _, _, pos in reversed(recs):
            if res is not None:
                line = lines[res]  # Timelines.pop, inlined: the hottest loop of the searches
                del line[0][pos], line[1][pos], line[2][pos]
        st.recs[i] = []
        st.opts[i], st.res[i], st.out_end[i] = -1, None, -math.inf
        st.placed -= 1
        return recs

    def restore_op(self, ti: int, i: int, j: int, recs: list[Record]) -> None:
        """Put back records taken by ``unplace_op`` (same timeline state as when they were made)."""
        st = self.state[ti]
        assert st is not None
        lines = self.tl._lines
        for key, res, start, end, pos in recs:
            if res is not None:
                line = lines.get(res)  # Timelines.insert, inlined (hot in the searches)
                if line is None:
                    line = lines[res] = ([], [], [])
                line[0].insert(pos, start)
                line[1].insert(pos, end)
                line[2].insert(pos, key)
        mi = self._info[(ti, st.mode)]
        # place_op's records: one per incoming flow, then the op, then one per answer flow
        n_in = len(mi.in_flows[i])
        op_rec = recs[n_in]
        st.opts[i], st.res[i], st.end[i] = j, op_rec[1], op_rec[3]
        st.out_end[i] = max((r[3] for r in recs[n_in + 1 :]), default=-math.inf)
        st.recs[i] = recs
        st.placed += 1

    # -- measuring --

    def qualities_with(self, ti: int, i: int) -> list[float]:
        """Task quality (``costs.task_quality``) for each option of op ``i``, the ops placed keeping
        theirs and the ops not placed yet at their best (memoised on the option's quality)."""
        st = self.state[ti]
        assert st is not None
        mi = self.info(ti, st.mode)
        mode = mi.mode
        base = [mode.ops[p].options[j] if j >= 0 else mi.best_option[p] for p, j in enumerate(st.opts)]
        memo: dict[float, float] = {}
        task_quality = self.costs.task_quality
        out = []
        for opt in mode.ops[i].options:
            v = memo.get(opt.quality)
            if v is None:
                base[i] = opt
                v = memo[opt.quality] = task_quality(mode, base)
            out.append(v)
        return out

    def _node_ready(self, ti: int, mi: ModeInfo, i: int, node: str) -> float:
        """When all of op ``i``'s input can be at ``node``: its incoming flows placed tentatively (so
        flows sharing a channel queue behind each other), measured, and taken back."""
        st = self.state[ti]
        assert st is not None
        task = self.tasks[ti]
        rel = task.release_s
        tl = self.tl
        pushed: list[tuple[str, int]] = []
        ready = rel
        for k, src in mi.in_flows[i]:
            if src < 0:
                # SOURCE flows exist only in the wireless form, which has an owner
                assert task.owner is not None
                src_node, data_ready = task.owner, rel
            else:
                src_node = mi.mode.ops[src].options[st.opts[src]].node
                data_ready = st.end[src] if st.end[src] > rel else rel
            tr = mi.tr[k].get((src_node, node)) or self.transfer(mi, k, src_node, node)
            ch = tr.channel
            if ch is None:
                end = data_ready + tr.duration_s
            else:
                t, pos = tl.earliest(ch, data_ready, tr.duration_s)
                end = t + tr.duration_s
                tl.insert(ch, pos, t, end, "")
                pushed.append((ch, pos))
            if end > ready:
                ready = end
        for ch, pos in reversed(pushed):
            tl.pop(ch, pos)
        return ready

    def choose_option(
        self, ti: int, i: int, score: str = "reward", allowed: Iterable[int] | None = None
    ) -> int:
        """The option of op ``i`` (task ``ti``, its current mode) that scores best against the timelines.

        An option is measured as ``place_op`` would place it: its incoming
        flows (``_node_ready``), the slot where it starts earliest, and for an
        op that produces the answer the answer's flow to the owner. ``"eft"``
        scores the earliest finish (answer arrival for the final op);
        ``"reward"`` scores ``costs.task_reward`` of the task quality with this
        option (``qualities_with``: ops not placed yet at their best) against
        the latency up to that finish. A missed deadline costs
        ``deadline_penalty`` per second. Ties go to the lower option index.

        Options are measured best-first by an upper bound of their score (the
        slot's earliest start if the data were there at once, no transfer);
        measuring stops when no bound can beat the best score found, which
        gives the same choice as measuring everything. Nothing stays placed.
        """
        st = self.state[ti]
        assert st is not None
        task = self.tasks[ti]
        mi = self.info(ti, st.mode)
        op = mi.mode.ops[i]
        options = op.options
        earliest = self.tl.earliest
        earliest_of = self.tl.earliest_of
        rel = task.release_s
        owner = task.owner
        deadline = task.deadline_s
        sinks = mi.sink_flows[i]
        is_reward = score == "reward"
        quality = self.qualities_with(ti, i) if is_reward else None
        task_reward = self.costs.task_reward
        allowed_set = None if allowed is None else set(allowed)
        # data from placed parent ops cannot arrive before they end, wherever this op runs
        data_lb = rel
        for _, src in mi.in_flows[i]:
            if src >= 0 and st.end[src] > data_lb:
                data_lb = st.end[src]
        # best-first over options, by an upper bound refined lazily: first with no wait at all
        # (stage 0), then with the slot's earliest start if the data were there at once (stage 1)
        heap = []
        for j, opt in enumerate(options):
            if allowed_set is not None and j not in allowed_set:
                continue
            r0 = data_lb if data_lb > opt.ready_s else opt.ready_s
            f0 = r0 + opt.duration_s
            ub = task_reward(quality[j], f0 - rel) if quality is not None else -f0
            heap.append((-ub, j, 0, r0, r0))
        heapify(heap)
        node_ready: dict[str, float] = {}
        best_j, best_score = -1, -math.inf
        while heap:
            neg_ub, j, stage, r0, t0 = heap[0]
            if -neg_ub < best_score or (-neg_ub == best_score and j > best_j):
                break  # ordered by bound, then index: nothing left can win
            opt = options[j]
            dur = opt.duration_s
            if stage == 0:
                t0 = earliest_of(opt.resources, r0, dur)
                ub = task_reward(quality[j], t0 + dur - rel) if quality is not None else -(t0 + dur)
                heapreplace(heap, (-ub, j, 1, r0, t0))
                continue
            heappop(heap)
            node = opt.node
            ready_n = node_ready.get(node)
            if ready_n is None:
                ready_n = node_ready[node] = self._node_ready(ti, mi, i, node)
            ready = ready_n if ready_n > opt.ready_s else opt.ready_s
            # the slot's earliest start from r0 <= ready <= t0 is still t0
            start = t0 if ready <= t0 else earliest_of(opt.resources, ready, dur)
            finish = start + dur
            if sinks:
                # SINK flows exist only in the wireless form, which has an owner
                assert owner is not None
                arrival = finish
                if len(sinks) == 1:
                    tr = mi.tr[sinks[0]].get((node, owner)) or self.transfer(mi, sinks[0], node, owner)
                    t = earliest(tr.channel, finish, tr.duration_s)[0] if tr.channel else finish
                    arrival = t + tr.duration_s
                else:  # several answer flows: place them tentatively so they queue behind each other
                    more: list[tuple[str, int]] = []
                    for k in sinks:
                        tr = self.transfer(mi, k, node, owner)
                        if tr.channel is None:
                            e = finish + tr.duration_s
                        else:
                            t, pos = earliest(tr.channel, finish, tr.duration_s)
                            e = t + tr.duration_s
                            self.tl.insert(tr.channel, pos, t, e, "")
                            more.append((tr.channel, pos))
                        arrival = max(arrival, e)
                    for ch, pos in reversed(more):
                        self.tl.pop(ch, pos)
                finish = arrival
            s = task_reward(quality[j], finish - rel) if quality is not None else -finish
            if deadline is not None and finish - rel > deadline:
                s -= self.deadline_penalty * (finish - rel - deadline)
            if s > best_score or (s == best_score and j < best_j):
                best_j, best_score = j, s
        if best_j < 0:
            raise ValueError(f"task {task.id!r} op {op.name!r}: no option to choose from")
        return best_j

    def latency_s(self, ti: int) -> float:
        """Arrival of the answer at the owner minus release (explicit form: end of the last op)."""
        st = self.state[ti]
        assert st is not None
        task = self.tasks[ti]
        out = max(st.out_end)
        if out == -math.inf:
            out = max(st.end)
        return out - task.release_s

    def task_quality(self, ti: int) -> float:
        """``costs.task_quality`` of the task's current mode and options (memoised on them: the
        searches ask it again and again for the same choices)."""
        st = self.state[ti]
        assert st is not None
        key = (ti, st.mode, tuple(st.opts))
        q = self._quality_memo.get(key)
        if q is None:
            mode = self.tasks[ti].modes[st.mode]
            opts = [mode.ops[i].options[j] for i, j in enumerate(st.opts)]
            q = self._quality_memo[key] = self.costs.task_quality(mode, opts)
        return q

    def task_reward(self, ti: int) -> float:
        return self.costs.task_reward(self.task_quality(ti), self.latency_s(ti))

    def task_value(self, ti: int) -> float:
        """The task's reward minus the deadline penalty (maximised by the searches)."""
        lat = self.latency_s(ti)
        v = self.costs.task_reward(self.task_quality(ti), lat)
        d = self.tasks[ti].deadline_s
        if d is not None and lat > d:
            v -= self.deadline_penalty * (lat - d)
        return v

    def task_end_s(self, ti: int) -> float:
        """Latest end of any activity of the task (for the makespan)."""
        st = self.state[ti]
        assert st is not None
        return max(r[3] for recs in st.recs for r in recs)

    def deadlines_met(self) -> bool:
        return all(
            t.deadline_s is None or self.latency_s(ti) <= t.deadline_s for ti, t in enumerate(self.tasks)
        )

    def objective(self) -> float:
        """The objective as the evaluator computes it: summed reward, or makespan (explicit form)."""
        if self.makespan_objective:
            return max(self.task_end_s(ti) for ti in range(len(self.tasks)))
        return sum(self.task_reward(ti) for ti in range(len(self.tasks)))

    # -- output --

    def assignments(self) -> dict[int, Assignment]:
        out = {}
        for ti, st in enumerate(self.state):
            assert st is not None and st.placed == len(st.opts), (
                f"task {self.tasks[ti].id!r} is not fully placed"
            )
            out[ti] = Assignment(st.mode, list(st.opts), [r or "" for r in st.res])
        return out

    def start_times(self) -> dict[str, float]:
        """Start of every activity, ordered by (start, position on its resource) so that
        ``make_solution`` sequences each resource exactly as the timelines hold it."""
        items: list[tuple[float, int, str]] = []
        for st in self.state:
            assert st is not None
            for recs in st.recs:
                for key, res, start, _, _ in recs:
                    if res is None:
                        items.append((start, -1, key))
        for _, line in self.tl.sequences().items():
            for pos, (start, key) in enumerate(line):
                items.append((start, pos, key))
        items.sort(key=lambda x: (x[0], x[1]))
        return {key: start for start, _, key in items}

    def solution(self, solver: str, meta: dict | None = None) -> Solution:
        return make_solution(self.costs, self.assignments(), self.start_times(), solver=solver, meta=meta)


# ---- the public list scheduler ------------------------------------------------------------------


@dataclass
class Scheduled:
    """A list schedule: the solution and the objective the evaluator will compute for it."""

    solution: Solution
    objective: float
    deadlines_met: bool


def default_order(costs: CostTables, assignments: Mapping[int, Assignment]) -> list[Unit]:
    """Tasks by release (then index), each task's ops in a topological order."""
    out: list[Unit] = []
    for ti in sorted(assignments, key=lambda t: (costs.tasks[t].release_s, t)):
        mode = costs.tasks[ti].modes[assignments[ti].mode]
        out.extend((ti, i) for i in mode.topo_order)
    return out


def list_schedule(
    costs: CostTables,
    assignments: Mapping[int, Assignment] | Sequence[Assignment],
    order: Sequence[Unit] | None = None,
    solver: str = "list",
    fixed_slots: bool = True,
) -> Scheduled:
    """Schedule fixed assignments in a priority ``order`` of ops (insertion-based) and build the solution.

    ``order`` lists (task index, op index) with every op after the ops it
    needs data from; default: tasks by release, ops topologically. With
    ``fixed_slots`` each op runs on the resource its assignment names, else on
    the option's slot where it starts earliest.
    """
    amap = dict(assignments.items()) if isinstance(assignments, Mapping) else dict(enumerate(assignments))
    if set(amap) != set(range(len(costs.tasks))):
        raise ValueError("assignments: every task needs exactly one assignment")
    if order is None:
        order = default_order(costs, amap)
    eng = Engine(costs)
    for ti, a in amap.items():
        eng.begin(ti, a.mode)
    seen: set[Unit] = set()
    for ti, i in order:
        a = amap[ti]
        if (ti, i) in seen:
            raise ValueError(f"order: op {(ti, i)} listed twice")
        mi = eng.info(ti, a.mode)
        for _, src in mi.in_flows[i]:
            if src >= 0 and (ti, src) not in seen:
                raise ValueError(f"order: op {(ti, i)} comes before its data source {(ti, src)}")
        seen.add((ti, i))
        eng.place_op(ti, i, a.options[i], a.resources[i] if fixed_slots else None)
    if len(seen) != sum(len(costs.tasks[ti].modes[a.mode].ops) for ti, a in amap.items()):
        raise ValueError("order: some ops are missing")
    return Scheduled(eng.solution(solver), eng.objective(), eng.deadlines_met())
