"""Hard deadlines: do the heuristics find a deadline-feasible schedule wherever the MIP finds one?

Run ``python benchmarks/bench_deadlines.py`` (``--help`` for the knobs). On
``generate("default", seed=s, users=u, aps=2, deadline_s=d, slots=k)`` over
the grid of users, seeds, deadlines and GPU slots, every instance is solved
by each heuristic of ``--heuristics`` (default ``greedy,alns``; e.g.
``--heuristics local-search,alns,greedy``; defaults: deterministic budgets);
where any of them misses a deadline, the MIP is run (``--mip-time-limit``, 20 s) to say
whether a deadline-feasible schedule exists (``feasible``: found one, proven
optimal or not; ``infeasible``: proven none; ``unknown``: time limit, none
found). All results are re-evaluated by the evaluator (``solve``).

It prints one row per (users, slots) and a total: instances; ``feasible``:
those where a schedule meeting every deadline exists (a heuristic met them,
or the MIP found one); ``mip_infeasible`` / ``mip_unknown``: the MIP's verdict
where every heuristic missed; ``<h>_meets``: how many of the feasible ones
heuristic ``h`` meets; and ``<h>_worst_gap_pct``, each heuristic but greedy's
worst gap to the MIP's objective where the MIP ran, proved it optimal and both
met them. ``<h>_miss_mip_feasible`` lists the feasible instances ``h`` misses
(every heuristic but greedy). ``--csv``
writes the per-instance rows; ``--reuse CSV [CSV ...]`` takes the MIP
columns from previous runs' CSVs, wherever they ran it (the MIP is the slow part; the instances are the same for
the same grid), e.g. to compare two versions of the heuristics;
``--summarise CSV`` prints the tables of a saved CSV.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import pandas as pd

from offload_opt.costs import build_costs
from offload_opt.generator import generate
from offload_opt.solvers import solve

DEFAULT_HEURISTICS = ("greedy", "alns")


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def _meets(res) -> bool:
    """The result is a schedule the evaluator finds feasible, every deadline met."""
    return res.evaluation is not None and res.evaluation.feasible


def _mip_verdict(res) -> str:
    if _meets(res):
        return "feasible"
    if res.termination == "infeasible":
        return "infeasible"
    return "unknown"


def run_one(
    users: int,
    seed: int,
    deadline_s: float,
    slots: int,
    mip_limit_s: float,
    cached: dict,
    heuristics: tuple[str, ...] = DEFAULT_HEURISTICS,
) -> dict:
    costs = build_costs(
        generate("default", seed=seed, users=users, aps=2, deadline_s=deadline_s, slots=slots)
    )
    row: dict = {"users": users, "seed": seed, "deadline_s": deadline_s, "slots": slots}
    for h in heuristics:
        res = solve(costs, h)
        row[f"{h}_meets"] = _meets(res)
        row[f"{h}_obj"] = res.objective
    key = (users, seed, deadline_s, slots)
    if key in cached:
        row["mip"], row["mip_obj"], row["mip_termination"] = cached[key]
        return row
    if all(row[f"{h}_meets"] for h in heuristics):
        # a heuristic met them: a feasible schedule exists (no MIP run, no MIP objective)
        row["mip"], row["mip_obj"], row["mip_termination"] = "feasible", None, None
        return row
    m = solve(costs, "mip", time_limit=mip_limit_s)
    row["mip"], row["mip_obj"], row["mip_termination"] = _mip_verdict(m), m.objective, m.termination
    return row


def heuristics_of(df: pd.DataFrame) -> list[str]:
    """The heuristics a table has rows for (its ``<h>_meets`` columns), in column order."""
    return [c.removesuffix("_meets") for c in df.columns if c.endswith("_meets")]


def _worst_gap_pct(df: pd.DataFrame, h: str) -> float:
    """Largest (MIP optimum - objective of ``h``) / |MIP optimum|, in %, where both met the deadlines and
    the MIP proved its objective optimal within its time limit."""
    both = df[df[f"{h}_meets"] & df.mip_obj.notna() & (df.get("mip_termination") == "optimal")]
    if both.empty:
        return float("nan")
    return round(float(((both.mip_obj - both[f"{h}_obj"]) / both.mip_obj.abs()).max() * 100), 2)


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Per (users, slots) and in total: how many instances admit a deadline-feasible schedule, and on how
    many of those each heuristic meets every deadline."""
    hs = heuristics_of(df)
    rows = []
    groups = [(k, g) for k, g in df.groupby(["users", "slots"])] + [(("all", "all"), df)]
    for (u, k), g in groups:
        feas = g[g.mip == "feasible"]
        row = {
            "users": u,
            "slots": k,
            "instances": len(g),
            "feasible": len(feas),
            "mip_infeasible": int((g.mip == "infeasible").sum()),
            "mip_unknown": int((g.mip == "unknown").sum()),
        }
        for h in hs:
            row[f"{h}_meets"] = int(feas[f"{h}_meets"].sum())
        for h in hs:
            if h != "greedy":
                row[f"{h}_worst_gap_pct"] = _worst_gap_pct(feas, h)
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=_ints, default=[3, 4, 5])
    ap.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1")
    ap.add_argument("--deadlines", type=_floats, default=[5.0, 6.0, 8.0])
    ap.add_argument("--slots", type=_ints, default=[2, 8])
    ap.add_argument("--mip-time-limit", type=float, default=20.0)
    ap.add_argument(
        "--heuristics",
        type=lambda t: tuple(x for x in t.split(",") if x),
        default=DEFAULT_HEURISTICS,
        help="comma-separated solvers to check (default: greedy,alns)",
    )
    ap.add_argument("--csv", type=Path, default=None, help="write the per-instance rows here")
    ap.add_argument("--reuse", type=Path, nargs="*", default=[], help="take the MIP verdicts from these CSVs")
    ap.add_argument("--summarise", type=Path, default=None, help="only print the tables of this CSV")
    args = ap.parse_args(argv)
    if args.summarise is not None:
        _print(pd.read_csv(args.summarise), argv)
        return 0
    cached: dict = {}
    for path in args.reuse:
        old = pd.read_csv(path)
        for r in old.itertuples():
            if r.mip in ("infeasible", "unknown") or (r.mip == "feasible" and not pd.isna(r.mip_obj)):
                obj = None if pd.isna(r.mip_obj) else float(r.mip_obj)
                term = getattr(r, "mip_termination", None)
                term = None if term is None or pd.isna(term) else str(term)
                cached[(int(r.users), int(r.seed), float(r.deadline_s), int(r.slots))] = (r.mip, obj, term)
    rows = []
    grid = [
        (u, s, d, k)
        for u in args.users
        for s in range(args.seeds)
        for d in args.deadlines
        for k in args.slots
    ]
    for n, (u, s, d, k) in enumerate(grid, 1):
        rows.append(run_one(u, s, d, k, args.mip_time_limit, cached, args.heuristics))
        print(f"\r{n}/{len(grid)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    df = pd.DataFrame(rows)
    if args.csv is not None:
        df.to_csv(args.csv, index=False)
    _print(df, argv)
    return 0


def _print(df: pd.DataFrame, argv: list[str] | None) -> None:
    print("$ python benchmarks/bench_deadlines.py " + shlex.join(argv if argv is not None else sys.argv[1:]))
    print(summarise(df).to_string(index=False))
    for h in heuristics_of(df):
        if h == "greedy":
            continue
        left = df[(df.mip == "feasible") & ~df[f"{h}_meets"].astype(bool)]
        cases = [(int(r.users), int(r.seed), float(r.deadline_s), int(r.slots)) for r in left.itertuples()]
        print(f"{h}_miss_mip_feasible:", cases)


if __name__ == "__main__":
    raise SystemExit(main())
