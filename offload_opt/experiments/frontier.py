"""The latency / accuracy trade-off: the exact Pareto front, heuristic fronts and baselines.

- Exact front: the exact solver's two extremes (least mean latency; best mean
  accuracy), then a sweep of ``max_mean_latency`` caps between their
  latencies (see ``sweep_range``), each solve giving the best accuracy within the cap.
- Heuristic fronts: each heuristic solves re-weighted objectives (a sweep of
  ``latency_weight_per_s``; the accuracy weight is kept).
- Baselines: one point each, on the instance as given.

Every point is the evaluator's verdict on the original instance's cost tables
(mean latency in s, mean success probability). Dominated points of a series
are marked ``on_front = False`` and not drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from offload_opt._cliutil import exclusive_lock
from offload_opt.experiments.runner import Job, SweepSettings, check_output, run_sweep
from offload_opt.instance import Instance

TAG_COLUMNS = ["role", "latency_cap_s", "latency_weight_per_s"]
DERIVED_COLUMNS = ["series", "point_latency_s", "point_accuracy", "proven", "on_front"]
DEFAULT_HEURISTICS = ("greedy", "local-search")
DEFAULT_BASELINES = ("local-only", "nearest-edge", "best-single-mode")
NO_LATENCY_CAP_S = 1e6  # "no cap": far above any mean latency
CAP_SLACK = 1e-6  # caps sit this fraction above a measured latency, so the MIP's tolerances cannot cut it off
ACCURACY_TOL = 1e-5  # accuracy difference treated as equal when checking the front


def latency_weights(points: int, lo: float = 1e-3, hi: float = 5.0) -> list[float]:
    """``points`` latency weights (reward per second): 0 (accuracy only), then geometric from lo to hi."""
    if points < 2:
        return [0.0]
    return [0.0] + [float(w) for w in np.geomspace(lo, hi, points - 1)]


def latency_caps(lat_min_s: float, lat_max_s: float, points: int) -> list[float]:
    """``points`` caps from the least to the most mean latency (with a tiny slack), spaced geometrically:
    the trade-off is steepest at low latency, where accuracy is bought cheaply."""
    if not (math.isfinite(lat_min_s) and math.isfinite(lat_max_s)):
        return []
    if lat_max_s <= lat_min_s or points < 2:
        return [lat_min_s * (1 + CAP_SLACK)]
    grid = (
        np.geomspace(lat_min_s, lat_max_s, points)
        if lat_min_s > 0
        else np.linspace(lat_min_s, lat_max_s, points)
    )
    return [float(c) * (1 + CAP_SLACK) for c in grid]


def pareto_mask(latency: Sequence[float], accuracy: Sequence[float]) -> np.ndarray:
    """True for points no other point dominates (lower-or-equal latency and higher-or-equal accuracy,
    one strictly); of identical points only the first is kept; NaN points are never on the front."""
    lat = np.asarray(latency, dtype=float)
    acc = np.asarray(accuracy, dtype=float)
    keep = np.isfinite(lat) & np.isfinite(acc)
    out = keep.copy()
    idx = np.flatnonzero(keep)
    for i in idx:
        for j in idx:
            if i == j:
                continue
            if lat[j] <= lat[i] and acc[j] >= acc[i] and (lat[j] < lat[i] or acc[j] > acc[i] or j < i):
                out[i] = False
                break
    return out


def frontier_jobs(
    instance: Instance,
    exact: str | None,
    heuristics: Sequence[str],
    baselines: Sequence[str],
    points: int,
    *,
    instance_path: str = "",
    settings: SweepSettings | None = None,
    caps: Sequence[float] = (),
) -> list[Job]:
    """Jobs of the study; without ``caps`` only those that do not need the exact extremes."""
    st = settings or SweepSettings()
    time_limit_s, heuristic_time_limit_s, seed = st.time_limit_s, st.heuristic_time_limit_s, st.seed
    opts = st.options_for(exact) if exact else {}

    def tags(role: str, cap: float | None = None, weight: float | None = None) -> dict[str, Any]:
        return {"role": role, "latency_cap_s": cap, "latency_weight_per_s": weight}

    jobs: list[Job] = []
    if exact:
        jobs.append(
            Job(
                instance,
                exact,
                time_limit_s,
                seed,
                {**opts, "min_mean_accuracy": 0.0},
                instance_path,
                tags("exact-min-latency"),
            )
        )
        jobs.append(
            Job(
                instance,
                exact,
                time_limit_s,
                seed,
                {**opts, "max_mean_latency": NO_LATENCY_CAP_S},
                instance_path,
                tags("exact-max-accuracy"),
            )
        )
    for name in baselines:
        jobs.append(
            Job(
                instance,
                name,
                heuristic_time_limit_s,
                seed,
                st.options_for(name),
                instance_path,
                tags("baseline"),
            )
        )
    for name in heuristics:
        for w in latency_weights(points):
            jobs.append(
                Job(
                    instance,
                    name,
                    heuristic_time_limit_s,
                    seed,
                    st.options_for(name),
                    instance_path,
                    tags("heuristic", weight=w),
                    objective_changes={"latency_weight_per_s": w},
                )
            )
    if exact:
        for cap in caps:
            jobs.append(
                Job(
                    instance,
                    exact,
                    time_limit_s,
                    seed,
                    {**opts, "max_mean_latency": cap},
                    instance_path,
                    tags("exact-cap", cap=cap),
                )
            )
    return jobs


def add_front_columns(df: pd.DataFrame) -> pd.DataFrame:
    """``series``, ``point_latency_s``, ``point_accuracy``, ``proven`` and ``on_front`` of every row."""
    out = df.drop(columns=[c for c in DERIVED_COLUMNS if c in df.columns]).copy()
    lat_col = "eval_mean_latency_s" if "eval_mean_latency_s" in out else "mean_latency_s"
    acc_col = "eval_mean_quality" if "eval_mean_quality" in out else "mean_quality"
    role = out["role"].astype(str)
    exact = role.str.startswith("exact")
    out["series"] = np.where(exact, "exact", np.where(role == "baseline", "baseline", out["solver"]))
    out["point_latency_s"] = out[lat_col].astype(float)
    out["point_accuracy"] = out[acc_col].astype(float)
    ok = out["feasible"].astype(str) == "True"
    out.loc[~ok, ["point_latency_s", "point_accuracy"]] = math.nan
    out["proven"] = np.where(exact, out["termination"] == "optimal", False)
    on_front = np.zeros(len(out), dtype=bool)
    for series, part in out.groupby("series", sort=False):
        if series == "baseline":
            on_front[part.index.to_numpy()] = part["point_latency_s"].notna().to_numpy()
            continue
        mask = pareto_mask(part["point_latency_s"], part["point_accuracy"])
        on_front[part.index.to_numpy()] = mask
    out["on_front"] = on_front
    return out


def front_violations(df: pd.DataFrame, tol: float = ACCURACY_TOL) -> list[str]:
    """Heuristic or baseline points beyond what the exact solver proved; empty when consistent.

    A proven exact solve with cap ``c`` and accuracy ``Q`` says: no solution
    with mean latency <= c has accuracy > Q. The proven least mean latency
    says no solution is faster. Only proven (optimal) exact rows count.
    """
    pts = df if "series" in df else add_front_columns(df)
    exact = pts[(pts["series"] == "exact") & pts["proven"].astype(bool) & pts["point_latency_s"].notna()]
    others = pts[(pts["series"] != "exact") & pts["point_latency_s"].notna()]
    out = []
    for _, r in exact.iterrows():
        if r["role"] == "exact-min-latency":
            faster = others[others["point_latency_s"] < r["point_latency_s"] * (1 - 1e-9) - 1e-9]
            out += [
                f"{o['solver']} (weight {o['latency_weight_per_s']}): mean latency {o['point_latency_s']:.6g} s "
                f"< proven least {r['point_latency_s']:.6g} s"
                for _, o in faster.iterrows()
            ]
            continue
        cap = r["latency_cap_s"] if r["role"] == "exact-cap" else NO_LATENCY_CAP_S
        better = others[
            (others["point_latency_s"] <= cap * (1 - 1e-9))
            & (others["point_accuracy"] > r["point_accuracy"] + tol)
        ]
        out += [
            f"{o['solver']} (weight {o['latency_weight_per_s']}): accuracy {o['point_accuracy']:.6g} at "
            f"{o['point_latency_s']:.6g} s > proven best {r['point_accuracy']:.6g} within {cap:.6g} s"
            for _, o in better.iterrows()
        ]
    return out


def sweep_range(df: pd.DataFrame) -> tuple[float, float]:
    """Mean-latency range of the exact sweep: from the least mean latency found to the latency of the
    most accurate solution found (the fastest of them).

    When the exact extremes are proven these are their latencies (nothing is faster than the proven
    least latency, nothing more accurate than the proven best accuracy); when the exact solver stopped
    early, points of the heuristics and baselines may widen the range.
    """
    pts = df[df["point_latency_s"].notna() & df["point_accuracy"].notna()]
    if pts.empty:
        return math.nan, math.nan
    best = pts["point_accuracy"].max()
    top = pts[pts["point_accuracy"] >= best - 1e-12]
    return float(pts["point_latency_s"].min()), float(top["point_latency_s"].min())


def _resolve(names: Sequence[str] | None, defaults: Sequence[str], registered: dict[str, Any]) -> list[str]:
    """Explicit names must be registered; the defaults are filtered to what is registered."""
    from offload_opt.solvers import get_solver

    if names is None:
        return [n for n in defaults if n in registered]
    for n in names:
        get_solver(n)
    return list(names)


def run_frontier(
    instance: Instance,
    output: str | Path | None = None,
    settings: SweepSettings | None = None,
    *,
    instance_path: str = "",
    exact: str | None = "mip",
    heuristics: Sequence[str] | None = None,
    baselines: Sequence[str] | None = None,
    points: int = 15,
    **changes: Any,
) -> pd.DataFrame:
    """Run the study; every point (with ``on_front``). ``output`` is the CSV/Parquet of the points.

    ``settings`` (with ``changes``) holds limits, seed, options and back-end (``SweepSettings``); with
    ``resume=False`` this study's rows in ``output`` are done again (other sweeps' rows stay).

    ``heuristics`` / ``baselines`` default to DEFAULT_HEURISTICS / DEFAULT_BASELINES
    (those registered); an explicit name that is not registered is an error.
    """
    from offload_opt.solvers import get_solver, solvers

    settings = SweepSettings.of(settings, **changes)
    if not isinstance(points, int) or points < 2:
        raise ValueError(f"--points: must be an integer >= 2, got {points!r}")
    registered = solvers()
    if exact is not None:
        get_solver(exact)
    heuristics = _resolve(heuristics, DEFAULT_HEURISTICS, registered)
    baselines = _resolve(baselines, DEFAULT_BASELINES, registered)
    common: dict[str, Any] = {"instance_path": instance_path, "settings": settings}
    resume = settings.resume
    sweep: dict[str, Any] = {
        "settings": SweepSettings.of(settings, resume=True),  # phase 2 keeps phase 1's rows (see redo)
        "tag_columns": TAG_COLUMNS,
        "eval_columns": True,
        "derived_columns": DERIVED_COLUMNS,
        "finalize": add_front_columns,
    }
    first = frontier_jobs(instance, exact, heuristics, baselines, points, **common)
    if output is None:
        df = run_sweep(first, None, desc="frontier (extremes, heuristics)", **sweep)
    else:  # both phases under one lock: no other sweep writes the file between them
        with exclusive_lock(check_output(output), "sweep"):
            phase1 = {**sweep, "settings": settings}
            df = run_sweep(first, output, desc="frontier (extremes, heuristics)", **phase1)
            if exact is None:
                return df
            caps = latency_caps(*sweep_range(df), points)
            if not caps:
                return df
            jobs = frontier_jobs(instance, exact, heuristics, baselines, points, caps=caps, **common)
            # the first phase's rows are done: only the caps run (again, without resume)
            redo = [] if resume else [j.key for j in jobs[len(first) :]]
            return run_sweep(
                jobs, output, redo=redo, desc="frontier (exact sweep)", announce_skips=False, **sweep
            )
    if exact is None:
        return df
    caps = latency_caps(*sweep_range(df), points)
    if not caps:
        return df
    jobs = frontier_jobs(instance, exact, heuristics, baselines, points, caps=caps, **common)
    rest = run_sweep(jobs[len(first) :], None, desc="frontier (exact sweep)", **{**sweep, "finalize": None})
    both = pd.concat([df.drop(columns=DERIVED_COLUMNS), rest], ignore_index=True)
    return add_front_columns(both)
