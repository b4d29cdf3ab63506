"""The ``time-indexed`` solver: destructive makespan bounds with a time-indexed MIP (solvers/time_indexed.py).

Oracles: brute force over every assignment and processor order through the
evaluator (``tests/test_classic.brute_force_makespan``) on the small random
DAGs (edge costs paid across processors) and flexible job shops of
``tests/test_explicit_search.py``; the hand instances of ``tests/test_classic.py``
(fractional data, barred machines, an edge cost that keeps two ops together);
the published job shop ft06. Without a warm start the optimum must come from
the time-indexed model itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from offload_opt.costs import build_costs
from offload_opt.instance import Instance
from offload_opt.solvers import solve
from offload_opt.solvers.bounds import makespan_lower_bound
from tests.test_classic import brute_force_makespan, hand_cases
from tests.test_explicit_search import CASES

ROOT = Path(__file__).resolve().parent.parent


def assert_proven_ti(inst: Instance, optimum: float, **options) -> None:
    res = solve(inst, solver="time-indexed", time_limit=60, **options)
    assert res.status == "ok", res.info  # the evaluator agrees with the solver's claim
    assert res.termination == "optimal", res.info
    assert res.objective == pytest.approx(optimum, abs=1e-9)
    assert res.bound == pytest.approx(optimum, abs=1e-9)
    assert res.evaluation is not None and res.evaluation.makespan_s == pytest.approx(optimum, abs=1e-9)


@pytest.mark.parametrize("inst", CASES, ids=[c.name for c in CASES])
def test_proves_the_brute_force_optimum_without_a_warm_start(inst):
    optimum = brute_force_makespan(build_costs(inst))
    assert_proven_ti(inst, optimum, warm_start="none")


def test_proves_the_hand_optima_and_scales_fractional_data(tmp_path):
    for inst, optimum in hand_cases(tmp_path):
        assert_proven_ti(inst, optimum, warm_start="none")


def test_every_trial_below_the_optimum_is_infeasible_and_the_last_is_feasible():
    # dag0 .. dag9 and fjsp0 .. fjsp9: the trials climb from the bound of bounds.py one unit at a time
    for inst in CASES:
        costs = build_costs(inst)
        res = solve(costs, solver="time-indexed", time_limit=60, warm_start="none")
        trials = res.info["trials"]
        assert [t[0] for t in trials] == [makespan_lower_bound(costs) + k for k in range(len(trials))]
        assert all(status == "infeasible" for _, status, _ in trials[:-1]) or not trials
        if trials:
            assert trials[-1][1] == "feasible" and trials[-1][0] == res.objective


def test_ft06_is_proven_at_its_published_optimum():
    inst = Instance.from_json(ROOT / "instances" / "classic" / "ft06.json")
    assert_proven_ti(inst, float(inst.meta["published"]["optimum"]))


def test_the_bound_stays_valid_when_the_model_is_too_large():
    inst = Instance.from_json(ROOT / "instances" / "classic" / "ft06.json")
    res = solve(inst, solver="time-indexed", time_limit=60, max_columns=10)
    assert res.termination == "time_limit" and "max_columns" in res.info["stopped"]
    assert res.bound is not None and res.bound <= 55 and res.objective >= 55


def test_declines_wireless_instances_with_a_reason():
    from offload_opt.generator import generate

    res = solve(generate("small", seed=0), solver="time-indexed")
    assert res.status == "error" and "explicit-cost" in res.info["reason"]


def test_rejects_bad_options():
    inst = Instance.from_json(ROOT / "instances" / "classic" / "ft06.json")
    with pytest.raises(ValueError, match="option max_columns"):
        solve(inst, solver="time-indexed", max_columns=0)
    with pytest.raises(ValueError, match="option warm_start"):
        solve(inst, solver="time-indexed", warm_start="nope")


DATA = Path(os.environ.get("OFFLOAD_OPT_CLASSIC_DATA", ROOT.parent / "shared" / "reference" / "classic"))


@pytest.mark.parametrize("name", ["k1", "k2", "k3", "k4"])
def test_kacem_instances_are_proven(name):
    from offload_opt.readers import read_classic

    manifest = json.loads((ROOT / "instances" / "classic" / "published.json").read_text())
    entry = next(e for e in manifest["instances"] if e["name"] == name)
    path = DATA / entry["file"]
    if not path.exists():
        pytest.skip(f"raw file {path} not present (see instances/classic/published.json for its source)")
    inst = read_classic(path, "fjs", machine_base=entry.get("machine_base", 1), name=name)
    res = solve(inst, solver="time-indexed", time_limit=60)
    assert res.status == "ok" and res.termination == "optimal", res.info
    assert res.bound == pytest.approx(res.objective, abs=1e-9)
    pub = entry["published"]
    lo, hi = (pub["optimum"], pub["optimum"]) if "optimum" in pub else pub["bounds"]
    assert (lo is None or lo <= res.objective + 1e-9) and res.objective <= hi + 1e-9
