"""Human-readable summaries and JSON records of instances, evaluations and results.

Tables are pandas DataFrames rendered with ``to_string``: one formatter for all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from offload_opt.evaluator import Evaluation
from offload_opt.instance import Instance, gpu_memory_need_gb
from offload_opt.solvers.base import Result


def _frame(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(none)"
    with pd.option_context("display.width", 200, "display.max_columns", 50, "display.max_colwidth", 60):
        return pd.DataFrame(rows).to_string(index=False, float_format=lambda x: f"{x:.4g}")


FAST_TABLE_ROWS = 2000  # show's tables from this many rows are laid out without pandas


AP_MODELS_V1 = "models (slots, backlog_s)"
AP_MODELS_GPU = "gpu[models] (slots, backlog_s, GB needed/GB)"


def _ap_models(inst, a) -> str:
    """The edge server in one cell: per GPU its models, slots, backlog and memory (weights + KV cache
    needed / the GPU's); for a version-1 AP, per model server."""
    if not a.gpus:
        return "; ".join(f"{s.model} ({s.slots}, {s.queue_backlog_s:g})" for s in a.servers)
    cells = []
    for g, grp in zip(a.gpus, a.slot_groups, strict=True):
        weights_gb, kv_gb = gpu_memory_need_gb(inst, a, g)
        cells.append(
            f"{g.id}[{', '.join(grp.models)}] ({g.slots}, {g.queue_backlog_s:g}, "
            f"{weights_gb + kv_gb:.1f}/{g.memory_gb:g})"
        )
    return "; ".join(cells)


def _difficulty_scale(inst: Instance) -> str:
    """How to read the difficulty column, which depends on the instance's composition rule (docs/model.md)."""
    ph = inst.physics
    if ph is None or ph.composition == "product":
        return "difficulty on MATH levels 1..5; composition: product of op qualities"
    return (
        f"difficulty on MATH levels; composition: {ph.composition}, uplift {ph.decomposition_uplift:g}: "
        "an op's difficulty is the level whose reasoning work equals its share, so parts of a task sit below level 1"
    )


def _show_frame(rows: list[dict[str, Any]]) -> str:
    """``_frame`` for show: the same text, laid out directly when the table is long.

    pandas' per-cell formatting was the largest cost of ``show`` on 50,000 tasks (200,000
    table rows); ``_plain_table`` writes the identical text for the plain cells show uses
    (tests compare the two) and declines anything else, which then goes to pandas.
    """
    if len(rows) >= FAST_TABLE_ROWS:
        text = _plain_table(rows)
        if text is not None:
            return text
    return _frame(rows)


def _plain_table(rows: list[dict[str, Any]]) -> str | None:
    """``pd.DataFrame(rows).to_string(index=False, float_format='{:.4g}')`` for plain cells, else None.

    Plain: every row has the same keys in the same order; cells are printable ASCII strings,
    ints, bools or finite floats. Columns are right-aligned to their widest cell or header and
    joined by one space; a column of ints and floats (pandas: float64) formats ints as floats,
    and the header of a numeric column (int, float or bool dtype) carries a leading space.
    """
    if not rows:
        return None
    names = list(rows[0])
    for row in rows:
        if list(row) != names:
            return None
    columns: list[list[str]] = []
    for name in names:
        if not _printable(name):
            return None
        values = [row[name] for row in rows]
        kinds = {type(v) for v in values}
        if not kinds <= {str, int, float, bool}:
            return None
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            return None
        if str in kinds and not all(_printable(v) for v in values if isinstance(v, str)):
            return None
        numeric_only = kinds <= {int, float}
        cells = [
            f"{v:.4g}" if isinstance(v, float) or (numeric_only and float in kinds) else str(v)
            for v in values
        ]
        header = " " + name if numeric_only or kinds == {bool} else name  # pandas: numeric dtype
        width = max(len(header), max(len(c) for c in cells))
        columns.append([header.rjust(width)] + [c.rjust(width) for c in cells])
    return "\n".join(" ".join(line) for line in zip(*columns, strict=True))


def _printable(text: str) -> bool:
    return text.isascii() and text.isprintable()


def show_instance(inst: Instance) -> str:
    """Users, APs and channels, links, hosted models and tasks with their plans."""
    out = [f"instance {inst.name!r}  (schema {inst.schema_version}, digest {inst.digest()})"]
    if inst.explicit is not None:
        ex = inst.explicit
        out.append(
            f"explicit-cost form, objective: {inst.objective.kind}; processors: {', '.join(ex.processors)}"
        )
        for job in ex.jobs:
            out.append(
                f"\njob {job.id} (release {job.release_s:g} s): {len(job.ops)} ops, {len(job.edges)} edges"
            )
            out.append(
                _show_frame(
                    [
                        {"op": o.id, **{p: d for p, d in zip(ex.processors, o.durations, strict=True)}}
                        for o in job.ops
                    ]
                )
            )
            out.append("edges: " + ", ".join(f"{e.src}->{e.dst} ({e.cost:g})" for e in job.edges))
        return "\n".join(out)
    obj = inst.objective
    out.append(
        f"objective: reward = {obj.accuracy_weight:g} x quality - {obj.latency_weight_per_s:g} x latency_s"
    )
    out.append(f"\nchannels ({len(inst.channels)})")
    out.append(
        _show_frame(
            [
                {
                    "channel": c.id,
                    "bandwidth_mhz": c.bandwidth_mhz,
                    "stations": c.n_stations,
                    "mac_efficiency": c.mac_efficiency,
                    "background": c.background_utilisation,
                    "aps": ",".join(a.id for a in inst.aps if a.channel == c.id),
                }
                for c in inst.channels
            ]
        )
    )
    out.append(f"\naccess points ({len(inst.aps)})")
    out.append(
        _show_frame(
            [
                {
                    "ap": a.id,
                    "x_m": a.position_m[0],
                    "y_m": a.position_m[1],
                    "channel": a.channel,
                    "hardware": a.hardware,
                    (AP_MODELS_GPU if any(x.gpus for x in inst.aps) else AP_MODELS_V1): _ap_models(inst, a),
                }
                for a in inst.aps
            ]
        )
    )
    out.append(f"\nusers ({len(inst.users)})")
    out.append(
        _show_frame(
            [
                {
                    "user": u.id,
                    "x_m": u.position_m[0],
                    "y_m": u.position_m[1],
                    "hardware": u.hardware,
                    "local_models": ",".join(u.local_models) or "-",
                    "nss": u.nss,
                }
                for u in inst.users
            ]
        )
    )
    out.append("\nlinks (user x AP: distance_m / snr_db / MCS / phy_rate_mbps)")
    rows = []
    for u in inst.users:
        row: dict[str, Any] = {"user": u.id}
        for a in inst.aps:
            ln = inst.links_of_user[u.id].get(a.id)
            row[a.id] = (
                "out of range"
                if ln is None
                else f"{ln.distance_m:.1f} / {ln.snr_db:.1f} / {ln.mcs} / {ln.phy_rate_mbps:.1f}"
            )
        rows.append(row)
    out.append(_show_frame(rows))
    out.append(f"\ntasks ({len(inst.tasks)}): whole-task estimate and decomposition ({_difficulty_scale(inst)})")
    rows = []
    for t in inst.tasks:
        rows.append(
            {
                "task": t.id,
                "user": t.user,
                "release_s": t.release_s,
                "prompt_tok": t.prompt_tokens,
                "payload": f"{t.payload_kind} {t.payload_bytes} B",
                "step": "whole",
                "difficulty": t.whole.difficulty,
                "in_tok": t.prompt_tokens,
                "out_tok": t.whole.output_tokens,
                "depends_on": "",
                "deadline_s": t.deadline_s if t.deadline_s is not None else "-",
            }
        )
        if t.decomposition is not None:
            for s in t.decomposition.subtasks:
                rows.append(
                    {
                        "task": "",
                        "user": "",
                        "release_s": "",
                        "prompt_tok": "",
                        "payload": "",
                        "step": s.id + (" (payload)" if s.uses_payload else ""),
                        "difficulty": s.difficulty,
                        "in_tok": s.input_tokens,
                        "out_tok": s.output_tokens,
                        "depends_on": ",".join(s.parents) or "-",
                        "deadline_s": "",
                    }
                )
            ag = t.decomposition.aggregation
            rows.append(
                {
                    "task": "",
                    "user": "",
                    "release_s": "",
                    "prompt_tok": "",
                    "payload": "",
                    "step": "agg",
                    "difficulty": ag.difficulty,
                    "in_tok": ag.input_tokens,
                    "out_tok": ag.output_tokens,
                    "depends_on": "all subtasks",
                    "deadline_s": "",
                }
            )
    out.append(_show_frame(rows))
    return "\n".join(out)


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def task_rows(ev: Evaluation, where: dict[str, str] | None = None) -> list[dict[str, Any]]:
    rows = []
    for m in ev.tasks:
        row: dict[str, Any] = {"task": m.task, "mode": m.mode, "placement": m.placement}
        if where is not None:
            row["where"] = where.get(m.task, "")
        row.update(
            {
                "latency_s": m.latency_s,
                "airtime_s": m.airtime_s,
                "backhaul_s": m.backhaul_s,
                "queue_s": m.queue_s,
                "compute_s": m.compute_s,
                "aggregation_s": m.aggregation_s,
                "quality": m.quality,
                "reward": m.reward,
            }
        )
        rows.append(row)
    return rows


def _where(result_or_solution) -> dict[str, str]:
    sol = result_or_solution
    out = {}
    for d in sol.decisions:
        out[d.task] = " ".join(
            f"{p.op}@{p.node.split(':', 1)[1]}" + (f"/{p.model}" if p.model else "") for p in d.placements
        )
    return out


def evaluation_table(ev: Evaluation, solution=None) -> str:
    lines = [_frame(task_rows(ev, _where(solution) if solution is not None else None))]
    lines.append(_totals(ev))
    return "\n".join(lines)


@dataclass(frozen=True)
class LatencyShares:
    """Where the tasks' latency goes: shares of the summed critical-path latency of all tasks.

    Each task's latency is split along its critical path in the evaluator's schedule
    (``TaskMetrics``): ``air`` is time transferring on a WiFi channel (the explicit form's
    communication), ``queue`` time waiting for a busy device, server slot or channel (or a
    server's initial backlog) once the data was ready, ``compute`` model time (ops and
    aggregation), ``backhaul`` wired AP-to-AP transfers. The four shares sum to 1.
    ``channel_queue`` is the part of ``queue`` spent waiting for a busy channel.
    """

    air: float
    queue: float
    compute: float
    backhaul: float
    total_latency_s: float
    n_tasks: int
    channel_queue: float = 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "air": self.air,
            "queue": self.queue,
            "channel_queue": self.channel_queue,
            "compute": self.compute,
            "backhaul": self.backhaul,
            "total_latency_s": self.total_latency_s,
            "n_tasks": self.n_tasks,
        }


