"""The evaluator against schedules computed by hand (see conftest for the units).

Device 'small': 100 tok/s prefill, 10 tok/s decode; server 'big': 0.5 s setup,
1000 tok/s prefill, 100 tok/s decode; transfers: bytes * 1e-6 s on channel 1.
"""

from __future__ import annotations

import math

import pytest

from offload_opt.costs import build_costs
from offload_opt.evaluator import evaluate
from offload_opt.instance import Task, WholeEstimate
from offload_opt.physics.quality import p_correct
from offload_opt.solution import Placement, Sequence, Solution, TaskDecision

from .conftest import B_LEVELS, decomposed_task, tiny_instance

A = 1.275


def q(theta: float, d: float) -> float:
    return p_correct(theta, d, A, B_LEVELS)


def whole(task: str, node: str, model: str, slot: int = 0) -> TaskDecision:
    return TaskDecision(task, "whole", (Placement("whole", node, model, slot),))


def test_local_whole_task():
    inst = tiny_instance()
    sol = Solution((whole("t0", "user:u0", "small"),), (Sequence("dev:u0", ("t0/whole",)),))
    ev = evaluate(build_costs(inst), sol)
    assert ev.feasible, ev.violations
    assert ev.schedule["t0/whole"].start_s == 0.0
    assert ev.schedule["t0/whole"].end_s == pytest.approx(6.0, abs=1e-12)  # 100/100 + 50/10
    m = ev.tasks[0]
    assert m.latency_s == pytest.approx(6.0, abs=1e-12)
    assert m.compute_s == pytest.approx(6.0) and m.airtime_s == 0 and m.queue_s == 0
    assert m.quality == pytest.approx(q(-0.37, 3.0))
    assert ev.objective == pytest.approx(q(-0.37, 3.0) - 0.1 * 6.0)


def test_offloaded_whole_task():
    inst = tiny_instance()
    sol = Solution(
        (whole("t0", "ap:a0", "big"),),
        (Sequence("chan:1", ("t0/in>whole", "t0/whole>out")), Sequence("srv:a0:big:0", ("t0/whole",))),
    )
    ev = evaluate(build_costs(inst), sol)
    assert ev.feasible, ev.violations
    s = ev.schedule
    assert s["t0/in>whole"].end_s == pytest.approx(100e-6)
    assert s["t0/whole"].end_s == pytest.approx(100e-6 + 1.1)  # 0.5 + 100/1000 + 50/100
    assert ev.tasks[0].latency_s == pytest.approx(100e-6 + 1.1 + 50e-6)
    assert ev.tasks[0].airtime_s == pytest.approx(150e-6)
    assert ev.tasks[0].placement == "edge"


def _two_image_tasks(backlog_s: float, slots: int):
    tasks = tuple(
        Task(
            f"t{i}", f"u{i}", 0.0, 100, WholeEstimate(3.0, 50), payload_bytes=1_000_000, payload_kind="image"
        )
        for i in range(2)
    )
    return tiny_instance(tasks=tasks, users=2, backlog_s=backlog_s, slots=slots)


