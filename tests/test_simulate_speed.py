"""The simulator's hot paths (benchmarks/bench_simulate.py) give bit-identical results to the code they replaced.

The hashes below were taken from the simulator before its speed-ups (commit 2e0dfc6): every row,
every executed activity and the summary of a few fixed runs, each float written with 17 significant
digits. A speed-up that changes any simulated number by one ulp changes a hash. They are hashes of this
model's outcomes: a deliberate change of the model (physics, catalogue, generator, greedy) changes them
too, and they are then re-recorded from a run of the unchanged simulator, never from the new code alone.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pandas as pd
import pytest

from offload_opt import Instance
from offload_opt.sim import engine, simulate

V1 = Path(__file__).resolve().parent.parent / "instances" / "bench" / "v1" / "M" / "M-01.json"
AREA_M = round(40.0 * math.sqrt(5 / 3.0), 1)  # benchmarks/bench_simulate.py's network

CASES = {
    # the benchmark's network at 80 % of greedy's saturation rate, decided on arrival
    "bench-arrival": dict(rate=9.6, duration_s=20.0, seed=0, users=50, aps=5, area_m=AREA_M),
    # the same network overloaded: long queues and many committed transfers on each channel
    "bench-overload": dict(rate=14.0, duration_s=15.0, seed=1, users=50, aps=5, area_m=AREA_M),
    # re-planning every 2 s (withdrawn and started tasks, re-timing) and periodic batches; recorded when
    # a period meant per-task revision, which is now spelt "task:P" (a bare period re-plans per op)
    "replan": dict(rate=3.0, duration_s=30.0, seed=3, epoch="task:2"),
    # the default network at that rate has no queue left at an epoch (no task is re-planned): with one
    # slot per GPU (tests/test_replan_ops.py) queues form and most tasks are withdrawn and re-planned
    "replan-contended": dict(scenario="small", rate=1.0, duration_s=60.0, seed=2, slots=1, epoch="task:2"),
    "batch": dict(rate=3.0, duration_s=30.0, seed=4, epoch="batch:1.5"),
    "nearest-edge": dict(rate=2.0, duration_s=40.0, seed=5, policy="nearest-edge"),
    # a version-1 instance (model servers, no GPUs): its tasks as templates, and replayed with re-planning
    "v1-rate": dict(instance=V1, rate=3.0, duration_s=30.0, seed=7),
    "v1-replay": dict(instance=V1, seed=7, epoch="task:1"),
}


def _digest(df: pd.DataFrame) -> str:
    return hashlib.sha256(df.to_csv(index=False, float_format="%.17g").encode()).hexdigest()[:16]


def digests(case: str) -> tuple[str, str, str]:
    """(rows, activities, summary) digests of one case."""
    kw = {"policy": "greedy", **CASES[case]}
    net = Instance.from_json(kw.pop("instance")) if "instance" in kw else kw.pop("scenario", "default")
    res = simulate(net, **kw)
    summary = pd.DataFrame([res.summary])
    return _digest(res.rows), _digest(res.activities), _digest(summary)


# recorded with the simulator at commit 2e0dfc6 (before the speed-ups), see the module docstring
EXPECTED = {
    "bench-arrival": ("551394222e903634", "98fcff1d85c8f657", "4f8a5b30372279a0"),
    "bench-overload": ("01a5a07b867bf56c", "36f73ddd8db1405b", "0aa4dc50d9b28978"),
    "replan": ("cc1273ee64459724", "05f59688518b9e3c", "7b5c03b0ac6a4709"),
    # recorded at 2e0dfc6 with epoch=2.0, which meant "task:2" then
    "replan-contended": ("01d3e2534e545a6d", "7ed939ad2959289e", "4140eb37155bf2a9"),
    "batch": ("8a3eaf4cc9be2f34", "bda3da0707785062", "8e81269d9b8d1dd5"),
    "nearest-edge": ("1dfad283656465b5", "a1f45d6834979933", "2004918d3e8c3f8a"),
    "v1-rate": ("90ec6ee7510624a0", "82577c47e41e207e", "e311dfa40988d809"),
    "v1-replay": ("12d13e1d5bdf1517", "81f3685c864d29e7", "68f57a347df533ae"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_simulated_rows_are_bit_identical_to_the_recorded_run(case):
    assert digests(case) == EXPECTED[case]


def test_the_digest_sees_one_ulp():
    """The check is not vacuous: moving one latency by one ulp changes the rows' digest."""
    res = simulate("default", policy="greedy", rate=2.0, duration_s=10.0, seed=0)
    rows = res.rows.copy()
    before = _digest(rows)
    rows.loc[0, "latency_s"] = math.nextafter(rows.loc[0, "latency_s"], math.inf)
    assert _digest(rows) != before


