"""The solver layer's contracts (issue 12, "Hardening"): options, registry, results, time limit, optima.

- options are one validated dataclass per solver, coerced by declared type (``parse_options``);
- the registry is an explicit table and no solver module imports the layer above it;
- ``solve()`` never reports ``optimal`` beyond the solver's ``mip_gap`` and reports a claim
  mismatch in its own field;
- the MIP honours its time limit for the whole call;
- the MIP proves the optima of the S set listed in docs/mip.md.
"""

from __future__ import annotations

import ast
import dataclasses
import time
from pathlib import Path

import pytest

from offload_opt import Instance, build_costs
from offload_opt.solvers import REGISTRY, SolverOutput, SolverSpec, get_solver, parse_options, solve
from offload_opt.solvers.options import WARM_START_HEURISTICS, MipOptions

from .conftest import tiny_instance

ROOT = Path(__file__).resolve().parent.parent
SOLVERS_DIR = ROOT / "offload_opt" / "solvers"


# ---------------------------------------------------------------------- options


def test_text_and_python_values_mean_the_same():
    for text in ("false", "False", "FALSE", "0", False):
        assert parse_options("mip", {"windows": text}).windows is False
    for text in ("true", "True", "1", True):
        assert parse_options("mip", {"windows": text}).windows is True
    opts = parse_options("mip", {"mip_gap": "0.5", "threads": "2", "time_grid": "none", "floor_passes": "1"})
    assert (opts.mip_gap, opts.threads, opts.time_grid, opts.floor_passes) == (0.5, 2, None, 1)
    assert parse_options("mip", {"warm_start": "greedy,heft"}).warm_start == ("greedy", "heft")
    assert parse_options("mip", {"warm_start": ["greedy"]}).warm_start == ("greedy",)
    for off in ("none", None, False):
        assert parse_options("mip", {"warm_start": off}).warm_start is None
    assert parse_options("local-search", {"max_iters": "120", "order": "release"}) == dataclasses.replace(
        parse_options("local-search", {}), max_iters=120, order="release"
    )


@pytest.mark.parametrize(
    ("solver", "options", "message"),
    [
        ("mip", {"bogus": 1}, "option bogus: unknown option for solver 'mip' (known: mip_gap, threads,"),
        ("mip", {"windows": "maybe"}, "option windows: expected true or false, got 'maybe'"),
        ("mip", {"mip_gap": "small"}, "option mip_gap: expected a number, got 'small'"),
        ("mip", {"mip_gap": -1}, "option mip_gap: must be a number >= 0, got -1.0"),
        ("mip", {"threads": 1.5}, "option threads: expected an integer or none, got 1.5"),
        ("mip", {"lazy": "sometimes"}, "option lazy: expected one of 'none', 'channels', 'all', 'full'"),
        ("mip", {"warm_start": "no-such"}, "option warm_start: unknown heuristic 'no-such'"),
        ("greedy", {"order": "random"}, "option order: expected one of 'spt', 'release', 'rank'"),
        ("local-only", {"x": 1}, "option x: unknown option for solver 'local-only' (known: none)"),
    ],
)
def test_bad_options_give_one_line(solver, options, message):
    with pytest.raises(ValueError) as exc:
        parse_options(solver, options)
    text = str(exc.value)
    assert text.startswith(message) and "\n" not in text


def test_solve_reads_windows_false_as_off():
    # before: the string "false" was truthy and the windows (and the time grid) stayed on
    costs = build_costs(tiny_instance())
    r = solve(costs, "mip", windows="false", time_limit=30)
    assert r.options.windows is False
    assert r.report.time_grid is None and r.info.get("time_grid") is None
    assert r.termination == "optimal" and r.status == "ok"


def test_solve_validates_options_before_running(monkeypatch):
    ran = []
    spec = SolverSpec("probe", "test probe", "tests.test_solver_layer:_probe_solver", MipOptions)
    monkeypatch.setitem(REGISTRY, "probe", spec)
    monkeypatch.setattr("tests.test_solver_layer._PROBE_LOG", ran)
    with pytest.raises(ValueError, match="^option mip_gap: "):
        solve(build_costs(tiny_instance()), "probe", mip_gap="x")
    assert ran == []
    solve(build_costs(tiny_instance()), "probe", mip_gap="0.25")
    assert ran == [MipOptions(mip_gap=0.25)]


