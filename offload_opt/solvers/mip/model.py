"""The Pyomo model: one builder class, one private method per constraint family.

The formulation is written out, with the evaluator rule each family encodes,
in docs/mip.md. Summary of the variables:

- ``mode[t, m]``: task t runs in mode m;
- ``place[i, o]``: op activity i runs on option o (node, model);
- ``slot[i, o, s]``: ... on slot s of a multi-slot model server (identical slots; only without
  ``capacity``, which treats such a server as one resource running k ops at once);
- ``route[i, r]``: flow activity i between two ops goes along route r (its two end nodes);
  flows from the owner's device (SOURCE) or to it (SINK) follow the placement of their op;
- ``before[i, j]``: i ends before j starts on a resource they share (ordered pairs);
- ``start[i]``: homogenised start of activity i (its start when its mode is chosen, else 0);
  its end is ``start[i] + duration(i)``, the duration linear in ``place`` / ``route``;
  ``start_on[i, o]``: the same split by option (0 unless op i is on option o);
- ``done[t]``: completion of task t (arrival of the final answer), latency = done - release;
  ``done_mode[t, m]``: the same for mode m, homogenised (done = sum over modes);
- ``chain[i, o]`` / quality ``z``: exact product of the chosen options' qualities.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pyomo.environ as pyo

from offload_opt.costs import CostTables
from offload_opt.solution import Solution, decisions_to_assignments, sequences_dict
from offload_opt.solvers.mip.structure import Structure, Windows

Pair = tuple[int, int]
EPS = 1e-9  # seconds: two activities closer than this do not overlap


class OutOfTime(Exception):
    """The call's time limit ended during a phase that cannot return a partial result (a model build)."""


def server_key(resources: tuple[str, ...]) -> str:
    """One name for the identical slots of a model server ("srv:ap0:m" for "srv:ap0:m:0", ...)."""
    return resources[0].rsplit(":", 1)[0]


SERVER_TANGENTS = 12  # tangent cuts per server of the weighted (Queyranne-type) load inequality
SERVER_THRESHOLDS = 4  # ready-time thresholds per server for the weighted load inequality
TIME_INDEX_MAX_VARS = 40_000  # larger models (the L set: 280k+) leave the time-indexed relaxation out


@dataclass(frozen=True)
class Target:
    """What the model optimises.

    ``kind``: ``reward`` (evaluator objective, max), ``makespan`` (evaluator objective, min),
    ``accuracy`` (max sum of accuracy_weight * quality s.t. mean latency <= ``limit``) or
    ``latency`` (min total latency s.t. mean quality >= ``limit``).
    """

    kind: str = "reward"
    limit: float | None = None

    @property
    def sense(self) -> str:
        return "max" if self.kind in ("reward", "accuracy") else "min"


