"""Speed and memory of the heuristics and baselines: greedy at 100 users x 10 APs, and scaling to 1000 x 50.

Run ``python benchmarks/bench_heuristics.py`` (``--help`` for the knobs). It prints
two pandas tables and the command that produced them:

1. greedy on 100 users x 10 APs: solver time only (cost tables built before
   the clock starts), min and median of ``--repeats`` runs on each of several
   seeds. The target is 50 ms.
2. scaling: each (size, solver) runs in a fresh worker process, one at a
   time (timings are not disturbed by a neighbour): generate the instance,
   build the cost tables, time the solver (``runtime_s``: min of
   ``--scaling-repeats`` runs, ``median_s`` beside it; local-search once,
   it runs to its time limit), then run it once more under ``tracemalloc``
   for its peak Python allocation (``solver_peak_mb``). ``peak_rss_mb`` is the
   worker's peak resident memory (instance + cost tables + solver). The area
   grows with the square root of the number of APs (40 m for 3 APs, the
   default scenario's density), so the AP density stays constant.

Solver time is what ``solve()`` reports as ``runtime_s`` (the solver call,
without cost-table building and without the evaluator). The cost tables'
lazily derived index tables (flow lists, topological orders) are computed
with the tables, before the clock starts; solvers keep nothing on the tables,
so repeated runs start from scratch. On a shared machine timings vary by
2-3x from run to run: the minimum is the figure to compare.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import resource
import shlex
import statistics
import sys
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor

import pandas as pd
from tqdm import tqdm

DEFAULT_SIZES = "100x10,250x15,500x25,1000x50"
DEFAULT_SOLVERS = "local-only,nearest-edge,best-single-mode,greedy,heft,local-search"


def area_for(aps: int) -> float:
    """Side of the square area (m) keeping the default density of APs (3 APs in 40 m x 40 m)."""
    return round(40.0 * math.sqrt(aps / 3.0), 1)


def _instance(users: int, aps: int, seed: int):
    from offload_opt.generator import generate

    return generate("default", seed=seed, users=users, aps=aps, area_m=area_for(aps))


def build(inst):
    """Cost tables, with their lazily derived index tables (flow lists, topological orders) computed:
    they are part of building the tables, not of solving."""
    from offload_opt.costs import build_costs

    costs = build_costs(inst)
    for t in costs.tasks:
        _ = t.mode_index
        for m in t.modes:
            _ = m.in_flows, m.topo_order, m.op_index
    _ = costs.resources, costs.task_index
    return costs


def greedy_small(seeds: list[int], repeats: int) -> pd.DataFrame:
    """Greedy's solver time on 100 users x 10 APs, per seed."""
    from offload_opt.solvers import solve

    rows = []
    for seed in seeds:
        inst = _instance(100, 10, seed)
        costs = build(inst)  # solvers keep nothing on the tables: every run starts from scratch
        times, res = [], None
        for _ in range(repeats):
            res = solve(costs, "greedy")
            times.append(res.runtime_s)
        assert res is not None
        rows.append(
            {
                "seed": seed,
                "users": 100,
                "aps": 10,
                "tasks": len(inst.tasks),
                "status": res.status,
                "objective": res.objective,
                "min_ms": 1e3 * min(times),
                "median_ms": 1e3 * statistics.median(times),
                "under_50ms": 1e3 * statistics.median(times) < 50.0,
            }
        )
    return pd.DataFrame(rows)


def _scaling_job(job: tuple[int, int, int, str, float, int]) -> dict:
    """One (size, solver) in a fresh process: build, time (min of ``repeats``), then measure the
    solver's allocations in one more run."""
    users, aps, seed, solver, ls_time_s, repeats = job
    from offload_opt.solvers import solve

    t0 = time.perf_counter()
    inst = _instance(users, aps, seed)
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    costs = build(inst)
    costs_s = time.perf_counter() - t0
    options = {"time_limit": ls_time_s} if solver == "local-search" else {}
    runs = [solve(costs, solver, **options) for _ in range(1 if solver == "local-search" else repeats)]
    res = min(runs, key=lambda r: r.runtime_s)
    tracemalloc.start()
    solve(costs, solver, **options)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return {
        "users": users,
        "aps": aps,
        "area_m": area_for(aps),
        "tasks": len(inst.tasks),
        "solver": solver,
        "status": res.status,
        "objective": res.objective,
        "runtime_s": res.runtime_s,
        "median_s": statistics.median(r.runtime_s for r in runs),
        "us_per_task": 1e6 * res.runtime_s / len(inst.tasks),
        "solver_peak_mb": peak / 2**20,
        "peak_rss_mb": rss_mb,
        "generate_s": gen_s,
        "costs_s": costs_s,
    }


def scaling(
    sizes: list[tuple[int, int]], solvers: list[str], seed: int, ls_time_s: float, repeats: int
) -> pd.DataFrame:
    jobs = [(u, a, seed, s, ls_time_s, repeats) for u, a in sizes for s in solvers]
    ctx = mp.get_context("spawn")
    rows = []
    # one worker, one job per process: clean memory figures and no neighbour disturbing the timings
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx, max_tasks_per_child=1) as pool:
        for row in tqdm(pool.map(_scaling_job, jobs), total=len(jobs), desc="scaling", file=sys.stderr):
            rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default=DEFAULT_SIZES, help="users x APs, comma-separated")
    p.add_argument("--solvers", default=DEFAULT_SOLVERS, help="solvers of the scaling table, comma-separated")
    p.add_argument("--seed", type=int, default=1, help="instance seed of the scaling table")
    p.add_argument("--small-seeds", default="0,1,2,3,4", help="seeds of the 100 x 10 greedy table")
    p.add_argument("--repeats", type=int, default=7, help="timed runs per seed in the 100 x 10 table")
    p.add_argument(
        "--scaling-repeats", type=int, default=3, help="timed runs per (size, solver); min reported"
    )
    p.add_argument(
        "--ls-time", type=float, default=1.5, help="local-search time limit (s), greedy start included"
    )
    args = p.parse_args(argv)
    sizes = [tuple(int(x) for x in s.split("x")) for s in args.sizes.split(",")]
    solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]

    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    small = greedy_small([int(s) for s in args.small_seeds.split(",")], args.repeats)
    print("greedy, 100 users x 10 APs, solver time (cost tables excluded):")
    print(small.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print()
    table = scaling(sizes, solvers, args.seed, args.ls_time, args.scaling_repeats)
    print(f"scaling (seed {args.seed}, area grows with sqrt(APs), local-search time limit {args.ls_time} s):")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print()
    print("command:", shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