# ---------------------------------------------------------------------- registry and layers


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth of its code (lazy imports included)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_no_solver_module_imports_the_registry_or_base():
    upper = {"offload_opt.solvers.base", "offload_opt.solvers.registry", "offload_opt.solvers"}
    lower = [p for p in SOLVERS_DIR.rglob("*.py") if p.name not in ("base.py", "registry.py", "__init__.py")]
    assert len(lower) >= 10
    for path in lower:
        bad = {m for m in _imports(path) if m in upper or m.startswith("offload_opt.solvers.base.")}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
    assert "offload_opt.solvers._builtin" not in _imports(SOLVERS_DIR / "base.py")
    assert not (SOLVERS_DIR / "_builtin.py").exists()


def test_registry_table_is_complete_and_each_entry_resolves():
    assert set(REGISTRY) == {
        "local-only", "nearest-edge", "best-single-mode", "greedy", "heft", "cpop", "local-search", "alns",
        "cg", "cpsat", "time-indexed", "mip",
    }  # fmt: skip
    for name, spec in REGISTRY.items():
        assert spec.name == name and spec.description
        assert callable(spec.func)
        assert dataclasses.is_dataclass(spec.options) and spec.options.__dataclass_params__.frozen
        spec.parse({})  # the defaults are valid
    assert [n for n, s in REGISTRY.items() if s.exact] == ["cg", "cpsat", "time-indexed", "mip"]


def test_warm_start_names_match_the_heuristics_table():
    from offload_opt.solvers.mip.warm import HEURISTICS

    assert set(HEURISTICS) == set(WARM_START_HEURISTICS)
    assert all(n in REGISTRY and not REGISTRY[n].exact for n in HEURISTICS)


# ---------------------------------------------------------------------- results

_PROBE_LOG: list = []
_FAKE: dict = {}


def _probe_solver(costs, *, time_limit_s, seed, options):
    _PROBE_LOG.append(options)
    return get_solver("greedy")(costs, time_limit_s=time_limit_s, seed=seed)


def _fake_solver(costs, *, time_limit_s, seed, options):
    out = get_solver("greedy")(costs, time_limit_s=time_limit_s, seed=seed)
    return SolverOutput(
        out.solution,
        _FAKE.get("termination", "optimal"),
        claimed_objective=out.claimed_objective + _FAKE.get("claim_offset", 0.0),
        bound=out.claimed_objective + _FAKE.get("bound_offset", 0.0),
    )


@pytest.fixture
def fake(monkeypatch):
    spec = SolverSpec("fake", "claims what the test says", "tests.test_solver_layer:_fake_solver", MipOptions)
    monkeypatch.setitem(REGISTRY, "fake", spec)
    _FAKE.clear()
    return _FAKE


def test_optimal_beyond_mip_gap_is_reported_feasible(fake):
    costs = build_costs(tiny_instance())
    fake.update(bound_offset=0.5)  # reward: the bound is above the objective by 0.5
    r = solve(costs, "fake", mip_gap=0.01)
    assert r.gap is not None and r.gap > 0.01
    assert r.termination == "feasible" and "mip_gap" in r.info["optimal_refused"]
    # within the gap the claim stands
    r = solve(costs, "fake", mip_gap=1.0e3)
    assert r.termination == "optimal"
    fake.update(bound_offset=0.0)
    r = solve(costs, "fake", mip_gap=0.0)
    assert r.termination == "optimal" and r.gap == 0.0


def test_mip_driver_does_not_call_optimal_beyond_its_gap(monkeypatch):
    # make every evaluated incumbent look far from the bound: the relaxation's own solution is
    # still optimal for HiGHS, but the driver must not report the call optimal
    from offload_opt.solvers.mip import driver

    monkeypatch.setattr(driver, "gap", lambda target, value, bound: 0.5)
    r = solve(build_costs(tiny_instance()), "mip", time_limit=30, mip_gap=0.01)
    assert r.termination == "feasible" and r.solution is not None and r.status == "ok"
    assert "exceeds mip_gap" in r.report.error


def test_claim_mismatch_has_its_own_field(fake):
    costs = build_costs(tiny_instance())
    fake.update(claim_offset=0.125)
    r = solve(costs, "fake")
    assert r.status == "warning"
    assert r.claim_mismatch is not None and "evaluator computed" in r.claim_mismatch
    assert r.info["claim_mismatch"] == r.claim_mismatch  # still readable where info is read
    fake.update(claim_offset=0.0)
    r = solve(costs, "fake")
    assert r.status == "ok" and r.claim_mismatch is None


