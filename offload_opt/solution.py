"""A solution: modes, placements and the order of activities on every resource.

Start times are not part of a solution: the evaluator derives them (every
activity as early as its data, its resource predecessor and the release
allow). Activity keys are human-readable strings:

- op: ``"<task>/<op>"`` e.g. ``"t3/s2"``, ``"t3/agg"``, ``"t3/whole"``;
- flow: ``"<task>/<src>><dst>"`` with ``in``/``out`` for the owner's device,
  e.g. ``"t3/in>s1"``, ``"t3/s1>agg"``, ``"t3/agg>out"``.

Keys are unambiguous by construction: task, job and op ids never contain ``/``
or ``>`` and no subtask is called ``in`` or ``out`` (instance.py rejects them),
and a mode has at most one flow per (source, destination) pair.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offload_opt._serde import (
    InputError,
    canonical_json,
    check_id,
    check_json_value,
    decode,
    encode,
    fmt_value,
)
from offload_opt.costs import SINK, SOURCE, CostTables, Flow, Mode, TaskCosts
from offload_opt.instance import read_json

SOLUTION_SCHEMA_VERSION = 1


def op_key(task_id: str, op_name: str) -> str:
    return f"{task_id}/{op_name}"


def flow_key(task_id: str, mode: Mode, flow: Flow) -> str:
    src = "in" if flow.src == SOURCE else mode.ops[flow.src].name
    dst = "out" if flow.dst == SINK else mode.ops[flow.dst].name
    return f"{task_id}/{src}>{dst}"


@dataclass(frozen=True)
class Placement:
    """Where one op runs: node, model and (on an edge server) slot."""

    op: str
    node: str
    model: str | None = None
    slot: int = 0

    def __post_init__(self) -> None:
        if self.slot < 0:
            raise ValueError(f"slot: must be >= 0, got {self.slot!r}")


@dataclass(frozen=True)
class TaskDecision:
    task: str
    mode: str
    placements: tuple[Placement, ...]

    def __post_init__(self) -> None:
        check_id("task", self.task)
        seen: set[str] = set()
        for i, p in enumerate(self.placements):
            if p.op in seen:
                raise ValueError(f"placements[{i}].op: op {fmt_value(p.op)} placed twice")
            seen.add(p.op)


@dataclass(frozen=True)
class Sequence:
    resource: str
    activities: tuple[str, ...]


@dataclass(frozen=True)
class Solution:
    """Decisions for every task and the activity order on every resource."""

    decisions: tuple[TaskDecision, ...]
    sequences: tuple[Sequence, ...] = ()
    solver: str = ""
    schema_version: int = SOLUTION_SCHEMA_VERSION
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.schema_version > SOLUTION_SCHEMA_VERSION or self.schema_version < 1:
            raise ValueError(f"schema_version: {fmt_value(self.schema_version)} is not supported")
        # sets, not list scans: a 50,000-task solution must validate in linear time
        tasks: set[str] = set()
        for i, d in enumerate(self.decisions):
            if d.task in tasks:
                raise ValueError(f"decisions[{i}].task: task {fmt_value(d.task)} decided twice")
            tasks.add(d.task)
        resources: set[str] = set()
        for i, s in enumerate(self.sequences):
            if s.resource in resources:
                raise ValueError(f"sequences[{i}].resource: resource {fmt_value(s.resource)} listed twice")
            resources.add(s.resource)

    def to_dict(self) -> dict[str, Any]:
        return encode(self)

    def to_json(self, path: str | Path | None = None) -> str:
        text = canonical_json(self) + "\n"  # = json.dumps(self.to_dict(), indent=1, allow_nan=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, data: Any) -> Solution:
        solution = decode(cls, data)
        try:  # solver-made meta is trusted; a file's meta must be plain, finite JSON
            check_json_value("meta", solution.meta)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        return solution

    @classmethod
    def from_json(cls, source: str | Path) -> Solution:
        return cls.from_dict(read_json(source))


# ---- building solutions from a solver's internal form ----------------------------------------


@dataclass
class Assignment:
    """A solver's choice for one task: mode index, option index and resource per op."""

    mode: int
    options: list[int]
    resources: list[str]


