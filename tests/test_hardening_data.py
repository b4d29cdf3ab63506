"""Issue 12 (hardening), data layer and judge: colliding activity keys, numbers outside the
documented ranges, duplicate entries, and inputs that used to end in a traceback.

Every case here failed before the fix: the bad input was accepted (or crashed with a
traceback / a message naming no field); now the library raises one InputError line
naming the field and the CLI exits with code 2.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import offload_opt.evaluator as evaluator_module
from offload_opt import InputError, Instance, generate
from offload_opt.cli import main
from offload_opt.costs import build_costs
from offload_opt.evaluator import evaluate
from offload_opt.solution import Placement, Sequence, Solution, TaskDecision, flow_key
from offload_opt.solvers.base import solve

from .conftest import decomposed_task, tiny_instance

ROOT = Path(__file__).resolve().parents[1]


def _base() -> dict[str, Any]:
    """The tiny one-user instance with one decomposed task (s0 -> s1, agg), as JSON data."""
    return tiny_instance(tasks=(decomposed_task(),)).to_dict()


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(_base())
    cur = data
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = value
    return data


def _cli_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI in-process; assert exit 2 and exactly one stderr line; return that line."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert "Traceback" not in err
    return err


# ---- 1. activity keys are unambiguous --------------------------------------------------------

SUB = ["tasks", 0, "decomposition", "subtasks"]
BAD_IDS = [
    (SUB + [0, "id"], "in", "tasks[0].decomposition.subtasks[0].id"),  # 'in' is the owner's end of a flow
    (SUB + [0, "id"], "out", "tasks[0].decomposition.subtasks[0].id"),  # 'out' likewise
    (SUB + [1, "id"], "b/whole", "tasks[0].decomposition.subtasks[1].id"),  # '/' splits task and op
    (SUB + [1, "id"], "x>agg", "tasks[0].decomposition.subtasks[1].id"),  # '>' splits a flow's ends
    (["tasks", 0, "id"], "a/b", "tasks[0].id"),  # task 'a/b' beside task 'a' with op 'b/...'
    (["tasks", 0, "id"], "t0>x", "tasks[0].id"),  # '>' in a task id
]


@pytest.mark.parametrize(("path", "value", "field"), BAD_IDS, ids=[v for _, v, _ in BAD_IDS])
def test_ids_that_would_make_keys_collide_are_rejected(path, value, field):
    data = _with(path, value)
    if path == SUB + [0, "id"]:  # keep s1's parent reference valid
        data["tasks"][0]["decomposition"]["subtasks"][1]["parents"] = [value]
    with pytest.raises(InputError) as err:
        Instance.from_dict(data)
    assert str(err.value).startswith(field + ":"), err.value


def test_subtask_named_in_is_refused_by_solve(tmp_path, capsys):
    path = tmp_path / "in.json"
    data = _with(SUB + [0, "id"], "in")
    data["tasks"][0]["decomposition"]["subtasks"][1]["parents"] = ["in"]
    path.write_text(json.dumps(data))
    err = _cli_error(["solve", str(path), "--solver", "greedy"], capsys)
    assert "tasks[0].decomposition.subtasks[0].id" in err and "'in'" in err


def test_duplicate_explicit_edge_is_rejected():
    # two costs for one edge a -> b: one activity key for two flows, and which cost applies?
    data = json.loads((ROOT / "instances/classic/topcuoglu2002.json").read_text())
    edges = data["explicit"]["jobs"][0]["edges"]
    edges.append(dict(edges[0], cost=edges[0]["cost"] + 1))
    with pytest.raises(InputError, match=r"^explicit\.jobs\[0\]\.edges\[\d+\]: duplicate edge"):
        Instance.from_dict(data)


def test_evaluator_rejects_two_activities_behind_one_key(monkeypatch):
    """The original bug: flows s0>agg and in>agg sharing the key 't0/in>agg'; a schedule listing it
    once on the channel left the second transfer unsequenced, and was called feasible."""
    inst = tiny_instance(tasks=(decomposed_task(),))
    costs = build_costs(inst)

    def colliding(task_id, mode, flow):  # what a subtask named 'in' produced before the fix
        return flow_key(task_id, mode, flow).replace("/s0>", "/in>")

    monkeypatch.setattr(evaluator_module, "flow_key", colliding)
    sol = Solution(
        (
            TaskDecision(
                "t0",
                "decompose",
                (
                    Placement("s0", "user:u0", "small"),
                    Placement("s1", "user:u0", "small"),
                    Placement("agg", "ap:a0", "big"),
                ),
            ),
        ),
        (
            Sequence("dev:u0", ("t0/s0", "t0/s1")),
            Sequence("srv:a0:big:0", ("t0/agg",)),
            Sequence("chan:1", ("t0/in>agg", "t0/s1>agg", "t0/agg>out")),
        ),
    )
    ev = evaluate(costs, sol)
    assert not ev.feasible
    assert any("names two activities" in v for v in ev.violations), ev.violations


def test_every_shared_activity_must_be_sequenced_exactly_once(tiny):
    """An activity missing from its resource's order is a violation (checked per activity)."""
    costs = build_costs(tiny)
    sol = Solution(
        (TaskDecision("t0", "whole", (Placement("whole", "ap:a0", "big"),)),),
        (Sequence("srv:a0:big:0", ("t0/whole",)), Sequence("chan:1", ("t0/in>whole",))),
    )
    ev = evaluate(costs, sol)
    assert not ev.feasible
    assert any("'t0/whole>out' is missing" in v for v in ev.violations), ev.violations


