"""The exact MIP on the committed benchmark sets (instances/bench/v1/{S,M,L}, see their README).

Run ``python benchmarks/bench_mip.py`` (``--help`` for the knobs). Each instance is solved in a
fresh worker process, one at a time (the MIP uses ``--threads`` cores; a neighbour would disturb
the timings). Printed: one row per instance (status, termination, evaluated objective, proven
bound, relative gap, Pyomo build seconds, HiGHS solve seconds), a summary per set (proven
optimal, median solve time, build time as a share of solve time) and the command.

``build_s`` is everything before HiGHS starts: cost tables to model, windows, pairs, warm start
values, and the translation of the Pyomo model into HiGHS (the heuristic warm start is not
included: it is reported as ``heur_s``). ``solve_s`` is HiGHS plus the row-generation rounds and
the final fixed-model check (``polish``). ``wall_s`` is the whole solver call, which
``--time-limit`` covers (docs/mip.md, "Time limit"); ``note`` lists a claim mismatch, an error or
the phases the time limit cut short (``MipReport.skipped``).

``--ablate`` switches off formulation features one at a time to measure what they bring
(docs/mip.md, "What moved the numbers").
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shlex
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
ABLATIONS = {
    "none": {},
    "no-windows": {"windows": False},
    "no-server-cuts": {"server_cuts": False},
    "no-bound-cuts": {"bound_cuts": False},
    "no-symmetry": {"symmetry": False},
    "no-lazy": {"lazy": "none"},
    "lazy-channels": {"lazy": "channels"},
    "lazy-all": {"lazy": "all"},
    "no-warm-start": {"warm_start": None},
    "no-time-index": {"time_grid": None},
    "no-lp-floors": {"floor_passes": 0},
    "lazy-full": {"lazy": "full"},
    "no-content-cuts": {"content": False},
}


def _run(path: str, time_limit: float, threads: int, options: dict) -> dict:
    from offload_opt.costs import build_costs
    from offload_opt.instance import Instance
    from offload_opt.solvers import solve

    inst = Instance.from_json(path)
    costs = build_costs(inst)
    r = solve(costs, "mip", time_limit=time_limit, threads=threads, **options)
    rep = r.report  # MipReport
    return {
        "instance": Path(path).stem,
        "status": r.status,
        "termination": r.termination,
        "objective": r.objective,
        "bound": r.bound,
        "gap": r.gap,
        "wall_s": r.runtime_s,  # the whole call, which the time limit covers
        "heur_s": rep.heuristic_time_s,
        "build_s": r.build_time_s,
        "solve_s": rep.solve_time_s + rep.polish_time_s,
        "rounds": rep.iterations,
        "pairs": rep.pairs,
        "note": r.claim_mismatch or rep.error or "; ".join(rep.skipped),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", default="S,M,L", help="comma-separated sets under instances/bench")
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds per instance")
    p.add_argument("--threads", type=int, default=2, help="HiGHS threads")
    p.add_argument("--limit", type=int, default=None, help="first N instances of each set")
    p.add_argument("--ablate", default="none", choices=sorted(ABLATIONS), help="switch one feature off")
    p.add_argument("--csv", default=None, help="also write the rows to this CSV file")
    args = p.parse_args(argv)
    options = ABLATIONS[args.ablate]
    rows = []
    ctx = mp.get_context("spawn")
    for name in args.sets.split(","):
        paths = sorted((ROOT / "instances" / "bench" / name).glob("*.json"))[: args.limit]
        for path in paths:
            with ProcessPoolExecutor(1, mp_context=ctx) as pool:
                row = pool.submit(_run, str(path), args.time_limit, args.threads, options).result()
            row["set"] = name
            rows.append(row)
            print(
                f"{row['instance']}: {row['termination']} obj={row['objective']} gap={row['gap']} "
                f"build={row['build_s']:.2f}s solve={row['solve_s']:.2f}s",
                file=sys.stderr,
                flush=True,
            )
    df = pd.DataFrame(rows)
    cols = [
        "instance",
        "status",
        "termination",
        "objective",
        "bound",
        "gap",
        "wall_s",
        "heur_s",
        "build_s",
        "solve_s",
        "rounds",
        "pairs",
        "note",
    ]
    with pd.option_context(
        "display.max_rows", None, "display.width", 200, "display.float_format", "{:.4g}".format
    ):
        print(df[cols].to_string(index=False))
        summary = df.groupby("set", sort=False).agg(
            n=("instance", "size"),
            optimal=("termination", lambda s: int((s == "optimal").sum())),
            with_bound=("bound", lambda s: int(s.notna().sum())),
            median_solve_s=("solve_s", "median"),
            max_solve_s=("solve_s", "max"),
            median_build_s=("build_s", "median"),
        )
        summary["build/solve"] = [
            statistics.median((df[df.set == s].build_s / df[df.set == s].solve_s).tolist())
            for s in summary.index
        ]
        print()
        print(summary.to_string())
    if args.csv:
        df.to_csv(args.csv, index=False)
    print()
    print("command: python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
