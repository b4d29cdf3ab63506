"""What the MIP optimises for a call (``Target``) and how an evaluated solution scores on it."""

from __future__ import annotations

from offload_opt.costs import CostTables
from offload_opt.evaluator import Evaluation
from offload_opt.solvers.mip.model import Target


def make_target(costs: CostTables, max_mean_latency: float | None, min_mean_accuracy: float | None) -> Target:
    """The model's target: the instance's objective, or a side-constrained one.

    At most one limit and its range are checked by ``MipOptions``; here only that the
    instance's objective is a reward (the limits trade latency against accuracy).
    """
    kind = costs.objective.kind
    if max_mean_latency is None and min_mean_accuracy is None:
        return Target(kind)
    if kind != "reward":
        raise ValueError(f"max_mean_latency/min_mean_accuracy: need a reward objective, not {kind!r}")
    if max_mean_latency is not None:
        return Target("accuracy", float(max_mean_latency))
    assert min_mean_accuracy is not None
    return Target("latency", float(min_mean_accuracy))


def target_value(target: Target, ev: Evaluation, costs: CostTables) -> float:
    """The model's objective for an evaluated solution (equals the evaluator's for reward/makespan)."""
    if target.kind in ("reward", "makespan"):
        assert ev.objective is not None
        return ev.objective
    if target.kind == "accuracy":
        return costs.objective.accuracy_weight * sum(t.quality for t in ev.tasks)
    return sum(t.latency_s for t in ev.tasks)


def satisfies(target: Target, ev: Evaluation) -> bool:
    """Feasible for the evaluator and for the target's side constraint."""
    if not ev.feasible:
        return False
    n = len(ev.tasks)
    if target.kind == "accuracy":
        assert target.limit is not None
        return ev.mean_latency_s <= target.limit * (1 + 1e-9) + 1e-9 or n == 0
    if target.kind == "latency":
        assert target.limit is not None
        return ev.mean_quality >= target.limit * (1 - 1e-9) - 1e-12 or n == 0
    return True


def gap(target: Target, value: float, bound: float) -> float:
    diff = bound - value if target.sense == "max" else value - bound
    return max(0.0, diff) / max(abs(value), 1e-9)


def better(target: Target, a: float, b: float | None) -> bool:
    if b is None:
        return True
    return a > b if target.sense == "max" else a < b
