"""The ``mip`` solver: one call, phase by phase, all inside the time limit (docs/mip.md, "Solving").

0. with option ``cg_share`` > 0, a ``cg`` run on that share of the time limit (``warm.cg_start``):
   its incumbent is the warm start and its bound caps the model's objective (a valid cut); the
   reported bound is the smaller of the two methods' (``MipReport.bound_by``);
1. warm start (``warm.py``): a heuristic's incumbent; its evaluated objective bounds every task's
   latency;
2. windows (``windows.py``): valid time windows from the incumbent, tightened by LP-priced reward
   floors, which prune options and set the big-Ms;
3. model (``model.py``): by default (``lazy="all"``) only pairs of one task on a unary resource are
   ordered at first;
4. rounds (``driver.py``): HiGHS solves, the conflicts of its solution become rows
   (``separation.py``), repeat; each relaxation's bound is valid;
5. check (``mapping.polish``): the best solution is re-solved with all its decisions and
   sequences fixed (an LP whose least schedule is the evaluator's); the claimed objective is read
   from those MIP variables and compared with the evaluator's by ``solve()``.

The time limit covers the whole call. Every phase gets the remaining budget; a model build stops
between two constraint families when it runs out (``OutOfTime``), floor passes are skipped when
they would not leave time for the model, and the check is skipped (claimed objective None, noted
in ``MipReport.skipped``) when no time is left. Slack: a call can overrun its limit by at most
one uninterruptible step (one constraint family, handing the model to HiGHS, one heuristic pass,
one evaluation) -- about 1 s on the L set.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict

import pyomo.environ as pyo
from pyomo.contrib.appsi.solvers.highs import Highs

from offload_opt.costs import CostTables
from offload_opt.evaluator import evaluate
from offload_opt.solvers.bounds import makespan_lower_bound
from offload_opt.solvers.mip.driver import Incumbent, run_rounds

# re-exported: the phase modules' public functions, as imported by tests and benchmarks
from offload_opt.solvers.mip.mapping import (  # noqa: F401
    NAME,
    canonical_slots,
    extract_solution,
    load_values,
    model_resource,
    polish,
)
from offload_opt.solvers.mip.model import MipModel, OutOfTime
from offload_opt.solvers.mip.report import MipReport
from offload_opt.solvers.mip.separation import content_cuts, find_conflicts, least_completion_sum  # noqa: F401
from offload_opt.solvers.mip.structure import Structure
from offload_opt.solvers.mip.targets import gap, make_target, satisfies, target_value
from offload_opt.solvers.mip.warm import cg_start, warm_start_budget, warm_start_solution
from offload_opt.solvers.mip.windows import build_windows, lp_floors
from offload_opt.solvers.options import LAZY_MODES, MipOptions  # noqa: F401
from offload_opt.solvers.output import NUMERIC_GAP, SolverOutput

FLOOR_SHARE = 0.1  # share of the remaining time the LP floors of one pass may use
# a floor pass builds a draft model and hands it to HiGHS, then the final model is built and handed
# over too: 2 * (1 + FLOOR_HANDOFF_FACTOR) build times. A draft that takes more than 1/8 of the
# remaining time cannot leave room for that, so its build is cut there and the floors are skipped.
DRAFT_SHARE = 0.125
# appsi's set_instance (the model handed to HiGHS) took 2.3-5x the model build on L-01 (5.2 s after
# a 1.9 s build, 12 s after 2.3 s on a loaded machine): skipped when less than this many build
# times remain, since HiGHS would get no time after it. See ``_build_seconds`` for how a build is timed.
HANDOFF_FACTOR = 3.0
FLOOR_HANDOFF_FACTOR = 5.0  # the floors are optional: planned with the slowest hand-over measured
MAX_STALL = 3.0  # a build's wall time counts for at most this many times its CPU time
FLOOR_ROOM = 4.0  # another floor pass only with this many draft-build times left (room for the model)
# relative slack of the cg bound's cut (HiGHS's feasibility tolerance must not cut the optimum)
CUT_SLACK = 1e-7


def add_bound_cut(model: MipModel, bound: float) -> None:
    """The valid cut ``reward <= bound`` (``bound``: a valid upper bound on the optimum, e.g. cg's).

    The model's reward of any assignment is at most the evaluator's (its completions are at least
    the least schedule's), so the optimum's least schedule satisfies the cut: it removes no optimum.
    """
    model.m.cg_cut = pyo.Constraint(expr=model.reward_expr() <= bound + CUT_SLACK * max(1.0, abs(bound)))


def _build_seconds(started: tuple[float, float]) -> float:
    """Seconds a build took since ``started`` = (perf_counter, process_time), to predict the next steps.

    Wall time, which is what the limit is about (a loaded machine slows every step alike), but at
    most ``MAX_STALL`` times the CPU time: a stall during a small build (a frontier test on a tiny
    instance once gave up with 30 s left, its 0.1 s build having taken 10 s of wall time) says
    nothing about the hand-over that follows.
    """
    wall = time.perf_counter() - started[0]
    cpu = time.process_time() - started[1]
    return min(wall, MAX_STALL * cpu)


class _Clock:
    """The call's budget: ``deadline`` in ``time.perf_counter()`` seconds (None: no limit)."""

    def __init__(self, time_limit_s: float | None) -> None:
        self.t0 = time.perf_counter()
        self.deadline = None if time_limit_s is None else self.t0 + time_limit_s

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.perf_counter()

    def expired(self) -> bool:
        r = self.remaining()
        return r is not None and r <= 0

    def share(self, fraction: float) -> float | None:
        """A deadline ``fraction`` of the remaining time from now."""
        r = self.remaining()
        return None if r is None else time.perf_counter() + fraction * max(0.0, r)


def solve_mip(
    costs: CostTables, *, time_limit_s: float | None, seed: int, options: MipOptions
) -> SolverOutput:
    """Solve ``costs`` to proven optimality (or to the time limit, which covers every phase)."""
    clock = _Clock(time_limit_s)
    target = make_target(costs, options.max_mean_latency, options.min_mean_accuracy)
    report = MipReport(target=target.kind)
    st = Structure.build(costs)

    def out(solution=None, termination="error", claimed=None, bound=None, build_time_s=0.0) -> SolverOutput:
        return SolverOutput(solution, termination, claimed, bound, build_time_s, report.as_info(), report)

    def check(best: Incumbent, termination, bound: float | None, build_time: float) -> SolverOutput:
        """5. check: the claimed objective from the model with every decision fixed."""
        assert best.solution is not None
        out_bound = bound if target.kind in ("reward", "makespan") else None
        tp = time.perf_counter()
        claimed: float | None = None
        try:
            claimed = polish(st, target, best.solution, options.threads, clock.deadline)[0]
        except OutOfTime as exc:
            report.skipped.append(f"check of the claimed objective: {exc}")
        except RuntimeError as exc:  # never expected: the evaluator accepted this solution
            report.error = f"the fixed model of the best solution failed: {exc}"
        report.polish_time_s = time.perf_counter() - tp
        report.target_value = best.value
        if termination == "optimal" and bound is not None and best.value is not None:
            report.target_gap = abs(bound - best.value) / max(abs(best.value), 1e-9)
        return out(best.solution, termination, claimed, out_bound, build_time)

    if options.fix is not None:
        tb = time.perf_counter()
        report.fixed = True
        try:
            value, model = polish(st, target, options.fix, options.threads, clock.deadline)
        except OutOfTime as exc:
            report.skipped.append(str(exc))
            return out(termination="time_limit", build_time_s=time.perf_counter() - clock.t0)
        except RuntimeError as exc:  # e.g. sequences that contradict precedence
            report.error = str(exc)
            return out(termination="infeasible", build_time_s=time.perf_counter() - clock.t0)
        solution, _, _ = extract_solution(model)
        report.solve_time_s = time.perf_counter() - tb
        return out(solution, "feasible", value, None, time.perf_counter() - clock.t0)

    # 0. cg first: its incumbent is the warm start, its bound caps the objective
    cg_bound: float | None = None
    cg_ran = False
    if options.cg_share > 0:
        cg_limit = None if time_limit_s is None else options.cg_share * time_limit_s
        cg = cg_start(costs, target, cg_limit, options.warm_start, options.warm_start_s, seed)
        if cg.skipped is not None:
            report.skipped.append(cg.skipped)
        else:
            cg_ran = True
            cg_bound = cg.bound
            report.cg_bound, report.cg_termination, report.cg_time_s = cg.bound, cg.termination, cg.time_s
            report.cg_objective = None if cg.evaluation is None else cg.evaluation.objective
            report.warm_start_objectives.update(cg.info.get("warm_start_objectives", {}))
            report.warm_start_objectives["cg"] = report.cg_objective
            name, inc_sol, inc_ev = (
                ("cg", cg.solution, cg.evaluation) if cg.solution is not None else (None,) * 3
            )

    # 1. warm start (the heuristics ran inside cg when it ran)
    if not cg_ran:
        budget = (
            options.warm_start_s
            if options.warm_start_s is not None
            else warm_start_budget(costs, time_limit_s)
        )
        name, inc_sol, inc_ev = warm_start_solution(
            costs, options.warm_start, budget, seed, clock.deadline, report.warm_start_objectives
        )
    best = Incumbent()
    if inc_sol is not None and inc_ev is not None and satisfies(target, inc_ev):
        report.warm_start = name
        best = Incumbent(inc_sol, inc_ev, target_value(target, inc_ev, costs))
    report.heuristic_time_s = time.perf_counter() - clock.t0
    # explicit form: valid makespan lower bounds (critical path, work / processors: bounds.py) bound the
    # model's makespan, and an incumbent that meets them is proven without a model
    lower = makespan_lower_bound(costs) if target.kind == "makespan" and costs.instance.is_explicit else None
    report.makespan_lower_bound = lower

    def meets_lower(value: float | None) -> bool:
        return lower is not None and value is not None and value <= lower + NUMERIC_GAP * max(1.0, abs(lower))

    if meets_lower(best.value):
        report.target_value = best.value
        return out(best.solution, "optimal", best.value, lower, time.perf_counter() - clock.t0)
    allowed_gap = max(options.mip_gap, NUMERIC_GAP)

    def meets_cg() -> bool:
        return (
            cg_bound is not None
            and best.value is not None
            and gap(target, best.value, cg_bound) <= allowed_gap
        )

    def give_up(phase: str, build_time_s: float, why: str = "the time limit ended") -> SolverOutput:
        """The time limit ended in (or before) ``phase``: the incumbent (if any), with cg's bound if any."""
        report.skipped.append(f"{phase}: {why}")
        if best.solution is not None:
            report.target_value = best.value
            report.skipped.append("check of the claimed objective: the time limit ended")
        report.bound_by = "cg" if cg_bound is not None else None
        termination = "optimal" if meets_cg() else "time_limit"
        return out(best.solution, termination, None, cg_bound, build_time_s)

    if meets_cg():  # cg's bound already proves its incumbent: no model needed
        report.bound_by = "cg"
        return check(best, "optimal", cg_bound, time.perf_counter() - clock.t0)

    # 2. windows and LP floors
    tb = time.perf_counter()
    inc_val = best.value if options.windows else None
    win, floors = build_windows(st, target, inc_val)
    # the time-indexed rows need the incumbent's windows: over the generic horizon they are many
    # and weak (a 4-user instance without warm start: 36 s instead of 4 s)
    grid = options.time_grid if options.windows and best.value is not None else None
    report.time_grid = grid
    capacity = options.lazy in ("all", "full")
    if clock.expired():
        return give_up("windows", time.perf_counter() - tb)
    passes = options.floor_passes if floors is not None and best.value is not None else 0
    for _ in range(passes):
        td = (time.perf_counter(), time.process_time())
        try:
            draft = MipModel(
                st,
                win,
                target,
                reward_cut=floors,
                capacity=capacity,
                server_cuts=options.server_cuts,
                bound_cuts=options.bound_cuts,
                time_grid=grid,
                deadline=clock.share(DRAFT_SHARE),
            )
            if cg_bound is not None and options.cg_cut:
                add_bound_cut(draft, cg_bound)
        except OutOfTime:
            report.skipped.append("LP floors: no time to build the draft model")
            break
        draft_s = _build_seconds(td)
        remaining = clock.remaining()
        if remaining is not None and remaining < 2 * (1 + FLOOR_HANDOFF_FACTOR) * draft_s:
            report.skipped.append("LP floors: no time to hand the draft model to HiGHS and build the model")
            break
        assert best.value is not None and floors is not None
        floors = lp_floors(draft, best.value, floors, options.threads, clock.share(FLOOR_SHARE))
        win, floors = build_windows(st, target, best.value, known_floors=floors)
        report.floor_passes_done += 1
        remaining = clock.remaining()
        if remaining is not None and remaining < FLOOR_ROOM * draft_s:
            if report.floor_passes_done < passes:
                report.skipped.append("LP floors: later passes, to leave time for the model")
            break
    report.floor_time_s = time.perf_counter() - tb

    # 3. the model
    tm = (time.perf_counter(), time.process_time())
    try:
        model = MipModel(
            st,
            win,
            target,
            reward_cut=floors,
            symmetry=options.symmetry,
            capacity=capacity,
            server_cuts=options.server_cuts,
            bound_cuts=options.bound_cuts,
            time_grid=grid,
            deadline=clock.deadline,
        )
    except OutOfTime:
        return give_up("model build", time.perf_counter() - tb)
    if cg_bound is not None and options.cg_cut:
        add_bound_cut(model, cg_bound)
    if lower is not None:
        model.m.makespan.setlb(lower)
    candidates = model.candidate_pairs()
    if clock.expired():
        return give_up("model build", time.perf_counter() - tb)
    if options.lazy == "none":
        first = dict(candidates)
    elif options.lazy == "channels":
        first = {
            p: rs
            for p, rs in candidates.items()
            if st.acts[p[0]].task == st.acts[p[1]].task or any(not r.startswith("chan:") for r in rs)
        }
    else:  # intra-task pairs on unary resources; the rest when a solution overlaps them
        first = {
            p: rs
            for p, rs in candidates.items()
            if st.acts[p[0]].task == st.acts[p[1]].task and any(model.limit[r] == 1 for r in rs)
        }
    model.add_pairs(first)
    if options.lazy == "full":  # every pair and every (k + 1)-set of a k-slot server, no rounds needed
        on_server: dict[str, list[int]] = defaultdict(list)
        for i, on in model.on.items():
            for r in on:
                if model.limit.get(r, 1) > 1:
                    on_server[r].append(i)
        cliques = [
            (r, combo)
            for r, acts in on_server.items()
            for combo in itertools.combinations(sorted(acts), model.limit[r] + 1)
        ]
        model.add_cliques(cliques, candidates)
        report.cliques = len(model.cliques)
    if best.solution is not None:
        best.solution = canonical_slots(st, best.solution)
        load_values(model, best.solution, evaluate(costs, best.solution))
    model_s = _build_seconds(tm)
    remaining = clock.remaining()
    if remaining is not None and remaining < HANDOFF_FACTOR * model_s:
        # handing the model to HiGHS cannot be interrupted and would end after the limit
        return give_up(
            "handing the model to HiGHS",
            time.perf_counter() - tb,
            f"{remaining:.2f} s left, less than {HANDOFF_FACTOR:g} x the {model_s:.2f} s model build",
        )
    opt = Highs()
    opt.config.load_solution = False
    opt.set_instance(model.m)
    build_time = time.perf_counter() - tb
    report.time_indexed_vars = getattr(model, "time_indexed_vars", 0)
    report.candidate_pairs = len(candidates)
    report.options_pruned = sum(not ok for v in win.allowed.values() for ok in v)
    report.modes_pruned = sum(not ok for ok in win.mode_allowed.values())

    # 4. rounds
    termination, bound = run_rounds(model, opt, candidates, best, options, seed, clock.deadline, report)
    if lower is not None:
        bound = lower if bound is None else max(bound, lower)
        if meets_lower(best.value):
            termination = "optimal"
    if cg_bound is not None:
        # the smaller valid bound of the two methods; it may prove the incumbent the rounds could not
        report.bound_by = "mip"
        if bound is None or cg_bound < bound:
            bound, report.bound_by = cg_bound, "cg"
        if termination in ("time_limit", "feasible") and meets_cg():
            termination = "optimal"
            if report.error is not None and report.error.startswith("mip: evaluated gap"):
                report.error = None
    out_bound = bound if target.kind in ("reward", "makespan") else None
    if target.kind not in ("reward", "makespan"):
        report.target_bound = (
            bound  # a bound on the constrained target is not one on the evaluator's objective
        )
    if best.solution is None:
        return out(None, termination if termination != "optimal" else "error", None, out_bound, build_time)
    return check(best, termination, bound, build_time)
