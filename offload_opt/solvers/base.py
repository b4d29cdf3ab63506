"""One solver protocol, one result type, one registry, one entry point.

Every solver takes cost tables and returns a ``Solution``; ``solve()`` hands
that solution to the evaluator and reports the *evaluated* objective. A
solver's own claim (``SolverOutput.claimed_objective``) is kept only to be
checked against the evaluator: a mismatch is a bug, never rounded away, and
is reported in ``Result.claim_mismatch``.

Layers inside the solver package (each imports only those below it):
``options.py`` / ``output.py`` -> solver modules -> ``registry.py`` (the table) -> ``base.py``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from offload_opt.costs import CostTables, build_costs
from offload_opt.evaluator import Evaluation, evaluate
from offload_opt.instance import Instance
from offload_opt.solution import Solution
from offload_opt.solvers.output import NUMERIC_GAP, SolverOutput, Status, Termination
from offload_opt.solvers.registry import REGISTRY, FunctionSolver, SolverSpec

__all__ = [
    "NUMERIC_GAP",
    "REGISTRY",
    "FunctionSolver",
    "Result",
    "SolverOutput",
    "SolverSpec",
    "Status",
    "Termination",
    "get_solver",
    "parse_options",
    "relative_gap",
    "solve",
    "solvers",
]

CLAIM_TOLERANCE = 1e-6  # relative: a claimed objective further than this from the evaluator's is a mismatch


@dataclass
class Result:
    """The outcome of ``solve()``: the evaluator's verdict on a solver's solution.

    ``claim_mismatch``: set when the solver's own objective differs from the evaluator's (a bug;
    ``status`` is then ``warning``). ``report``: the solver's typed report (``MipReport`` for
    ``mip``), None for solvers without one. ``info``: free-form notes.
    """

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
    claim_mismatch: str | None = None
    options: Any = None
    report: Any = None

    @property
    def feasible(self) -> bool:
        return self.evaluation is not None and self.evaluation.feasible


def get_solver(name: str) -> SolverSpec:
    """The registered solver ``name``; ValueError naming the known ones otherwise."""
    if name not in REGISTRY:
        raise ValueError(f"solver: unknown solver {name!r} (known: {', '.join(sorted(REGISTRY))})")
    return REGISTRY[name]


def solvers() -> dict[str, SolverSpec]:
    """Every registered solver by name, sorted."""
    return dict(sorted(REGISTRY.items()))


def parse_options(solver: str, options: Mapping[str, Any]) -> Any:
    """The validated options object of ``solver`` (its frozen dataclass) built from ``options``.

    Values are coerced by the declared field types, so text from the command line works
    (``"false"``, ``"0.5"``, ``"none"``). Raises ValueError with one line, e.g.
    ``option bogus: unknown option for solver 'mip' (known: mip_gap, threads, ...)``.
    """
    return get_solver(solver).parse(options)


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
    """Solve with a registered solver and judge the solution with the evaluator.

    ``options`` are validated once by ``parse_options`` before anything runs. A solver that
    reports ``optimal`` while the evaluated objective is further from its bound than its
    ``mip_gap`` (or ``NUMERIC_GAP``) is reported ``feasible``, with the reason in ``info``.
    """
    costs = instance_or_costs if isinstance(instance_or_costs, CostTables) else build_costs(instance_or_costs)
    spec = get_solver(solver)
    opts = spec.parse(options)
    t0 = time.perf_counter()
    out = spec.func(costs, time_limit_s=time_limit, seed=seed, options=opts)
    runtime = time.perf_counter() - t0
    sense = costs.objective.sense
    termination: Termination
    common: dict[str, Any] = dict(
        solver=solver,
        runtime_s=runtime,
        build_time_s=out.build_time_s,
        sense=sense,
        claimed_objective=out.claimed_objective,
        info=out.info,
        options=opts,
        report=out.report,
    )
    if out.solution is None:
        status: Status = "error" if out.termination in ("error", "infeasible", "unbounded") else "warning"
        termination = "time_limit" if out.termination == "optimal" else out.termination
        return Result(
            status=status,
            termination=termination,
            objective=None,
            bound=out.bound,
            gap=None,
            solution=None,
            evaluation=None,
            **common,
        )
    ev = evaluate(costs, out.solution)
    status = "ok" if ev.feasible else "error"
    objective = ev.objective if ev.feasible else None
    mismatch = None
    claimed = out.claimed_objective
    off = None if objective is None or claimed is None else abs(claimed - objective)
    if off is not None and objective is not None and off > CLAIM_TOLERANCE * max(1.0, abs(objective)):
        status = "warning"
        mismatch = f"solver claimed {claimed!r}, evaluator computed {objective!r}"
        out.info["claim_mismatch"] = mismatch  # kept for readers of info (report.py, experiments/runner.py)
    termination = out.termination
    gap = relative_gap(objective, out.bound, sense)
    if termination == "optimal":
        allowed = max(float(getattr(opts, "mip_gap", 0.0)), NUMERIC_GAP)
        if objective is None:  # the evaluator rejects the solution: nothing is optimal
            termination = "error"
        elif gap is not None and gap > allowed:
            termination = "feasible"
            out.info["optimal_refused"] = (
                f"solver reported optimal but the evaluated gap {gap:.3g} exceeds its mip_gap {allowed:.3g}"
            )
    return Result(
        status=status,
        termination=termination,
        objective=objective,
        bound=out.bound,
        gap=gap,
        solution=out.solution,
        evaluation=ev,
        claim_mismatch=mismatch,
        **common,
    )
