"""The sweep runner: many (instance, solver, parameters) jobs -> one tidy table, resumable and parallel.

Every finished job becomes one row, appended to a journal (the CSV itself, or a
CSV beside a Parquet output) and flushed at once, so a killed run loses no
finished row; rerunning the same sweep skips every job whose key (instance
digest + solver + parameters) is already there. Jobs run serially, in local
worker processes (``n_jobs``) or on a Dask cluster (``scheduler``); the rows
do not depend on which (apart from the runtime columns).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from offload_opt._cliutil import atomic_target, exclusive_lock
from offload_opt.costs import build_costs
from offload_opt.evaluator import Evaluation, evaluate
from offload_opt.instance import Instance
from offload_opt.solution import Solution
from offload_opt.solvers.base import Result, parse_options, solve

KEY_COLUMNS = [
    "key",
    "instance",
    "instance_path",
    "instance_digest",
    "solver",
    "time_limit_s",
    "seed",
    "options",
]
RESULT_COLUMNS = [
    "status",
    "termination",
    "feasible",
    "sense",
    "objective",
    "bound",
    "bound_gap",  # the solver's own gap to its bound (exact solvers)
    "n_tasks",
    "mean_latency_s",
    "mean_quality",
    "mean_reward",
    "makespan_s",
    "target_bound",  # an exact solver's bound on a side-constrained target (the mip's info["target_bound"])
]
# result columns added after tables were first written: a table without them still resumes (empty cells)
ADDED_COLUMNS = ("target_bound",)
# The solution judged again on the original instance's objective and (with ``evaluate_actual``) actual values.
EVAL_COLUMNS = [
    "eval_feasible",
    "eval_objective",
    "eval_mean_latency_s",
    "eval_mean_quality",
    "eval_mean_reward",
]
RUNTIME_COLUMNS = ["runtime_s", "build_time_s"]
VERSION_COLUMNS = [
    "offload_opt_version",
    "pyomo_version",
    "highspy_version",
    "numpy_version",
    "pandas_version",
]
SUFFIXES = (".csv", ".parquet")
# floats must read back exactly as written (pandas >= 3 does so by default and deprecates the option)
_ROUND_TRIP = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}


@dataclass(frozen=True)
class SweepSettings:
    """How every experiment runs its solves, in one object (gap, frontier, compare, planner study, demo).

    ``time_limit_s`` limits each exact solve (every solve in the planner study), ``heuristic_time_limit_s``
    each other solve; ``seed`` seeds randomised solvers; ``solver_options`` maps a solver name to its
    options. ``n_jobs`` local worker processes or a Dask ``scheduler`` run the jobs; ``quiet`` silences
    the progress bar and notes; ``resume=False`` reruns the sweep's rows already in the output.
    """

    time_limit_s: float | None = None
    heuristic_time_limit_s: float | None = None
    seed: int = 0
    solver_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    n_jobs: int = 1
    scheduler: Any = None
    quiet: bool = False
    resume: bool = True

    def __post_init__(self) -> None:
        check_jobs(self.n_jobs)
        for name in ("time_limit_s", "heuristic_time_limit_s"):
            value = getattr(self, name)
            if value is not None and not (
                isinstance(value, int | float) and math.isfinite(value) and value > 0
            ):
                raise ValueError(f"{name}: must be a number of seconds > 0 or None, got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"seed: must be an integer, got {self.seed!r}")
        # a private copy: later changes to the caller's dicts do not reach a running sweep
        copied = {str(k): dict(v) for k, v in (self.solver_options or {}).items()}
        object.__setattr__(self, "solver_options", copied)

    @classmethod
    def of(cls, settings: SweepSettings | None = None, **changes: Any) -> SweepSettings:
        """``settings`` (default: the defaults) with ``changes`` applied; TypeError names an unknown field."""
        base = settings if settings is not None else cls()
        unknown = sorted(set(changes) - {f.name for f in fields(cls)})
        if unknown:
            raise TypeError(f"SweepSettings: unknown setting(s) {unknown}")
        return replace(base, **changes) if changes else base

    def options_for(self, solver: str) -> dict[str, Any]:
        """A fresh dict of ``solver``'s options."""
        return dict(self.solver_options.get(solver, {}))


