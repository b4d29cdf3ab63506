"""Record the MIP's result on every instance of benchmark sets into an optima table.

Usage (from the repository root; this is the command that wrote
``instances/bench/optima.csv``):

    python benchmarks/record_optima.py --sets S,S56,M --time-limit 60 --threads 1 \
        -o instances/bench/optima.csv

One row per instance: set, name, path, digest, the MIP's termination,
objective and bound, the time limit and the command. Rows with
``termination=optimal`` are proven optima (within the MIP's default
``mip_gap``); other rows are incumbents with a bound. Benchmarks and tests
look rows up by the instance digest, so an instance that changes is never
matched with a stale optimum. A second pass with a longer ``--time-limit``
and ``--only-open`` re-solves only the rows that are not proven and keeps
the others.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ["set", "instance", "path", "digest", "termination", "objective", "bound", "time_limit_s", "source"]


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    from offload_opt.instance import Instance
    from offload_opt.solvers import solve

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="S,S56,M", help="comma-separated directories under instances/bench")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only-open", action="store_true", help="re-solve only rows of -o that are not optimal")
    ap.add_argument("-o", "--output", default=str(ROOT / "instances" / "bench" / "optima.csv"))
    args = ap.parse_args(argv)

    out = Path(args.output)
    kept: dict[str, dict[str, str]] = {}
    if out.exists():
        with out.open(newline="") as fh:
            kept = {r["path"]: r for r in csv.DictReader(fh)}
    source = f"solve --solver mip --time-limit {args.time_limit:g} --threads {args.threads}"
    rows: list[dict[str, str]] = []
    print(f"{'instance':<16} {'termination':<12} {'objective':>12} {'bound':>12} {'seconds':>8}")
    for name in args.sets.split(","):
        for path in sorted((ROOT / "instances" / "bench" / name).glob("*.json")):
            rel = path.relative_to(ROOT).as_posix()
            inst = Instance.from_json(path)
            old = kept.get(rel)
            if args.only_open and old and old["digest"] == inst.digest() and old["termination"] == "optimal":
                rows.append(old)
                continue
            res = solve(inst, "mip", time_limit=args.time_limit, threads=args.threads)
            rows.append(
                {
                    "set": name,
                    "instance": inst.name,
                    "path": rel,
                    "digest": inst.digest(),
                    "termination": res.termination,
                    "objective": repr(res.objective),
                    "bound": repr(res.bound),
                    "time_limit_s": f"{args.time_limit:g}",
                    "source": source,
                }
            )
            print(f"{inst.name:<16} {res.termination:<12} {res.objective:>12.6f} {res.bound:>12.6f} {res.runtime_s:>8.2f}")
    done = {r["path"] for r in rows}
    rows += [r for p, r in kept.items() if p not in done]
    rows.sort(key=lambda r: r["path"])
    with out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} ({len(rows)} rows)")
    print("command: python benchmarks/record_optima.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
