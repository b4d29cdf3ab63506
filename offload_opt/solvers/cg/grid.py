"""The time grid and the column space of the time-indexed relaxation (docs/cg.md).

Time is cut into periods of ``grid_s`` seconds; period ``tau`` is ``[tau * g, (tau + 1) * g)``.
A **column** of task t is a mode, an option per op and a start period per op. Every real
schedule maps to one column per task (``column_of_schedule``): the period of each op's
start. The column space keeps only constraints that every real schedule satisfies:

- op k starts no earlier than ``floor(h_k / g)`` where ``h_k`` is its contention-free head for
  the column's option combination (release, backlog, incoming transfers, predecessors);
- along the edges of an in-tree of the mode's precedence DAG (each op keeps the edge to one
  successor: its first child subtask, else the aggregation), ``tau_b >= tau_a + floor((p_a +
  d_ab) / g)`` with ``d_ab`` the transfer between the two options' nodes;
- the column's latency lower bound ``max(tau_F g, h_F) + p_F + d_out - release`` (F the op that
  sends the answer) is at most the task's latest completion (deadline, or the incumbent's
  reward floor), and the column's reward uses this lower bound, so it is >= the true reward.

A column occupies, on the resource group of each op's option (a device: capacity 1; a
k-slot model server: capacity k), the periods ``[tau, tau + floor(p / g) - 1]``: an op that
starts in period tau and runs p seconds is active at the end of each of these periods, so at
most ``capacity`` of them share a period. Channels are left out (valid: dropping a resource
only enlarges the feasible set; airtime is milliseconds here, so little is lost). A channel busy
with committed transfers (``Channel.busy_until_s``) delays the start of every transfer on it: the
heads count it for an op's inputs (an input arrives no earlier than the channel's ready time plus
its airtime, true in every schedule), not for the answer's way back (left out, so still a lower
bound); the precedence lags keep the transfer's duration only; the horizon (``generic_horizon``) counts it as a ready
time, so every solution still maps into the column space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from offload_opt.costs import SINK, SOURCE, CostTables
from offload_opt.evaluator import Evaluation
from offload_opt.solution import Assignment, op_key

FLOOR_EPS = 1e-9  # periods are floored with this slack so that rounding never overstates a bound
ENUMERATION_LIMIT = 500_000  # option combinations of one mode held in memory


def periods_of(seconds: float | np.ndarray, grid_s: float) -> np.ndarray:
    """floor(seconds / grid_s), lowered by FLOOR_EPS so that a rounding error never rounds up."""
    return np.floor(np.asarray(seconds, dtype=float) / grid_s - FLOOR_EPS).astype(np.int64)


@dataclass(frozen=True)
class Column:
    """One column: a task's mode, option and start period per op, reward and occupation."""

    task: int
    mode: int
    options: tuple[int, ...]
    periods: tuple[int, ...]
    reward: float
    occupancy: tuple[tuple[int, int, int], ...]  # (group, first period, number of periods) per op


@dataclass
class ModeSpace:
    """Every allowed option combination of one (task, mode), with its per-combination data."""

    task: int
    mode: int
    n_ops: int
    combos: np.ndarray  # (N, n_ops) option indices
    quality: np.ndarray  # (N,)
    head_s: np.ndarray  # (N, n_ops) contention-free head of every op
    earliest: np.ndarray  # (N, n_ops) earliest start period
    final_op: int
    final_dur_s: np.ndarray  # (N,) duration of the final op
    out_s: np.ndarray  # (N,) the answer's transfer back to the owner
    latency_max_s: np.ndarray  # (N,) largest latency lower bound a kept column may have
    edges: list[tuple[int, int]]  # in-tree edges (a, b): b's start period waits for a
    lags: dict[tuple[int, int], np.ndarray]  # (a, b) -> (N,) lag in periods
    group: list[np.ndarray]  # per op: group index of each option
    n_periods: list[np.ndarray]  # per op: occupied periods of each option
    topo: tuple[int, ...]
    preds: dict[int, list[int]] = field(default_factory=dict)  # in-tree predecessors of each op

    @property
    def size(self) -> int:
        return int(self.combos.shape[0])


