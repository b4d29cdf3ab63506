"""Local search: simulated annealing from the best constructive schedule; the recommended fast heuristic.

The start is the best of greedy (option ``order`` first, then its other task
orders) and the baselines (``starts.best_start``), so the result is never
worse than any of them.

The state is a *plan*: every task's mode and option per op, and a priority
order of ops (units). Its schedule is the insertion-based list schedule of
the plan (``timeline.py``), so every candidate is judged by a fast
re-schedule and its value is exactly what the evaluator computes. A move
changes the plan from some position of the order on; only that suffix is
taken off the timelines and placed again (the prefix is untouched), and a
rejected move puts the old records back as they were.

Moves (drawn by ``MOVE_WEIGHTS``, below, among those that apply; the task
a move starts from is drawn uniformly, or half the time among the last eighth
of the order, whose moves re-schedule a short suffix only and which got the
leftovers of the timelines):

- ``reinsert`` (wireless): take a task out and insert it greedily
  (``greedy.insert_task``: best mode, best options against the timelines)
  at a random position of the task order, or at its own; with probability
  1/3 it is forced into a different mode (the mode flip).
- ``option``: move one op to another (node, model) option, at random; its
  slot is the one where it starts earliest. Wireless form: only among the
  options with which the task's value bound (``Engine.options_bound``: exact
  quality, no-wait latency with these options' transfers) still reaches its
  current value (``_promising_options``); when none does, the iteration
  passes.
- ``swap`` (wireless): exchange two tasks in the priority order.
- ``shift`` (explicit form): move one op to a random position of the order
  between its last data source and its first data consumer.

Acceptance is simulated annealing on the summed reward (minus a large
penalty per second past a deadline) or on minus the makespan, with a
temperature ``temperature * |objective| / tasks`` (makespan: ``/ ops``)
cooling linearly to zero over the budget: a move is accepted when its score
is at least the current one or above ``current + temperature * ln(u)``, ``u``
uniform in [0, 1). The best plan seen is kept, and the result is never worse
than the start (the best starts there).

Early rejection (reward objective): ``u`` is drawn before the move is
placed, so the score the move must reach is known. While the suffix is
placed, the tasks it leaves alone keep their values, a task whose suffix ops
are all placed has its exact value (nothing placed later moves it), and every
other task of the suffix has an upper bound (``Engine.options_bound`` for a
task with fixed options, ``Engine.mode_value_bound`` over its allowed modes
for a re-inserted one); as soon as their sum is below the threshold (by a
1e-9 relative margin against rounding) the move is rejected without placing
the rest. The decisions are those of evaluating every move in full
(``tests/test_local_search_early.py`` runs both): only the work changes
(on M, ~38 % fewer op placements).

Moves are drawn with weights option 6 : reinsert 2 : swap 0.5 (wireless
form; explicit form: equal). Why: over 800 iterations on the ten M
instances with two seeds (weights 3 : 2 : 1 and the option filter of
``Engine.mode_bound``'s latency then, which could exceed a reachable one), a new best
came from 116 of 7,466 option moves (29k op placements, early rejection
on), 48 of 5,224 reinserts (59k placements, not counting the greedy
insertion's tentative ones) and 16 of 2,410 swaps (45k placements; 83 % of
the swaps left the score unchanged): per unit of work the option move
improves most, the swap least. On M over six seeds, at 1,000 iterations,
the mean gap to the optima was 0.23 % with 3 : 2 : 1, 0.21 % with
6 : 2 : 0.5, 0.23 % with 6 : 2 : 0, in 120, 87 and 83 ms of CPU.

Budget, deterministic by default: ``default_max_iters`` iterations
(``ITERS_PER_TASK`` per task, between ``MIN_DEFAULT_ITERS`` and
``DEFAULT_MAX_ITERS``: 1,000 on S and M, 2,000 from 16 tasks on; the explicit
form ``DEFAULT_MAX_ITERS``) and ``max_placements`` op placements of
re-scheduled suffixes (default ``DEFAULT_MAX_PLACEMENTS``, above
``LARGE_TASKS`` tasks ``LARGE_MAX_PLACEMENTS``; every op a move takes off
counts, whether or not early rejection spares placing it again), whichever
ends first. The iteration cap binds on
small instances (short suffixes); on large ones each move re-places a longer
suffix and the placement cap binds, so the iterations scale down with the
size of the instance and the time stays roughly flat (see ``bench_fast.py``).
Above ``LARGE_TASKS`` tasks only greedy (spt) and best-single-mode are built
as starts (each greedy order is a full greedy run). The temperature cools
with the largest budget fraction used. A wall-clock ``time_limit_s`` is an
option: with it and no ``max_iters`` the search runs until the clock (and
the result depends on the machine's speed; ``info["deterministic"]`` says
which applies).
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

from offload_opt.costs import CostTables
from offload_opt.solvers.explicit_search import improve_explicit
from offload_opt.solvers.greedy import insert_task
from offload_opt.solvers.options import DEFAULT_LS_TEMPERATURE, LocalSearchOptions
from offload_opt.solvers.output import SolverOutput
from offload_opt.solvers.starts import START_NAMES, best_start
from offload_opt.solvers.timeline import Engine, Record, Unit

DEFAULT_MAX_ITERS = 2000  # the most iterations by default (and the explicit form's budget); the fewest:
MIN_DEFAULT_ITERS = 1000  # wireless form: ITERS_PER_TASK per task between these two
ITERS_PER_TASK = 125
DEFAULT_MAX_PLACEMENTS = 40_000
LARGE_TASKS = 200  # above this many tasks only LARGE_STARTS are built, and the placement budget is:
LARGE_MAX_PLACEMENTS = 10_000  # (the two starts take most of the time there: greedy alone ~1 s at 1,000 x 50)
LARGE_STARTS = ("greedy-spt", "best-single-mode")
MOVE_WEIGHTS = {"option": 6.0, "reinsert": 2.0, "swap": 0.5}  # wireless form (see the module docstring)
DEFAULT_TEMPERATURE = DEFAULT_LS_TEMPERATURE  # declared with the options (options.py)
REJECT_MARGIN = 1e-9  # early rejection: relative margin below the acceptance threshold (rounding)
FIRST_MOVE_FRACTION = 0.05  # time of the first move, as a fraction of the greedy start's (measured: ~0.02)


class Search:
    """A plan, its schedule on an Engine, and suffix re-scheduling with exact undo."""

    def __init__(self, eng: Engine, units: list[Unit]) -> None:
        self.eng = eng
        self.costs = eng.costs
        self.units = units
        n = len(eng.tasks)
        self.value = [0.0] * n  # per task: reward minus deadline penalty, or its last end (makespan)
        for ti in range(n):
            self.value[ti] = self._task_value(ti)

    # -- values --

    def _task_value(self, ti: int) -> float:
        return self.eng.task_end_s(ti) if self.eng.makespan_objective else self.eng.task_value(ti)

    def score(self) -> float:
        """What the search maximises: reward (with deadline penalties), or minus the makespan."""
        return -max(self.value) if self.eng.makespan_objective else sum(self.value)

    # -- plan --

    def plan(self) -> tuple[list[Unit], list[tuple[int, list[int]]]]:
        st = self.eng.state
        return list(self.units), [(s.mode, list(s.opts)) for s in st if s is not None]

    def task_block(self, ti: int) -> tuple[int, int]:
        """Positions [a, b) of the task's units (contiguous in the wireless form)."""
        idx = [p for p, (t, _) in enumerate(self.units) if t == ti]
        return idx[0], idx[-1] + 1

    # -- re-scheduling --

    def take_off(self, p: int) -> list[tuple[Unit, int, list[Record]]]:
        """Unplace every unit from position ``p`` on (LIFO); what was there, in order."""
        state, unplace = self.eng.state, self.eng.unplace_op
        out = []
        for ti, i in reversed(self.units[p:]):
            j = state[ti].opts[i]  # type: ignore[union-attr]
            out.append(((ti, i), j, unplace(ti, i)))
        out.reverse()
        return out

    def put_back(self, p: int, saved: list[tuple[Unit, int, list[Record]]], modes: dict[int, int]) -> None:
        """Undo a move: unplace the new suffix from ``p``, restore task modes and the saved records."""
        eng = self.eng
        unplace = eng.unplace_op
        for ti, i in reversed(self.units[p:]):
            unplace(ti, i)
        for ti, m in modes.items():
            eng.begin(ti, m)
        for (ti, i), j, recs in saved:
            eng.restore_op(ti, i, j, recs)
        self.units[p:] = [u for u, _, _ in saved]

    def place_suffix(
        self,
        p: int,
        suffix: list[tuple[str, Any]],
        opts: dict[int, list[int]],
        need: float | None = None,
        ubs: dict[int, float] | None = None,
        other: float = 0.0,
    ) -> bool:
        """Place ``suffix`` from position ``p``: ("unit", (ti, i)) with option ``opts[ti][i]``, or
        ("task", (ti, modes)) inserted greedily.

        Early rejection: with ``need`` (the score below which the move is rejected) and ``ubs`` (an upper
        bound of the value of every task in the suffix), the score is bounded from above as the suffix is
        placed: ``other`` (the tasks outside it, unchanged) plus the exact value of every task whose
        suffix ops are all placed plus the bounds of the others. As soon as that bound is below ``need``
        the move cannot be accepted: placing stops and False is returned (the units placed so far are
        the new ``units[p:]``, for ``put_back``). True: the whole suffix is placed.
        """
        eng = self.eng
        new_units: list[Unit] = []
        if need is None or ubs is None:
            touched: set[int] = set()
            for kind, what in suffix:
                if kind == "unit":
                    ti, i = what
                    eng.place_op(ti, i, opts[ti][i])
                    new_units.append((ti, i))
                    touched.add(ti)
                else:
                    ti, modes = what
                    new_units.extend(insert_task(eng, ti, modes))
                    touched.add(ti)
            self.units[p:] = new_units
            for ti in touched:
                self.value[ti] = self._task_value(ti)
            return True
        left: dict[int, int] = {}
        for kind, what in suffix:
            if kind == "unit":
                left[what[0]] = left.get(what[0], 0) + 1
        total = other + sum(ubs.values())
        limit = need - REJECT_MARGIN * max(1.0, abs(need))  # rounding of the sums cannot reject wrongly
        place_op, value = eng.place_op, self.value
        for kind, what in suffix:
            if kind == "unit":
                ti, i = what
                place_op(ti, i, opts[ti][i])
                new_units.append(what)
                n_left = left[ti] - 1
                left[ti] = n_left
                if n_left:
                    continue
            else:
                ti, modes = what
                new_units.extend(insert_task(eng, ti, modes))
            v = value[ti] = self._task_value(ti)
            total += v - ubs[ti]
            if total < limit:
                self.units[p:] = new_units
                return False
        self.units[p:] = new_units
        return True