def activities_of(costs: CostTables, task: TaskCosts, a: Assignment) -> list[tuple[str, str | None]]:
    """(activity key, resource or None) of every activity the assignment creates, ops first."""
    mode = task.modes[a.mode]
    out: list[tuple[str, str | None]] = [
        (op_key(task.id, op.name), a.resources[i]) for i, op in enumerate(mode.ops)
    ]
    nodes = [mode.ops[i].options[a.options[i]].node for i in range(len(mode.ops))]
    for f in mode.flows:
        tr = costs.transfer(
            f, costs.endpoint_node(task, nodes, f.src), costs.endpoint_node(task, nodes, f.dst)
        )
        out.append((flow_key(task.id, mode, f), tr.channel))
    return out


def make_solution(
    costs: CostTables,
    assignments: Mapping[int, Assignment] | list[Assignment],
    start_s: Mapping[str, float],
    solver: str = "",
    meta: dict[str, Any] | None = None,
) -> Solution:
    """Build a Solution from per-task assignments and the solver's activity start times.

    The sequence on each resource is the order of the solver's start times
    (ties broken by the solver's insertion order of ``start_s``), so that the
    evaluator re-derives the same or an earlier schedule.
    """
    items = assignments.items() if isinstance(assignments, Mapping) else enumerate(assignments)
    decisions = []
    per_resource: dict[str, list[tuple[float, int, str]]] = {}
    rank = {k: i for i, k in enumerate(start_s)}
    for ti, a in items:
        task = costs.tasks[ti]
        mode = task.modes[a.mode]
        placements = []
        for i, op in enumerate(mode.ops):
            opt = op.options[a.options[i]]
            slot = opt.resources.index(a.resources[i]) if len(opt.resources) > 1 else 0
            placements.append(Placement(op.name, opt.node, opt.model, slot))
        decisions.append(TaskDecision(task.id, mode.name, tuple(placements)))
        for key, res in activities_of(costs, task, a):
            if res is not None:
                per_resource.setdefault(res, []).append((start_s[key], rank.get(key, 0), key))
    sequences = tuple(
        Sequence(r, tuple(k for _, _, k in sorted(acts))) for r, acts in sorted(per_resource.items())
    )
    return Solution(tuple(decisions), sequences, solver, meta=meta or {})


def decisions_to_assignments(costs: CostTables, solution: Solution) -> dict[int, Assignment]:
    """Map a solution's decisions back to index form; InputError naming the first bad field."""
    out: dict[int, Assignment] = {}
    for i, d in enumerate(solution.decisions):
        where = f"decisions[{i}]"
        ti = costs.task_index.get(d.task)
        if ti is None:
            raise InputError(f"{where}.task: unknown task {d.task!r}")
        task = costs.tasks[ti]
        mi = task.mode_index.get(d.mode)
        if mi is None:
            raise InputError(
                f"{where}.mode: task {d.task!r} has no mode {d.mode!r} (has {list(task.mode_index)})"
            )
        mode = task.modes[mi]
        placed = {p.op: (k, p) for k, p in enumerate(d.placements)}
        for name in placed:
            if name not in mode.op_index:
                raise InputError(f"{where}.placements: unknown op {name!r} in mode {d.mode!r}")
        options, resources = [], []
        for op in mode.ops:
            if op.name not in placed:
                raise InputError(f"{where}.placements: op {op.name!r} is not placed")
            k, p = placed[op.name]
            pw = f"{where}.placements[{k}]"
            match = [j for j, o in enumerate(op.options) if o.node == p.node and o.model == p.model]
            if not match:
                nodes = {o.node for o in op.options}
                if p.node not in nodes:
                    raise InputError(
                        f"{pw}.node: {p.node!r} cannot run {d.task}/{op.name} (unknown or out of range)"
                    )
                raise InputError(f"{pw}.model: {p.model!r} is not hosted on {p.node!r}")
            opt = op.options[match[0]]
            if p.slot >= len(opt.resources):
                raise InputError(
                    f"{pw}.slot: {p.slot} but {p.node}/{p.model} has {len(opt.resources)} slot(s)"
                )
            options.append(match[0])
            resources.append(opt.resources[p.slot])
        out[ti] = Assignment(mi, options, resources)
    return out


def sequences_dict(solution: Solution) -> dict[str, tuple[str, ...]]:
    return {s.resource: s.activities for s in solution.sequences}


def iter_activity_keys(solution: Solution) -> Iterable[str]:
    for s in solution.sequences:
        yield from s.activities
