"""Optimality gaps of heuristics against the exact solver's proven optimum (or its bound).

Gap of a solution = (reference - objective) / |reference| when maximising
(mirrored when minimising), where the reference is the exact solver's
objective if it proved optimality on that instance, else its bound; rows
carry ``gap_vs`` = ``optimum`` or ``bound`` so the two are never mixed up.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from offload_opt.experiments.runner import Job, SweepSettings, run_sweep
from offload_opt.instance import Instance

DERIVED_COLUMNS = ["reference", "gap_vs", "gap"]
AT_OPTIMUM_TOL = 1e-6  # a gap this small against a proven optimum counts as optimal


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


def add_gap_columns(df: pd.DataFrame, exact: str) -> pd.DataFrame:
    """``reference``, ``gap_vs`` and ``gap`` of every row, from the exact solver's row on the same instance."""
    out = df.drop(columns=[c for c in DERIVED_COLUMNS if c in df.columns]).copy()
    ref: dict[str, tuple[float, str]] = {}
    for _, r in out[out["solver"] == exact].iterrows():
        if r["termination"] == "optimal" and _finite(r["objective"]):
            ref[r["instance_digest"]] = (float(r["objective"]), "optimum")
        elif _finite(r["bound"]):
            ref[r["instance_digest"]] = (float(r["bound"]), "bound")
    references, kinds, gaps = [], [], []
    for _, r in out.iterrows():
        value, kind = ref.get(r["instance_digest"], (math.nan, "none"))
        references.append(value)
        kinds.append(kind)
        gaps.append(relative_gap_to(r["objective"], value, r["sense"]))
    out["reference"] = references
    out["gap_vs"] = kinds
    out["gap"] = gaps
    return out


def relative_gap_to(objective: Any, reference: float, sense: Any) -> float:
    """(reference - objective) / |reference| (max sense; mirrored for min); NaN when either is missing."""
    if not (_finite(objective) and _finite(reference)):
        return math.nan
    diff = reference - float(objective) if sense != "min" else float(objective) - reference
    return diff / max(abs(reference), 1e-9)


def _finite(x: Any) -> bool:
    return x is not None and isinstance(x, int | float | np.number) and math.isfinite(x)


def gap_summary(df: pd.DataFrame, exact: str) -> pd.DataFrame:
    """Per solver and reference kind: mean, median and max gap, share at the optimum, runtimes."""
    g = add_gap_columns(df, exact)
    rows = []
    solvers = list(dict.fromkeys(g["solver"]))
    for solver in solvers:
        mine = g[g["solver"] == solver]
        for kind in ("optimum", "bound", "none"):
            part = mine[mine["gap_vs"] == kind]
            if part.empty:
                continue
            gaps = part["gap"].dropna()
            rows.append(
                {
                    "solver": solver,
                    "gap_vs": kind,
                    "instances": len(part),
                    "solved": int(gaps.size),
                    "mean_gap_%": 100 * gaps.mean() if gaps.size else math.nan,
                    "median_gap_%": 100 * gaps.median() if gaps.size else math.nan,
                    "max_gap_%": 100 * gaps.max() if gaps.size else math.nan,
                    "at_optimum_%": 100 * float((gaps <= AT_OPTIMUM_TOL).mean())
                    if kind == "optimum" and gaps.size
                    else math.nan,
                    "mean_runtime_s": part["runtime_s"].mean(),
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
        f"gap = (reference - objective) / |reference|; reference = {exact}'s proven optimum "
        f"(gap_vs=optimum), else its bound (gap_vs=bound: an upper estimate of the true gap)",
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
    df = run_sweep(
        jobs,
        output,
        settings,
        desc="gap",
        derived_columns=DERIVED_COLUMNS,
        finalize=lambda d: add_gap_columns(d, exact),
        on_row=on_row,
    )
    if output is not None and plot:
        from offload_opt.plot.gap import save_gap_plot

        save_gap_plot(df, Path(output).with_suffix(".png"), exact=exact)
    return df
