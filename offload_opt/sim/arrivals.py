"""Arrivals for the simulation over time: who sends which task when.

Two sources: a Poisson process per user (the total ``rate_per_s`` split evenly
over the users), or a trace file of ``arrival_s,user`` rows. A task's content
(prompt, payload, the planner's predictions and the actual values beside them)
comes from the scenario's own generator, so a simulated task is distributed
exactly like a task of a static instance of the same scenario. Every concern
draws from its own seeded stream, so the same seed gives the same arrivals
and the same success draws whatever the policy (common random numbers).
"""

from __future__ import annotations

import csv
import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from offload_opt._serde import InputError
from offload_opt.instance import Instance, Task


@dataclass(frozen=True)
class Arrival:
    """One task entering the network: its content (release = arrival time) and its success draw."""

    task: Task
    success_u: float  # uniform in [0, 1): the task succeeds when success_u < its actual quality


@dataclass(frozen=True)
class TraceRow:
    arrival_s: float
    user: str


def check_positive_number(name: str, value: float | None) -> float:
    """``value`` as a finite float > 0; InputError naming ``name`` otherwise."""
    if value is None or isinstance(value, bool):
        raise InputError(f"{name}: must be a number > 0, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise InputError(f"{name}: must be a finite number > 0, got {value!r}")
    return v


def read_trace(path: str | Path) -> list[TraceRow]:
    """Read a CSV trace with columns ``arrival_s`` and ``user`` (sorted, non-negative times)."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror})") from None
    reader = csv.DictReader(text.splitlines())
    fields = reader.fieldnames or []
    for col in ("arrival_s", "user"):
        if col not in fields:
            raise InputError(f"{p}: missing column {col!r} (a trace has columns arrival_s,user)")
    rows: list[TraceRow] = []
    last = 0.0
    for line, rec in enumerate(reader, start=2):
        raw = (rec.get("arrival_s") or "").strip()
        try:
            t = float(raw)
        except ValueError:
            raise InputError(f"{p} line {line}: arrival_s: expected a number, got {raw!r}") from None
        if not math.isfinite(t) or t < 0:
            raise InputError(f"{p} line {line}: arrival_s: must be a finite number >= 0, got {raw!r}")
        if t < last:
            raise InputError(f"{p} line {line}: arrival_s: times must be sorted, got {raw} after {last!r}")
        last = t
        user = (rec.get("user") or "").strip()
        rows.append(TraceRow(t, user))
    if not rows:
        raise InputError(f"{p}: the trace has no arrivals")
    return rows


def poisson_trace(users: list[str], rate_per_s: float, duration_s: float, seed: int) -> list[TraceRow]:
    """Poisson arrivals per user at ``rate_per_s / len(users)`` each over ``[0, duration_s)``, sorted."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[0])
    per_user = rate_per_s / len(users)
    rows: list[TraceRow] = []
    for u in users:
        n = int(rng.poisson(per_user * duration_s))
        rows.extend(TraceRow(float(t), u) for t in rng.uniform(0.0, duration_s, size=n))
    order = {u: i for i, u in enumerate(users)}
    rows.sort(key=lambda r: (r.arrival_s, order[r.user]))
    return rows


def arrivals_from(
    trace: list[TraceRow], templates: dict[str, list[Task]], seed: int, cycle: bool
) -> list[Arrival]:
    """Tasks for ``trace``: the k-th arrival of a user takes its k-th template task (cycling if ``cycle``).

    Task ids are ``t0, t1, ...`` in arrival order; every arrival draws its success uniform
    from the seed's success stream in that order.
    """
    rng_success = np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[1])
    draws = rng_success.random(len(trace))
    used: dict[str, int] = {}
    out: list[Arrival] = []
    for i, row in enumerate(trace):
        pool = templates.get(row.user)
        if not pool:
            known = ", ".join(sorted(templates))
            raise InputError(f"trace: arrival {i}: unknown user {row.user!r} (known: {known})")
        k = used.get(row.user, 0)
        used[row.user] = k + 1
        if k >= len(pool) and not cycle:
            raise InputError(f"trace: user {row.user!r} has more arrivals than template tasks ({len(pool)})")
        tmpl = pool[k % len(pool)]
        task = dataclasses.replace(tmpl, id=f"t{i}", release_s=row.arrival_s)
        out.append(Arrival(task, float(draws[i])))
    return out


def templates_of(instance: Instance) -> dict[str, list[Task]]:
    """The instance's tasks grouped by owner, in instance order (templates for arrivals)."""
    return templates_from(instance.tasks)


def templates_from(tasks: tuple[Task, ...] | list[Task]) -> dict[str, list[Task]]:
    """Tasks grouped by owner, in their order (``generator.generate_tasks``'s pool: templates for arrivals)."""
    out: dict[str, list[Task]] = {}
    for t in tasks:
        out.setdefault(t.user, []).append(t)
    return out
