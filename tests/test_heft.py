"""HEFT and CPOP on the published sample DAG of Topcuoglu, Hariri & Wu (IEEE TPDS 13(3), 2002).

The instance is the committed ``instances/classic/topcuoglu2002.json`` (converted from
the paper's figures by ``offload_opt.classic``); published: HEFT 80, CPOP 86.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offload_opt.costs import build_costs
from offload_opt.instance import ExplicitCosts, ExplicitEdge, ExplicitJob, ExplicitOp, Instance, Objective
from offload_opt.solvers import solve
from offload_opt.solvers.heft import cpop_schedule
from offload_opt.solvers.timeline import Engine

INSTANCE = Path(__file__).resolve().parent.parent / "instances" / "classic" / "topcuoglu2002.json"

# Table/figure values of the paper: upward ranks and HEFT's schedule [processor, start, finish].
PUBLISHED_RANK_U = {
    "n1": 108.0,
    "n2": 77.0,
    "n3": 80.0,
    "n4": 80.0,
    "n5": 69.0,
    "n6": 63.333,
    "n7": 42.667,
    "n8": 35.667,
    "n9": 44.333,
    "n10": 14.667,
}
PUBLISHED_HEFT = {
    "n1": ("P3", 0, 9),
    "n3": ("P3", 9, 28),
    "n4": ("P2", 18, 26),
    "n2": ("P1", 27, 40),
    "n5": ("P3", 28, 38),
    "n6": ("P2", 26, 42),
    "n7": ("P3", 38, 49),
    "n9": ("P2", 56, 68),
    "n8": ("P1", 57, 62),
    "n10": ("P2", 73, 80),
}


@pytest.fixture(scope="module")
def topcuoglu() -> Instance:
    """The 10-task, 3-processor sample DAG (explicit-cost form, makespan)."""
    return Instance.from_json(INSTANCE)


def test_upward_ranks_match_the_paper(topcuoglu):
    costs = build_costs(topcuoglu)
    eng = Engine(costs)
    ranks = eng.upward_ranks(0, 0)
    names = [op.name for op in costs.tasks[0].modes[0].ops]
    assert {n: round(r, 3) for n, r in zip(names, ranks, strict=True)} == PUBLISHED_RANK_U


def test_heft_makespan_is_80(topcuoglu):
    res = solve(topcuoglu, "heft")
    assert res.status == "ok", res.info
    assert res.objective == 80.0
    assert res.claimed_objective == 80.0


def test_heft_reproduces_the_published_schedule(topcuoglu):
    res = solve(topcuoglu, "heft")
    sched = res.evaluation.schedule
    got = {
        k.split("/")[1]: (a.resource.split(":")[1], a.start_s, a.end_s)
        for k, a in sched.items()
        if a.kind == "op"
    }
    assert got == PUBLISHED_HEFT


def test_cpop_makespan_is_86(topcuoglu):
    res = solve(topcuoglu, "cpop")
    assert res.status == "ok", res.info
    assert res.objective == 86.0


def test_greedy_is_heft_on_the_explicit_form(topcuoglu):
    res = solve(topcuoglu, "greedy")
    assert res.status == "ok"
    assert res.objective == 80.0
    assert "heft" in res.info["delegated"]


def test_local_search_never_worse_than_heft_and_deterministic(topcuoglu):
    a = solve(topcuoglu, "local-search", seed=3, max_iters=300)
    b = solve(topcuoglu, "local-search", seed=3, max_iters=300)
    assert a.status == "ok"
    assert a.objective <= 80.0
    assert a.solution == b.solution and a.objective == b.objective


@pytest.mark.parametrize("name", ["local-only", "nearest-edge", "best-single-mode"])
def test_baselines_decline_the_explicit_form(topcuoglu, name):
    res = solve(topcuoglu, name)
    assert res.solution is None
    assert res.termination == "error"
    assert "explicit" in res.info["reason"]


@pytest.mark.parametrize("name", ["heft", "cpop"])
def test_unknown_option_is_rejected(topcuoglu, name):
    with pytest.raises(ValueError, match=r"^option \w+: "):
        solve(topcuoglu, name, bogus=1)


@st.composite
def explicit_instances(draw) -> Instance:
    """Random small DAG jobs on unrelated processors: zero durations, forbidden processors, releases."""
    n_proc = draw(st.integers(1, 3))
    procs = tuple(f"P{k}" for k in range(n_proc))
    jobs = []
    for jn in range(draw(st.integers(1, 2))):
        n_ops = draw(st.integers(1, 6))
        ops = []
        for k in range(n_ops):
            durs = [draw(st.one_of(st.none(), st.sampled_from([0.0, 1.0, 2.5, 7.0]))) for _ in procs]
            if all(d is None for d in durs):
                durs[draw(st.integers(0, n_proc - 1))] = 3.0
            ops.append(ExplicitOp(f"n{k}", tuple(durs)))
        edges = [
            ExplicitEdge(f"n{a}", f"n{b}", draw(st.sampled_from([0.0, 1.0, 4.0])))
            for b in range(n_ops)
            for a in range(b)
            if draw(st.booleans())
        ]
        jobs.append(ExplicitJob(f"j{jn}", tuple(ops), tuple(edges), draw(st.sampled_from([0.0, 2.0]))))
    return Instance(name="rand", objective=Objective("makespan"), explicit=ExplicitCosts(procs, tuple(jobs)))


@settings(max_examples=40, deadline=None)
@given(explicit_instances())
def test_dag_schedulers_are_feasible_and_exact_on_random_dags(inst):
    costs = build_costs(inst)
    for name in ("heft", "cpop", "greedy", "local-search"):
        res = solve(costs, name, max_iters=30) if name == "local-search" else solve(costs, name)
        assert res.status == "ok", (name, res.info, res.evaluation and res.evaluation.violations)
        assert res.claimed_objective == pytest.approx(res.objective, rel=1e-12, abs=1e-12)


def test_cpop_has_one_critical_path_for_all_jobs():
    """CPOP's graph has one entry (pseudo nodes join the jobs), so only the job of longest mean work is pinned.

    Job a (mean work 12) is the critical path: both ops on M1 (10 against 14).
    Job b (mean work 4) is not: its ops go to their earliest finish, M2, ending
    at 3 and 4; pinning b's chain on one machine too (as a per-job critical
    path would) puts it on M1 behind a and ends at 14.
    """
    a = ExplicitJob(
        "a", (ExplicitOp("o0", (5.0, 7.0)), ExplicitOp("o1", (5.0, 7.0))), (ExplicitEdge("o0", "o1"),)
    )
    b = ExplicitJob(
        "b", (ExplicitOp("o0", (1.0, 3.0)), ExplicitOp("o1", (3.0, 1.0))), (ExplicitEdge("o0", "o1"),)
    )
    inst = Instance(name="cp", objective=Objective("makespan"), explicit=ExplicitCosts(("M1", "M2"), (a, b)))
    costs = build_costs(inst)
    eng = Engine(costs)
    cpop_schedule(eng, [0, 0])
    assert [eng.placed(0).res[i] for i in range(2)] == ["proc:M1", "proc:M1"]
    assert [eng.placed(1).res[i] for i in range(2)] == ["proc:M2", "proc:M2"]
    res = solve(costs, "cpop")
    assert res.status == "ok" and res.objective == 10.0