def _unit_window(rest: list[Unit], eng: Engine, u: Unit) -> tuple[int, int]:
    """Positions ``q`` of ``rest`` (the order without ``u``) where ``u`` may be inserted before
    ``rest[q]``: after its last data source, no later than its first data consumer."""
    ti, i = u
    mi = eng.info(ti, eng.placed(ti).mode)
    srcs = {(ti, src) for _, src in mi.in_flows[i] if src >= 0}
    dsts = {(ti, f.dst) for f in mi.mode.flows if f.src == i and f.dst >= 0}
    lo, hi = 0, len(rest)
    for p, v in enumerate(rest):
        if v in srcs:
            lo = max(lo, p + 1)
        if v in dsts:
            hi = min(hi, p)
    return lo, hi


def _promising_options(eng: Engine, ti: int, i: int, value: float) -> list[int]:
    """The other options of op ``i`` of task ``ti`` with which the task could still reach ``value``: its
    value bound with that option, the other ops keeping theirs (``Engine.options_bound``: exact quality,
    no-wait latency with these options' transfers), is at least ``value``. An option below can only pay
    by freeing a resource for other tasks; the option move does not propose it (the reinsert move, whose
    greedy insertion measures every option, still can)."""
    st = eng.placed(ti)
    opts = list(st.opts)
    cur = opts[i]
    out = []
    for j in range(len(eng.tasks[ti].modes[st.mode].ops[i].options)):
        if j != cur:
            opts[i] = j
            if eng.options_bound(ti, st.mode, tuple(opts)) >= value:
                out.append(j)
    return out


