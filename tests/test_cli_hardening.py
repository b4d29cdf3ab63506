"""Command-line hardening: output paths, one number parser, unreadable inputs, rejected solutions, file modes.

Every bad input gives one line ``error: ...`` naming the flag or file and exit code 2, with no traceback,
no stray temporary file and no file that was already there lost.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from offload_opt import _cliutil
from offload_opt.cli import main
from offload_opt.solution import Solution
from offload_opt.solvers import base, solve

INSTANCE_ARGS = ["generate", "--users", "2", "--aps", "1", "--seed", "3"]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A tiny instance and a feasible greedy solution of it."""
    inst, sol = tmp_path / "inst.json", tmp_path / "sol.json"
    assert main([*INSTANCE_ARGS, "-o", str(inst)]) == 0
    assert main(["solve", str(inst), "--solver", "greedy", "-o", str(sol)]) == 0
    return {"inst": inst, "sol": sol}


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _commands(files: dict[str, Path], out: str) -> dict[str, list[str]]:
    inst, sol = str(files["inst"]), str(files["sol"])
    return {
        "generate": [*INSTANCE_ARGS, "-o", out],
        "solve": ["solve", inst, "--solver", "greedy", "-o", out],
        "plot-schedule": ["plot-schedule", inst, sol, "-o", out],
        "gap": ["gap", inst, "--solvers", "local-only", "--exact", "greedy", "-q", "-o", out],
    }


SUFFIX = {"generate": ".json", "solve": ".json", "plot-schedule": ".png", "gap": ".csv"}


@pytest.mark.parametrize("command", list(SUFFIX))
def test_output_onto_a_directory_is_one_line(files, tmp_path, capsys, command):
    target = tmp_path / f"folder{SUFFIX[command]}"
    target.mkdir()
    capsys.readouterr()
    assert main(_commands(files, str(target))[command]) == 2
    assert "is a directory" in _one_line_error(capsys)
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []  # no stray temporary file


@pytest.mark.parametrize("command", list(SUFFIX))
def test_output_below_a_file_is_one_line(files, tmp_path, capsys, command):
    """``-o notafolder.txt/out.x``: a parent that is a file (NotADirectoryError before)."""
    (tmp_path / "plain.txt").write_text("x")
    capsys.readouterr()
    assert main(_commands(files, str(tmp_path / "plain.txt" / f"out{SUFFIX[command]}"))[command]) == 2
    assert "plain.txt is not a directory" in _one_line_error(capsys)


@pytest.mark.parametrize("command", list(SUFFIX))
def test_output_into_a_missing_folder_creates_it(files, tmp_path, capsys, command):
    target = tmp_path / "new" / "deeper" / f"out{SUFFIX[command]}"
    assert main(_commands(files, str(target))[command]) == 0
    assert target.is_file()


@pytest.mark.parametrize("command", list(SUFFIX))
def test_unwritable_output_is_one_line_and_keeps_the_old_file(files, tmp_path, capsys, monkeypatch, command):
    """The rename onto ``-o`` fails with PermissionError (as on a read-only file system): one line, the old
    file intact, no temporary file left (plot-schedule left ``.x.tmp.png`` before)."""
    target = tmp_path / "out" / f"keep{SUFFIX[command]}"
    argv = _commands(files, str(target))[command]
    assert main(argv) == 0
    before = {p.name: p.read_bytes() for p in target.parent.iterdir()}

    def deny(src: str, dst: str) -> None:
        raise PermissionError(13, "Permission denied", str(dst))

    monkeypatch.setattr(os, "replace", deny)
    capsys.readouterr()
    assert main(argv) == 2
    assert "Permission denied" in _one_line_error(capsys)
    after = {p.name: p.read_bytes() for p in target.parent.iterdir() if not p.name.endswith(".lock")}
    assert after == {k: v for k, v in before.items() if not k.endswith(".lock")}


@pytest.mark.parametrize(
    "argv",
    [
        ["solve", "{inst}", "--time-limit", "abc"],
        ["gap", "{inst}", "--time-limit", "abc"],
        ["frontier", "{inst}", "--time-limit", "abc"],
        ["demo", "--time-limit", "abc"],
    ],
)
def test_time_limit_parsed_the_same_on_every_command(files, capsys, argv):
    """``solve --time-limit abc`` printed argparse usage (another message) while ``gap`` printed one line."""
    capsys.readouterr()
    assert main([a.format(inst=files["inst"]) for a in argv]) == 2
    assert _one_line_error(capsys) == "error: --time-limit: expected a number, got 'abc'\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["solve", "{inst}", "--seed", "1.5"], "error: --seed: expected an integer, got '1.5'\n"),
        (["solve", "{inst}", "--threads", "0"], "error: --threads: must be >= 1, got 0\n"),
        (["solve", "{inst}", "--mip-gap", "nan"], "error: --mip-gap: must be finite, got 'nan'\n"),
        (["solve", "{inst}", "--time-limit", "0"], "error: --time-limit: must be > 0, got 0\n"),
        (["generate", "--users", "two"], "error: --users: expected an integer, got 'two'\n"),
        (["generate", "--seed", "x"], "error: --seed: expected an integer, got 'x'\n"),
    ],
)
def test_numbers_are_one_line(files, capsys, argv, message):
    capsys.readouterr()
    assert main([a.format(inst=files["inst"]) for a in argv]) == 2
    assert _one_line_error(capsys) == message


