"""Imports every built-in solver module so that each registers itself."""

# Each import registers solvers by name; add new solver modules here.
from offload_opt.solvers import baselines, cg, greedy, heft, local_search, mip  # noqa: F401
