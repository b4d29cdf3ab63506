"""The column-generation solver on the committed benchmark sets (instances/bench/v1/{S,M,L}).

Run ``python benchmarks/bench_cg.py`` (``--help`` for the knobs). Each instance is solved in a
fresh worker process, one at a time. Printed: one row per instance (status, termination,
evaluated objective, valid bound, relative gap, seconds, grid, iterations, columns, where the
incumbent came from), then a summary per set (proven optimal, median and max gap, median
seconds) and the command. ``--optima`` compares the bounds with the proven S optima stored in
tests/test_cg.py (docs/mip.md). Timings on a shared machine are noisy: compare gaps, not seconds.
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--sets", default="S,M,L", help="comma-separated sets under instances/bench")
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds per instance")
    p.add_argument("--limit", type=int, default=None, help="first N instances of each set")
    p.add_argument("--option", action="append", default=[], help="cg option KEY=VALUE (repeatable)")
    p.add_argument("--optima", action="store_true", help="check S bounds against the proven optima")
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
        from tests.test_cg import S_OPTIMA

        df["optimum"] = df.instance.map(S_OPTIMA)
        df["bound-opt %"] = 100 * (df.bound - df.optimum) / df.optimum.abs()
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
