"""Readers of the standard scheduling benchmark formats into the explicit-cost form.

Two formats, the ones the field's benchmark sets ship in:

- ``fjs``: flexible job shop (Brandimarte 1993; also Kacem 2002, Fattahi 2007,
  Hurink 1994 ...). First line ``<jobs> <machines> [<mean machines per op>]``,
  then one line per job: ``<ops>`` and, per op, ``<k>`` followed by ``k`` pairs
  ``<machine> <duration>``. Machines are numbered from 1 in the published files
  (``machine_base=0`` reads the 0-based copies of the SchedulingLab collection).
  Each job becomes one explicit job whose ops form a chain (edges of cost 0); a
  machine an op does not list gets a ``null`` duration (barred).
- ``stg``: the Standard Task Graph set (Kasahara lab, Waseda University). First
  line ``<n>`` (real tasks), then ``n + 2`` lines ``<id> <duration> <#preds>
  <pred ids ...>`` where tasks ``0`` and ``n + 1`` are zero-duration dummy
  entry/exit tasks; ``#`` lines are comments. There are no communication costs
  and the processors are identical: ``processors=M`` copies each duration over
  ``M`` processors. Zero-duration dummies are dropped (they change no makespan).

Every malformed file raises one ``InputError`` naming the file, the line and the
bad value, so the command line prints one line and exits with code 2.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from offload_opt._serde import InputError
from offload_opt.instance import (
    ExplicitCosts,
    ExplicitEdge,
    ExplicitJob,
    ExplicitOp,
    Instance,
    Objective,
)

FORMATS = ("fjs", "stg")


def _read_text(path: Path) -> str:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    if not text.strip():
        raise InputError(f"{path}: the file is empty")
    return text


def _number(path: Path, lineno: int, what: str, token: str, *, integer: bool, minimum: float) -> Any:
    """One token as a number >= ``minimum``; InputError naming the line and the value otherwise."""
    try:
        value: float = int(token) if integer else float(token)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise InputError(f"{path}:{lineno}: {what}: expected {kind}, got {token!r}") from None
    if not math.isfinite(value) or value < minimum:
        raise InputError(f"{path}:{lineno}: {what}: must be >= {minimum:g}, got {token!r}")
    return value


def _data_lines(text: str, comment: str | None) -> Iterator[tuple[int, list[str]]]:
    """(1-based line number, tokens) of every non-blank line, stopping at ``comment`` lines."""
    for i, line in enumerate(text.splitlines(), start=1):
        if comment is not None and line.lstrip().startswith(comment):
            continue
        tokens = line.split()
        if tokens:
            yield i, tokens


def read_fjs(
    source: str | Path, *, name: str | None = None, machine_base: int = 1, meta: dict[str, Any] | None = None
) -> Instance:
    """A flexible job shop ``.fjs`` file as an explicit-cost makespan instance (see the module docstring)."""
    path = Path(source)
    if machine_base not in (0, 1):
        raise InputError(f"machine_base: must be 0 or 1, got {machine_base!r}")
    lines = list(_data_lines(_read_text(path), None))
    lineno, head = lines[0]  # _read_text: the file has a non-blank line
    if len(head) not in (2, 3):
        raise InputError(
            f"{path}:{lineno}: header: expected '<jobs> <machines> [<mean machines per op>]', got {' '.join(head)!r}"
        )
    n_jobs = _number(path, lineno, "jobs", head[0], integer=True, minimum=1)
    n_machines = _number(path, lineno, "machines", head[1], integer=True, minimum=1)
    if len(lines) - 1 != n_jobs:
        raise InputError(f"{path}: jobs: the header says {n_jobs} job lines, the file has {len(lines) - 1}")
    processors = tuple(f"M{k + 1}" for k in range(n_machines))
    jobs = []
    for j, (lineno, tokens) in enumerate(lines[1:]):
        pos = 0

        def take(
            what: str,
            *,
            integer: bool,
            minimum: float,
            lineno: int = lineno,
            tokens: list[str] = tokens,
            j: int = j,
        ) -> Any:
            nonlocal pos
            if pos >= len(tokens):
                raise InputError(f"{path}:{lineno}: job {j + 1}: the line ends before {what}")
            value = _number(
                path, lineno, f"job {j + 1} {what}", tokens[pos], integer=integer, minimum=minimum
            )
            pos += 1
            return value

        n_ops = take("number of operations", integer=True, minimum=1)
        ops = []
        for o in range(n_ops):
            k = take(f"op {o + 1} number of machines", integer=True, minimum=1)
            durations: list[float | None] = [None] * n_machines
            for _ in range(k):
                machine = take(f"op {o + 1} machine", integer=True, minimum=machine_base)
                if machine - machine_base >= n_machines:
                    raise InputError(
                        f"{path}:{lineno}: job {j + 1} op {o + 1} machine: {machine} is not one of the "
                        f"{n_machines} machines (numbered from {machine_base})"
                    )
                duration = take(f"op {o + 1} duration", integer=False, minimum=0)
                if durations[machine - machine_base] is not None:
                    raise InputError(
                        f"{path}:{lineno}: job {j + 1} op {o + 1} machine: {machine} listed twice"
                    )
                durations[machine - machine_base] = float(duration)
            ops.append(ExplicitOp(f"o{o + 1}", tuple(durations)))
        if pos != len(tokens):
            raise InputError(
                f"{path}:{lineno}: job {j + 1}: {len(tokens) - pos} token(s) left after its {n_ops} ops, "
                f"starting {tokens[pos]!r}"
            )
        edges = tuple(ExplicitEdge(ops[k].id, ops[k + 1].id, 0.0) for k in range(len(ops) - 1))
        jobs.append(ExplicitJob(f"j{j + 1}", tuple(ops), edges))
    info = {"format": "fjs", "file": path.name, "machine_base": machine_base}
    return _instance(path, name, ExplicitCosts(processors, tuple(jobs)), info, meta)


def read_stg(
    source: str | Path, *, processors: int, name: str | None = None, meta: dict[str, Any] | None = None
) -> Instance:
    """A Standard Task Graph ``.stg`` file on ``processors`` identical processors (see the module docstring)."""
    path = Path(source)
    if isinstance(processors, bool) or not isinstance(processors, int) or processors < 1:
        raise InputError(f"processors: must be an integer >= 1, got {processors!r}")
    lines = list(_data_lines(_read_text(path), "#"))
    if not lines:
        raise InputError(f"{path}: no data lines (only comments)")
    lineno, head = lines[0]
    if len(head) != 1:
        raise InputError(
            f"{path}:{lineno}: header: expected the number of tasks alone, got {' '.join(head)!r}"
        )
    n = _number(path, lineno, "tasks", head[0], integer=True, minimum=1)
    rows = lines[1:]
    if len(rows) != n + 2:
        raise InputError(
            f"{path}: tasks: the header says {n} tasks (+2 dummies = {n + 2} lines), the file has {len(rows)}"
        )
    durations: dict[int, float] = {}
    preds: dict[int, list[int]] = {}
    for expected, (lineno, tokens) in enumerate(rows):
        if len(tokens) < 3:
            raise InputError(
                f"{path}:{lineno}: task line: expected '<id> <duration> <#preds> ...', got {' '.join(tokens)!r}"
            )
        tid = _number(path, lineno, "task id", tokens[0], integer=True, minimum=0)
        if tid != expected:
            raise InputError(
                f"{path}:{lineno}: task id: expected {expected} (tasks in order), got {tokens[0]!r}"
            )
        durations[tid] = float(
            _number(path, lineno, f"task {tid} duration", tokens[1], integer=False, minimum=0)
        )
        k = _number(path, lineno, f"task {tid} number of predecessors", tokens[2], integer=True, minimum=0)
        if len(tokens) != 3 + k:
            raise InputError(f"{path}:{lineno}: task {tid}: says {k} predecessors, lists {len(tokens) - 3}")
        plist = []
        for tok in tokens[3:]:
            p = _number(path, lineno, f"task {tid} predecessor", tok, integer=True, minimum=0)
            if p >= tid:
                raise InputError(
                    f"{path}:{lineno}: task {tid} predecessor: {p} is not an earlier task (the format lists "
                    f"tasks in topological order)"
                )
            plist.append(p)
        preds[tid] = plist
    dropped = {t for t in (0, n + 1) if durations[t] == 0.0}
    keep = [t for t in range(n + 2) if t not in dropped]
    procs = tuple(f"P{k + 1}" for k in range(processors))
    ops = tuple(ExplicitOp(f"t{t}", (durations[t],) * processors) for t in keep)
    edges = tuple(
        ExplicitEdge(f"t{p}", f"t{t}", 0.0) for t in keep for p in dict.fromkeys(preds[t]) if p not in dropped
    )
    info = {"format": "stg", "file": path.name, "processors": processors}
    return _instance(path, name, ExplicitCosts(procs, (ExplicitJob("dag", ops, edges),)), info, meta)


def _instance(
    path: Path, name: str | None, explicit: ExplicitCosts, info: dict[str, Any], meta: dict[str, Any] | None
) -> Instance:
    try:
        return Instance(
            name=name or path.stem,
            objective=Objective(kind="makespan"),
            explicit=explicit,
            meta={"imported": info, **(meta or {})},
        )
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None


def read_classic(
    source: str | Path,
    fmt: str,
    *,
    processors: int | None = None,
    machine_base: int = 1,
    name: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Instance:
    """Read ``source`` in format ``fmt`` (``fjs`` or ``stg``); ``processors`` is required for ``stg`` only."""
    if fmt == "fjs":
        if processors is not None:
            raise InputError(f"processors: the fjs format names its own machines, got {processors!r}")
        return read_fjs(source, name=name, machine_base=machine_base, meta=meta)
    if fmt == "stg":
        if processors is None:
            raise InputError("processors: the stg format needs a number of processors (e.g. 4)")
        return read_stg(source, processors=processors, name=name, meta=meta)
    raise InputError(f"format: unknown format {fmt!r} (known: {', '.join(FORMATS)})")


def load_instance(source: str | Path, *, processors: int | None = None) -> Instance:
    """An instance from a JSON file, or from a ``.fjs`` / ``.stg`` file by its suffix.

    For ``solve``/``gap`` to accept the standard formats directly; ``processors``
    is needed for ``.stg`` files.
    """
    suffix = Path(source).suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return read_classic(source, suffix, processors=processors)
    return Instance.from_json(source)