def test_boolean_knobs_are_parsed_not_truthy(capsys):
    """``type=bool`` made any text, even ``false``, True; ``--set`` made any unknown word False."""
    assert _cliutil.parse_bool("--x", "False") is False and _cliutil.parse_bool("--x", "yes") is True
    with pytest.raises(_cliutil.CLIError, match="--x: expected true or false, got 'maybe'"):
        _cliutil.parse_bool("--x", "maybe")
    assert _cliutil.scenario_value("--x", True, "0") is False


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 200_000,  # nested too deep for the JSON decoder
        b"\x9c\xff\x00garbage",  # not UTF-8 (and a NUL byte)
        b"\x9c\xff garbage",  # not UTF-8, no NUL byte
    ],
)
@pytest.mark.parametrize(
    "command", ["show", "evaluate-instance", "evaluate-solution", "gap", "plot-schedule"]
)
def test_absurd_input_files_name_the_file(files, tmp_path, capsys, content, command):
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    inst, sol = str(files["inst"]), str(files["sol"])
    argv = {
        "show": ["show", str(bad)],
        "evaluate-instance": ["evaluate", str(bad), sol],
        "evaluate-solution": ["evaluate", inst, str(bad)],
        "gap": ["gap", str(bad), "-o", str(tmp_path / "g.csv")],
        "plot-schedule": ["plot-schedule", inst, str(bad), "-o", str(tmp_path / "g.png")],
    }[command]
    capsys.readouterr()
    assert main(argv) == 2
    err = _one_line_error(capsys)
    # The data layer names the problem (too deep, not UTF-8, NUL bytes); the CLI's last-resort handler
    # would say "cannot read (<exception type>)". Either way: one line that starts with the file.
    assert err.startswith(f"error: {bad}: ")
    assert "Traceback" not in err


def test_last_resort_handler_names_the_file(capsys, monkeypatch):
    """An OSError that no command turned into a message still ends as one line naming its file, exit 2."""
    from offload_opt import cli

    def broken(args: object) -> int:
        raise IsADirectoryError(21, "Is a directory", "/some/where")

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser._subparsers._group_actions[0].choices["solvers"].set_defaults(func=broken)  # type: ignore[union-attr]
    assert cli.main(["solvers"]) == 2
    assert _one_line_error(capsys) == "error: /some/where: Is a directory\n"


# ---- solve -o never replaces a solution by an infeasible one --------------------------------------


def _reversed_channel_solver(costs, *, time_limit_s, seed, options):
    """Greedy's plan with one channel's order reversed (contradicts precedence): an infeasible solution."""
    data = solve(costs, "greedy").solution.to_dict()
    chan = next(s for s in data["sequences"] if s["resource"].startswith("chan:"))
    chan["activities"].reverse()
    data["solver"] = "test-infeasible"
    return base.SolverOutput(Solution.from_dict(data))


@pytest.fixture
def infeasible_solver():
    """A registered solver (test only) whose solution the evaluator rejects."""
    from offload_opt.solvers.registry import SolverSpec

    base.REGISTRY["test-infeasible"] = SolverSpec(
        "test-infeasible", "test only", f"{__name__}:_reversed_channel_solver"
    )
    yield "test-infeasible"
    del base.REGISTRY["test-infeasible"]


def test_infeasible_solution_does_not_replace_the_output(files, capsys, infeasible_solver):
    good = files["sol"].read_text()
    capsys.readouterr()
    assert main(["solve", str(files["inst"]), "--solver", infeasible_solver, "-o", str(files["sol"])]) == 1
    assert files["sol"].read_text() == good  # the feasible solution is still there
    rejected = files["sol"].with_name("sol.rejected.json")
    err = capsys.readouterr().err
    assert f"not written to {files['sol']}" in err and str(rejected) in err
    assert json.loads(rejected.read_text())["solver"] == infeasible_solver
    assert main(["evaluate", str(files["inst"]), str(rejected)]) == 2  # it is indeed infeasible


# ---- file modes ------------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_written_files_follow_the_umask(files, tmp_path, umask):
    """mkstemp gives 0600: every file the commands write must get 0666 minus the umask instead."""
    old = os.umask(umask)
    try:
        outs = {
            "json": tmp_path / "m" / "inst.json",
            "sol": tmp_path / "m" / "sol.json",
            "png": tmp_path / "m" / "gantt.png",
            "csv": tmp_path / "m" / "gap.csv",
        }
        assert main([*INSTANCE_ARGS, "-o", str(outs["json"])]) == 0
        assert main(["solve", str(outs["json"]), "-o", str(outs["sol"])]) == 0
        assert main(["plot-schedule", str(outs["json"]), str(outs["sol"]), "-o", str(outs["png"])]) == 0
        gap = ["gap", str(outs["json"]), "--solvers", "local-only", "--exact", "greedy", "-q"]
        assert main([*gap, "-o", str(outs["csv"])]) == 0
    finally:
        os.umask(old)
    for path in [*outs.values(), outs["csv"].with_suffix(".png")]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path


def test_rewriting_a_file_keeps_its_mode(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("old")
    path.chmod(0o640)
    _cliutil.write_atomic(path, "new")
    assert path.read_text() == "new" and stat.S_IMODE(path.stat().st_mode) == 0o640


# ---- the import seam --------------------------------------------------------------------------


def test_cli_utilities_live_in_a_leaf_module():
    """``cli.py`` and ``experiments/cli.py`` imported each other; the shared helpers are now in a module
    that imports nothing from offload_opt, and cli.py re-exports them for old callers."""
    import ast

    root = Path(__file__).parents[1] / "offload_opt"
    tree = ast.parse((root / "_cliutil.py").read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert imported and not [m for m in imported if m.startswith("offload_opt")], imported
    source = (root / "experiments" / "cli.py").read_text()
    assert "from offload_opt.cli import" not in source and "import offload_opt.cli" not in source
    from offload_opt import cli

    assert cli.CLIError is _cliutil.CLIError and cli.write_atomic is _cliutil.write_atomic
