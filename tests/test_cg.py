"""The column-generation solver: its bound is valid (>= proven optima, >= every heuristic), its
pricing equals brute-force enumeration of the column space, every evaluated schedule maps into
the column space and satisfies every master row, and its claims equal the evaluator's.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path

import numpy as np
import pytest

import offload_opt as oo
from offload_opt.costs import CostTables, build_costs
from offload_opt.instance import Instance
from offload_opt.solvers import solve, solvers
from offload_opt.solvers.cg.grid import ColumnSpace
from offload_opt.solvers.cg.pricing import Pricer
from offload_opt.solvers.cg.solve import (
    build_space,
    columns_of_solution,
    decode,
    reduced_reward,
)

from .conftest import decomposed_task, tiny_instance

ROOT = Path(__file__).resolve().parent.parent
S_DIR = ROOT / "instances" / "bench" / "v1" / "S"
# proven optima of the S set (docs/mip.md, "S" table: the MIP with mip_gap 0), 4 decimals
S_OPTIMA = {
    "S-01": 2.0095,
    "S-02": -0.7733,
    "S-03": 2.4687,
    "S-04": 2.2317,
    "S-05": 2.9933,
    "S-06": 2.2813,
    "S-07": 2.6990,
    "S-08": 1.4854,
    "S-09": 1.6505,
    "S-10": 0.9738,
}
ROUNDING = 5e-5  # the stored optima are rounded to 4 decimals
REL = 1e-6


def heuristics() -> list[str]:
    return [name for name, s in solvers().items() if not s.exact]


def generated(seed: int, **kw) -> CostTables:
    return build_costs(oo.generate("default", seed=seed, **kw))


# ---------------------------------------------------------------------------------- validity


@pytest.mark.parametrize("name", sorted(S_OPTIMA))
def test_bound_at_least_proven_optimum(name):
    costs = build_costs(Instance.from_json(S_DIR / f"{name}.json"))
    r = solve(costs, "cg", time_limit=20)  # the bound is valid wherever the limit stops the search
    opt = S_OPTIMA[name]
    assert r.status == "ok", r.info
    assert "claim_mismatch" not in r.info
    assert r.bound is not None and r.bound >= opt - ROUNDING, (r.bound, opt)
    assert r.objective <= opt + ROUNDING  # an incumbent never beats a proven optimum
    assert r.gap is not None and r.gap >= 0
    if r.termination == "optimal":
        assert r.bound - r.objective <= 1e-4 * max(abs(r.objective), 1e-9) + 1e-12
    for key in ("iterations", "columns", "grid"):
        assert key in r.info


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_bound_at_least_every_heuristic(seed):
    costs = generated(seed, users=3, aps=2, max_subtasks=2)
    r = solve(costs, "cg", time_limit=60, warm_start="greedy")
    assert r.status == "ok" and r.bound is not None, r.info
    names = heuristics()
    assert names
    for name in names:
        h = solve(costs, name, seed=seed)
        if h.feasible:
            assert r.bound >= h.objective - REL * max(1.0, abs(h.objective)), name


def test_bound_is_valid_at_any_iteration():
    """Stopped after one iteration (no convergence), the Lagrangian bound is still >= the optimum."""
    costs = build_costs(Instance.from_json(S_DIR / "S-01.json"))
    r = solve(costs, "cg", max_iterations=1, warm_start="greedy")
    assert r.info["iterations"] == 1 and not r.info["converged"]
    assert r.bound >= S_OPTIMA["S-01"] - ROUNDING
    assert r.termination in ("feasible", "optimal")


# ---------------------------------------------------------------------------------- pricing


def brute_force(space: ColumnSpace, task: int, pi: np.ndarray) -> float:
    """Max reduced reward over every column of the space, by enumerating every start period."""
    best = -math.inf
    for ms in space.modes[task]:
        for row in range(ms.size):
            for periods in itertools.product(range(space.horizon), repeat=ms.n_ops):
                if space.in_space(ms, row, periods):
                    col = space.make_column(ms, row, periods)
                    best = max(best, reduced_reward(col, pi))
    return best


def tiny_space(seed: int) -> ColumnSpace:
    """Two users, two APs with a 1-slot server each, two decomposed tasks (s1 waits for s0)."""
    inst = tiny_instance(
        tasks=(decomposed_task("t0", "u0", 0.0), decomposed_task("t1", "u1", 0.3)),
        users=2,
        slots=1,
        n_aps=2,
    )
    costs = build_costs(inst)
    # server ops last 1.5-2.6 s: half-second periods make them occupy 2-5 periods; completions by
    # 7 s keep about 15 periods, so that brute force stays small
    return ColumnSpace.build(costs, 0.5 + 0.05 * seed, [7.0, 7.3])


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_pricing_equals_brute_force(seed):
    space = tiny_space(seed)
    rng = np.random.default_rng(seed)
    pi = rng.uniform(0, 0.1, size=(len(space.groups), space.horizon))
    pi[rng.random(pi.shape) < 0.4] = 0.0
    pricer = Pricer(space, pi)
    for t in range(len(space.costs.tasks)):
        got = pricer.price_task(t, keep=3)
        want = brute_force(space, t, pi)
        assert math.isclose(got.value, want, rel_tol=1e-9, abs_tol=1e-9), (t, got.value, want)
        assert want < brute_force(space, t, 0 * pi) - 1e-6  # the duals matter: not a vacuous case
        for v, col in got.columns:  # every returned column is in the space and priced right
            ms = space.mode_space(col.task, col.mode)
            assert ms is not None
            row = space.find_row(ms, col.options)
            assert row is not None and space.in_space(ms, row, col.periods)
            assert math.isclose(v, reduced_reward(col, pi), rel_tol=1e-9, abs_tol=1e-9)


# ---------------------------------------------------------------------------------- mapping


def check_mapping(costs: CostTables, space: ColumnSpace, solution) -> None:
    ev = oo.evaluate(costs, solution)
    assert ev.feasible
    cols, why = columns_of_solution(space, solution, ev)
    assert not why, why
    assert len(cols) == len(costs.tasks)
    usage = np.zeros((len(space.groups), space.horizon))
    for col, m in zip(cols, ev.tasks, strict=True):
        assert col.reward >= m.reward - 1e-9 * max(1.0, abs(m.reward)), (m.task, col.reward, m.reward)
        for g, first, count in col.occupancy:
            usage[g, first : first + count] += 1
    assert (usage <= space.capacity[:, None] + 1e-9).all()


@pytest.mark.parametrize("seed", [0, 5])
def test_every_schedule_maps_into_the_column_space(seed):
    costs = generated(seed, users=4, aps=2, max_subtasks=3)
    for grid in (0.05, 0.37):
        space = build_space(costs, grid)  # no incumbent: every solution is kept
        for name in heuristics():
            h = solve(costs, name, seed=seed)
            if h.feasible:
                check_mapping(costs, space, h.solution)
    r = solve(costs, "cg", time_limit=30, warm_start="greedy")
    check_mapping(costs, build_space(costs, 0.05), r.solution)


def test_decoded_columns_are_evaluated():
    """The integer master's columns decode into a complete solution the evaluator accepts."""
    costs = build_costs(Instance.from_json(S_DIR / "S-04.json"))
    space = build_space(costs, 0.05)
    h = solve(costs, "greedy")
    cols, why = columns_of_solution(space, h.solution, h.evaluation)
    assert not why
    sol = decode(costs, space, cols)
    ev = oo.evaluate(costs, sol)
    assert ev.feasible, ev.violations
    assert {d.task for d in sol.decisions} == {t.id for t in costs.tasks}


