"""The ``simulate`` and ``load-curve`` subcommands (thin: parse, call offload_opt.sim, print, write).

Numbers are parsed here, not by argparse, so that a bad one is reported in
one line naming the flag (``error: --rate: ...``, exit 2). Kept apart from
offload_opt/experiments/cli.py, which only calls ``add_sim_commands``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from offload_opt.cli import CLIError, option_value

PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def _float(flag: str, text: str | None, *, positive: bool = True) -> float | None:
    if text is None:
        return None
    try:
        v = float(text)
    except ValueError:
        raise CLIError(f"{flag}: expected a number, got {text!r}") from None
    if not math.isfinite(v) or (v <= 0 if positive else v < 0):
        raise CLIError(f"{flag}: must be a finite number {'>' if positive else '>='} 0, got {text}")
    return v


def _int(flag: str, text: str, minimum: int) -> int:
    try:
        v = int(text)
    except ValueError:
        raise CLIError(f"{flag}: expected an integer, got {text!r}") from None
    if v < minimum:
        raise CLIError(f"{flag}: must be >= {minimum}, got {text}")
    return v


def _policies(flag: str, text: str) -> list[str]:
    from offload_opt.solvers import get_solver

    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise CLIError(f"{flag}: give at least one policy (a registered solver)")
    for n in names:
        try:
            get_solver(n)
        except ValueError as exc:
            raise CLIError(f"{flag}: {str(exc).removeprefix('solver: ')}") from None
    return names


def _overrides(items: list[str] | None) -> dict[str, Any]:
    """``--set users=50`` -> scenario knobs, parsed as the other commands parse them."""
    from offload_opt.experiments.cli import _scenario_overrides

    return _scenario_overrides(items)


def _options(items: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, eq, text = item.partition("=")
        if not (eq and key.strip()):
            raise CLIError(f"--option {item}: expected KEY=VALUE, e.g. max_iters=200")
        out[key.strip()] = option_value(text)
    return out


def _policy_options(items: list[str] | None, policies: list[str]) -> dict[str, dict[str, Any]]:
    """``POLICY:KEY=VALUE`` items -> per-policy options (the policy must be one of the swept ones)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        policy, colon, rest = item.partition(":")
        key, eq, text = rest.partition("=")
        if not (colon and eq and key.strip()):
            raise CLIError(f"--option {item}: expected POLICY:KEY=VALUE, e.g. local-search:max_iters=200")
        if policy.strip() not in policies:
            raise CLIError(f"--option {item}: {policy.strip()!r} is not one of --policies")
        out.setdefault(policy.strip(), {})[key.strip()] = option_value(text)
    return out