@dataclass
class ColumnSpace:
    """The grid, the resource groups with their capacities, and every task's mode spaces."""

    costs: CostTables
    grid_s: float
    horizon: int  # number of periods
    groups: list[tuple[str, ...]]
    capacity: np.ndarray  # (G,)
    modes: list[list[ModeSpace]]  # per task
    latest_s: list[float]  # per task: latest completion (absolute seconds) a kept solution has

    @classmethod
    def build(
        cls,
        costs: CostTables,
        grid_s: float,
        latest_s: list[float],
        reward_floor: list[float] | None = None,
        allowed: dict[tuple[int, int, int], list[bool]] | None = None,
        mode_allowed: dict[tuple[int, int], bool] | None = None,
    ) -> ColumnSpace:
        """The column space on a grid of ``grid_s`` seconds.

        ``latest_s[t]``: no kept solution completes task t later (absolute seconds);
        ``reward_floor[t]``: every kept solution gives task t at least this reward;
        ``allowed[(t, m, k)]`` / ``mode_allowed[(t, m)]``: options / modes a kept solution may use.
        Columns outside these limits are left out: the bound then holds for every solution the
        limits keep (for the optimum, when they come from an incumbent, docs/cg.md).
        """
        if not (math.isfinite(grid_s) and grid_s > 0):
            raise ValueError(f"option: grid must be a number of seconds > 0, got {grid_s!r}")
        obj = costs.objective
        wa, wl = obj.accuracy_weight, obj.latency_weight_per_s
        groups: dict[tuple[str, ...], int] = {}
        horizon_s = max(latest_s) if latest_s else 0.0
        if not math.isfinite(horizon_s):
            raise ValueError("instance: no finite horizon (the cg solver needs a latency weight > 0)")
        horizon = int(math.ceil(horizon_s / grid_s)) + 1
        all_modes: list[list[ModeSpace]] = []
        for ti, task in enumerate(costs.tasks):
            r = task.release_s
            lat_limit = latest_s[ti] - r
            if task.deadline_s is not None:
                lat_limit = min(lat_limit, task.deadline_s * (1 + 1e-9) + 1e-9)
            spaces = []
            for mi, mode in enumerate(task.modes):
                if mode_allowed is not None and not mode_allowed.get((ti, mi), True):
                    continue
                n = len(mode.ops)
                lists = []
                for k, op in enumerate(mode.ops):
                    ok = allowed.get((ti, mi, k)) if allowed is not None else None
                    lists.append([o for o in range(len(op.options)) if ok is None or ok[o]])
                if any(not x for x in lists):
                    continue
                if math.prod(len(x) for x in lists) > ENUMERATION_LIMIT:
                    raise ValueError(
                        f"tasks[{ti}].modes[{mode.name}]: {math.prod(len(x) for x in lists)} option "
                        f"combinations, more than the cg solver enumerates ({ENUMERATION_LIMIT})"
                    )
                mesh = np.meshgrid(*[np.asarray(x, dtype=np.int64) for x in lists], indexing="ij")
                combos = np.stack([m.reshape(-1) for m in mesh], axis=1)
                nodes = [[o.node for o in op.options] for op in mode.ops]
                dur = [np.array([o.duration_s for o in op.options]) for op in mode.ops]
                head = np.zeros(combos.shape, dtype=float)
                edge_d: dict[tuple[int, int], np.ndarray] = {}
                final_op, out_s = -1, np.zeros(len(combos))
                for k in mode.topo_order:
                    ok_ = combos[:, k]
                    ready = np.array([max(r, o.ready_s) for o in mode.ops[k].options])
                    h = ready[ok_]
                    for fi in mode.in_flows[k]:
                        f = mode.flows[fi]
                        if f.src == SOURCE:
                            assert task.owner is not None
                            trs = [costs.transfer(f, task.owner, x) for x in nodes[k]]
                            # a busy channel (Transfer.ready_s) delays the input's start: still a lower bound
                            arrive = np.array([max(r, t.ready_s) + t.duration_s for t in trs])
                            h = np.maximum(h, arrive[ok_])
                        else:
                            p = f.src
                            tm = [[costs.transfer(f, a, b) for b in nodes[k]] for a in nodes[p]]
                            dm = np.array([[t.duration_s for t in row] for row in tm])
                            rm = np.array([[t.ready_s for t in row] for row in tm])
                            dd = dm[combos[:, p], ok_]
                            edge_d[(p, k)] = dd  # the lag keeps the duration only (valid without the wait)
                            done = head[:, p] + dur[p][combos[:, p]]
                            h = np.maximum(h, np.maximum(done, rm[combos[:, p], ok_]) + dd)
                    head[:, k] = h
                for f in mode.flows:
                    if f.dst == SINK:
                        assert task.owner is not None
                        if final_op >= 0:
                            raise ValueError(f"tasks[{ti}].modes[{mode.name}]: more than one answer flow")
                        final_op = f.src
                        d = np.array([costs.transfer(f, x, task.owner).duration_s for x in nodes[f.src]])
                        out_s = d[combos[:, f.src]]
                if final_op < 0:
                    raise ValueError(f"tasks[{ti}].modes[{mode.name}]: no answer flow (explicit form)")
                quality = np.ones(len(combos))
                qs = [np.array([o.quality for o in op.options]) for op in mode.ops]
                agg = next((k for k, op in enumerate(mode.ops) if op.is_aggregation), None)
                for k in range(n):  # the one composition rule (costs.task_quality), vectorised
                    quality = quality * qs[k][combos[:, k]]
                if agg is not None:  # guard: task_quality must agree on the first combination
                    opts0 = [mode.ops[k].options[combos[0, k]] for k in range(n)]
                    assert abs(costs.task_quality(mode, opts0) - quality[0]) < 1e-12
                final_dur = dur[final_op][combos[:, final_op]]
                lat_cf = head[:, final_op] + final_dur + out_s - r
                lat_max = np.full(len(combos), lat_limit)
                if reward_floor is not None and wl > 0:
                    lat_max = np.minimum(lat_max, (wa * quality - reward_floor[ti]) / wl)
                lat_max = lat_max + 1e-9 * np.maximum(1.0, np.abs(lat_max))
                keep = lat_cf <= lat_max
                if not keep.any():
                    continue
                combos, quality, head = combos[keep], quality[keep], head[keep]
                out_s, final_dur, lat_max = out_s[keep], final_dur[keep], lat_max[keep]
                edge_d = {e: v[keep] for e, v in edge_d.items()}
                # the in-tree: each op keeps the edge to one successor (first child, else the final op)
                succ: dict[int, int] = {}
                for f in mode.flows:
                    if f.src >= 0 and f.dst >= 0 and f.src not in succ:
                        succ[f.src] = f.dst
                for a, b in list(succ.items()):
                    children = [f.dst for f in mode.flows if f.src == a and f.dst >= 0 and f.dst != final_op]
                    succ[a] = children[0] if children else b
                edges = sorted(succ.items())
                lags = {(a, b): periods_of(dur[a][combos[:, a]] + edge_d[(a, b)], grid_s) for a, b in edges}
                group = []
                nper = []
                for op in mode.ops:
                    gi = []
                    for o in op.options:
                        gi.append(groups.setdefault(o.resources, len(groups)))
                    group.append(np.array(gi, dtype=np.int64))
                    nper.append(
                        np.maximum(0, periods_of(np.array([o.duration_s for o in op.options]), grid_s))
                    )
                preds: dict[int, list[int]] = {k: [] for k in range(n)}
                for a, b in edges:
                    preds[b].append(a)
                spaces.append(
                    ModeSpace(
                        ti,
                        mi,
                        n,
                        combos,
                        quality,
                        head,
                        np.maximum(0, periods_of(head, grid_s)),
                        final_op,
                        final_dur,
                        out_s,
                        lat_max,
                        edges,
                        lags,
                        group,
                        nper,
                        mode.topo_order,
                        preds,
                    )
                )
            all_modes.append(spaces)
        capacity = np.array([len(g) for g in groups], dtype=float)
        return cls(costs, grid_s, horizon, list(groups), capacity, all_modes, list(latest_s))

    # -- columns --

    def latency_lb_s(self, ms: ModeSpace, row: int, final_period: int) -> float:
        """The column's latency lower bound for combination ``row`` with the final op in that period."""
        r = self.costs.tasks[ms.task].release_s
        return (
            max(final_period * self.grid_s, float(ms.head_s[row, ms.final_op]))
            + float(ms.final_dur_s[row])
            + float(ms.out_s[row])
            - r
        )

    def make_column(self, ms: ModeSpace, row: int, periods: tuple[int, ...]) -> Column:
        obj = self.costs.objective
        lat = self.latency_lb_s(ms, row, periods[ms.final_op])
        reward = obj.accuracy_weight * float(ms.quality[row]) - obj.latency_weight_per_s * lat
        occ = []
        for k in range(ms.n_ops):
            o = int(ms.combos[row, k])
            first = periods[k]
            count = max(0, min(int(ms.n_periods[k][o]), self.horizon - first))
            occ.append((int(ms.group[k][o]), first, count))
        return Column(ms.task, ms.mode, tuple(int(x) for x in ms.combos[row]), periods, reward, tuple(occ))

    def find_row(self, ms: ModeSpace, options: tuple[int, ...]) -> int | None:
        hit = np.flatnonzero((ms.combos == np.asarray(options)).all(axis=1))
        return int(hit[0]) if len(hit) else None

    def in_space(self, ms: ModeSpace, row: int, periods: tuple[int, ...]) -> bool:
        """True when these start periods satisfy every rule of the column space."""
        if any(p < ms.earliest[row, k] or p >= self.horizon or p < 0 for k, p in enumerate(periods)):
            return False
        for a, b in ms.edges:
            if periods[b] < periods[a] + ms.lags[(a, b)][row]:
                return False
        return self.latency_lb_s(ms, row, periods[ms.final_op]) <= ms.latency_max_s[row]

    def mode_space(self, task: int, mode: int) -> ModeSpace | None:
        return next((ms for ms in self.modes[task] if ms.mode == mode), None)

    def column_of_schedule(
        self, task: int, assignment: Assignment, evaluation: Evaluation
    ) -> tuple[Column | None, str]:
        """The column of an evaluated schedule's task (start periods floored), or None and why not."""
        ms = self.mode_space(task, assignment.mode)
        if ms is None:
            return None, "mode not in the space"
        row = self.find_row(ms, tuple(assignment.options))
        if row is None:
            return None, "option combination not in the space"
        tc = self.costs.tasks[task]
        mode = tc.modes[assignment.mode]
        starts = [evaluation.schedule[op_key(tc.id, op.name)].start_s for op in mode.ops]
        # the period an op starts in, floored without slack: its occupation claim is about the
        # period that really holds its start (earliest periods and lags carry the slack instead)
        periods = tuple(int(x) for x in np.floor(np.array(starts) / self.grid_s).astype(np.int64))
        if not self.in_space(ms, row, periods):
            return None, "periods outside the space"
        return self.make_column(ms, row, periods), ""
