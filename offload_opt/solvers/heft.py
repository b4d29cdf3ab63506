"""HEFT and CPOP (Topcuoglu, Hariri & Wu, IEEE TPDS 13(3), 2002) on the shared insertion-based scheduler.

Both rank ops with the mean computation cost over an op's options and the
mean communication cost of each flow (``Engine.mean_transfer_s``):

- ``heft``: ops by decreasing upward rank; each op goes to the option (and
  slot) with the earliest finish time, inserted into the earliest idle gap.
- ``cpop``: priority = upward + downward rank; the ops on THE critical path
  all go to the one option minimising their summed computation cost (the
  critical-path processor), every other op to its earliest-finish option;
  ops are taken from a ready queue by decreasing priority. The paper's
  application is one DAG with a single entry and exit (zero-cost pseudo
  nodes join several), so it has one critical path: here the tasks'
  DAGs are joined that way and the critical path is that of the task with the
  highest entry priority. On a flexible job shop that is the one job chain of
  largest mean work, on one machine; the other jobs go op by op to their
  earliest finish. (Before, every task's critical path had its own
  critical-path processor, so every job's whole chain ran on one machine: not
  the published algorithm.) When no option can run every op of the path
  (a barred processor, which the paper does not have), the path's ops are
  scheduled by earliest finish too.

On the explicit-cost form these are the published algorithms (the
Topcuoglu sample DAG gives makespans 80 and 86). On wireless instances they
also run, treating each task's ops as DAG nodes: every task is done in the
``decompose`` mode where it has one (``mode="whole"`` to force the whole
mode) and the earliest finish of an op that produces the answer is the
answer's arrival at the owner's device. They ignore answer quality, so they
are latency-only reference points there, not reward maximisers.
"""

from __future__ import annotations

import heapq

from offload_opt.costs import SOURCE, CostTables
from offload_opt.solvers.options import HeftOptions
from offload_opt.solvers.output import SolverOutput
from offload_opt.solvers.timeline import RANK_DIGITS, Engine, Unit


def dag_modes(costs: CostTables, mode: str | None) -> list[int]:
    """Mode index per task: ``mode`` where the task has it, else its first mode (decompose preferred)."""
    out = []
    for t in costs.tasks:
        names = t.mode_index
        if mode is not None:
            if mode not in ("whole", "decompose", "dag"):
                raise ValueError(f"option mode: must be 'whole' or 'decompose', got {mode!r}")
            out.append(names.get(mode, 0))
        else:
            out.append(names.get("decompose", names.get("dag", 0)))
    return out


def heft_schedule(eng: Engine, modes: list[int]) -> list[Unit]:
    """Insertion-based HEFT over every task's ops; returns the priority order used."""
    units: list[tuple[float, int, int, int]] = []
    for ti, m in enumerate(modes):
        eng.begin(ti, m)
        rank = eng.upward_ranks(ti, m)
        topo = eng.info(ti, m).mode.topo_order
        for pos, i in enumerate(topo):
            units.append((-round(rank[i], RANK_DIGITS), ti, pos, i))
    units.sort()
    order = []
    for _, ti, _, i in units:
        eng.place_op(ti, i, eng.choose_option(ti, i, "eft"))
        order.append((ti, i))
    return order


def downward_ranks(eng: Engine, ti: int, m: int) -> list[float]:
    """rank_d(n) = max over data sources (rank_d(src) + mean duration(src) + mean transfer)."""
    mi = eng.info(ti, m)
    mode = mi.mode
    w = [sum(o.duration_s for o in op.options) / len(op.options) for op in mode.ops]
    rank = [0.0] * len(mode.ops)
    for i in mode.topo_order:
        best = 0.0
        for k, src in mi.in_flows[i]:
            c = eng.mean_transfer_s(ti, mi, k)
            best = max(best, c if src == SOURCE else rank[src] + w[src] + c)
        rank[i] = best
    return rank


def critical_path(eng: Engine, ti: int, m: int, priority: list[float]) -> list[int]:
    """SET_CP of the paper: from the highest-priority entry op, follow successors of equal priority."""
    mode = eng.info(ti, m).mode
    preds = [0] * len(mode.ops)
    succ: list[list[int]] = [[] for _ in mode.ops]
    for f in mode.flows:
        if f.src >= 0 and f.dst >= 0:
            preds[f.dst] += 1
            succ[f.src].append(f.dst)
    pr = [round(p, RANK_DIGITS) for p in priority]
    entries = [i for i in mode.topo_order if preds[i] == 0]
    n = max(entries, key=lambda i: pr[i])  # first entry on ties
    cp_len = pr[n]
    path = [n]
    while succ[n]:
        nxt = [s for s in succ[n] if pr[s] == cp_len]
        if not nxt:
            break
        n = nxt[0]
        path.append(n)
    return path


