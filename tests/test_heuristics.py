"""Heuristics and baselines: feasibility through the one evaluator, exact claims, by-construction orderings.

Hand-checked numbers use the tiny instance of conftest: a 100-token prompt with
50 output tokens takes 6 s on the device ('small': 100 tok/s prefill, 10 tok/s
decode) and 1.1 s on the AP ('big': 0.5 s setup, 1000 / 100 tok/s), transfers
take bytes * 1e-6 s.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offload_opt.costs import build_costs
from offload_opt.evaluator import evaluate
from offload_opt.generator import generate
from offload_opt.instance import Task, WholeEstimate
from offload_opt.solution import decisions_to_assignments
from offload_opt.solvers import REGISTRY, solve, solvers
from offload_opt.solvers.timeline import Timelines, list_schedule

from .conftest import decomposed_task, tiny_instance

HEURISTICS = ["local-only", "nearest-edge", "best-single-mode", "greedy", "local-search", "heft", "cpop"]
LS_ITERS = 40  # local-search budget in tests: an iteration cap, so that results are deterministic


def run(instance_or_costs, name: str, **options):
    if name == "local-search":
        options.setdefault("max_iters", LS_ITERS)
    return solve(instance_or_costs, name, **options)


def small(seed: int, users: int, aps: int, max_subtasks: int, **kw):
    return generate(
        "default", seed=seed, users=users, aps=aps, min_subtasks=1, max_subtasks=max_subtasks, **kw
    )


# ---- the shared timelines ------------------------------------------------------------------------


def test_timelines_take_the_earliest_gap_that_fits():
    tl = Timelines()
    tl.insert("r", 0, 0.0, 2.0, "a")
    tl.insert("r", 1, 5.0, 6.0, "b")
    assert tl.earliest("r", 0.0, 3.0) == (2.0, 1)  # fits between a and b
    assert tl.earliest("r", 0.0, 3.5) == (6.0, 2)  # does not fit: after b
    assert tl.earliest("r", 3.0, 2.0) == (3.0, 1)  # its own ready time inside the gap
    assert tl.earliest("other", 1.5, 9.0) == (1.5, 0)


def test_timelines_put_a_zero_length_activity_before_the_one_it_abuts():
    tl = Timelines()
    tl.insert("r", 0, 0.0, 2.0, "a")
    tl.insert("r", 1, 2.0, 3.0, "b")
    t, pos = tl.earliest("r", 1.0, 0.0)
    assert (t, pos) == (2.0, 1)  # after a, before b: b keeps its start
    tl.insert("r", pos, t, t, "z")
    tl.pop("r", pos)
    assert tl.sequences()["r"] == [(0.0, "a"), (2.0, "b")]


def test_list_schedule_reproduces_a_solution_exactly():
    inst = small(4, users=5, aps=2, max_subtasks=3)
    costs = build_costs(inst)
    res = solve(costs, "greedy")
    again = list_schedule(costs, decisions_to_assignments(costs, res.solution), fixed_slots=True)
    ev = evaluate(costs, again.solution)
    assert ev.feasible, ev.violations
    assert again.objective == pytest.approx(ev.objective, rel=1e-12, abs=1e-12)


def test_list_schedule_rejects_an_order_against_the_data():
    inst = tiny_instance(tasks=(decomposed_task(),))
    costs = build_costs(inst)
    res = solve(costs, "greedy")
    amap = decisions_to_assignments(costs, res.solution)
    amap[0] = type(amap[0])(1, [0, 0, 0], ["dev:u0"] * 3)  # decompose, all on the device
    with pytest.raises(ValueError, match="before its data source"):
        list_schedule(costs, amap, order=[(0, 2), (0, 0), (0, 1)])


# ---- hand-checked ---------------------------------------------------------------------------------


def test_one_task_by_hand():
    """Edge: 100 B up (1e-4 s) + 1.1 s + 50 B down (5e-5 s); local: 6 s."""
    inst = tiny_instance()
    local = solve(inst, "local-only")
    edge = solve(inst, "nearest-edge")
    assert local.evaluation.tasks[0].latency_s == pytest.approx(6.0, abs=1e-12)
    assert edge.evaluation.tasks[0].latency_s == pytest.approx(1.10015, abs=1e-12)
    for name in ("best-single-mode", "greedy"):
        res = solve(inst, name)
        assert res.objective == pytest.approx(edge.objective, abs=1e-12)  # the edge wins on both counts


def test_nearest_edge_serves_first_come_first_served():
    """Two tasks, one slot: the later-released one waits for the earlier."""
    tasks = (
        Task("t0", "u0", 0.5, 100, WholeEstimate(3.0, 50)),
        Task("t1", "u1", 0.0, 100, WholeEstimate(3.0, 50)),
    )
    inst = tiny_instance(tasks=tasks, users=2)
    res = solve(inst, "nearest-edge")
    sched = res.evaluation.schedule
    assert res.solution.sequences  # sanity
    assert sched["t1/whole"].start_s < sched["t0/whole"].start_s
    assert sched["t0/whole"].start_s == pytest.approx(sched["t1/whole"].end_s)


def test_local_only_falls_back_for_a_user_without_a_local_model():
    inst = tiny_instance(
        users=2,
        tasks=(
            Task("t0", "u0", 0.0, 100, WholeEstimate(3.0, 50)),
            Task("t1", "u1", 0.0, 100, WholeEstimate(3.0, 50)),
        ),
    )
    inst = inst.replace(users=(inst.users[0], dataclasses.replace(inst.users[1], local_models=())))
    res = solve(inst, "local-only")
    assert res.status == "ok"
    assert res.info["fallback_nearest_edge"] == ["t1"]
    assert res.evaluation.tasks[1].placement == "edge"


# ---- every heuristic on random small instances ------------------------------------------------------


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    users=st.integers(1, 5),
    aps=st.integers(1, 3),
    max_subtasks=st.integers(1, 3),
)
def test_every_heuristic_is_feasible_and_claims_what_the_evaluator_finds(seed, users, aps, max_subtasks):
    costs = build_costs(small(seed, users, aps, max_subtasks))
    for name, solver in solvers().items():
        if solver.exact:
            continue
        res = run(costs, name)
        assert res.status == "ok", (name, res.info)
        assert res.evaluation.feasible, (name, res.evaluation.violations)
        if res.claimed_objective is not None:
            assert res.claimed_objective == pytest.approx(res.objective, rel=1e-9, abs=1e-9)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), aps=st.integers(1, 3), max_subtasks=st.integers(1, 3))
def test_on_one_task_greedy_beats_best_single_mode_beats_the_simple_baselines(seed, aps, max_subtasks):
    """With one task the timelines are empty, so each rule's choice is among the next one's candidates."""
    costs = build_costs(small(seed, 1, aps, max_subtasks))
    obj = {
        name: run(costs, name).objective
        for name in ("local-only", "nearest-edge", "best-single-mode", "greedy")
    }
    tol = 1e-12
    assert obj["best-single-mode"] >= obj["local-only"] - tol
    assert obj["best-single-mode"] >= obj["nearest-edge"] - tol
    assert obj["greedy"] >= obj["best-single-mode"] - tol


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_local_search_never_worse_than_its_best_constructive_start(seed):
    """It starts from the best of greedy (every order) and the baselines, and never ends below it."""
    costs = build_costs(small(seed, users=12, aps=3, max_subtasks=3))
    constructive = [solve(costs, "greedy", order=o).objective for o in ("spt", "release", "rank")]
    constructive += [solve(costs, b).objective for b in ("best-single-mode", "nearest-edge", "local-only")]
    ls = solve(costs, "local-search", seed=seed, max_iters=150)
    assert ls.status == "ok"
    assert ls.info["start_objective"] == pytest.approx(max(constructive), rel=1e-12)
    assert ls.objective >= max(constructive) - 1e-12


def test_local_search_is_deterministic_with_an_iteration_cap():
    costs = build_costs(small(7, users=8, aps=3, max_subtasks=3))
    a = solve(costs, "local-search", seed=11, max_iters=120)
    b = solve(costs, "local-search", seed=11, max_iters=120)
    assert a.solution == b.solution
    assert a.objective == b.objective
    assert a.info["iterations"] == 120 and a.info["stopped_by"] == "max_iters"


def test_local_search_honours_its_time_limit():
    costs = build_costs(small(3, users=12, aps=3, max_subtasks=3))
    res = solve(costs, "local-search", time_limit=0.2)
    assert res.status == "ok"
    assert res.runtime_s < 1.0
    assert res.info["stopped_by"] == "time_limit"


def test_deadlines_are_met_when_they_are_generous():
    costs = build_costs(small(5, users=5, aps=2, max_subtasks=3, deadline_s=120.0))
    for name in ("greedy", "best-single-mode", "local-search"):
        res = run(costs, name)
        assert res.status == "ok", (name, res.info)
        assert all(t.deadline_met for t in res.evaluation.tasks)


@pytest.mark.parametrize("name", HEURISTICS)
def test_unknown_options_are_rejected(name):
    with pytest.raises(ValueError, match=r"^option \w+: "):
        solve(tiny_instance(), name, no_such_option=1)


def test_registered_with_descriptions():
    for name in HEURISTICS:
        assert REGISTRY[name].description and not REGISTRY[name].exact
