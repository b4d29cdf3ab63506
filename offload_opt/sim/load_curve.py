"""Load curves: simulate every (policy, arrival rate, seed) and find where each policy saturates.

One simulation is one row (its summary), keyed like the other sweeps (a hash
of every parameter), appended to the journal as it finishes, so a killed
sweep resumes where it stopped; runs go serially, to local worker processes
(``n_jobs``) or to a Dask cluster (``scheduler``), and the rows do not depend
on which (apart from ``runtime_s``). The journal, progress bar and table I/O
are the sweep runner's (offload_opt.experiments.runner).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from offload_opt._serde import InputError
from offload_opt.experiments import runner
from offload_opt.experiments.stats import mean_ci
from offload_opt.sim.engine import EpochRule, simulate

SUMMARY_COLUMNS = [
    "n_tasks",
    "mean_latency_s",
    "p50_latency_s",
    "p95_latency_s",
    "p99_latency_s",
    "accuracy_expected",
    "accuracy_realised",
    "reward_per_task",
    "throughput_per_s",
    "arrival_rate_per_s",
    "mean_in_system",
    "in_system_at_horizon",
    "gpu_utilisation",
    "channel_utilisation",
    "saturated",
    "epochs",
]
KEY_COLUMNS = [
    "key",
    "scenario",
    "overrides",
    "policy",
    "rate",
    "duration_s",
    "seed",
    "epoch",
    "time_limit_s",
]
COLUMNS = KEY_COLUMNS + SUMMARY_COLUMNS + ["status", "message", "runtime_s"]


@dataclass(frozen=True)
class SimJob:
    """One simulation of a load curve."""

    scenario: str
    policy: str
    rate: float
    duration_s: float
    seed: int
    epoch: str = "arrival"
    time_limit_s: float | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        ident: dict[str, Any] = {"kind": "simulate", **asdict(self)}
        rule = EpochRule.parse(self.epoch)
        if rule.revise and not rule.per_task:
            # a period P meant per-task revision before per-op revision existed: rows of that meaning
            # (keyed without this field) must not be resumed as per-op results
            ident["replan"] = "op"
        return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:20]


def run_sim_job(job: SimJob) -> dict[str, Any]:
    """Simulate ``job``; its row (an error row with the message when the run failed)."""
    row: dict[str, Any] = {
        "key": job.key,
        "scenario": job.scenario,
        "overrides": json.dumps(job.overrides, sort_keys=True),
        "policy": job.policy,
        "rate": job.rate,
        "duration_s": job.duration_s,
        "seed": job.seed,
        "epoch": job.epoch,
        "time_limit_s": job.time_limit_s,
    }
    t0 = time.perf_counter()
    try:
        res = simulate(
            job.scenario,
            policy=job.policy,
            rate=job.rate,
            duration_s=job.duration_s,
            seed=job.seed,
            epoch=job.epoch,
            time_limit=job.time_limit_s,
            options=job.options,
            **job.overrides,
        )
    except Exception as exc:  # one failed run is a row, not the end of the sweep
        row.update(
            status="error", message=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        )
    else:
        row.update({c: res.summary.get(c) for c in SUMMARY_COLUMNS}, status="ok", message="")
    row["runtime_s"] = time.perf_counter() - t0
    return row


def parse_rates(text: str) -> list[float]:
    """``"0.1:3.0:0.1"`` (start:stop:step, stop included) or ``"0.5,1,2"``; InputError when malformed."""
    text = text.strip()
    try:
        if ":" in text:
            parts = [float(p) for p in text.split(":")]
            if len(parts) != 3:
                raise ValueError
            start, stop, step = parts
            if not (step > 0 and stop >= start):
                raise InputError(f"--rates: need start <= stop and step > 0, got {text!r}")
            n = int(math.floor((stop - start) / step + 1e-9)) + 1
            rates = [round(start + k * step, 12) for k in range(n)]
        else:
            rates = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise InputError(
            f"--rates: expected START:STOP:STEP or a comma-separated list, got {text!r}"
        ) from None
    if not rates:
        raise InputError(f"--rates: no rate in {text!r}")
    for r in rates:
        if not (math.isfinite(r) and r > 0):
            raise InputError(f"--rates: every rate must be a finite number > 0 tasks/s, got {r!r}")
    return rates


def _execute(jobs: Sequence[SimJob], n_jobs: int, scheduler: Any) -> Iterator[dict[str, Any]]:
    if not jobs:
        return
    if scheduler is not None:
        try:
            from distributed import Client, as_completed
        except ImportError:
            raise InputError(
                "--scheduler: needs dask[distributed] (pip install 'offload-opt[dask]')"
            ) from None
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as exc:
            raise InputError(
                f"--scheduler: cannot reach the Dask scheduler at {scheduler!r} ({exc})"
            ) from None
        try:
            dask_futs = [client.submit(run_sim_job, j, pure=False) for j in jobs]
            for fut in as_completed(dask_futs):
                yield fut.result()
        finally:
            client.close()
        return
    if n_jobs > 1 and len(jobs) > 1:
        import multiprocessing
        from concurrent import futures

        ctx = multiprocessing.get_context("spawn")
        with futures.ProcessPoolExecutor(max_workers=min(n_jobs, len(jobs)), mp_context=ctx) as pool:
            futs = [pool.submit(run_sim_job, j) for j in jobs]
            for f in futures.as_completed(futs):
                yield f.result()
        return
    for j in jobs:
        yield run_sim_job(j)


def run_load_curve(
    jobs: Sequence[SimJob],
    output: str | Path | None = None,
    *,
    n_jobs: int = 1,
    scheduler: Any = None,
    quiet: bool = False,
) -> pd.DataFrame:
    """Run ``jobs`` (skipping those already in ``output``); their rows in job order."""
    runner.check_jobs(n_jobs)
    keys = [j.key for j in jobs]
    if len(set(keys)) != len(keys):
        raise InputError("load-curve: two runs have the same parameters")
    done: dict[str, dict[str, Any]] = {}
    journal: Path | None = None
    out_path: Path | None = None
    if output is not None:
        out_path = runner.check_output(output)
        journal = runner.journal_path(out_path)
        for p in dict.fromkeys([out_path, journal]):
            if p.exists() and p.stat().st_size > 0:
                old = runner.read_table(p)
                if not old.empty:
                    if list(old.columns) != COLUMNS:
                        raise InputError(f"{p}: holds rows of a different sweep; choose another -o")
                    for rec in old[old["status"] == "ok"].to_dict("records"):
                        done.setdefault(str(rec["key"]), rec)
        journal.parent.mkdir(parents=True, exist_ok=True)
        runner._write_frame(pd.DataFrame(list(done.values()), columns=COLUMNS), journal)
    todo = [j for j in jobs if j.key not in done]
    if len(todo) < len(jobs) and not quiet:
        print(
            f"load-curve: {len(jobs) - len(todo)} of {len(jobs)} runs already done, skipping them",
            file=sys.stderr,
        )
    writer = runner.Journal(journal, COLUMNS) if journal is not None else None
    rows = dict(done)
    try:
        with runner._progress(len(todo), "load-curve", quiet) as bar:
            for row in _execute(todo, n_jobs, scheduler):
                rows[row["key"]] = row
                if writer is not None:
                    writer.append(row)
                bar.update()
    finally:
        if writer is not None:
            writer.close()
    df = pd.DataFrame([rows[k] for k in keys if k in rows], columns=COLUMNS)
    if out_path is not None and journal is not None:
        if journal != out_path:
            runner._write_frame(df, out_path)
            journal.unlink()
        else:
            runner._write_frame(df, out_path)
    return df


def make_jobs(
    scenario: str,
    policies: Sequence[str],
    rates: Sequence[float],
    seeds: Sequence[int],
    duration_s: float,
    epoch: str = "arrival",
    time_limit_s: float | None = None,
    overrides: dict[str, Any] | None = None,
    options: dict[str, dict[str, Any]] | None = None,
) -> list[SimJob]:
    """Every (policy, rate, seed) as a job; the rate varies fastest after the seed."""
    EpochRule.parse(epoch)
    return [
        SimJob(
            scenario,
            p,
            float(r),
            float(duration_s),
            int(s),
            str(epoch),
            time_limit_s,
            dict(overrides or {}),
            dict((options or {}).get(p, {})),
        )  # fmt: skip
        for p in policies
        for r in rates
        for s in seeds
    ]


def aggregate(df: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per (policy, rate): mean and t-interval half-width of the key metrics over seeds, saturation share."""
    out = []
    ok = df[df["status"] == "ok"]
    for (policy, rate), g in ok.groupby(["policy", "rate"], sort=False):
        rec: dict[str, Any] = {"policy": policy, "rate": rate, "runs": len(g)}
        for col in (
            "mean_latency_s",
            "p95_latency_s",
            "reward_per_task",
            "gpu_utilisation",
            "throughput_per_s",
        ):
            m, hw, _ = mean_ci(g[col].astype(float), level)
            rec[col], rec[f"{col}_ci"] = m, hw
        rec["saturated_share"] = float(g["saturated"].astype(str).str.lower().isin(["true", "1"]).mean())
        out.append(rec)
    agg = pd.DataFrame(out)
    if agg.empty:
        return agg
    return agg.sort_values(["policy", "rate"], kind="stable").reset_index(drop=True)


def saturation_rates(agg: pd.DataFrame) -> dict[str, float]:
    """Per policy: the lowest rate at which most seeds saturated (NaN: not within the swept rates)."""
    out: dict[str, float] = {}
    for policy, g in agg.groupby("policy", sort=False):
        sat = g[g["saturated_share"] > 0.5]
        out[str(policy)] = float(sat["rate"].min()) if len(sat) else math.nan
    return out


def format_load_curve(agg: pd.DataFrame) -> str:
    """The aggregated table and each policy's saturation rate, as text."""
    if agg.empty:
        return "no finished runs"
    cols = ["policy", "rate", "runs", "mean_latency_s", "p95_latency_s", "reward_per_task", "saturated_share"]
    text = agg[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}")
    sat = saturation_rates(agg)
    lines = [text, "", "saturation rate (tasks/s, lowest rate where most seeds saturate):"]
    for p, r in sat.items():
        lines.append(f"  {p}: {'beyond the swept rates' if np.isnan(r) else f'{r:g}'}")
    return "\n".join(lines)
