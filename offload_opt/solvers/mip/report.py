"""The typed report of one MIP call (``Result.report``); ``as_info()`` gives the old ``info`` keys."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

OPTIONAL_INFO = (
    "warm_start",
    "cliques",
    "target_value",
    "target_bound",
    "target_gap",
    "makespan_lower_bound",
    "cg_bound",
    "cg_objective",
    "cg_termination",
    "cg_time_s",
    "bound_by",
    "error",
)


@dataclass
class MipReport:
    """What one ``mip`` call did, phase by phase (times in seconds of wall clock).

    ``skipped``: phases left out or cut short because the time limit ended (one line each);
    ``error``: why the call ended in error, if it did.
    """

    target: str
    fixed: bool = False
    warm_start: str | None = None
    warm_start_objectives: dict[str, float | None] = field(default_factory=dict)
    heuristic_time_s: float = 0.0
    time_grid: float | None = None
    floor_passes_done: int = 0
    floor_time_s: float = 0.0
    time_indexed_vars: int = 0
    candidate_pairs: int = 0
    options_pruned: int = 0
    modes_pruned: int = 0
    cliques: int | None = None
    round_log: list[tuple[float, str, float | None, float | None]] = field(default_factory=list)
    rounds_added: list[int] = field(default_factory=list)
    solve_time_s: float = 0.0
    iterations: int = 0
    # rounds HiGHS answered with its MIP start's values under a better objective (re-run without start)
    start_returned: int = 0
    pairs: int = 0
    mip_objective: float | None = None
    polish_time_s: float = 0.0
    target_value: float | None = None
    target_bound: float | None = None
    target_gap: float | None = None
    # explicit form: the best valid makespan lower bound of solvers/bounds.py (critical path, work / processors)
    makespan_lower_bound: float | None = None
    # hand-over from cg (option cg_share; docs/mip.md): its bound, its incumbent's evaluated
    # objective, its termination and wall seconds; ``bound_by``: the method whose bound is reported
    # ("mip" or "cg"; None when no bound is reported or cg did not run)
    cg_bound: float | None = None
    cg_objective: float | None = None
    cg_termination: str | None = None
    cg_time_s: float | None = None
    bound_by: str | None = None
    skipped: list[str] = field(default_factory=list)
    error: str | None = None

    def as_info(self) -> dict[str, Any]:
        """The report as the free-form ``info`` dict, with the keys it always had.

        Empty lists and dicts are left out, and so are the optional fields while None (they used
        to be set only when they applied); the other fields are always present, None included.
        """
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if (isinstance(v, list | dict) and not v) or (v is None and f.name in OPTIONAL_INFO):
                continue
            out[f.name] = v
        return out
