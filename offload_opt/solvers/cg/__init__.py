"""Time-indexed column generation (docs/cg.md): ``solve(instance, solver="cg", ...)``.

``grid.py`` defines the time grid and the column space, ``pricing.py`` the exact pricing,
``master.py`` the restricted master (highspy), ``solve.py`` the driver and its options.
"""

from offload_opt.solvers.cg.grid import Column, ColumnSpace
from offload_opt.solvers.cg.solve import solve_cg
from offload_opt.solvers.options import CgOptions

__all__ = ["CgOptions", "Column", "ColumnSpace", "solve_cg"]
