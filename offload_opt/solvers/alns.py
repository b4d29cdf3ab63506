"""Regret insertion plus adaptive large-neighbourhood search (ALNS), from the best constructive start.

Under the current model (issue #10) ``local-search`` is the recommended fast heuristic: at its
default budget it is closer to the optimum on S, S56 and M in a fraction of ALNS's time (README,
``benchmarks/bench_fast.py``); ALNS stays for comparison and does well on L.

Start: the best constructive schedule (``starts.best_start``: greedy in each
task order and the baselines), so the result is never worse than any of them.

The state is the plan the other heuristics use (``local_search.Search``):
each task's mode and option per op, and a priority order of ops, scheduled
insertion-based on the shared timelines (``timeline.py``), so every value is
exactly the evaluator's. One iteration is a *ruin and recreate* move:

- **destroy** (adaptive choice) ``k`` tasks, ``1 <= k <= max_destroy``:
  ``random``; ``related`` (tasks sharing a resource with a seed task, nearest
  release first, randomised by rank); ``worst`` (largest loss of reward
  against the task's own bound ``Engine.mode_bound``, randomised by rank);
  or ``option``: move one op to another (node, model) option (no repair);
- the ops from the first removed task on are taken off the timelines; the
  kept ones are placed again with their options, and the removed tasks are
  **repaired** (adaptive choice) before them (they gain priority) or after
  them, half the time each: ``regret`` (regret-2 insertion: insert first the
  task that loses most if another removed task goes first: its greedy
  value now minus its worst value after one other is inserted), ``greedy``
  (greedy's spt task order) or ``random`` order; each task is inserted by
  ``greedy.insert_task`` (its best mode, each op on the option of best
  marginal reward; a task that then misses its deadline is placed again
  deadline-first, fastest options upgraded op by op, see ``greedy.py``),
  and with probability ``mode_flip`` one removed task is
  forced into another mode.

Acceptance is simulated annealing on the summed reward minus the deadline
penalty (``Engine.task_value``: a missed deadline costs ~1e3 reward units per
second, so schedules meeting the deadlines win whenever the search finds
one: in effect a feasibility phase, the total violation first, then the
reward), with temperature ``temperature * |start objective| / tasks`` cooling
linearly to zero. Operator weights adapt per segment of ``segment``
iterations (Ropke & Pisinger 2006: 33 for a new best, 9 for an improvement,
13 for an accepted move; reaction ``reaction``).

Budget, deterministic by default: ``max_iters`` iterations and
``max_placements`` op placements (placements and tentative insertions
counted; default 50,000 + 20 per op of the start, 10 per op above
``LARGE_TASKS`` tasks), whichever comes first, and
optionally ``patience`` iterations without a new best; the temperature cools
with the larger of the two budget fractions used. The same instance, seed and
options give the same solution on any machine. A wall-clock limit
(``solve(time_limit=...)``) is an extra stop that makes the result depend on
the machine's speed; it is off unless given, and ``info["deterministic"]``
says which applies.

Above ``LARGE_TASKS`` tasks only greedy (spt) and best-single-mode are built
as starts (each greedy order is a full greedy run), and half the destroys pick
tasks near the end of the priority order, whose moves re-schedule a short
suffix only.

On the explicit-cost form (makespan) the search is ``local_search``'s
annealing from HEFT with the same iteration budget.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

from offload_opt.costs import CostTables
from offload_opt.solvers.greedy import TASK_ORDERS, insert_task
from offload_opt.solvers.local_search import Search, local_search
from offload_opt.solvers.options import ALNS_REPAIRS, AlnsOptions
from offload_opt.solvers.output import SolverOutput
from offload_opt.solvers.starts import START_NAMES, best_start
from offload_opt.solvers.timeline import Engine, Record, Unit

NAME = "alns"
DESTROYS = ("random", "related", "worst", "option")
REPAIRS = ALNS_REPAIRS  # declared with the options (options.py)
LARGE_TASKS = 200  # above this many tasks: fewer constructive starts, and half the moves near the order's end
LARGE_STARTS = ("greedy-spt", "best-single-mode")
SIGMA_BEST, SIGMA_BETTER, SIGMA_ACCEPTED = 33.0, 9.0, 13.0  # Ropke & Pisinger (2006), Transp. Sci. 40(4)


class _Roulette:
    """Adaptive operator weights (roulette-wheel choice, segment-wise update)."""

    def __init__(self, names: tuple[str, ...], reaction: float) -> None:
        self.names = names
        self.weights = [1.0] * len(names)
        self.scores = [0.0] * len(names)
        self.uses = [0] * len(names)
        self.reaction = reaction

    def pick(self, rng: random.Random, allowed: tuple[str, ...] | None = None) -> int:
        w = [
            x if allowed is None or n in allowed else 0.0
            for n, x in zip(self.names, self.weights, strict=True)
        ]
        return rng.choices(range(len(self.names)), weights=w)[0]

    def reward(self, k: int, score: float) -> None:
        self.scores[k] += score
        self.uses[k] += 1

    def update(self) -> None:
        r = self.reaction
        for k in range(len(self.names)):
            if self.uses[k]:
                self.weights[k] = max(0.05, (1 - r) * self.weights[k] + r * self.scores[k] / self.uses[k])
        self.scores = [0.0] * len(self.names)
        self.uses = [0] * len(self.names)


def _ranked_pick(rng: random.Random, ranked: list[int], k: int, power: float = 3.0) -> list[int]:
    """``k`` distinct items, each drawn at rank ``floor(len * u**power)`` of what is left (bias to the top)."""
    left = list(ranked)
    out: list[int] = []
    while left and len(out) < k:
        out.append(left.pop(int(len(left) * rng.random() ** power)))
    return out


class Alns:
    """One ALNS run on a placed start (see the module docstring)."""

    def __init__(self, eng: Engine, units: list[Unit], opts: AlnsOptions, rng: random.Random) -> None:
        self.s = Search(eng, units)
        self.eng = eng
        self.opts = opts
        self.rng = rng
        self.n = len(eng.tasks)
        self.placements = 0
        # default: above LARGE_TASKS, about ten re-placements of the whole order
        default = 50_000 + 20 * len(units) if self.n <= LARGE_TASKS else 10 * len(units)
        self.max_placements: int = opts.max_placements if opts.max_placements is not None else default
        self.spt_rank = {t: r for r, t in enumerate(TASK_ORDERS["spt"](eng))}
        self.bound = [
            max(eng.mode_bound(t, m) for m in range(len(eng.tasks[t].modes))) for t in range(self.n)
        ]

    # -- destroy --

    def _resources(self, ti: int) -> set[str]:
        st = self.eng.state[ti]
        assert st is not None
        return {r[1] for recs in st.recs for r in recs if r[1] is not None}

    def destroy(self, kind: str, k: int) -> list[int]:
        rng, n = self.rng, self.n
        if n > LARGE_TASKS and kind != "worst" and rng.random() < 0.5:
            # a move re-schedules the order from its first removed task on: near the end it costs little
            tail = list(
                dict.fromkeys(t for t, _ in reversed(self.s.units[-max(8 * k, len(self.s.units) // 8) :]))
            )
            return rng.sample(tail, min(k, len(tail)))
        if kind == "random":
            return rng.sample(range(n), k)
        if kind == "worst":
            loss = [self.bound[t] - self.s.value[t] for t in range(n)]
            return _ranked_pick(rng, sorted(range(n), key=lambda t: (-loss[t], t)), k)
        seed = rng.randrange(n)  # related: share a resource with the seed task, nearest release first
        mine = self._resources(seed)
        rel = self.eng.tasks[seed].release_s
        others = sorted(
            (t for t in range(n) if t != seed),
            key=lambda t: (not (mine & self._resources(t)), abs(self.eng.tasks[t].release_s - rel), t),
        )
        return [seed, *_ranked_pick(rng, others, k - 1)]

    # -- repair --

    def _insert(self, ti: int, modes: list[int] | None) -> list[Unit]:
        units = insert_task(self.eng, ti, modes)
        self.placements += len(units)
        return units

    def _try(self, ti: int, modes: list[int] | None, first: int | None = None) -> float:
        """Value of inserting ``ti`` now (after ``first``, if given); nothing stays placed."""
        eng = self.eng
        placed = self._insert(first, None) if first is not None else []
        units = self._insert(ti, modes)
        v = eng.task_value(ti)
        for t, i in reversed(placed + units):  # LIFO: the task tried, then the one before it
            eng.unplace_op(t, i)
        return v

    def repair(self, kind: str, removed: list[int], modes: dict[int, list[int] | None]) -> list[Unit]:
        """Insert the removed tasks (each greedily, in the order the repair chooses); their units."""
        todo = list(removed)
        if kind == "greedy":
            todo.sort(key=lambda t: self.spt_rank[t])
        elif kind == "random":
            self.rng.shuffle(todo)
        out: list[Unit] = []
        while todo:
            if kind == "regret" and len(todo) > 1:
                best_t, best_key = todo[0], -math.inf
                for t in todo:
                    now = self._try(t, modes[t])
                    later = min(self._try(t, modes[t], first=o) for o in todo if o != t)
                    key = now - later
                    if key > best_key + 1e-12:
                        best_t, best_key = t, key
                ti = best_t
                todo.remove(ti)
            else:
                ti = todo.pop(0)
            out.extend(self._insert(ti, modes[ti]))
        return out

    # -- one move --

    def move(
        self, destroy: str, repair: str
    ) -> tuple[int, list[tuple[Unit, int, list[Record]]], dict[int, int]]:
        """Apply one ruin-and-recreate (or option) move; what ``Search.put_back`` needs to undo it."""
        eng, s, rng = self.eng, self.s, self.rng
        if destroy == "option":
            ti = rng.randrange(self.n)
            st = eng.state[ti]
            assert st is not None
            i = rng.randrange(len(st.opts))
            n_opt = len(eng.tasks[ti].modes[st.mode].ops[i].options)
            j = rng.randrange(n_opt - 1) if n_opt > 1 else 0
            if n_opt > 1 and j >= st.opts[i]:
                j += 1
            p = s.units.index((ti, i))
            suffix = s.units[p:]
            opts = {t: list(eng.state[t].opts) for t, _ in suffix}  # type: ignore[union-attr]
            opts[ti][i] = j
            saved = s.take_off(p)
            s.place_suffix(p, [("unit", u) for u in suffix], opts)
            self.placements += len(suffix)
            return p, saved, {}
        k = rng.randint(1, min(self.opts.max_destroy, self.n))
        removed = self.destroy(destroy, k)
        rem = set(removed)
        p = min(q for q, (t, _) in enumerate(s.units) if t in rem)
        kept = [u for u in s.units[p:] if u[0] not in rem]
        opts = {t: list(eng.state[t].opts) for t, _ in kept}  # type: ignore[union-attr]
        modes_before = {t: eng.state[t].mode for t in removed}  # type: ignore[union-attr]
        saved = s.take_off(p)
        modes: dict[int, list[int] | None] = dict.fromkeys(removed)
        if rng.random() < self.opts.mode_flip:
            t = rng.choice(removed)
            n_modes = len(eng.tasks[t].modes)
            if n_modes > 1:
                modes[t] = [rng.choice([m for m in range(n_modes) if m != modes_before[t]])]
        for t in removed:
            eng.begin(t, modes_before[t])
        front = rng.random() < 0.5
        new_units: list[Unit] = self.repair(repair, removed, modes) if front else []
        for ti, i in kept:
            eng.place_op(ti, i, opts[ti][i])
            new_units.append((ti, i))
        self.placements += len(kept)
        if not front:
            new_units.extend(self.repair(repair, removed, modes))
        s.units[p:] = new_units
        for t in {t for t, _ in new_units}:
            s.value[t] = s._task_value(t)
        return p, saved, modes_before

    # -- the search --

    def run(self, deadline_s: float | None) -> dict[str, Any]:
        opts, rng, s = self.opts, self.rng, self.s
        t_clock = time.perf_counter()
        cur = best = s.score()
        best_plan = s.plan()
        best_is_current = True
        # the reward's scale, not the score's: a missed deadline's penalty would make the walk random
        t0 = opts.temperature * (abs(self.eng.objective()) / max(self.n, 1) or 1.0)
        dw, rw = _Roulette(DESTROYS, opts.reaction), _Roulette(REPAIRS, opts.reaction)
        has_choice = any(len(op.options) > 1 for t in self.eng.tasks for m in t.modes for op in m.ops)
        destroys = DESTROYS if has_choice else DESTROYS[:-1]
        stats: dict[str, Any] = {"iterations": 0, "accepted": 0, "improved": 0}
        stopped_by = "max_iters"
        it = last_best_it = 0
        while it < opts.max_iters:
            if self.placements >= self.max_placements:
                stopped_by = "max_placements"
                break
            if opts.patience is not None and it - last_best_it >= opts.patience:
                stopped_by = "patience"
                break
            if deadline_s is not None and time.perf_counter() - t_clock >= deadline_s:
                stopped_by = "time_limit"
                break
            temp = t0 * (1.0 - max(it / opts.max_iters, self.placements / self.max_placements))
            it += 1
            d = dw.pick(rng, destroys)
            r = rw.pick(rng, opts.repairs)
            old_values = list(s.value)
            p, saved, modes_before = self.move(DESTROYS[d], REPAIRS[r])
            new = s.score()
            delta = new - cur
            gain = 0.0
            if delta >= 0 or (temp > 0 and rng.random() < math.exp(delta / temp)):
                gain = SIGMA_BETTER if delta > 1e-12 * max(1.0, abs(cur)) else SIGMA_ACCEPTED
                cur = new
                stats["accepted"] += 1
                best_is_current = False
                if new > best + 1e-12 * max(1.0, abs(best)):
                    best, best_plan, best_is_current = new, s.plan(), True
                    last_best_it = it
                    stats["improved"] += 1
                    gain = SIGMA_BEST
            else:
                s.put_back(p, saved, modes_before)
                s.value[:] = old_values
            dw.reward(d, gain)
            if DESTROYS[d] != "option":
                rw.reward(r, gain)
            if it % opts.segment == 0:
                dw.update()
                rw.update()
        stats["iterations"] = it
        stats["placements"] = self.placements
        stats["stopped_by"] = stopped_by
        stats["weights"] = {
            **{f"destroy:{n}": round(w, 3) for n, w in zip(DESTROYS, dw.weights, strict=True)},
            **{f"repair:{n}": round(w, 3) for n, w in zip(REPAIRS, rw.weights, strict=True)},
        }
        if not best_is_current:
            self.s = _replay(self.eng.costs, best_plan)
            self.eng = self.s.eng
        return stats


def _replay(costs: CostTables, plan: tuple[list[Unit], list[tuple[int, list[int]]]]) -> Search:
    """Place a plan again from scratch: the same list schedule, hence the same times."""
    units, decisions = plan
    eng = Engine(costs)
    for ti, (m, _) in enumerate(decisions):
        eng.begin(ti, m)
    for ti, i in units:
        eng.place_op(ti, i, decisions[ti][1][i])
    return Search(eng, list(units))


def solve_alns(
    costs: CostTables, *, time_limit_s: float | None, seed: int, options: AlnsOptions
) -> SolverOutput:
    """The ``alns`` solver (registry.py): the best constructive start, then ruin and recreate."""
    opts = options
    t0 = time.perf_counter()
    starts = opts.starts
    if starts is None:
        starts = START_NAMES if len(costs.tasks) <= LARGE_TASKS else LARGE_STARTS
    start, start_scores = best_start(costs, starts)
    start_s = time.perf_counter() - t0
    info: dict[str, Any] = {
        "scheduler": "insertion-based",
        "start": start.name,
        "start_objective": start.eng.objective(),
        "start_scores": start_scores,
        "start_time_s": start_s,
        "seed": seed,
        "deterministic": time_limit_s is None,
    }
    remaining = None if time_limit_s is None else max(0.0, time_limit_s - start_s)
    rng = random.Random(seed)
    if start.eng.makespan_objective:
        search, stats = local_search(start.eng, start.units, rng, remaining, opts.max_iters, 0.05)
        eng = search.eng
    else:
        alns = Alns(start.eng, start.units, opts, rng)
        stats = alns.run(remaining)
        eng = alns.eng
    info.update(stats)
    if not eng.deadlines_met():
        info["deadlines"] = "some deadline is missed"
    return SolverOutput(eng.solution(NAME), "heuristic", claimed_objective=eng.objective(), info=info)
