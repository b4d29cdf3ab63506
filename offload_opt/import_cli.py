"""The ``import`` commands: a standard benchmark file (``.fjs``, ``.stg``) to an explicit-cost instance JSON,
and ``import-plans``: a planner's JSON Lines output placed in a generated network.

Thin: parse, call ``offload_opt.readers``, write the file atomically, print one line.
"""

from __future__ import annotations

import argparse
import sys

from offload_opt.cli import CLIError, write_atomic


def add_import_command(sub: argparse._SubParsersAction) -> None:
    """Register ``import FILE --format fjs|stg [--processors M] [-o OUT]`` on the command line's subparsers."""
    from offload_opt.readers import FORMATS

    p = sub.add_parser(
        "import",
        help="read a standard scheduling benchmark file (.fjs, .stg) into the explicit-cost form",
        description="Convert a flexible job shop (.fjs) or Standard Task Graph (.stg) file into an "
        "explicit-cost makespan instance (docs/model.md, 'Readers').",
    )
    p.add_argument("file")
    p.add_argument("--format", dest="fmt", default=None, choices=FORMATS, help="default: the file's suffix")
    p.add_argument("--processors", default=None, help="stg: number of identical processors (required)")
    p.add_argument(
        "--machine-base",
        default="1",
        help="fjs: number of the first machine, 1 in the published files [default: 1]",
    )
    p.add_argument("--name", default=None, help="instance name (default: the file's stem)")
    p.add_argument("-o", "--output", default=None, help="output JSON path (default: print to stdout)")
    p.set_defaults(func=cmd_import)
    add_import_plans_command(sub)


def add_import_plans_command(sub: argparse._SubParsersAction) -> None:
    """Register ``import-plans PLANS.jsonl --scenario NAME [--seed N] [--name NAME] [-o OUT]``."""
    from offload_opt.generator import SCENARIOS

    p = sub.add_parser(
        "import-plans",
        help="place a planner's tasks (JSON Lines) in a generated network",
        description="Read a plans file (one task per line: predicted difficulty and tokens, optional "
        "subtasks with dependencies, optional actual values; docs/model.md, 'Planners and imported plans') "
        "and place its tasks on the users of the network that `generate --scenario S --seed N` makes.",
    )
    p.add_argument("plans", metavar="PLANS.jsonl")
    p.add_argument(
        "--scenario", default="default", choices=sorted(SCENARIOS), help="network [default: default]"
    )
    p.add_argument("--seed", default="0", metavar="N", help="network and placement seed [default: 0]")
    p.add_argument("--name", default=None, help="instance name (default: plans-<file stem>-s<seed>)")
    p.add_argument("-o", "--output", default=None, help="output JSON path (default: print to stdout)")
    p.set_defaults(func=cmd_import_plans)


def cmd_import_plans(args: argparse.Namespace) -> int:
    from offload_opt._cliutil import check_output_file, parse_number
    from offload_opt.plans import import_plans

    seed = parse_number("--seed", args.seed, int)
    if args.output:
        check_output_file(args.output)
    try:
        inst = import_plans(args.plans, args.scenario, seed=seed, name=args.name)
    except FileNotFoundError:
        raise CLIError(f"{args.plans}: no such file") from None
    text = inst.to_json()
    if args.output:
        write_atomic(args.output, text)
        n_dec = sum(t.decomposition is not None for t in inst.tasks)
        print(
            f"wrote {args.output}: {len(inst.tasks)} tasks ({n_dec} with a decomposition) on the "
            f"{args.scenario!r} network, seed {seed} (digest {inst.digest()})"
        )
    else:
        sys.stdout.write(text)
    return 0


def _int_arg(flag: str, text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise CLIError(f"{flag}: expected an integer, got {text!r}") from None


def cmd_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from offload_opt.readers import FORMATS, read_classic

    fmt = args.fmt or Path(args.file).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise CLIError(
            f"--format: cannot tell the format of {args.file!r} from its suffix; give --format fjs|stg"
        )
    processors = _int_arg("--processors", args.processors)
    if processors is not None and processors < 1:
        raise CLIError(f"--processors: must be >= 1, got {processors}")
    base = _int_arg("--machine-base", args.machine_base)
    if base not in (0, 1):
        raise CLIError(f"--machine-base: must be 0 or 1, got {args.machine_base!r}")
    assert base is not None
    inst = read_classic(args.file, fmt, processors=processors, machine_base=base, name=args.name)
    text = inst.to_json()
    if args.output:
        write_atomic(args.output, text)
        ex = inst.explicit
        assert ex is not None
        n_ops = sum(len(j.ops) for j in ex.jobs)
        print(f"wrote {args.output}: {len(ex.jobs)} jobs, {n_ops} ops, {len(ex.processors)} processors")
    else:
        sys.stdout.write(text)
    return 0