# ---------------------------------------------------------------------------------- input


def test_rejects_the_explicit_form():
    inst = Instance.from_json(ROOT / "instances" / "classic" / "topcuoglu2002.json")
    with pytest.raises(ValueError, match="instance.explicit"):
        solve(inst, "cg", time_limit=5)


@pytest.mark.parametrize(
    "options,field",
    [
        ({"grid": 0}, "grid"),  # a grid of 0 s has no periods
        ({"grid": -0.1}, "grid"),  # negative
        ({"smoothing": 1.0}, "smoothing"),  # alpha = 1 never moves the duals
        ({"columns_per_task": 0}, "columns_per_task"),
        ({"bogus": 1}, "bogus"),  # unknown option
    ],
)
def test_rejects_bad_options(options, field):
    with pytest.raises(ValueError, match=f"^option {field}"):
        oo.solvers.parse_options("cg", options)


def test_deadline_nobody_can_meet_is_infeasible():
    """A 0.01 s deadline: no column exists, so no solution, no bound, termination infeasible."""
    task = decomposed_task("t0", "u0", 0.0)
    inst = tiny_instance(tasks=(dataclasses.replace(task, deadline_s=0.01),))
    r = solve(inst, "cg", time_limit=30)
    assert r.termination == "infeasible", r.info
    assert r.solution is None and r.bound is None and r.objective is None