class MipModel:
    """Builds the MIP of one instance over a ``Structure`` with valid ``Windows``.

    ``fixed``: a solution whose decisions (modes, options, slots) are fixed and whose resource
    sequences become precedence constraints; the model is then an LP whose least schedule is the
    evaluator's. Otherwise resource conflicts are ordered for the pairs given to ``add_pairs``.
    ``deadline`` (``time.perf_counter()`` seconds): the build stops with ``OutOfTime`` between two
    constraint families once it has passed (the call's time limit covers the build).
    """

    def __init__(
        self,
        structure: Structure,
        windows: Windows,
        target: Target,
        *,
        fixed: Solution | None = None,
        reward_cut: list[float] | None = None,
        symmetry: bool = True,
        server_cuts: bool = True,
        bound_cuts: bool = True,
        capacity: bool = False,
        time_grid: float | None = None,
        deadline: float | None = None,
    ):
        self.st = structure
        self.costs: CostTables = structure.costs
        self.win = windows
        self.target = target
        self.fixed = fixed
        self.reward_cut = reward_cut
        self.symmetry = symmetry and fixed is None
        self.server_cuts = server_cuts
        self.time_grid = time_grid
        self.bound_cuts = bound_cuts
        self.capacity = capacity and fixed is None
        self.m = pyo.ConcreteModel(name="offload_opt")
        self.pairs: set[Pair] = set()
        self.cliques: set[tuple[str, tuple[int, ...]]] = set()
        self.limit: dict[str, int] = {}  # resource -> how many activities it runs at once
        steps = [
            self._index,
            self._windows,
            self._variables,
            self._resource_terms,
            self._select_one_mode,
            self._assign_ops,
            self._assign_slots,
            self._break_slot_symmetry,
            self._route_flows,
            self._quality_chain,
            self._release_and_ready,
            self._server_load,
        ]
        if time_grid and fixed is None:
            steps.append(self._time_indexed)
        steps += [
            self._precedence,
            self._completion,
            self._contention_free_bounds,
            self._per_task_reward_cut,
            self._objective,
        ]
        for step in steps:
            if deadline is not None and time.perf_counter() > deadline:
                raise OutOfTime(
                    f"mip: the time limit ended while building the model (before {step.__name__})"
                )
            step()
        if fixed is not None:
            self._fix_to(fixed)

    # ------------------------------------------------------------------ indexing

    def _index(self) -> None:
        st, win = self.st, self.win
        self.modes = [(ti, mi) for (ti, mi), ok in win.mode_allowed.items() if ok]
        self.live = [i for (ti, mi) in self.modes for i in st.mode_acts[(ti, mi)]]
        self.live_set = set(self.live)
        self.ops = [i for i in self.live if st.acts[i].kind == "op"]
        self.flows = [i for i in self.live if st.acts[i].kind == "flow"]
        self.opts: dict[int, list[int]] = {}  # allowed option indices per op
        for i in self.ops:
            self.opts[i] = [o for o, ok in enumerate(win.allowed[i]) if ok]
        # every (op, option) that may run on each resource group (a server's identical slots, a device)
        self.groups: dict[tuple[str, ...], list[tuple[int, int]]] = defaultdict(list)
        for i in self.ops:
            for o in self.opts[i]:
                self.groups[self._option(i, o).resources].append((i, o))
        self.node_opts: dict[tuple[int, str], list[int]] = defaultdict(list)
        for i in self.ops:
            options = st.op_of(st.acts[i]).options
            for o in self.opts[i]:
                self.node_opts[(i, options[o].node)].append(o)
        # routes of every flow that remain possible with the allowed options
        self.routes: dict[int, list[int]] = {}
        for i in self.flows:
            a = st.acts[i]
            keep = []
            for r, rt in enumerate(a.routes):
                if a.src >= 0 and (a.src, rt.src_node) not in self.node_opts:
                    continue
                if a.dst >= 0 and (a.dst, rt.dst_node) not in self.node_opts:
                    continue
                keep.append(r)
            self.routes[i] = keep
        n_modes: dict[int, int] = defaultdict(int)
        for ti, _ in self.modes:
            n_modes[ti] += 1
        self.multi = {ti: n_modes[ti] > 1 for ti in range(len(self.costs.tasks))}
        self.slot_index = [
            (i, o, s)
            for i in self.ops
            for o in self.opts[i]
            if len(self._option(i, o).resources) > 1 and not self.capacity
            for s in range(len(self._option(i, o).resources))
        ]
        self.route_index = [
            (i, r)
            for i in self.flows
            if self.st.acts[i].src >= 0 and self.st.acts[i].dst >= 0
            for r in self.routes[i]
        ]

    def _option(self, i: int, o: int):
        return self.st.op_of(self.st.acts[i]).options[o]

    # ------------------------------------------------------------------ variables

    def _variables(self) -> None:
        m, win = self.m, self.win
        m.mode = pyo.Var(self.modes, domain=pyo.Binary)
        for ti, mi in self.modes:
            if not self.multi[ti]:
                m.mode[ti, mi].fix(1)
        m.place = pyo.Var([(i, o) for i in self.ops for o in self.opts[i]], domain=pyo.Binary)
        m.slot = pyo.Var(self.slot_index, domain=pyo.Binary)
        m.route = pyo.Var(self.route_index, bounds=(0, 1))
        # homogenised start: the start time when the activity's mode is chosen, 0 otherwise
        m.start = pyo.Var(
            self.live,
            bounds=lambda _m, i: (0.0 if self.multi[self.st.acts[i].task] else self.est[i], self.lst[i]),
        )
        n = len(self.costs.tasks)
        m.done = pyo.Var(
            range(n), bounds=lambda _m, t: (self.costs.tasks[t].release_s, win.latest_completion[t])
        )
        m.cons = pyo.ConstraintList()
        m.pair_cons = pyo.ConstraintList()
        m.fix_cons = pyo.ConstraintList()
        m.before = pyo.Var(pyo.Any, domain=pyo.Binary, dense=False)
        m.content_cons = pyo.ConstraintList()
        self.content_keys: set[frozenset] = set()

    def _windows(self) -> None:
        """Earliest start, latest start and latest completion of every live activity (its mode chosen)."""
        st, win = self.st, self.win
        self.est: dict[int, float] = {}
        self.lst: dict[int, float] = {}
        self.lct: dict[int, float] = {}
        for i in self.live:
            a = st.acts[i]
            latest = win.latest_completion[a.task]
            if a.kind == "op":
                est = min(win.head[i][o] for o in self.opts[i])
                lct = latest - min(win.tail[i][o] for o in self.opts[i])
                lst = max(latest - win.tail[i][o] - self._option(i, o).duration_s for o in self.opts[i])
            else:
                est = win.flow_head[i]
                lct = latest - win.flow_tail[i]
                lst = lct - min(a.routes[r].duration_s for r in self.routes[i])
            est = max(est, self.costs.tasks[a.task].release_s)
            self.est[i] = est
            self.lst[i] = max(est, lst)
            self.lct[i] = max(est, lct)

    def _option_window(self, i: int, o: int) -> tuple[float, float]:
        """Earliest and latest start of op i on option o."""
        latest = self.win.latest_completion[self.st.acts[i].task]
        lo = max(self.est[i], self.win.head[i][o])
        hi = latest - self.win.tail[i][o] - self._option(i, o).duration_s
        return lo, max(lo, min(hi, self.lst[i]))

    # ------------------------------------------------------------------ expressions

    def _add(self, expr) -> None:
        """Add a constraint; one that constants already decide is skipped (true) or infeasible (false)."""
        if isinstance(expr, bool):
            if not expr:
                self.m.cons.add(pyo.Constraint.Infeasible)
            return
        self.m.cons.add(expr)

    def mode_on(self, ti: int, mi: int):
        """1 when task ti runs in mode mi (a constant 1 for a task with one mode)."""
        return self.m.mode[ti, mi] if self.multi[ti] else 1

    def node_on(self, i: int, node: str):
        """1 when op i runs on ``node`` (linear in ``place``)."""
        return sum(self.m.place[i, o] for o in self.node_opts.get((i, node), ()))

    def route_weight(self, i: int, r: int):
        """1 when flow i follows route r."""
        a = self.st.acts[i]
        rt = a.routes[r]
        if a.src >= 0 and a.dst >= 0:
            return self.m.route[i, r]
        if a.src >= 0:  # to the owner's device
            return self.node_on(a.src, rt.src_node)
        return self.node_on(a.dst, rt.dst_node)  # from the owner's device

    def duration(self, i: int):
        """Duration of activity i (0 when its mode is not chosen)."""
        a = self.st.acts[i]
        if a.kind == "op":
            return sum(self._option(i, o).duration_s * self.m.place[i, o] for o in self.opts[i])
        return sum(
            a.routes[r].duration_s * self.route_weight(i, r)
            for r in self.routes[i]
            if a.routes[r].duration_s != 0.0
        )

    def end(self, i: int):
        """Homogenised end of activity i: its end when its mode is chosen, 0 otherwise."""
        return self.m.start[i] + self.duration(i)

    def start_or_earliest(self, j: int):
        """The start of j when its mode is chosen, its earliest start otherwise."""
        a = self.st.acts[j]
        if not self.multi[a.task]:
            return self.m.start[j]
        return self.m.start[j] + self.est[j] * (1 - self.m.mode[a.task, a.mode])

    def on_resource(self, i: int) -> tuple[dict[str, list], dict[str, int]]:
        """Resource -> terms whose sum is 1 when activity i uses that resource, and each resource's limit.

        With ``capacity``, a model server with k identical slots is one resource running k ops at
        once (``server_key``, limit k); slots are assigned afterwards (mapping.extract_solution).
        """
        a = self.st.acts[i]
        out: dict[str, list] = defaultdict(list)
        limit: dict[str, int] = {}
        if a.kind == "op":
            for o in self.opts[i]:
                res = self._option(i, o).resources
                if len(res) == 1:
                    out[res[0]].append(self.m.place[i, o])
                    limit[res[0]] = 1
                elif self.capacity:
                    key = server_key(res)
                    out[key].append(self.m.place[i, o])
                    limit[key] = len(res)
                else:
                    for s, r in enumerate(res):
                        out[r].append(self.m.slot[i, o, s])
        else:
            for r in self.routes[i]:
                ch = a.routes[r].channel
                if ch is not None:
                    out[ch].append(self.route_weight(i, r))
                    limit[ch] = 1
        return out, limit

    def _resource_terms(self) -> None:
        """``self.on[i]``: resource -> terms of activity i's use of it; ``self.limit``: resource -> at once.

        Built once with the variables; ``candidate_pairs``, ``add_pairs`` and ``add_cliques`` read them.
        """
        self.on: dict[int, dict[str, list]] = {}
        for i in self.live:
            terms, limit = self.on_resource(i)
            self.on[i] = terms
            self.limit.update(limit)

    def _select_one_mode(self) -> None:
        """Each task runs in exactly one mode."""
        m = self.m
        by_task: dict[int, list[int]] = defaultdict(list)
        for ti, mi in self.modes:
            by_task[ti].append(mi)
        for ti in range(len(self.costs.tasks)):
            if not by_task[ti]:
                m.cons.add(pyo.Constraint.Infeasible)  # every mode pruned: the model is infeasible
            elif self.multi[ti]:
                self._add(sum(m.mode[ti, mi] for mi in by_task[ti]) == 1)

    def _assign_ops(self) -> None:
        """Every op of the chosen mode runs on exactly one (node, model) option."""
        m = self.m
        for i in self.ops:
            a = self.st.acts[i]
            self._add(sum(m.place[i, o] for o in self.opts[i]) == self.mode_on(a.task, a.mode))

    def _assign_slots(self) -> None:
        """An op on a multi-slot model server takes exactly one of its slots."""
        m = self.m
        by_opt: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, o, s in self.slot_index:
            by_opt[(i, o)].append(s)
        for (i, o), slots in by_opt.items():
            self._add(sum(m.slot[i, o, s] for s in slots) == m.place[i, o])

    def _break_slot_symmetry(self) -> None:
        """Identical slots: slot s > 0 hosts op i only if an earlier op (activity index) uses slot s-1.

        Any schedule can be relabelled so that the slots of a server are ordered by the smallest
        activity index they host, which satisfies this (solve.canonical_slots relabels).
        """
        if not self.symmetry or self.capacity:
            return
        m = self.m
        groups: dict[tuple[str, ...], list[tuple[int, int]]] = defaultdict(list)
        for i in self.ops:
            for o in self.opts[i]:
                res = self._option(i, o).resources
                if len(res) > 1:
                    groups[res].append((i, o))
        for res, members in groups.items():
            members.sort()
            for s in range(1, len(res)):
                for k, (i, o) in enumerate(members):
                    earlier = [m.slot[j, oj, s - 1] for j, oj in members[:k] if j != i]
                    if not earlier:
                        m.slot[i, o, s].fix(0)
                    else:
                        self._add(m.slot[i, o, s] <= sum(earlier))

    def _route_flows(self) -> None:
        """A flow between two ops goes from the node of its source op to the node of its destination op."""
        m, st = self.m, self.st
        for i in self.flows:
            a = st.acts[i]
            if a.src < 0 or a.dst < 0:
                continue
            by_src: dict[str, list[int]] = defaultdict(list)
            by_dst: dict[str, list[int]] = defaultdict(list)
            for r in self.routes[i]:
                by_src[a.routes[r].src_node].append(r)
                by_dst[a.routes[r].dst_node].append(r)
            for node, rs in by_src.items():
                self._add(sum(m.route[i, r] for r in rs) == self.node_on(a.src, node))
            for node, rs in by_dst.items():
                self._add(sum(m.route[i, r] for r in rs) == self.node_on(a.dst, node))

    def _quality_chain(self) -> None:
        """Quality of a mode = product of its ops' chosen qualities, linearised exactly.

        z_0 = mode; for op k: chain[k, o] = z_{k-1} * place[k, o] (sum over o equals z_{k-1},
        chain[k, o] <= zmax_{k-1} * place[k, o]; exact because place is binary and one-hot),
        z_k = sum_o q_o * chain[k, o].
        """
        m = self.m
        chain_index: list[tuple[int, int]] = []
        plan = []
        for ti, mi in self.modes:
            ops = [self.st.op_act[(ti, mi, k)] for k in range(len(self.costs.tasks[ti].modes[mi].ops))]
            for i in ops:
                qs = {self._option(i, o).quality for o in self.opts[i]}
                if len(qs) > 1:
                    chain_index.extend((i, o) for o in self.opts[i])
            plan.append((ti, mi, ops))
        m.chain = pyo.Var(chain_index, bounds=(0, 1))
        self.mode_quality: dict[tuple[int, int], Any] = {}  # Pyomo expressions
        for ti, mi, ops in plan:
            z = self.mode_on(ti, mi)
            zmax = 1.0
            for i in ops:
                q_list = [self._option(i, o).quality for o in self.opts[i]]
                if len(set(q_list)) == 1:
                    z = q_list[0] * z
                else:
                    self._add(sum(m.chain[i, o] for o in self.opts[i]) == z)
                    for o in self.opts[i]:
                        self._add(m.chain[i, o] <= zmax * m.place[i, o])
                    z = sum(self._option(i, o).quality * m.chain[i, o] for o in self.opts[i])
                zmax *= max(q_list)
            self.mode_quality[(ti, mi)] = z

    def quality(self, ti: int):
        return sum(z for (t, _), z in self.mode_quality.items() if t == ti)

    def _release_and_ready(self) -> None:
        """An activity starts no earlier than the release, and an op no earlier than its option's
        queue backlog and its data (heads), within its window.

        An op's start is split by option: start = sum_o start_on[i, o] with
        earliest(i, o) * place[i, o] <= start_on[i, o] <= latest(i, o) * place[i, o]
        (``head`` >= release and ready_s is a valid earliest start on option o; 0 when the mode is
        not chosen). A flow's homogenised start lies between its window bounds times its mode,
        and a flow on a channel busy with committed transfers (``CostTables.channel_ready_s``)
        starts no earlier than the channel is free: start[i] >= sum_r ready(r) * route_weight(i, r)
        (the route weights sum to 1 when the mode is chosen, 0 otherwise).
        """
        m = self.m
        index = [(i, o) for i in self.ops for o in self.opts[i]]
        m.start_on = pyo.Var(index, bounds=lambda _m, i, o: (0.0, self._option_window(i, o)[1]))
        for i in self.ops:
            for o in self.opts[i]:
                lo, hi = self._option_window(i, o)
                if lo > 0:
                    self._add(m.start_on[i, o] >= lo * m.place[i, o])
                self._add(m.start_on[i, o] <= hi * m.place[i, o])
            self._add(m.start[i] == sum(m.start_on[i, o] for o in self.opts[i]))
        for i in self.flows:
            a = self.st.acts[i]
            if self.multi[a.task]:
                mu = m.mode[a.task, a.mode]
                self._add(m.start[i] >= self.est[i] * mu)
                self._add(m.start[i] <= self.lst[i] * mu)
        chan_ready = self.costs.channel_ready_s
        if chan_ready:
            for i in self.flows:
                a = self.st.acts[i]
                terms = [
                    (chan_ready[ch], r)
                    for r in self.routes[i]
                    if (ch := a.routes[r].channel) is not None and chan_ready.get(ch, 0.0) > self.est[i]
                ]
                if terms:
                    self._add(m.start[i] >= sum(t * self.route_weight(i, r) for t, r in terms))

    def _server_load(self) -> None:
        """Valid inequalities: ops sharing a server queue behind each other (contention in the LP).

        Let h be the least earliest start of any op that may run on a server with k identical
        slots (a device or processor: k = 1), x_j = 1 when op j runs there, p_j its duration and
        S_j its start. Whatever the order:

        - weighted (Hall, Schulz, Shmoys & Wein 1997, parallel-machine form of Queyranne's
          inequality, in start times): sum_j p_j x_j (S_j - h) >= P^2 / (2k) - (1/2) sum_j p_j^2 x_j
          with P = sum_j p_j x_j; P^2 is convex, so each tangent 2 P0 P - P0^2 gives a valid
          linear cut (P0 on a grid);
        - count: n = sum_j x_j ops start, in total, at least G(n) after h, G(n) the least total
          start of the n shortest candidates on k slots (shortest first, round robin); G is convex,
          so G(c) + (G(c+1) - G(c)) (n - c) <= sum_j x_j (S_j - h) for every integer c.

        x_j S_j is the option's share of the start (``start_on``), so both are linear.
        """
        if self.fixed is not None or not self.server_cuts:
            return
        m = self.m
        groups = self.groups
        m.load_cons = pyo.ConstraintList()
        self.load_groups = [(len(res), members) for res, members in groups.items() if len(members) > len(res)]
        for res, members in groups.items():
            k = len(res)
            if len(members) <= k:
                continue
            h = min(self._option_window(i, o)[0] for i, o in members)
            dur = {(i, o): self._option(i, o).duration_s for i, o in members}
            count = sum(m.place[i, o] for i, o in members)
            # count cuts
            durations = sorted(dur.values())
            g = [0.0]
            for n in range(1, len(durations) + 1):
                r = n - 1  # the r-th shortest op waits for those k, 2k, ... places before it
                g.append(g[-1] + sum(durations[r - k * step] for step in range(1, r // k + 1)))
            lhs = sum(m.start_on[io] for io in members) - h * count
            for c in range(k, len(durations)):
                slope = g[c + 1] - g[c]
                if slope > 0:
                    self._add(lhs >= g[c] + slope * (count - c))
            # weighted cuts, tangents of P^2 / (2k), on the ops whose earliest start is at least
            # each of a few thresholds (a later common ready time for fewer ops)
            heads = sorted({self._option_window(i, o)[0] for i, o in members})
            thresholds = [
                heads[round(q * (len(heads) - 1) / SERVER_THRESHOLDS)] for q in range(SERVER_THRESHOLDS)
            ]
            for h_sub in dict.fromkeys(thresholds):
                sub = [io for io in members if self._option_window(*io)[0] >= h_sub]
                if len(sub) <= k:
                    continue
                self._weighted_load_cuts(sub, k, h_sub, dur)

    def _weighted_load_cuts(
        self, members: list[tuple[int, int]], k: int, h: float, dur: dict[tuple[int, int], float]
    ) -> None:
        m = self.m
        work = sum(dur[io] * m.place[io] for io in members)
        weighted = sum(dur[io] * (m.start_on[io] - h * m.place[io]) for io in members)
        squares = sum(dur[io] ** 2 * m.place[io] for io in members)
        durations = sorted(dur[io] for io in members)
        horizon = max(self._option_window(i, o)[1] + dur[(i, o)] for i, o in members) - h
        top = min(sum(durations), k * horizon)
        lo = durations[0]
        if top <= lo:
            return
        for step in range(1, SERVER_TANGENTS + 1):
            p0 = lo + (top - lo) * step / SERVER_TANGENTS
            self._add(weighted >= (2 * p0 * work - p0 * p0) / (2 * k) - 0.5 * squares)

    def _time_indexed(self) -> None:
        """Valid inequalities: a preemptive, time-indexed relaxation of every server's occupation.

        Time is cut into periods of ``time_grid`` seconds. busy[i, o, t] is the processing op i
        does on option o in period t: sum_t busy = p * place (all of it, and only if placed
        there); a k-slot server does at most k * grid of work per period, one op at most what
        the period leaves after its earliest start (one slot at a time). An op that starts at S
        runs during [S, S + p), so its mean busy time is S + p/2, and each unit of its work in
        period t is done no earlier than a_t = max(start of t, its earliest start):
        p * start_on + p^2/2 * place >= sum_t a_t busy[i, o, t] (Goemans' mean busy time
        relaxation). This lets the LP see queueing at busy servers together with release times,
        which the aggregate load cuts cannot. Left out when it would need more than
        ``TIME_INDEX_MAX_VARS`` variables.
        """
        grid = self.time_grid
        assert grid is not None  # only built with a time grid
        m = self.m
        groups = self.groups
        # cheap count first: each member spans its periods, less at most 2 empty end periods; when
        # even that is above the cap, the enumeration below would be thrown away (1 s on L-01)
        least = 0
        for res, members in groups.items():
            if len(members) <= len(res):
                continue
            for i, o in members:
                lo, hi = self._option_window(i, o)
                p = self._option(i, o).duration_s
                least += max(0, math.ceil((hi + p) / grid) - math.floor(lo / grid) - 2)
        if least > TIME_INDEX_MAX_VARS:
            self.time_indexed_vars = 0
            return
        index = []
        bounds = {}
        per_period: dict[tuple[tuple[str, ...], int], list] = defaultdict(list)
        link = []
        for res, members in groups.items():
            if len(members) <= len(res):
                continue
            for i, o in members:
                lo, hi = self._option_window(i, o)
                p = self._option(i, o).duration_s
                terms = []
                for t in range(math.floor(lo / grid), math.ceil((hi + p) / grid)):
                    a = max(t * grid, lo)
                    cap = min((t + 1) * grid, hi + p) - a
                    if cap <= 1e-12:
                        continue
                    key = (i, o, t)
                    index.append(key)
                    bounds[key] = cap
                    per_period[(res, t)].append(key)
                    terms.append((a, key))
                link.append((i, o, p, terms))
        self.time_indexed_vars = len(index)
        if len(index) > TIME_INDEX_MAX_VARS:  # too big to pay for itself in the LP (the L set)
            self.time_indexed_vars = 0
            return
        m.busy = pyo.Var(index, bounds=lambda _m, i, o, t: (0.0, bounds[(i, o, t)]))
        for i, o, p, terms in link:
            self._add(sum(m.busy[key] for _, key in terms) == p * m.place[i, o])
            self._add(
                p * m.start_on[i, o] + 0.5 * p * p * m.place[i, o] >= sum(a * m.busy[key] for a, key in terms)
            )
        for (res, _t), keys in per_period.items():
            if len(keys) > len(res):
                self._add(sum(m.busy[key] for key in keys) <= len(res) * grid)

    def separate_load_cuts(self, tol: float = 1e-4, per_group: int = 4) -> int:
        """Add the most violated subset load inequalities at the current variable values.

        For a set S of (op, option) members of one server group (k slots) with common earliest
        start h = min head over S, every schedule satisfies (Hall, Schulz, Shmoys & Wein 1997)
        ``sum_{j in S} p_j x_j (S_j - h) >= P_S^2 / (2k) - 1/2 sum_{j in S} p_j^2 x_j`` with
        ``P_S = sum_{j in S} p_j x_j``; the tangent of P_S^2 at its current value makes it linear
        and valid for every x. Candidate sets (Queyranne's separation): for each threshold h
        among the members' heads, the members with head >= h, in order of their current start,
        and every prefix of that order. Returns how many cuts were added.
        """
        if self.fixed is not None or not self.server_cuts:
            return 0
        m = self.m
        added = 0
        for k, members in self.load_groups:
            vals = []
            for io in members:
                x = m.place[io].value or 0.0
                if x <= 1e-6:
                    continue
                s = (m.start_on[io].value or 0.0) / x
                vals.append((s, io, x))
            if len(vals) <= k:
                continue
            heads = sorted({self._option_window(*io)[0] for _, io, _ in vals})
            found = []
            for h in heads:
                sub = sorted((v for v in vals if self._option_window(*v[1])[0] >= h), key=lambda v: v[0])
                if len(sub) <= k:
                    break
                lhs = 0.0
                p_sum = 0.0
                sq = 0.0
                for n, (s, io, x) in enumerate(sub, start=1):
                    p = self._option(*io).duration_s
                    lhs += p * x * (s - h)
                    p_sum += p * x
                    sq += p * p * x
                    if n <= k:
                        continue
                    viol = p_sum * p_sum / (2 * k) - 0.5 * sq - lhs
                    if viol > tol * max(1.0, p_sum):
                        found.append((viol, h, [v[1] for v in sub[:n]], p_sum))
            found.sort(key=lambda f: -f[0])
            seen = set()
            for _viol, h, subset, p0 in found:
                key = frozenset(subset)
                if key in seen:
                    continue
                seen.add(key)
                dur = {io: self._option(*io).duration_s for io in subset}
                work = sum(dur[io] * m.place[io] for io in subset)
                weighted = sum(dur[io] * (m.start_on[io] - h * m.place[io]) for io in subset)
                squares = sum(dur[io] ** 2 * m.place[io] for io in subset)
                m.load_cons.add(weighted >= (2 * p0 * work - p0 * p0) / (2 * k) - 0.5 * squares)
                added += 1
                if len(seen) >= per_group:
                    break
        return added

    def _precedence(self) -> None:
        """A flow starts after its source op ends; an op starts after each incoming flow ends."""
        m = self.m
        for i in self.flows:
            a = self.st.acts[i]
            if a.src >= 0:
                self._add(m.start[i] >= self.end(a.src))
            if a.dst >= 0:
                self._add(m.start[a.dst] >= self.end(i))

    def _completion(self) -> None:
        """A task completes when its final activity (the SINK flow; explicit form: every op) ends.

        With several modes, done = sum_m done_mode[t, m], each the homogenised completion of mode m
        (between release * mode and latest * mode): the convex hull of the mode disjunction.
        """
        m = self.m
        multi_index = [(ti, mi) for ti, mi in self.modes if self.multi[ti]]
        m.done_mode = pyo.Var(multi_index, bounds=lambda _m, t, mi: (0.0, self.win.latest_completion[t]))
        for ti, mi in multi_index:
            mu = m.mode[ti, mi]
            self._add(m.done_mode[ti, mi] >= self.costs.tasks[ti].release_s * mu)
            self._add(m.done_mode[ti, mi] <= self.win.latest_completion[ti] * mu)
        for ti in range(len(self.costs.tasks)):
            if self.multi[ti]:
                self._add(m.done[ti] == sum(m.done_mode[ti, mi] for (t, mi) in multi_index if t == ti))
        for i in self.live:
            a = self.st.acts[i]
            if a.final:
                done = m.done_mode[a.task, a.mode] if self.multi[a.task] else m.done[a.task]
                self._add(done >= self.end(i))
        if self.target.kind == "makespan":
            m.makespan = pyo.Var(bounds=(0, max(self.win.latest_completion)))
            for i in self.live:
                self._add(m.makespan >= self.end(i))

    def mode_latency(self, ti: int, mi: int):
        """Homogenised latency of mode mi of task ti (its latency when chosen, 0 otherwise)."""
        r = self.costs.tasks[ti].release_s
        if self.multi[ti]:
            return self.m.done_mode[ti, mi] - r * self.m.mode[ti, mi]
        return self.m.done[ti] - r

    def _contention_free_bounds(self) -> None:
        """Valid inequalities: whatever the contention, a mode is no faster, no more accurate and
        earns no more than the best contention-free schedule of its chosen options allows.

        For every op i of mode m (``Windows.opt_*``, exact over the mode's option combinations):
        latency_m >= sum_o Lmin(i, o) * place[i, o]; quality_m <= sum_o Qmax(i, o) * place[i, o];
        reward_m <= sum_o Rmax(i, o) * place[i, o] (homogenised: all 0 when m is not chosen).
        They cut the fractional mixing of a fast and an accurate option in the LP relaxation.
        """
        if self.fixed is not None or not self.bound_cuts:
            return
        m, win = self.m, self.win
        for i in self.ops:
            a = self.st.acts[i]
            ti, mi = a.task, a.mode
            lat = [
                (win.opt_latency_lb[i][o], m.place[i, o])
                for o in self.opts[i]
                if win.opt_latency_lb[i][o] > 0
            ]
            if lat:
                self._add(self.mode_latency(ti, mi) >= sum(v * x for v, x in lat))
            self._add(
                self.mode_quality[(ti, mi)]
                <= sum(win.opt_quality_ub[i][o] * m.place[i, o] for o in self.opts[i])
            )
            if self.target.kind == "reward":
                self._add(
                    self.costs.task_reward(self.mode_quality[(ti, mi)], self.mode_latency(ti, mi))
                    <= sum(win.opt_reward_ub[i][o] * m.place[i, o] for o in self.opts[i])
                )

    def _per_task_reward_cut(self) -> None:
        """Valid inequality from an incumbent: each task's reward >= incumbent - sum of the others' bounds."""
        if self.reward_cut is None or self.target.kind != "reward":
            return
        for ti in range(len(self.costs.tasks)):
            self._add(self.task_reward(ti) >= self.reward_cut[ti])

    def latency_sum(self):
        return sum(self.m.done[t] - task.release_s for t, task in enumerate(self.costs.tasks))

    def task_reward(self, ti: int):
        """Task ti's reward as a linear expression: ``costs.task_reward`` of its quality and latency."""
        return self.costs.task_reward(self.quality(ti), self.m.done[ti] - self.costs.tasks[ti].release_s)

    def reward_expr(self):
        """The evaluator's reward objective: the sum of every task's reward."""
        return sum(self.task_reward(t) for t in range(len(self.costs.tasks)))

    def _objective(self) -> None:
        m, kind = self.m, self.target.kind
        n = len(self.costs.tasks)
        if self.fixed is not None:
            # all decisions fixed: the least schedule (the evaluator's) minimises every start and completion
            expr = sum(m.start[i] for i in self.live) + sum(m.done[t] for t in range(n))
            if kind == "makespan":
                expr += m.makespan
            m.obj = pyo.Objective(expr=expr, sense=pyo.minimize)
            return
        if kind == "reward":
            m.obj = pyo.Objective(expr=self.reward_expr(), sense=pyo.maximize)
        elif kind == "makespan":
            m.obj = pyo.Objective(expr=m.makespan, sense=pyo.minimize)
        elif kind == "accuracy":
            assert self.target.limit is not None
            self._add(self.latency_sum() <= n * self.target.limit)
            w = self.costs.objective.accuracy_weight
            m.obj = pyo.Objective(expr=sum(w * self.quality(t) for t in range(n)), sense=pyo.maximize)
        elif kind == "latency":
            assert self.target.limit is not None
            self._add(sum(self.quality(t) for t in range(n)) >= n * self.target.limit)
            m.obj = pyo.Objective(expr=self.latency_sum(), sense=pyo.minimize)
        else:
            raise ValueError(f"target: unknown kind {kind!r}")

    # ------------------------------------------------------------------ resource order (disjunctive pairs)

    def candidate_pairs(self) -> dict[Pair, list[str]]:
        """Pairs (i < j) that may compete for a resource, with the resources they may share.

        Left out: activities of different modes of one task (never both chosen), pairs a
        precedence path orders, and pairs whose windows cannot overlap (lct_i <= est_j).
        """
        st = self.st
        users: dict[str, list[int]] = defaultdict(list)
        for i, on in self.on.items():
            for r in on:
                users[r].append(i)
        est, lct = self.est, self.lct
        out: dict[Pair, list[str]] = defaultdict(list)
        for r, acts in users.items():
            acts.sort()
            for x, i in enumerate(acts):
                ai = st.acts[i]
                for j in acts[x + 1 :]:
                    aj = st.acts[j]
                    if ai.task == aj.task and ai.mode != aj.mode:
                        continue
                    if ai.task == aj.task and st.comparable(i, j):
                        continue
                    if lct[i] <= est[j] or lct[j] <= est[i]:
                        continue
                    out[(i, j)].append(r)
        return dict(out)

    def add_pairs(self, pairs: dict[Pair, list[str]]) -> int:
        """Order every given pair on the resources it shares (big-M from the windows); returns how many were new."""
        m = self.m
        new = 0
        for (i, j), shared in pairs.items():
            if (i, j) in self.pairs:
                continue
            self.pairs.add((i, j))
            new += 1
            bij, bji = m.before[i, j], m.before[j, i]
            m.pair_cons.add(bij + bji <= 1)
            for r in shared:
                if self.limit.get(r, 1) == 1:  # a unary resource: sharing it means an order
                    m.pair_cons.add(bij + bji >= sum(self.on[i][r]) + sum(self.on[j][r]) - 1)
            m.pair_cons.add(bij + bji <= sum(t for r in shared for t in self.on[i][r]))
            m.pair_cons.add(bij + bji <= sum(t for r in shared for t in self.on[j][r]))
            # i before j: j starts after i ends; when i's mode is not chosen its end is 0, when j's
            # is not chosen start_or_earliest(j) is its earliest start: lct_i - est_j covers both
            m.pair_cons.add(
                self.start_or_earliest(j) >= self.end(i) - (self.lct[i] - self.est[j]) * (1 - bij)
            )
            m.pair_cons.add(
                self.start_or_earliest(i) >= self.end(j) - (self.lct[j] - self.est[i]) * (1 - bji)
            )
        return new

    def add_cliques(
        self, cliques: list[tuple[str, tuple[int, ...]]], candidates: dict[Pair, list[str]]
    ) -> int:
        """On a resource running k activities at once, k + 1 activities placed on it include an ordered pair.

        For intervals, "no k + 1 pairwise overlapping" is "at most k at any time" (Helly), which is
        exactly what k identical slots can run (an interval graph with clique number k is
        k-colourable). A clique with a pair that can never overlap is skipped.
        """
        m = self.m
        new = 0
        for res, members in cliques:
            members = tuple(sorted(members))
            if (res, members) in self.cliques:
                continue
            pairs = [
                (members[x], members[y]) for x in range(len(members)) for y in range(x + 1, len(members))
            ]
            if any(p not in candidates for p in pairs):
                # a pair of them can never overlap, so the row is implied: remember it as known
                self.cliques.add((res, members))
                continue
            self.cliques.add((res, members))
            new += 1
            self.add_pairs({p: candidates[p] for p in pairs})
            k = self.limit[res]
            m.pair_cons.add(
                sum(m.before[i, j] + m.before[j, i] for i, j in pairs)
                >= sum(sum(self.on[i][res]) for i in members) - k
            )
        return new

    def add_content_cut(self, members: list[tuple[int, int]], least_done_sum: float) -> bool:
        """Server-content cut (a logic-based Benders cut on one server).

        ``least_done_sum`` must be a lower bound on the summed completion of the tasks of
        ``members`` (op, option) in every schedule that places all of them on their (common)
        server: then sum_t done[t] >= least_done_sum - (least_done_sum - floor) * (number of
        members not placed), floor the least summed completion those tasks ever have. More ops
        on that server only delay these, so the cut holds for every superset too.
        """
        if self.fixed is not None:
            return False
        key = frozenset(members)
        if key in self.content_keys:
            return False
        m = self.m
        tasks = sorted({self.st.acts[i].task for i, _ in members})
        floor = sum(
            self.costs.tasks[t].release_s
            + min(self.win.min_latency[(tt, mi)] for tt, mi in self.modes if tt == t)
            for t in tasks
        )
        if least_done_sum <= floor + 1e-9:
            return False
        self.content_keys.add(key)
        m.content_cons.add(
            sum(m.done[t] for t in tasks)
            >= least_done_sum - (least_done_sum - floor) * sum(1 - m.place[io] for io in members)
        )
        return True

    # ------------------------------------------------------------------ fixing to a solution

    def _fix_to(self, solution: Solution) -> None:
        """Fix modes, options and slots to ``solution`` and impose its resource sequences."""
        m, st, costs = self.m, self.st, self.costs
        assignments = decisions_to_assignments(costs, solution)
        self.fixed_assignments = assignments
        chosen: set[int] = set()
        for ti, mi in self.modes:
            m.mode[ti, mi].fix(1 if assignments[ti].mode == mi else 0)
        for i in self.ops:
            a = st.acts[i]
            asg = assignments[a.task]
            on = asg.mode == a.mode
            for o in self.opts[i]:
                val = 1 if on and asg.options[a.local] == o else 0
                m.place[i, o].fix(val)
                res = self._option(i, o).resources
                if len(res) > 1:
                    for s, r in enumerate(res):
                        m.slot[i, o, s].fix(1 if val and asg.resources[a.local] == r else 0)
            if on:
                chosen.add(i)
                if asg.options[a.local] not in self.opts[i]:
                    raise ValueError(f"fix: {a.key} uses an option the windows ruled out")
        key_to_act = {
            st.acts[i].key: i for i in self.live if st.acts[i].mode == assignments[st.acts[i].task].mode
        }
        for _res, acts in sequences_dict(solution).items():
            for prev, nxt in zip(acts, acts[1:], strict=False):
                i, j = key_to_act[prev], key_to_act[nxt]
                m.fix_cons.add(m.start[j] >= self.end(i))

    # ------------------------------------------------------------------ reading values

    def value(self, expr) -> float:
        return float(pyo.value(expr))

    def chosen(self) -> dict[int, tuple[int, list[int], list[str]]]:
        """(mode, options, resources) per task from the current variable values."""
        m, st = self.m, self.st
        out = {}
        for ti in range(len(self.costs.tasks)):
            mis = [mi for (t, mi) in self.modes if t == ti]
            mi = max(mis, key=lambda k: m.mode[ti, k].value or 0.0)
            options, resources = [], []
            for k in range(len(self.costs.tasks[ti].modes[mi].ops)):
                i = st.op_act[(ti, mi, k)]
                o = max(self.opts[i], key=lambda oo: m.place[i, oo].value or 0.0)
                res = self._option(i, o).resources
                if len(res) > 1 and not self.capacity:
                    s = max(range(len(res)), key=lambda ss: m.slot[i, o, ss].value or 0.0)
                else:
                    s = 0
                options.append(o)
                resources.append(res[s])
            out[ti] = (mi, options, resources)
        return out

    def chosen_activities(self, modes: dict[int, int]) -> list[int]:
        return [i for i in self.live if self.st.acts[i].mode == modes[self.st.acts[i].task]]
