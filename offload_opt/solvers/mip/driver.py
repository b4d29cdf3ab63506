"""The HiGHS driver: solve the relaxation, separate its conflicts, repeat (docs/mip.md, "Solving").

Each round solves the current model (only some resource orders present) with HiGHS; its bound is
valid for the full model. The round's solution is evaluated (a better one replaces the
incumbent), and the conflicts it shows are added as rows. The loop ends ``optimal`` when the
relaxation's solution needs no more order, or when the evaluated incumbent is within
``mip_gap`` (or ``NUMERIC_GAP``) of the bound -- never ``optimal`` with a larger evaluated gap.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from pyomo.contrib.appsi.base import TerminationCondition
from pyomo.contrib.appsi.solvers.highs import Highs

from offload_opt.evaluator import Evaluation, evaluate
from offload_opt.solution import Solution
from offload_opt.solvers.mip.highs import forget_solution, run_highs
from offload_opt.solvers.mip.mapping import canonical_slots, extract_solution, load_values
from offload_opt.solvers.mip.model import MipModel, Pair
from offload_opt.solvers.mip.report import MipReport
from offload_opt.solvers.mip.separation import content_cuts, find_conflicts
from offload_opt.solvers.mip.targets import better, gap, satisfies, target_value
from offload_opt.solvers.options import MipOptions
from offload_opt.solvers.output import NUMERIC_GAP, Termination


@dataclass
class Incumbent:
    """The best evaluated solution so far and its target value (all None: none yet)."""

    solution: Solution | None = None
    evaluation: Evaluation | None = None
    value: float | None = None


def solve_round(
    model: MipModel,
    opt: Highs,
    options: MipOptions,
    seed: int,
    deadline: float | None,
    warm: bool,
    report: MipReport,
    cleared: bool = False,
):
    """One HiGHS run whose variable values are the solution HiGHS reports (docs/mip.md, "Solving").

    HiGHS 1.16, given a MIP start, also values the start in the presolved model, where it can be
    worth more than in the original one (seen: 11.978 in the original, "feasible in the reduced
    space" at 10.971, the true optimum); when the search then finds nothing better, HiGHS reports
    the reduced-space objective (status ``optimal``, bound equal) but hands back the start's
    original values, not a postsolved point of that objective. So the values' own objective is
    compared with the reported one, and on a mismatch the run is repeated without a start (the
    solution HiGHS kept from the run is cleared first: HiGHS takes it as the next start even when ``warm`` is off, so a cold
    round can meet this too). Each repeat is counted in ``report.start_returned``; a mismatch
    after the clearing (not seen) is reported in ``report.error``.
    """

    def run(with_start: bool):
        remaining = None if deadline is None else deadline - time.perf_counter()
        return run_highs(
            model,
            remaining,
            options.mip_gap,
            options.threads,
            warm=with_start,
            solver=opt,
            seed=seed,
            log=options.log,
        )

    res = run(warm)
    if res.best_feasible_objective is None:
        return res
    res.solution_loader.load_vars()
    reported = float(res.best_feasible_objective)
    if abs(model.value(model.m.obj) - reported) <= NUMERIC_GAP * max(1.0, abs(reported)):
        return res
    if cleared:
        report.error = (
            f"mip: HiGHS reported objective {reported:.9g} but its values are worth "
            f"{model.value(model.m.obj):.9g}"
        )
        return res
    report.start_returned += 1
    forget_solution(opt)
    return solve_round(model, opt, options, seed, deadline, False, report, cleared=True)


def run_rounds(
    model: MipModel,
    opt: Highs,
    candidates: dict[Pair, list[str]],
    best: Incumbent,
    options: MipOptions,
    seed: int,
    deadline: float | None,
    report: MipReport,
) -> tuple[Termination, float | None]:
    """Row generation until optimal, infeasible or ``deadline``; returns (termination, best bound).

    ``best`` is updated in place with every better evaluated solution.
    """
    st, costs, target = model.st, model.costs, model.target
    allowed_gap = max(options.mip_gap, NUMERIC_GAP)
    bound: float | None = None
    termination: Termination = "error"
    ts = time.perf_counter()
    while True:
        report.iterations += 1
        remaining = None if deadline is None else deadline - time.perf_counter()
        if remaining is not None and remaining <= 0:
            termination = "time_limit"
            break
        tr = time.perf_counter()
        res = solve_round(model, opt, options, seed, deadline, best.solution is not None, report)
        tc = res.termination_condition
        report.round_log.append(
            (
                round(time.perf_counter() - tr, 2),
                str(tc).rsplit(".", 1)[-1],
                res.best_objective_bound,
                res.best_feasible_objective,
            )
        )
        if res.best_objective_bound is not None and math.isfinite(res.best_objective_bound):
            b = float(res.best_objective_bound)
            if bound is None or (b < bound if target.sense == "max" else b > bound):
                bound = b
        if tc == TerminationCondition.infeasible:
            termination = "infeasible" if best.solution is None else "error"
            if best.solution is not None:
                report.error = "the model is infeasible although a feasible incumbent exists"
            break
        if tc in (TerminationCondition.unbounded, TerminationCondition.infeasibleOrUnbounded):
            termination = "unbounded" if tc == TerminationCondition.unbounded else "infeasible"
            break
        pairs: dict[Pair, list[str]] = {}
        cliques: list[tuple[str, tuple[int, ...]]] = []
        if res.best_feasible_objective is not None:
            res.solution_loader.load_vars()
            report.mip_objective = float(res.best_feasible_objective)
            sol, last_assignments, times = extract_solution(model)
            ev = evaluate(costs, sol)
            if satisfies(target, ev):
                val = target_value(target, ev, costs)
                if better(target, val, best.value):
                    best.solution, best.evaluation, best.value = sol, ev, val
            pairs, cliques = find_conflicts(model, times, candidates)
        if tc == TerminationCondition.optimal:
            # the relaxation is solved: done when its solution needs no more order, or when the
            # evaluated best solution already reaches its bound (within the gap, or within the
            # numerical tolerance the MIP objective is checked with)
            reached = (
                best.value is not None and bound is not None and gap(target, best.value, bound) <= allowed_gap
            )
            if (not pairs and not cliques) or reached:
                termination = "optimal"
                if best.value is not None and bound is not None and not reached:
                    # the relaxation's own solution is optimal, but the evaluated incumbent is not
                    # within the gap of the bound: report what is proven
                    termination = "feasible"
                    report.error = (
                        f"mip: evaluated gap {gap(target, best.value, bound):.3g} exceeds mip_gap "
                        f"{options.mip_gap:.3g}; reported feasible, not optimal"
                    )
                break
            added = model.add_pairs(pairs) + model.add_cliques(cliques, candidates)
            added += model.separate_load_cuts()
            if options.content and target.kind != "makespan":
                crowded = {r for r, _ in cliques} | {
                    r for p, rs in pairs.items() for r in rs if not r.startswith("chan:")
                }
                added += content_cuts(model, last_assignments, times, crowded)
            report.rounds_added.append(added)
            if not added:
                # every overlap left is one the model already forbids: HiGHS accepted it within its
                # feasibility tolerance, and another round would return the same solution
                termination = "error"
                report.error = "mip: overlaps within HiGHS's tolerance and no new row to add"
                break
            if best.solution is not None and best.evaluation is not None:
                load_values(model, canonical_slots(st, best.solution), best.evaluation)
            continue
        termination = "time_limit" if tc == TerminationCondition.maxTimeLimit else "error"
        if termination == "error":
            report.error = f"HiGHS stopped with {tc}"
        break
    report.solve_time_s += time.perf_counter() - ts
    report.pairs = len(model.pairs)
    return termination, bound
