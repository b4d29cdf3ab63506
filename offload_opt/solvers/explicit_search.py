"""Iterated local search over processor sequences for the explicit-cost form (makespan).

Why a second search: the annealing of ``local_search`` changes a *priority
order* and an op's option separately, and the insertion-based list schedule
of the changed plan often lands back on the same schedule; on small instances
it can stay at the HEFT start while a better schedule exists (the issue's
6-op instance: 450,000 moves, no gain). Job-shop searches move an op to
another machine *and* to a chosen place in that machine's sequence in one
step; this module does that.

The state is a **sequence plan**: every op's option (processor) and, per
processor, the order of the ops assigned to it. Its schedule is the
semi-active schedule of those sequences, computed by the toolkit's scheduling
engine (``timeline.Engine``): the ops are placed in a topological order of the
DAG edges plus the processor sequences, each on its processor's slot, so every
op starts at ``max(ready time, end of its predecessor on the processor)`` (an
op may also drop into an earlier idle gap, which only makes it start earlier);
the value is exactly what the evaluator computes for the resulting solution.
Plans whose sequences contradict the DAG (a cycle) are skipped.

Neighbourhood (Mastrolilli & Gambardella, "Effective neighbourhood functions
for the flexible job shop problem", J. Scheduling 3(1), 2000): take an op *on
a critical path* (an op whose start is forced by its data, its processor
predecessor or its release, back from an op ending at the makespan; moving
any other op alone leaves that path as long) out of its sequence and insert
it at any position of the sequence of any processor it may run on (its own
included), between its DAG predecessors and successors on that processor.
Every such move is evaluated exactly (no estimate); descent takes the first
move that lowers (makespan, sum of op ends), the critical ops tried in a seeded
random order, until no move does; the second term lets the search cross
plateaus of equal makespan. (Measured on 8 random 60-op flexible job shops
under a 2 s limit on a shared machine: first improvement ended lower than best
improvement on 3, higher on 2.) Before each descent step the tie-break of the
topological order is reset to the placed start times, so that a move late in
the schedule re-places only a short suffix.

Perturbation (iterated local search): at a local optimum, 1-3 random
re-insertions of random ops, then descent again; the new local optimum is
kept when its makespan is no worse than the current one, and after
``RESTART_AFTER`` perturbations without a new best the search returns to the
best plan.

Budget: ``max_moves`` evaluated plans and/or ``time_limit_s``; with
``max_moves`` alone the result is deterministic for a given seed. The search
starts from the plan placed on the engine it is given (HEFT's schedule in
``local-search`` and ``alns``) and keeps the best plan, so it is never worse
than that start.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from heapq import heapify, heappop, heappush
from typing import Any

from offload_opt.solvers.timeline import Engine, Unit

RESTART_AFTER = 20  # perturbations without a new best before the search goes back to the best plan
FIRST_IMPROVEMENT = (
    True  # take the first improving move (critical ops in a seeded random order), not the best
)
MAX_KICK = 3  # most random re-insertions in one perturbation
TIE_REL = 1e-12  # relative tolerance for "a start equals the end of what precedes it" (critical ops)

Choice = tuple[int, str]  # (option index, resource) of an op
Score = tuple[float, float]  # (makespan, sum of op ends): lexicographic, smaller is better


class SequencePlan:
    """Options and per-resource sequences of every op; ``copy`` is cheap (lists of tuples)."""

    __slots__ = ("choice", "seq")

    def __init__(self, choice: dict[Unit, Choice], seq: dict[str, list[Unit]]) -> None:
        self.choice = choice
        self.seq = seq

    def copy(self) -> SequencePlan:
        return SequencePlan(dict(self.choice), {r: list(s) for r, s in self.seq.items()})

    def position(self, u: Unit) -> int:
        return self.seq[self.choice[u][1]].index(u)


class ExplicitSearch:
    """A sequence plan evaluated on one engine, re-placing only the suffix that changed."""

    def __init__(self, eng: Engine, units: Sequence[Unit]) -> None:
        self.eng = eng
        self.units = list(units)
        self.preds: dict[Unit, list[Unit]] = {u: [] for u in self.units}
        self.succs: dict[Unit, list[Unit]] = {u: [] for u in self.units}
        self.in_keys: dict[Unit, dict[str, Unit]] = {}  # incoming flow key -> source op
        self.key_of: dict[Unit, str] = {}
        self.unit_of: dict[str, Unit] = {}
        self.choices: dict[Unit, list[Choice]] = {}
        for ti, i in self.units:
            st = eng.placed(ti)
            mi = eng.info(ti, st.mode)
            u = (ti, i)
            self.key_of[u] = mi.op_keys[i]
            self.unit_of[mi.op_keys[i]] = u
            self.in_keys[u] = {}
            for k, src in mi.in_flows[i]:
                if src >= 0:
                    self.preds[u].append((ti, src))
                    self.succs[(ti, src)].append(u)
                    self.in_keys[u][mi.flow_keys[k]] = (ti, src)
            self.choices[u] = [(j, r) for j, opt in enumerate(mi.mode.ops[i].options) for r in opt.resources]
        # what is on the engine now: (unit, option, resource) in placement order
        self.placed: list[tuple[Unit, int, str]] = []
        for ti, i in self.units:
            st = eng.placed(ti)
            res = st.res[i]
            assert res is not None, "the start must be fully placed"
            self.placed.append(((ti, i), st.opts[i], res))
        self.rank = {u: p for p, u in enumerate(self.units)}  # tie-break of the topological order
        self.evaluations = 0

    # -- the plan of what is placed --

    def current_plan(self) -> SequencePlan:
        """The options and the per-resource sequences of the schedule on the engine (timeline order)."""
        choice = {u: (j, r) for u, j, r in self.placed}
        seq: dict[str, list[Unit]] = {}
        for r, line in self.eng.tl.sequences().items():
            ops = [self.unit_of[k] for _, k in line if k in self.unit_of]
            if ops:
                seq[r] = ops
        return SequencePlan(choice, seq)

    def rank_by_start(self) -> None:
        """Tie-break the topological order by the placed start times, so that a move late in the
        schedule shares a long prefix with the placed order and re-places only a short suffix."""
        eng = self.eng
        starts = {}
        for u, _, _ in self.placed:
            ti, i = u
            key = self.key_of[u]
            starts[u] = next(r[2] for r in eng.placed(ti).recs[i] if r[0] == key)
        order = sorted(self.units, key=lambda u: (starts[u], self.rank[u]))
        self.rank = {u: p for p, u in enumerate(order)}

    def topological_order(self, plan: SequencePlan) -> list[Unit] | None:
        """Ops in an order that respects DAG edges and processor sequences; None when they form a cycle."""
        indeg = {u: len(p) for u, p in self.preds.items()}
        nxt: dict[Unit, Unit] = {}
        for s in plan.seq.values():
            for a, b in zip(s, s[1:], strict=False):
                nxt[a] = b
                indeg[b] += 1
        heap = [(self.rank[u], u) for u, d in indeg.items() if d == 0]
        heapify(heap)
        order: list[Unit] = []
        while heap:
            _, u = heappop(heap)
            order.append(u)
            for v in self.succs[u]:
                indeg[v] -= 1
                if indeg[v] == 0:
                    heappush(heap, (self.rank[v], v))
            v2 = nxt.get(u)
            if v2 is not None:
                indeg[v2] -= 1
                if indeg[v2] == 0:
                    heappush(heap, (self.rank[v2], v2))
        return order if len(order) == len(self.units) else None

    def evaluate(self, plan: SequencePlan) -> Score | None:
        """Place ``plan`` on the engine (keeping the common prefix) and return its score; None if cyclic."""
        order = self.topological_order(plan)
        if order is None:
            return None
        self.evaluations += 1
        target = [(u, *plan.choice[u]) for u in order]
        p = 0
        n = min(len(target), len(self.placed))
        while p < n and target[p] == self.placed[p]:
            p += 1
        eng = self.eng
        for (ti, i), _, _ in reversed(self.placed[p:]):
            eng.unplace_op(ti, i)
        for (ti, i), j, r in target[p:]:
            eng.place_op(ti, i, j, r)
        self.placed = target
        return self.score()

    def score(self) -> Score:
        eng = self.eng
        total = 0.0
        for ti in range(len(eng.tasks)):
            total += math.fsum(eng.placed(ti).end)
        return eng.objective(), total

    # -- critical ops --

    def critical_ops(self) -> list[Unit]:
        """Ops on a critical path of the placed schedule, from the ops that end at the makespan back."""
        eng = self.eng
        start: dict[Unit, float] = {}
        end: dict[Unit, float] = {}
        flow_end: dict[Unit, dict[Unit, float]] = {}
        for u, _, _ in self.placed:
            ti, i = u
            recs = eng.placed(ti).recs[i]
            key = self.key_of[u]
            flow_end[u] = {}
            for k, _, s, e, _ in recs:
                if k == key:
                    start[u], end[u] = s, e
                elif k in self.in_keys[u]:
                    flow_end[u][self.in_keys[u][k]] = e
        makespan = eng.objective()
        tol = TIE_REL * max(1.0, abs(makespan))
        prev: dict[Unit, Unit] = {}
        for line in self.current_plan().seq.values():
            for a, b in zip(line, line[1:], strict=False):
                prev[b] = a
        stack = [u for u in self.units if end[u] >= makespan - tol]
        seen = set(stack)
        while stack:
            u = stack.pop()
            t = start[u]
            tight = [p for p, e in flow_end[u].items() if e >= t - tol]
            q = prev.get(u)
            if q is not None and end[q] >= t - tol:
                tight.append(q)
            for p in tight:
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
        return [u for u in self.units if u in seen]

    # -- moves --

    def insertions(self, plan: SequencePlan, u: Unit) -> list[tuple[Choice, int]]:
        """Every (option, resource) and position ``u`` can be re-inserted at, its own place excluded."""
        here = plan.choice[u]
        here_pos = plan.position(u)
        out = []
        for c in self.choices[u]:
            line = [v for v in plan.seq.get(c[1], []) if v != u]
            lo, hi = 0, len(line)
            for k, v in enumerate(line):
                if v in self.preds[u]:
                    lo = k + 1
                elif v in self.succs[u] and k < hi:
                    hi = k
            for pos in range(lo, hi + 1):
                if c == here and pos == here_pos:
                    continue
                out.append((c, pos))
        return out

    @staticmethod
    def moved(plan: SequencePlan, u: Unit, c: Choice, pos: int) -> SequencePlan:
        new = plan.copy()
        old_r = plan.choice[u][1]
        new.seq[old_r].remove(u)
        if not new.seq[old_r]:
            del new.seq[old_r]
        new.seq.setdefault(c[1], []).insert(pos, u)
        new.choice[u] = c
        return new


def improve_explicit(
    eng: Engine,
    units: list[Unit],
    rng: random.Random,
    time_limit_s: float | None,
    max_moves: int | None,
) -> tuple[Engine, list[Unit], dict[str, Any]]:
    """Improve the schedule placed on ``eng`` (explicit form, every op placed in the order ``units``).

    Returns the engine with the best plan placed, the order it was placed in,
    and statistics (``iterations``: plans evaluated; ``descents``,
    ``perturbations``, ``improved``: new best plans; ``elapsed_s``).
    """
    t0 = time.perf_counter()
    s = ExplicitSearch(eng, units)
    stats: dict[str, Any] = {"neighbourhood": "critical-op reinsertion (machine and position)"}

    def out_of_budget() -> bool:
        if max_moves is not None and s.evaluations >= max_moves:
            return True
        return time_limit_s is not None and time.perf_counter() - t0 >= time_limit_s

    cur_plan = s.current_plan()
    cur = s.evaluate(cur_plan)
    assert cur is not None, "the start's own sequences are acyclic"
    cur_plan = s.current_plan()
    best, best_plan = cur, cur_plan.copy()
    descents = perturbations = improved = since_best = 0

    def descend(plan: SequencePlan, score: Score) -> tuple[SequencePlan, Score]:
        nonlocal descents
        descents += 1
        while not out_of_budget():
            # the engine holds ``plan``: its critical ops are the candidates
            s.rank_by_start()
            cands = s.critical_ops()
            if FIRST_IMPROVEMENT:
                rng.shuffle(cands)
            step: tuple[Score, SequencePlan] | None = None
            for u in cands:
                for c, pos in s.insertions(plan, u):
                    if out_of_budget():
                        break
                    new = s.moved(plan, u, c, pos)
                    sc = s.evaluate(new)
                    if sc is not None and sc < score and (step is None or sc < step[0]):
                        step = (sc, new)
                        if FIRST_IMPROVEMENT:
                            break
                if step is not None and FIRST_IMPROVEMENT:
                    break
            if step is None:
                break
            # place it again: the critical ops and sequences come from the engine (an op may drop into an
            # earlier gap, which only lowers the score)
            placed = s.evaluate(step[1])
            assert placed is not None and placed <= step[0]
            score, plan = placed, s.current_plan()
        return plan, score

    cur_plan, cur = descend(cur_plan, cur)
    if cur < best:
        best, best_plan, improved = cur, cur_plan.copy(), improved + 1
    while not out_of_budget():
        perturbations += 1
        kicked = cur_plan
        for _ in range(rng.randint(1, MAX_KICK)):
            u = rng.choice(s.units)
            moves = s.insertions(kicked, u)
            if not moves:
                continue
            c, pos = rng.choice(moves)
            trial = s.moved(kicked, u, c, pos)
            if s.topological_order(trial) is not None:
                kicked = trial
        sc = s.evaluate(kicked)
        if sc is None:  # unreachable: every kick was checked for cycles
            continue
        new_plan, new = descend(s.current_plan(), sc)
        if new < best:
            best, best_plan, improved, since_best = new, new_plan.copy(), improved + 1, 0
        else:
            since_best += 1
        if new[0] <= cur[0]:
            cur_plan, cur = new_plan, new
        if since_best >= RESTART_AFTER:
            cur_plan, cur, since_best = best_plan.copy(), best, 0
    final = s.evaluate(best_plan)
    assert final is not None and final <= best, "re-placing the best plan reproduces it"
    stats.update(
        iterations=s.evaluations,
        descents=descents,
        perturbations=perturbations,
        improved=improved,
        elapsed_s=time.perf_counter() - t0,
    )
    return s.eng, [u for u, _, _ in s.placed], stats
