"""Discrete-event simulation of the network over time (docs/model.md, "Simulation over time").

Tasks arrive over time; at each decision epoch a policy (any registered
solver) decides the pending tasks on a static instance that encodes the
committed state, and the decision is executed on the *actual* values. The
execution is timed by the evaluator itself: the tasks being executed are
evaluated together with zero-length *hold* activities, one per resource, that
stand for the committed state (the resource is busy until the hold's release)
and for the epoch (nothing of a batch starts before its decision is made).
Because every activity of a batch is sequenced after everything committed
before it, the committed activities' times never change, so evaluating only
the batch (plus the holds) gives exactly the times the evaluator would give
to the whole history (tests/test_simulate.py checks this). Of the committed
transfers on a channel only those next to the batch's are evaluated
(``_Holds``: the rest keep their times either way), which keeps the cost of an
arrival independent of how many answers are scheduled ahead.

Epoch rules (``epoch``):

- ``"arrival"``: each task is decided when it arrives (tasks arriving at the
  same instant together) and never revised;
- a number ``P`` (s): every ``P`` s (at 0, P, 2P, ...) the pending tasks are
  decided together, and every op that has not started yet is re-planned with
  them (re-planning is per op: an op is started once its compute or one of
  its input transfers on a channel has started; a task with a started op
  keeps its mode and its started ops, which enter the planner's cost tables
  as what is left of them, ``_PlanCosts``);
- ``"task:P"``: the same epochs, re-planning per task (a task none of whose
  activities has started is withdrawn and decided again; one with a started
  activity keeps its whole decision);
- ``"batch:P"``: periodic batches every ``P`` s without revision.

What the policy sees of the committed state: the release of every pending
task is the epoch (time is shifted so that the epoch is 0; the time already
waited is a constant that no decision can change), and each slot group's
(a GPU's, or a version-1 model server's) ``queue_backlog_s`` is the time until
its earliest slot is free (its slots are then used in order of their free time). A busy device is passed as the
earliest start (``Option.ready_s``) of the local options on it, which is
exact since a device is one resource. A channel enters with ``busy_until_s``
(``_channel_free_s``): the first instant at or after the epoch at which it
is idle, i.e. the end of the run of committed transfers that covers the
epoch back to back. The execution fits a new transfer into the first gap
that does not delay a committed one, so no transfer of the batch starts
before that instant (a lower bound that is never wrong), and one that fits
before the next committed transfer starts exactly where the policy expects.
Committed transfers after an idle gap are not shown: one number cannot
describe gaps, and the end of the last committed transfer (often a committed
answer seconds ahead) would make the policy expect a wait that the execution,
which uses the gap, does not impose.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from offload_opt._serde import InputError
from offload_opt.costs import (
    CostTables,
    Flow,
    Mode,
    Op,
    Option,
    TaskCosts,
    Transfer,
    _Site,
    channel_resource,
    device_resource,
    server_resource,
    user_node,
)
from offload_opt.evaluator import ActivityTime, Evaluation, TaskMetrics, evaluate
from offload_opt.generator import SCENARIOS, Scenario, generate, generate_tasks
from offload_opt.instance import AP, Instance, Task
from offload_opt.sim.arrivals import (
    Arrival,
    TraceRow,
    arrivals_from,
    check_positive_number,
    poisson_trace,
    read_trace,
    templates_from,
    templates_of,
)
from offload_opt.solution import Placement, Sequence, Solution, TaskDecision, flow_key
from offload_opt.solvers.base import get_solver, solve

HOLD_OP = "hold"
CHANNEL_PREFIX = "chan:"
PIN_PREFIX = "pin:"  # private resource of a started op in the planner's tables (per-op revision)
ROW_COLUMNS = [
    "task",
    "user",
    "arrival_s",
    "epoch_s",
    "decided_s",
    "start_s",
    "finish_s",
    "mode",
    "placement",
    "options",
    "plans",
    "predicted_latency_s",
    "latency_s",
    "queue_s",
    "airtime_s",
    "backhaul_s",
    "compute_s",
    "aggregation_s",
    "predicted_quality",
    "quality",
    "success",
    "reward",
    "deadline_met",
]


@dataclass(frozen=True)
class EpochRule:
    """When decisions are made: on arrival, or every ``period_s`` with or without revision.

    ``revise``: unstarted work is re-planned at each epoch; ``per_task``: the unit of that
    revision is the task (only tasks with nothing started), else the op (every op not started).
    """

    kind: str  # "arrival" or "periodic"
    period_s: float = 0.0
    revise: bool = False
    per_task: bool = False

    @classmethod
    def parse(cls, text: str | float) -> EpochRule:
        """``"arrival"``, a period in s (re-plan per op), ``"task:P"`` (re-plan per task) or
        ``"batch:P"`` (periodic, no revision)."""
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            return cls("periodic", check_positive_number("epoch", text), True)
        s = str(text).strip()
        if s == "arrival":
            return cls("arrival")
        revise, per_task = True, False
        if s.startswith("batch:"):
            s, revise = s.removeprefix("batch:"), False
        elif s.startswith("task:"):
            s, per_task = s.removeprefix("task:"), True
        try:
            period = float(s)
        except ValueError:
            raise InputError(
                f"epoch: expected 'arrival', a period in s (e.g. 2.0), 'task:<s>' or 'batch:<s>', got {text!r}"
            ) from None
        return cls("periodic", check_positive_number("epoch", period), revise, per_task)

    def __str__(self) -> str:
        if self.kind == "arrival":
            return "arrival"
        if not self.revise:
            return f"batch:{self.period_s:g}"
        return f"task:{self.period_s:g}" if self.per_task else f"{self.period_s:g}"


@dataclass
class SimResult:
    """One simulated run: a row per task, every executed activity, and the summary."""

    rows: pd.DataFrame
    activities: pd.DataFrame
    summary: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    instance: Instance | None = None  # every simulated task, released at its arrival time
    solution: Solution | None = None  # every executed decision; each resource's activities in executed order
    # one row per re-plan of a decided task (periodic epochs with revision), REVISION_COLUMNS
    revisions: pd.DataFrame | None = None


REVISION_COLUMNS = ["task", "epoch_s", "started_ops", "before", "after", "moved_ops"]


@dataclass
class _Decided:
    """A task with its current decision (actual slots) and what the planner expected of it.

    ``kept_s``: activity key -> decision time of the plan that decided it, for the activities
    that had started when the task was last re-planned in parts (the rest: ``decided_s``).
    """

    arrival: Arrival
    decision: TaskDecision
    epoch_s: float
    decided_s: float
    predicted_latency_s: float
    predicted_quality: float
    plans: int
    kept_s: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Partial:
    """What is committed of a task some but not all of whose ops have started (per-op revision).

    An op has started once its compute or one of its input transfers on a channel has started:
    its data is then on its node (or on its way there). ``running``: ops whose compute has
    started, with their finish (absolute s); ``placed``: ops committed by a started input
    transfer whose compute has not started, with the end of those transfers; ``started``: every
    started activity on a device, slot or channel, which keeps its time.
    """

    mode: str
    placements: dict[str, Placement]
    running: dict[str, float]
    placed: dict[str, float]
    started: dict[str, ActivityTime]


def _options_text(d: TaskDecision) -> str:
    """A decision's placements as ``op@node[/model#slot]`` joined by ``;`` (the rows' ``options``)."""
    return ";".join(
        f"{p.op}@{p.node}" + (f"/{p.model}#{p.slot}" if p.node.startswith("ap:") else "")
        for p in d.placements
    )


class _ExecCosts(CostTables):
    """Actual-value cost tables of a batch plus holds (activities) encoding the committed state.

    Each task gets only its decision's mode (``decisions``), whose ops get options only where the
    decision places one of them: the evaluator reads no other mode or option, and the ones it reads
    are built by the same code from the same values, so the times and metrics are those of the full
    tables at a fraction of the cost (tests/test_sim_fastpaths.py compares them).
    ``cache`` (the simulator's) keeps each task's tables (per mode and places), each user's sites and
    each flow's transfer between two nodes between the passes of one execution and between epochs:
    every execution instance is the network with other tasks, in the same frame (origin 0), so
    they come out the same each time; reusing them changes no number.
    """

    def __init__(
        self,
        instance: Instance,
        holds: tuple[TaskCosts, ...],
        cache: _ExecCache | None = None,
        decisions: list[TaskDecision] | None = None,
    ):
        """``holds``: the tables of the holds (``_Holds.costs``: one task with an op per hold, or
        ``_hold_costs``: a task per hold; both time a hold alike)."""
        self._cache = cache if cache is not None else _ExecCache()
        self._places = {d.task: frozenset((p.node, p.model) for p in d.placements) for d in decisions or ()}
        self._modes = {d.task: d.mode for d in decisions or ()}
        self._only: frozenset[tuple[str, str | None]] | None = None
        self._only_sites: tuple[Any, tuple[_Site, ...]] = (None, ())  # (user, places) -> its sites
        super().__init__(
            instance, actual=True, time_origin_s=0.0
        )  # holds are in the simulation's absolute frame
        self.tasks = self.tasks + holds
        # every execution instance has the network's links and channels, in the frame of origin 0: the
        # per node pair look-ups of ``transfer`` come out the same each time, so they are shared
        self._paths = self._cache.paths

    def _wireless_task(self, task: Task) -> TaskCosts:
        only = self._places.get(task.id)
        mode = self._modes.get(task.id)
        got = self._cache.tasks.get(task.id)
        if got is not None and got[0] is task and got[1] == (only, mode):
            return got[2]
        # the decision's places and mode: the evaluator reads no other
        self._only, self._only_mode = only, mode
        try:
            tc = super()._wireless_task(task)
        finally:
            self._only, self._only_mode = None, None
        self._cache.tasks[task.id] = (task, (only, mode), tc)
        return tc

    def transfer(self, flow: Flow, src_node: str, dst_node: str) -> Transfer:
        key = (flow, src_node, dst_node)
        got = self._cache.transfers.get(key)
        if got is None:
            if len(self._cache.transfers) > 100_000:  # flows of tasks long executed
                self._cache.transfers.clear()
            got = self._cache.transfers[key] = super().transfer(flow, src_node, dst_node)
        return got

    def _sites(self, user_id: str) -> tuple[_Site, ...]:
        sites = self._cache.sites.get(user_id)
        if sites is None:
            sites = self._cache.sites[user_id] = super()._sites(user_id)
        if self._only is not None:  # the same filter for every op of the task being built
            key = (user_id, self._only)
            if self._only_sites[0] != key:
                self._only_sites = (key, tuple(s for s in sites if (s.node, s.model) in self._only))
            return self._only_sites[1]
        return sites


@dataclass
class _ExecCache:
    """What the execution tables of one simulation reuse (see ``_ExecCosts``)."""

    tasks: dict[str, tuple[Task, tuple[frozenset[tuple[str, str | None]] | None, str | None], TaskCosts]] = (
        field(default_factory=dict)
    )
    sites: dict[str, tuple[_Site, ...]] = field(default_factory=dict)
    transfers: dict[tuple[Flow, str, str], Transfer] = field(default_factory=dict)
    paths: dict[tuple[str, str], tuple] = field(default_factory=dict)  # CostTables._paths


def _hold_costs(tid: str, res: str, ready_s: float, dur_s: float) -> TaskCosts:
    """The tables of a hold: one op on ``res`` of ``dur_s``, not before ``ready_s``."""
    return TaskCosts(
        tid,
        None,
        ready_s,
        None,
        (Mode(HOLD_OP, (Op(HOLD_OP, (Option(f"hold:{res}", None, (res,), dur_s, 1.0, 0.0),)),), ()),),
    )


class _PlanCosts(CostTables):
    """Predicted cost tables of the planning instance; a busy device's local options start when it is free.

    ``device_free_s``: user node -> time (relative to the epoch) its device is free of committed work.
    An option's ``ready_s`` is its earliest start, and a device is one resource, so this is exact.
    """

    def __init__(
        self,
        instance: Instance,
        device_free_s: dict[str, float],
        partial: dict[str, _Partial] | None = None,
        origin_s: float = 0.0,
        sites: _SiteCache | None = None,
        group_backlog_s: dict[tuple[str, str], float] | None = None,
    ):
        """``partial``: tasks re-planned in parts (their committed part, absolute times; ``origin_s``
        is the epoch, the planning frame's zero); each enters with its committed mode only.
        ``sites``: the simulator's cache of each user's sites (``_SiteCache``); ``group_backlog_s``:
        (AP id, slot group id) -> the group's ``queue_backlog_s`` in ``instance`` (from
        ``_Simulator._planning_instance``, which set them; else read from the APs' slot groups)."""
        self._site_cache = sites
        self._group_backlog_s = group_backlog_s
        self._group_ready_s: dict[tuple[str, str], float] | None = None
        super().__init__(instance)
        if device_free_s:
            self.tasks = tuple(_with_device_ready(t, device_free_s) for t in self.tasks)
        if partial:
            self.tasks = tuple(
                _committed_part(t, partial[t.id], origin_s) if t.id in partial else t for t in self.tasks
            )

    def _path(self, src_node: str, dst_node: str) -> tuple:
        """``CostTables._path`` with the look-ups kept between epochs (``_SiteCache.paths``): only the
        channel's ready time (its last item, from ``channel_ready_s``) depends on the epoch."""
        cache = self._site_cache
        if cache is None:
            return super()._path(src_node, dst_node)
        got = cache.paths.get((src_node, dst_node))
        if got is None:
            got = cache.paths[(src_node, dst_node)] = super()._path(src_node, dst_node)
        res = got[5]
        if res is None:  # the backhaul: no channel
            return got
        ready = self.channel_ready_s.get(res, 0.0)
        return got if got[6] == ready else (*got[:6], ready)

    def _sites(self, user_id: str) -> tuple[_Site, ...]:
        cache = self._site_cache
        sites = self._sites_of.get(user_id)
        if sites is not None or cache is None:
            return sites if sites is not None else super()._sites(user_id)
        static = cache.static.get(user_id)
        if static is None:  # the first tables that ask: built as usual, kept with each site's slot group
            sites = super()._sites(user_id)
            group_of = {res: key for key, res in self._server_slots.items()}
            cache.static[user_id] = tuple((s, group_of.get(s.resources)) for s in sites)
            return sites
        if self._group_ready_s is None:  # each slot group's ready time in these tables' frame
            backlog = self._group_backlog_s
            if backlog is None:
                backlog = {
                    (ap.id, g.id): g.queue_backlog_s for ap in self.instance.aps for g in ap.slot_groups
                }
            self._group_ready_s = {key: max(0.0, b - self.time_origin_s) for key, b in backlog.items()}
        ready = self._group_ready_s
        out = []
        for s, key in static:
            if key is not None and ready[key] != s.ready_s:
                s = _Site(s.node, s.model, s.resources, ready[key], s.speed, s.decode_token_s)
            out.append(s)
        sites = self._sites_of[user_id] = tuple(out)
        return sites


@dataclass
class _SiteCache:
    """Each user's sites (``costs._Site``) for the planning tables, kept between epochs.

    A planning instance differs from the network only in its backlogs, busy times and tasks
    (``_Simulator._planning_instance``), and of a site only the ready time depends on those:
    ``max(0, backlog of its slot group - the tables' origin)``, the expression of
    ``CostTables._sites``. So the sites of the first planning tables that ask for a user are
    kept with the slot group of each (found by its slot resources), and later tables
    (``_PlanCosts._sites``) take them with their own group's ready time: the sites
    ``CostTables._sites`` would build, without rebuilding them (tests/test_sim_fastpaths.py).
    """

    static: dict[str, tuple[tuple[_Site, tuple[str, str] | None], ...]] = field(default_factory=dict)
    paths: dict[tuple[str, str], tuple] = field(default_factory=dict)  # CostTables._path per node pair


def _committed_part(task: TaskCosts, part: _Partial, origin_s: float) -> TaskCosts:
    """A partially started task as the planner sees it: its committed mode only; an op whose
    compute has started keeps only its committed (node, model), as a zero-length option on a
    private resource ready at its finish (the slot or device it runs on is busy until then in
    the committed state already); an op committed by a started input transfer keeps only its
    committed (node, model) on any of its slots, not before those transfers end; every other op
    keeps all its options. Flows whose transfer has started are dropped (not charged again);
    the rest, including those from a started op to an unstarted one, are charged as usual."""
    mode = task.modes[task.mode_index[part.mode]]
    ops = []
    for op in mode.ops:
        p = part.placements[op.name]
        if op.name not in part.running and op.name not in part.placed:
            ops.append(op)
            continue
        o = next(o for o in op.options if o.node == p.node and o.model == p.model)
        if op.name in part.running:
            ready = max(0.0, part.running[op.name] - origin_s)
            res = (f"{PIN_PREFIX}{task.id}/{op.name}",)
            o = Option(o.node, o.model, res, 0.0, o.quality, ready)
        else:
            o = dataclasses.replace(o, ready_s=max(o.ready_s, part.placed[op.name] - origin_s))
        ops.append(dataclasses.replace(op, options=(o,)))
    flows = tuple(f for f in mode.flows if flow_key(task.id, mode, f) not in part.started)
    return dataclasses.replace(task, modes=(Mode(mode.name, tuple(ops), flows),))


def _with_device_ready(task: TaskCosts, device_free_s: dict[str, float]) -> TaskCosts:
    if task.owner not in device_free_s:  # only the owner's device can run the task's local options
        return task

    free = device_free_s[task.owner]  # the owner's device: its local options are on it, the rest on APs

    def opt(o: Option) -> Option:
        if o.node != task.owner:
            return o
        return Option(o.node, o.model, o.resources, o.duration_s, o.quality, max(o.ready_s, free))

    # the tables' own constructors (a few per arrival; dataclasses.replace costs several times more)
    modes = tuple(
        Mode(
            m.name,
            tuple(Op(op.name, tuple(opt(o) for o in op.options), op.is_aggregation) for op in m.ops),
            m.flows,
        )
        for m in task.modes
    )
    return TaskCosts(task.id, task.owner, task.release_s, task.deadline_s, modes)


def _fit(
    times: list[tuple[float, float]], fixed: list[tuple[float, float, str]], pos: list[int]
) -> list[int]:
    """Positions among ``fixed`` (frozen transfers in time order) at which transfers of the given
    (start_s, duration_s) delay none of them: each at or after its current position and after the
    one before it, moved past every frozen transfer it would overlap. Only the first one that has
    to move is moved: the times of those after it are stale until the evaluator has re-timed them,
    and moving them on stale times could put them later than the first gap they fit."""
    out: list[int] = []
    lo = 0
    for i, ((start, dur), p) in enumerate(zip(times, pos, strict=True)):
        k = max(p, lo)
        while k < len(fixed) and start + dur > fixed[k][0]:
            start = max(start, fixed[k][1])
            k += 1
        out.append(k)
        lo = k
        if k != p:  # the later ones' times were computed with this one in the way: keep them for now
            return out + [max(q, lo) for q in pos[i + 1 :]]
    return out


def _hold_decision(tid: str, res: str) -> TaskDecision:
    return TaskDecision(tid, HOLD_OP, (Placement(HOLD_OP, f"hold:{res}", None, 0),))


HOLDS_TASK = "~holds"  # the one task that carries an execution's holds, an op per hold (``_Holds``)


def _hold_key(hold_id: str) -> str:
    """The activity key of a hold: op ``hold_id`` of ``HOLDS_TASK``."""
    return f"{HOLDS_TASK}/{hold_id}"


def _hold_op(hold_id: str, res: str, ready_s: float, dur_s: float) -> tuple[Op, Placement]:
    """A hold as one op of ``HOLDS_TASK`` (released at 0): on ``res`` for ``dur_s``, not before ``ready_s``.

    The evaluator starts an op at the latest of its task's release, its option's ``ready_s`` and the
    ends of its predecessors; a hold has no data predecessor, and every ``ready_s`` here is a time of
    the simulation (>= 0), so the op is timed exactly as the task of ``_hold_costs`` (released at
    ``ready_s``). One task for all the holds instead of one task each saves the evaluator a decision,
    a task's tables and a task's metrics per hold, several per arrival.
    """
    node = f"hold:{res}"
    return Op(hold_id, (Option(node, None, (res,), dur_s, 1.0, ready_s),)), Placement(hold_id, node, None, 0)


def _network_and_arrivals(
    scenario_or_instance: Scenario | str | Instance,
    rate: float | None,
    duration_s: float | None,
    trace: str | list[TraceRow] | None,
    seed: int,
    knobs: dict[str, Any],
) -> tuple[Instance, list[Arrival]]:
    """The network (an instance whose tasks are templates) and the arrivals of the run."""
    if trace is not None and rate is not None:
        raise InputError("rate: give either a rate or a trace, not both")
    rows: list[TraceRow] | None = None
    if trace is not None:
        rows = read_trace(trace) if not isinstance(trace, list) else trace
    elif rate is not None:
        rate = check_positive_number("rate", rate)
        if duration_s is None:
            raise InputError("duration_s: required with a rate")
    if isinstance(scenario_or_instance, Instance):
        inst = scenario_or_instance
        if inst.is_explicit:
            raise InputError("instance: the simulation needs a wireless instance, not an explicit-cost one")
        if knobs:
            raise InputError(f"{next(iter(knobs))}: scenario knobs apply to a scenario, not to an instance")
        templates = templates_of(inst)
        if rows is None and rate is None:  # replay the instance's own tasks at their release times
            order = sorted(range(len(inst.tasks)), key=lambda k: (inst.tasks[k].release_s, k))
            rows = [TraceRow(inst.tasks[k].release_s, inst.tasks[k].user) for k in order]
            templates = {}
            for k in order:
                templates.setdefault(inst.tasks[k].user, []).append(inst.tasks[k])
        elif rows is None:
            assert rate is not None and duration_s is not None
            rows = poisson_trace(sorted(templates), rate, duration_s, seed)
        return inst, arrivals_from(rows, templates, seed, cycle=True)
    if isinstance(scenario_or_instance, str) and scenario_or_instance not in SCENARIOS:
        raise InputError(
            f"scenario: unknown scenario {scenario_or_instance!r} (known: {', '.join(SCENARIOS)})"
        )
    if rows is None and rate is None:
        raise InputError("rate: give a rate (tasks/s) or a trace for a scenario")
    try:
        net = generate(scenario_or_instance, seed=seed, **knobs)
    except TypeError as exc:
        raise InputError(f"scenario: {exc}") from None
    users = [u.id for u in net.users]
    if rows is None:
        assert rate is not None and duration_s is not None
        rows = poisson_trace(users, rate, duration_s, seed)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.user] = counts.get(r.user, 0) + 1
    for i, r in enumerate(rows):
        if r.user not in net.user_by_id:
            raise InputError(f"trace: arrival {i}: unknown user {r.user!r} (known: {', '.join(users)})")
    per_user = max(counts.values(), default=1)
    pool = generate_tasks(scenario_or_instance, seed=seed, **{**knobs, "tasks_per_user": per_user})
    return net, arrivals_from(rows, templates_from(pool), seed, cycle=False)


def simulate(
    scenario_or_instance: Scenario | str | Instance = "default",
    policy: str = "greedy",
    rate: float | None = None,
    duration_s: float | None = None,
    seed: int = 0,
    epoch: str | float = "arrival",
    trace: str | list[TraceRow] | None = None,
    charge_decision_time: bool | float = False,
    time_limit: float | None = None,
    options: dict[str, Any] | None = None,
    **knobs: Any,
) -> SimResult:
    """Simulate ``policy`` deciding tasks as they arrive; rows, activities and summary.

    ``rate`` (tasks/s over all users, Poisson per user) with ``duration_s``, or a
    ``trace`` (CSV path or rows) of arrivals; with an ``Instance`` and neither,
    its own tasks arrive at their release times. ``charge_decision_time``:
    ``True`` charges the policy's measured runtime to the simulated clock (not
    reproducible run to run), a number charges that many seconds per decision.
    """
    try:
        get_solver(policy)
    except ValueError as exc:
        raise InputError(f"policy: {str(exc).removeprefix('solver: ')}") from None
    rule = EpochRule.parse(epoch)
    if duration_s is not None:
        duration_s = check_positive_number("duration_s", duration_s)
    charge_fixed = 0.0
    if not isinstance(charge_decision_time, bool):
        charge_fixed = float(charge_decision_time)
        if not math.isfinite(charge_fixed) or charge_fixed < 0:
            raise InputError(f"charge_decision_time: must be a number >= 0 s, got {charge_decision_time!r}")
    measured = charge_decision_time is True
    net, arrivals = _network_and_arrivals(scenario_or_instance, rate, duration_s, trace, seed, dict(knobs))
    sim = _Simulator(net, policy, rule, seed, time_limit, options or {}, charge_fixed, measured)
    sim.run(arrivals)
    horizon = duration_s
    if horizon is None:
        horizon = max((a.task.release_s for a in arrivals), default=0.0) or None
    rows = sim.rows()
    acts = sim.activity_frame()
    summary = summarise(rows, acts, net, horizon)
    summary["epochs"] = sim.n_epochs
    config = {
        "policy": policy,
        "epoch": str(rule),
        "rate": rate,
        "duration_s": duration_s,
        "seed": seed,
        "charge_decision_time": charge_decision_time,
        "network": net.name,
    }
    history = net.replace(tasks=tuple(a.task for a in arrivals)) if arrivals else None
    revisions = pd.DataFrame(sim.revisions, columns=REVISION_COLUMNS)
    return SimResult(rows, acts, summary, config, history, sim.history_solution(policy), revisions)


class _Holds:
    """The holds of one execution (``_Simulator._execute``): which frozen transfers it includes.

    Every hold is an op of one task, ``HOLDS_TASK`` (``_hold_op``), keyed ``~holds/<hold id>``.

    A device or server slot used by the batch gets one hold (busy until it is free and the epoch),
    each channel a zero-length gate at the epoch before the batch's first transfer, and the frozen
    transfers on each channel stand as holds of their own length. Only the frozen transfers next to
    a transfer of the batch (just before or after its place) are included, plus any a pushed one
    would push in turn: every other one keeps its own time in the evaluation of all of them, since
    a frozen transfer that is not pushed never overlaps the next one (checked here: if any pair of
    consecutive frozen transfers would, every frozen transfer is included), so leaving it out
    changes no time of the batch's activities; it only saves the evaluator timing dozens of
    committed answers per arrival. ``include_pushed`` checks this on each evaluation.

    Activities that keep their times (``pinned``: started when their task was re-planned in parts)
    are placed as they are, each behind a zero-length hold at its start (or, of a task not in the
    batch, as a hold of its own length); the gates precede the first activity not pinned. On a
    channel they are keys like the batch's, so the frozen transfers next to them are included too.
    """

    def __init__(
        self,
        sim: _Simulator,
        other: dict[str, list[str]],
        chans: dict[str, list[str]],
        fixed: dict[str, list[tuple[float, float, str]]],
        not_before_s: float,
        pinned: dict[str, ActivityTime] | None = None,
        own: frozenset[str] = frozenset(),
    ):
        """``pinned``: activities in the sequences that keep their times (``_Simulator._execute``);
        ``own``: the ids of the batch's tasks (a pinned activity of another task stands as a hold)."""
        self.sim = sim
        self.fixed = fixed
        self.chans = chans
        self.base: list[tuple[str, str, float, float]] = []
        self.expand: dict[str, list[str]] = {}  # pinned key -> its entries in the sequence
        self.measure: dict[str, str] = {}  # pinned key -> the entry that carries its time
        if pinned:
            present = {k for v in (*other.values(), *chans.values()) for k in v}
            for key, a in pinned.items():
                if key not in present:
                    continue
                assert a.resource is not None
                h = sim._hold_id()
                if a.task in own:  # a zero-length hold at its start, then the activity itself
                    self.base.append((h, a.resource, a.start_s, 0.0))
                    self.expand[key], self.measure[key] = [_hold_key(h), key], key
                else:  # a hold of its own length in its place
                    self.base.append((h, a.resource, a.start_s, a.end_s - a.start_s))
                    self.expand[key] = [_hold_key(h)]
                    self.measure[key] = self.expand[key][0]
        self.seq: dict[str, list[str]] = {}
        for r, keys in other.items():  # pinned entries as they are, the gate before the first other one
            out: list[str] = []
            gated = False
            for k in keys:
                if k in self.expand:
                    out.extend(self.expand[k])
                    continue
                if not gated:
                    h = sim._hold_id()
                    self.base.append((h, r, max(sim.base_free.get(r, 0.0), not_before_s), 0.0))
                    out.append(_hold_key(h))
                    gated = True
                out.append(k)
            self.seq[r] = out
        self.gate: dict[str, str] = {}
        self.gate_at: dict[str, int] = {}  # channel -> index of the key the gate precedes (not pinned)
        for r, keys in chans.items():
            self.gate_at[r] = next((i for i, k in enumerate(keys) if k not in self.expand), len(keys))
            if self.gate_at[r] < len(keys):
                g = sim._hold_id()
                self.base.append((g, r, not_before_s, 0.0))
                self.gate[r] = _hold_key(g)
        self.ids: dict[str, dict[int, str]] = {r: {} for r in chans}  # frozen index -> its hold id
        self.built: dict[str, tuple[Op, Placement]] = {}  # hold id -> its op and placement
        self.included: dict[str, set[int]] = {r: set() for r in chans}
        for r, fx in fixed.items():  # a frozen transfer that would push the next one: include them all
            if any(s0 + (e0 - s0) > s1 for (s0, e0, _), (s1, _, _) in itertools.pairwise(fx)):
                self.included[r].update(range(len(fx)))

    def _key(self, r: str, j: int) -> str:
        h = self.ids[r].get(j)
        if h is None:
            h = self.ids[r][j] = self.sim._hold_id()
        return _hold_key(h)

    def include_neighbours(self, r: str, pos: list[int]) -> None:
        n = len(self.fixed[r])
        self.included[r].update(j for p in pos for j in (p - 1, p) if 0 <= j < n)

    def unmodelled_pushes(self, ev: Evaluation) -> dict[str, int]:
        """Channel -> the first left-out frozen transfer that a pushed included one would push.

        Where there is none, ``ev`` gives every activity the time of the evaluation with every
        frozen transfer (see the class docstring); where there is one, the times of what follows
        it on its channel, and of everything sequenced after that, may differ (``tainted``).
        """
        out: dict[str, int] = {}
        for r, inc in self.included.items():
            fx = self.fixed[r]
            for j in sorted(inc):
                k = j + 1
                if k < len(fx) and k not in inc and ev.schedule[self._key(r, j)].end_s > fx[k][0]:
                    out[r] = k
                    break
        return out

    def tainted(
        self, pushes: dict[str, int], pos: dict[str, list[int]], sequences: tuple[Sequence, ...]
    ) -> set[str]:
        """Tasks of the batch whose times may differ from the evaluation with every frozen transfer.

        A left-out frozen transfer ``k`` that would be pushed delays what follows it on its channel:
        the transfers of the batch placed after it (``pos > k``). Their tasks are taken whole, and so
        is every task with an activity sequenced after one of a taken task on any resource.
        """
        out = {
            key.split("/", 1)[0]
            for r, k in pushes.items()
            for key, p in zip(self.chans[r], pos[r], strict=True)
            if p > k
        }
        grown = bool(out)
        while grown:
            grown = False
            for seq in sequences:
                hit = False
                for key in seq.activities:
                    t = key.split("/", 1)[0]
                    if t in out:
                        hit = True
                    elif hit and not t.startswith("~hold"):
                        out.add(t)
                        grown = True
        return out

    def include_pushed(self, ev: Evaluation) -> None:
        """Include the frozen transfers a pushed one would push (then evaluate again).

        The chain a pushed transfer starts is followed with the evaluator's arithmetic (start = the
        later of its own start and the previous end, end = start + length) to include it in one go;
        whether that was enough is checked on the next evaluation like the first time.
        """
        for r, inc in self.included.items():
            fx = self.fixed[r]
            for j in sorted(inc):
                k = j + 1
                if k >= len(fx) or k in inc:
                    continue
                end = ev.schedule[self._key(r, j)].end_s
                while k < len(fx) and k not in inc and end > fx[k][0]:
                    inc.add(k)
                    end = end + (fx[k][1] - fx[k][0])  # pushed: starts at the previous end
                    k += 1

    def frozen_keys(self) -> list[tuple[str, int, str]]:
        """(channel, frozen index, hold key) of every included frozen transfer."""
        return [(r, j, self._key(r, j)) for r, inc in self.included.items() for j in sorted(inc)]

    def _all(self) -> list[tuple[str, str, float, float]]:
        """(task id, resource, ready_s, duration_s) of every hold included now."""
        out = list(self.base)
        for r, j, _ in self.frozen_keys():
            start, end, _ = self.fixed[r][j]
            out.append((self.ids[r][j], r, start, end - start))
        return out

    def _built(self, hold: tuple[str, str, float, float]) -> tuple[Op, Placement]:
        got = self.built.get(hold[0])
        if got is None:  # built once per execution, reused by its passes
            got = self.built[hold[0]] = _hold_op(*hold)
        return got

    def costs(self) -> tuple[TaskCosts, ...]:
        """The tables of the holds included now: one task (``HOLDS_TASK``) with an op per hold."""
        ops = tuple(self._built(h)[0] for h in self._all())
        return (TaskCosts(HOLDS_TASK, None, 0.0, None, (Mode(HOLD_OP, ops, ()),)),) if ops else ()

    def decisions(self) -> tuple[TaskDecision, ...]:
        placements = tuple(self._built(h)[1] for h in self._all())
        return (TaskDecision(HOLDS_TASK, HOLD_OP, placements),) if placements else ()

    def sequences(self, pos: dict[str, list[int]]) -> tuple[Sequence, ...]:
        seq = dict(self.seq)
        for r, keys in self.chans.items():
            inc = sorted(self.included[r])
            out: list[str] = []
            q = 0
            for i, key in enumerate(keys):  # keys[i] before fixed[pos[i]], the gate before keys[gate_at]
                while q < len(inc) and inc[q] < pos[r][i]:
                    out.append(self._key(r, inc[q]))
                    q += 1
                if i == self.gate_at[r]:
                    out.append(self.gate[r])
                out.extend(self.expand.get(key, (key,)))
            out.extend(self._key(r, j) for j in inc[q:])
            seq[r] = out
        return tuple(Sequence(r, tuple(v)) for r, v in sorted(seq.items()))


def _with_fields(inst: Instance, **changes: Any) -> Instance:
    """``inst`` with some of ``aps``, ``channels`` and ``tasks`` replaced, without re-validating it whole.

    The simulator derives an instance per epoch from the validated network: new backlogs and busy
    times (each GPU, server and channel validated by its own constructor) and tasks from the
    network's validated templates with a new release and deadline (validated by ``Task``). None of
    these changes a reference the whole-instance checks (``Instance._check_references``) look at,
    so re-running them per arrival (a third of the old per-task cost of building the instance)
    would only repeat them. Cached lookups are recomputed on use, except those over fields never
    replaced here (users, models, speeds, links), which are carried over.
    """
    bad = set(changes) - {"aps", "channels", "tasks"}
    if bad:
        raise ValueError(f"_with_fields: {sorted(bad)[0]} must go through Instance.replace")
    new = _replaced(inst, **changes)
    for name in ("user_by_id", "model_by_id", "speed_of", "links_of_user"):  # unchanged fields' lookups
        if name in inst.__dict__:
            new.__dict__[name] = inst.__dict__[name]
    return new


def _replaced(obj: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` of a frozen instance dataclass without re-running its constructor's checks.

    For the per-epoch copies in ``_planning_instance`` only: each new value is derived from
    validated ones so that it is valid by construction (a backlog or busy time ``max(0, .)``, a
    release ``max(0, .)``, a deadline kept only while positive). Copying skips a constructor and
    its checks per GPU, channel and task at every arrival; the values are those ``replace`` gives.
    """
    new = object.__new__(type(obj))
    cached = _cached_properties(type(obj))
    if cached:
        new.__dict__.update((k, v) for k, v in obj.__dict__.items() if k not in cached)  # recomputed on use
    else:
        new.__dict__.update(obj.__dict__)
    new.__dict__.update(changes)  # what object.__setattr__ does for a field (no slots, no descriptor)
    return new


_CACHED_PROPERTIES: dict[type, frozenset[str]] = {}


def _cached_properties(cls: type) -> frozenset[str]:
    """Names of ``cls``'s ``functools.cached_property`` attributes (values a copy must not inherit)."""
    names = _CACHED_PROPERTIES.get(cls)
    if names is None:
        names = _CACHED_PROPERTIES[cls] = frozenset(
            name
            for klass in cls.__mro__
            for name, v in vars(klass).items()
            if isinstance(v, functools.cached_property)
        )
    return names


class _Simulator:
    """The event loop: epochs, planning on the committed state, execution on actual values."""

    def __init__(
        self,
        net: Instance,
        policy: str,
        rule: EpochRule,
        seed: int,
        time_limit: float | None,
        options: dict[str, Any],
        charge_fixed_s: float,
        charge_measured: bool,
    ):
        self.net = net
        self.policy = policy
        self.rule = rule
        self.seed = seed
        self.time_limit = time_limit
        self.options = options
        self.charge_fixed_s = charge_fixed_s
        self.charge_measured = charge_measured
        # resource -> time it is free of every frozen activity (server slots start with their backlog)
        self.base_free: dict[str, float] = {}
        for ap in net.aps:
            for grp in ap.slot_groups:  # a GPU's slots (shared by its models), or a v1 server's
                for k in range(grp.slots):
                    self.base_free[server_resource(ap.id, grp.id, k)] = grp.queue_backlog_s
        self.window: list[_Decided] = []  # decided at the last epoch, may still be revised
        self.window_seq: dict[str, list[str]] = {}  # their order on each device and server slot
        self.window_t_dec = 0.0  # when they were decided
        self.window_pins: dict[str, ActivityTime] = {}  # activities kept at their times in that execution
        self.revisions: list[dict[str, Any]] = []  # one record per re-plan (REVISION_COLUMNS)
        # channel -> frozen transfers (start_s, end_s, key) in time order, those that may still matter
        self.chan_frozen: dict[str, list[tuple[float, float, str]]] = {}
        self.last_times: dict[str, list[ActivityTime]] = {}  # task -> its activities as last executed
        self.metrics: dict[str, TaskMetrics] = {}
        self.decided: dict[str, _Decided] = {}
        self.n_epochs = 0
        self.hold_count = 0
        for lookup in ("user_by_id", "model_by_id", "speed_of", "links_of_user"):  # kept by _with_fields
            getattr(net, lookup)
        # names used at every epoch, built once: each AP's slot groups with their slot resources,
        # each user's node and device, and the slot group of each (AP, model)
        self.slots_of_ap = {
            ap.id: [(g.id, [server_resource(ap.id, g.id, k) for k in range(g.slots)]) for g in ap.slot_groups]
            for ap in net.aps
        }
        self.user_devices = [(user_node(u.id), device_resource(u.id)) for u in net.users]
        self.group_of = {(ap.id, m): g.id for ap in net.aps for m, g in ap.group_of_model.items()}
        self.exec_cache = _ExecCache()  # actual-value tables of tasks and sites (_ExecCosts)
        self.plan_sites = _SiteCache()  # each user's sites for the planning tables (_PlanCosts)
        self.plan_backlogs: dict[tuple[str, str], float] = {}  # the last planning instance's group backlogs

    # -- the loop --

    def run(self, arrivals: list[Arrival]) -> None:
        n = len(arrivals)
        i = 0
        decider_free = 0.0
        k = 0  # periodic epoch index
        new: list[Arrival] = []
        while i < n or new or self.window:
            if self.rule.kind == "arrival":
                t = max(arrivals[i].task.release_s, decider_free) if not new else decider_free
            else:
                p = self.rule.period_s
                k = max(k, math.ceil(decider_free / p - 1e-12))
                if not new and not self.window and i < n:  # idle: jump to the epoch of the next arrival
                    k = max(k, math.ceil(arrivals[i].task.release_s / p - 1e-12))
                t = k * p
                k += 1
            while i < n and arrivals[i].task.release_s <= t:
                new.append(arrivals[i])
                i += 1
            if not new and not self.window:
                continue
            decider_free = self._epoch(t, new)
            new = []

    def _split(self, d: _Decided, t: float) -> _Partial | bool:
        """What of ``d`` has started by ``t``: False (nothing: withdraw it), True (keep its whole
        decision: every op has started, or the rule revises per task) or its committed part."""
        tid = d.arrival.task.id
        acts = self.last_times[tid]
        started = {a.key: a for a in acts if a.resource is not None and a.start_s <= t}
        if not started:
            return False
        if self.rule.per_task:
            return True
        placements = {p.op: p for p in d.decision.placements}
        committed: set[str] = set()
        into: dict[str, float] = {}  # op -> end of its started input transfers
        for key, a in started.items():
            name = key.split("/", 1)[1]
            if ">" in name:  # a flow "src>dst": its source has finished, its data goes to dst
                src, dst = name.split(">", 1)
                committed.update(n for n in (src, dst) if n in placements)
                if dst in placements:
                    into[dst] = max(into.get(dst, -math.inf), a.end_s)
            else:
                committed.add(name)
        if committed >= placements.keys():
            return True
        running: dict[str, float] = {}
        placed: dict[str, float] = {}
        for op in committed:
            key = f"{tid}/{op}"
            if key in started:
                running[op] = started[key].end_s
            else:
                placed[op] = into[op]
        return _Partial(d.decision.mode, placements, running, placed, started)

    def _epoch(self, t: float, new: list[Arrival]) -> float:
        """Decide at ``t``; returns when the decider is free again."""
        started: list[_Decided] = []
        withdrawn: list[_Decided] = []  # with nothing started, or re-planned in parts (``partial``)
        partial: dict[str, _Partial] = {}
        for d in self.window:
            got = self._split(d, t)
            if got is True:
                started.append(d)
            else:
                withdrawn.append(d)
                if got is not False:
                    partial[d.arrival.task.id] = got
        # the started activities of the tasks re-planned in parts keep their times
        kept = {k: a for p in partial.values() for k, a in p.started.items()}
        if withdrawn and started:  # re-time the started tasks without the withdrawn work, then freeze them
            drop = {d.arrival.task.id for d in withdrawn}
            seqs = {}
            for r, keys in self.window_seq.items():
                v = [k for k in keys if k.split("/", 1)[0] not in drop or k in kept]
                if v:
                    seqs[r] = v
            chan_prev = {}
            for r in self._window_channels(started):
                acts = self._window_acts(started, r) + [a for a in kept.values() if a.resource == r]
                chan_prev[r] = [a.key for a in sorted(acts, key=lambda a: (a.start_s, a.end_s))]
            ev = self._execute(
                [d.arrival.task for d in started],
                [d.decision for d in started],
                seqs,
                chan_prev,
                self.window_t_dec,
                {**self.window_pins, **kept},
            )
            for d in started:  # what has already happened cannot change
                for a in self.last_times[d.arrival.task.id]:
                    if a.resource is not None and a.start_s <= t and ev.schedule[a.key].start_s != a.start_s:
                        raise RuntimeError(f"re-planning at t={t!r} s moved {a.key!r}, which had started")
            self._record(ev)
        self._freeze(started)
        chan_kept: dict[str, list[tuple[float, float, str]]] = {}
        for a in kept.values():  # device and slot work that has started is committed state
            assert a.resource is not None
            if a.resource.startswith(CHANNEL_PREFIX):
                chan_kept.setdefault(a.resource, []).append((a.start_s, a.end_s, a.key))
            else:
                self.base_free[a.resource] = max(self.base_free.get(a.resource, 0.0), a.end_s)
        self.window, self.window_seq, self.window_pins = [], {}, {}
        pending = [d.arrival for d in withdrawn] + new
        old = {d.arrival.task.id: d for d in withdrawn}
        if not pending:
            return t
        self.n_epochs += 1
        origin = t + self.charge_fixed_s
        free = self.base_free
        plan_inst, slot_map = self._planning_instance(pending, origin, free, chan_kept)
        device_free = {
            node: free[dev] - origin for node, dev in self.user_devices if free.get(dev, 0.0) > origin
        }
        plan_costs = _PlanCosts(plan_inst, device_free, partial, origin, self.plan_sites, self.plan_backlogs)
        res = solve(
            plan_costs, solver=self.policy, time_limit=self.time_limit, seed=self.seed, **self.options
        )
        if res.solution is None or res.evaluation is None or not res.evaluation.tasks:
            raise RuntimeError(f"policy {self.policy!r} found no solution at t={t!r} s ({res.termination})")
        charge = res.runtime_s if self.charge_measured else self.charge_fixed_s
        t_dec = t + charge
        predicted = {m.task: m for m in res.evaluation.tasks}
        decisions = [
            _with_running(_remap_decision(d, slot_map, self.group_of), partial.get(d.task))
            for d in res.solution.decisions
        ]
        new_seq = {
            slot_map.get(s.resource, s.resource): list(s.activities)
            for s in res.solution.sequences
            if not s.resource.startswith(PIN_PREFIX)
        }
        # the started activities go first on their resources, at their own times
        for a in sorted(kept.values(), key=lambda a: (a.start_s, a.end_s), reverse=True):
            assert a.resource is not None
            new_seq.setdefault(a.resource, []).insert(0, a.key)
        other = {r: v for r, v in new_seq.items() if not r.startswith(CHANNEL_PREFIX)}
        chans = {r: v for r, v in new_seq.items() if r.startswith(CHANNEL_PREFIX)}
        ev = self._execute([a.task for a in pending], decisions, other, chans, t_dec, kept)
        self._record(ev)
        by_task = {d.task: d for d in decisions}
        batch: list[_Decided] = []
        for arr in pending:
            tid = arr.task.id
            pm = predicted[tid]
            before = old.get(tid)
            kept_s = {}
            if tid in partial:
                assert before is not None
                kept_s = {k: before.kept_s.get(k, before.decided_s) for k in partial[tid].started}
            batch.append(
                _Decided(
                    arr,
                    by_task[tid],
                    t,
                    t_dec,
                    (origin - arr.task.release_s) + pm.latency_s,
                    pm.quality,
                    (before.plans if before is not None else 0) + 1,
                    kept_s,
                )
            )
            if before is not None:
                self.revisions.append(
                    {
                        "task": tid,
                        "epoch_s": t,
                        "started_ops": len(partial[tid].running) + len(partial[tid].placed)
                        if tid in partial
                        else 0,
                        "before": _options_text(before.decision),
                        "after": _options_text(by_task[tid]),
                        "moved_ops": _moved_ops(before.decision, by_task[tid]),
                    }
                )
        for d in batch:
            self.decided[d.arrival.task.id] = d
        if self.rule.revise:
            self.window, self.window_seq, self.window_t_dec = batch, other, t_dec
            self.window_pins = kept
        else:
            self._freeze(batch)
        self._prune(t_dec)
        return t_dec

    def _execute(
        self,
        tasks: list[Task],
        decisions: list[TaskDecision],
        other: dict[str, list[str]],
        chans: dict[str, list[str]],
        not_before_s: float,
        pinned: dict[str, ActivityTime] | None = None,
    ) -> Evaluation:
        """Time ``tasks`` with the evaluator on actual values after everything frozen.

        On a device or server slot the tasks' activities follow, in the given order, a hold
        until the resource is free and ``not_before_s``. On a channel they are fitted into
        the gaps between the frozen transfers (a shared medium carries a transfer as soon as
        it is ready, it does not wait for answers scheduled later): each one goes before the
        first frozen transfer it would not delay, order among themselves kept, and a
        zero-length gate at ``not_before_s`` precedes the first. Each starts at the earliest
        place and is moved later only as far as the evaluator's times require (a pass per
        move, usually one or two). Frozen transfers stand as holds of their own length and
        are checked to keep their times exactly.

        ``pinned``: activities in the sequences that keep their times (they had started when
        their task was re-planned in parts): each is preceded by a zero-length hold at its
        start, or, when its task is not among ``tasks``, stands as a hold of its own length;
        they are exempt from the gate, which precedes the first activity not pinned, and are
        checked to keep their times exactly.
        """
        fixed: dict[str, list[tuple[float, float, str]]] = {}
        pos: dict[str, list[int]] = {}
        for r in chans:
            fixed[r] = [f for f in self.chan_frozen.get(r, []) if f[1] > not_before_s]
        holds = _Holds(self, other, chans, fixed, not_before_s, pinned, frozenset(t.id for t in tasks))
        for r, keys in chans.items():
            init = [
                (pinned[k].start_s, pinned[k].end_s - pinned[k].start_s)
                if pinned and k in holds.expand
                else (not_before_s, 0.0)
                for k in keys
            ]
            pos[r] = _fit(init, fixed[r], [0] * len(keys))
        inst = _with_fields(self.net, tasks=tuple(tasks))
        for _ in range(10_000):
            for r in chans:
                holds.include_neighbours(r, pos[r])
            while True:  # until the times this pass uses are those of the evaluation with every hold
                costs = _ExecCosts(inst, holds.costs(), self.exec_cache, decisions)
                sol = Solution(tuple(decisions) + holds.decisions(), holds.sequences(pos))
                ev = evaluate(costs, sol)
                if not ev.tasks:
                    raise RuntimeError(f"execution at t={not_before_s!r} s failed: {ev.violations[0]}")
                new_pos: dict[str, list[int]] = {}
                used: set[str] = set()  # tasks whose transfer times _fit reads
                for r, keys in chans.items():
                    acts = [ev.schedule[holds.measure.get(k, k)] for k in keys]
                    times = [(a.start_s, a.end_s - a.start_s) for a in acts]
                    new_pos[r] = _fit(times, fixed[r], pos[r])
                    n_used = next(
                        (i + 1 for i, (a, b) in enumerate(zip(new_pos[r], pos[r], strict=True)) if a != b),
                        len(keys),
                    )
                    used.update(k.split("/", 1)[0] for k in keys[:n_used])
                pushes = holds.unmodelled_pushes(ev)
                if not pushes or not used & holds.tainted(pushes, pos, sol.sequences):
                    break
                holds.include_pushed(ev)
            moved = new_pos != pos
            pos = new_pos
            if not moved:
                break
        else:  # pragma: no cover - each pass only moves transfers later, so this ends
            raise RuntimeError("execution: fitting transfers into the channel did not settle")
        for r, j, key in holds.frozen_keys():
            if ev.schedule[key].start_s != fixed[r][j][0]:
                raise RuntimeError(f"execution: frozen transfer on {r} moved ({key})")
        for key, entry in holds.measure.items():
            if ev.schedule[entry].start_s != pinned[key].start_s:  # type: ignore[index]
                raise RuntimeError(f"execution: started activity {key!r} moved")
        return ev

    def _freeze(self, decided: list[_Decided]) -> None:
        """Make these tasks' activities (as last executed) part of the committed state for good."""
        for d in decided:
            self.exec_cache.tasks.pop(d.arrival.task.id, None)  # never executed again
            for a in self.last_times[d.arrival.task.id]:
                if a.resource is None:
                    continue
                if a.resource.startswith(CHANNEL_PREFIX):
                    bisect.insort(self.chan_frozen.setdefault(a.resource, []), (a.start_s, a.end_s, a.key))
                else:
                    self.base_free[a.resource] = max(self.base_free.get(a.resource, 0.0), a.end_s)

    def _prune(self, before_s: float) -> None:
        """Forget frozen transfers that end by ``before_s``: nothing decided later can meet them."""
        for r, v in self.chan_frozen.items():
            if v and v[0][1] <= before_s:
                self.chan_frozen[r] = [f for f in v if f[1] > before_s]

    def _window_acts(self, decided: list[_Decided], resource: str) -> list[ActivityTime]:
        return [a for d in decided for a in self.last_times[d.arrival.task.id] if a.resource == resource]

    def _window_channels(self, decided: list[_Decided]) -> list[str]:
        return sorted(
            {
                a.resource
                for d in decided
                for a in self.last_times[d.arrival.task.id]
                if a.resource is not None and a.resource.startswith(CHANNEL_PREFIX)
            }
        )

    def _hold_id(self) -> str:
        self.hold_count += 1
        return f"~hold{self.hold_count}"

    def _record(self, ev: Evaluation) -> None:
        grouped: dict[str, list[ActivityTime]] = {}
        for a in ev.schedule.values():
            if not a.task.startswith("~hold"):
                grouped.setdefault(a.task, []).append(a)
        self.last_times.update(grouped)
        for m in ev.tasks:
            if not m.task.startswith("~hold"):
                self.metrics[m.task] = m

    def _planning_instance(
        self,
        pending: list[Arrival],
        origin: float,
        free: dict[str, float],
        chan_kept: dict[str, list[tuple[float, float, str]]] | None = None,
    ) -> tuple[Instance, dict[str, str]]:
        """The static instance the policy solves at ``origin``, and planner slot -> actual slot.

        ``chan_kept``: started transfers of tasks re-planned in parts (not frozen, but there)."""
        channels = []
        for c in self.net.channels:
            frozen = self.chan_frozen.get(channel_resource(c.id), [])
            if chan_kept and channel_resource(c.id) in chan_kept:
                frozen = sorted(frozen + chan_kept[channel_resource(c.id)])
            busy = _channel_free_s(frozen, max(origin, c.busy_until_s))
            busy = max(0.0, busy - origin)  # the planning frame: the epoch is 0
            channels.append(_replaced(c, busy_until_s=busy) if busy != c.busy_until_s else c)
        slot_map: dict[str, str] = {}
        aps: list[AP] = []
        group_backlogs: dict[tuple[str, str], float] = {}  # (AP, slot group) -> its backlog set below
        for ap in self.net.aps:
            backlogs: dict[str, float] = {}
            for gid, slots in self.slots_of_ap[ap.id]:
                slot_free = [free.get(x, 0.0) for x in slots]
                order = sorted(range(len(slots)), key=slot_free.__getitem__)  # stable: ties by slot number
                for j, k in enumerate(order):
                    slot_map[slots[j]] = slots[k]
                backlogs[gid] = max(0.0, slot_free[order[0]] - origin)
                group_backlogs[(ap.id, gid)] = backlogs[gid]
            if ap.gpus:
                gpus = tuple(
                    _replaced(g, queue_backlog_s=backlogs[g.id]) if backlogs[g.id] != g.queue_backlog_s else g
                    for g in ap.gpus
                )
                changed = any(a is not b for a, b in zip(gpus, ap.gpus, strict=True))
                aps.append(_replaced(ap, gpus=gpus) if changed else ap)
            else:
                servers = tuple(
                    _replaced(s, queue_backlog_s=backlogs[s.model])
                    if backlogs[s.model] != s.queue_backlog_s
                    else s
                    for s in ap.servers
                )
                changed = any(a is not b for a, b in zip(servers, ap.servers, strict=True))
                aps.append(_replaced(ap, servers=servers) if changed else ap)
        tasks = []
        for a in pending:
            task = a.task
            waited = origin - task.release_s
            deadline = None
            if task.deadline_s is not None and task.deadline_s - waited > 0:
                deadline = task.deadline_s - waited
            tasks.append(_replaced(task, release_s=max(0.0, -waited), deadline_s=deadline))
        self.plan_backlogs = group_backlogs
        return _with_fields(self.net, aps=tuple(aps), channels=tuple(channels), tasks=tuple(tasks)), slot_map

    # -- results --

    def rows(self) -> pd.DataFrame:
        out = []
        for tid, d in sorted(
            self.decided.items(), key=lambda kv: int(kv[0][1:]) if kv[0][1:].isdigit() else 0
        ):
            m = self.metrics[tid]
            task = d.arrival.task
            acts = self.last_times[tid]
            out.append(
                {
                    "task": tid,
                    "user": task.user,
                    "arrival_s": task.release_s,
                    "epoch_s": d.epoch_s,
                    "decided_s": d.decided_s,
                    "start_s": min(a.start_s for a in acts if a.resource is not None),
                    "finish_s": task.release_s + m.latency_s,
                    "mode": m.mode,
                    "placement": m.placement,
                    "options": _options_text(d.decision),
                    "plans": d.plans,
                    "predicted_latency_s": d.predicted_latency_s,
                    "latency_s": m.latency_s,
                    "queue_s": m.queue_s,
                    "airtime_s": m.airtime_s,
                    "backhaul_s": m.backhaul_s,
                    "compute_s": m.compute_s,
                    "aggregation_s": m.aggregation_s,
                    "predicted_quality": d.predicted_quality,
                    "quality": m.quality,
                    "success": bool(d.arrival.success_u < m.quality),
                    "reward": m.reward,
                    "deadline_met": m.deadline_met,
                }
            )
        return pd.DataFrame(out, columns=ROW_COLUMNS)

    def history_solution(self, policy: str) -> Solution:
        """The executed decisions as one solution of the whole history (sequences in start order)."""
        per_res: dict[str, list[tuple[float, float, str]]] = {}
        for tid in self.decided:
            for a in self.last_times[tid]:
                if a.resource is not None:
                    per_res.setdefault(a.resource, []).append((a.start_s, a.end_s, a.key))
        return Solution(
            tuple(d.decision for d in self.decided.values()),
            tuple(Sequence(r, tuple(k for *_, k in sorted(v))) for r, v in sorted(per_res.items())),
            f"simulate:{policy}",
        )

    def activity_frame(self) -> pd.DataFrame:
        recs = [  # decided_s: when the plan that decided the activity was made
            (a.task, a.key, a.kind, a.resource, a.start_s, a.end_s, d.kept_s.get(a.key, d.decided_s))
            for tid, d in self.decided.items()
            for a in self.last_times[tid]
        ]
        return pd.DataFrame(
            recs, columns=["task", "key", "kind", "resource", "start_s", "end_s", "decided_s"]
        )


def _channel_free_s(frozen: list[tuple[float, float, str]], from_s: float) -> float:
    """First instant >= ``from_s`` at which a channel is idle: the end of the committed transfers
    (``frozen``: (start_s, end_s, key) in time order, never overlapping) that run back to back
    from ``from_s`` on; ``from_s`` itself when none is running then."""
    free = from_s
    for start, end, _ in frozen:
        if end <= free:
            continue
        if start > free:
            break
        free = end
    return free


def _with_running(d: TaskDecision, part: _Partial | None) -> TaskDecision:
    """The committed placements (actual slots) of the ops of ``d`` whose compute has started."""
    if part is None:
        return d
    return dataclasses.replace(
        d, placements=tuple(part.placements[p.op] if p.op in part.running else p for p in d.placements)
    )


def _moved_ops(before: TaskDecision, after: TaskDecision) -> int:
    """Ops of ``after`` on another (node, model) than in ``before`` (all of them if the mode changed)."""
    if before.mode != after.mode:
        return len(after.placements)
    was = {p.op: (p.node, p.model) for p in before.placements}
    return sum(was.get(p.op) != (p.node, p.model) for p in after.placements)


def _remap_decision(
    d: TaskDecision, slot_map: dict[str, str], group_of: dict[tuple[str, str], str]
) -> TaskDecision:
    """The planner's slot numbers turned into the actual slots (used in order of their free time).

    ``group_of``: (AP id, model) -> the id of the slot group the model runs in (``AP.group_of_model``).
    """
    out = []
    for p in d.placements:
        if p.node.startswith("ap:") and p.model is not None:
            ap_id = p.node.removeprefix("ap:")
            res = slot_map.get(server_resource(ap_id, group_of[(ap_id, p.model)], p.slot))
            if res is not None:
                slot = int(res.rsplit(":", 1)[1])
                if slot != p.slot:  # the same placement otherwise (frozen: shared as it is)
                    p = Placement(p.op, p.node, p.model, slot)
        out.append(p)
    placements = tuple(out)
    if all(a is b for a, b in zip(placements, d.placements, strict=True)):
        return d
    return TaskDecision(d.task, d.mode, placements)


# ---- summary ---------------------------------------------------------------------------------


def _busy_within(acts: pd.DataFrame, prefix: str, horizon_s: float) -> float:
    sel = acts[acts["resource"].fillna("").str.startswith(prefix) & (acts["kind"] != "local")]
    return float(
        (sel["end_s"].clip(upper=horizon_s) - sel["start_s"].clip(upper=horizon_s)).clip(lower=0).sum()
    )


def summarise(
    rows: pd.DataFrame, acts: pd.DataFrame, net: Instance, horizon_s: float | None
) -> dict[str, Any]:
    """Latency percentiles, accuracy, reward, throughput, utilisation, Little's-law terms, saturation."""
    n = len(rows)
    lat = rows["latency_s"].to_numpy(dtype=float)
    out: dict[str, Any] = {"n_tasks": n}
    if n == 0:
        return out
    out["mean_latency_s"] = float(lat.mean())
    for q in (50, 95, 99):
        out[f"p{q}_latency_s"] = float(np.percentile(lat, q))
    out["accuracy_expected"] = float(rows["quality"].mean())
    out["accuracy_realised"] = float(rows["success"].mean())
    out["reward_per_task"] = float(rows["reward"].mean())
    out["deadline_misses"] = int((~rows["deadline_met"].astype(bool)).sum())
    h = horizon_s if horizon_s else float(rows["finish_s"].max())
    out["horizon_s"] = h
    arr = rows["arrival_s"].to_numpy(dtype=float)
    fin = rows["finish_s"].to_numpy(dtype=float)
    out["throughput_per_s"] = float((fin <= h).sum() / h) if h > 0 else math.nan
    out["arrival_rate_per_s"] = float((arr < h).sum() / h) if h > 0 else math.nan
    # time average of the number of tasks in the system over [0, h]
    out["mean_in_system"] = (
        float((np.minimum(fin, h) - np.minimum(arr, h)).clip(min=0).sum() / h) if h > 0 else math.nan
    )
    out["in_system_at_horizon"] = int(((arr <= h) & (fin > h)).sum())
    n_slots = sum(g.slots for a in net.aps for g in a.slot_groups)  # GPU slots (v1: server slots)
    out["gpu_utilisation"] = _busy_within(acts, "srv:", h) / (n_slots * h) if n_slots and h > 0 else math.nan
    n_chan = len(net.channels)
    out["channel_utilisation"] = (
        _busy_within(acts, "chan:", h) / (n_chan * h) if n_chan and h > 0 else math.nan
    )
    out["saturated"] = is_saturated(rows, h)
    return out


def is_saturated(rows: pd.DataFrame, horizon_s: float) -> bool:
    """The queue grows without bound within the horizon.

    Judged on the tasks arriving after the first quarter of the horizon (the
    warm-up): saturated when their latency grows with their arrival time (the
    least-squares line rises over the window by more than half their mean
    latency) and at least 5 tasks are still in the system at the horizon. A
    stable queue fluctuates around a level; an overloaded one grows linearly,
    by about 1.2 times the window's mean latency when it is overloaded from
    the start.
    """
    arr = rows["arrival_s"].to_numpy(dtype=float)
    lat = rows["latency_s"].to_numpy(dtype=float)
    sel = (arr >= 0.25 * horizon_s) & (arr < horizon_s)
    if sel.sum() < 3 or np.ptp(arr[sel]) <= 0:
        return False
    slope = float(np.polyfit(arr[sel], lat[sel], 1)[0])
    left = int(((arr <= horizon_s) & (arr + lat > horizon_s)).sum())
    return bool(slope * 0.75 * horizon_s > 0.5 * lat[sel].mean() and left >= 5)


def queue_lengths(result: SimResult, per: Callable[[str], str] | None = None) -> dict[str, pd.Series]:
    """Ops decided for each model server and not finished yet, as a step series over time.

    ``per`` maps a slot resource ``srv:<ap>:<gpu>:<slot>`` (v1: ``srv:<ap>:<model>:<slot>``) to the
    series name (default: the GPU or v1 model server, all its slots together).
    """
    acts = result.activities
    ops = acts[acts["resource"].fillna("").str.startswith("srv:")]
    name = per or (lambda r: r.rsplit(":", 1)[0])
    out: dict[str, pd.Series] = {}
    for key, grp in ops.groupby(ops["resource"].map(name)):
        t = np.concatenate([grp["decided_s"].to_numpy(), grp["end_s"].to_numpy()])
        d = np.concatenate([np.ones(len(grp)), -np.ones(len(grp))])
        order = np.lexsort((-d, t))
        out[str(key)] = pd.Series(np.cumsum(d[order]), index=t[order], name=str(key))
    return out