def test_two_uploads_contend_for_one_channel_and_two_slots():
    """Uploads of 1,000,100 bytes take 1.0001 s each and are serialised on channel 1."""
    inst = _two_image_tasks(backlog_s=0.5, slots=2)
    sol = Solution(
        (whole("t0", "ap:a0", "big", 0), whole("t1", "ap:a0", "big", 1)),
        (
            Sequence("chan:1", ("t0/in>whole", "t1/in>whole", "t0/whole>out", "t1/whole>out")),
            Sequence("srv:a0:big:0", ("t0/whole",)),
            Sequence("srv:a0:big:1", ("t1/whole",)),
        ),
    )
    ev = evaluate(build_costs(inst), sol)
    assert ev.feasible, ev.violations
    s = ev.schedule
    assert (s["t0/in>whole"].start_s, s["t0/in>whole"].end_s) == pytest.approx((0.0, 1.0001))
    assert (s["t1/in>whole"].start_s, s["t1/in>whole"].end_s) == pytest.approx((1.0001, 2.0002))
    assert (s["t0/whole"].start_s, s["t0/whole"].end_s) == pytest.approx((1.0001, 2.1001))
    assert (s["t1/whole"].start_s, s["t1/whole"].end_s) == pytest.approx((2.0002, 3.1002))
    assert (s["t0/whole>out"].start_s, s["t0/whole>out"].end_s) == pytest.approx((2.1001, 2.10015))
    assert s["t1/whole>out"].end_s == pytest.approx(3.10025)
    lat = {m.task: m for m in ev.tasks}
    assert lat["t0"].latency_s == pytest.approx(2.10015)
    assert lat["t1"].latency_s == pytest.approx(3.10025)
    # t1 waited 1.0001 s for the channel: queueing, not airtime
    assert lat["t1"].queue_s == pytest.approx(1.0001)
    assert lat["t1"].airtime_s == pytest.approx(1.0001 + 50e-6)
    for m in ev.tasks:  # the breakdown adds up to the latency
        assert m.airtime_s + m.backhaul_s + m.queue_s + m.compute_s + m.aggregation_s == pytest.approx(
            m.latency_s
        )


def test_busy_edge_queue_delays_start():
    """A 3 s backlog on the only slot, then the second task waits for the first."""
    inst = _two_image_tasks(backlog_s=3.0, slots=1)
    sol = Solution(
        (whole("t0", "ap:a0", "big"), whole("t1", "ap:a0", "big")),
        (
            Sequence("chan:1", ("t0/in>whole", "t1/in>whole", "t0/whole>out", "t1/whole>out")),
            Sequence("srv:a0:big:0", ("t0/whole", "t1/whole")),
        ),
    )
    ev = evaluate(build_costs(inst), sol)
    assert ev.feasible, ev.violations
    s = ev.schedule
    assert (s["t0/whole"].start_s, s["t0/whole"].end_s) == pytest.approx((3.0, 4.1))
    assert (s["t1/whole"].start_s, s["t1/whole"].end_s) == pytest.approx((4.1, 5.2))
    lat = {m.task: m for m in ev.tasks}
    assert lat["t0"].latency_s == pytest.approx(4.1 + 50e-6)
    assert lat["t0"].queue_s == pytest.approx(3.0 - 1.0001)
    assert lat["t1"].latency_s == pytest.approx(5.2 + 50e-6)


def _decomposed_solution(agg_first: bool = False) -> Solution:
    dec = TaskDecision(
        "t0",
        "decompose",
        (
            Placement("s0", "ap:a0", "big", 0),
            Placement("s1", "user:u0", "small"),
            Placement("agg", "ap:a0", "big", 0),
        ),
    )
    srv = ("t0/agg", "t0/s0") if agg_first else ("t0/s0", "t0/agg")
    return Solution(
        (dec,),
        (
            Sequence("chan:1", ("t0/in>s0", "t0/in>agg", "t0/s0>s1", "t0/s1>agg", "t0/agg>out")),
            Sequence("dev:u0", ("t0/s1",)),
            Sequence("srv:a0:big:0", srv),
        ),
    )


def test_decomposed_task_across_device_and_ap():
    inst = tiny_instance(tasks=(decomposed_task(),))
    ev = evaluate(build_costs(inst), _decomposed_solution())
    assert ev.feasible, ev.violations
    s = ev.schedule
    assert s["t0/in>s0"].end_s == pytest.approx(50e-6)
    assert s["t0/in>agg"].end_s == pytest.approx(70e-6)
    assert s["t0/s0"].end_s == pytest.approx(50e-6 + 1.55)  # 0.5 + 50/1000 + 100/100
    assert s["t0/s0>s1"].end_s == pytest.approx(1.55015)
    assert s["t0/s1"].end_s == pytest.approx(1.55015 + 11.5)  # (50 + 100)/100 + 100/10
    assert s["t0/s0>agg"].end_s == s["t0/s0"].end_s  # same node: no transfer
    assert s["t0/s1>agg"].end_s == pytest.approx(13.05025)
    assert s["t0/agg"].end_s == pytest.approx(13.05025 + 1.52)  # 0.5 + 220/1000 + 80/100
    m = ev.tasks[0]
    assert m.latency_s == pytest.approx(14.57033)
    assert m.aggregation_s == pytest.approx(1.52)
    assert m.placement == "mixed"
    assert m.quality == pytest.approx(q(1.86, 2.0) * q(-0.37, 2.0) * q(1.86, 1.0))
    assert m.airtime_s + m.queue_s + m.compute_s + m.aggregation_s + m.backhaul_s == pytest.approx(
        m.latency_s
    )