def _table_output(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise CLIError(f"-o {text}: the extension must be .csv or .parquet")
    if path.is_dir():
        raise CLIError(f"-o {text}: is a directory")
    return path


def _write_table(df: Any, path: Path) -> None:
    from offload_opt.experiments.runner import _write_frame

    _write_frame(df, path)


def _add_network(p: argparse.ArgumentParser) -> None:
    from offload_opt.generator import SCENARIOS

    p.add_argument("--scenario", default="default", help=f"named scenario ({', '.join(SCENARIOS)})")
    p.add_argument(
        "--set",
        action="append",
        metavar="KNOB=VALUE",
        help="override a scenario knob, e.g. --set users=50 --set aps=5 (repeatable; see `generate --help`)",
    )
    p.add_argument(
        "--epoch",
        default="arrival",
        help="decision epochs: 'arrival' (decide each task as it arrives, never revise), a period P in s "
        "(every P s re-plan every op not started yet; a started op keeps its placement and its task "
        "its mode), 'task:P' (every P s re-plan every task none of whose activities has started), or "
        "'batch:P' (every P s, no revision) [default: arrival]",
    )
    p.add_argument("--time-limit", default=None, metavar="S", help="time limit of each decision (s)")
    p.add_argument(
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="a policy option, e.g. max_iters=200 for local-search (an iteration budget keeps runs "
        "reproducible; its default is a 2 s wall-clock budget per decision); in load-curve "
        "POLICY:KEY=VALUE (repeatable)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or notes on stderr")


# ---- simulate ------------------------------------------------------------------------------------


def _add_simulate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="discrete-event simulation: tasks arrive over time, a policy decides, actual values execute",
        description="Tasks arrive (Poisson per user at --rate tasks/s in total, or from --trace); at each "
        "decision epoch the policy (any registered solver) decides the pending tasks given the committed "
        "state; decisions are executed on the actual token lengths and difficulties, success drawn per task "
        "(seeded). Writes one row per task and prints the summary. docs/model.md, 'Simulation over time'.",
    )
    _add_network(p)
    p.add_argument(
        "--instance",
        default=None,
        help="an instance JSON file as the network (and, without "
        "--rate/--trace, its own tasks as the arrivals) instead of --scenario",
    )
    p.add_argument("--rate", default=None, metavar="R", help="total arrival rate (tasks/s)")
    p.add_argument("--duration-s", default=None, metavar="S", help="arrivals in [0, S) s")
    p.add_argument("--trace", default=None, metavar="CSV", help="arrivals from a CSV with arrival_s,user")
    p.add_argument("--policy", default="greedy", help="the deciding solver [default: greedy]")
    p.add_argument("--seed", default="0", metavar="N", help="seed of the network, arrivals and draws")
    p.add_argument(
        "--charge-decision-time",
        action="store_true",
        help="charge the policy's measured runtime to the simulated clock (rows then vary run to run)",
    )
    p.add_argument(
        "--decision-time-s", default=None, metavar="S", help="charge a fixed S seconds per decision instead"
    )
    p.add_argument("-o", "--output", default="results/sim.csv", help="task rows (.csv or .parquet)")
    p.add_argument("--plots", default=None, metavar="DIR", help="write latency CDF and queue plots to DIR")
    p.set_defaults(func=cmd_simulate)


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as aligned ``name  value`` lines."""
    width = max(len(k) for k in summary)
    lines = []
    for k, v in summary.items():
        text = f"{v:.4g}" if isinstance(v, float) else str(v)
        lines.append(f"{k:<{width}}  {text}")
    return "\n".join(lines)


def cmd_simulate(args: argparse.Namespace) -> int:
    from offload_opt.sim import queue_lengths, simulate

    output = _table_output(args.output)
    rate = _float("--rate", args.rate)
    duration = _float("--duration-s", args.duration_s)
    fixed = _float("--decision-time-s", args.decision_time_s, positive=False)
    if fixed is not None and args.charge_decision_time:
        raise CLIError("--decision-time-s: give it or --charge-decision-time, not both")
    charge: bool | float = fixed if fixed is not None else bool(args.charge_decision_time)
    seed = _int("--seed", args.seed, 0)
    _policies("--policy", args.policy)
    if args.instance is not None:
        from offload_opt.instance import Instance

        if args.set:
            raise CLIError("--set: scenario knobs apply to --scenario, not to --instance")
        source: Any = Instance.from_json(args.instance)
        knobs: dict[str, Any] = {}
    else:
        source, knobs = args.scenario, _overrides(args.set)
    res = simulate(
        source,
        policy=args.policy,
        rate=rate,
        duration_s=duration,
        seed=seed,
        epoch=args.epoch,
        trace=args.trace,
        charge_decision_time=charge,
        time_limit=_float("--time-limit", args.time_limit),
        options=_options(args.option),
        **knobs,
    )
    _write_table(res.rows, output)
    print(format_summary(res.summary))
    print(f"wrote {output} ({len(res.rows)} tasks)")
    if args.plots:
        from offload_opt.plot._common import save
        from offload_opt.plot.sim import plot_latency_cdf, plot_queue_lengths

        out = Path(args.plots)
        a = save(plot_latency_cdf({args.policy: res.rows}), out / "latency_cdf.png")
        b = save(plot_queue_lengths(queue_lengths(res)), out / "queues.png")
        print(f"wrote {a} and {b}")
    return 0


# ---- load-curve ----------------------------------------------------------------------------------


def _add_load_curve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "load-curve",
        help="sweep arrival rates: mean/p95 latency and reward per task against load, saturation rates",
        description="Simulate every policy at every rate for every seed, write one summary row per run "
        "(resumable: finished runs are skipped on a rerun), print mean and p95 latency and reward per task "
        "with 95%% t-intervals per (policy, rate), and mark each policy's saturation rate.",
    )
    _add_network(p)
    p.add_argument("--rates", default="0.1:1.0:0.1", help="START:STOP:STEP or a list, tasks/s")
    p.add_argument("--policies", default="greedy,nearest-edge,local-only", help="comma-separated solvers")
    p.add_argument("--seeds", default="5", metavar="N", help="seeds per (policy, rate) [default: 5]")
    p.add_argument("--first-seed", default="0", metavar="N", help="first seed [default: 0]")
    p.add_argument("--duration-s", default="600", metavar="S", help="arrivals in [0, S) s [default: 600]")
    p.add_argument("--jobs", default="1", metavar="N", help="local worker processes [default: 1]")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS", help="a Dask distributed scheduler")
    p.add_argument("-o", "--output", default="results/load.csv", help="run rows (.csv or .parquet)")
    p.add_argument("--plot", default=None, metavar="FILE", help="load-curve figure [default: OUTPUT.png]")
    p.set_defaults(func=cmd_load_curve)


def cmd_load_curve(args: argparse.Namespace) -> int:
    from offload_opt.sim.load_curve import (
        aggregate,
        format_load_curve,
        make_jobs,
        parse_rates,
        run_load_curve,
        saturation_rates,
    )

    output = _table_output(args.output)
    plot = Path(args.plot) if args.plot else output.with_suffix(".png")
    if plot.suffix.lower() not in PLOT_SUFFIXES:
        raise CLIError(f"--plot {plot}: the extension must be one of {', '.join(PLOT_SUFFIXES)}")
    rates = parse_rates(args.rates)
    policies = _policies("--policies", args.policies)
    seeds = _int("--seeds", args.seeds, 1)
    first = _int("--first-seed", args.first_seed, 0)
    duration = _float("--duration-s", args.duration_s)
    assert duration is not None
    jobs = make_jobs(
        args.scenario,
        policies,
        rates,
        range(first, first + seeds),
        duration,
        epoch=args.epoch,
        time_limit_s=_float("--time-limit", args.time_limit),
        overrides=_overrides(args.set),
        options=_policy_options(args.option, policies),
    )
    df = run_load_curve(
        jobs, output, n_jobs=_int("--jobs", args.jobs, 1), scheduler=args.scheduler, quiet=args.quiet
    )
    errors = df[df["status"] == "error"]
    for msg in errors["message"].drop_duplicates()[:3]:
        print(f"warning: a run failed: {msg}", file=sys.stderr)
    agg = aggregate(df)
    print(format_load_curve(agg))
    print(f"wrote {output}")
    if not agg.empty:
        save_load_curve_figure(agg, saturation_rates(agg), plot)
        print(f"wrote {plot}")
    return 0 if errors.empty else 1


def save_load_curve_figure(agg: Any, saturation: dict[str, float], path: Path) -> Path:
    """Three panels side by side: mean latency, p95 latency and reward per task against the rate."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from offload_opt.plot.sim import LOAD_METRICS, plot_load_curve

    fig = Figure(figsize=(15, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    for ax, metric in zip(axes, LOAD_METRICS, strict=True):
        plot_load_curve(agg, metric, saturation, ax=ax)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=130)
    tmp.replace(path)
    return path


def add_sim_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``simulate`` and ``load-curve`` to the main parser."""
    _add_simulate(sub)
    _add_load_curve(sub)
