"""The column-generation solver on the committed benchmark sets (instances/bench/{S,S56,M,L}).

Run ``python benchmarks/bench_cg.py`` (``--help`` for the knobs). Each instance is solved in a
fresh worker process, one at a time. Printed: one row per instance (status, termination,
evaluated objective, valid bound, relative gap, seconds, grid, iterations, columns, where the
incumbent came from), then a summary per set (proven optimal, median and max gap, median
seconds) and the command. ``--optima`` compares the bounds with the MIP results stored next to the
sets (instances/bench/optima.csv; ``--sets v1/S`` reads instances/bench/v1/optima.csv): the proven
optimum, or the MIP's best objective where it did not prove one. Timings on a shared machine are
noisy: compare gaps, not seconds.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shlex
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # this checkout's package, also in the spawned workers
    sys.path.insert(0, str(ROOT))


def _run(path: str, time_limit: float, options: dict[str, Any]) -> dict[str, Any]:
    from offload_opt.costs import build_costs
    from offload_opt.instance import Instance
    from offload_opt.solvers import solve

    costs = build_costs(Instance.from_json(path))
    r = solve(costs, "cg", time_limit=time_limit, **options)
    i = r.info
    return {
        "instance": Path(path).stem,
        "status": r.status,
        "termination": r.termination,
        "objective": r.objective,
        "bound": r.bound,
        "gap": r.gap,
        "seconds": r.runtime_s,
        "grid": i.get("grid"),
        "periods": i.get("horizon_periods"),
        "iterations": i.get("iterations"),
        "columns": i.get("columns"),
        "converged": i.get("converged"),
        "nodes": i.get("nodes"),
        "incumbent": i.get("incumbent_source"),
        "note": i.get("claim_mismatch", ""),
    }


def _option(text: str) -> tuple[str, Any]:
    key, _, value = text.partition("=")
    for cast in (int, float):
        try:
            return key, cast(value)
        except ValueError:
            pass
    return key, {"none": None, "true": True, "false": False}.get(value.lower(), value)


def _optima(sets: list[str]) -> dict[tuple[str, str], tuple[bool, float]]:
    """(set, instance) -> (proven by the MIP, its objective), from each set's optima.csv."""
    out: dict[tuple[str, str], tuple[bool, float]] = {}
    for name in sets:
        prefix, _, base = name.rpartition("/")
        path = ROOT / "instances" / "bench" / prefix / "optima.csv"
        if not path.exists():
            continue
        table = pd.read_csv(path)
        for r in table[table.set == base].itertuples():
            out[(name, str(r.instance))] = (r.termination == "optimal", float(r.objective))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument(
        "--sets", default="S,S56,M", help="comma-separated sets under instances/bench (v1/S: the legacy sets)"
    )
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds per instance")
    p.add_argument("--limit", type=int, default=None, help="first N instances of each set")
    p.add_argument("--option", action="append", default=[], help="cg option KEY=VALUE (repeatable)")
    p.add_argument("--optima", action="store_true", help="compare with the MIP results in optima.csv")
    p.add_argument("--csv", default=None, help="also write the rows to this CSV file")
    args = p.parse_args(argv)
    options = dict(_option(o) for o in args.option)
    rows = []
    ctx = mp.get_context("spawn")
    for name in args.sets.split(","):
        paths = sorted((ROOT / "instances" / "bench" / name).glob("*.json"))[: args.limit]
        for path in paths:
            with ProcessPoolExecutor(1, mp_context=ctx) as pool:
                row = pool.submit(_run, str(path), args.time_limit, options).result()
            row["set"] = name
            rows.append(row)
            print(
                f"{row['instance']}: {row['termination']} obj={row['objective']} bound={row['bound']} "
                f"gap={row['gap']} {row['seconds']:.1f}s",
                file=sys.stderr,
                flush=True,
            )
    df = pd.DataFrame(rows)
    if args.optima:
        mip = _optima(args.sets.split(","))
        df["mip"] = [mip.get((s, i), (None, None))[1] for s, i in zip(df.set, df.instance, strict=True)]
        df["mip_proven"] = [
            mip.get((s, i), (None, None))[0] for s, i in zip(df.set, df.instance, strict=True)
        ]
        df["bound-mip %"] = 100 * (df.bound - df.mip) / df.mip.abs()
        df["obj-mip %"] = 100 * (df.objective - df.mip) / df.mip.abs()
    cols = [c for c in df.columns if c != "set"]
    with pd.option_context(
        "display.max_rows", None, "display.width", 220, "display.float_format", "{:.4g}".format
    ):
        print(df[cols].to_string(index=False))
        summary = df.groupby("set", sort=False).agg(
            n=("instance", "size"),
            optimal=("termination", lambda s: int((s == "optimal").sum())),
            median_gap_pct=("gap", lambda s: 100 * s.median()),
            max_gap_pct=("gap", lambda s: 100 * s.max()),
            median_s=("seconds", "median"),
            max_s=("seconds", "max"),
        )
        print()
        print(summary.to_string())
    if args.csv:
        df.to_csv(args.csv, index=False)
    print()
    print("command: python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
