"""The table of built-in solvers: name, function, description, exactness and options dataclass.

One explicit table instead of self-registration: a solver module does not know the
registry, and nothing here imports back up the layers (``base.py`` imports this module,
this module imports only ``options.py`` and ``output.py``). Each solver function is named
by ``"module:function"`` and imported on first use, so importing ``offload_opt`` does not
load Pyomo and HiGHS. A solver function has the signature
``func(costs, *, time_limit_s: float | None, seed: int, options: <its options dataclass>) -> SolverOutput``.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from offload_opt.costs import CostTables
from offload_opt.solvers.options import (
    AlnsOptions,
    CgOptions,
    CpsatOptions,
    GreedyOptions,
    HeftOptions,
    LocalSearchOptions,
    MipOptions,
    NoOptions,
    TimeIndexedOptions,
    coerce_options,
)
from offload_opt.solvers.output import SolverOutput


@dataclass(frozen=True)
class SolverSpec:
    """One registered solver. Calling it validates loose keyword options (or takes ``options=``) and runs it."""

    name: str
    description: str
    target: str  # "module:function"
    options: type = NoOptions
    exact: bool = False
    forms: tuple[str, ...] = ("wireless", "explicit")  # instance forms it handles (others: an error result)

    def supports(self, instance: Any) -> bool:
        """Whether this solver handles ``instance``'s form (the explicit-cost form or a wireless network)."""
        return ("explicit" if instance.is_explicit else "wireless") in self.forms

    @property
    def func(self) -> Callable[..., SolverOutput]:
        """The solver function (imported on first use)."""
        return _resolve(self.target)

    def parse(self, options: Any = None) -> Any:
        """This solver's validated options object from a mapping (or an options object as is)."""
        return coerce_options(self.options, self.name, options)

    def __call__(
        self, costs: CostTables, *, time_limit_s: float | None, seed: int, options: Any = None, **kw: Any
    ) -> SolverOutput:
        if options is not None and kw:
            raise ValueError(f"options of solver {self.name!r}: give an options object or keywords, not both")
        opts = self.parse(options if options is not None else kw)
        return self.func(costs, time_limit_s=time_limit_s, seed=seed, options=opts)


@functools.cache
def _resolve(target: str) -> Callable[..., SolverOutput]:
    """The function named by ``"module:function"``, imported once (``solve`` looks it up per call)."""
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


# Backwards-compatible name (the registry's entries used to be FunctionSolver).
FunctionSolver = SolverSpec

_SPECS = (
    SolverSpec(
        "local-only",
        "baseline: every task whole on its device's best local model (FCFS)",
        "offload_opt.solvers.baselines:solve_local_only",
        forms=("wireless",),
    ),
    SolverSpec(
        "nearest-edge",
        "baseline: every task whole on the strongest-signal AP's default model (FCFS)",
        "offload_opt.solvers.baselines:solve_nearest_edge",
        forms=("wireless",),
    ),
    SolverSpec(
        "best-single-mode",
        "baseline: per task the best whole-task option (local or any AP model), FCFS",
        "offload_opt.solvers.baselines:solve_best_single_mode",
        forms=("wireless",),
    ),
    SolverSpec(
        "greedy",
        "decomposition-aware list scheduler: per task the best mode, per op the best marginal reward",
        "offload_opt.solvers.greedy:solve_greedy",
        GreedyOptions,
    ),
    SolverSpec(
        "heft",
        "HEFT (Topcuoglu 2002): upward-rank order, insertion-based earliest-finish placement",
        "offload_opt.solvers.heft:solve_heft",
        HeftOptions,
    ),
    SolverSpec(
        "cpop",
        "CPOP (Topcuoglu 2002): critical path on one processor, others earliest-finish",
        "offload_opt.solvers.heft:solve_cpop",
        HeftOptions,
    ),
    SolverSpec(
        "local-search",
        "recommended fast heuristic: simulated annealing from the best constructive start (reinsert/mode "
        "flip, option moves, swaps), deterministic budget",
        "offload_opt.solvers.local_search:solve_local_search",
        LocalSearchOptions,
    ),
    SolverSpec(
        "alns",
        "regret insertion + adaptive large-neighbourhood search from the best constructive start "
        "(deterministic budget)",
        "offload_opt.solvers.alns:solve_alns",
        AlnsOptions,
    ),
    SolverSpec(
        "cg",
        "time-indexed column generation: valid Lagrangian bound, incumbents from the integer master",
        "offload_opt.solvers.cg.solve:solve_cg",
        CgOptions,
        exact=True,
        forms=("wireless",),
    ),
    SolverSpec(
        "cpsat",
        "CP-SAT (OR-Tools, optional) interval model for explicit-cost instances: exact makespan with a bound",
        "offload_opt.solvers.cpsat:solve_cpsat",
        CpsatOptions,
        exact=True,
        forms=("explicit",),
    ),
    SolverSpec(
        "time-indexed",
        "destructive bounds with a time-indexed MIP (HiGHS) for integral explicit-cost instances: exact "
        "makespan where horizons are short",
        "offload_opt.solvers.time_indexed:solve_time_indexed",
        TimeIndexedOptions,
        exact=True,
        forms=("explicit",),
    ),
    SolverSpec(
        "mip",
        "exact MIP (Pyomo + HiGHS in memory): optimal decisions with a proven bound",
        "offload_opt.solvers.mip.solve:solve_mip",
        MipOptions,
        exact=True,
    ),
)

REGISTRY: dict[str, SolverSpec] = {s.name: s for s in _SPECS}