@dataclass
class Job:
    """One solve: ``solver`` on ``instance`` with the given parameters.

    ``objective_changes`` (e.g. ``{"latency_weight_per_s": 0.2}``) make the
    solver see a re-weighted objective; ``evaluate_actual`` judges the solution
    on the actual values beside the planner's predictions. In either case the
    ``eval_*`` columns hold the verdict on the original instance. ``tags`` are
    the experiment's own parameters; each becomes a column and part of the key.
    """

    instance: Instance
    solver: str
    time_limit_s: float | None = None
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    instance_path: str = ""
    tags: dict[str, Any] = field(default_factory=dict)
    objective_changes: dict[str, float] = field(default_factory=dict)
    evaluate_actual: bool = False
    _digest: str | None = field(default=None, repr=False, compare=False)

    @property
    def digest(self) -> str:
        if self._digest is None:
            self._digest = self.instance.digest()
        return self._digest

    @property
    def key(self) -> str:
        """Identity of the job in a results table: instance digest + solver + every parameter."""
        ident = {
            "instance": self.digest,
            "solver": self.solver,
            "time_limit_s": self.time_limit_s,
            "seed": self.seed,
            "options": self.options,
            "tags": self.tags,
            "objective_changes": self.objective_changes,
            "evaluate_actual": self.evaluate_actual,
        }
        return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:20]

    @property
    def needs_eval(self) -> bool:
        return bool(self.objective_changes) or self.evaluate_actual


@cache
def versions() -> dict[str, str]:
    """Versions of offload_opt and the packages its numbers depend on."""
    from offload_opt import __version__

    out = {"offload_opt_version": __version__}
    for col in VERSION_COLUMNS[1:]:
        dist = col.removesuffix("_version")
        try:
            out[col] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[col] = ""
    return out


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)


def _mean_reward(ev: Evaluation | None) -> float | None:
    return ev.total_reward / len(ev.tasks) if ev is not None and ev.tasks else None


def _option_text(value: Any) -> str:
    """How an option that is not JSON shows in the ``options`` column: a given warm-start ``Solution``
    by the solver that made it (the demo seeds its exact solvers with the best plan so far)."""
    if isinstance(value, Solution):
        return f"<solution of {value.solver or 'an unnamed solver'}>"
    return str(value)


def job_row(job: Job) -> dict[str, Any]:
    """The identity columns of ``job``'s row (key, instance, solver, parameters, tags)."""
    return {
        "key": job.key,
        "instance": job.instance.name,
        "instance_path": job.instance_path,
        "instance_digest": job.digest,
        "solver": job.solver,
        "time_limit_s": job.time_limit_s,
        "seed": job.seed,
        "options": json.dumps(job.options, sort_keys=True, default=_option_text),
        **job.tags,
    }


def error_row(job: Job, message: str) -> dict[str, Any]:
    """An ``error`` row of ``job`` that did not run to the end (retried when the sweep is run again)."""
    return {
        **job_row(job),
        "status": "error",
        "termination": "error",
        "feasible": False,
        "message": " ".join(message.split()),
        **versions(),
    }


def solve_job(job: Job) -> tuple[dict[str, Any], Result | None]:
    """Run one job; the row (without the experiment's derived columns) and the solver's Result.

    A solver that raises gives an ``error`` row naming the exception instead of
    stopping the sweep; such rows are retried when the sweep is run again.
    """
    row = job_row(job)
    instance = job.instance
    if job.objective_changes:
        objective = instance.objective
        changed = {
            **{f: getattr(objective, f) for f in ("kind", "accuracy_weight", "latency_weight_per_s")},
            **job.objective_changes,
        }
        instance = instance.replace(objective=type(objective)(**changed))
    result: Result | None = None
    try:
        result = solve(instance, solver=job.solver, time_limit=job.time_limit_s, seed=job.seed, **job.options)
    except Exception as exc:  # a crashing solver must not end a long sweep: record it, retry on rerun
        row.update(
            {
                "status": "error",
                "termination": "error",
                "feasible": False,
                "message": f"{type(exc).__name__}: {exc}",
            }
        )
    if result is not None:
        ev = result.evaluation
        messages = list(ev.violations[:3]) if ev is not None else []
        if result.claim_mismatch is not None:
            messages.append(result.claim_mismatch)
        row.update(
            {
                "status": result.status,
                "termination": result.termination,
                "feasible": result.feasible,
                "sense": result.sense,
                "objective": _num(result.objective),
                "bound": _num(result.bound),
                "bound_gap": _num(result.gap),
                "n_tasks": len(ev.tasks) if ev is not None else None,
                "mean_latency_s": _num(ev.mean_latency_s) if ev is not None and ev.feasible else None,
                "mean_quality": _num(ev.mean_quality) if ev is not None and ev.feasible else None,
                "mean_reward": _num(_mean_reward(ev)) if ev is not None and ev.feasible else None,
                "makespan_s": _num(ev.makespan_s) if ev is not None and ev.feasible else None,
                "target_bound": _num(result.info.get("target_bound")) if result.info else None,
                "runtime_s": result.runtime_s,
                "build_time_s": result.build_time_s,
                "message": " | ".join(messages) or None,
            }
        )
        if result.solution is not None:  # cheap; the columns are kept only in sweeps that need them
            judged = evaluate(build_costs(job.instance, actual=job.evaluate_actual), result.solution)
            ok = judged.feasible
            row.update(
                {
                    "eval_feasible": ok,
                    "eval_objective": _num(judged.objective) if ok else None,
                    "eval_mean_latency_s": _num(judged.mean_latency_s) if judged.tasks else None,
                    "eval_mean_quality": _num(judged.mean_quality) if judged.tasks else None,
                    "eval_mean_reward": _num(_mean_reward(judged)) if judged.tasks else None,
                }
            )
    row.update(versions())
    if isinstance(row.get("message"), str):
        row["message"] = " ".join(row["message"].split())  # one line per row, always
    return row, result


