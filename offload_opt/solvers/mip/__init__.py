"""Exact MIP solver (Pyomo model, HiGHS in memory): ``solve(instance, solver="mip", ...)``.

One file per phase: ``structure.py`` (activity network, windows' building blocks), ``targets.py``
(what is optimised), ``warm.py`` (warm start), ``windows.py`` (windows, LP floors), ``model.py``
(the formulation, docs/mip.md), ``highs.py`` (HiGHS options), ``mapping.py`` (solutions <-> variable
values, the fixed-model check), ``separation.py`` (conflicts -> rows), ``driver.py`` (the rounds),
``report.py`` (``MipReport``) and ``solve.py`` (one call under one time limit).
"""

from offload_opt.solvers.mip.model import MipModel, Target
from offload_opt.solvers.mip.report import MipReport
from offload_opt.solvers.mip.solve import solve_mip
from offload_opt.solvers.mip.structure import Structure

__all__ = ["MipModel", "MipReport", "Structure", "Target", "solve_mip"]
