"""Sweeps never lose finished rows: a second sweep on the same file, other sweeps' rows in a shared file,
malformed rows on resume, a killed worker process, bad solver options found before any job runs.

Instances are tiny (2 users, 1 AP) and the solvers fast (greedy, local-only; the MIP proves these in well
under a second), so each test takes a few seconds.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from offload_opt.cli import main
from offload_opt.experiments import runner
from offload_opt.experiments.frontier import run_frontier
from offload_opt.experiments.gap import run_gap
from offload_opt.experiments.runner import RUNTIME_COLUMNS, Job, SweepSettings, execute, read_table, run_sweep
from offload_opt.generator import generate

REPO = Path(__file__).resolve().parents[1]
MIP = {"mip": {"mip_gap": 0.0, "threads": 1}}


def tiny(seed: int):
    """A 2-user, 1-AP instance the MIP proves optimal in well under a second."""
    return generate("default", seed=seed, users=2, aps=1, max_subtasks=2)


@pytest.fixture
def instances(tmp_path: Path) -> list[tuple[str, object]]:
    """Two tiny instance files, as (path, Instance)."""
    out = []
    for seed in (0, 1):
        path = tmp_path / f"tiny{seed}.json"
        inst = tiny(seed)
        inst.to_json(path)
        out.append((str(path), inst))
    return out


def _drop_runtime(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in RUNTIME_COLUMNS if c in df.columns]).reset_index(drop=True)


# ---- item 6: two sweeps on one file ---------------------------------------------------------------


def test_second_sweep_on_the_same_file_refuses_in_one_line(instances, tmp_path):
    """Two identical sweeps on one CSV lost finished rows; now the second stops at once (exit 2, one line)
    while the first holds the file, and every row of the first is there."""
    out = tmp_path / "gap.csv"
    paths = [p for p, _ in instances]
    argv = [sys.executable, "solve.py", "gap", *paths, "--solvers", "local-only", "--exact", "greedy", "-q"]
    second: dict[str, object] = {}

    def start_second(row: dict) -> None:
        if not second:  # while the first sweep is running, with one row written
            proc = subprocess.run([*argv, "-o", str(out)], cwd=REPO, capture_output=True, text=True)
            second.update(rc=proc.returncode, err=proc.stderr)

    # the same sweep as the command (whose --time-limit defaults to 60 s)
    df = run_gap(
        instances,
        ["local-only"],
        "greedy",
        out,
        time_limit_s=60.0,
        quiet=True,
        plot=False,
        on_row=start_second,
    )
    assert second["rc"] == 2, second
    lock = out.parent / ".gap.csv.lock"
    expected = f"error: {out}: another sweep is writing this file (lock {lock}); wait for it to finish or"
    assert second["err"] == expected + " choose another -o\n"
    table = read_table(out)
    assert len(df) == len(table) == 4 and table["key"].is_unique
    assert set(table["instance_path"]) == set(paths)
    # the lock is released with the sweep: the same command now runs (and skips every row)
    proc = subprocess.run([*argv, "-o", str(out), "--no-plot"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    pd.testing.assert_frame_equal(read_table(out), table)


# ---- item 7: other sweeps' rows in a shared file ---------------------------------------------------


def test_fresh_sweep_keeps_other_sweeps_rows_and_their_errors(tmp_path):
    """``demo`` runs its frontier with resume off: that deleted every other sweep's rows in the file, and
    any later run deleted other sweeps' error rows. Now only the sweep's own rows are redone."""
    out = tmp_path / "frontier.csv"
    kw = {"exact": None, "heuristics": ["greedy"], "baselines": ["local-only"], "points": 2, "quiet": True}
    first = run_frontier(tiny(0), out, **kw)
    table = pd.read_csv(out)
    table.loc[0, "status"] = "error"  # as a crashed solver leaves it; only its own sweep may retry it
    table.to_csv(out, index=False)
    theirs = read_table(out)

    second = run_frontier(tiny(1), out, resume=False, **kw)
    run_frontier(tiny(1), out, **kw)  # and a resumed run of the second sweep
    table = read_table(out)
    assert set(first["key"]) | set(second["key"]) == set(table["key"]) and table["key"].is_unique
    kept = table.set_index("key").loc[theirs["key"], "status"]
    assert list(kept) == list(theirs["status"]) and kept.iloc[0] == "error"


def test_resume_off_reruns_the_sweeps_own_rows(instances, tmp_path):
    out = tmp_path / "t.csv"
    jobs = [Job(inst, "greedy", instance_path=p) for p, inst in instances]
    run_sweep(jobs, out, quiet=True)
    ran: list[str] = []
    run_sweep(jobs, out, quiet=True, on_row=lambda r: ran.append(r["key"]))
    assert ran == []
    run_sweep(jobs, out, quiet=True, resume=False, on_row=lambda r: ran.append(r["key"]))
    assert sorted(ran) == sorted(j.key for j in jobs) and len(read_table(out)) == len(jobs)


# ---- item 9: malformed rows on resume --------------------------------------------------------------


def test_resume_recomputes_malformed_rows(instances, tmp_path, capsys):
    """A row cut after 10 columns counted as done, one text ``objective`` made every gap reference a
    bound, a garbage line was kept. Now such rows are left out and their runs done again."""
    out = tmp_path / "gap.csv"
    solvers = ["local-only", "greedy"]
    clean = run_gap(instances, solvers, "mip", out, solver_options=MIP, quiet=True, plot=False)
    assert set(clean["gap_vs"]) == {"optimum"}
    expected = read_table(out)
    lines = out.read_text().splitlines(keepends=True)
    header = next(csv.reader([lines[0]]))
    rows = [next(csv.reader([line])) for line in lines[1:]]
    heuristic = [i for i, r in enumerate(rows) if r[header.index("solver")] != "mip"]
    cut, texted = heuristic[0], heuristic[1]
    rows[texted][header.index("objective")] = "not-a-number"
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for i, r in enumerate(rows):
            w.writerow(r[:10] if i == cut else r)
        fh.write("garbage line, not a row\n")
    capsys.readouterr()

    ran: list[str] = []
    again = run_gap(
        instances, solvers, "mip", out, solver_options=MIP, plot=False, on_row=lambda r: ran.append(r["key"])
    )
    assert sorted(ran) == sorted([rows[cut][0], rows[texted][0]])
    assert "left out 3 malformed row(s)" in capsys.readouterr().err
    assert set(again["gap_vs"]) == {"optimum"}
    pd.testing.assert_frame_equal(_drop_runtime(read_table(out)), _drop_runtime(expected))
    assert "garbage" not in out.read_text()


def test_a_partial_last_line_is_redone_and_the_file_not_truncated_before(instances, tmp_path):
    """A killed run's last line without its newline is left out (its run redone); a file that is not a
    results table (one line, no newline) is refused untouched, never truncated."""
    out = tmp_path / "gap.csv"
    run_gap(instances, ["local-only"], "greedy", out, quiet=True, plot=False)
    text = out.read_text()
    out.write_text(text[:-7])  # the last row cut mid-line
    ran: list[str] = []
    run_gap(instances, ["local-only"], "greedy", out, quiet=True, plot=False, on_row=lambda r: ran.append(1))
    assert len(ran) == 1 and len(read_table(out)) == 4

    other = tmp_path / "notes.csv"
    other.write_text("my precious notes")
    with pytest.raises(ValueError, match="holds rows of a different sweep"):
        run_gap(instances, ["local-only"], "greedy", other, quiet=True, plot=False)
    assert other.read_text() == "my precious notes"


# ---- item 10: a killed worker process ------------------------------------------------------------


def _die_on_local_only(job: Job) -> dict:
    """A worker that is killed (as by the OOM killer) whenever it runs local-only."""
    if job.solver == "local-only":
        os._exit(9)
    return runner.solve_job(job)[0]


def test_killed_worker_gives_error_rows_and_keeps_the_rest(instances, tmp_path, monkeypatch, capsys):
    """A killed ``--jobs`` worker crashed the sweep with a BrokenProcessPool traceback. Now each run lost
    with it is an error row (retried on the next run) and finished rows stand."""
    jobs = [Job(inst, s, instance_path=p) for p, inst in instances for s in ("greedy", "local-only")]
    rows = list(execute(jobs, n_jobs=2, worker=_die_on_local_only))
    assert sorted(r["key"] for r in rows) == sorted(j.key for j in jobs)
    lost = [r for r in rows if r["status"] == "error"]
    assert {r["solver"] for r in lost} >= {"local-only"}
    assert all("worker failed" in r["message"] and "BrokenProcessPool" in r["message"] for r in lost)

    out = tmp_path / "gap.csv"
    monkeypatch.setattr(runner, "run_job", _die_on_local_only)  # what the pool's workers run
    capsys.readouterr()
    df = run_gap(instances, ["local-only"], "greedy", out, n_jobs=2, plot=False)
    assert len(df) == 4 and set(df.loc[df["solver"] == "local-only", "status"]) == {"error"}
    assert "lost with a worker process" in capsys.readouterr().err
    monkeypatch.undo()
    df = run_gap(instances, ["local-only"], "greedy", out, n_jobs=2, quiet=True, plot=False)
    assert set(df["status"]) == {"ok"} and len(read_table(out)) == 4


def test_killed_worker_through_the_cli_is_not_a_traceback(instances, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner, "run_job", _die_on_local_only)
    out = tmp_path / "gap.csv"
    argv = ["gap", *(p for p, _ in instances), "--solvers", "local-only", "--exact", "greedy", "--jobs", "2"]
    assert main([*argv, "-q", "--no-plot", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "run(s) ended in error" in captured.out


# ---- the solver-option validation hook -----------------------------------------------------------


def test_solver_options_are_validated_once_before_any_job(instances, monkeypatch):
    events: list[tuple] = []
    monkeypatch.setattr(runner, "_validate_solver_options", lambda s, o: events.append(("check", s)))
    run_gap(
        instances,
        ["local-only"],
        "greedy",
        None,
        solver_options={"greedy": {}},
        quiet=True,
        on_row=lambda r: events.append(("row", r["solver"])),
    )
    checks = [e for e in events if e[0] == "check"]
    assert sorted(checks) == [("check", "greedy"), ("check", "local-only")]  # each (solver, options) once
    assert events[: len(checks)] == checks  # before any job ran

    def reject(solver: str, options: dict) -> None:
        raise ValueError(f"{solver}: unknown option(s) ['bogus']")

    monkeypatch.setattr(runner, "_validate_solver_options", reject)
    ran: list[dict] = []
    with pytest.raises(ValueError, match="bogus"):
        run_gap(instances, ["local-only"], "greedy", None, quiet=True, on_row=ran.append)
    assert ran == []


def test_gap_bad_solver_option_exits_2_in_one_line(instances, tmp_path, capsys):
    argv = ["gap", instances[0][0], "--solvers", "greedy", "--option", "mip:bogus=1", "--time-limit", "5"]
    code = main([*argv, "-q", "--no-plot", "-o", str(tmp_path / "g.csv")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "bogus" in err and err.count("\n") == 1
    assert not (tmp_path / "g.csv").exists()


# ---- one settings object ---------------------------------------------------------------------------


def test_sweep_settings_is_one_frozen_validated_object(instances):
    import dataclasses

    opts = {"local-search": {"max_iters": 50}}
    st = SweepSettings(time_limit_s=5.0, seed=3, solver_options=opts, quiet=True)
    opts["local-search"]["max_iters"] = 1  # the caller's dict changing later does not reach the sweep
    assert st.options_for("local-search") == {"max_iters": 50} and st.options_for("greedy") == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        st.seed = 4  # type: ignore[misc]
    for bad, fragment in (
        ({"n_jobs": 0}, "jobs"),
        ({"time_limit_s": -1.0}, "time_limit_s"),
        ({"seed": 1.5}, "seed"),
    ):
        with pytest.raises(ValueError, match=fragment):
            SweepSettings.of(st, **bad)
    with pytest.raises(TypeError, match="unknown setting"):
        SweepSettings.of(st, jobs=2)
    # every experiment takes it; the settings reach each job
    df = run_gap(instances, ["local-search"], "greedy", None, st)
    assert set(df["seed"]) == {3} and set(df.loc[df["solver"] == "greedy", "time_limit_s"]) == {5.0}
    assert set(df.loc[df["solver"] == "local-search", "options"]) == {'{"max_iters": 50}'}
