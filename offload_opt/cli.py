"""The command line: parse, call the library, print a table, write files.

``python solve.py ...`` and the console script ``offload-opt ...`` are the same.
Bad input prints one line ``error: <field path>: <problem>`` on stderr and
exits with code 2, without a traceback; output files are written atomically,
so a failed run never clobbers a file that was already there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# the shared plumbing lives in a leaf module (no import cycle with experiments/cli.py); re-exported here
from offload_opt._cliutil import (
    EXIT_BAD_INPUT,
    LAST_RESORT,
    CLIError,
    check_output_file,
    describe_error,
    option_value,
    parse_number,
    read_input,
    scenario_value,
    write_atomic,
)

__all__ = ["EXIT_BAD_INPUT", "CLIError", "build_parser", "main", "option_value", "write_atomic"]

# ---- generate / show ---------------------------------------------------------------------------


def _add_generate(sub: argparse._SubParsersAction) -> None:
    from offload_opt.generator import SCENARIOS, scenario_fields

    p = sub.add_parser(
        "generate",
        help="write a generated instance (deterministic by seed)",
        description="Generate an instance. Knobs default to the chosen --scenario; the same arguments "
        "give a byte-identical file.",
    )
    p.add_argument(
        "--scenario",
        default="default",
        choices=sorted(SCENARIOS),
        help="named base scenario [default: default]",
    )
    p.add_argument("--seed", default="0", metavar="N", help="random seed [default: 0]")
    p.add_argument("--name", default=None, help="instance name (default: derived from scenario and seed)")
    p.add_argument("-o", "--output", default=None, help="output JSON path (default: print to stdout)")
    for name, default, text in scenario_fields():
        flag = "--" + name.replace("_", "-")
        p.add_argument(flag, dest=name, default=None, help=f"{text} [default: {default}]")
    p.set_defaults(func=cmd_generate)


def cmd_generate(args: argparse.Namespace) -> int:
    from offload_opt.generator import generate, scenario_fields

    overrides = {
        n: scenario_value("--" + n.replace("_", "-"), default, getattr(args, n))
        for n, default, _ in scenario_fields()
        if getattr(args, n) is not None
    }
    seed = parse_number("--seed", args.seed, int)
    if args.output:
        check_output_file(args.output)
    inst = generate(args.scenario, seed=seed, name=args.name, **overrides)
    text = inst.to_json()
    if args.output:
        write_atomic(args.output, text)
        print(
            f"wrote {args.output}: {len(inst.users)} users, {len(inst.aps)} APs, {len(inst.tasks)} tasks "
            f"(digest {inst.digest()})"
        )
    else:
        sys.stdout.write(text)
    return 0


def _add_show(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="print a readable summary of an instance")
    p.add_argument("instance")
    p.add_argument(
        "--solution",
        default=None,
        metavar="SOL",
        help="also evaluate this solution: per-task latency breakdown and the shares of latency "
        "on air, in queues, in compute and on the backhaul",
    )
    p.set_defaults(func=cmd_show)


def cmd_show(args: argparse.Namespace) -> int:
    from offload_opt.readers import load_instance
    from offload_opt.report import show_instance

    inst = read_input(args.instance, load_instance)
    if args.solution is None:
        print(show_instance(inst))
        return 0
    from offload_opt.costs import build_costs
    from offload_opt.evaluator import evaluate
    from offload_opt.report import evaluation_table
    from offload_opt.solution import Solution

    sol = read_input(args.solution, Solution.from_json)
    ev = evaluate(build_costs(inst), sol)
    print(show_instance(inst))
    print(f"\nsolution {args.solution} (solver {sol.solver or '-'}), evaluated on the planner's predictions")
    print(evaluation_table(ev, sol) if ev.tasks else "no feasible schedule")
    for v in ev.violations:
        print(f"violation: {v}", file=sys.stderr)
    return 0 if ev.feasible else EXIT_BAD_INPUT


# ---- solvers / solve / evaluate ------------------------------------------------------------------


def _add_solvers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("solvers", help="list the registered solvers")
    p.set_defaults(func=cmd_solvers)


def cmd_solvers(args: argparse.Namespace) -> int:
    from offload_opt.solvers import solvers

    width = max(len(n) for n in solvers())
    for name, s in solvers().items():
        print(f"{name:<{width}}  {s.description}")
    return 0


def _add_solve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("solve", help="solve an instance with a registered solver")
    p.add_argument("instance")
    p.add_argument("--solver", default="greedy", help="solver name (see `solvers`)")
    p.add_argument("--time-limit", default=None, metavar="S", help="time limit (s)")
    p.add_argument("--seed", default="0", metavar="N", help="random seed of randomised solvers [default: 0]")
    p.add_argument("-o", "--output", default=None, help="write the solution JSON here")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--mip-gap", default=None, metavar="G", help="MIP: relative gap to stop at")
    p.add_argument("--threads", default=None, metavar="N", help="MIP: solver threads")
    p.add_argument("--warm-start", default=None, help="MIP: heuristic whose solution starts the search")
    p.add_argument("--max-mean-latency", default=None, metavar="S", help="MIP: mean latency cap (s)")
    p.add_argument("--min-mean-accuracy", default=None, metavar="A", help="MIP: mean accuracy floor")
    p.add_argument(
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="any other option of the solver, e.g. time_grid=0.25 or floor_passes=0 for mip "
        "(VALUE read as JSON when it parses, else as text; repeatable; docs/mip.md lists the mip options)",
    )
    p.set_defaults(func=cmd_solve)


def _solver_options(args: argparse.Namespace) -> dict[str, Any]:
    numbers = {
        "mip_gap": parse_number("--mip-gap", args.mip_gap, float, minimum=0.0),
        "threads": parse_number("--threads", args.threads, int, minimum=1),
        "max_mean_latency": parse_number("--max-mean-latency", args.max_mean_latency, float),
        "min_mean_accuracy": parse_number("--min-mean-accuracy", args.min_mean_accuracy, float),
        "warm_start": args.warm_start,
    }
    out = {n: v for n, v in numbers.items() if v is not None}
    for item in args.option or []:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not (eq and key):
            raise CLIError(f"--option {item}: expected KEY=VALUE, e.g. time_grid=0.25")
        if key in out:
            raise CLIError(f"--option {item}: {key} is already given")
        out[key] = option_value(text)
    return out


def cmd_solve(args: argparse.Namespace) -> int:
    from offload_opt.readers import load_instance
    from offload_opt.report import result_json, result_table
    from offload_opt.solvers import solve

    time_limit = parse_number("--time-limit", args.time_limit, float, minimum=0.0, strict=True)
    seed = parse_number("--seed", args.seed, int)
    options = _solver_options(args)
    if args.output:
        check_output_file(args.output)
    inst = read_input(args.instance, load_instance)
    result = solve(inst, solver=args.solver, time_limit=time_limit, seed=seed, **options)
    written = None
    if args.output and result.solution is not None:
        # an infeasible solution never replaces the file at -o (which may hold a good one): it goes beside it
        written = Path(args.output) if result.feasible else rejected_path(args.output)
        write_atomic(written, result.solution.to_json())
    if args.json:
        print(json.dumps(result_json(result), indent=1))
    else:
        print(result_table(result))
    if written is not None and result.feasible and not args.json:
        print(f"wrote {written}")
    elif written is not None and not result.feasible:
        print(
            f"note: the solution is infeasible: not written to {args.output}; wrote it to {written} instead",
            file=sys.stderr,
        )
    return 0 if result.status != "error" else 1


def rejected_path(output: str | Path) -> Path:
    """Where ``solve -o OUTPUT`` puts an infeasible solution: ``<stem>.rejected<suffix>`` beside OUTPUT."""
    out = Path(output)
    return out.with_name(f"{out.stem}.rejected{out.suffix or '.json'}")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="re-evaluate a solution file independently")
    p.add_argument("instance")
    p.add_argument("solution")
    p.add_argument("--actual", action="store_true", help="evaluate under the actual (not predicted) values")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from offload_opt.costs import build_costs
    from offload_opt.evaluator import evaluate
    from offload_opt.readers import load_instance
    from offload_opt.report import evaluation_json, evaluation_table
    from offload_opt.solution import Solution

    inst = read_input(args.instance, load_instance)
    sol = read_input(args.solution, Solution.from_json)
    ev = evaluate(build_costs(inst, actual=args.actual), sol)
    if args.json:
        print(json.dumps(evaluation_json(ev, solver=sol.solver), indent=1))
    elif ev.tasks:
        print(evaluation_table(ev))
    for v in ev.violations:
        print(f"violation: {v}", file=sys.stderr)
    return 0 if ev.feasible else EXIT_BAD_INPUT


# ---- entry point ------------------------------------------------------------------------------

COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_generate,
    _add_show,
    _add_solvers,
    _add_solve,
    _add_evaluate,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="offload-opt",
        description="Decide where LLM inference runs in a WiFi network, and prove how good the decision is.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    from offload_opt.experiments.cli import add_commands  # gap, frontier, compare, planner-study, plots, demo

    add_commands(sub)
    from offload_opt.import_cli import add_import_command  # import FILE --format fjs|stg

    add_import_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from offload_opt._serde import InputError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        return 0
    except (
        LAST_RESORT
    ) as exc:  # bad input no command turned into a message (before ValueError: UnicodeDecodeError is one)
        if os.environ.get("OFFLOAD_OPT_DEBUG"):
            raise
        name = getattr(exc, "filename", None)
        print(f"error: {str(name) + ': ' if name else ''}{describe_error(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (InputError, CLIError, ValueError) as exc:
        if os.environ.get("OFFLOAD_OPT_DEBUG"):
            raise
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
