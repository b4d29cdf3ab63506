"""Gaps and runtimes of every registered heuristic on S, S56, M, L and one 1,000 users x 50 APs instance.

Run ``python benchmarks/bench_fast.py`` (``--help`` for the knobs). For each set
it prints one pandas table, one row per heuristic, and at the end the command
that produced them:

- ``ref``: what the gaps are measured against, per instance: the proven
  optimum recorded in ``instances/bench/optima.csv`` (``v1/optima.csv`` for the
  ``v1/`` sets) (``optimum``), else the
  best known objective (``best-known``): the best of the incumbent recorded
  there (the MIP's, 60 s) and of every heuristic run here;
- ``mean/median/max_gap_%``: relative gap ``(ref - objective) / |ref|``, only
  where the reference is clearly positive (``offload_opt.experiments.gap``),
  ``rel_n`` instances had one; ``mean/max_norm_gap_%``: the loss over the
  instance's largest accuracy reward (``accuracy_weight x tasks``), defined
  for every sign of the reference;
- ``at_ref_%``: share of instances within 1e-6 (relative to max(1, |ref|)) of
  the reference;
- ``bound_gap_%``: mean relative gap to the recorded MIP bound, where one exists
  (an upper estimate of the true gap);
- ``median_s`` / ``max_s``: solver time as ``solve()`` reports it (wall clock,
  cost tables built before the clock starts); ``median_cpu_s`` / ``max_cpu_s``:
  this process's CPU time for the ``solve()`` call (solver and the evaluator's
  check of its result), which other jobs on a shared machine disturb far less
  than the wall clock; ``peak_rss_mb``: the worker's peak resident
  memory after the set (1,000 x 50: instance, cost tables and solvers).

Every heuristic runs with its default options and seed 0; ``local-search``
and ``alns`` are deterministic by default (iteration and placement budgets),
so every gap here is reproducible on any machine. Timings from a shared machine vary 2-3x: run it
alone on the machine before quoting them.
"""

from __future__ import annotations

import argparse
import csv
import math
import resource
import shlex
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OPTIMA_CSV = ROOT / "instances" / "bench" / "optima.csv"
V1_OPTIMA_CSV = ROOT / "instances" / "bench" / "v1" / "optima.csv"
DEFAULT_SETS = "S,S56,M,L,1000x50"
AT_REF_TOL = 1e-6


def _records() -> dict[str, dict[str, str]]:
    """optima.csv rows (the current sets' and v1's) by instance digest: a digest names one instance file,
    so ``--sets v1/S`` finds its v1 optima and ``--sets S`` the current ones."""
    out: dict[str, dict[str, str]] = {}
    for path in (V1_OPTIMA_CSV, OPTIMA_CSV):
        with path.open(newline="") as fh:
            out.update({r["digest"]: r for r in csv.DictReader(fh)})
    return out


def _instances(name: str):
    from offload_opt.generator import generate
    from offload_opt.instance import Instance

    if "x" in name:  # users x APs, at the default AP density (as benchmarks/bench_heuristics.py)
        users, aps = (int(v) for v in name.split("x"))
        area_m = round(40.0 * math.sqrt(aps / 3.0), 1)
        return [generate("default", seed=1, users=users, aps=aps, area_m=area_m)]
    return [Instance.from_json(p) for p in sorted((ROOT / "instances" / "bench" / name).glob("*.json"))]


