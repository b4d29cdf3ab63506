"""What the slot abstraction of an edge GPU costs: latency error against continuous batching.

Run ``python benchmarks/bench_batching.py`` (``--help`` for the knobs). For every named
scenario (``offload_opt.generator.SCENARIOS``), every seed and every load (tasks per user), it

1. generates the instance and solves it with a fast heuristic (``--solver``, default greedy);
   the evaluator times the schedule with the slot abstraction (each GPU as B unary slots, every
   op at the per-stream speed of batch B: docs/model.md "Edge serving");
2. replays the same decisions (same per-GPU order, same transfers and device orders) in the
   continuous-batching simulation of ``offload_opt.sim.batching`` (each GPU's active streams
   share it, per-stream decode speed at the current concurrency);
3. prints per (scenario, load) the mean, p95 and max relative latency error of the slot
   abstraction, ``(slot - batched) / batched`` over all tasks of all seeds (> 0: the abstraction
   is pessimistic), and the mean latencies.

Deterministic (seeded instances, deterministic heuristic); not a timing benchmark.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's offload_opt


def main(argv: list[str] | None = None) -> int:
    from offload_opt.costs import build_costs
    from offload_opt.generator import SCENARIOS, generate
    from offload_opt.sim.batching import replay_batched
    from offload_opt.solvers.base import solve

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated named scenarios")
    ap.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per scenario")
    ap.add_argument("--loads", default="1,4", help="tasks per user, comma-separated")
    ap.add_argument("--solver", default="greedy", help="a fast registered heuristic")
    ap.add_argument(
        "--gpus-per-ap",
        type=int,
        default=None,
        help="override the scenarios' GPUs per AP (1: models share a GPU)",
    )
    args = ap.parse_args(argv)
    rows = []
    for name in args.scenarios.split(","):
        for load in (int(x) for x in args.loads.split(",")):
            errors: list[float] = []
            slot_lat: list[float] = []
            batch_lat: list[float] = []
            gpu_tasks = 0
            for seed in range(args.seeds):
                knobs = {} if args.gpus_per_ap is None else {"gpus_per_ap": args.gpus_per_ap}
                inst = generate(name, seed=seed, tasks_per_user=load, **knobs)
                costs = build_costs(inst)
                res = solve(costs, args.solver, seed=seed)
                assert res.solution is not None and res.evaluation is not None and res.evaluation.feasible
                rep = replay_batched(inst, costs, res.solution, res.evaluation)
                errors += rep.relative_errors()
                slot_lat += list(rep.slot_latency_s.values())
                batch_lat += list(rep.batched_latency_s.values())
                gpu_tasks += sum(
                    1 for d in res.solution.decisions if any(p.node.startswith("ap:") for p in d.placements)
                )
            e = np.array(errors)
            rows.append(
                {
                    "scenario": name,
                    "tasks_per_user": load,
                    "tasks": len(e),
                    "on_edge": gpu_tasks,
                    "mean_err_%": 100 * e.mean(),
                    "p95_abs_err_%": 100 * np.percentile(np.abs(e), 95),
                    "max_abs_err_%": 100 * np.abs(e).max(),
                    "mean_latency_slot_s": float(np.mean(slot_lat)),
                    "mean_latency_batched_s": float(np.mean(batch_lat)),
                }
            )
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(
        f"\ncommand: python benchmarks/bench_batching.py {shlex.join(argv if argv is not None else sys.argv[1:])}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
