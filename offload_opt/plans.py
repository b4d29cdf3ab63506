"""Real planner outputs (JSON Lines) read, validated and placed in a generated network.

A plans file holds one task per line, as a planner produced it: the predicted
whole-task difficulty and output tokens, optionally a decomposition (subtasks
with their dependencies and an aggregation step), optionally the actual values
observed when the task ran. ``read_plans`` checks every line and names the line
and field of the first fault; ``place_plans`` puts the tasks on the users of a
generated network (``generate(scenario, seed)``: same APs, users, links and
models), so the rest of offload_opt can solve and evaluate them.
``plans_of`` writes an instance's tasks back in the same format. The format
is documented in docs/model.md, "Planners and imported plans".
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from offload_opt._serde import InputError, check_key_id
from offload_opt.catalogue import load_catalogue
from offload_opt.generator import SCENARIOS, Scenario, _channels, generate
from offload_opt.instance import (
    MAX_DURATION_S,
    MAX_RELEASE_S,
    MAX_TOKENS,
    Actual,
    Aggregation,
    Decomposition,
    Instance,
    PayloadKind,
    Subtask,
    Task,
    WholeEstimate,
)

PAYLOAD_KINDS = ("text", "image", "document")
PLACEMENT_STREAM = 4  # SeedSequence(seed).spawn(5)[4]: the generator's first four streams stay as they were
MAX_PLAN_BYTES = 64 * 2**20
TASK_FIELDS = {
    "id",
    "text",
    "user",
    "release_s",
    "deadline_s",
    "prompt_tokens",
    "payload_kind",
    "payload_bytes",
    "whole",
    "subtasks",
    "aggregation",
}
WHOLE_FIELDS = {"difficulty", "output_tokens", "actual"}
SUBTASK_FIELDS = {"id", "difficulty", "input_tokens", "output_tokens", "depends_on", "uses_payload", "actual"}
AGGREGATION_FIELDS = {"difficulty", "input_tokens", "output_tokens", "actual"}
ACTUAL_FIELDS = {"difficulty", "output_tokens"}


@dataclass(frozen=True)
class PlannedTask:
    """One line of a plans file, validated; ``None`` fields are filled in at placement."""

    line: int
    id: str | None
    text: str | None
    user: str | None
    release_s: float | None
    deadline_s: float | None
    prompt_tokens: int
    payload_kind: PayloadKind
    payload_bytes: int
    whole: WholeEstimate
    decomposition: Decomposition | None


class _LineError(Exception):
    """A fault at a field of the current line (turned into one InputError naming file and line)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")


