"""Optimality gaps of heuristics against the exact solver's proven optimum (or its bound).

The reference of an instance is the exact solver's objective if it proved
optimality there, else its bound; rows carry ``gap_vs`` = ``optimum`` or
``bound`` so the two are never mixed up. Three gaps, because a relative gap
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
    "gap",
    "gap_abs_per_task",
    "gap_norm",
    "accuracy_weight",
]
AT_OPTIMUM_TOL = 1e-6  # a loss this small (relative to max(1, |reference|)) counts as at the reference
REL_GAP_MIN_SHARE = 0.1  # relative gaps only against a reference >= 10 % of the largest accuracy reward
GAP_DEFINITIONS = (
    "gap = (reference - objective) / |reference|, only where the reference is clearly positive "
    f"(>= {REL_GAP_MIN_SHARE:g} x accuracy_weight x tasks); abs_gap_per_task = (reference - objective) / tasks "
    "in reward units; norm_gap = (reference - objective) / (accuracy_weight x tasks), the share of the "
    "largest accuracy reward"
)


def gap_jobs(
    instances: Sequence[tuple[str, Instance]],
    heuristics: Sequence[str],
    exact: str,
    settings: SweepSettings | None = None,
) -> list[Job]:
    """One job per (instance, solver): the exact solver first, then every heuristic."""
    st = settings or SweepSettings()
    jobs = []
    for path, inst in instances:
        jobs.append(Job(inst, exact, st.time_limit_s, st.seed, st.options_for(exact), instance_path=path))
        for name in heuristics:
            if name != exact:
                limit = st.heuristic_time_limit_s
                jobs.append(Job(inst, name, limit, st.seed, st.options_for(name), instance_path=path))
    return jobs


def add_gap_columns(
    df: pd.DataFrame, exact: str | Sequence[str], accuracy_weights: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """``reference``, ``gap_vs``, ``reference_by`` and the three gaps of every row (module docstring),
    from the exact solvers' rows on the same instance: a proven optimum where one of them has it, else
    the tightest valid bound of any of them (``reference_by`` names the solver that gave it).
    ``accuracy_weights``: per ``instance_digest``; default: the table's own ``accuracy_weight``
    column, if any."""
    exacts = [exact] if isinstance(exact, str) else list(exact)
    weights: dict[str, float] = dict(accuracy_weights or {})
    if not weights and "accuracy_weight" in df.columns:
        for d, w in zip(df["instance_digest"], df["accuracy_weight"], strict=True):
            if _finite(w):
                weights[d] = float(w)
    out = df.drop(columns=[c for c in DERIVED_COLUMNS if c in df.columns]).copy()
    ref: dict[str, tuple[float, str, str]] = {}
    n_ref: dict[str, float] = {}
    for _, r in out[out["solver"].isin(exacts)].iterrows():
        digest, have = r["instance_digest"], ref.get(r["instance_digest"])
        if r["termination"] == "optimal" and _finite(r["objective"]):
            if have is None or have[1] != "optimum":
                ref[digest] = (float(r["objective"]), "optimum", str(r["solver"]))
        elif _finite(r["bound"]) and (have is None or have[1] == "bound"):
            # the tightest valid bound: the smallest for a maximisation, the largest for a minimisation
            tighter = have is None or (
                float(r["bound"]) < have[0] if r["sense"] != "min" else float(r["bound"]) > have[0]
            )
            if tighter:
                ref[digest] = (float(r["bound"]), "bound", str(r["solver"]))
        if "n_tasks" in out.columns and _finite(r["n_tasks"]):
            n_ref[digest] = float(r["n_tasks"])
    cols: dict[str, list[Any]] = {k: [] for k in DERIVED_COLUMNS}
    for _, r in out.iterrows():
        digest = r["instance_digest"]
        value, kind, by = ref.get(digest, (math.nan, "none", ""))
        n = float(r["n_tasks"]) if "n_tasks" in out.columns and _finite(r["n_tasks"]) else n_ref.get(digest)
        w = weights.get(digest, math.nan)
        cols["reference"].append(value)
        cols["gap_vs"].append(kind)
        cols["reference_by"].append(by)
        cols["gap"].append(relative_gap_to(r["objective"], value, r["sense"], w * n if n else math.nan))
        loss = loss_to(r["objective"], value, r["sense"])
        cols["gap_abs_per_task"].append(loss / n if n else math.nan)
        cols["gap_norm"].append(loss / (w * n) if n and r["sense"] != "min" and w > 0 else math.nan)
        cols["accuracy_weight"].append(w)
    for k, v in cols.items():
        out[k] = v
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


def gap_summary(df: pd.DataFrame, exact: str) -> pd.DataFrame:
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


def format_gap_summary(df: pd.DataFrame, exact: str) -> str:
    """The printed summary: the table and the share of proven optima."""
    summary = gap_summary(df, exact)
    proven, n = proven_share(df, exact)
    share = f"{100 * proven / n:.0f}%" if n else "-"
    lines = [
        f"reference = {exact}'s proven optimum (gap_vs=optimum), else its bound (gap_vs=bound: gaps are "
        f"upper estimates); {GAP_DEFINITIONS}",
        summary.to_string(index=False, float_format=lambda x: f"{x:.4g}", na_rep="-")
        if not summary.empty
        else "(no rows)",
        f"{exact}: proven optimal on {proven}/{n} instances ({share})",
    ]
    errors = df[df["status"] == "error"]
    if len(errors):
        lines.append(f"{len(errors)} run(s) ended in error (see the 'message' column)")
    return "\n".join(lines)


def run_gap(
    instances: Sequence[tuple[str, Instance]],
    heuristics: Sequence[str],
    exact: str = "mip",
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
    for name in [exact, *heuristics]:
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
