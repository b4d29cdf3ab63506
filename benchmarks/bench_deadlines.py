"""Hard deadlines: do the heuristics find a deadline-feasible schedule wherever the MIP finds one?

Run ``python benchmarks/bench_deadlines.py`` (``--help`` for the knobs). On
``generate("default", seed=s, users=u, aps=2, deadline_s=d, slots=k)`` over
the grid of users, seeds, deadlines and GPU slots, every instance is solved
by ``greedy`` (spt) and ``alns`` (defaults: deterministic budgets); where
either misses a deadline, the MIP is run (``--mip-time-limit``, 20 s) to say
whether a deadline-feasible schedule exists (``feasible``: found one, proven
optimal or not; ``infeasible``: proven none; ``unknown``: time limit, none
found). All results are re-evaluated by the evaluator (``solve``).

It prints one row per (users, slots) and a total: instances; ``feasible``:
those where a schedule meeting every deadline exists (a heuristic met them,
or the MIP found one); ``mip_infeasible`` / ``mip_unknown``: the MIP's verdict
where both heuristics missed; how many of the feasible ones greedy and ALNS
meet; and ALNS's worst gap to the MIP's objective where the MIP ran and met
them. ``alns_miss_mip_feasible`` lists the feasible instances ALNS misses. ``--csv``
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


def run_one(users: int, seed: int, deadline_s: float, slots: int, mip_limit_s: float, cached: dict) -> dict:
    costs = build_costs(
        generate("default", seed=seed, users=users, aps=2, deadline_s=deadline_s, slots=slots)
    )
    g = solve(costs, "greedy")
    a = solve(costs, "alns")
    row = {
        "users": users,
        "seed": seed,
        "deadline_s": deadline_s,
        "slots": slots,
        "greedy_meets": _meets(g),
        "greedy_obj": g.objective,
        "alns_meets": _meets(a),
        "alns_obj": a.objective,
    }
    key = (users, seed, deadline_s, slots)
    if key in cached:
        row["mip"], row["mip_obj"], row["mip_termination"] = cached[key]
        return row
    if row["greedy_meets"] and row["alns_meets"]:
        # a heuristic met them: a feasible schedule exists (no MIP run, no MIP objective)
        row["mip"], row["mip_obj"], row["mip_termination"] = "feasible", None, None
        return row
    m = solve(costs, "mip", time_limit=mip_limit_s)
    row["mip"], row["mip_obj"], row["mip_termination"] = _mip_verdict(m), m.objective, m.termination
    return row


def _worst_gap_pct(df: pd.DataFrame) -> float:
    """Largest (MIP optimum - ALNS objective) / |MIP optimum|, in %, where both met the deadlines and
    the MIP proved its objective optimal within its time limit."""
    both = df[df.alns_meets & df.mip_obj.notna() & (df.get("mip_termination") == "optimal")]
    if both.empty:
        return float("nan")
    return round(float(((both.mip_obj - both.alns_obj) / both.mip_obj.abs()).max() * 100), 2)


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Per (users, slots) and in total: how many instances admit a deadline-feasible schedule, and on how
    many of those greedy and ALNS meet every deadline."""
    rows = []
    groups = [(k, g) for k, g in df.groupby(["users", "slots"])] + [(("all", "all"), df)]
    for (u, k), g in groups:
        feas = g[g.mip == "feasible"]
        rows.append(
            {
                "users": u,
                "slots": k,
                "instances": len(g),
                "feasible": len(feas),
                "mip_infeasible": int((g.mip == "infeasible").sum()),
                "mip_unknown": int((g.mip == "unknown").sum()),
                "greedy_meets": int(feas.greedy_meets.sum()),
                "alns_meets": int(feas.alns_meets.sum()),
                "alns_worst_gap_pct": _worst_gap_pct(feas),
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=_ints, default=[3, 4, 5])
    ap.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1")
    ap.add_argument("--deadlines", type=_floats, default=[5.0, 6.0, 8.0])
    ap.add_argument("--slots", type=_ints, default=[2, 8])
    ap.add_argument("--mip-time-limit", type=float, default=20.0)
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
        rows.append(run_one(u, s, d, k, args.mip_time_limit, cached))
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
    left = df[(df.mip == "feasible") & ~df.alns_meets]
    cases = [(int(r.users), int(r.seed), float(r.deadline_s), int(r.slots)) for r in left.itertuples()]
    print("alns_miss_mip_feasible:", cases)


if __name__ == "__main__":
    raise SystemExit(main())
