"""offload_opt: decide where LLM inference runs in a WiFi network, and prove how good that decision is.

Pipeline (each layer uses only layers before it; README.md, tests/test_architecture.py)::

    Instance -> physics -> generator -> CostTables -> Solution -> evaluate -> solvers -> plots -> experiments -> CLI
"""

from offload_opt._serde import InputError
from offload_opt.costs import CostTables, build_costs
from offload_opt.evaluator import Evaluation, evaluate
from offload_opt.generator import SCENARIOS, Scenario, generate
from offload_opt.instance import Instance
from offload_opt.solution import Solution

# `solvers()` (the registry listing) stays in offload_opt.solvers: re-exporting it here would
# shadow the subpackage attribute `offload_opt.solvers`.
from offload_opt.solvers import Result, solve

__version__ = "0.1.0"

__all__ = [
    "SCENARIOS",
    "CostTables",
    "Evaluation",
    "InputError",
    "Instance",
    "Result",
    "Scenario",
    "Solution",
    "build_costs",
    "evaluate",
    "generate",
    "solve",
    "__version__",
]
