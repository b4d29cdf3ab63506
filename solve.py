#!/usr/bin/env python3
"""offload_opt command line: ``python solve.py --help`` (same as the ``offload-opt`` console script)."""

from offload_opt.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