def test_actual_values_change_the_evaluation():
    from offload_opt.instance import Actual

    task = Task("t0", "u0", 0.0, 100, WholeEstimate(3.0, 50, Actual(4.0, 100)))
    inst = tiny_instance(tasks=(task,))
    sol = Solution((whole("t0", "user:u0", "small"),), (Sequence("dev:u0", ("t0/whole",)),))
    pred = evaluate(build_costs(inst), sol)
    act = evaluate(build_costs(inst, actual=True), sol)
    assert pred.tasks[0].latency_s == pytest.approx(6.0)
    assert act.tasks[0].latency_s == pytest.approx(11.0)  # 100/100 + 100/10
    assert act.tasks[0].quality == pytest.approx(q(-0.37, 4.0))


def test_deadline_violation_is_reported():
    task = Task("t0", "u0", 0.0, 100, WholeEstimate(3.0, 50), deadline_s=5.0)
    inst = tiny_instance(tasks=(task,))
    sol = Solution((whole("t0", "user:u0", "small"),), (Sequence("dev:u0", ("t0/whole",)),))
    ev = evaluate(build_costs(inst), sol)
    assert not ev.feasible
    assert any("misses its deadline" in v for v in ev.violations)


BAD_SOLUTIONS = [
    # (solution, expected violation fragment)
    (Solution((whole("t9", "user:u0", "small"),)), "decisions[0].task: unknown task 't9'"),  # unknown task
    (Solution(()), "task 't0' has no decision"),  # missing task
    (Solution((TaskDecision("t0", "whole", (Placement("nope", "user:u0", "small"),)),)), "unknown op 'nope'"),
    (Solution((whole("t0", "ap:a0", "small"),)), "'small' is not hosted on 'ap:a0'"),  # model not hosted
    (Solution((whole("t0", "ap:a7", "big"),)), "'ap:a7' cannot run t0/whole"),  # unknown / out-of-range AP
    (Solution((whole("t0", "ap:a0", "big", 3),)), "slot: 3 but ap:a0/big has 1 slot"),  # slot out of range
    (Solution((TaskDecision("t0", "split", ()),)), "has no mode 'split'"),  # unknown mode
    (Solution((whole("t0", "user:u0", "small"),), (Sequence("dev:u0", ("t0/ghost",)),)), "unknown activity"),
    (Solution((whole("t0", "user:u0", "small"),)), "missing from the order of 'dev:u0'"),  # incomplete order
]


@pytest.mark.parametrize(("sol", "fragment"), BAD_SOLUTIONS, ids=[f for _, f in BAD_SOLUTIONS])
def test_bad_solutions_are_listed_not_raised(sol, fragment):
    ev = evaluate(build_costs(tiny_instance()), sol)
    assert not ev.feasible and ev.objective is None
    assert any(fragment in v for v in ev.violations), ev.violations


def test_order_contradicting_precedence_is_a_violation():
    inst = tiny_instance(tasks=(decomposed_task(),))
    ev = evaluate(build_costs(inst), _decomposed_solution(agg_first=True))
    assert not ev.feasible
    assert any("contradicts precedence" in v for v in ev.violations)


def test_objective_is_nan_free_for_empty_metrics():
    inst = tiny_instance()
    ev = evaluate(build_costs(inst), Solution(()))
    assert math.isnan(ev.mean_latency_s)
