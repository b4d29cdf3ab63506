"""Exact MIP solver (Pyomo model, HiGHS in memory): ``solve(instance, solver="mip", ...)``.

``model.py`` builds the formulation (docs/mip.md), ``structure.py`` derives the activity
network and valid time windows from the cost tables, ``solve.py`` runs HiGHS and reports.
"""

from offload_opt.solvers.mip.model import MipModel, Target
from offload_opt.solvers.mip.solve import solve_mip
from offload_opt.solvers.mip.structure import Structure

__all__ = ["MipModel", "Structure", "Target", "solve_mip"]