def test_cg_after_a_mip_with_another_thread_count_in_one_process():
    """HiGHS keeps one global scheduler per process: a cg LP after a 2-thread mip solve used to end "Not Set"."""
    inst = Instance.from_json(ROOT / "instances" / "bench" / "v1" / "S" / "S-03.json")
    first = solve(inst, "mip", time_limit=30, threads=2)
    assert first.status == "ok"
    r = solve(inst, "cg", time_limit=30, threads=1)
    assert r.status == "ok" and r.bound is not None and r.bound >= r.objective - 1e-9


# ---------------------------------------------------------------------------------- branch-and-price

BENCH = ROOT / "instances" / "bench"
# a coarse grid without a coarse pass or refinement and a weak warm start leave a root gap, so
# that the search branches; Lagrangian fixing off and MIP only at leaves, so that it branches deep
BRANCHY = {
    "grid": 0.25,
    "coarse_grid": 0,
    "warm_start": "greedy",
    "mip_gap": 1e-6,
    "fixing": False,
    "node_mip_assignments": 1,
    "min_grid": 0.25,  # no grid refinement
}


def mip_result(name: str) -> tuple[float, float]:
    """The MIP's proven objective and bound of a current benchmark instance (optima.csv)."""
    import csv

    with open(BENCH / "optima.csv") as f:
        row = next(r for r in csv.DictReader(f) if r["instance"] == name)
    assert row["termination"] == "optimal"
    return float(row["objective"]), float(row["bound"])


@pytest.mark.parametrize(
    "path,options",
    [
        ("S/S-08", BRANCHY),
        ("S56/S56-5u-05", BRANCHY),
        ("S56/S56-6u-03", BRANCHY),
        (
            "S56/S56-6u-05",
            {"grid": 0.25, "coarse_grid": 0, "warm_start": "greedy", "mip_gap": 1e-6, "min_grid": 0.25},
        ),
    ],
)
def test_branch_and_price_proves_the_mip_optimum(path, options):
    """B&P ends optimal at the MIP's proven optimum (within the MIP's own 1e-4 gap)."""
    costs = build_costs(Instance.from_json(BENCH / f"{path}.json"))
    r = solve(costs, "cg", time_limit=60, **options)
    mip_obj, mip_bound = mip_result(path.split("/")[1])
    assert r.status == "ok" and "claim_mismatch" not in r.info, r.info
    assert r.termination == "optimal", r.info
    assert r.info["node_mips"] >= 1  # the root alone did not prove it
    if options.get("fixing") is False:
        assert r.info["nodes"] > 1  # the search did branch
    assert mip_obj - 1e-9 <= r.objective <= mip_bound + 1e-9
    assert r.bound >= mip_obj - 1e-9 and r.bound - r.objective <= 1e-6 * abs(r.objective) + 1e-12