def latency_shares(ev: Evaluation) -> LatencyShares | None:
    """The shares of latency spent on air, in queues, in compute and on the backhaul; None without latency.

    Computed from the evaluator's per-task critical-path breakdown, so every solver's
    answer is judged the same way; shares of the sum over tasks (a long task weighs more).
    """
    if ev.objective is None or not ev.tasks:
        return None
    air = sum(t.airtime_s for t in ev.tasks)
    queue = sum(t.queue_s for t in ev.tasks)
    compute = sum(t.compute_s + t.aggregation_s for t in ev.tasks)
    backhaul = sum(t.backhaul_s for t in ev.tasks)
    total = air + queue + compute + backhaul
    if not total > 0:
        return None
    chan = sum(t.channel_queue_s for t in ev.tasks)
    return LatencyShares(
        air / total, queue / total, compute / total, backhaul / total, total, len(ev.tasks), chan / total
    )


def latency_shares_line(ev: Evaluation) -> str | None:
    """One line stating the latency shares (``latency_shares``), or None when there is none."""
    sh = latency_shares(ev)
    if sh is None:
        return None
    air = "communication" if all(t.placement == "dag" for t in ev.tasks) else "air"
    return (
        f"latency on critical paths: {air} {100 * sh.air:.1f} %, queue {100 * sh.queue:.1f} % "
        f"(for the channel {100 * sh.channel_queue:.1f} %), "
        f"compute {100 * sh.compute:.1f} %, backhaul {100 * sh.backhaul:.1f} % "
        f"(of {sh.total_latency_s:.4g} s over {sh.n_tasks} tasks)"
    )


