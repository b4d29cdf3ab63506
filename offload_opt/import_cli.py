"""The ``import`` command: a standard benchmark file (``.fjs``, ``.stg``) to an explicit-cost instance JSON.

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
