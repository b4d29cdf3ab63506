"""Periodic epochs that re-plan every op not started (``--epoch P``; docs/model.md "Simulation over time").

A task some of whose ops have started keeps its mode and its started ops and
has its other ops decided again; the execution stays exactly what the
evaluator gives for the whole history, with each decision epoch standing as a
zero-length hold before the first activity it decided on each resource.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from offload_opt import evaluate, generate
from offload_opt.evaluator import Evaluation
from offload_opt.sim import simulate
from offload_opt.sim.engine import (
    HOLD_OP,
    EpochRule,
    SimResult,
    _ExecCosts,
    _hold_costs,
    _hold_decision,
    _Simulator,
)
from offload_opt.solution import Sequence, Solution

# a run with queues (one slot per GPU) in which re-planning moves ops of started tasks
CONTENDED = {"rate": 0.3, "duration_s": 60.0, "seed": 2, "slots": 1}


def _gated_history(res: SimResult) -> Evaluation:
    """The evaluator on the whole history, each decision epoch a zero-length hold at its time placed
    before the first activity (in start order) that plan decided on each resource."""
    assert res.instance is not None and res.solution is not None
    acts = res.activities[res.activities["resource"].notna()]
    holds: list[tuple[str, str, float, float]] = []
    seqs = []
    for r, g in acts.groupby("resource"):
        out: list[str] = []
        seen: set[float] = set()
        for row in g.sort_values(["start_s", "end_s"], kind="stable").itertuples():
            if row.decided_s not in seen:
                seen.add(row.decided_s)
                holds.append((f"~gate{len(holds)}", str(r), float(row.decided_s), 0.0))
                out.append(f"{holds[-1][0]}/{HOLD_OP}")
            out.append(str(row.key))
        seqs.append(Sequence(str(r), tuple(out)))
    decisions = res.solution.decisions + tuple(_hold_decision(h, r) for h, r, *_ in holds)
    costs = _ExecCosts(res.instance, tuple(_hold_costs(*h) for h in holds))
    return evaluate(costs, Solution(decisions, tuple(seqs)))


def _assert_history_exact(res: SimResult) -> None:
    ev = _gated_history(res)
    assert not [v for v in ev.violations if "deadline" not in v]
    times = res.activities.set_index("key")
    for key, a in ev.schedule.items():
        if not a.task.startswith("~"):
            assert a.start_s == pytest.approx(times.loc[key, "start_s"], abs=1e-9), key
            assert a.end_s == pytest.approx(times.loc[key, "end_s"], abs=1e-9), key
    lat = {m.task: m.latency_s for m in ev.tasks}
    rew = {m.task: m.reward for m in ev.tasks}
    for row in res.rows.itertuples():
        assert row.latency_s == pytest.approx(lat[row.task], abs=1e-9)
        assert row.reward == pytest.approx(rew[row.task], abs=1e-9)


def test_epoch_rules_parse_and_print():
    assert EpochRule.parse("2") == EpochRule("periodic", 2.0, True, False)  # per op
    assert EpochRule.parse(2.0) == EpochRule("periodic", 2.0, True, False)
    assert EpochRule.parse("task:2") == EpochRule("periodic", 2.0, True, True)
    assert EpochRule.parse("batch:2") == EpochRule("periodic", 2.0, False, False)
    for text in ("arrival", "2", "task:2", "batch:2", "0.5"):
        assert str(EpochRule.parse(text)) == text


def test_replanning_moves_unstarted_ops_of_started_tasks_and_stays_exact():
    """Per-op revision re-plans ops of partially started tasks, some to another node or model; every
    activity's time is the evaluator's on the whole history (epochs as holds), to 1e-9."""
    res = simulate("small", policy="greedy", epoch=2.0, **CONTENDED)
    rv = res.revisions
    assert rv is not None
    parts = rv[rv["started_ops"] > 0]
    moved = parts[parts["moved_ops"] > 0]
    assert len(moved) >= 3, "the run should move ops of started tasks to be a test of it"
    for row in moved.itertuples():  # the started ops keep their placement, another op changed
        before = dict(p.split("@", 1) for p in row.before.split(";"))
        after = dict(p.split("@", 1) for p in row.after.split(";"))
        assert before.keys() == after.keys()  # the mode is kept
        assert any(before[op].split("#")[0] != after[op].split("#")[0] for op in after)
    final = res.rows.set_index("task")["options"]
    last = rv.groupby("task").tail(1).set_index("task")["after"]
    assert (final[last.index] == last).all()  # the last plan's decision is the one executed
    _assert_history_exact(res)
    # a task re-planned in parts has activities decided by more than one plan; nothing on a device,
    # slot or channel starts before the plan that decided it
    acts = res.activities[res.activities["resource"].notna()]
    assert (acts.groupby("task")["decided_s"].nunique() > 1).any()
    assert (acts["start_s"] >= acts["decided_s"] - 1e-12).all()


@pytest.mark.parametrize("epoch", ["arrival", "task:2", "batch:2"])
def test_other_epoch_rules_are_exact_on_the_whole_history(epoch):
    _assert_history_exact(simulate("small", policy="greedy", epoch=epoch, **CONTENDED))


def test_started_activities_never_move(monkeypatch):
    """Every activity that has started by an epoch ends the run with the times it had then."""
    seen: dict[str, tuple[float, float]] = {}
    original = _Simulator._epoch

    def spy(self, t, new):
        for acts in self.last_times.values():
            for a in acts:
                if a.resource is not None and a.start_s <= t:
                    assert seen.setdefault(a.key, (a.start_s, a.end_s)) == (a.start_s, a.end_s)
        return original(self, t, new)

    monkeypatch.setattr(_Simulator, "_epoch", spy)
    res = simulate("small", policy="greedy", epoch=2.0, **CONTENDED)
    final = {r.key: (r.start_s, r.end_s) for r in res.activities.itertuples()}
    assert len(seen) > 50
    assert all(final[k] == v for k, v in seen.items())


@pytest.mark.parametrize("policy", ["greedy", "alns", "heft", "best-single-mode", "mip"])
def test_without_contention_per_op_revision_gives_the_arrival_latency(policy, exact_lengths):
    """Tasks far apart, arriving on epochs, predictions == actual: re-planning the unstarted ops of a
    started task every 0.05 s gives every task the latency it has when decided once on arrival."""
    base = generate("small", seed=3, tasks_per_user=2, planner="oracle")
    spaced = tuple(t.__class__(**{**t.__dict__, "release_s": 500.0 * k}) for k, t in enumerate(base.tasks))
    inst = base.replace(tasks=spaced)
    once = simulate(inst, policy=policy, seed=3)
    per_op = simulate(inst, policy=policy, seed=3, epoch=0.05)
    if policy != "best-single-mode":  # the baselines never decompose: no task is ever partly started
        assert (per_op.revisions["started_ops"] > 0).any()
    assert per_op.rows["latency_s"].to_numpy() == pytest.approx(once.rows["latency_s"].to_numpy(), abs=1e-9)
    assert per_op.rows["reward"].to_numpy() == pytest.approx(once.rows["reward"].to_numpy(), abs=1e-9)


def test_same_seed_same_rows_and_revisions():
    a = simulate("small", policy="greedy", epoch=2.0, **CONTENDED)
    b = simulate("small", policy="greedy", epoch=2.0, **CONTENDED)
    pd.testing.assert_frame_equal(a.rows, b.rows)
    pd.testing.assert_frame_equal(a.activities, b.activities)
    assert a.revisions is not None and b.revisions is not None
    pd.testing.assert_frame_equal(a.revisions, b.revisions)


def test_per_task_rule_revises_only_tasks_with_nothing_started():
    res = simulate("small", policy="greedy", epoch="task:2", **CONTENDED)
    assert res.revisions is not None and len(res.revisions) > 0
    assert (res.revisions["started_ops"] == 0).all()
    assert (res.activities.groupby("task")["decided_s"].nunique() == 1).all()
    assert np.all(res.rows["start_s"] >= res.rows["epoch_s"] - 1e-12)


@pytest.mark.parametrize("policy", ["local-search", "alns", "heft", "cpop", "cg", "mip"])
def test_every_wireless_solver_replans_partially_started_tasks(policy):
    """The committed part enters the planner's cost tables (one mode, a started op as a zero-length
    option on a private resource): every wireless-form solver re-plans with no change of its own,
    and the execution stays exactly the evaluator's on the whole history."""
    opts = {"max_iters": 100} if policy == "local-search" else {}
    res = simulate(
        "small", policy=policy, epoch=2.0, time_limit=5.0, options=opts, **{**CONTENDED, "duration_s": 20.0}
    )
    assert res.revisions is not None and (res.revisions["started_ops"] > 0).any()
    _assert_history_exact(res)
