"""Speed of the simulation over time: one hour of a 50-user, 5-AP network with greedy and the arrival epoch.

Run ``python benchmarks/bench_simulate.py`` (``--help`` for the knobs). It

1. finds greedy's saturation rate on the network with a short load curve
   (``--find-rates``, ``--find-duration-s``; the lowest swept rate at which
   the run saturates, see ``offload_opt.sim.engine.is_saturated``), unless
   ``--rate`` is given;
2. simulates ``--durations`` minutes (default 10, 30, 60) at ``--load`` (default
   80 %) of that rate, each in a fresh worker process one at a time, and
   prints a pandas table: tasks, epochs, wall time (``wall_s``: generation,
   simulation and summary), wall time per task, and the run's mean latency
   and GPU utilisation (to show the load is the intended one).

The target is under 60 s for the hour on 2 cores, with the time per task
flat across durations (cost linear in the number of tasks). Timings on a
shared machine vary by 2-3x from run to run; compare the minimum of several
runs (``--repeats``). ``cpu_s`` is the worker's processor time, which other
jobs on the machine inflate much less than the wall time.

``--baseline DIR`` also runs every duration with the offload_opt of another
checkout (e.g. ``git worktree add /tmp/base <commit>``), alternating with this
one so that both see the same load, and adds its times and the ratios
(``speedup_wall``, ``speedup_cpu``: baseline time / this checkout's time).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

# this checkout's offload_opt, also in the spawned workers (which re-run this module's top level)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

AREA_M = round(40.0 * math.sqrt(5 / 3.0), 1)  # the default scenario's AP density (3 APs in 40 m x 40 m)


def _run(args: tuple[float, float, int, int, int]) -> dict:
    rate, duration_s, users, aps, seed = args
    from offload_opt.sim import simulate

    t0, c0 = time.perf_counter(), time.process_time()
    res = simulate(
        "default", policy="greedy", rate=rate, duration_s=duration_s, seed=seed, users=users, aps=aps,
        area_m=AREA_M,
    )  # fmt: skip
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    s = res.summary
    return {
        "duration_min": duration_s / 60.0,
        "rate": rate,
        "tasks": s["n_tasks"],
        "epochs": s["epochs"],
        "wall_s": wall,
        "ms_per_task": 1000.0 * wall / max(1, s["n_tasks"]),
        "cpu_s": cpu,
        "cpu_ms_per_task": 1000.0 * cpu / max(1, s["n_tasks"]),
        "mean_latency_s": s["mean_latency_s"],
        "gpu_utilisation": s["gpu_utilisation"],
        "saturated": s["saturated"],
    }


def _use_checkout(root: str) -> None:
    """Worker initializer: import offload_opt from ``root`` (before anything imports it)."""
    sys.path.insert(0, root)


def _in_worker(args: tuple[float, float, int, int, int], checkout: str | None = None) -> dict:
    ctx = mp.get_context("spawn")
    init = (_use_checkout, (checkout,)) if checkout else (None, ())
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=init[0], initargs=init[1]) as pool:
        row = pool.submit(_run, args).result()
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=50)
    p.add_argument("--aps", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rate", type=float, default=None, help="skip the search: greedy's saturation rate")
    p.add_argument("--load", type=float, default=0.8, help="share of the saturation rate [default: 0.8]")
    p.add_argument("--find-rates", default="1,2,3,4,5,6,8,10", help="rates swept to find saturation")
    p.add_argument("--find-duration-s", type=float, default=600.0)
    p.add_argument("--durations", default="10,30,60", help="simulated minutes [default: 10,30,60]")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--baseline", default=None, help="another checkout's root: time it too, alternating")
    args = p.parse_args(argv)
    if args.baseline and not (Path(args.baseline) / "offload_opt" / "__init__.py").is_file():
        print(f"baseline: no offload_opt package under {args.baseline!r}", file=sys.stderr)
        return 2

    sat = args.rate
    if sat is None:
        for r in (float(x) for x in args.find_rates.split(",")):
            row = _in_worker((r, args.find_duration_s, args.users, args.aps, args.seed))
            print(
                f"search: rate {r:g}/s saturated={row['saturated']} ({row['wall_s']:.1f} s)", file=sys.stderr
            )
            if row["saturated"]:
                sat = r
                break
        if sat is None:
            print(
                "greedy did not saturate within --find-rates; give a larger list or --rate", file=sys.stderr
            )
            return 1
    rate = args.load * sat
    rows = []
    for minutes in (float(x) for x in args.durations.split(",")):
        job = (rate, 60.0 * minutes, args.users, args.aps, args.seed)
        runs, base = [], []
        for _ in range(args.repeats):
            if args.baseline:
                base.append(_in_worker(job, args.baseline))
            runs.append(_in_worker(job))
        best = dict(min(runs, key=lambda r: r["wall_s"]))
        best["cpu_s"] = min(r["cpu_s"] for r in runs)
        best["cpu_ms_per_task"] = 1000.0 * best["cpu_s"] / max(1, best["tasks"])
        if base:
            b_wall, b_cpu = min(r["wall_s"] for r in base), min(r["cpu_s"] for r in base)
            if base[0]["tasks"] != best["tasks"] or base[0]["mean_latency_s"] != best["mean_latency_s"]:
                print(f"warning: the baseline simulated a different run at {minutes:g} min", file=sys.stderr)
            best["base_wall_s"] = b_wall
            best["base_cpu_s"] = b_cpu
            best["speedup_wall"] = b_wall / best["wall_s"]
            best["speedup_cpu"] = b_cpu / best["cpu_s"]
        rows.append(best)
        print(
            "done:", {k: round(v, 4) if isinstance(v, float) else v for k, v in best.items()}, file=sys.stderr
        )
    df = pd.DataFrame(rows)
    how = "given with --rate" if args.rate is not None else "lowest swept rate that saturated"
    print(f"greedy saturation rate: {sat:g} tasks/s ({how}); load {args.load:.0%}")
    print(df.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print("command:", shlex.join([sys.executable, *sys.argv]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
