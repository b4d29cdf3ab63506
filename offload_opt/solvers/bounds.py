"""Valid lower bounds on the makespan of an explicit-cost instance (no solver needed).

Every bound relaxes the problem and is therefore below or equal to every
feasible makespan:

- ``critical_path``: per op, ``head + min duration + tail``, where the head is
  the job's release plus the longest chain of minimum durations before the op
  and the tail the longest chain after it. An edge's transfer cost counts only
  when the two ops share no allowed processor (else they may sit together and
  pay nothing).
- ``work``: all minimum durations must fit on the processors after the
  earliest head and before the smallest tail: ``min head + sum(min duration) /
  processors + min tail`` (the "total work over processors" bound, sharpened
  by heads and tails as in Carlier's one-machine bound).
- ``eligible_sets``: the same over each set ``E`` of processors that some op is
  restricted to: the ops that can run only inside ``E`` need ``sum / |E|`` of
  those processors' time (barred processors, ``null`` durations, make this
  stronger than ``work``; Brandimarte / Hurink flexible job shop).
- ``job``: a job's ops all need processing after its release, in chain order
  for a chain; covered by ``critical_path``.

With integral data every makespan is integral, so ``best`` is rounded up.
The MIP can use ``best`` as the lower bound of its makespan variable and stop
as soon as an incumbent equals it (the lead wires this in).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from offload_opt.costs import CostTables

EPS = 1e-9


@dataclass(frozen=True)
class MakespanBounds:
    """Each lower bound (s) and the best of them; ``integral``: all data whole numbers, best rounded up."""

    critical_path_s: float
    work_s: float
    eligible_sets_s: float
    integral: bool

    @property
    def best_s(self) -> float:
        raw = max(self.critical_path_s, self.work_s, self.eligible_sets_s)
        return float(math.ceil(raw - EPS)) if self.integral else raw


def _is_integral(values: list[float]) -> bool:
    return all(abs(v - round(v)) <= EPS for v in values)


def heads_tails(costs: CostTables) -> tuple[dict[tuple[int, int], float], dict[tuple[int, int], float]]:
    """Per op ``(task index, op index)``: head (earliest possible start) and tail (time needed after its end)."""
    heads: dict[tuple[int, int], float] = {}
    tails: dict[tuple[int, int], float] = {}
    for ti, task in enumerate(costs.tasks):
        mode = task.modes[0]
        dmin = [min(o.duration_s for o in op.options) for op in mode.ops]
        nodes = [{o.node for o in op.options} for op in mode.ops]
        succ: dict[int, list[tuple[int, float]]] = {i: [] for i in range(len(mode.ops))}
        pred: dict[int, list[tuple[int, float]]] = {i: [] for i in range(len(mode.ops))}
        for f in mode.flows:
            if f.src < 0 or f.dst < 0:
                continue
            lag = f.size if not (nodes[f.src] & nodes[f.dst]) else 0.0
            succ[f.src].append((f.dst, lag))
            pred[f.dst].append((f.src, lag))
        order = list(mode.topo_order)
        head = {i: task.release_s for i in order}
        for i in order:
            for p, lag in pred[i]:
                head[i] = max(head[i], head[p] + dmin[p] + lag)
        tail = {i: 0.0 for i in order}
        for i in reversed(order):
            for s, lag in succ[i]:
                tail[i] = max(tail[i], lag + dmin[s] + tail[s])
        for i in order:
            heads[ti, i] = head[i]
            tails[ti, i] = tail[i]
    return heads, tails


def makespan_bounds(costs: CostTables) -> MakespanBounds:
    """All the bounds of the module docstring for an explicit-cost instance (ValueError for others)."""
    if costs.instance.explicit is None:
        raise ValueError("bounds: makespan bounds are for explicit-cost instances")
    heads, tails = heads_tails(costs)
    ops = []  # (head, tail, min duration, allowed nodes)
    values: list[float] = []
    for ti, task in enumerate(costs.tasks):
        mode = task.modes[0]
        values.append(task.release_s)
        values.extend(f.size for f in mode.flows)
        for i, op in enumerate(mode.ops):
            values.extend(o.duration_s for o in op.options)
            dmin = min(o.duration_s for o in op.options)
            ops.append((heads[ti, i], tails[ti, i], dmin, frozenset(o.node for o in op.options)))
    critical = max(h + d + t for h, t, d, _ in ops)
    n_proc = len(costs.instance.explicit.processors)
    work = min(h for h, *_ in ops) + sum(d for _, _, d, _ in ops) / n_proc + min(t for _, t, _, _ in ops)
    best_set = 0.0
    for allowed in {e for *_, e in ops}:
        inside = [(h, t, d) for h, t, d, e in ops if e <= allowed]
        value = (
            min(h for h, _, _ in inside)
            + sum(d for *_, d in inside) / len(allowed)
            + min(t for _, t, _ in inside)
        )
        best_set = max(best_set, value)
    return MakespanBounds(critical, work, best_set, _is_integral(values))


def makespan_lower_bound(costs: CostTables) -> float:
    """The best valid makespan lower bound (s) of ``makespan_bounds``."""
    return makespan_bounds(costs).best_s