# ---- 2. numbers outside the documented ranges; the relative time frame -----------------------

T0 = ["tasks", 0]
BAD_NUMBERS = [
    (T0 + ["release_s"], 1e17, "tasks[0].release_s"),  # absorbs every duration: latency 0
    (T0 + ["release_s"], 1e308, "tasks[0].release_s"),  # likewise, at the top of the float range
    (["objective", "accuracy_weight"], 1e308, "objective.accuracy_weight"),  # objective inf
    (["objective", "latency_weight_per_s"], 1e300, "objective.latency_weight_per_s"),  # -inf rewards
    (T0 + ["prompt_tokens"], 10**400, "tasks[0].prompt_tokens"),  # OverflowError in float()
    (T0 + ["payload_bytes"], 10**400, "tasks[0].payload_bytes"),  # likewise
    (T0 + ["prompt_tokens"], 10**9, "tasks[0].prompt_tokens"),  # above MAX_TOKENS
    (["aps", 0, "servers", 0, "slots"], 10**9, "aps[0].servers[0].slots"),  # MemoryError building slots
    (["speeds", 0, "prefill_tps"], 1e-320, "speeds[0].prefill_tps"),  # duration inf
    (["links", 0, "phy_rate_mbps"], 1e-300, "links[0].phy_rate_mbps"),  # airtime inf
    (["channels", 0, "mac_efficiency"], 1e-300, "channels[0].mac_efficiency"),  # airtime inf
    (T0 + ["deadline_s"], 1e300, "tasks[0].deadline_s"),  # beyond any horizon
    (["aps", 0, "servers", 0, "queue_backlog_s"], 5e6, "aps[0].servers[0].queue_backlog_s"),  # 58 days late
]


@pytest.mark.parametrize(("path", "value", "field"), BAD_NUMBERS, ids=[f for _, _, f in BAD_NUMBERS])
def test_numbers_outside_documented_ranges_are_rejected(path, value, field):
    with pytest.raises(InputError) as err:
        Instance.from_dict(_with(path, value))
    text = str(err.value)
    assert text.startswith(field + ":"), text
    assert len(text) < 200, text  # a 400-digit value is not printed in full


def test_releases_spread_beyond_the_horizon_are_rejected():
    inst = tiny_instance(tasks=(decomposed_task("t0"), decomposed_task("t1")))
    data = inst.to_dict()
    data["tasks"][1]["release_s"] = 2e6
    with pytest.raises(InputError, match=r"^tasks\[1\]\.release_s: must be within"):
        Instance.from_dict(data)


