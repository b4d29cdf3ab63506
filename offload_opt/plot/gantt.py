"""Gantt chart of an evaluated schedule: one row per device, edge model-server slot and WiFi channel.

Activities without a shared resource are either instantaneous (same node:
not drawn) or backhaul deliveries between APs (drawn on a separate
``backhaul`` row, where they may overlap: the wired network is not modelled
as a bottleneck).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from offload_opt.evaluator import ActivityTime, Evaluation
from offload_opt.plot._common import new_axes, save

BACKHAUL_ROW = "backhaul"
_GROUP = {"dev": 0, "proc": 0, "srv": 1, "chan": 2}


def row_of(act: ActivityTime) -> str | None:
    """The Gantt row of an activity: its resource, ``backhaul``, or None (instantaneous, not drawn)."""
    if act.resource is not None:
        return act.resource
    if act.end_s > act.start_s:
        return BACKHAUL_ROW
    return None


def row_label(row: str) -> str:
    """Readable row name: ``dev:u0`` -> ``device u0``, ``srv:ap0:m:1`` -> ``ap0 m slot 1``."""
    kind, _, rest = row.partition(":")
    if kind == "dev":
        return f"device {rest}"
    if kind == "srv":
        ap, _, tail = rest.partition(":")
        model, _, slot = tail.rpartition(":")
        return f"{ap} {model} slot {slot}"
    if kind == "chan":
        return f"channel {rest}"
    if kind == "proc":
        return f"processor {rest}"
    return row


def _row_sort_key(row: str) -> tuple[int, list[tuple[int, int | str]]]:
    """Group (devices, servers, channels, others, backhaul), then natural order: chan:36 before chan:100."""
    if row == BACKHAUL_ROW:
        return (9, [])
    parts = [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", row) if p]
    return (_GROUP.get(row.split(":", 1)[0], 5), parts)


def gantt_rows(ev: Evaluation) -> list[str]:
    """The rows drawn for ``ev``, top to bottom: devices, server slots, channels, backhaul."""
    rows = {r for a in ev.schedule.values() if (r := row_of(a)) is not None}
    return sorted(rows, key=_row_sort_key)


def plot_schedule(
    ev: Evaluation,
    ax: Axes | None = None,
    title: str | None = None,
    busy_until_s: Mapping[str, float] | None = None,
) -> Axes:
    """Draw the schedule of ``ev``; one bar (a Rectangle with ``gid`` = activity key) per activity.

    ``busy_until_s`` (resource -> time) shades work already queued on a
    resource before the instance starts (the model servers' backlog).
    """
    if not ev.schedule:
        raise ValueError(
            "schedule: the solution has no schedule to draw (it is malformed; evaluate it first)"
        )
    rows = gantt_rows(ev)
    if ax is None:
        ax = new_axes((9.0, max(3.0, 0.35 * len(rows) + 1.5)))
    y_of = {r: i for i, r in enumerate(rows)}
    tasks = list(
        dict.fromkeys(a.task for a in sorted(ev.schedule.values(), key=lambda a: (a.start_s, a.key)))
    )
    palette = colormaps["tab10" if len(tasks) <= 10 else "tab20"]
    colour = {t: palette(i % palette.N) for i, t in enumerate(tasks)}
    end = max((a.end_s for a in ev.schedule.values()), default=1.0) or 1.0
    for res, t in (busy_until_s or {}).items():
        if res in y_of and t > 0:
            ax.barh(
                y_of[res],
                t,
                left=0.0,
                height=0.7,
                color="0.85",
                hatch="///",
                edgecolor="0.6",
                lw=0.0,
                gid=f"backlog:{res}",
            )
    for act in sorted(ev.schedule.values(), key=lambda a: a.key):
        row = row_of(act)
        if row is None:
            continue
        kind_alpha = 0.55 if act.kind in ("transfer", "backhaul") else 0.95
        (bar,) = ax.barh(
            y_of[row],
            act.end_s - act.start_s,
            left=act.start_s,
            height=0.7,
            color=colour[act.task],
            alpha=kind_alpha,
            edgecolor="black",
            lw=0.4,
        )
        bar.set_gid(act.key)
        if act.end_s - act.start_s > 0.04 * end:
            ax.text(
                0.5 * (act.start_s + act.end_s),
                y_of[row],
                act.key if act.kind == "op" else act.task,
                ha="center",
                va="center",
                fontsize=6,
                clip_on=True,
            )
    ax.set_yticks(range(len(rows)), [row_label(r) for r in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0.0, end * 1.02)
    ax.set_xlabel("time (s)")
    ax.grid(axis="x", alpha=0.3)
    handles = [Patch(color=colour[t], label=t) for t in tasks]
    if busy_until_s:
        handles.append(Patch(facecolor="0.85", hatch="///", edgecolor="0.6", label="backlog"))
    ax.legend(
        handles=handles,
        title="task (pale: transfers)",
        fontsize=7,
        title_fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        frameon=False,
    )
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def server_backlog(instance) -> dict[str, float]:
    """Resource -> queue backlog (s) of every edge slot (GPU slot, or v1 model-server slot)."""
    from offload_opt.costs import server_resource

    return {
        server_resource(a.id, g.id, k): g.queue_backlog_s
        for a in instance.aps
        for g in a.slot_groups
        for k in range(g.slots)
    }


def save_schedule_plot(
    ev: Evaluation,
    path: str | Path,
    title: str | None = None,
    busy_until_s: Mapping[str, float] | None = None,
) -> Path:
    """Draw ``plot_schedule`` on a new figure and write it to ``path``."""
    return save(plot_schedule(ev, title=title, busy_until_s=busy_until_s), path)
