"""The explicit-form search (solvers/explicit_search.py): re-insertion of critical ops on any processor and place.

Oracle: brute force over every assignment and every processor order through
the evaluator (``tests/test_classic.brute_force_makespan``), on small random
DAGs and flexible job shops made up here from fixed seeds (every seed of a
range, not a chosen few).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from offload_opt.costs import build_costs
from offload_opt.instance import ExplicitCosts, ExplicitEdge, ExplicitJob, ExplicitOp, Instance, Objective
from offload_opt.solvers import solve
from offload_opt.solvers.explicit_search import improve_explicit
from offload_opt.solvers.heft import heft_schedule
from offload_opt.solvers.timeline import Engine
from tests.test_classic import brute_force_makespan

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 2000  # evaluated plans; measured: 500 reach every optimum below at seed 0 (bench_explicit_search.py)
SEEDS = range(10)


def random_dag(seed: int, n_ops: int = 6, n_proc: int = 2) -> Instance:
    """One DAG job on unrelated processors: durations 1-9, each edge present with probability 0.4, cost 0-6."""
    rng = random.Random(seed)
    procs = tuple(f"P{k}" for k in range(n_proc))
    ops = tuple(ExplicitOp(f"n{k}", tuple(float(rng.randint(1, 9)) for _ in procs)) for k in range(n_ops))
    edges = tuple(
        ExplicitEdge(f"n{a}", f"n{b}", float(rng.randint(0, 6)))
        for b in range(n_ops)
        for a in range(b)
        if rng.random() < 0.4
    )
    job = ExplicitJob("g", ops, edges)
    return Instance(name=f"dag{seed}", objective=Objective("makespan"), explicit=ExplicitCosts(procs, (job,)))


def random_fjsp(seed: int, n_jobs: int = 3, n_ops: int = 2, n_machines: int = 3) -> Instance:
    """A flexible job shop: chains of ops, each barred from a machine with probability 0.3 (one always open)."""
    rng = random.Random(seed)
    procs = tuple(f"M{k}" for k in range(n_machines))
    jobs = []
    for jn in range(n_jobs):
        ops = []
        for k in range(n_ops):
            durs: list[float | None] = [
                float(rng.randint(1, 9)) if rng.random() < 0.7 else None for _ in procs
            ]
            if all(d is None for d in durs):
                durs[rng.randrange(n_machines)] = float(rng.randint(1, 9))
            ops.append(ExplicitOp(f"o{k}", tuple(durs)))
        edges = tuple(ExplicitEdge(f"o{k}", f"o{k + 1}") for k in range(n_ops - 1))
        jobs.append(ExplicitJob(f"j{jn}", tuple(ops), edges))
    return Instance(
        name=f"fjsp{seed}", objective=Objective("makespan"), explicit=ExplicitCosts(procs, tuple(jobs))
    )


CASES = [random_dag(s) for s in SEEDS] + [random_fjsp(s) for s in SEEDS]


def test_search_reaches_the_brute_force_optimum_where_heft_does_not():
    heft_misses = 0
    for inst in CASES:
        costs = build_costs(inst)
        optimum = brute_force_makespan(costs)
        heft = solve(costs, "heft")
        res = solve(costs, "local-search", seed=0, max_iters=BUDGET)
        assert res.status == "ok", (inst.name, res.info)  # the evaluator agrees with the claim
        assert res.objective is not None and heft.objective is not None
        assert res.objective <= heft.objective, inst.name  # never worse than its start
        assert res.objective >= optimum - 1e-9, inst.name  # the oracle is right (nothing beats it)
        assert res.objective == pytest.approx(optimum, abs=1e-9), (inst.name, heft.objective, optimum)
        heft_misses += heft.objective > optimum + 1e-9
    # the check means something: HEFT misses the optimum on part of these (measured: 6 DAGs of 10, 3 job shops of 10)
    assert heft_misses >= 5


def test_search_is_deterministic_and_reports_its_budget():
    costs = build_costs(random_dag(3))
    a = solve(costs, "local-search", seed=7, max_iters=400)
    b = solve(costs, "local-search", seed=7, max_iters=400)
    assert a.solution == b.solution and a.objective == b.objective
    assert a.info["stopped_by"] == "max_iters"
    assert 400 <= a.info["iterations"] <= 402  # the last descent step and the best plan are placed again


def test_improve_explicit_never_worse_than_the_plan_it_is_given():
    for inst in CASES[:5]:
        costs = build_costs(inst)
        eng = Engine(costs)
        units = heft_schedule(eng, [0] * len(costs.tasks))
        start = eng.objective()
        eng2, order, stats = improve_explicit(eng, units, random.Random(0), None, 50)
        assert eng2.objective() <= start
        assert sorted(order) == sorted(units)
        assert stats["iterations"] >= 1


def test_heft_paper_dag_reaches_the_proven_optimum():
    """Topcuoglu et al. 2002's sample DAG: HEFT 80, optimum 73 (proven by the MIP and CP-SAT)."""
    inst = Instance.from_json(ROOT / "instances" / "classic" / "topcuoglu2002.json")
    for seed in range(3):
        res = solve(inst, "local-search", seed=seed, max_iters=BUDGET)
        assert res.status == "ok"
        assert (
            res.objective == 73.0
        )  # measured: 73 for seeds 0-5 with 2,000 plans (300 give 76 for four of six)


@pytest.mark.parametrize("name", ["ft06", "la01", "la05"])
def test_shipped_job_shops_reach_their_published_optimum_from_heft(name):
    """Fisher & Thompson ft06 and Lawrence la01/la05 (instances/classic, optimum in meta): HEFT misses it."""
    inst = Instance.from_json(ROOT / "instances" / "classic" / f"{name}.json")
    optimum = float(inst.meta["published"]["optimum"])
    heft = solve(inst, "heft")
    res = solve(inst, "local-search", seed=0, max_iters=2000)  # measured: 2,000 plans suffice for seeds 0-2
    assert heft.objective is not None and heft.objective > optimum  # 67, 735, 612
    assert res.status == "ok" and res.objective == optimum