def _totals(ev: Evaluation) -> str:
    if ev.objective is None:
        return "no feasible schedule"
    head = (
        f"objective ({'maximise reward' if ev.sense == 'max' else 'minimise makespan'}): {ev.objective:.6g}"
        f"   mean latency {ev.mean_latency_s:.4g} s   mean quality {ev.mean_quality:.4g}"
        f"   makespan {ev.makespan_s:.4g} s"
    )
    shares = latency_shares_line(ev)
    return head if shares is None else head + "\n" + shares


def result_table(r: Result) -> str:
    lines = []
    if r.evaluation is not None and r.evaluation.tasks:
        lines.append(_frame(task_rows(r.evaluation, _where(r.solution))))
    gap = "-" if r.gap is None else f"{100 * r.gap:.3g}%"
    bound = "-" if r.bound is None else f"{r.bound:.6g}"
    obj = "-" if r.objective is None else f"{r.objective:.6g}"
    lines.append(
        f"solver {r.solver}: status {r.status} ({r.termination})   objective {obj}   bound {bound}   "
        f"gap {gap}   runtime {r.runtime_s:.3f} s (build {r.build_time_s:.3f} s)"
    )
    search = [
        f"{k} {r.info[k]:g}"
        for k in ("iterations", "columns", "grid", "nodes")
        if isinstance(r.info.get(k), int | float)
    ]
    if search:  # what an exact search did (e.g. cg: iterations, columns, grid in seconds, B&P nodes)
        lines.append("search: " + ", ".join(search))
    if r.evaluation is not None and r.evaluation.objective is not None:
        lines.append(_totals(r.evaluation))
    for v in r.evaluation.violations if r.evaluation else []:
        lines.append(f"violation: {v}")
    if r.claim_mismatch is not None:
        lines.append(f"warning: {r.claim_mismatch}")
    return "\n".join(lines)