def run_job(job: Job) -> dict[str, Any]:
    """Run one job and return its row (what worker processes execute)."""
    return solve_job(job)[0]


_ONE_AT_A_TIME = threading.Lock()


def run_job_serialised(job: Job) -> dict[str, Any]:
    """``run_job`` one at a time per process: what Dask workers execute.

    A Dask worker runs tasks in threads, but the exact solver is not
    thread-safe (Pyomo redirects the process's output descriptors while
    HiGHS runs; two solves at once hang or fail). Parallelism on a cluster
    comes from worker processes (``dask worker --nthreads 1 --nworkers N``).
    """
    with _ONE_AT_A_TIME:
        return run_job(job)


def columns_for(
    jobs: Sequence[Job], tag_columns: Sequence[str] | None = None, eval_columns: bool | None = None
) -> list[str]:
    """Column order of a sweep: identity, tags, results, [eval], runtimes, message, versions.

    The ``eval_*`` columns are there when ``eval_columns`` says so, or (None) when a job needs them.
    """
    if tag_columns is None:
        tag_columns = list(dict.fromkeys(k for j in jobs for k in j.tags))
    cols = KEY_COLUMNS + list(tag_columns) + RESULT_COLUMNS
    if eval_columns or (eval_columns is None and any(j.needs_eval for j in jobs)):
        cols += EVAL_COLUMNS
    return cols + RUNTIME_COLUMNS + ["message"] + VERSION_COLUMNS


# ---- the journal -----------------------------------------------------------------------------

KEY_PATTERN = re.compile(r"[0-9a-f]{20}")
STATUSES = ("ok", "warning", "error")
# columns that must read back as numbers (or be empty) and as booleans (or be empty) for a row to count
NUMERIC_COLUMNS = frozenset(
    ["time_limit_s", "seed", "objective", "bound", "bound_gap", "n_tasks", "mean_latency_s", "mean_quality"]
    + [
        "mean_reward",
        "makespan_s",
        "target_bound",
        "eval_objective",
        "eval_mean_latency_s",
        "eval_mean_quality",
    ]
    + ["eval_mean_reward", "runtime_s", "build_time_s"]
)
BOOL_COLUMNS = frozenset(["feasible", "eval_feasible"])