def _fast_and_full(monkeypatch, net, kw) -> tuple[engine.SimResult, engine.SimResult, dict[str, int]]:
    """The run with the fast execution and with every frozen transfer included (the evaluation before
    the speed-up), and what the fast run did: the most frozen transfers one execution left out, and
    how many started activities (``pinned``) its executions kept at their times, on channels."""
    seen = {"left_out": 0, "pinned": 0, "pinned_on_channels": 0}
    frozen_keys = engine._Holds.frozen_keys
    holds_init = engine._Holds.__init__

    def spy(self):
        left = sum(len(f) for f in self.fixed.values()) - sum(len(i) for i in self.included.values())
        seen["left_out"] = max(seen["left_out"], left)
        return frozen_keys(self)

    def count_pinned(self, *args, **kwargs):
        holds_init(self, *args, **kwargs)
        seen["pinned"] += len(self.expand)
        seen["pinned_on_channels"] += sum(k in self.expand for keys in self.chans.values() for k in keys)

    monkeypatch.setattr(engine._Holds, "frozen_keys", spy)
    monkeypatch.setattr(engine._Holds, "__init__", count_pinned)
    fast = simulate(net, **kw)
    monkeypatch.setattr(engine._Holds, "frozen_keys", frozen_keys)
    monkeypatch.setattr(engine._Holds, "__init__", holds_init)
    included: list[int] = []

    def include_all(self, r, pos):
        self.included[r].update(range(len(self.fixed[r])))
        included.append(len(self.fixed[r]))

    monkeypatch.setattr(engine._Holds, "include_neighbours", include_all)
    full = simulate(net, **kw)
    seen["included"] = max(included)
    return fast, full, seen


@pytest.mark.parametrize(
    ("rate", "seed", "epoch"), [(14.0, 2, "arrival"), (9.6, 3, "arrival"), (12.0, 4, "1.0")]
)
def test_leaving_out_distant_frozen_transfers_changes_nothing(monkeypatch, rate, seed, epoch):
    """The execution evaluates only the frozen transfers next to the batch's (engine._Holds); with
    every frozen transfer included (the evaluation before the speed-up) the rows are the same."""
    kw = dict(rate=rate, duration_s=12.0, seed=seed, epoch=epoch, users=50, aps=5, area_m=AREA_M)
    fast, full, seen = _fast_and_full(monkeypatch, "default", kw)
    assert seen["left_out"] >= 10  # the fast run did leave many committed transfers out
    assert seen["included"] >= 10  # the channels did carry many committed transfers to leave out
    pd.testing.assert_frame_equal(fast.rows, full.rows, check_exact=True)
    pd.testing.assert_frame_equal(fast.activities, full.activities, check_exact=True)


@pytest.mark.parametrize("rate", [0.3, 1.0])
def test_left_out_transfers_keep_their_times_with_started_activities_pinned(monkeypatch, rate):
    """Per-op re-planning (epoch 2.0, one slot per GPU as in tests/test_replan_ops.py): started
    activities of tasks re-planned in parts keep their times, on channels too, and the fast
    execution still gives the rows and activities of the one with every frozen transfer."""
    kw = dict(policy="greedy", epoch=2.0, rate=rate, duration_s=60.0, seed=2, slots=1)
    fast, full, seen = _fast_and_full(monkeypatch, "small", kw)
    assert fast.revisions is not None and (fast.revisions["started_ops"] > 0).sum() >= 10
    assert seen["pinned_on_channels"] >= 50  # executions did place started transfers as they are
    assert seen["left_out"] >= 5  # and left committed transfers out next to them
    pd.testing.assert_frame_equal(fast.rows, full.rows, check_exact=True)
    pd.testing.assert_frame_equal(fast.activities, full.activities, check_exact=True)
    pd.testing.assert_frame_equal(fast.revisions, full.revisions, check_exact=True)
