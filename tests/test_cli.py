"""The command line: generate, show, help, console script, error convention."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields

from offload_opt.cli import main
from offload_opt.generator import Scenario
from offload_opt.instance import Instance


def test_generate_is_byte_identical(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    args = ["generate", "--users", "5", "--aps", "2", "--seed", "7"]
    assert main([*args, "-o", str(a)]) == 0
    assert main([*args, "-o", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()
    inst = Instance.from_json(a)
    assert len(inst.users) == 5 and len(inst.aps) == 2


def test_generate_help_lists_every_knob_with_default(capsys):
    try:
        main(["generate", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    for f in fields(Scenario):
        assert "--" + f.name.replace("_", "-") in out, f.name
    assert "[default: 12]" in out and "(m)" in out and "(s)" in out


def test_show_summarises_links_models_and_plans(tmp_path, capsys):
    path = tmp_path / "i.json"
    main(["generate", "--users", "3", "--aps", "2", "--seed", "1", "-o", str(path)])
    capsys.readouterr()
    assert main(["show", str(path)]) == 0
    out = capsys.readouterr().out
    for word in ("channels", "access points", "users", "links", "tasks", "agg", "snr_db", "slots"):
        assert word in out


def test_bad_generator_knob_is_one_line_and_keeps_existing_file(tmp_path, capsys):
    path = tmp_path / "keep.json"
    path.write_text("precious")
    assert main(["generate", "--users", "0", "-o", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == "error: users: must be >= 1, got 0\n"
    assert path.read_text() == "precious"


def test_unknown_hardware_is_named(capsys):
    assert main(["generate", "--device-mix", "toaster=1"]) == 2
    assert "toaster" in capsys.readouterr().err


def test_solve_py_and_module_entry_point_agree(tmp_path):
    out = subprocess.run(
        [sys.executable, "solve.py", "generate", "--users", "2", "--aps", "1", "--seed", "3"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    out2 = subprocess.run(
        [sys.executable, "-m", "offload_opt.cli", "generate", "--users", "2", "--aps", "1", "--seed", "3"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == out2 and out.startswith("{")


def test_console_script_is_declared():
    import tomllib

    with open("pyproject.toml", "rb") as fh:
        data = tomllib.load(fh)
    assert data["project"]["scripts"]["offload-opt"] == "offload_opt.cli:main"


def test_show_names_the_composition_rule_and_difficulty_scale(tmp_path):
    """`show` says how to read op difficulties: work-share files have parts below level 1, v1 files use the product."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    new = subprocess.run(
        [sys.executable, "solve.py", "show", "instances/bench/S/S-01.json"], cwd=root, capture_output=True, text=True
    )
    old = subprocess.run(
        [sys.executable, "solve.py", "show", "instances/bench/v1/S/S-01.json"], cwd=root, capture_output=True, text=True
    )
    assert new.returncode == 0 and old.returncode == 0
    assert "composition: work-share, uplift 0.2442" in new.stdout
    assert "composition: product of op qualities" in old.stdout
