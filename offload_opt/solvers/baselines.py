"""The paper's baselines (Han & Sun 2026, arXiv 2604.21399), on the shared insertion-based scheduler.

Every task is done whole (no decomposition; a task offered only another mode,
as the simulator offers a partially started task, is done in that mode, each
op on its best option); tasks are served first come, first served (by release
time, then task order), each placed against the timelines the earlier tasks
left:

- ``local-only``: on the owner's device, with its local model of best reward.
  A user with no local model cannot run anything locally: that task falls back
  to the ``nearest-edge`` rule, and ``info["fallback_nearest_edge"]`` lists it.
- ``nearest-edge``: on the AP with the strongest signal (highest SNR link of
  the owner; ties: the AP listed first), on that AP's default model (its first
  model server), on the slot where it starts earliest. SNR is read from the
  instance's links (``costs.instance``): it is the rule's definition, not a
  cost. A user who reaches no AP with a model server falls back to its best
  local model (``info["fallback_local"]``).
- ``best-single-mode``: the best of every whole-task option (local model, or
  any reachable (AP, model) and slot) by the task's exact reward against the
  current timelines.

On the explicit-cost form there is no device, AP or whole-task mode: the
baselines return no solution with ``termination="error"`` and a reason.
"""

from __future__ import annotations

from typing import Any

from offload_opt.costs import CostTables
from offload_opt.solvers.options import NoOptions
from offload_opt.solvers.output import SolverOutput
from offload_opt.solvers.timeline import Engine

EXPLICIT_REASON = "baselines need devices, APs and a whole-task mode; this is an explicit-cost instance"


def _fcfs(costs: CostTables) -> list[int]:
    return sorted(range(len(costs.tasks)), key=lambda t: (costs.tasks[t].release_s, t))


def _local_options(costs: CostTables, ti: int, m: int) -> list[int]:
    task = costs.tasks[ti]
    return [j for j, o in enumerate(task.modes[m].ops[0].options) if o.node == task.owner]


def _nearest_edge_option(costs: CostTables, ti: int, m: int) -> int | None:
    """First option (the AP's first model server) at the owner's highest-SNR AP that hosts a model."""
    task = costs.tasks[ti]
    assert task.owner is not None
    links = costs.instance.links_of_user[task.owner.split(":", 1)[1]]
    best, best_snr = None, -float("inf")
    for j, o in enumerate(task.modes[m].ops[0].options):
        kind, ap = o.node.split(":", 1)
        if kind != "ap":
            continue
        snr = links[ap].snr_db
        if snr > best_snr:  # strict: the first option of the first AP on ties (the AP's first server)
            best, best_snr = j, snr
    return best


def _fixed_mode(eng: Engine, ti: int) -> None:
    """A task offered no whole mode (the simulator re-planning a partially started task offers only
    its committed mode): its first mode, each op in topological order on its best-reward option."""
    eng.begin(ti, 0)
    for i in eng.tasks[ti].modes[0].topo_order:
        eng.place_op(ti, i, eng.choose_option(ti, i, "reward"))


def _run(name: str, costs: CostTables, rule: str) -> SolverOutput:
    if costs.instance.is_explicit:
        return SolverOutput(None, "error", info={"reason": EXPLICIT_REASON})
    eng, info = baseline_engine(costs, rule)
    return SolverOutput(eng.solution(name), "heuristic", claimed_objective=eng.objective(), info=info)


RULES = {"local-only": "local", "nearest-edge": "edge", "best-single-mode": "best"}  # solver name -> rule


def baseline_engine(costs: CostTables, rule: str) -> tuple[Engine, dict[str, Any]]:
    """The baseline ``rule`` ("local", "edge" or "best") placed on an Engine, tasks first come, first
    served (each task's ops in topological order), and its ``info``; wireless form only. The solvers
    build their solution from it; ``starts.build_start`` keeps the engine itself as a start."""
    eng = Engine(costs)
    info: dict[str, Any] = {"scheduler": "insertion-based", "order": "fcfs (release time)"}
    fallback_edge: list[str] = []
    fallback_local: list[str] = []
    for ti in _fcfs(costs):
        task = costs.tasks[ti]
        m = task.mode_index.get("whole")
        if m is None:  # a task whose mode is already fixed (a partially started task in the simulator)
            _fixed_mode(eng, ti)
            continue
        eng.begin(ti, m)
        if rule == "local":
            allowed = _local_options(costs, ti, m)
            if allowed:
                j = eng.choose_option(ti, 0, "reward", allowed)
            else:
                fallback_edge.append(task.id)
                edge = _nearest_edge_option(costs, ti, m)
                assert edge is not None  # the instance guarantees a local model or a reachable server
                j = edge
        elif rule == "edge":
            edge = _nearest_edge_option(costs, ti, m)
            if edge is None:
                fallback_local.append(task.id)
                j = eng.choose_option(ti, 0, "reward", _local_options(costs, ti, m))
            else:
                j = edge
        else:
            j = eng.choose_option(ti, 0, "reward")
        eng.place_op(ti, 0, j)
    if fallback_edge:
        info["fallback_nearest_edge"] = fallback_edge
    if fallback_local:
        info["fallback_local"] = fallback_local
    if not eng.deadlines_met():
        info["deadlines"] = "some deadline is missed"
    return eng, info


def solve_local_only(
    costs: CostTables, *, time_limit_s: float | None, seed: int, options: NoOptions
) -> SolverOutput:
    return _run("local-only", costs, "local")


def solve_nearest_edge(
    costs: CostTables, *, time_limit_s: float | None, seed: int, options: NoOptions
) -> SolverOutput:
    return _run("nearest-edge", costs, "edge")


def solve_best_single_mode(
    costs: CostTables, *, time_limit_s: float | None, seed: int, options: NoOptions
) -> SolverOutput:
    return _run("best-single-mode", costs, "best")