@pytest.mark.parametrize("node_limit", [1, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_bound_at_least_every_heuristic_at_any_node_limit(seed, node_limit):
    costs = generated(seed, users=3, aps=2, max_subtasks=2)
    r = solve(costs, "cg", time_limit=60, node_limit=node_limit, **BRANCHY)
    assert r.status == "ok" and r.bound is not None, r.info
    assert r.info["nodes"] <= node_limit
    for name in heuristics():
        h = solve(costs, name, seed=seed)
        if h.feasible:
            assert r.bound >= h.objective - REL * max(1.0, abs(h.objective)), name


def test_branching_partitions_the_columns():
    """A decision and its negation split a space's combinations in two; pricing over the parent
    equals the better child; the master keeps exactly the columns a node's space holds."""
    from offload_opt.solvers.cg.branch import Decision, in_space_mask, restrict
    from offload_opt.solvers.cg.master import Master

    space = tiny_space(0)
    rng = np.random.default_rng(0)
    pi = rng.uniform(0, 0.05, size=(len(space.groups), space.horizon))
    ms = max(space.modes[1], key=lambda m: m.size)
    k = ms.n_ops - 1
    option = int(ms.combos[0, k])
    decision = Decision(1, ms.mode, k, option, True)
    children = [restrict(space, [d]) for d in (decision, decision.negated())]
    master = Master(space)
    for t in range(len(space.modes)):
        for c in Pricer(space, pi).price_task(t, keep=50).columns:
            master.add(c[1])
    for child, d in zip(children, (decision, decision.negated()), strict=True):
        rows = {(m.mode, tuple(map(int, r))) for m in child.modes[1] for r in m.combos}
        assert all(d.holds(1, mode, opts) for mode, opts in rows)
        assert child.modes[0] == space.modes[0]  # the other task is untouched
        mask = in_space_mask(master.columns, child)
        for col, ok in zip(master.columns, mask, strict=True):
            assert ok == (col is None or d.holds(col.task, col.mode, col.options))
        for _, col in Pricer(child, pi).price_task(1, keep=10).columns:
            assert d.holds(col.task, col.mode, col.options)
    parent_rows = {(m.mode, tuple(map(int, r))) for m in space.modes[1] for r in m.combos}
    split = [{(m.mode, tuple(map(int, r))) for m in c.modes[1] for r in m.combos} for c in children]
    assert split[0] and split[1] and not split[0] & split[1] and split[0] | split[1] == parent_rows
    values = [Pricer(c, pi).price_task(1).value for c in children]
    assert Pricer(space, pi).price_task(1).value == pytest.approx(max(values), abs=1e-12)


def test_lagrangian_fixing_keeps_every_better_solution():
    """Combinations dropped by fixing at level z cannot carry a solution worth more than z: every
    heuristic schedule worth more keeps all its columns in the pruned space."""
    from offload_opt.solvers.cg.branch import in_space_mask, prune
    from offload_opt.solvers.cg.solve import new_run
    from offload_opt.solvers.options import CgOptions

    costs = generated(2, users=3, aps=2, max_subtasks=2)
    space = build_space(costs, 0.25)
    run = new_run(space, CgOptions(), None, None)
    run.generate(CgOptions(), math.inf, lambda: False)
    assert run.converged and run.best_pi is not None
    checked = 0
    for name in heuristics():
        h = solve(costs, name, seed=2)
        if not h.feasible:
            continue
        ev = oo.evaluate(costs, h.solution)
        cols, why = columns_of_solution(space, h.solution, ev)
        assert not why
        level = h.objective - 1e-9
        pruned, _ = prune(space, run.best_pi, run.bound, run.values, level)
        assert in_space_mask(list(cols), pruned).all(), name
        checked += 1
    assert checked
    # and a level above the bound drops everything
    pruned, dropped = prune(space, run.best_pi, run.bound, run.values, run.bound + 1e-3)
    assert dropped > 0 and any(not s for s in pruned.modes)


@pytest.mark.slow
def test_a_search_that_closes_every_node_reports_optimal():
    """M-02: the tree closes with the gap at mip_gap; rounding once made that "feasible" (gap 1e-4 + 6e-20).
    About 30 s, so marked slow (pytest -m slow)."""
    res = solve(Instance.from_json(ROOT / "instances" / "bench" / "M" / "M-02.json"), "cg", time_limit=120)
    assert res.info["open_nodes"] == 0
    assert res.termination == "optimal", (res.gap, res.info)
    assert res.gap is not None and res.gap <= 1e-4
