"""Optimality gaps of heuristics against the proven optimum (or the best valid bound).

Every exact solver run on an instance (``exact``: one name or several, e.g.
``mip`` and ``cg``) contributes its bound; every row, heuristics included,
contributes its evaluated objective. The reference of an instance is its proven
optimum where one is proven (an exact solver said ``optimal``, or the best
incumbent meets the best bound within ``PROVEN_GAP``), else the best valid bound;
rows carry ``gap_vs`` = ``optimum`` or ``bound`` so the two are never mixed up,
and ``bound_by`` / ``incumbent_by`` / ``reference_by`` name the solvers that gave
the best bound, the best incumbent and the reference (``best_known``). Three gaps, because a relative gap
explodes when the reference is near zero or negative (a summed reward can be
either: latency costs outweigh the accuracy reward on a congested network):

- ``gap`` (relative): ``(reference - objective) / |reference|`` (mirrored when
  minimising), only where the reference is *clearly positive*: when maximising,
  ``reference >= REL_GAP_MIN_SHARE * accuracy_weight * n_tasks`` (at least 10 %
  of the largest accuracy reward the instance offers; ``reference > 0`` when
  the weight is unknown), else NaN. Minimised objectives (makespans) are
  positive: always defined.
- ``gap_abs_per_task``: ``(reference - objective) / n_tasks``, in the
  objective's units per task (reward units; seconds for a makespan). Defined
  for any sign of the reference.
- ``gap_norm``: ``(reference - objective) / (accuracy_weight * n_tasks)``: the
  loss as a share of the largest accuracy reward of the instance (every task
  answered correctly for sure). The denominator depends on the instance only,
  never on a solution, so it is stable and never near zero. Summed-reward
  objectives only (NaN for makespans or when the weight is unknown).

``accuracy_weight`` comes from the instances (``run_gap`` passes it) and is kept
as a column, so a table read back from disk recomputes the same gaps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from offload_opt.experiments.runner import Job, SweepSettings, run_sweep
from offload_opt.instance import Instance

DERIVED_COLUMNS = [
    "reference",
    "gap_vs",
    "reference_by",
    "ref_bound",
    "bound_by",
    "ref_incumbent",
    "incumbent_by",
    "gap",
    "gap_abs_per_task",
    "gap_norm",
    "accuracy_weight",
]
# the best incumbent counts as proven when it is this close (relative) to the best bound: the exact
# solvers' default mip_gap, so two methods together prove what either would alone
PROVEN_GAP = 1e-4
AT_OPTIMUM_TOL = 1e-6  # a loss this small (relative to max(1, |reference|)) counts as at the reference
REL_GAP_MIN_SHARE = 0.1  # relative gaps only against a reference >= 10 % of the largest accuracy reward
GAP_DEFINITIONS = (
    "gap = (reference - objective) / |reference|, only where the reference is clearly positive "
    f"(>= {REL_GAP_MIN_SHARE:g} x accuracy_weight x tasks); abs_gap_per_task = (reference - objective) / tasks "
    "in reward units; norm_gap = (reference - objective) / (accuracy_weight x tasks), the share of the "
    "largest accuracy reward"
)


def exact_names(exact: str | Sequence[str]) -> list[str]:
    """The exact solvers as a list (one name, or several in order, duplicates dropped)."""
    return [exact] if isinstance(exact, str) else list(dict.fromkeys(exact))


def gap_jobs(
    instances: Sequence[tuple[str, Instance]],
    heuristics: Sequence[str],
    exact: str | Sequence[str],
    settings: SweepSettings | None = None,
) -> list[Job]:
    """One job per (instance, solver): the exact solvers first, then every heuristic."""
    st = settings or SweepSettings()
    exacts = exact_names(exact)
    jobs = []
    for path, inst in instances:
        for name in exacts:
            jobs.append(Job(inst, name, st.time_limit_s, st.seed, st.options_for(name), instance_path=path))
        for name in heuristics:
            if name not in exacts:
                limit = st.heuristic_time_limit_s
                jobs.append(Job(inst, name, limit, st.seed, st.options_for(name), instance_path=path))
    return jobs


def best_known(df: pd.DataFrame, exact: str | Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per ``instance_digest``: the best valid bound of the exact solvers' rows and the best evaluated
    objective of any row, each with the solver that gave it (docs: README, "Experiments").

    ``bound`` / ``bound_by``: the tightest finite ``bound`` of an exact row (the smallest when
    maximising); a row ``optimal`` without a bound counts with its objective. ``incumbent`` /
    ``incumbent_by``: the best finite objective of any feasible row, heuristics included (every
    objective is the evaluator's). ``proven_by``: an exact solver that reported ``optimal``, else, when
    the incumbent meets the bound within ``PROVEN_GAP``, the bound's solver (the two methods together
    prove it), else "". ``n_tasks``: from any row that has it.
    """
    exacts = {exact} if isinstance(exact, str) else set(exact)
    out: dict[str, dict[str, Any]] = {}
    for _, r in df.iterrows():
        d = r["instance_digest"]
        k = out.setdefault(
            d,
            {"bound": math.nan, "bound_by": "", "incumbent": math.nan, "incumbent_by": "", "proven_by": ""},
        )
        k.setdefault("sense", r["sense"])
        if "n_tasks" in df.columns and _finite(r["n_tasks"]):
            k["n_tasks"] = float(r["n_tasks"])
        maximise = r["sense"] != "min"
        ok = str(r.get("status", "ok")) != "error" and str(r.get("feasible", True)) != "False"
        obj = r["objective"]
        if (
            ok
            and _finite(obj)
            and (not _finite(k["incumbent"]) or (obj > k["incumbent"] if maximise else obj < k["incumbent"]))
        ):
            k["incumbent"], k["incumbent_by"] = float(obj), str(r["solver"])
        if r["solver"] not in exacts:
            continue
        b = r["bound"] if _finite(r["bound"]) else (obj if r["termination"] == "optimal" else math.nan)
        if _finite(b) and (not _finite(k["bound"]) or (b < k["bound"] if maximise else b > k["bound"])):
            k["bound"], k["bound_by"] = float(b), str(r["solver"])
        if r["termination"] == "optimal" and _finite(obj) and not k["proven_by"]:
            k["proven_by"] = str(r["solver"])
    for k in out.values():
        if not k["proven_by"] and _finite(k["bound"]) and _finite(k["incumbent"]):
            loss = loss_to(k["incumbent"], k["bound"], k["sense"])
            if loss <= PROVEN_GAP * max(abs(k["incumbent"]), 1e-9):
                k["proven_by"] = k["bound_by"]
    return out