def cpop_schedule(eng: Engine, modes: list[int]) -> list[Unit]:
    """CPOP over the DAG of all tasks together; returns the order ops were placed in.

    The paper's graph has one entry and one exit node (zero-cost pseudo nodes
    join several); our tasks are independent DAGs joined that way, so there is
    ONE critical path: that of the task whose entry op has the highest priority
    (first task on ties). Its ops go to the critical-path processor, every
    other op (of that task and of all the others) to its earliest-finish option.
    """
    prio: dict[Unit, float] = {}
    waiting: dict[Unit, int] = {}
    succ: dict[Unit, list[Unit]] = {}
    ready: list[tuple[float, int, int, int]] = []
    topo_position: dict[Unit, int] = {}
    paths: list[tuple[float, int, list[int]]] = []  # (|CP| of the task, task, its critical path)
    for ti, m in enumerate(modes):
        eng.begin(ti, m)
        mode = eng.info(ti, m).mode
        up, down = eng.upward_ranks(ti, m), downward_ranks(eng, ti, m)
        priority = [u + d for u, d in zip(up, down, strict=True)]
        topo_pos = {i: p for p, i in enumerate(mode.topo_order)}
        for i in range(len(mode.ops)):
            topo_position[(ti, i)] = topo_pos[i]
            prio[(ti, i)] = priority[i]
            waiting[(ti, i)] = 0
            succ[(ti, i)] = []
        for f in mode.flows:
            if f.src >= 0 and f.dst >= 0:
                waiting[(ti, f.dst)] += 1
                succ[(ti, f.src)].append((ti, f.dst))
        path = critical_path(eng, ti, m, priority)
        paths.append((round(priority[path[0]], RANK_DIGITS), ti, path))
        for i in range(len(mode.ops)):
            if waiting[(ti, i)] == 0:
                ready.append((-round(priority[i], RANK_DIGITS), ti, topo_pos[i], i))
    cp_option = critical_path_options(eng, modes, paths)
    heapq.heapify(ready)
    order = []
    while ready:
        _, ti, _, i = heapq.heappop(ready)
        u = (ti, i)
        j = cp_option[u] if u in cp_option else eng.choose_option(ti, i, "eft")
        eng.place_op(ti, i, j)
        order.append(u)
        for s in succ[u]:
            waiting[s] -= 1
            if waiting[s] == 0:
                heapq.heappush(ready, (-round(prio[s], RANK_DIGITS), s[0], topo_position[s], s[1]))
    return order


def critical_path_options(
    eng: Engine, modes: list[int], paths: list[tuple[float, int, list[int]]]
) -> dict[Unit, int]:
    """Option per op of the one critical path (longest |CP|, first task on ties) on the critical-path processor.

    The critical-path processor is the (node, model) every op of the path can
    use with the least summed duration (first on ties). When no single one can
    run them all (a barred processor; the paper has none), the path's ops are
    scheduled like the others, by earliest finish: an empty result.
    """
    if not paths:
        return {}
    top = max(p[0] for p in paths)
    _, ti, path = next(p for p in paths if p[0] == top)
    mode = eng.info(ti, modes[ti]).mode
    labels: set[tuple[str, str | None]] | None = None
    for i in path:
        ls = {(o.node, o.model) for o in mode.ops[i].options}
        labels = ls if labels is None else labels & ls
    if not labels:
        return {}
    order_labels = [(o.node, o.model) for o in mode.ops[path[0]].options if (o.node, o.model) in labels]

    def total(lab: tuple[str, str | None]) -> float:
        return sum(next(o.duration_s for o in mode.ops[i].options if (o.node, o.model) == lab) for i in path)

    best = min(order_labels, key=total)  # first on ties
    return {
        (ti, i): next(j for j, o in enumerate(mode.ops[i].options) if (o.node, o.model) == best) for i in path
    }


def _run(name: str, schedule, costs: CostTables, options: HeftOptions) -> SolverOutput:
    modes = dag_modes(costs, options.mode)
    eng = Engine(costs)
    schedule(eng, modes)
    sol = eng.solution(name)
    info = {
        "scheduler": "insertion-based",
        "modes": sorted({costs.tasks[t].modes[m].name for t, m in enumerate(modes)}),
    }
    if not eng.deadlines_met():
        info["deadlines"] = "some deadline is missed"
    return SolverOutput(sol, "heuristic", claimed_objective=eng.objective(), info=info)


def solve_heft(
    costs: CostTables, *, time_limit_s: float | None, seed: int, options: HeftOptions
) -> SolverOutput:
    return _run("heft", heft_schedule, costs, options)


def solve_cpop(
    costs: CostTables, *, time_limit_s: float | None, seed: int, options: HeftOptions
) -> SolverOutput:
    return _run("cpop", cpop_schedule, costs, options)
