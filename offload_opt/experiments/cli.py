"""Experiment subcommands: gap, frontier, compare, planner-study, plot-schedule, demo.

Thin: parse, call the library, print the summary, write files. Numbers are
parsed by ``offload_opt._cliutil.parse_number`` (not by argparse), as on every
other command, so that a bad one is reported in one line (``error: --points:
...``, exit 2). Each command builds one ``SweepSettings`` and checks its ``-o``
before any solve runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from offload_opt._cliutil import (
    CLIError,
    check_output_file,
    option_value,
    parse_number,
    read_input,
    scenario_value,
)

PLOT_SUFFIXES = (".png", ".pdf", ".svg")

_number = parse_number  # the one number parser of every command (offload_opt._cliutil)


# ---- parsing helpers ------------------------------------------------------------------------------


def _names(flag: str, text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise CLIError(f"{flag}: give at least one solver name")
    from offload_opt.solvers import get_solver

    for n in names:
        try:
            get_solver(n)
        except ValueError as exc:
            raise CLIError(f"{flag}: {str(exc).removeprefix('solver: ')}") from None
    return names


def _exact(text: str) -> str | None:
    """The first exact solver named (studies that run one), or None for 'none'."""
    names = _exacts(text)
    return names[0] if names else None


def _exacts(text: str) -> list[str]:
    """Every exact solver named by ``--exact`` (comma-separated; 'none': an empty list)."""
    if text.lower() == "none":
        return []
    names = _names("--exact", text)
    assert names is not None  # _names returns None only for text None
    return names


def _table_output(flag: str, text: str, plot: bool = False) -> Path:
    """The results table at ``-o``: .csv or .parquet, somewhere a file can be written (and its plot)."""
    path = Path(text)
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise CLIError(f"{flag} {text}: the extension must be .csv or .parquet")
    check_output_file(text, flag)
    if plot:
        check_output_file(path.with_suffix(".png"), f"{flag} {text}: plot")
    return path


def _plot_output(flag: str, text: str) -> Path:
    """A plot at ``-o``: .png, .pdf or .svg, somewhere a file can be written."""
    path = Path(text)
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise CLIError(f"{flag} {text}: the extension must be one of {', '.join(PLOT_SUFFIXES)}")
    check_output_file(text, flag)
    return path


def _scenario_overrides(items: list[str] | None) -> dict[str, Any]:
    """``--set users=4 --set aps=1`` -> scenario overrides, typed like the Scenario fields."""
    from offload_opt.generator import scenario_fields

    fields = {name: default for name, default, _ in scenario_fields()}
    out: dict[str, Any] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in fields:
            raise CLIError(f"--set {item}: expected KNOB=VALUE with a scenario knob ({', '.join(fields)})")
        out[name] = scenario_value(f"--set {name}", fields[name], value)
    return out


def _solver_options(args: argparse.Namespace, exact: Sequence[str | None]) -> dict[str, dict[str, Any]]:
    """Per-solver options: ``--mip-gap`` / ``--threads`` for the exact solver(s), plus every
    ``--option SOLVER:KEY=VALUE`` (VALUE read as JSON when it parses, else as text)."""
    out: dict[str, dict[str, Any]] = {}
    gap = _number("--mip-gap", getattr(args, "mip_gap", None), float, minimum=0.0)
    threads = _number("--threads", getattr(args, "threads", None), int, minimum=1)
    for name in filter(None, exact):
        if gap is not None:
            out.setdefault(name, {})["mip_gap"] = gap
        if threads is not None:
            out.setdefault(name, {})["threads"] = threads
    for item in getattr(args, "option", None) or []:
        solver, colon, rest = item.partition(":")
        key, eq, text = rest.partition("=")
        if not (colon and eq and solver.strip() and key.strip()):
            raise CLIError(f"--option {item}: expected SOLVER:KEY=VALUE, e.g. local-search:max_iters=500")
        _names("--option", solver)
        out.setdefault(solver.strip(), {})[key.strip()] = option_value(text)
    return out


def _add_common(
    p: argparse.ArgumentParser, *, time_limit: str | None, exact: bool = True, heuristic_limit: bool = True
) -> None:
    p.add_argument(
        "--time-limit",
        default=time_limit,
        metavar="S",
        help=f"time limit of each {'exact ' if heuristic_limit else ''}solve (s) [default: {time_limit or 'none'}]",
    )
    if heuristic_limit:
        p.add_argument(
            "--heuristic-time-limit",
            default=None,
            metavar="S",
            help="time limit passed to the heuristics (s) [default: none]",
        )
    if exact:
        p.add_argument("--mip-gap", default=None, metavar="G", help="exact solver: relative gap to stop at")
        p.add_argument("--threads", default=None, metavar="N", help="exact solver: threads per solve")
    p.add_argument(
        "--option",
        action="append",
        metavar="SOLVER:KEY=VALUE",
        help="a solver option, e.g. local-search:max_iters=500 (repeatable)",
    )
    p.add_argument("--seed", default="0", metavar="N", help="seed of randomised solvers [default: 0]")
    p.add_argument("--jobs", default="1", metavar="N", help="local worker processes [default: 1]")
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on a Dask distributed cluster at ADDRESS (e.g. tcp://host:8786)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or notes on stderr")


def _settings(args: argparse.Namespace, exact: Sequence[str | None]) -> Any:
    """The one ``SweepSettings`` of an experiment command: limits, seed, solver options, back-end."""
    from offload_opt.experiments.runner import SweepSettings

    heuristic_limit = getattr(args, "heuristic_time_limit", None)
    return SweepSettings(
        time_limit_s=_number("--time-limit", args.time_limit, float, minimum=0.0, strict=True),
        heuristic_time_limit_s=_number(
            "--heuristic-time-limit", heuristic_limit, float, minimum=0.0, strict=True
        ),
        seed=_number("--seed", args.seed, int),
        solver_options=_solver_options(args, exact),
        n_jobs=_number("--jobs", args.jobs, int, minimum=1),
        scheduler=args.scheduler,
        quiet=args.quiet,
    )


def _load_instance(path: str) -> Any:
    """An instance from a JSON file, or a ``.fjs`` / ``.stg`` file read by its suffix (readers.py)."""
    from offload_opt.readers import load_instance

    return read_input(path, load_instance)


# ---- gap -----------------------------------------------------------------------------------------


def _add_gap(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gap",
        help="optimality gaps of heuristics against the exact optimum over instance files",
        description="Solve every instance with the exact solver and every heuristic; one row per "
        "(instance, solver) in the CSV/Parquet table, a summary on stdout and a gap plot (PNG) beside the "
        "table. Rerunning skips rows already in the table.",
    )
    p.add_argument("instances", nargs="+", help="instance JSON files")
    p.add_argument(
        "--solvers", default=None, help="comma-separated heuristics [default: every non-exact solver]"
    )
    p.add_argument(
        "--exact",
        default="mip",
        help="comma-separated exact solvers; the reference is their best bound and the best incumbent "
        "of any solver (e.g. mip,cg) [default: mip]",
    )
    p.add_argument("-o", "--output", default="results/gap.csv", help="results table (.csv or .parquet)")
    p.add_argument("--no-plot", action="store_true", help="do not write the gap plot")
    _add_common(p, time_limit="60")
    p.set_defaults(func=cmd_gap)


def cmd_gap(args: argparse.Namespace) -> int:
    from offload_opt.experiments.gap import format_gap_summary, run_gap
    from offload_opt.solvers import solvers

    output = _table_output("-o", args.output, plot=not args.no_plot)
    exact = _exacts(args.exact)
    if not exact:
        raise CLIError("--exact: the gap study needs an exact solver")
    heuristics = _names("--solvers", args.solvers)
    if heuristics is None:
        heuristics = [n for n, s in solvers().items() if not s.exact]
    settings = _settings(args, exact)
    instances = [(path, _load_instance(path)) for path in args.instances]
    df = run_gap(instances, heuristics, exact, output, settings, plot=not args.no_plot)
    print(format_gap_summary(df, exact))
    print(f"wrote {output}" + ("" if args.no_plot else f" and {output.with_suffix('.png')}"))
    return 0


# ---- frontier ------------------------------------------------------------------------------------


def _add_frontier(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "frontier",
        help="latency/accuracy Pareto front: exact sweep, heuristic weight sweeps, baselines",
        description="Draw the mean-latency / mean-accuracy trade-off of one instance: the exact front "
        "(a sweep of mean-latency caps between the exact extremes), heuristic fronts (a sweep of the "
        "latency weight) and baselines as markers. The points go to a CSV beside the plot.",
    )
    p.add_argument("instance", help="instance JSON file")
    p.add_argument(
        "--points", default="15", metavar="N", help="exact caps and heuristic weights [default: 15]"
    )
    p.add_argument(
        "--exact",
        default="mip",
        help="comma-separated exact solvers ('none' to skip the exact front): mip sweeps latency caps, "
        "cg bounds the front by the heuristics' latency weights [default: mip]",
    )
    p.add_argument(
        "--solvers",
        default=None,
        help="heuristics swept over the latency weight [default: greedy,local-search if registered]",
    )
    p.add_argument(
        "--baselines",
        default=None,
        help="solvers shown as single markers [default: local-only,nearest-edge,best-single-mode "
        "if registered]",
    )
    p.add_argument("-o", "--output", default="results/frontier.png", help="plot (.png, .pdf or .svg)")
    _add_common(p, time_limit="60")
    p.set_defaults(func=cmd_frontier)


def cmd_frontier(args: argparse.Namespace) -> int:
    import numpy as np

    from offload_opt.experiments.frontier import front_violations, run_frontier
    from offload_opt.plot.frontier import save_frontier_plot

    output = _plot_output("-o", args.output)
    check_output_file(output.with_suffix(".csv"), f"-o {args.output}: table")
    points = _number("--points", args.points, int, minimum=2)
    exact = _exacts(args.exact)
    heuristics, baselines = _names("--solvers", args.solvers), _names("--baselines", args.baselines)
    settings = _settings(args, exact)
    inst = _load_instance(args.instance)
    table = output.with_suffix(".csv")
    df = run_frontier(
        inst,
        table,
        settings,
        instance_path=args.instance,
        exact=exact,
        heuristics=heuristics,
        baselines=baselines,
        points=points,
    )
    save_frontier_plot(df, output, title=f"{inst.name}: latency / accuracy trade-off")
    front = df[df["on_front"].astype(bool)]
    cols = [
        "series",
        "solver",
        "latency_cap_s",
        "latency_weight_per_s",
        "point_latency_s",
        "point_accuracy",
        "proven",
        "accuracy_bound",
    ]
    shown = front[cols].assign(
        proven=np.where(front["series"] == "exact", front["proven"].map({True: "yes", False: "no"}), "-")
    )
    print(shown.to_string(index=False, float_format=lambda x: f"{x:.4g}", na_rep="-"))
    n_exact = int((df["series"] == "exact").sum())
    unproven = int(((df["series"] == "exact") & ~df["proven"].astype(bool)).sum())
    if unproven:
        print(
            f"note: {unproven} of {n_exact} exact solves stopped before proving optimality (hollow markers; "
            "the shaded band runs from the best point of any series to the least proven bound)"
        )
    for v in front_violations(df):
        print(f"warning: beyond the proven exact bound: {v}")
    print(f"wrote {output} and {table} ({len(front)} of {len(df)} points on their fronts)")
    return 0


# ---- compare -------------------------------------------------------------------------------------


def _add_seeds(p: argparse.ArgumentParser) -> None:
    from offload_opt.generator import SCENARIOS

    p.add_argument("--scenario", default="default", help=f"named scenario ({', '.join(SCENARIOS)})")
    p.add_argument("--seeds", default="20", metavar="N", help="number of instance seeds [default: 20]")
    p.add_argument("--first-seed", default="0", metavar="N", help="first instance seed [default: 0]")
    p.add_argument(
        "--set",
        action="append",
        metavar="KNOB=VALUE",
        help="override a scenario knob, e.g. --set users=4 (repeatable; see `generate --help`)",
    )


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="the paper's protocol: baselines vs our heuristic vs the exact optimum over seeds",
        description="Over instance seeds of a scenario: local-only, nearest-edge, our heuristic and the "
        "exact solver (time-limited; non-proven rows are labelled). Every solver decides on the planner's "
        "predictions; each decision is judged on the predictions and on the actual values. Reports mean "
        "latency, mean accuracy and reward per task, predicted and actual, with 95% t-intervals, and the "
        "relative change (on the actual values) against each baseline beside the paper's figures "
        "(Han & Sun 2026: -20% latency, +80% reward).",
    )
    _add_seeds(p)
    p.add_argument("--baselines", default="local-only,nearest-edge", help="comma-separated baseline solvers")
    p.add_argument(
        "--heuristic", default=None, help="our heuristic [default: local-search, else alns, else greedy]"
    )
    p.add_argument(
        "--exact",
        default="mip,cg",
        help="comma-separated exact solvers run side by side ('none' to skip) [default: mip,cg]",
    )
    p.add_argument("-o", "--output", default="results/compare.csv", help="results table (.csv or .parquet)")
    _add_common(p, time_limit="60")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from offload_opt.experiments.compare import format_compare, run_compare

    output = _table_output("-o", args.output)
    seeds = _number("--seeds", args.seeds, int, minimum=1)
    first = _number("--first-seed", args.first_seed, int, minimum=0)
    baselines = _names("--baselines", args.baselines) or []
    heuristics = _names("--heuristic", args.heuristic)
    heuristic = heuristics[0] if heuristics else None
    exact = _exacts(args.exact)
    settings = _settings(args, exact)
    overrides = _scenario_overrides(args.set)
    df = run_compare(
        args.scenario,
        seeds,
        output,
        settings,
        first_seed=first,
        baselines=baselines,
        heuristic=heuristic,
        exact=exact,
        overrides=overrides,
    )
    print(format_compare(df))
    print(f"wrote {output}")
    return 0


# ---- planner study -------------------------------------------------------------------------------


def _add_planner(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "planner-study",
        help="reward lost to the planner's prediction errors (oracle, teacher, distilled)",
        description="For each seed, decide on each planner profile's predictions (same world, same seed) "
        "and judge the decisions on the actual values; report the reward lost against the oracle's "
        "decisions, with 95% t-intervals.",
    )
    _add_seeds(p)
    p.add_argument(
        "--solvers",
        default=None,
        help="comma-separated deciding solvers [default: local-search, else alns, else greedy]",
    )
    p.add_argument("--profiles", default=None, help="planner profiles [default: oracle,teacher,distilled]")
    p.add_argument("-o", "--output", default="results/planner.csv", help="results table (.csv or .parquet)")
    _add_common(p, time_limit=None, heuristic_limit=False)
    p.set_defaults(func=cmd_planner)


def cmd_planner(args: argparse.Namespace) -> int:
    from offload_opt.experiments.planner import format_planner, run_planner_study
    from offload_opt.generator import PLANNER_PROFILES

    output = _table_output("-o", args.output)
    seeds = _number("--seeds", args.seeds, int, minimum=1)
    first = _number("--first-seed", args.first_seed, int, minimum=0)
    names = _names("--solvers", args.solvers)
    profiles = (
        tuple(PLANNER_PROFILES)
        if args.profiles is None
        else tuple(p.strip() for p in args.profiles.split(",") if p.strip())
    )
    from offload_opt.solvers import solvers

    registered = solvers()
    exact = [n for n in (names or []) if registered[n].exact]
    settings = _settings(args, exact)
    df = run_planner_study(
        args.scenario,
        seeds,
        output,
        settings,
        first_seed=first,
        solvers=names,
        profiles=profiles,
        overrides=_scenario_overrides(args.set),
    )
    print(format_planner(df))
    print(f"wrote {output}")
    return 0


# ---- plot-schedule -------------------------------------------------------------------------------


def _add_plot_schedule(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot-schedule",
        help="Gantt chart of a solution: one row per device, server slot and channel",
        description="Evaluate SOLUTION on INSTANCE and draw its schedule.",
    )
    p.add_argument("instance", help="instance JSON file")
    p.add_argument("solution", help="solution JSON file (from `solve -o`)")
    p.add_argument(
        "-o", "--output", default="gantt.png", help="plot (.png, .pdf or .svg) [default: gantt.png]"
    )
    p.add_argument("--actual", action="store_true", help="evaluate under the actual (not predicted) values")
    p.set_defaults(func=cmd_plot_schedule)


def cmd_plot_schedule(args: argparse.Namespace) -> int:
    import sys

    from offload_opt.costs import build_costs
    from offload_opt.evaluator import evaluate
    from offload_opt.plot.gantt import save_schedule_plot, server_backlog
    from offload_opt.solution import Solution

    output = _plot_output("-o", args.output)
    inst = _load_instance(args.instance)
    sol = read_input(args.solution, Solution.from_json)
    ev = evaluate(build_costs(inst, actual=args.actual), sol)
    if not ev.schedule:
        raise CLIError(
            f"{args.solution}: cannot draw: {ev.violations[0] if ev.violations else 'no schedule'}"
        )
    for v in ev.violations:
        print(f"warning: {v}", file=sys.stderr)
    label = f" of {sol.solver}" if sol.solver else ""
    title = f"{inst.name}: schedule{label}" + (
        f" (objective {ev.objective:.4g})" if ev.objective is not None else " (infeasible)"
    )
    save_schedule_plot(ev, output, title=title, busy_until_s=server_backlog(inst))
    print(f"wrote {output} (makespan {ev.makespan_s:.4g} s, {len(ev.schedule)} activities)")
    return 0


# ---- demo ----------------------------------------------------------------------------------------


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="generate the default instance, solve it with every solver, write frontier and Gantt plots",
        description="The quick start: the default scenario (seed 0), every registered solver, a comparison "
        "table on stdout and frontier / Gantt plots in DIR. About a minute on two cores.",
    )
    p.add_argument("-o", "--output", default="results/demo", metavar="DIR", help="output directory")
    p.add_argument("--time-limit", default="20", metavar="S", help="exact solve time limit (s) [default: 20]")
    p.add_argument("--points", default="5", metavar="N", help="frontier points [default: 5]")
    p.add_argument(
        "--frontier-time-limit",
        default="8",
        metavar="S",
        help="time limit of each exact frontier solve (s) [default: 8]",
    )
    p.add_argument("--jobs", default="2", metavar="N", help="worker processes for the frontier [default: 2]")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from offload_opt.experiments.demo import run_demo
    from offload_opt.experiments.runner import SweepSettings

    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise CLIError(f"-o {args.output}: not a directory")
    check_output_file(out / "instance.json", f"-o {args.output}:")
    settings = SweepSettings(  # the frontier's sweep
        time_limit_s=_number(
            "--frontier-time-limit", args.frontier_time_limit, float, minimum=0.0, strict=True
        ),
        n_jobs=_number("--jobs", args.jobs, int, minimum=1),
        quiet=args.quiet,
    )
    run_demo(
        out,
        settings,
        time_limit_s=_number("--time-limit", args.time_limit, float, minimum=0.0, strict=True),
        frontier_points=_number("--points", args.points, int, minimum=2),
    )
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the experiment subcommands to the main parser."""
    for add in (_add_gap, _add_frontier, _add_compare, _add_planner, _add_plot_schedule, _add_demo):
        add(sub)
    from offload_opt.sim.cli import add_sim_commands  # simulate, load-curve (issue 14)

    add_sim_commands(sub)