def _unix_shifted(inst: Instance, shift_s: float) -> Instance:
    """The same instance with every absolute time (releases, server and GPU backlogs) moved by ``shift_s``."""
    aps = tuple(
        a.__class__(
            **{
                **a.__dict__,
                "servers": tuple(
                    dataclasses.replace(s, queue_backlog_s=s.queue_backlog_s + shift_s)
                    if s.gpu is None
                    else s
                    for s in a.servers
                ),
                "gpus": tuple(
                    dataclasses.replace(g, queue_backlog_s=g.queue_backlog_s + shift_s) for g in a.gpus
                ),
            }
        )
        for a in inst.aps
    )
    tasks = tuple(t.__class__(**{**t.__dict__, "release_s": t.release_s + shift_s}) for t in inst.tasks)
    return inst.replace(aps=aps, tasks=tasks)


def _dyadic(inst: Instance) -> Instance:
    """Round releases and backlogs to multiples of 1/1024 s so that a shift of 1.7e9 s is exact."""
    aps = tuple(
        a.__class__(
            **{
                **a.__dict__,
                "servers": tuple(
                    dataclasses.replace(s, queue_backlog_s=round(s.queue_backlog_s * 1024) / 1024)
                    for s in a.servers
                ),
                "gpus": tuple(
                    dataclasses.replace(g, queue_backlog_s=round(g.queue_backlog_s * 1024) / 1024)
                    for g in a.gpus
                ),
            }
        )
        for a in inst.aps
    )
    tasks = tuple(
        t.__class__(**{**t.__dict__, "release_s": round(t.release_s * 1024) / 1024}) for t in inst.tasks
    )
    return inst.replace(aps=aps, tasks=tasks)


UNIX_NOW_S = 1_700_000_000.0


def test_unix_time_releases_give_the_same_cost_tables_and_objective():
    """Times are relative to the earliest release: shifting all absolute times changes nothing."""
    inst = _dyadic(generate("small", seed=3))
    shifted = _unix_shifted(inst, UNIX_NOW_S)
    a, b = build_costs(inst), build_costs(shifted)
    assert b.time_origin_s == a.time_origin_s + UNIX_NOW_S
    assert a.tasks == b.tasks  # every release, backlog, duration and flow identical
    ra, rb = solve(inst, solver="greedy"), solve(shifted, solver="greedy")
    assert ra.evaluation.feasible and rb.evaluation.feasible
    assert ra.objective == rb.objective
    assert [t.latency_s for t in ra.evaluation.tasks] == [t.latency_s for t in rb.evaluation.tasks]


def test_unix_time_releases_solve_with_the_mip():
    """The MIP proves the same optimum on Unix-time releases (before the fix: a different objective
    here, 7e-9 off from rounding at 1.7e9 s; on the M benchmarks a HiGHS error reported as ok)."""
    inst = _dyadic(generate("small", seed=1, users=2, aps=1, max_subtasks=2))
    shifted = _unix_shifted(inst, UNIX_NOW_S)
    ra = solve(inst, solver="mip", time_limit=20, threads=1)
    rb = solve(shifted, solver="mip", time_limit=20, threads=1)
    assert ra.status == "ok" and rb.status == "ok", (ra.status, rb.status, ra.termination, rb.termination)
    assert ra.termination == rb.termination == "optimal"
    assert rb.objective == ra.objective  # identical cost tables, so an identical model


# ---- 3. duplicates -----------------------------------------------------------------------------


def test_two_speed_entries_for_one_pair_are_rejected():
    data = _base()
    data["speeds"].append(dict(data["speeds"][0], prefill_tps=1.0))  # same (dev, small), another rate
    with pytest.raises(
        InputError, match=r"^speeds\[2\]: duplicate entry for model 'small' on hardware 'dev'"
    ):
        Instance.from_dict(data)


def test_two_default_backhauls_are_rejected():
    data = _base()
    data["backhaul"].append(dict(data["backhaul"][0], latency_s=5.0))
    with pytest.raises(InputError, match=r"^backhaul: more than one default entry"):
        Instance.from_dict(data)


def test_duplicate_json_key_is_rejected(tmp_path, capsys):
    text = json.dumps(_base(), indent=1)
    text = text.replace('"name": "tiny"', '"name": "tiny", "name": "other"', 1)
    path = tmp_path / "dup.json"
    path.write_text(text)
    with pytest.raises(InputError, match=r"key 'name' appears twice"):
        Instance.from_json(path)
    err = _cli_error(["show", str(path)], capsys)
    assert str(path) in err and "'name'" in err


