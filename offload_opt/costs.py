"""Cost tables: what solvers and the evaluator see instead of raw physics.

For every task the tables list its modes (``whole``, ``decompose`` or, in the
explicit-cost form, ``dag``); for every op in a mode its options (node, model,
candidate unary resources, compute duration, success probability, earliest
start); and for every data flow its transfer cost between any two nodes.
Everything here is derived from the instance through the physics layer; a
second copy of a formula anywhere else is a bug (docs/model.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from offload_opt.instance import AP, Instance, SpeedEntry, Task, User
from offload_opt.physics.llm import (
    _compute_time_unchecked_s,
    _gpu_op_time_unchecked_s,
    compute_time_s,
    decode_token_time_s,
    gpu_op_time_s,
)
from offload_opt.physics.quality import (
    _difficulty_to_b_unchecked,
    _p_correct_of_b,
    _work_of_difficulty_unchecked,
    _work_share_quality_unchecked,
    compose_decomposed,
    p_correct,
    work_of_difficulty,
    work_share_quality,
)
from offload_opt.physics.wifi import _airtime_unchecked_s, airtime_s, background_factor


class _memo:
    """``functools.cached_property`` without the lock Python 3.11's takes on every first access.

    The tables' look-ups (a mode's op index, a task's mode index, ...) are pure functions of frozen
    fields, computed on first use; the simulator builds thousands of tables, so the lock was a
    measurable share of its time. Two threads racing on a first access compute the same value.
    """

    def __init__(self, func: Any) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.func(obj)  # the instance's value shadows this descriptor
        return value


_cached = cached_property if TYPE_CHECKING else _memo  # typed as a cached_property


SOURCE = -1  # flow endpoint: the owner's device, data available at release
SINK = -2  # flow endpoint: the owner's device, where the final answer must arrive


def user_node(user_id: str) -> str:
    return f"user:{user_id}"


def ap_node(ap_id: str) -> str:
    return f"ap:{ap_id}"


def device_resource(user_id: str) -> str:
    return f"dev:{user_id}"


def server_resource(ap_id: str, group: str, slot: int) -> str:
    """Slot ``slot`` of a slot group: a GPU id (shared by its models) or a v1 server's model id."""
    return f"srv:{ap_id}:{group}:{slot}"


def channel_resource(channel: int) -> str:
    return f"chan:{channel}"


@dataclass(frozen=True)
class Option:
    """One place an op can run: a (node, model) with its candidate unary resources."""

    node: str
    model: str | None
    resources: tuple[str, ...]  # identical slots of a model server, or the single device/processor
    duration_s: float
    quality: float
    ready_s: float = 0.0  # earliest start on any of ``resources`` (queue backlog)


@dataclass(frozen=True)
class Op:
    name: str
    options: tuple[Option, ...]
    is_aggregation: bool = False


@dataclass(frozen=True)
class Flow:
    """Data from ``src`` to ``dst`` (op indices within the mode, or SOURCE / SINK)."""

    src: int
    dst: int
    size: float  # bytes (wireless) or the explicit cost paid across processors


@dataclass(frozen=True)
class Mode:
    name: str
    ops: tuple[Op, ...]
    flows: tuple[Flow, ...]

    @_cached
    def op_index(self) -> dict[str, int]:
        return {op.name: i for i, op in enumerate(self.ops)}

    @_cached
    def in_flows(self) -> tuple[tuple[int, ...], ...]:
        """For each op, the indices of flows ending at it."""
        out: list[list[int]] = [[] for _ in self.ops]
        for k, f in enumerate(self.flows):
            if f.dst >= 0:
                out[f.dst].append(k)
        return tuple(tuple(x) for x in out)

    @_cached
    def topo_order(self) -> tuple[int, ...]:
        """Op indices with every flow source before its destination."""
        indeg = [0] * len(self.ops)
        for f in self.flows:
            if f.src >= 0 and f.dst >= 0:
                indeg[f.dst] += 1
        ready = [i for i, d in enumerate(indeg) if d == 0]
        out: list[int] = []
        while ready:
            i = ready.pop(0)
            out.append(i)
            for f in self.flows:
                if f.src == i and f.dst >= 0:
                    indeg[f.dst] -= 1
                    if indeg[f.dst] == 0:
                        ready.append(f.dst)
        return tuple(out)


