"""Classic scheduling benchmarks: published optima against what offload_opt's solvers prove.

Reads the instance list of ``instances/classic/published.json`` (source, published
optimum or bounds of each), imports each raw file from ``--data`` with
``offload_opt.readers``, runs every solver of ``--solvers`` with ``--time-limit``,
and prints one row per (instance, solver): the evaluated makespan, the solver's
bound, the bound of ``offload_opt.solvers.bounds`` and whether the published
optimum is proven. A makespan below a published optimum, or a bound above it, is
flagged ``WRONG`` (a bug here or in the published value). Rows are appended to
``--csv`` as they finish.

    python benchmarks/bench_classic.py --solvers cpsat --time-limit 60 --threads 2
    python benchmarks/bench_classic.py --solvers mip --family kacem --time-limit 60
    python benchmarks/bench_classic.py --solvers time-indexed,cpsat --family kacem --time-limit 60
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from offload_opt.costs import build_costs  # noqa: E402
from offload_opt.readers import read_classic  # noqa: E402
from offload_opt.solvers import solve  # noqa: E402
from offload_opt.solvers.bounds import makespan_lower_bound  # noqa: E402

MANIFEST = ROOT / "instances" / "classic" / "published.json"
DEFAULT_DATA = ROOT.parent / "shared" / "reference" / "classic"
EXACT = {"mip", "cpsat", "time-indexed"}


def published_interval(entry: dict[str, Any]) -> tuple[float | None, float | None]:
    """(lower, upper) of the published value: both the optimum when one is published."""
    pub = entry["published"]
    if "optimum" in pub:
        return float(pub["optimum"]), float(pub["optimum"])
    if entry.get("check") is False:
        return None, None  # unusable source value (see its note): no check
    lo, hi = pub["bounds"]  # either may be null: only the other side is published
    return (None if lo is None else float(lo)), (None if hi is None else float(hi))


def run_one(
    entry: dict[str, Any], data: Path, solver: str, time_limit: float, threads: int
) -> dict[str, Any]:
    inst = read_classic(
        data / entry["file"],
        entry["format"],
        processors=entry.get("processors"),
        machine_base=entry.get("machine_base", 1),
        name=entry["name"],
    )
    costs = build_costs(inst)
    lb = makespan_lower_bound(costs)
    options: dict[str, Any] = {"threads": threads} if solver in EXACT else {}
    t0 = time.perf_counter()
    res = solve(costs, solver=solver, time_limit=time_limit, seed=0, **options)
    wall = time.perf_counter() - t0
    lo, hi = published_interval(entry)
    verdict = ""
    if res.objective is not None and lo is not None and res.objective < lo - 1e-6:
        verdict = "WRONG: below published lower bound" + (" (see note)" if entry.get("note") else "")
    elif res.bound is not None and hi is not None and res.bound > hi + 1e-6:
        verdict = "WRONG: bound above published upper bound" + (" (see note)" if entry.get("note") else "")
    elif res.termination == "optimal" and lo is not None and lo == hi:
        verdict = "proven = published" if abs((res.objective or 0) - (lo or 0)) < 1e-6 else "proven, differs"
    elif res.termination == "optimal":
        verdict = "proven (published open)"
    return {
        "instance": entry["name"],
        "family": entry["family"],
        "solver": solver,
        "published": entry["published"].get("optimum", entry["published"].get("bounds")),
        "makespan": res.objective,
        "bound": res.bound,
        "bounds_py": lb,
        "termination": res.termination,
        "status": res.status,
        "gap": None if res.gap is None else round(res.gap, 4),
        "runtime_s": round(wall, 2),
        "verdict": verdict,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the raw .fjs/.stg files")
    p.add_argument("--solvers", default="cpsat", help="comma-separated solver names [default: cpsat]")
    p.add_argument("--family", default=None, help="only this family (kacem, fattahi, brandimarte, stg50)")
    p.add_argument("--only", default=None, help="comma-separated instance names")
    p.add_argument("--time-limit", type=float, default=60.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--csv", type=Path, default=None, help="append rows here as they finish")
    args = p.parse_args(argv)
    entries = json.loads(MANIFEST.read_text())["instances"]
    if args.family:
        entries = [e for e in entries if e["family"] == args.family]
    if args.only:
        names = set(args.only.split(","))
        entries = [e for e in entries if e["name"] in names]
    missing = sorted({e["file"] for e in entries if not (args.data / e["file"]).exists()})
    if missing:
        print(
            f"error: --data {args.data}: missing {len(missing)} file(s), e.g. {missing[0]}", file=sys.stderr
        )
        return 2
    print(f"# {' '.join(sys.argv)}")
    rows = []
    for e in entries:
        for solver in args.solvers.split(","):
            row = run_one(e, args.data, solver, args.time_limit, args.threads)
            rows.append(row)
            print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
            if args.csv:
                new = not args.csv.exists()
                with args.csv.open("a", newline="") as fh:
                    w = csv.DictWriter(fh, fieldnames=list(row))
                    if new:
                        w.writeheader()
                    w.writerow(row)
    for solver in args.solvers.split(","):
        mine = [r for r in rows if r["solver"] == solver]
        proven = sum(r["termination"] == "optimal" for r in mine)
        wrong = sum(r["verdict"].startswith("WRONG") for r in mine)
        print(f"# {solver}: {proven}/{len(mine)} proven optimal, {wrong} WRONG")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