# ---- inputs that ended in a traceback or a message naming no field -----------------------------


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def _json_with(path: list[Any], value: Any) -> str:
    return json.dumps(_with(path, value))


BAD_FILES = [
    ("deep", "[" * 100_000 + "]" * 100_000, "nested too deeply"),  # RecursionError in json
    ("tokens400", _json_with(T0 + ["prompt_tokens"], 10**400), "tasks[0].prompt_tokens"),  # OverflowError
    ("meta_nan", _json_with(["meta"], {"a": [1.0, float("nan")]}), "meta.a[1]: must be a finite number"),
    (
        "meta_deep",
        _json_with(["meta"], {"a": json.loads("[" * 500 + "]" * 500)}),
        "nested deeper",
    ),  # deep meta
    ("latin1", json.dumps(_base()).replace("tiny", "t\u00e9").encode("latin-1"), "not UTF-8"),
    ("nul", b'{"a": 1}\0\0\0', "NUL bytes"),  # /dev/zero starts like this
    ("schema400", json.dumps({"schema_version": 10**400}), "schema_version: <an integer of 401 digits>"),
    ("int5000", '{"schema_version": ' + "9" * 5000 + "}", "malformed JSON"),  # beyond int() limit
    (
        "no_jobs",
        json.dumps(
            {
                "schema_version": 1,
                "objective": {"kind": "makespan"},
                "explicit": {"processors": ["p"], "jobs": []},
            }
        ),
        "explicit.jobs: at least one",
    ),
]


@pytest.mark.parametrize(("name", "content", "expect"), BAD_FILES, ids=[n for n, _, _ in BAD_FILES])
def test_bad_files_give_one_line_naming_field(tmp_path, capsys, name, content, expect):
    path = _write(tmp_path, name + ".json", content)
    err = _cli_error(["show", str(path)], capsys)
    assert expect in err, err
    assert len(err) < 400, err


def test_meta_nan_is_refused_by_solve_too(tmp_path, capsys):
    path = _write(tmp_path, "m.json", _json_with(["meta"], {"x": float("nan")}))
    err = _cli_error(["solve", str(path), "--solver", "greedy"], capsys)
    assert "meta.x" in err


def test_non_utf8_message_names_the_file(tmp_path, capsys):
    path = _write(tmp_path, "l1.json", b'{"name": "caf\xe9"}')
    err = _cli_error(["show", str(path)], capsys)
    assert str(path) in err and "0xe9" in err


def test_dev_zero_is_refused_quickly(capsys):
    # before: read_text() of an endless file, MemoryError; now the first chunk shows NUL bytes
    err = _cli_error(["show", "/dev/zero"], capsys)
    assert "/dev/zero" in err and "NUL" in err


def test_deep_nesting_has_no_traceback_in_a_real_process(tmp_path):
    path = _write(tmp_path, "deep.json", "[" * 100_000 + "]" * 100_000)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "solve.py"), "show", str(path)], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr


GENERATE_BAD = [
    (["--seed", "-1"], "seed"),  # numpy's message named no field
    (["--area-m", "inf"], "area_m"),  # accepted before: every user out of range
    (["--slots", "1000000000"], "slots"),  # MemoryError after minutes
    (["--release-window-s", "inf"], "release_window_s"),  # inf releases
    (["--backlog-max-s", "1e300"], "backlog_max_s"),  # absurd backlog
    (["--accuracy-weight", "1e308"], "accuracy_weight"),  # objective inf
    (["--deadline-s", "inf"], "deadline_s"),  # an infinite deadline is no deadline
    (["--users", "2000000"], "users"),  # too many tasks to ever build
    (["--device-mix", "phone-sd8elite=1e308,laptop-m1=1e308"], "device_mix"),  # weights sum to inf
]


@pytest.mark.parametrize(("args", "field"), GENERATE_BAD, ids=[a[0] for a, _ in GENERATE_BAD])
def test_generator_knobs_out_of_range_are_one_line(tmp_path, capsys, args, field):
    out = tmp_path / "keep.json"
    out.write_text("precious")
    err = _cli_error(["generate", *args, "-o", str(out)], capsys)
    # Named by the knob (the generator's check) or by its flag (the CLI's number parser, which sees inf first).
    flag = "--" + field.replace("_", "-")
    assert err.startswith((f"error: {field}:", f"error: {flag}:")), err
    assert out.read_text() == "precious"


