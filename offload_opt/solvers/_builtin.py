"""Imports every built-in solver module so that each registers itself."""

# Each import registers solvers by name; add new solver modules here.
from offload_opt.solvers import alns, baselines, greedy, heft, local_search, mip  # noqa: F401
