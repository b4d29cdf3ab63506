"""One solver protocol, one result type, one registry.

Every solver takes cost tables and returns a ``Solution``; ``solve()`` hands
that solution to the evaluator and reports the *evaluated* objective. A
solver's own claim (``SolverOutput.claimed_objective``) is kept only to be
checked against the evaluator: a mismatch is a bug, never rounded away.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from offload_opt.costs import CostTables, build_costs
from offload_opt.evaluator import Evaluation, evaluate
from offload_opt.instance import Instance
from offload_opt.solution import Solution

Status = Literal["ok", "warning", "error"]
Termination = Literal["optimal", "feasible", "time_limit", "infeasible", "unbounded", "error", "heuristic"]


@dataclass
class SolverOutput:
    """What a solver hands back before evaluation."""

    solution: Solution | None
    termination: Termination = "heuristic"
    claimed_objective: float | None = None  # the solver's own value, checked against the evaluator
    bound: float | None = None  # proven bound (exact solvers only)
    build_time_s: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    """The outcome of ``solve()``: the evaluator's verdict on a solver's solution."""

    solver: str
    status: Status
    termination: Termination
    objective: float | None  # evaluated objective; None when no solution was found
    bound: float | None
    gap: float | None
    runtime_s: float
    build_time_s: float
    solution: Solution | None
    evaluation: Evaluation | None
    sense: str
    claimed_objective: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        return self.evaluation is not None and self.evaluation.feasible


class Solver(Protocol):
    """A solver: ``__call__(costs, time_limit_s, seed, **options) -> SolverOutput``."""

    name: str
    description: str

    def __call__(
        self, costs: CostTables, *, time_limit_s: float | None, seed: int, **options: Any
    ) -> SolverOutput: ...


@dataclass(frozen=True)
class FunctionSolver:
    name: str
    description: str
    func: Callable[..., SolverOutput]
    exact: bool = False

    def __call__(
        self, costs: CostTables, *, time_limit_s: float | None, seed: int, **options: Any
    ) -> SolverOutput:
        return self.func(costs, time_limit_s=time_limit_s, seed=seed, **options)


REGISTRY: dict[str, FunctionSolver] = {}


def register(
    name: str, description: str, exact: bool = False
) -> Callable[[Callable[..., SolverOutput]], Callable]:
    """Decorator adding a solver function to the registry under ``name``."""

    def deco(func: Callable[..., SolverOutput]) -> Callable[..., SolverOutput]:
        if name in REGISTRY:
            raise ValueError(f"solver {name!r} registered twice")
        REGISTRY[name] = FunctionSolver(name, description, func, exact)
        return func

    return deco


def get_solver(name: str) -> FunctionSolver:
    _load_builtin()
    if name not in REGISTRY:
        raise ValueError(f"solver: unknown solver {name!r} (known: {', '.join(sorted(REGISTRY))})")
    return REGISTRY[name]


def solvers() -> dict[str, FunctionSolver]:
    _load_builtin()
    return dict(sorted(REGISTRY.items()))


def _load_builtin() -> None:
    # Importing the modules registers their solvers; done lazily so importing offload_opt stays cheap.
    from offload_opt.solvers import _builtin  # noqa: F401


def relative_gap(objective: float | None, bound: float | None, sense: str) -> float | None:
    """|bound - objective| / max(|objective|, 1e-9); None when either is missing."""
    if objective is None or bound is None or not math.isfinite(bound):
        return None
    diff = (bound - objective) if sense == "max" else (objective - bound)
    return max(0.0, diff) / max(abs(objective), 1e-9)


def solve(
    instance_or_costs: Instance | CostTables,
    solver: str = "greedy",
    time_limit: float | None = None,
    seed: int = 0,
    **options: Any,
) -> Result:
    """Solve with a registered solver and judge the solution with the evaluator."""
    costs = instance_or_costs if isinstance(instance_or_costs, CostTables) else build_costs(instance_or_costs)
    impl = get_solver(solver)
    t0 = time.perf_counter()
    out = impl(costs, time_limit_s=time_limit, seed=seed, **options)
    runtime = time.perf_counter() - t0
    sense = costs.objective.sense
    if out.solution is None:
        status: Status = "error" if out.termination in ("error", "infeasible", "unbounded") else "warning"
        return Result(
            solver,
            status,
            out.termination,
            None,
            out.bound,
            None,
            runtime,
            out.build_time_s,
            None,
            None,
            sense,
            out.claimed_objective,
            out.info,
        )
    ev = evaluate(costs, out.solution)
    status = "ok" if ev.feasible else "error"
    objective = ev.objective if ev.feasible else None
    if ev.feasible and out.claimed_objective is not None:
        scale = max(1.0, abs(ev.objective))
        if abs(out.claimed_objective - ev.objective) > 1e-6 * scale:
            status = "warning"
            out.info["claim_mismatch"] = (
                f"solver claimed {out.claimed_objective!r}, evaluator computed {ev.objective!r}"
            )
    termination = out.termination
    gap = relative_gap(objective, out.bound, sense)
    return Result(
        solver,
        status,
        termination,
        objective,
        out.bound,
        gap,
        runtime,
        out.build_time_s,
        out.solution,
        ev,
        sense,
        out.claimed_objective,
        out.info,
    )
