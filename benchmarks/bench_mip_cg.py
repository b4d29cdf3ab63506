"""The MIP with and without the hand-over from cg (option ``cg_share``; docs/mip.md, "Hand-over from cg").

Run ``python benchmarks/bench_mip_cg.py --sets M,v1/M --time-limit 60 --cg-share 0.3`` (``--plain``
also runs the plain MIP, one instance after the other, for a same-minute comparison). Each solve
runs in a fresh worker process, one at a time. Printed: one row per instance and variant (the
termination, the evaluated objective, the reported bound, its gap, ``bound_by``, cg's bound,
objective and seconds, the wall seconds) and the proven count per set.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shlex
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's package, also in the spawned workers


def _run(path: str, time_limit: float, threads: int, options: dict) -> dict:
    import time

    from offload_opt.instance import Instance
    from offload_opt.solvers import solve

    inst = Instance.from_json(path)
    t0 = time.perf_counter()
    r = solve(inst, "mip", time_limit=time_limit, threads=threads, **options)
    info = r.info
    return {
        "instance": Path(path).stem,
        "variant": ("mip+cg" + ("" if options.get("cg_cut", True) else "(no cut)"))
        if options.get("cg_share")
        else "mip",
        "termination": r.termination,
        "objective": r.objective,
        "bound": r.bound,
        "gap_%": None if r.gap is None else 100 * r.gap,
        "bound_by": info.get("bound_by", "mip"),
        "cg_bound": info.get("cg_bound"),
        "cg_objective": info.get("cg_objective"),
        "cg_termination": info.get("cg_termination"),
        "cg_s": info.get("cg_time_s"),
        "wall_s": time.perf_counter() - t0,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", default="M,v1/M", help="comma-separated sets under instances/bench")
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds per solve (cg's share included)")
    p.add_argument("--threads", type=int, default=1, help="HiGHS threads of the MIP")
    p.add_argument("--cg-share", type=float, default=0.3, help="share of the time limit cg gets first")
    p.add_argument("--plain", action="store_true", help="also run the plain MIP on each instance")
    p.add_argument(
        "--no-cut", action="store_true", help="cg's bound is reported but not a cut (cg_cut=false)"
    )
    p.add_argument("--only", default=None, help="comma-separated instance names (e.g. M-02,M-09)")
    p.add_argument("--csv", default=None, help="also write the rows to this CSV file")
    args = p.parse_args()
    only = set(args.only.split(",")) if args.only else None
    rows = []
    ctx = mp.get_context("spawn")
    for name in args.sets.split(","):
        for path in sorted((ROOT / "instances" / "bench" / name).glob("*.json")):
            if only is not None and path.stem not in only:
                continue
            hand_over = {"cg_share": args.cg_share, **({"cg_cut": False} if args.no_cut else {})}
            variants = ([{}] if args.plain else []) + [hand_over]
            for options in variants:
                with ProcessPoolExecutor(1, mp_context=ctx) as pool:
                    row = pool.submit(_run, str(path), args.time_limit, args.threads, options).result()
                row["set"] = name
                rows.append(row)
                print(pd.DataFrame([row]).to_string(index=False, header=len(rows) == 1, float_format="%.5g"))
                sys.stdout.flush()
    df = pd.DataFrame(rows)
    for (name, variant), part in df.groupby(["set", "variant"], sort=False):
        proven = int((part["termination"] == "optimal").sum())
        print(f"{name} {variant}: proven {proven}/{len(part)}, median gap {part['gap_%'].median():.3g} %")
    if args.csv:
        df.to_csv(args.csv, index=False)
    print("command: python " + " ".join(shlex.quote(a) for a in sys.argv))


if __name__ == "__main__":
    main()
