"""The demo: one default instance, every solver, the comparison table, a frontier and a Gantt chart.

Sized to finish in about a minute on two cores: each exact solver gets
``time_limit_s`` on the instance (``cg`` first: it stops when its LP
converges) and ``frontier_time_limit_s`` per frontier point, and the
frontier's solves run in ``n_jobs`` worker processes.

The heuristics run first; each exact solver then starts from the best
evaluated plan so far (option ``warm_start`` given that ``Solution``), so an
exact row is never below a heuristic row of the same run: when the exact
search finds nothing better it reports that plan (its ``options`` column says
whose). The gap reference combines every exact solver's bound with the best
incumbent of any row (``experiments.gap.best_known``).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from offload_opt._cliutil import atomic_target, write_atomic
from offload_opt.experiments.gap import add_gap_columns, best_known, relative_gap_to
from offload_opt.experiments.runner import Job, SweepSettings, solve_job
from offload_opt.generator import generate
from offload_opt.instance import Instance
from offload_opt.solvers.base import Result

DEMO_SCENARIO = "default"
DEMO_SEED = 0
WARM_START = ("greedy", "local-search")  # without a heuristic plan, the exact solve starts from these
REFERENCE_EXACT = "mip"  # the frontier's capped sweep; every exact solver bounds the gap reference
EXACT_ORDER = ("cg", "mip")  # cg first: its incumbent seeds the mip


@dataclass
class DemoResult:
    table: pd.DataFrame
    best: Result | None
    files: dict[str, Path] = field(default_factory=dict)
    wall_time_s: float = 0.0


def _objective(r: Result) -> float:
    """Sort key of the best-plan choice; it only sees results filtered to have an objective."""
    assert r.objective is not None  # run_demo passes only results with r.objective is not None
    return r.objective


def comparison_table(
    rows: pd.DataFrame, exact: str | list[str] | None, accuracy_weights: dict[str, float] | None = None
) -> pd.DataFrame:
    """The printed table: one line per solver, best reward first, gaps against the exact reference: a
    proven optimum of any exact solver, else the tightest bound of any of them (``experiments.gap``:
    relative, and normalised by the largest accuracy reward; ``gap_vs`` says which and from whom)."""
    df = (
        add_gap_columns(rows, exact, accuracy_weights)
        if exact
        else rows.assign(gap=math.nan, gap_norm=math.nan, gap_vs="none")
    )
    out = pd.DataFrame(
        {
            "solver": df["solver"],
            "status": df["status"],
            "termination": df["termination"],
            "reward": df["objective"],
            "gap_%": 100 * df["gap"].astype(float),
            "norm_gap_%": 100 * df["gap_norm"].astype(float),
            "gap_vs": [
                f"{k} ({b})" if b else k
                for k, b in zip(df["gap_vs"], df.get("reference_by", ""), strict=False)
            ]
            if "reference_by" in df.columns
            else df["gap_vs"],
            "bound": df["bound"],
            "mean_latency_s": df["mean_latency_s"],
            "mean_accuracy": df["mean_quality"],
            "runtime_s": df["runtime_s"],
        }
    )
    return out.sort_values("reward", ascending=False, na_position="last", kind="stable").reset_index(
        drop=True
    )


def best_lines(rows: pd.DataFrame, exacts: list[str]) -> list[str]:
    """The best bound and incumbent of the run with their solvers, and a warning for every exact row
    below a heuristic row (never expected: each exact solver starts from the best plan so far)."""
    known = best_known(rows, exacts)
    out = []
    for k in known.values():
        gap = relative_gap_to(k["incumbent"], k["bound"], k["sense"])
        out.append(
            f"best bound {k['bound']:.6g} ({k['bound_by'] or '-'}), best incumbent {k['incumbent']:.6g} "
            f"({k['incumbent_by'] or '-'}), gap {100 * gap:.3g}%"
            + (f"; proven optimal ({k['proven_by']})" if k["proven_by"] else "")
        )
    ok = rows[rows["objective"].notna() & (rows["status"] != "error")]
    heur = ok[~ok["solver"].isin(exacts)]
    top = float(heur["objective"].max()) if len(heur) else math.nan
    for _, r in ok[ok["solver"].isin(exacts)].iterrows():
        if math.isfinite(top) and float(r["objective"]) < top - 1e-9 * max(1.0, abs(top)):
            out.append(
                f"warning: exact row {r['solver']} ({r['objective']:.6g}) is below a heuristic row ({top:.6g})"
            )
    return out


DEMO_SETTINGS = SweepSettings(time_limit_s=8.0, n_jobs=2)  # the frontier's: 8 s per exact point, 2 workers


def run_demo(
    out_dir: str | Path = "results/demo",
    settings: SweepSettings | None = None,
    *,
    time_limit_s: float = 20.0,
    frontier_points: int = 5,
    frontier_time_limit_s: float | None = None,
    instance: Instance | None = None,
    echo: Callable[[str], Any] = print,
    **changes: Any,
) -> DemoResult:
    """Generate the default instance, solve it with every registered solver, write the plots.

    ``time_limit_s`` limits the one exact solve of the instance. ``settings`` (default DEMO_SETTINGS,
    with ``changes``, e.g. ``n_jobs=1``) run the frontier: its ``time_limit_s`` (or
    ``frontier_time_limit_s``) limits each exact frontier point; its ``solver_options`` apply to the
    solves and the frontier; its ``quiet`` silences progress. The frontier's own rows in
    ``frontier.csv`` are always done again; other sweeps' rows there are kept. ``instance`` replaces the
    default instance (tests use a tiny one); ``echo`` prints.
    """
    settings = SweepSettings.of(settings or DEMO_SETTINGS, **changes)
    if frontier_time_limit_s is not None:
        settings = SweepSettings.of(settings, time_limit_s=frontier_time_limit_s)
    solver_options, quiet = settings.solver_options, settings.quiet
    from offload_opt.experiments.frontier import run_frontier
    from offload_opt.plot.frontier import save_frontier_plot
    from offload_opt.plot.gantt import save_schedule_plot, server_backlog
    from offload_opt.solvers import solvers

    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    inst = instance if instance is not None else generate(DEMO_SCENARIO, seed=DEMO_SEED)
    files = {"instance": out / "instance.json"}
    write_atomic(files["instance"], inst.to_json(), flag="-o")
    echo(
        f"instance {inst.name}: {len(inst.users)} users, {len(inst.aps)} APs, {len(inst.tasks)} tasks "
        f"(digest {inst.digest()}) -> {files['instance']}"
    )

    registered = {n: s for n, s in solvers().items() if s.supports(inst)}  # e.g. no cpsat on a network
    exacts = sorted(
        (n for n, s in registered.items() if s.exact),
        key=lambda n: EXACT_ORDER.index(n) if n in EXACT_ORDER else len(EXACT_ORDER),
    )
    exact = REFERENCE_EXACT if REFERENCE_EXACT in exacts else next(iter(exacts), None)
    order = [n for n, s in registered.items() if not s.exact] + exacts
    rows, results = [], {}
    best_so_far: Result | None = None
    for name in order:
        limit = time_limit_s if name in exacts else None
        if not quiet:
            print(
                f"solving with {name}" + (f" (time limit {limit:g} s)" if limit else "") + " ...",
                file=sys.stderr,
                flush=True,
            )
        opts = dict((solver_options or {}).get(name, {}))
        if name in exacts and "warm_start" not in opts:  # start from the best plan so far
            if best_so_far is not None and best_so_far.solution is not None:
                opts["warm_start"] = best_so_far.solution
            else:
                opts["warm_start"] = [n for n in WARM_START if n in registered]
        row, result = solve_job(Job(inst, name, limit, 0, opts, str(files["instance"])))
        rows.append(row)
        if result is not None:
            results[name] = result
            usable = result.feasible and result.objective is not None and result.solution is not None
            if usable and (best_so_far is None or _objective(result) > _objective(best_so_far)):
                best_so_far = result
    frame = pd.DataFrame(rows)
    table = comparison_table(frame, exacts, {inst.digest(): inst.objective.accuracy_weight})
    files["solvers"] = out / "solvers.csv"
    with atomic_target(files["solvers"]) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    echo("")
    echo(table.to_string(index=False, float_format=lambda x: f"{x:.4g}", na_rep="-"))
    if exact:
        echo(
            f"reference = a proven optimum of any exact solver ({', '.join(exacts)}), else the tightest of "
            f"their bounds (gap_vs=bound: an upper estimate; the solver in brackets gave it); "
            f"gap_% = (reference - reward) / |reference| where the reference is clearly positive; "
            f"norm_gap_% = (reference - reward) / (accuracy_weight x tasks)"
        )
        for line in best_lines(frame, exacts):
            echo(line)

    feasible = [r for r in results.values() if r.feasible and r.objective is not None]
    best = max(feasible, key=_objective) if feasible else None
    if best is not None and best.solution is not None and best.evaluation is not None:
        files["solution"] = out / "solution.json"
        write_atomic(files["solution"], best.solution.to_json())
        files["gantt"] = out / "gantt.png"
        save_schedule_plot(
            best.evaluation,
            files["gantt"],
            busy_until_s=server_backlog(inst),
            title=f"{inst.name}: schedule of {best.solver} (reward {best.objective:.4g})",
        )

    if exact:
        files["frontier_csv"] = out / "frontier.csv"
        frontier_settings = SweepSettings.of(
            settings,
            solver_options={
                **solver_options,
                **{e: {"threads": 1, **solver_options.get(e, {})} for e in exacts},
            },
            resume=False,
        )
        points = run_frontier(
            inst,
            files["frontier_csv"],
            frontier_settings,
            instance_path=str(files["instance"]),
            exact=exacts,  # mip's capped sweep, cg's weighted bounds
            points=frontier_points,
        )
        files["frontier"] = out / "frontier.png"
        save_frontier_plot(points, files["frontier"], title=f"{inst.name}: latency / accuracy trade-off")
    wall = time.perf_counter() - t0
    echo("")
    for what, path in files.items():
        echo(f"wrote {path}  ({what})")
    echo(f"demo finished in {wall:.1f} s")
    return DemoResult(table, best, files, wall)
