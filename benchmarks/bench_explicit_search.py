"""The explicit-form search against optima: how often local-search reaches the optimum, and how HEFT/CPOP do.

Cases: small random DAGs (6 ops, 2 processors, edge costs) and flexible job
shops (3 jobs x 2 ops, 3 machines, barred machines) from ``--seeds`` seeds,
with the optimum by brute force through the evaluator (the oracle of
``tests/test_classic.py``); the shipped published instances of
``instances/classic`` (ft06, la01, la05: published optimum; Topcuoglu's DAG:
optimum 73, proven by the MIP and CP-SAT). For every case: HEFT, CPOP and
``local-search`` with each budget of ``--budgets`` (evaluated plans, so the
result is deterministic; CPU seconds are printed too, on a possibly shared
machine). The last lines count, per family, the cases at the optimum.

    python benchmarks/bench_explicit_search.py --seeds 30 --budgets 2000 5000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from offload_opt.costs import build_costs  # noqa: E402
from offload_opt.instance import Instance  # noqa: E402
from offload_opt.solvers import solve  # noqa: E402
from tests.test_classic import brute_force_makespan  # noqa: E402
from tests.test_explicit_search import random_dag, random_fjsp  # noqa: E402

TOPCUOGLU_OPTIMUM = 73.0  # proven by the MIP and CP-SAT (tests/test_classic.py)


def cases(n_seeds: int) -> list[tuple[str, str, Instance, float]]:
    """(family, name, instance, optimum) of every case."""
    out = []
    for s in range(n_seeds):
        for family, inst in (("random-dag", random_dag(s)), ("random-fjsp", random_fjsp(s))):
            out.append((family, inst.name, inst, brute_force_makespan(build_costs(inst))))
    for name in ("ft06", "la01", "la05"):
        inst = Instance.from_json(ROOT / "instances" / "classic" / f"{name}.json")
        out.append(("published", name, inst, float(inst.meta["published"]["optimum"])))
    inst = Instance.from_json(ROOT / "instances" / "classic" / "topcuoglu2002.json")
    out.append(("published", "topcuoglu2002", inst, TOPCUOGLU_OPTIMUM))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=30, help="random instances per family")
    ap.add_argument("--budgets", type=int, nargs="+", default=[2000, 5000], help="plans evaluated")
    ap.add_argument("--seed", type=int, default=0, help="seed of the search")
    args = ap.parse_args()
    at_opt: dict[tuple[str, str], int] = {}
    total: dict[str, int] = {}
    print(
        f"{'family':12} {'name':14} {'optimum':>8} {'heft':>8} {'cpop':>8} "
        + " ".join(f"{'ls' + str(b):>10} {'cpu_s':>6}" for b in args.budgets)
    )
    for family, name, inst, optimum in cases(args.seeds):
        costs = build_costs(inst)
        heft, cpop = solve(costs, "heft").objective, solve(costs, "cpop").objective
        cols = []
        total[family] = total.get(family, 0) + 1
        for solver, value in (("heft", heft), ("cpop", cpop)):
            at_opt[(family, solver)] = at_opt.get((family, solver), 0) + (value == optimum)
        for b in args.budgets:
            t = time.process_time()
            res = solve(costs, "local-search", seed=args.seed, max_iters=b)
            cpu = time.process_time() - t
            assert res.status == "ok" and res.objective is not None and res.objective >= optimum - 1e-9
            key = (family, f"ls{b}")
            at_opt[key] = at_opt.get(key, 0) + (abs(res.objective - optimum) <= 1e-9)
            cols.append(f"{res.objective:>10g} {cpu:>6.2f}")
        print(f"{family:12} {name:14} {optimum:>8g} {heft:>8g} {cpop:>8g} " + " ".join(cols), flush=True)
    for family, n in total.items():
        counts = ", ".join(
            f"{s} {at_opt[(family, s)]}" for s in ["heft", "cpop"] + [f"ls{b}" for b in args.budgets]
        )
        print(f"at the optimum, {family} ({n} cases): {counts}")


if __name__ == "__main__":
    main()
