"""What a solver hands back before evaluation (``SolverOutput``) and the status vocabularies.

The bottom of the solver layer with ``options.py``: solver modules import it, it imports no solver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from offload_opt.solution import Solution

Status = Literal["ok", "warning", "error"]
NUMERIC_GAP = 1e-6  # relative: an evaluated objective this close to the bound counts as reaching it
Termination = Literal["optimal", "feasible", "time_limit", "infeasible", "unbounded", "error", "heuristic"]


@dataclass
class SolverOutput:
    """What a solver hands back before evaluation.

    ``report``: a solver's typed report (e.g. the MIP's ``MipReport``), kept on the ``Result``;
    ``info``: free-form notes (JSON-like values) shown and stored by the experiments.
    """

    solution: Solution | None
    termination: Termination = "heuristic"
    claimed_objective: float | None = None  # the solver's own value, checked against the evaluator
    bound: float | None = None  # proven bound (exact solvers only)
    build_time_s: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    report: Any = None