def run_set(name: str, solvers: list[str]) -> pd.DataFrame:
    """Every heuristic on every instance of the set; one row per (instance, solver)."""
    from offload_opt.costs import build_costs
    from offload_opt.solvers import solve

    records = _records()
    rows = []
    for inst in _instances(name):
        costs = build_costs(inst)
        rec = records.get(inst.digest())
        for solver in solvers:
            cpu0 = time.process_time()
            res = solve(costs, solver)
            cpu_s = time.process_time() - cpu0
            rows.append(
                {
                    "instance": inst.name,
                    "digest": inst.digest(),
                    "tasks": len(inst.tasks),
                    "accuracy_weight": inst.objective.accuracy_weight,
                    "solver": solver,
                    "objective": res.objective if res.feasible else math.nan,
                    "runtime_s": res.runtime_s,
                    "cpu_s": cpu_s,
                    "recorded": float(rec["objective"]) if rec else math.nan,
                    "proven": bool(rec and rec["termination"] == "optimal"),
                    "bound": float(rec["bound"]) if rec and rec["bound"] not in ("", "None") else math.nan,
                }
            )
    df = pd.DataFrame(rows)
    best = df.groupby("digest")["objective"].max()
    df["ref"] = [
        r.recorded
        if r.proven
        else max(r.recorded, best[r.digest])
        if not math.isnan(r.recorded)
        else best[r.digest]
        for r in df.itertuples()
    ]
    df["ref_kind"] = ["optimum" if p else "best-known" for p in df["proven"]]
    return df


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    from offload_opt.experiments.gap import loss_to, relative_gap_to

    out = []
    for solver, part in df.groupby("solver", sort=False):
        loss = [loss_to(o, r, "max") for o, r in zip(part["objective"], part["ref"], strict=True)]
        scale = part["accuracy_weight"] * part["tasks"]
        rel = [
            relative_gap_to(o, r, "max", s)
            for o, r, s in zip(part["objective"], part["ref"], scale, strict=True)
        ]
        rel = [g for g in rel if not math.isnan(g)]
        norm = [v / s for v, s in zip(loss, scale, strict=True) if not math.isnan(v)]
        bgap = [
            relative_gap_to(o, b, "max", s)
            for o, b, s in zip(part["objective"], part["bound"], scale, strict=True)
            if not math.isnan(b)
        ]
        bgap = [g for g in bgap if not math.isnan(g)]
        at_ref = [v <= AT_REF_TOL * max(1.0, abs(r)) for v, r in zip(loss, part["ref"], strict=True)]
        out.append(
            {
                "solver": solver,
                "ref": "/".join(sorted(set(part["ref_kind"]))),
                "n": len(part),
                "feasible": int(part["objective"].notna().sum()),
                "rel_n": len(rel),
                "mean_gap_%": 100 * statistics.fmean(rel) if rel else math.nan,
                "median_gap_%": 100 * statistics.median(rel) if rel else math.nan,
                "max_gap_%": 100 * max(rel) if rel else math.nan,
                "mean_norm_gap_%": 100 * statistics.fmean(norm) if norm else math.nan,
                "max_norm_gap_%": 100 * max(norm) if norm else math.nan,
                "at_ref_%": 100 * statistics.fmean(at_ref) if at_ref else math.nan,
                "bound_gap_%": 100 * statistics.fmean(bgap) if bgap else math.nan,
                "median_s": part["runtime_s"].median(),
                "max_s": part["runtime_s"].max(),
                "median_cpu_s": part["cpu_s"].median(),
                "max_cpu_s": part["cpu_s"].max(),
            }
        )
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> int:
    from offload_opt.solvers import solvers as registered

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", default=DEFAULT_SETS, help="sets under instances/bench (S, S56, M, L; the legacy model's v1/S, v1/S56, v1/M, v1/L) or USERSxAPS")
    p.add_argument(
        "--solvers", default=None, help="comma-separated heuristics [default: every registered non-exact one]"
    )
    p.add_argument("--csv", default=None, help="also write every (instance, solver) row here")
    args = p.parse_args(argv)
    solvers = (
        [s.strip() for s in args.solvers.split(",") if s.strip()]
        if args.solvers
        else [n for n, s in registered().items() if not s.exact]
    )
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 30)
    every = []
    for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        df = run_set(name, solvers)
        df.insert(0, "set", name)
        every.append(df)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
        print(f"set {name}: {df['instance'].nunique()} instance(s), peak_rss_mb {rss_mb:.0f}")
        print(summarise(df).to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-"))
        print(flush=True)
    if args.csv:
        pd.concat(every, ignore_index=True).to_csv(args.csv, index=False)
    print("command:", shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