def evaluation_json(ev: Evaluation, solver: str = "") -> dict[str, Any]:
    return {
        "solver": solver,
        "feasible": ev.feasible,
        "objective": _clean(ev.objective),
        "sense": ev.sense,
        "mean_latency_s": _clean(ev.mean_latency_s),
        "mean_quality": _clean(ev.mean_quality),
        "makespan_s": ev.makespan_s,
        "violations": ev.violations,
        "latency_shares": _shares_json(ev),
        "tasks": [{k: _clean(v) for k, v in row.items()} for row in task_rows(ev)],
    }


def _shares_json(ev: Evaluation) -> dict[str, float | int] | None:
    sh = latency_shares(ev)
    return None if sh is None else sh.as_dict()


def result_json(r: Result) -> dict[str, Any]:
    ev = r.evaluation
    out = {
        "solver": r.solver,
        "status": r.status,
        "termination": r.termination,
        "objective": _clean(r.objective),
        "bound": _clean(r.bound),
        "gap": _clean(r.gap),
        "runtime_s": r.runtime_s,
        "build_time_s": r.build_time_s,
        "feasible": r.feasible,
        "sense": r.sense,
    }
    if ev is not None:
        rest = evaluation_json(ev, r.solver)
        out.update(
            {
                k: rest[k]
                for k in (
                    "mean_latency_s",
                    "mean_quality",
                    "makespan_s",
                    "latency_shares",
                    "violations",
                    "tasks",
                )
            }
        )
    else:
        out.update({"latency_shares": None, "violations": [], "tasks": []})
    out["info"] = {k: v for k, v in r.info.items() if isinstance(v, str | int | float | bool | None)}
    return out
