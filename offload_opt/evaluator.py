"""The evaluator: the one judge of every solution (docs/model.md, "Timing rules").

From cost tables and a solution it derives every activity's start and finish
(as early as the release, the data and the resource order allow), the latency
of each task with its breakdown, quality, reward and the objective, and lists
every violation of a malformed or infeasible solution. Solvers never report
their own objective: they report what this module computes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from offload_opt._serde import InputError
from offload_opt.costs import SINK, SOURCE, CostTables
from offload_opt.solution import (
    Assignment,
    Solution,
    decisions_to_assignments,
    flow_key,
    op_key,
)

FEAS_TOL = 1e-9


@dataclass(frozen=True)
class ActivityTime:
    key: str
    task: str
    kind: str  # "op", "transfer" (on a channel, or explicit comm), "backhaul", "local" (same node: none)
    resource: str | None
    start_s: float
    end_s: float


@dataclass(frozen=True)
class TaskMetrics:
    task: str
    mode: str
    placement: str  # "local", "edge", "mixed", "dag"
    latency_s: float
    airtime_s: float
    backhaul_s: float
    queue_s: float
    compute_s: float
    aggregation_s: float
    quality: float
    reward: float
    deadline_met: bool
    channel_queue_s: float = 0.0  # the part of queue_s spent waiting for a busy WiFi channel


@dataclass
class Evaluation:
    """What the evaluator found: per-task metrics, the schedule, objective and violations.

    Schedule times are seconds after ``time_origin_s`` (the cost tables' frame:
    the earliest release of a wireless instance, 0 for the explicit form).
    """

    feasible: bool
    objective: float | None
    sense: str
    tasks: list[TaskMetrics] = field(default_factory=list)
    schedule: dict[str, ActivityTime] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    time_origin_s: float = 0.0

    @property
    def mean_latency_s(self) -> float:
        return sum(t.latency_s for t in self.tasks) / len(self.tasks) if self.tasks else float("nan")

    @property
    def mean_quality(self) -> float:
        return sum(t.quality for t in self.tasks) / len(self.tasks) if self.tasks else float("nan")

    @property
    def total_reward(self) -> float:
        return sum(t.reward for t in self.tasks)

    @property
    def makespan_s(self) -> float:
        return max((a.end_s for a in self.schedule.values()), default=0.0)


@dataclass(slots=True)  # thousands per evaluation in the simulator: slots make them cheaper to build and read
class _Act:
    key: str
    task: int
    kind: str
    resource: str | None
    duration_s: float
    ready_s: float
    preds: list[int] = field(default_factory=list)  # data predecessors
    seq_pred: int = -1  # predecessor on the resource
    start_s: float = 0.0
    end_s: float = 0.0


def evaluate(costs: CostTables, solution: Solution) -> Evaluation:
    """Judge ``solution`` on ``costs``; never raises on a bad solution, lists violations instead."""
    sense = costs.objective.sense
    violations: list[str] = []
    try:  # every decision is checked on its own, so all valid => one call gives the same assignments
        assignments = decisions_to_assignments(costs, solution)
    except InputError:  # list every bad decision, not only the first
        assignments = {}
        for i, d in enumerate(solution.decisions):
            single = Solution((d,), ())
            try:
                got = decisions_to_assignments(costs, single)
            except InputError as exc:
                violations.append(str(exc).replace("decisions[0]", f"decisions[{i}]", 1))
                continue
            assignments.update(got)
    decided = {costs.tasks[ti].id for ti in assignments} | {d.task for d in solution.decisions}
    for t in costs.tasks:
        if t.id not in decided:
            violations.append(f"decisions: task {t.id!r} has no decision")
    if violations:
        return Evaluation(False, None, sense, violations=violations)

    acts: list[_Act] = []
    index: dict[str, int] = {}
    final_of_task: list[list[int]] = [[] for _ in costs.tasks]
    for ti in sorted(assignments):
        a = assignments[ti]
        task = costs.tasks[ti]
        mode = task.modes[a.mode]
        opts = [mode.ops[i].options[a.options[i]] for i in range(len(mode.ops))]
        nodes = [o.node for o in opts]
        op_ids = []
        for i, op in enumerate(mode.ops):
            kind = "agg" if op.is_aggregation else "op"
            act = _Act(
                op_key(task.id, op.name),
                ti,
                kind,
                a.resources[i],
                opts[i].duration_s,
                max(task.release_s, opts[i].ready_s),
            )
            _register(act, len(acts), index, violations)
            op_ids.append(len(acts))
            acts.append(act)
        has_sink = False
        for f in mode.flows:
            tr = costs.transfer(
                f, costs.endpoint_node(task, nodes, f.src), costs.endpoint_node(task, nodes, f.dst)
            )
            if tr.duration_s == 0 and tr.channel is None:
                kind = "local"
            elif tr.channel is not None or task.owner is None:  # explicit form: the DAG's communication cost
                kind = "transfer"
            else:
                kind = "backhaul"
            # a transfer starts no earlier than its channel is free of committed work (busy_until_s)
            ready = task.release_s if task.release_s >= tr.ready_s else tr.ready_s
            act = _Act(flow_key(task.id, mode, f), ti, kind, tr.channel, tr.duration_s, ready)
            k = len(acts)
            _register(act, k, index, violations)
            acts.append(act)
            if f.src != SOURCE:
                act.preds.append(op_ids[f.src])
            if f.dst == SINK:
                final_of_task[ti].append(k)
                has_sink = True
            else:
                acts[op_ids[f.dst]].preds.append(k)
        if not has_sink:  # explicit form: the job ends when its last op ends
            final_of_task[ti].extend(op_ids)

    if violations:  # two activities share a key: a sequence could not say which one it orders
        return Evaluation(False, None, sense, violations=violations)

    # resource sequences: every activity on a shared resource appears in exactly one sequence
    placed: set[int] = set()
    for si, seq in enumerate(solution.sequences):
        prev = -1
        for j, key in enumerate(seq.activities):
            where = f"sequences[{si}].activities[{j}]"
            found = index.get(key)
            if found is None:
                violations.append(f"{where}: unknown activity {key!r}")
                continue
            k = found
            if acts[k].resource != seq.resource:
                violations.append(
                    f"{where}: {key!r} runs on {acts[k].resource or 'no shared resource'}, not on {seq.resource!r}"
                )
                continue
            if k in placed:
                violations.append(f"{where}: {key!r} is sequenced twice")
                continue
            placed.add(k)
            acts[k].seq_pred = prev
            prev = k
    for k, act in enumerate(acts):
        if act.resource is not None and k not in placed:
            violations.append(
                f"sequences: activity {act.key!r} is missing from the order of {act.resource!r}"
            )
    if violations:
        return Evaluation(False, None, sense, violations=violations)

    # derive times in a topological order of data + sequence edges
    succ: list[list[int]] = [[] for _ in acts]
    indeg = [0] * len(acts)
    for k, act in enumerate(acts):
        for p in act.preds:
            succ[p].append(k)
        n_in = len(act.preds)
        if act.seq_pred >= 0:
            succ[act.seq_pred].append(k)
            n_in += 1
        indeg[k] = n_in
    stack = [k for k in range(len(acts)) if indeg[k] == 0]
    done = 0
    while stack:
        k = stack.pop()
        act = acts[k]
        start = act.ready_s
        for p in act.preds:  # start = max(start, end): the same value as max() (the first of equals)
            end = acts[p].end_s
            if end > start:
                start = end
        if act.seq_pred >= 0:
            end = acts[act.seq_pred].end_s
            if end > start:
                start = end
        act.start_s = start
        act.end_s = start + act.duration_s
        done += 1
        for s in succ[k]:
            indeg[s] -= 1
            if indeg[s] == 0:
                stack.append(s)
    if done < len(acts):
        stuck = next(a.key for k, a in enumerate(acts) if indeg[k] > 0)
        violations.append(f"sequences: the order contradicts precedence (a cycle through {stuck!r})")
        return Evaluation(False, None, sense, violations=violations)

    schedule = {
        a.key: ActivityTime(
            a.key, costs.tasks[a.task].id, a.kind if a.kind != "agg" else "op", a.resource, a.start_s, a.end_s
        )
        for a in acts
    }
    metrics = []
    for ti in sorted(assignments):
        metrics.append(_task_metrics(costs, ti, assignments[ti], acts, final_of_task[ti]))
        m = metrics[-1]
        if not m.deadline_met:
            violations.append(
                f"tasks: {m.task!r} misses its deadline ({m.latency_s!r} s > {costs.tasks[ti].deadline_s!r} s)"
            )
    ev = Evaluation(not violations, None, sense, metrics, schedule, violations, costs.time_origin_s)
    if costs.objective.kind == "makespan":
        ev.objective = ev.makespan_s
    else:
        ev.objective = ev.total_reward
    return ev


def _register(act: _Act, k: int, index: dict[str, int], violations: list[str]) -> None:
    """Index activity ``k`` by its key; a key built twice is a violation, never an overwrite."""
    if act.key in index:
        violations.append(f"activities: key {act.key!r} names two activities (ids collide)")
        return
    index[act.key] = k


def _task_metrics(
    costs: CostTables, ti: int, a: Assignment, acts: list[_Act], finals: list[int]
) -> TaskMetrics:
    task = costs.tasks[ti]
    mode = task.modes[a.mode]
    opts = [mode.ops[i].options[a.options[i]] for i in range(len(mode.ops))]
    last = max(finals, key=lambda k: acts[k].end_s)
    latency = acts[last].end_s - task.release_s
    parts = {"transfer": 0.0, "backhaul": 0.0, "queue": 0.0, "op": 0.0, "agg": 0.0, "local": 0.0}
    channel_wait = 0.0
    k = last
    while True:  # walk the critical path back to the release
        act = acts[k]
        data_ready = task.release_s  # waiting for a busy resource or a backlog counts as queueing
        binding = -1
        for p in act.preds:
            if acts[p].end_s >= data_ready:
                data_ready, binding = acts[p].end_s, p
        parts["queue"] += act.start_s - data_ready
        if act.kind == "transfer":
            channel_wait += act.start_s - data_ready
        parts[act.kind] += act.duration_s
        if binding < 0:
            break
        k = binding
    quality = costs.task_quality(mode, opts)
    kinds = {o.node.split(":", 1)[0] for o in opts}
    placement = (
        "dag"
        if task.owner is None
        else ("local" if kinds == {"user"} else "edge" if kinds == {"ap"} else "mixed")
    )
    met = task.deadline_s is None or latency <= task.deadline_s * (1 + FEAS_TOL) + FEAS_TOL
    return TaskMetrics(
        task=task.id,
        mode=mode.name,
        placement=placement,
        latency_s=latency,
        airtime_s=parts["transfer"],
        backhaul_s=parts["backhaul"],
        queue_s=parts["queue"],
        compute_s=parts["op"],
        aggregation_s=parts["agg"],
        quality=quality,
        # a makespan instance has no per-task reward: NaN rather than a made-up number
        reward=costs.task_reward(quality, latency) if costs.objective.kind == "reward" else math.nan,
        deadline_met=met,
        channel_queue_s=channel_wait,
    )