def add_gap_columns(
    df: pd.DataFrame, exact: str | Sequence[str], accuracy_weights: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """``reference``, ``gap_vs``, ``reference_by``, the best bound and incumbent with their solvers
    (``ref_bound``, ``bound_by``, ``ref_incumbent``, ``incumbent_by``: ``best_known``) and the three
    gaps of every row (module docstring).

    The reference of an instance is its proven optimum (``gap_vs = optimum``: the best incumbent of any
    row, where an exact solver proved optimality or the best bound meets it), else the best valid
    bound of any exact solver (``gap_vs = bound``); ``reference_by`` names the solver that proved or
    bounded it. ``accuracy_weights``: per ``instance_digest``; default: the table's own
    ``accuracy_weight`` column, if any."""
    weights: dict[str, float] = dict(accuracy_weights or {})
    if not weights and "accuracy_weight" in df.columns:
        for d, w in zip(df["instance_digest"], df["accuracy_weight"], strict=True):
            if _finite(w):
                weights[d] = float(w)
    out = df.drop(columns=[c for c in DERIVED_COLUMNS if c in df.columns]).copy()
    known = best_known(out, exact)
    cols: dict[str, list[Any]] = {k: [] for k in DERIVED_COLUMNS}
    for _, r in out.iterrows():
        digest = r["instance_digest"]
        k = known[digest]
        if k["proven_by"]:
            value, kind, by = k["incumbent"], "optimum", k["proven_by"]
        elif _finite(k["bound"]):
            value, kind, by = k["bound"], "bound", k["bound_by"]
        else:
            value, kind, by = math.nan, "none", ""
        n = float(r["n_tasks"]) if "n_tasks" in out.columns and _finite(r["n_tasks"]) else k.get("n_tasks")
        w = weights.get(digest, math.nan)
        cols["reference"].append(value)
        cols["gap_vs"].append(kind)
        cols["reference_by"].append(by)
        cols["ref_bound"].append(k["bound"])
        cols["bound_by"].append(k["bound_by"])
        cols["ref_incumbent"].append(k["incumbent"])
        cols["incumbent_by"].append(k["incumbent_by"])
        cols["gap"].append(relative_gap_to(r["objective"], value, r["sense"], w * n if n else math.nan))
        loss = loss_to(r["objective"], value, r["sense"])
        cols["gap_abs_per_task"].append(loss / n if n else math.nan)
        cols["gap_norm"].append(loss / (w * n) if n and r["sense"] != "min" and w > 0 else math.nan)
        cols["accuracy_weight"].append(w)
    for k2, v in cols.items():
        out[k2] = v
    return out


def loss_to(objective: Any, reference: float, sense: Any) -> float:
    """How much worse than the reference: reference - objective (max sense; mirrored for min); NaN if missing."""
    if not (_finite(objective) and _finite(reference)):
        return math.nan
    return reference - float(objective) if sense != "min" else float(objective) - reference


def relative_gap_to(objective: Any, reference: float, sense: Any, accuracy_scale: float = math.nan) -> float:
    """(reference - objective) / |reference| (max sense; mirrored for min); NaN when either is missing, or,
    when maximising, when the reference is not clearly positive: below ``REL_GAP_MIN_SHARE *
    accuracy_scale`` (the largest accuracy reward, ``accuracy_weight * n_tasks``), or <= 0 if unknown."""
    loss = loss_to(objective, reference, sense)
    if math.isnan(loss):
        return math.nan
    if sense != "min":
        floor = REL_GAP_MIN_SHARE * accuracy_scale if _finite(accuracy_scale) else 0.0
        if not reference > floor:
            return math.nan
    return loss / max(abs(reference), 1e-9)


def _finite(x: Any) -> bool:
    return x is not None and isinstance(x, int | float | np.number) and math.isfinite(x)


def gap_summary(df: pd.DataFrame, exact: str | Sequence[str]) -> pd.DataFrame:
    """Per solver and reference kind: mean / median / max of each gap (module docstring), the share at
    the reference (loss <= AT_OPTIMUM_TOL * max(1, |reference|)), runtimes."""
    g = add_gap_columns(df, exact)
    rows = []
    solvers = list(dict.fromkeys(g["solver"]))
    for solver in solvers:
        mine = g[g["solver"] == solver]
        for kind in ("optimum", "bound", "none"):
            part = mine[mine["gap_vs"] == kind]
            if part.empty:
                continue
            rel = part["gap"].dropna()
            absg = part["gap_abs_per_task"].dropna()
            norm = part["gap_norm"].dropna()
            solved = part[[_finite(x) for x in part["objective"]]]
            at_ref = [
                loss_to(o, r, s) <= AT_OPTIMUM_TOL * max(1.0, abs(r))
                for o, r, s in zip(solved["objective"], solved["reference"], solved["sense"], strict=True)
                if _finite(r)
            ]
            rows.append(
                {
                    "solver": solver,
                    "gap_vs": kind,
                    "instances": len(part),
                    "solved": len(solved),
                    "rel_defined": int(rel.size),
                    "mean_gap_%": 100 * rel.mean() if rel.size else math.nan,
                    "median_gap_%": 100 * rel.median() if rel.size else math.nan,
                    "max_gap_%": 100 * rel.max() if rel.size else math.nan,
                    "mean_abs_gap_per_task": absg.mean() if absg.size else math.nan,
                    "max_abs_gap_per_task": absg.max() if absg.size else math.nan,
                    "mean_norm_gap_%": 100 * norm.mean() if norm.size else math.nan,
                    "median_norm_gap_%": 100 * norm.median() if norm.size else math.nan,
                    "max_norm_gap_%": 100 * norm.max() if norm.size else math.nan,
                    "at_optimum_%": 100 * float(np.mean(at_ref))
                    if kind == "optimum" and at_ref
                    else math.nan,
                    "mean_runtime_s": part["runtime_s"].mean(),
                    "median_runtime_s": part["runtime_s"].median(),
                    "max_runtime_s": part["runtime_s"].max(),
                }
            )
    return pd.DataFrame(rows)


def proven_share(df: pd.DataFrame, exact: str) -> tuple[int, int]:
    """(instances the exact solver proved optimal, instances it ran on)."""
    ex = df[df["solver"] == exact]
    return int((ex["termination"] == "optimal").sum()), len(ex)


def format_gap_summary(df: pd.DataFrame, exact: str | Sequence[str]) -> str:
    """The printed summary: the table, the share of proven optima per exact solver and together, and
    which solver gave the best bound and the best incumbent how often."""
    exacts = exact_names(exact)
    summary = gap_summary(df, exacts)
    names = ", ".join(exacts)
    lines = [
        f"reference = the proven optimum (gap_vs=optimum: proven by an exact solver, or the best incumbent of "
        f"any solver meets the best bound of {names}), else that best bound (gap_vs=bound: gaps are upper "
        f"estimates); {GAP_DEFINITIONS}",
        summary.to_string(index=False, float_format=lambda x: f"{x:.4g}", na_rep="-")
        if not summary.empty
        else "(no rows)",
    ]
    for name in exacts:
        proven, n = proven_share(df, name)
        share = f"{100 * proven / n:.0f}%" if n else "-"
        lines.append(f"{name}: proven optimal on {proven}/{n} instances ({share})")
    known = best_known(df, exacts) if len(df) else {}
    if len(exacts) > 1 and known:
        together = sum(bool(k["proven_by"]) for k in known.values())
        lines.append(f"together: proven optimal on {together}/{len(known)} instances")
    if known:
        count = lambda key: pd.Series([k[key] or "-" for k in known.values()]).value_counts()  # noqa: E731
        lines.append(
            "best bound by: "
            + ", ".join(f"{s} {c}" for s, c in count("bound_by").items())
            + "; best incumbent by: "
            + ", ".join(f"{s} {c}" for s, c in count("incumbent_by").items())
        )
    errors = df[df["status"] == "error"]
    if len(errors):
        lines.append(f"{len(errors)} run(s) ended in error (see the 'message' column)")
    return "\n".join(lines)


def run_gap(
    instances: Sequence[tuple[str, Instance]],
    heuristics: Sequence[str],
    exact: str | Sequence[str] = "mip",
    output: str | Path | None = None,
    settings: SweepSettings | None = None,
    *,
    plot: bool = True,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    **changes: Any,
) -> pd.DataFrame:
    """Run the gap sweep; rows with the gap columns. With ``output``, also a gap plot beside it (PNG).

    ``settings`` (with ``changes`` applied, e.g. ``quiet=True``) holds the limits, seed, options and
    back-end (``SweepSettings``).
    """
    from offload_opt.solvers import get_solver

    settings = SweepSettings.of(settings, **changes)
    for name in [*exact_names(exact), *heuristics]:
        get_solver(name)
    jobs = gap_jobs(instances, heuristics, exact, settings)
    weights = {inst.digest(): inst.objective.accuracy_weight for _, inst in instances}
    df = run_sweep(
        jobs,
        output,
        settings,
        desc="gap",
        derived_columns=DERIVED_COLUMNS,
        finalize=lambda d: add_gap_columns(d, exact, weights),
        on_row=on_row,
    )
    if output is not None and plot:
        from offload_opt.plot.gap import save_gap_plot

        save_gap_plot(df, Path(output).with_suffix(".png"), exact=exact)
    return df