def test_generate_rejects_negative_seed_in_the_library():
    with pytest.raises(ValueError, match=r"^seed: must be an integer"):
        generate("small", seed=-1)


def test_solution_meta_nan_in_a_file_is_rejected(tmp_path, tiny):
    sol = solve(tiny, solver="greedy").solution
    data = sol.to_dict()
    data["meta"] = {"bound": float("nan")}
    path = _write(tmp_path, "s.json", json.dumps(data))
    with pytest.raises(InputError, match=r"^meta\.bound: must be a finite number"):
        Solution.from_json(path)


# ---- speed work must not change what is written ----------------------------------------------


@pytest.mark.parametrize(
    "inst",
    [
        generate("small", seed=5),  # generated: floats, ints, None deadlines, nested plans
        Instance.from_json(ROOT / "instances/classic/topcuoglu2002.json"),  # explicit form, null durations
        tiny_instance().replace(meta={"é": ["\u2603", {}, [], None, True, 1e-300, -0.0, 2**53]}),  # odd meta
    ],
    ids=["generated", "explicit", "meta"],
)
def test_canonical_json_is_the_stdlib_text(inst):
    """to_json (and so digest(), the identity of results rows) is byte-identical to json.dumps."""
    assert inst.to_json() == json.dumps(inst.to_dict(), indent=1, allow_nan=False) + "\n"
    sol = solve(inst, solver="greedy").solution
    assert sol.to_json() == json.dumps(sol.to_dict(), indent=1, allow_nan=False) + "\n"


def test_catalogue_yaml_key_given_twice_is_rejected(tmp_path):
    """models/*.yaml: a repeated key (e.g. a model listed twice with other figures) no longer silently wins."""
    import shutil

    from offload_opt.catalogue import load_catalogue

    copy = tmp_path / "models"
    shutil.copytree(ROOT / "models", copy)
    llms = copy / "llms.yaml"
    text = llms.read_text()
    first = text.index("  qwen2.5-0.5b:")
    block_end = text.index("\n  qwen2.5-", first + 1)
    llms.write_text(text[:block_end] + "\n" + text[first:block_end] + text[block_end:])  # the block twice
    with pytest.raises(ValueError, match=r"llms\.yaml: key 'qwen2\.5-0\.5b' appears twice"):
        load_catalogue(copy)


def test_show_fast_tables_are_the_pandas_text(monkeypatch):
    """show lays out long tables itself (pandas' per-cell formatting dominated 50,000 tasks);
    the text must be exactly what pandas printed."""
    import offload_opt.report as report

    inst = generate("small", seed=2, users=150, aps=2, tasks_per_user=4)  # ~2,700 task-table rows
    fast = report.show_instance(inst)
    monkeypatch.setattr(report, "FAST_TABLE_ROWS", 10**9)
    assert fast == report.show_instance(inst)


PLAIN_TABLES = [
    [{"a": 1, "b": "x"}, {"a": 22, "b": "yyy"}],  # int column: header with a leading space
    [{"x_m": 1.5, "n": 10**7}, {"x_m": 22.25, "n": -3}],  # floats formatted .4g
    [{"v": 1, "w": True}, {"v": 2.5, "w": False}],  # int+float -> float64; bool column
    [{"v": 1.0, "s": ""}, {"v": "", "s": "all subtasks"}],  # object column mixing floats and strings
    [{"v": True, "t": "-"}, {"v": 3, "t": "-"}],  # bool+int -> object: no leading space
    [{"big": 1e20, "tiny": 1e-7}],  # exponent notation
]


@pytest.mark.parametrize("rows", PLAIN_TABLES, ids=range(len(PLAIN_TABLES)))
def test_plain_table_matches_pandas(rows):
    from offload_opt.report import _frame, _plain_table

    assert _plain_table(rows) == _frame(rows)


def test_plain_table_declines_what_it_does_not_format():
    from offload_opt.report import _plain_table

    assert _plain_table([{"a": float("nan")}]) is None  # pandas prints NaN its own way
    assert _plain_table([{"a": "tab\there"}]) is None  # pandas escapes control characters
    assert _plain_table([{"a": 1}, {"b": 2}]) is None  # ragged rows
