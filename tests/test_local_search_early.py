"""Early rejection in local-search: the value bounds it relies on are valid, and it changes no decision."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from offload_opt.costs import build_costs
from offload_opt.generator import generate
from offload_opt.instance import Instance
from offload_opt.solvers.local_search import local_search
from offload_opt.solvers.starts import START_NAMES, best_start, build_start
from offload_opt.solvers.timeline import Engine

ROOT = Path(__file__).resolve().parents[1]


def _bench(name: str) -> Instance:
    return Instance.from_json(ROOT / "instances" / "bench" / f"{name}.json")


@pytest.mark.parametrize(
    "inst",
    [
        pytest.param(_bench("M/M-01"), id="M-01"),
        pytest.param(_bench("M/M-08"), id="M-08"),
        pytest.param(generate("default", seed=1, users=4, aps=2, deadline_s=6.0), id="deadline"),
        pytest.param(generate("default", seed=3, users=20, aps=4), id="20-users"),
    ],
)
def test_early_rejection_gives_the_same_plans_with_fewer_placements(inst: Instance) -> None:
    """The same search with and without early rejection: identical plan, objective and counts of accepted
    and improving moves (every decision the same), and fewer op placements with it."""
    costs = build_costs(inst)
    runs = []
    for early in (False, True):
        start, _ = best_start(costs)
        s, stats = local_search(
            start.eng, start.units, random.Random(5), None, 600, 0.05, 0.0, 20_000, early_reject=early
        )
        runs.append((s.plan(), s.eng.objective(), stats))
    (plan0, obj0, st0), (plan1, obj1, st1) = runs
    assert plan1 == plan0
    assert obj1 == obj0
    for k in ("iterations", "accepted", "improved", "placements", "stopped_by"):
        assert st1[k] == st0[k], k
    assert st0["rejected_early"] == 0
    assert st1["rejected_early"] > 0
    assert st1["placed_ops"] < st0["placed_ops"]


@pytest.mark.parametrize(
    ("name", "seed"), [("M/M-01", 0), ("M/M-02", 1), ("S56/S56-6u-01", 2), ("gen", 3), ("gen", 4)]
)
def test_value_bounds_hold_on_random_schedules(name: str, seed: int) -> None:
    """``Engine.options_bound`` (fixed options) and ``Engine.mode_value_bound`` (any options) are at least
    the value every task reaches in random list schedules: random modes, options and op orders, on busy
    instances (GPUs with a backlog, shared channels, deadlines), so that queueing and backlogs are exercised
    (on M-01 ``Engine.mode_bound``, which adds a backlog to the parents' path, is below some of these values)."""
    inst = generate("default", seed=seed, users=10, aps=2, deadline_s=6.0) if name == "gen" else _bench(name)
    costs = build_costs(inst)
    rng = random.Random(seed)
    checked = 0
    for _ in range(20):
        eng = Engine(costs)
        pending = []
        for ti, task in enumerate(costs.tasks):
            eng.begin(ti, rng.randrange(len(task.modes)))
            pending.append(list(eng.info(ti, eng.placed(ti).mode).mode.topo_order))
        picks = [
            [rng.randrange(len(op.options)) for op in eng.info(ti, eng.placed(ti).mode).mode.ops]
            for ti in range(len(costs.tasks))
        ]
        while any(pending):  # ops in a random interleaving of the tasks, each task's topologically
            ti = rng.choice([t for t, ops in enumerate(pending) if ops])
            i = pending[ti].pop(0)
            eng.place_op(ti, i, picks[ti][i])
        for ti in range(len(costs.tasks)):
            st = eng.placed(ti)
            value = eng.task_value(ti)
            assert eng.options_bound(ti, st.mode, tuple(st.opts)) >= value - 1e-12
            assert eng.mode_value_bound(ti, st.mode) >= value - 1e-12
            checked += 1
    assert checked == 20 * len(costs.tasks)


@pytest.mark.parametrize("name", ["M/M-01", "M/M-05"])
def test_value_bounds_hold_on_good_schedules(name: str) -> None:
    """The bounds hold on the schedules the search meets: every constructive start and a short search's
    result (on M-01 there ``Engine.mode_bound`` falls below four task values: it adds a GPU's backlog to
    the parents' path instead of overlapping them, hence the separate ``mode_value_bound``)."""
    costs = build_costs(_bench(name))
    engines = [s.eng for n in START_NAMES if (s := build_start(costs, n)) is not None]
    start, _ = best_start(costs)
    engines.append(local_search(start.eng, start.units, random.Random(0), None, 300, 0.05)[0].eng)
    for eng in engines:
        for ti in range(len(costs.tasks)):
            st = eng.placed(ti)
            value = eng.task_value(ti)
            assert eng.options_bound(ti, st.mode, tuple(st.opts)) >= value - 1e-12
            assert eng.mode_value_bound(ti, st.mode) >= value - 1e-12