def _pick_task(rng: random.Random, s: Search, n_tasks: int) -> int:
    """A task: uniformly, or (half the time) one of the last eighth of the order, whose moves re-schedule
    a short suffix only and which got the leftovers of the timelines. Above ``LARGE_TASKS`` tasks always
    from the last eighth: a move from anywhere would re-schedule ~half of thousands of ops."""
    u = rng.random()
    if n_tasks < 16 or (u < 0.5 and n_tasks <= LARGE_TASKS):
        return rng.randrange(n_tasks)
    return s.units[len(s.units) - 1 - rng.randrange(max(1, len(s.units) // 8))][0]


def local_search(
    eng: Engine,
    units: list[Unit],
    rng: random.Random,
    time_limit_s: float | None,
    max_iters: int | None,
    temperature: float,
    first_move_s: float = 0.0,
    max_placements: int | None = None,
    early_reject: bool = True,
) -> tuple[Search, dict[str, Any]]:
    """Anneal from the plan ``units`` placed on ``eng``; returns the best plan, placed.

    Under a time limit, a move is started only if the mean time of the moves
    so far (``first_move_s`` before the first) and re-placing the best plan
    still fit. ``max_placements`` stops the search once that many op
    placements of re-scheduled suffixes are made (deterministic); a placement is
    counted for every op of the suffix a move takes off, whether or not early
    rejection (``early_reject``, reward objective only) spares placing it again,
    so early rejection changes the work, never a decision.
    """
    if eng.explicit and eng.makespan_objective:  # explicit form: moves of an op's machine and place together
        eng, units, ex_stats = improve_explicit(eng, units, rng, time_limit_s, max_iters)
        # the explicit search counts evaluated plans; max_placements does not apply to it
        done = max_iters is not None and ex_stats["iterations"] >= max_iters
        ex_stats["stopped_by"] = "max_iters" if done else "time_limit"
        return Search(eng, units), ex_stats
    s = Search(eng, units)
    n_tasks = len(eng.tasks)
    makespan = eng.makespan_objective  # the explicit form's objective: moves and scale per op
    cur = best = s.score()
    best_plan = s.plan()
    best_is_current = True
    start = time.perf_counter()
    # the objective's scale, not the score's: a missed deadline's penalty would make the walk random
    scale = abs(eng.objective()) / (len(units) if makespan else max(n_tasks, 1)) or 1.0
    t0 = temperature * scale
    stats: dict[str, Any] = {"iterations": 0, "accepted": 0, "improved": 0, "rejected_early": 0}
    early = early_reject and not makespan
    moves = ["option", "shift"] if makespan else ["reinsert", "option", "swap"]
    weights = None if makespan else [MOVE_WEIGHTS[m] for m in moves]
    place_s, placed = 0.0, 0  # time spent placing units, to reserve time for re-placing the best plan
    placed_ops = 0  # op placements actually made (early rejection skips some)
    it = 0
    stats["stopped_by"] = "max_iters"
    while max_iters is None or it < max_iters:
        if max_placements is not None and placed >= max_placements:
            stats["stopped_by"] = "max_placements"
            break
        elapsed = time.perf_counter() - start
        if time_limit_s is not None:
            per_iter = elapsed / it if it else first_move_s
            rebuild = 0.0 if best_is_current or not placed else place_s / placed * len(best_plan[0])
            if elapsed + per_iter + rebuild >= time_limit_s:
                stats["stopped_by"] = "time_limit"
                break
        progress = it / max_iters if max_iters else 0.0
        if max_placements:
            progress = max(progress, placed / max_placements)
        if time_limit_s:
            progress = max(progress, elapsed / time_limit_s)
        temp = t0 * (1.0 - progress)
        it += 1
        move = rng.choice(moves) if weights is None else rng.choices(moves, weights)[0]
        modes_before: dict[int, int] = {}
        modes = None
        if move == "reinsert":  # take a task out, insert it greedily (possibly in another mode)
            ti = _pick_task(rng, s, n_tasks)
            a, b = s.task_block(ti)
            rest = s.units[:a] + s.units[b:]
            q = a
            if rng.random() < 0.5:
                lo = 0 if n_tasks <= LARGE_TASKS else len(rest) - len(rest) // 8  # large: within the tail
                q = rng.choice(
                    [lo]
                    + [
                        p
                        for p in range(lo + 1, len(rest) + 1)
                        if p == len(rest) or rest[p][0] != rest[p - 1][0]
                    ]
                )
            p = min(a, q)
            cur_mode = eng.placed(ti).mode
            n_modes = len(eng.tasks[ti].modes)
            if n_modes > 1 and rng.random() < 1 / 3:
                modes = [rng.choice([m for m in range(n_modes) if m != cur_mode])]
            suffix_units = (rest[:q] + [(-1, -1)] + rest[q:])[p:]
            modes_before[ti] = cur_mode
        elif move == "swap":  # exchange two tasks in the priority order
            if n_tasks < 2:
                continue
            t1 = _pick_task(rng, s, n_tasks)
            t2 = rng.randrange(n_tasks) if n_tasks <= LARGE_TASKS else _pick_task(rng, s, n_tasks)
            if t1 == t2:
                continue
            (a1, b1), (a2, b2) = sorted((s.task_block(t1), s.task_block(t2)))
            new_order = s.units[:a1] + s.units[a2:b2] + s.units[b1:a2] + s.units[a1:b1] + s.units[b2:]
            p = a1
            suffix_units = new_order[p:]
        elif move == "option":  # one op to another (node, model)
            if makespan:
                ti, i = rng.choice(s.units)
            else:
                ti = _pick_task(rng, s, n_tasks)
                i = rng.randrange(len(eng.placed(ti).opts))
            st = eng.placed(ti)
            if makespan:
                n_opt = len(eng.tasks[ti].modes[st.mode].ops[i].options)
                if n_opt < 2:
                    continue
                j = rng.randrange(n_opt - 1)
                if j >= st.opts[i]:
                    j += 1
            else:
                cands = _promising_options(eng, ti, i, s.value[ti])
                if not cands:
                    continue
                j = rng.choice(cands)
            p = s.units.index((ti, i))
            suffix_units = s.units[p:]
        else:  # shift: one op to another position of the order, within its data dependencies
            u = rng.choice(s.units)
            a = s.units.index(u)
            rest = s.units[:a] + s.units[a + 1 :]
            lo, hi = _unit_window(rest, eng, u)
            q = rng.randint(lo, hi)
            if q == a:
                continue
            p = min(a, q)
            suffix_units = (rest[:q] + [u] + rest[q:])[p:]
        # every task in the suffix keeps its options (the moved op gets its new one)
        opts: dict[int, list[int]] = {}
        for t, _ in suffix_units:
            if t >= 0 and t not in opts:
                opts[t] = list(eng.placed(t).opts)
        if move == "option":
            opts[ti][i] = j
        old_values = {t: s.value[t] for t in opts}
        # the acceptance draw comes first, so the score a move must reach is known while it is placed
        draw = rng.random()
        need = cur if temp <= 0 else cur + temp * math.log(draw) if draw > 0 else -math.inf
        ubs: dict[int, float] | None = None
        if early:
            ubs = {t: eng.options_bound(t, eng.placed(t).mode, tuple(o)) for t, o in opts.items()}
        saved = s.take_off(p)
        if move == "reinsert":
            old_values[ti] = s.value[ti]
            if ubs is not None:
                cand = range(len(eng.tasks[ti].modes)) if modes is None else modes
                ubs[ti] = max(eng.mode_value_bound(ti, m) for m in cand)
            eng.begin(ti, eng.placed(ti).mode)
            suffix = [("task", (ti, modes)) if u[0] < 0 else ("unit", u) for u in suffix_units if u[0] != ti]
        else:
            suffix = [("unit", u) for u in suffix_units]
        tp = time.perf_counter()
        other = cur - sum(old_values.values())  # the tasks the move leaves as they are
        complete = s.place_suffix(p, suffix, opts, need if early else None, ubs, other)
        place_s += time.perf_counter() - tp
        placed += len(saved)
        placed_ops += len(s.units) - p
        new = s.score() if complete else -math.inf
        if not complete:
            stats["rejected_early"] += 1
        if new >= cur or new > need:
            cur = new
            stats["accepted"] += 1
            best_is_current = False
            if new > best + 1e-12 * max(1.0, abs(best)):
                best = new
                best_plan = s.plan()
                best_is_current = True
                stats["improved"] += 1
        else:
            s.put_back(p, saved, modes_before)
            for t, v in old_values.items():
                s.value[t] = v
    stats["iterations"] = it
    stats["placements"] = placed
    stats["placed_ops"] = placed_ops
    stats["elapsed_s"] = time.perf_counter() - start
    if best_is_current:
        return s, stats
    # place the best plan again from scratch (the same list schedule, hence the same times)
    units_best, plan = best_plan
    fresh = Engine(eng.costs)
    for ti, (m, _) in enumerate(plan):
        fresh.begin(ti, m)
    for ti, i in units_best:
        fresh.place_op(ti, i, plan[ti][1][i])
    return Search(fresh, units_best), stats


def default_max_iters(costs: CostTables) -> int:
    """The default iteration budget: ``ITERS_PER_TASK`` per task, at least ``MIN_DEFAULT_ITERS`` and at most
    ``DEFAULT_MAX_ITERS`` (wireless form); the explicit form (makespan) keeps ``DEFAULT_MAX_ITERS``."""
    if costs.objective.kind == "makespan":
        return DEFAULT_MAX_ITERS
    return min(DEFAULT_MAX_ITERS, max(MIN_DEFAULT_ITERS, ITERS_PER_TASK * len(costs.tasks)))


def solve_local_search(
    costs: CostTables, *, time_limit_s: float | None, seed: int, options: LocalSearchOptions
) -> SolverOutput:
    """The ``local-search`` solver (registry.py): the best constructive start, then annealing until the
    budget ends (deterministic by default, see the module docstring)."""
    max_iters, order, temperature = options.max_iters, options.order, options.temperature
    max_placements = options.max_placements
    if time_limit_s is None and max_iters is None:  # the default: a deterministic budget
        max_iters = default_max_iters(costs)
        if max_placements is None:
            max_placements = DEFAULT_MAX_PLACEMENTS if len(costs.tasks) <= LARGE_TASKS else LARGE_MAX_PLACEMENTS
    t_start = time.perf_counter()
    # the best constructive start (greedy in ``order`` first, the other orders, the baselines): never worse
    first = f"greedy-{order}"
    names = START_NAMES if len(costs.tasks) <= LARGE_TASKS else LARGE_STARTS
    start, start_scores = best_start(costs, (first, *(n for n in names if n != first)))
    eng, units = start.eng, start.units
    greedy_s = time.perf_counter() - t_start
    start_objective = eng.objective()
    remaining = None if time_limit_s is None else max(0.0, time_limit_s - greedy_s)
    # a move re-schedules part of the order with fixed options: a small fraction of building one start
    first_move_s = FIRST_MOVE_FRACTION * greedy_s / max(1, len(start_scores))
    search, stats = local_search(
        eng, units, random.Random(seed), remaining, max_iters, temperature, first_move_s, max_placements
    )
    final = search.eng
    info: dict[str, Any] = {
        "scheduler": "insertion-based",
        "start": "heft" if final.makespan_objective else start.name,
        "start_objective": start_objective,
        "start_scores": start_scores,
        "start_time_s": greedy_s,
        "seed": seed,
        "deterministic": time_limit_s is None,
        **stats,
    }
    if not final.deadlines_met():
        info["deadlines"] = "some deadline is missed"
    return SolverOutput(
        final.solution("local-search"), "heuristic", claimed_objective=final.objective(), info=info
    )