def _fmt(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _obj(node: Any, path: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise _LineError(path or "<line>", f"expected a JSON object, got {_fmt(node)}")
    unknown = sorted(set(node) - allowed)
    if unknown:
        where = f"{path}.{unknown[0]}" if path else unknown[0]
        raise _LineError(where, f"unknown field (known: {', '.join(sorted(allowed))})")
    return node


def _req(node: dict[str, Any], key: str, path: str) -> Any:
    if key not in node or node[key] is None:
        raise _LineError(f"{path}.{key}" if path else key, "missing required field")
    return node[key]


def _tokens(value: Any, path: str, lo: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= MAX_TOKENS:
        raise _LineError(path, f"must be an integer in [{lo}, {MAX_TOKENS}], got {_fmt(value)}")
    return value


def _number(value: Any, path: str, lo: float, hi: float, open_lo: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
    if not ok or not (lo < value if open_lo else lo <= value) or value > hi:
        bracket = "(" if open_lo else "["
        raise _LineError(path, f"must be a number in {bracket}{lo:g}, {hi:g}], got {_fmt(value)}")
    return float(value)


def _difficulty(value: Any, path: str) -> float:
    return _number(value, path, 1.0, 5.0)


def _op_difficulty(value: Any, path: str) -> float:
    """A subtask's or aggregation step's difficulty: in (0, 5], since an op may carry less work than a
    level-1 task under the work-share rule (docs/model.md "Quality of a decomposed task")."""
    return _number(value, path, 0.0, 5.0, open_lo=True)


def _actual(node: Any, path: str, op: bool = False) -> Actual | None:
    if node is None:
        return None
    a = _obj(node, path, ACTUAL_FIELDS)
    rate = _op_difficulty if op else _difficulty
    diff = rate(a["difficulty"], f"{path}.difficulty") if a.get("difficulty") is not None else None
    out = (
        _tokens(a["output_tokens"], f"{path}.output_tokens", 0)
        if a.get("output_tokens") is not None
        else None
    )
    return Actual(diff, out)


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise _LineError(path, f"must be a non-empty string, got {_fmt(value)}")
    return value


def _decomposition(task: dict[str, Any]) -> Decomposition | None:
    subs = task.get("subtasks")
    if subs is None or subs == []:
        if task.get("aggregation") is not None:
            raise _LineError("aggregation", "given without subtasks")
        return None
    if not isinstance(subs, list):
        raise _LineError("subtasks", f"must be a list, got {_fmt(subs)}")
    parsed: list[tuple[str, dict[str, Any], tuple[str, ...]]] = []
    seen: set[str] = set()
    for i, node in enumerate(subs):
        path = f"subtasks[{i}]"
        s = _obj(node, path, SUBTASK_FIELDS)
        sid = _str(s["id"], f"{path}.id") if s.get("id") is not None else f"s{i}"
        if sid in seen:
            raise _LineError(f"{path}.id", f"duplicate subtask id {_fmt(sid)}")
        seen.add(sid)
        deps = s.get("depends_on", [])
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            raise _LineError(f"{path}.depends_on", f"must be a list of subtask ids, got {_fmt(deps)}")
        parsed.append((sid, s, tuple(deps)))
    for i, (_sid, _, deps) in enumerate(parsed):
        for j, d in enumerate(deps):
            if d not in seen:
                raise _LineError(f"subtasks[{i}].depends_on[{j}]", f"unknown dependency {_fmt(d)}")
    cycle = _find_cycle({sid: deps for sid, _, deps in parsed})
    if cycle:
        raise _LineError("subtasks", "dependency cycle " + " -> ".join(cycle))
    out = []
    for i, (sid, s, deps) in enumerate(parsed):
        path = f"subtasks[{i}]"
        uses = s.get("uses_payload", False)
        if not isinstance(uses, bool):
            raise _LineError(f"{path}.uses_payload", f"must be true or false, got {_fmt(uses)}")
        out.append(
            _build(
                path,
                Subtask,
                sid,
                _op_difficulty(_req(s, "difficulty", path), f"{path}.difficulty"),
                _tokens(_req(s, "input_tokens", path), f"{path}.input_tokens"),
                _tokens(_req(s, "output_tokens", path), f"{path}.output_tokens"),
                deps,
                uses,
                _actual(s.get("actual"), f"{path}.actual", op=True),
            )
        )
    a = _obj(_req(task, "aggregation", ""), "aggregation", AGGREGATION_FIELDS)
    agg = Aggregation(
        _op_difficulty(_req(a, "difficulty", "aggregation"), "aggregation.difficulty"),
        _tokens(_req(a, "input_tokens", "aggregation"), "aggregation.input_tokens"),
        _tokens(_req(a, "output_tokens", "aggregation"), "aggregation.output_tokens"),
        _actual(a.get("actual"), "aggregation.actual", op=True),
    )
    return _build("subtasks", Decomposition, tuple(out), agg)


def _build(path: str, cls: Any, *args: Any) -> Any:
    """``cls(*args)``; the dataclass's own ValueError becomes a fault at ``path``."""
    try:
        return cls(*args)
    except ValueError as exc:
        raise _LineError(path, str(exc)) from None


def _find_cycle(parents: dict[str, tuple[str, ...]]) -> list[str] | None:
    """A dependency cycle as a list of ids (first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for p in parents[node]:
            if state.get(p) == 1:
                return stack[stack.index(p) :] + [p]
            if p not in state:
                found = visit(p)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in parents:
        if node not in state:
            found = visit(node)
            if found:
                return found[::-1]  # dependency order: a -> b means b depends on a
    return None


def _task(record: Any, line: int) -> PlannedTask:
    t = _obj(record, "", TASK_FIELDS)
    tid = _str(t["id"], "id") if t.get("id") is not None else None
    if tid is not None:
        try:
            check_key_id("id", tid)  # the id rules of tasks (no '/' or '>')
        except ValueError as exc:
            raise _LineError("id", str(exc).partition(": ")[2]) from None
    text = t.get("text")
    if text is not None and not isinstance(text, str):
        raise _LineError("text", f"must be a string, got {_fmt(text)}")
    user = _str(t["user"], "user") if t.get("user") is not None else None
    release = (
        _number(t["release_s"], "release_s", 0.0, MAX_RELEASE_S) if t.get("release_s") is not None else None
    )
    deadline = (
        _number(t["deadline_s"], "deadline_s", 0.0, MAX_DURATION_S, open_lo=True)
        if t.get("deadline_s") is not None
        else None
    )
    prompt = _tokens(_req(t, "prompt_tokens", ""), "prompt_tokens")
    kind = t.get("payload_kind", "text")
    if kind not in PAYLOAD_KINDS:
        raise _LineError("payload_kind", f"must be one of {', '.join(PAYLOAD_KINDS)}, got {_fmt(kind)}")
    payload = t.get("payload_bytes", 0)
    if isinstance(payload, bool) or not isinstance(payload, int) or payload < 0:
        raise _LineError("payload_bytes", f"must be an integer >= 0, got {_fmt(payload)}")
    w = _obj(_req(t, "whole", ""), "whole", WHOLE_FIELDS)
    whole = _build(
        "whole",
        WholeEstimate,
        _difficulty(_req(w, "difficulty", "whole"), "whole.difficulty"),
        _tokens(_req(w, "output_tokens", "whole"), "whole.output_tokens"),
        _actual(w.get("actual"), "whole.actual"),
    )
    return PlannedTask(
        line,
        tid,
        text,
        user,
        release,
        deadline,
        prompt,
        cast(PayloadKind, kind),
        payload,
        whole,
        _decomposition(t),
    )


def parse_plans(text: str, source: str = "<plans>") -> list[PlannedTask]:
    """The tasks of a JSON Lines text; InputError ``<source> line k: <field>: <problem>`` on the first fault."""
    tasks: list[PlannedTask] = []
    ids: dict[str, int] = {}
    for k, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue  # blank lines are allowed (e.g. a trailing newline)
        try:
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise _LineError("<line>", f"bad JSON ({exc.msg} at column {exc.colno})") from None
            task = _task(record, k)
            if task.id is not None:
                if task.id in ids:
                    raise _LineError(
                        "id", f"duplicate task id {_fmt(task.id)} (first on line {ids[task.id]})"
                    )
                ids[task.id] = k
        except _LineError as exc:
            raise InputError(f"{source} line {k}: {exc}") from None
        tasks.append(task)
    if not tasks:
        raise InputError(f"{source}: no tasks (expected one JSON object per line)")
    return tasks


def read_plans(path: str | Path) -> list[PlannedTask]:
    """Read and validate a plans file (JSON Lines, UTF-8)."""
    p = Path(path)
    if p.stat().st_size > MAX_PLAN_BYTES:
        raise InputError(f"{path}: larger than {MAX_PLAN_BYTES // 2**20} MiB; split the plans file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return parse_plans(text, str(path))


def place_plans(
    tasks: list[PlannedTask],
    scenario: Scenario | str = "default",
    seed: int = 0,
    name: str | None = None,
    source: str | None = None,
    digest: str | None = None,
    **overrides: Any,
) -> Instance:
    """An instance with ``tasks`` on the network of ``generate(scenario, seed, **overrides)``.

    Users: a task's ``user`` if given (it must exist in that network), else the network's users in turn
    (task k on user k mod n). Releases: a task's ``release_s`` if given, else uniform in
    [0, scenario.release_window_s] from the placement stream (``SeedSequence(seed).spawn(5)[4]``), so the
    same file, scenario and seed give the same instance. Deadlines default to the scenario's.
    """
    net = generate(scenario, seed=seed, **overrides)
    sc = Scenario(**net.meta["scenario"])
    users = [u.id for u in net.users]
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(PLACEMENT_STREAM + 1)[PLACEMENT_STREAM])
    placed: list[Task] = []
    texts: dict[str, str] = {}
    taken = {t.id for t in tasks if t.id is not None}
    auto = (f"t{k}" for k in range(len(tasks) + len(taken) + 1) if f"t{k}" not in taken)
    for k, t in enumerate(tasks):
        where = f"{source or '<plans>'} line {t.line}"
        if t.user is not None and t.user not in users:
            raise InputError(
                f"{where}: user: unknown user {t.user!r} (the network has {users[0]}..{users[-1]})"
            )
        user = t.user if t.user is not None else users[k % len(users)]
        release = round(float(rng.uniform(0, sc.release_window_s)), 4) if t.release_s is None else t.release_s
        tid = t.id if t.id is not None else next(auto)
        deadline = t.deadline_s if t.deadline_s is not None else sc.deadline_s
        try:
            task = Task(
                tid,
                user,
                release,
                t.prompt_tokens,
                t.whole,
                t.payload_bytes,
                t.payload_kind,
                t.decomposition,
                deadline,
            )
        except ValueError as exc:
            raise InputError(f"{where}: {exc}") from None
        placed.append(task)
        if t.text is not None:
            texts[tid] = t.text
    provenance: dict[str, Any] = {
        "source": Path(source).name if source else None,
        "sha256": digest,
        "tasks": len(placed),
    }
    if texts:
        provenance["texts"] = texts
    meta = {
        "generator": "offload_opt.plans.place_plans",
        "seed": int(seed),
        "scenario": asdict(sc),
        "plans": provenance,
    }
    default_name = f"plans-{Path(source).stem if source else 'inline'}-s{seed}"
    # channel contention depends on the traffic the tasks offer: recompute it for the placed tasks, over the
    # span their releases cover (the scenario's window, or longer when the file's releases go beyond it)
    span = max([sc.release_window_s, *(t.release_s for t in placed)])
    channels = _channels(
        sc.replace(release_window_s=span),
        load_catalogue(),
        [a.channel for a in net.aps],
        list(net.aps),
        list(net.links),
        placed,
    )
    return net.replace(tasks=tuple(placed), channels=tuple(channels), name=name or default_name, meta=meta)


def import_plans(
    path: str | Path,
    scenario: Scenario | str = "default",
    seed: int = 0,
    name: str | None = None,
    **overrides: Any,
) -> Instance:
    """``place_plans(read_plans(path), ...)``, recording the file's name and SHA-256 in the instance's meta."""
    if isinstance(scenario, str) and scenario not in SCENARIOS:
        raise InputError(f"scenario: unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    tasks = read_plans(path)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return place_plans(tasks, scenario, seed, name=name, source=str(path), digest=digest, **overrides)


def _actual_record(a: Actual | None) -> dict[str, Any] | None:
    if a is None:
        return None
    out = {
        k: v for k, v in (("difficulty", a.difficulty), ("output_tokens", a.output_tokens)) if v is not None
    }
    return out or None


def _with_actual(record: dict[str, Any], a: Actual | None) -> dict[str, Any]:
    actual = _actual_record(a)
    if actual is not None:
        record["actual"] = actual
    return record


def plans_of(instance: Instance) -> list[dict[str, Any]]:
    """The instance's tasks as plans-file records (one dict per line), every field explicit."""
    texts = (
        instance.meta.get("plans", {}).get("texts", {})
        if isinstance(instance.meta.get("plans"), dict)
        else {}
    )
    out = []
    for t in instance.tasks:
        rec: dict[str, Any] = {"id": t.id}
        if t.id in texts:
            rec["text"] = texts[t.id]
        rec.update(
            {
                "user": t.user,
                "release_s": t.release_s,
                "prompt_tokens": t.prompt_tokens,
                "payload_kind": t.payload_kind,
                "payload_bytes": t.payload_bytes,
            }
        )
        if t.deadline_s is not None:
            rec["deadline_s"] = t.deadline_s
        rec["whole"] = _with_actual(
            {"difficulty": t.whole.difficulty, "output_tokens": t.whole.output_tokens}, t.whole.actual
        )
        if t.decomposition is not None:
            rec["subtasks"] = [
                _with_actual(
                    {
                        "id": s.id,
                        "difficulty": s.difficulty,
                        "input_tokens": s.input_tokens,
                        "output_tokens": s.output_tokens,
                        "depends_on": list(s.parents),
                        "uses_payload": s.uses_payload,
                    },
                    s.actual,
                )
                for s in t.decomposition.subtasks
            ]
            agg = t.decomposition.aggregation
            rec["aggregation"] = _with_actual(
                {
                    "difficulty": agg.difficulty,
                    "input_tokens": agg.input_tokens,
                    "output_tokens": agg.output_tokens,
                },
                agg.actual,
            )
        out.append(rec)
    return out


def format_plans(records: list[dict[str, Any]]) -> str:
    """JSON Lines text of ``records`` (one compact object per line)."""
    return "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in records)
