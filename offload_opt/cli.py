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
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

EXIT_BAD_INPUT = 2


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename (never a half-written file)."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def option_value(text: str) -> Any:
    """A solver option's value from the command line: JSON when it parses (numbers, true, null, lists),
    else the text itself (a solver name such as ``greedy``)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


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
    p.add_argument("--seed", type=int, default=0, help="random seed [default: 0]")
    p.add_argument("--name", default=None, help="instance name (default: derived from scenario and seed)")
    p.add_argument("-o", "--output", default=None, help="output JSON path (default: print to stdout)")
    for name, default, text in scenario_fields():
        flag = "--" + name.replace("_", "-")
        kind: Callable[[str], Any]
        if isinstance(default, bool):
            kind = bool
        elif isinstance(default, int):
            kind = int
        elif isinstance(default, float) or default is None:
            kind = float
        else:
            kind = str
        p.add_argument(flag, dest=name, type=kind, default=None, help=f"{text} [default: {default}]")
    p.set_defaults(func=cmd_generate)


def cmd_generate(args: argparse.Namespace) -> int:
    from offload_opt.generator import generate, scenario_fields

    overrides = {n: getattr(args, n) for n, _, _ in scenario_fields() if getattr(args, n) is not None}
    inst = generate(args.scenario, seed=args.seed, name=args.name, **overrides)
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
    p.set_defaults(func=cmd_show)


def cmd_show(args: argparse.Namespace) -> int:
    from offload_opt.instance import Instance
    from offload_opt.report import show_instance

    print(show_instance(Instance.from_json(args.instance)))
    return 0


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
    p.add_argument("--time-limit", type=float, default=None, help="time limit (s)")
    p.add_argument("--seed", type=int, default=0, help="random seed of randomised solvers")
    p.add_argument("-o", "--output", default=None, help="write the solution JSON here")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--mip-gap", type=float, default=None, help="MIP: relative gap to stop at")
    p.add_argument("--threads", type=int, default=None, help="MIP: solver threads")
    p.add_argument("--warm-start", default=None, help="MIP: heuristic whose solution starts the search")
    p.add_argument("--max-mean-latency", type=float, default=None, help="MIP: mean latency cap (s)")
    p.add_argument("--min-mean-accuracy", type=float, default=None, help="MIP: mean accuracy floor")
    p.add_argument(
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="any other option of the solver, e.g. time_grid=0.25 or floor_passes=0 for mip "
        "(VALUE read as JSON when it parses, else as text; repeatable; docs/mip.md lists the mip options)",
    )
    p.set_defaults(func=cmd_solve)


def _solver_options(args: argparse.Namespace) -> dict[str, Any]:
    names = ("mip_gap", "threads", "warm_start", "max_mean_latency", "min_mean_accuracy")
    out = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
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
    from offload_opt.instance import Instance
    from offload_opt.report import result_json, result_table
    from offload_opt.solvers import solve

    inst = Instance.from_json(args.instance)
    if args.time_limit is not None and not args.time_limit > 0:
        raise CLIError(f"--time-limit: must be > 0, got {args.time_limit}")
    result = solve(
        inst, solver=args.solver, time_limit=args.time_limit, seed=args.seed, **_solver_options(args)
    )
    # an infeasible schedule (e.g. a missed deadline) never replaces what is at the output path
    solution = result.solution if result.feasible else None
    written = bool(args.output and solution is not None)
    if args.output and solution is not None:
        write_atomic(args.output, solution.to_json())
    if args.json:
        print(json.dumps(result_json(result), indent=1))
    else:
        print(result_table(result))
        if written:
            print(f"wrote {args.output}")
        elif args.output:
            print(f"not written: {args.output} (no feasible solution)")
    return 0 if result.status != "error" else 1


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
    from offload_opt.instance import Instance
    from offload_opt.report import evaluation_json, evaluation_table
    from offload_opt.solution import Solution

    inst = Instance.from_json(args.instance)
    sol = Solution.from_json(args.solution)
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from offload_opt._serde import InputError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (InputError, CLIError, ValueError) as exc:
        if os.environ.get("OFFLOAD_OPT_DEBUG"):
            raise
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
