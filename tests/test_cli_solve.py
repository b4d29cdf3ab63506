"""`solvers`, `solve` and `evaluate` from the command line."""

from __future__ import annotations

import json

import pytest

from offload_opt.cli import main
from offload_opt.solvers import solvers


@pytest.fixture
def inst_path(tmp_path):
    path = tmp_path / "inst.json"
    assert main(["generate", "--users", "4", "--aps", "2", "--seed", "5", "-o", str(path)]) == 0
    return path


def test_solvers_lists_registry(capsys):
    assert main(["solvers"]) == 0
    out = capsys.readouterr().out
    for name in solvers():
        assert name in out
    for name in ("local-only", "nearest-edge", "best-single-mode", "greedy", "local-search", "heft"):
        assert name in out


def test_solve_json_has_the_promised_fields(inst_path, capsys):
    capsys.readouterr()
    assert main(["solve", str(inst_path), "--solver", "greedy", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    for key in ("solver", "status", "objective", "runtime_s", "feasible", "tasks"):
        assert key in data
    assert data["feasible"] and data["status"] == "ok"
    assert len(data["tasks"]) == 4
    assert abs(sum(t["reward"] for t in data["tasks"]) - data["objective"]) < 1e-9


def test_solve_table_then_evaluate_round_trip(inst_path, tmp_path, capsys):
    sol = tmp_path / "sol.json"
    assert (
        main(["solve", str(inst_path), "--solver", "local-search", "--time-limit", "0.5", "-o", str(sol)])
        == 0
    )
    out = capsys.readouterr().out
    assert "latency_s" in out and "airtime_s" in out and "queue_s" in out and "status ok" in out
    assert main(["evaluate", str(inst_path), str(sol), "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["feasible"] and ev["violations"] == []
    assert main(["evaluate", str(inst_path), str(sol), "--actual", "--json"]) == 0
    actual = json.loads(capsys.readouterr().out)
    assert actual["objective"] != ev["objective"]  # the teacher planner's predictions are noisy


def test_explicit_instance_objective_is_makespan(capsys):
    assert main(["solve", "instances/classic/topcuoglu2002.json", "--solver", "heft", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["objective"] == 80 and data["sense"] == "min"


def test_unknown_solver_is_one_line(inst_path, capsys):
    assert main(["solve", str(inst_path), "--solver", "magic"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: solver: unknown solver 'magic'") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda s: s["decisions"].pop(), "has no decision"),  # missing task
        (lambda s: s["decisions"][0].update(task="zz"), "unknown task 'zz'"),  # unknown task
        (lambda s: s["decisions"][0]["placements"][0].update(node="ap:nowhere"), "'ap:nowhere' cannot run"),
        (lambda s: s["decisions"][0]["placements"][0].update(model="gpt-9"), "not hosted"),  # unhosted model
    ],
)
def test_bad_solution_files_exit_2(inst_path, tmp_path, capsys, edit, fragment):
    sol = tmp_path / "sol.json"
    main(["solve", str(inst_path), "--solver", "greedy", "-o", str(sol)])
    data = json.loads(sol.read_text())
    edit(data)
    sol.write_text(json.dumps(data))
    capsys.readouterr()
    code = main(["evaluate", str(inst_path), str(sol)])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and "Traceback" not in err


def test_malformed_solution_file(inst_path, tmp_path, capsys):
    sol = tmp_path / "sol.json"
    sol.write_text('{"decisions": [{"task": 3}]}')
    assert main(["evaluate", str(inst_path), str(sol)]) == 2
    assert "decisions[0].task: expected a string, got 3" in capsys.readouterr().err


def test_order_contradicting_precedence_exits_2(inst_path, tmp_path, capsys):
    """Put an answer's download before its own upload on the channel."""
    sol = tmp_path / "sol.json"
    main(["solve", str(inst_path), "--solver", "nearest-edge", "-o", str(sol)])
    data = json.loads(sol.read_text())
    chan = next(s for s in data["sequences"] if s["resource"].startswith("chan:"))
    acts = chan["activities"]
    task = acts[0].split("/")[0]
    up, down = f"{task}/in>whole", f"{task}/whole>out"
    i, j = acts.index(up), acts.index(down)
    acts[i], acts[j] = acts[j], acts[i]
    sol.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["evaluate", str(inst_path), str(sol)]) == 2
    assert "contradicts precedence" in capsys.readouterr().err


def test_solve_option_passes_solver_options(inst_path, capsys):
    capsys.readouterr()
    args = ["solve", str(inst_path), "--solver", "mip", "--time-limit", "30", "--json"]
    assert main(args + ["--option", "time_grid=null", "--option", "floor_passes=0"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "ok" and data["feasible"]
    assert data["info"]["time_grid"] is None  # the option reached the solver


@pytest.mark.parametrize(
    "option, message",
    [
        ("bogus=1", "option bogus: unknown option for solver 'mip'"),
        ("time_grid", "expected KEY=VALUE"),
        ("threads=1", "threads is already given"),
        ("time_grid=-1", "option time_grid: must be a number of seconds > 0"),
    ],
)
def test_solve_bad_option_is_one_line_exit_2(inst_path, capsys, option, message):
    capsys.readouterr()
    code = main(["solve", str(inst_path), "--solver", "mip", "--threads", "1", "--option", option])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
