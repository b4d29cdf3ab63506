"""Solvers: one protocol, one registry (``solvers()``), one entry point (``solve``)."""

from offload_opt.solvers.base import REGISTRY, Result, SolverOutput, get_solver, register, solve, solvers

__all__ = ["REGISTRY", "Result", "SolverOutput", "get_solver", "register", "solve", "solvers"]