def check_output(path: str | Path) -> Path:
    """The output path, or ValueError when its extension is neither .csv nor .parquet."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise ValueError(f"-o {path}: the extension must be .csv or .parquet")
    if path.exists() and path.is_dir():
        raise ValueError(f"-o {path}: is a directory")
    return path


def journal_path(output: Path) -> Path:
    """Where rows are appended as they finish: the CSV itself, or a CSV beside a Parquet file."""
    return output if output.suffix.lower() == ".csv" else output.with_name(output.name + ".journal.csv")


def read_table(path: str | Path) -> pd.DataFrame:
    """A results table (CSV or Parquet) as written by ``run_sweep``; floats round-trip exactly.

    Rows that do not parse (see ``valid_row``) are left out.
    """
    return _read_valid(Path(path))[0]


def valid_row(header: Sequence[str], cells: Sequence[str]) -> bool:
    """Whether one CSV row of a results table is whole and readable: as many cells as the header, a key
    of 20 hex digits, a known status, numbers (or nothing) in the number columns, True/False (or nothing)
    in the boolean ones. A row cut short, a stray line or a cell overwritten by text fails."""
    if len(cells) != len(header):
        return False
    for column, text in zip(header, cells, strict=True):
        if column == "key" and not KEY_PATTERN.fullmatch(text):
            return False
        if column == "status" and text not in STATUSES:
            return False
        if column in BOOL_COLUMNS and text not in ("", "True", "False"):
            return False
        if column in NUMERIC_COLUMNS and text != "":
            try:
                float(text)
            except ValueError:
                return False
    return True


def _read_valid(path: Path) -> tuple[pd.DataFrame, int]:
    """The readable rows of a results table and how many rows were left out as malformed."""
    if path.suffix.lower() == ".parquet":
        df = pd.read_parquet(path)
        if df.empty or "key" not in df.columns or "status" not in df.columns:
            return df, 0
        ok = df["key"].astype(str).str.fullmatch(KEY_PATTERN.pattern) & df["status"].isin(STATUSES)
        return df[ok].reset_index(drop=True), int((~ok).sum())
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    dropped = 0
    if len(lines) > 1 and not lines[-1].endswith(("\n", "\r")):  # a run killed mid-write: last row partial
        lines.pop()
        dropped = 1
    if not lines:
        return pd.DataFrame(), dropped
    header = next(csv.reader([lines[0]]))
    kept = [lines[0]]
    for line in lines[1:]:  # every row is one physical line (messages are flattened to one line)
        try:
            cells = next(csv.reader([line]), [])
        except csv.Error:
            cells = []
        if valid_row(header, cells):
            kept.append(line)
        elif line.strip():
            dropped += 1
    return pd.read_csv(io.StringIO("".join(kept)), **_ROUND_TRIP), dropped


def _cell(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return repr(v)
    return v


class Journal:
    """Appends rows to a CSV, one flushed line each."""

    def __init__(self, path: Path, columns: list[str]):
        self.path = path
        self.columns = columns
        self._fh = open(path, "a", newline="")  # noqa: SIM115 - closed in close()
        self._writer = csv.writer(self._fh)

    def append(self, row: dict[str, Any]) -> None:
        self._writer.writerow([_cell(row.get(c)) for c in self.columns])
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


def _load_done(
    output: Path, columns: list[str], derived: Sequence[str], mine: set[str], redo: set[str]
) -> tuple[pd.DataFrame, int]:
    """Rows to keep from the output and its journal, each key once, and how many malformed rows were
    left out. Dropped as well: this sweep's error rows (``mine``: retried) and the rows of ``redo``
    (rerun from scratch). Other sweeps' rows in the same file, error rows included, are all kept.
    """
    frames, malformed = [], 0
    for path in dict.fromkeys([output, journal_path(output)]):
        if path.exists() and path.stat().st_size > 0:
            try:
                df, bad = _read_valid(path)
            except Exception as exc:  # unreadable: refuse rather than overwrite someone's file
                raise ValueError(
                    f"{path}: cannot read the existing results ({exc}); move it or choose another -o"
                ) from None
            malformed += bad
            if df.empty and not len(df.columns):
                continue
            df = df.drop(columns=[c for c in derived if c in df.columns])
            for c in ADDED_COLUMNS:  # a table written before the column existed: unknown there
                if c in columns and c not in df.columns:
                    df[c] = math.nan
            if set(df.columns) != set(columns):
                extra = sorted(set(df.columns) - set(columns))
                missing = sorted(set(columns) - set(df.columns))
                raise ValueError(
                    f"{path}: holds rows of a different sweep (columns {'+' + ','.join(extra) if extra else ''}"
                    f"{' -' + ','.join(missing) if missing else ''}); choose another -o"
                )
            frames.append(df[columns])
    if not frames:
        return pd.DataFrame(columns=columns), malformed
    done = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    done = done.drop_duplicates("key", keep="first")
    drop = done["key"].isin(redo) | (done["key"].isin(mine) & (done["status"] == "error"))
    return done[~drop].reset_index(drop=True), malformed


def _write_frame(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` to ``path`` (CSV or Parquet by extension) atomically, with the umask's file mode."""
    with atomic_target(path, flag="-o") as tmp:
        if path.suffix.lower() == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False)


# ---- execution back-ends ---------------------------------------------------------------------

Worker = Callable[[Job], dict[str, Any]]