@dataclass(frozen=True)
class TaskCosts:
    id: str
    owner: str | None  # the owner's device node, None in the explicit form
    release_s: float
    deadline_s: float | None
    modes: tuple[Mode, ...]

    @_cached
    def mode_index(self) -> dict[str, int]:
        return {m.name: i for i, m in enumerate(self.modes)}


@dataclass(frozen=True)
class Transfer:
    """Cost of one flow between two nodes: duration, the channel it occupies (None: none) and the
    earliest start on that channel (``Channel.busy_until_s`` in the tables' frame; 0: free)."""

    duration_s: float
    channel: str | None
    ready_s: float = 0.0


NO_TRANSFER = Transfer(0.0, None)


@dataclass(frozen=True)
class _Site:
    """A (node, model) an op of one user can run on, before the op's own duration and quality."""

    node: str
    model: str
    resources: tuple[str, ...]
    ready_s: float
    speed: SpeedEntry
    decode_token_s: float | None = None  # per-stream token time on a shared GPU; None: batch-1 rate


class CostTables:
    """Per-task modes, ops, options and flows, plus transfer costs, for one instance.

    ``actual=True`` builds the tables from the ``actual`` values beside the
    planner's predictions (where given), to judge decisions made on predictions.

    Times here (``release_s``, ``ready_s``) and in every schedule derived from
    them are seconds after ``time_origin_s``: the earliest release of a wireless
    instance, 0 for the explicit form (whose makespan is absolute). Rewards
    depend only on differences, so the frame changes no objective, and a
    Unix-time release (1.7e9 s) then costs no precision (docs/model.md).
    """

    def __init__(self, instance: Instance, actual: bool = False, time_origin_s: float | None = None):
        """``time_origin_s``: the frame's zero; None means the earliest release (0 for the explicit form).
        A caller that adds activities in its own absolute frame (the simulator's holds) passes 0."""
        self.instance = instance
        self.actual = actual
        self.objective = instance.objective
        self._sites_of: dict[str, tuple[_Site, ...]] = {}
        self._server_slots: dict[tuple[str, str], tuple[str, ...]] = {}
        self._paths: dict[tuple[str, str], tuple] = {}  # transfer's per node pair look-ups (pure cache)
        self._work_checked = False  # the work levels went through the checked physics (_decomposed_rating)
        # None: every mode of a task; a mode's name: that mode only (the simulator's execution tables,
        # which time one decision: its mode's ops and flows come out as in the full tables)
        self._only_mode: str | None = None
        if instance.explicit is not None:
            self.time_origin_s = 0.0
            self.tasks = tuple(self._explicit_task(j) for j in instance.explicit.jobs)
        else:
            earliest = min(t.release_s for t in instance.tasks)
            if time_origin_s is not None and not (math.isfinite(time_origin_s) and time_origin_s <= earliest):
                raise ValueError(
                    f"time_origin_s: must be finite and at most the earliest release, got {time_origin_s!r}"
                )
            self.time_origin_s = earliest if time_origin_s is None else float(time_origin_s)
            self.tasks = tuple(self._wireless_task(t) for t in instance.tasks)

    # -- transfer costs --

    def transfer(self, flow: Flow, src_node: str, dst_node: str) -> Transfer:
        """What moving ``flow`` from ``src_node`` to ``dst_node`` costs."""
        if src_node == dst_node:
            return NO_TRANSFER
        if self.instance.explicit is not None:
            return Transfer(flow.size, None)
        path = self._paths.get((src_node, dst_node))
        if path is None:
            path = self._paths[(src_node, dst_node)] = self._path(src_node, dst_node)
        bh, phy_rate_mbps, mac_efficiency, overhead_s, background, res, ready_s = (
            path  # background: the factor 1 / (1 - rho)
        )
        if bh is not None:
            return Transfer(bh.latency_s + 8.0 * flow.size / (bh.bandwidth_mbps * 1e6), None)
        if flow.size >= 0:  # the link's inputs were checked once in ``_path``
            dur = _airtime_unchecked_s(flow.size, phy_rate_mbps, mac_efficiency, overhead_s, background)
        else:
            dur = airtime_s(flow.size, phy_rate_mbps, mac_efficiency, overhead_s, 0.0)  # raises on the size
        return Transfer(dur, res, ready_s)

    def _path(self, src_node: str, dst_node: str) -> tuple:
        """What a transfer between two distinct wireless-form nodes depends on besides the flow's size,
        looked up once per pair (``transfer``'s cache): the backhaul (AP-AP), else the link's PHY rate,
        the channel's MAC efficiency, overhead and background load, its resource and ready time."""
        src_kind, src_id = src_node.split(":", 1)
        dst_kind, dst_id = dst_node.split(":", 1)
        if src_kind == "ap" and dst_kind == "ap":
            return (self.instance.backhaul_between(src_id, dst_id), None, None, None, None, None, None)
        if src_kind == "user" and dst_kind == "ap":
            user, ap = src_id, dst_id
        elif src_kind == "ap" and dst_kind == "user":
            user, ap = dst_id, src_id
        else:
            raise ValueError(f"no transfer path from {src_node} to {dst_node}")
        link = self.instance.links_of_user[user].get(ap)
        if link is None:
            raise ValueError(f"user {user!r} is out of range of ap {ap!r}")
        channel = self.instance.ap_by_id[ap].channel
        chan = self.instance.channel_by_id[channel]
        physics = self.instance.physics
        assert physics is not None
        res = channel_resource(channel)
        # validate the link once (airtime_s's checks, on a zero-byte transfer); transfers then take the fast path
        airtime_s(
            0.0,
            link.phy_rate_mbps,
            chan.mac_efficiency,
            physics.airtime_overhead_s,
            chan.background_utilisation,
        )
        return (
            None,
            link.phy_rate_mbps,
            chan.mac_efficiency,
            physics.airtime_overhead_s,
            background_factor(chan.background_utilisation),
            res,
            self.channel_ready_s.get(res, 0.0),
        )

    def endpoint_node(self, task: TaskCosts, nodes: list[str] | tuple[str, ...], end: int) -> str:
        """Node of a flow end: the owner for SOURCE/SINK, else the chosen op's node."""
        if end < 0:
            assert task.owner is not None
            return task.owner
        return nodes[end]

    # -- objective pieces (the one place the composition and reward live) --

    def task_quality(self, mode: Mode, options: list[Option] | tuple[Option, ...]) -> float:
        """Success probability of a task done in ``mode``: the product of its ops' qualities
        (physics.quality.compose_decomposed); the composition rule lives in each option's quality."""
        qs = [o.quality for o in options]
        for k, op in enumerate(mode.ops):
            if op.is_aggregation:
                return compose_decomposed(qs[k], qs[:k] + qs[k + 1 :])
        return compose_decomposed(1.0, qs)  # a whole task (one op) or an explicit DAG (all must succeed)

    def task_reward(self, quality: float, latency_s: float) -> float:
        """The one definition of a task's reward: ``accuracy_weight * q - latency_weight_per_s * latency``."""
        obj = self.objective
        return obj.accuracy_weight * quality - obj.latency_weight_per_s * latency_s

    # -- building --

    def _value(self, predicted, actual, field: str):
        if self.actual and actual is not None and getattr(actual, field) is not None:
            return getattr(actual, field)
        return predicted

    def _sites(self, user_id: str) -> tuple[_Site, ...]:
        """Where an op of ``user_id`` can run, computed once per user (not once per op)."""
        sites = self._sites_of.get(user_id)
        if sites is not None:
            return sites
        inst = self.instance
        user: User = inst.user_by_id[user_id]
        out = [
            _Site(user_node(user.id), m, (device_resource(user.id),), 0.0, inst.speed_of[(user.hardware, m)])
            for m in user.local_models
        ]
        for ap_id in inst.links_of_user[user.id]:
            ap: AP = inst.ap_by_id[ap_id]
            group_of_model = ap.group_of_model
            for s in ap.servers:
                group = group_of_model[s.model]
                res = self._server_slots.get((ap.id, group.id))
                if res is None:
                    res = tuple(server_resource(ap.id, group.id, k) for k in range(group.slots))
                    self._server_slots[(ap.id, group.id)] = res
                # the backlog is an absolute time; before the origin it delays nothing
                ready_s = max(0.0, group.queue_backlog_s - self.time_origin_s)
                speed = inst.speed_of[(ap.hardware, s.model)]
                token_s = None
                if (
                    s.gpu is not None
                ):  # every op on a GPU is timed at its full batch (docs/model.md "Edge serving")
                    gpu = ap.gpu_by_id[s.gpu]
                    others = tuple(
                        inst.speed_of[(ap.hardware, m)].weights_gb for m in group.models if m != s.model
                    )
                    token_s = decode_token_time_s(
                        speed.decode_tps, gpu.batch_slope, gpu.slots, others, gpu.mem_bandwidth_gbps
                    )
                out.append(_Site(ap_node(ap.id), s.model, res, ready_s, speed, token_s))
        sites = self._sites_of[user_id] = tuple(out)
        return sites

    def _options(
        self,
        task: Task,
        difficulty: float,
        in_tokens: float,
        out_tokens: float,
        work_share: float | None = None,
    ) -> tuple[Option, ...]:
        """Options of one op. ``difficulty`` is the MATH level its quality is rated at; ``work_share``
        (rule ``work-share`` only) the share of that task's work the op carries (physics.quality)."""
        inst = self.instance
        physics = inst.physics
        assert physics is not None
        # Per op, the first site and the first model go through the checked physics, which raise on
        # a bad token count, difficulty, work share or physics constant (the same for every site and
        # model of the op); the other sites and models differ only in speeds (checked by SpeedEntry),
        # per-token decode times (from the checked decode_token_time_s) and abilities (ModelInfo), so
        # they take the unchecked twins of the same formulas (tests/test_costs_fastpaths.py).
        a, b_levels, uplift = physics.quality_a, physics.quality_b_levels, physics.decomposition_uplift
        model_by_id = inst.model_by_id
        quality: dict[str, float] = {}
        opts: list[Option] = []
        checked = False
        b = math.nan  # the op's IRT difficulty, set when its first model is rated
        for site in self._sites(task.user):
            sp = site.speed
            if not checked:
                if site.decode_token_s is None:
                    dur = compute_time_s(in_tokens, out_tokens, sp.prefill_tps, sp.decode_tps, sp.setup_s)
                else:
                    dur = gpu_op_time_s(
                        in_tokens, out_tokens, sp.prefill_tps, site.decode_token_s, sp.setup_s
                    )
            elif site.decode_token_s is None:
                dur = _compute_time_unchecked_s(
                    in_tokens, out_tokens, sp.prefill_tps, sp.decode_tps, sp.setup_s
                )
            else:
                dur = _gpu_op_time_unchecked_s(
                    in_tokens, out_tokens, sp.prefill_tps, site.decode_token_s, sp.setup_s
                )
            q = quality.get(site.model)
            if q is None:
                theta = model_by_id[site.model].theta
                if quality:
                    q = _p_correct_of_b(theta, b, a)
                    if work_share is not None:
                        q = _work_share_quality_unchecked(q, work_share, uplift)
                else:
                    q = p_correct(theta, difficulty, a, b_levels)
                    b = _difficulty_to_b_unchecked(difficulty, b_levels)  # checked by p_correct just now
                    if work_share is not None:
                        q = work_share_quality(q, work_share, uplift)
                quality[site.model] = q
            checked = True
            opts.append(Option(site.node, site.model, site.resources, dur, q, site.ready_s))
        return tuple(opts)

    def _decomposed_rating(self, task_difficulty: float, op_difficulty: float) -> tuple[float, float | None]:
        """(difficulty to rate a decomposed op's quality at, its work share) under the instance's rule.

        ``product``: the op is an item of its own difficulty, no share. ``work-share``: the op is
        rated at the whole task's level and carries ``W(d_op) / W(L)`` of its work.
        """
        physics = self.instance.physics
        assert physics is not None
        if physics.composition == "product":
            return op_difficulty, None
        assert physics.work_levels is not None  # PhysicsSettings requires them for this rule
        wl = physics.work_levels
        # the work levels are the instance's constants: checked by the first rating of these tables;
        # each difficulty's range is checked here on every rating (the checked twin raises on a bad one)
        if self._work_checked and 0.0 < op_difficulty <= len(wl) and 0.0 < task_difficulty <= len(wl):
            share = _work_of_difficulty_unchecked(op_difficulty, wl) / _work_of_difficulty_unchecked(
                task_difficulty, wl
            )
        else:
            share = work_of_difficulty(op_difficulty, wl) / work_of_difficulty(task_difficulty, wl)
            self._work_checked = True
        return task_difficulty, share

    def _wireless_task(self, task: Task) -> TaskCosts:
        physics = self.instance.physics
        assert physics is not None
        bpt, over = physics.bytes_per_token, physics.request_overhead_bytes

        def text_bytes(tokens: float) -> float:
            return tokens * bpt + over

        w = task.whole
        w_out = self._value(w.output_tokens, w.actual, "output_tokens")
        w_diff = self._value(w.difficulty, w.actual, "difficulty")
        modes = []
        if self._only_mode in (None, "whole"):
            whole = Mode(
                "whole",
                (Op("whole", self._options(task, w_diff, task.prompt_tokens, w_out)),),
                (
                    Flow(SOURCE, 0, text_bytes(task.prompt_tokens) + task.payload_bytes),
                    Flow(0, SINK, text_bytes(w_out)),
                ),
            )
            modes.append(whole)
        dec = task.decomposition
        if dec is not None and self._only_mode in (None, "decompose"):
            index = {s.id: i for i, s in enumerate(dec.subtasks)}
            outs = [self._value(s.output_tokens, s.actual, "output_tokens") for s in dec.subtasks]
            ops: list[Op] = []
            flows: list[Flow] = []
            for i, s in enumerate(dec.subtasks):
                parents = [index[p] for p in dict.fromkeys(s.parents)]
                in_tokens = s.input_tokens + sum(outs[p] for p in parents)
                diff, share = self._decomposed_rating(
                    w_diff, self._value(s.difficulty, s.actual, "difficulty")
                )
                ops.append(Op(s.id, self._options(task, diff, in_tokens, outs[i], share)))
                flows.append(
                    Flow(
                        SOURCE, i, text_bytes(s.input_tokens) + (task.payload_bytes if s.uses_payload else 0)
                    )
                )
                flows.extend(Flow(p, i, text_bytes(outs[p])) for p in parents)
            agg = dec.aggregation
            a = len(ops)
            a_out = self._value(agg.output_tokens, agg.actual, "output_tokens")
            a_diff, a_share = self._decomposed_rating(
                w_diff, self._value(agg.difficulty, agg.actual, "difficulty")
            )
            ops.append(
                Op("agg", self._options(task, a_diff, agg.input_tokens + sum(outs), a_out, a_share), True)
            )
            flows.append(Flow(SOURCE, a, text_bytes(agg.input_tokens)))
            flows.extend(Flow(i, a, text_bytes(outs[i])) for i in range(len(dec.subtasks)))
            flows.append(Flow(a, SINK, text_bytes(a_out)))
            modes.append(Mode("decompose", tuple(ops), tuple(flows)))
        release_s = task.release_s - self.time_origin_s  # one rounding at most, then all sums stay small
        return TaskCosts(task.id, user_node(task.user), release_s, task.deadline_s, tuple(modes))

    def _explicit_task(self, job) -> TaskCosts:
        ex = self.instance.explicit
        assert ex is not None
        ops = []
        for op in job.ops:
            opts = []
            for k, proc in enumerate(ex.processors):
                d = op.durations[k]
                if d is None:
                    continue
                q = op.quality[k] if op.quality is not None else 1.0
                opts.append(Option(f"proc:{proc}", None, (f"proc:{proc}",), d, q, 0.0))
            ops.append(Op(op.id, tuple(opts)))
        index = {op.id: i for i, op in enumerate(job.ops)}
        flows = tuple(Flow(index[e.src], index[e.dst], e.cost) for e in job.edges)
        return TaskCosts(job.id, None, job.release_s, None, (Mode("dag", tuple(ops), flows),))

    @_cached
    def task_index(self) -> dict[str, int]:
        return {t.id: i for i, t in enumerate(self.tasks)}

    @_cached
    def channel_ready_s(self) -> dict[str, float]:
        """Channel resource -> earliest start of any transfer on it, in the tables' frame.

        ``Channel.busy_until_s`` is absolute; before the frame's origin it delays nothing. Only
        channels that are busy past the origin are listed (the rest are free from the start).
        """
        if self.instance.explicit is not None:
            return {}
        out: dict[str, float] = {}
        for c in self.instance.channels:
            ready = c.busy_until_s - self.time_origin_s
            if ready > 0:
                out[channel_resource(c.id)] = ready
        return out

    @_cached
    def resources(self) -> tuple[str, ...]:
        """Every unary resource any option or transfer may use."""
        seen: dict[str, None] = {}
        for t in self.tasks:
            for m in t.modes:
                for op in m.ops:
                    for o in op.options:
                        for r in o.resources:
                            seen[r] = None
        for c in self.instance.channels:
            seen[channel_resource(c.id)] = None
        return tuple(seen)


def build_costs(instance: Instance, actual: bool = False) -> CostTables:
    """Cost tables of ``instance`` under predicted (default) or actual parameters."""
    return CostTables(instance, actual=actual)
