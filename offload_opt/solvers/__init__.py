"""Solvers: one protocol, one registry table (``registry.py``, listed by ``solvers()``), one entry point (``solve``)."""

from offload_opt.solvers.base import (
    REGISTRY,
    FunctionSolver,
    Result,
    SolverOutput,
    SolverSpec,
    get_solver,
    parse_options,
    solve,
    solvers,
)

__all__ = [
    "REGISTRY",
    "FunctionSolver",
    "Result",
    "SolverOutput",
    "SolverSpec",
    "get_solver",
    "parse_options",
    "solve",
    "solvers",
]