def _lost(job: Job, exc: BaseException) -> dict[str, Any]:
    """The error row of a job whose worker failed to return (killed, out of memory, unpicklable)."""
    what = type(exc).__name__ + (f": {exc}" if str(exc) else "")
    return error_row(job, f"worker failed before returning this run ({what}); rerun the sweep to retry")


def _serial(jobs: Sequence[Job], worker: Worker = run_job) -> Iterator[dict[str, Any]]:
    for job in jobs:
        yield worker(job)


def _processes(jobs: Sequence[Job], n_jobs: int, worker: Worker = run_job) -> Iterator[dict[str, Any]]:
    """Rows from ``n_jobs`` spawned worker processes. A worker that dies (killed, out of memory) breaks
    the pool: every run it had not returned becomes an error row, the finished rows stand."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn: workers start clean (no inherited solver threads or locks); they import offload_opt themselves
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(worker, job): job for job in jobs}
        try:
            for fut in as_completed(futures):
                try:
                    row = fut.result()
                except Exception as exc:  # BrokenProcessPool and the like: recorded, the sweep goes on
                    row = _lost(futures[fut], exc)
                yield row
        finally:
            for fut in futures:
                fut.cancel()


def _dask(jobs: Sequence[Job], scheduler: Any) -> Iterator[dict[str, Any]]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ValueError("--scheduler: needs dask[distributed] (pip install 'offload-opt[dask]')") from None
    own = not isinstance(scheduler, Client)
    try:
        client = Client(scheduler, timeout="20s") if own else scheduler
    except OSError as exc:
        raise ValueError(f"--scheduler: cannot reach the Dask scheduler at {scheduler!r} ({exc})") from None
    try:
        futures = {client.submit(run_job_serialised, job, pure=False): job for job in jobs}
        try:
            for fut in as_completed(list(futures)):
                try:
                    row = fut.result()
                except Exception as exc:  # KilledWorker and the like: recorded, the sweep goes on
                    row = _lost(futures[fut], exc)
                yield row
        finally:
            client.cancel(list(futures))
    finally:
        if own:
            client.close()


def execute(
    jobs: Sequence[Job], n_jobs: int = 1, scheduler: Any = None, worker: Worker | None = None
) -> Iterator[dict[str, Any]]:
    """Rows of ``jobs`` in the order they finish. ``worker`` (default ``run_job``) runs one job, serially
    or in the local processes (it must be importable by name there); Dask workers run
    ``run_job_serialised``."""
    worker = worker or run_job
    if not jobs:
        return iter(())
    if scheduler is not None:
        return _dask(jobs, scheduler)
    if n_jobs > 1 and len(jobs) > 1:
        return _processes(jobs, min(n_jobs, len(jobs)), worker)
    return _serial(jobs, worker)


def _progress(total: int, desc: str, quiet: bool) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="run",
        file=sys.stderr,
        dynamic_ncols=True,
        disable=quiet or not sys.stderr.isatty(),
    )


def check_jobs(n_jobs: int) -> int:
    if not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"--jobs: must be an integer >= 1, got {n_jobs!r}")
    return n_jobs


def _validate_solver_options(solver: str, options: dict[str, Any]) -> None:
    """ValueError naming the bad option when ``options`` are not options of ``solver`` (the solvers'
    own ``parse_options``, the same check ``solve --option`` makes)."""
    parse_options(solver, dict(options))


def validate_jobs(jobs: Sequence[Job]) -> None:
    """Check every distinct (solver, options) of a sweep once, before any job runs, so that a bad
    ``--option`` is one line and exit 2 instead of a column of error rows."""
    seen: set[tuple[str, str]] = set()
    for job in jobs:
        ident = (job.solver, json.dumps(job.options, sort_keys=True, default=str))
        if ident not in seen:
            seen.add(ident)
            _validate_solver_options(job.solver, job.options)


def run_sweep(
    jobs: Sequence[Job],
    output: str | Path | None = None,
    settings: SweepSettings | None = None,
    *,
    redo: Sequence[str] = (),
    desc: str = "sweep",
    tag_columns: Sequence[str] | None = None,
    eval_columns: bool | None = None,
    derived_columns: Sequence[str] = (),
    finalize: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    announce_skips: bool = True,
    **changes: Any,
) -> pd.DataFrame:
    """Run ``jobs`` and return their rows in job order (with ``finalize``'s derived columns).

    ``settings`` (with ``changes``, e.g. ``quiet=True``) says where and how: ``n_jobs``, ``scheduler``,
    ``quiet``, ``resume``; the jobs carry their own limits, seeds and options.

    With ``output``, rows are appended to the journal as they finish and the
    output file is rewritten at the end in job order (rows of other sweeps in
    the same file are kept after them, error rows included; ``finalize`` sees
    each group on its own). ``resume=False`` reruns every job of this sweep
    (its old rows are replaced; other sweeps' rows stay); ``redo`` names the
    keys to rerun when resuming. Malformed rows (``valid_row``) are dropped,
    with a note, and their runs recomputed. The output is locked for the whole
    sweep (``exclusive_lock``): a second sweep on the same file stops at once
    with a one-line ValueError instead of racing this one.
    ``on_row`` is called after each row is safely written (progress hooks, tests).
    """
    settings = SweepSettings.of(settings, **changes)
    n_jobs, scheduler, quiet, resume = settings.n_jobs, settings.scheduler, settings.quiet, settings.resume
    keys = [j.key for j in jobs]
    if len(set(keys)) != len(keys):
        raise ValueError("sweep: two jobs have the same instance, solver and parameters")
    validate_jobs(jobs)
    columns = columns_for(jobs, tag_columns, eval_columns)
    if output is None:
        rows = {}
        with _progress(len(jobs), desc, quiet) as bar:
            for row in execute(jobs, n_jobs, scheduler):
                rows[row["key"]] = row
                bar.update()
                if on_row is not None:
                    on_row(row)
        df = pd.DataFrame([rows[k] for k in keys], columns=columns)
        return finalize(df) if finalize is not None else df

    output = check_output(output)
    with exclusive_lock(output, "sweep"):
        journal = journal_path(output)
        redo_keys = set(keys) if not resume else set(redo)
        todo = _resume(jobs, output, columns, derived_columns, redo_keys, desc, quiet, announce_skips)
        writer = Journal(journal, columns)
        try:
            lost = 0
            with _progress(len(todo), desc, quiet) as bar:
                for row in execute(todo, n_jobs, scheduler):
                    writer.append(row)
                    lost += str(row.get("message", "")).startswith("worker failed")
                    bar.update()
                    if on_row is not None:
                        on_row(row)
        finally:
            writer.close()
        if lost and not quiet:
            print(
                f"{desc}: {lost} run(s) lost with a worker process (killed or out of memory?): recorded as "
                "error rows, retried when the sweep is run again",
                file=sys.stderr,
            )
        return _rewrite_in_job_order(journal, output, keys, finalize)


def _resume(
    jobs: Sequence[Job],
    output: Path,
    columns: list[str],
    derived_columns: Sequence[str],
    redo: set[str],
    desc: str,
    quiet: bool,
    announce_skips: bool,
) -> list[Job]:
    """Rewrite the journal with the rows to keep (see ``_load_done``); the jobs still to run."""
    keys = {j.key for j in jobs}
    done, malformed = _load_done(output, columns, derived_columns, keys, redo)
    if malformed and not quiet:
        print(
            f"{desc}: left out {malformed} malformed row(s) of {output} (cut short, unreadable cells or stray "
            "lines); their runs are done again",
            file=sys.stderr,
        )
    _write_frame(done, journal_path(output))  # one clean journal: the rows so far, each once, current header
    done_keys = set(done["key"]) & keys
    if done_keys and not quiet and announce_skips:
        print(
            f"{desc}: {len(done_keys)} of {len(jobs)} runs already in {output}, skipping them",
            file=sys.stderr,
        )
    return [j for j in jobs if j.key not in done_keys]


def _rewrite_in_job_order(
    journal: Path,
    output: Path,
    keys: list[str],
    finalize: Callable[[pd.DataFrame], pd.DataFrame] | None,
) -> pd.DataFrame:
    """Write the output from the journal: this sweep's rows in job order, then other sweeps' rows."""
    table = read_table(journal)
    order = {k: i for i, k in enumerate(keys)}
    current = table["key"].isin(order)
    mine = table[current].iloc[table.loc[current, "key"].map(order).argsort()].reset_index(drop=True)
    others = table[~current].reset_index(drop=True)  # rows of other sweeps in the same file: kept, after ours
    if finalize is not None:  # derived columns of our rows come from our rows only
        mine = finalize(mine)
        others = finalize(others) if len(others) else others
    _write_frame(pd.concat([mine, others], ignore_index=True) if len(others) else mine, output)
    if journal != output:
        journal.unlink()
    return mine