def test_results_are_built_by_keyword():
    src = (SOLVERS_DIR / "base.py").read_text()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Result":
            assert not node.args, "Result(...) must be built by keyword"


def test_mip_report_is_typed():
    from offload_opt.solvers.mip import MipReport

    r = solve(build_costs(tiny_instance()), "mip", time_limit=30)
    assert isinstance(r.report, MipReport)
    assert r.report.target == "reward" and r.report.iterations >= 1
    assert r.info["iterations"] == r.report.iterations  # info mirrors the report


# ---------------------------------------------------------------------- time limit


@pytest.mark.slow
def test_mip_time_limit_covers_the_whole_call():
    # before: time_limit=1 took 6 s on L-01 (windows, LP floors, the model hand-over and the final
    # check ran outside the clock). Slack documented in mip/solve.py: one uninterruptible step.
    costs = build_costs(Instance.from_json(ROOT / "instances" / "bench" / "v1" / "L" / "L-01.json"))
    t0 = time.perf_counter()
    r = solve(costs, "mip", time_limit=1.0, threads=1)
    wall = time.perf_counter() - t0
    assert wall < 4.0, (wall, r.info)
    assert r.termination == "time_limit"
    assert r.report.skipped  # says which phases the limit cut
    assert r.bound is None
    if r.solution is not None:  # the warm start, judged by the evaluator
        assert r.status == "ok" and r.objective is not None


def test_mip_without_time_for_anything_says_so():
    # no warm start and a limit that ends before the model exists: no solution, time_limit, a reason
    costs = build_costs(tiny_instance())
    r = solve(costs, "mip", time_limit=1e-9, warm_start=None)
    assert r.termination == "time_limit" and r.solution is None and r.status == "warning"
    assert any("time limit" in s for s in r.report.skipped)


# ---------------------------------------------------------------------- the S set's optima

# (instance, optimum as stored in docs/mip.md's benchmark table, 4 decimals). mip_gap=0: at the
# default 1e-4 S-01 stops at 2.00944, which rounds to 2.0094. S-01 takes 20 s on one thread of a
# loaded machine (5 s on two threads in docs/mip.md): slow, outside the default run.
S_OPTIMA = [
    pytest.param("S-01", 2.0095, marks=pytest.mark.slow),
    ("S-02", -0.7733),
    ("S-03", 2.4687),
    ("S-04", 2.2317),
    ("S-05", 2.9933),
    ("S-06", 2.2813),
    ("S-07", 2.6990),
    ("S-08", 1.4854),
    ("S-09", 1.6505),
    ("S-10", 0.9738),
]


def test_s_optima_cover_the_s_set():
    names = [p.values[0] if hasattr(p, "values") else p[0] for p in S_OPTIMA]
    assert sorted(p.stem for p in (ROOT / "instances" / "bench" / "v1" / "S").glob("*.json")) == names


@pytest.mark.parametrize(("name", "optimum"), S_OPTIMA)
def test_mip_proves_the_stored_s_optimum(name, optimum):
    costs = build_costs(Instance.from_json(ROOT / "instances" / "bench" / "v1" / "S" / f"{name}.json"))
    r = solve(costs, "mip", time_limit=120, threads=1, mip_gap=0.0)
    assert r.status == "ok" and r.termination == "optimal", r.info
    assert round(r.objective, 4) == optimum
    assert r.bound is not None and r.bound >= r.objective - 1e-9 * max(1.0, abs(r.objective))
    assert r.claim_mismatch is None


# ---------------------------------------------------------------------- one reward definition


def test_mip_reward_comes_from_costs_task_reward(monkeypatch):
    # the MIP's reward rows are built by calling costs.task_reward: with another (linear) reward
    # the model still reproduces the evaluator exactly; before, the model spelled out its own formula
    from offload_opt.costs import CostTables

    monkeypatch.setattr(CostTables, "task_reward", lambda self, q, lat: 3.0 * q - 0.5 * lat)
    costs = build_costs(tiny_instance())
    h = solve(costs, "greedy")
    r = solve(costs, "mip", fix=h.solution)
    assert r.claim_mismatch is None and r.claimed_objective == pytest.approx(h.objective, rel=1e-9)
    r = solve(costs, "mip", time_limit=30, mip_gap=0.0)
    assert r.termination == "optimal" and r.status == "ok" and r.claim_mismatch is None
    assert r.objective >= h.objective - 1e-9
