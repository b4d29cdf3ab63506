"""The latency / accuracy trade-off: the exact Pareto front, heuristic fronts and baselines.

- Exact front: each exact solver that takes a latency cap (``mip``) gives the two
  extremes (least mean latency; best mean accuracy), then a sweep of
  ``max_mean_latency`` caps between their latencies (see ``sweep_range``), each
  solve giving the best accuracy within the cap. A reward-only exact solver
  (``cg``) solves the heuristics' re-weighted objectives (weights > 0; role
  ``exact-weight``): its bound B at weight w is the line
  ``Q <= B / (n * accuracy_weight) + (w / accuracy_weight) * L`` that bounds
  every solution (mean latency L, mean accuracy Q).
- The front is drawn from proven points only, and as a band from the best point
  of any series to the least proven bound (``plot.frontier.FrontBounds``) where
  not proven; ``front_violations`` lists every point beyond that bound (a bug).
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
DERIVED_COLUMNS = [
    "series",
    "point_latency_s",
    "point_accuracy",
    "proven",
    "on_front",
    "accuracy_bound",
    "latency_bound",
    "line_intercept",
    "line_slope",
]
DEFAULT_HEURISTICS = ("greedy", "local-search")
DEFAULT_BASELINES = ("local-only", "nearest-edge", "best-single-mode")
NO_LATENCY_CAP_S = 1e6  # "no cap": far above any mean latency
CAP_SLACK = 1e-6  # caps sit this fraction above a measured latency, so the MIP's tolerances cannot cut it off
ACCURACY_TOL = 1e-5  # accuracy difference treated as equal when checking the front
# relative: a solver's bound on the latency sum may exceed the optimum by its numerical tolerance
# (seen: a proven least mean latency of 4.62286875 s under a bound of 4.62286877 s per task)
LATENCY_TOL = 1e-6


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


def takes_caps(solver: str) -> bool:
    """Whether an exact solver solves the capped variants (option ``max_mean_latency``) or only the reward."""
    from dataclasses import fields

    from offload_opt.solvers import get_solver

    return "max_mean_latency" in {f.name for f in fields(get_solver(solver).options)}


def _exacts(exact: str | Sequence[str] | None) -> list[str]:
    if exact is None:
        return []
    return [exact] if isinstance(exact, str) else list(dict.fromkeys(exact))


def frontier_jobs(
    instance: Instance,
    exact: str | Sequence[str] | None,
    heuristics: Sequence[str],
    baselines: Sequence[str],
    points: int,
    *,
    instance_path: str = "",
    settings: SweepSettings | None = None,
    caps: Sequence[float] = (),
) -> list[Job]:
    """Jobs of the study; without ``caps`` only those that do not need the exact extremes.

    ``exact``: one or several exact solvers; those that take caps run the extremes and ``caps``, the
    others (reward only) the latency weights > 0 of the heuristic sweep."""
    st = settings or SweepSettings()
    time_limit_s, heuristic_time_limit_s, seed = st.time_limit_s, st.heuristic_time_limit_s, st.seed

    def tags(role: str, cap: float | None = None, weight: float | None = None) -> dict[str, Any]:
        return {"role": role, "latency_cap_s": cap, "latency_weight_per_s": weight}

    jobs: list[Job] = []
    capped = [e for e in _exacts(exact) if takes_caps(e)]
    weighted = [e for e in _exacts(exact) if not takes_caps(e)]
    for exact in capped:
        opts = st.options_for(exact)
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
    for name in weighted:
        for w in latency_weights(points):
            if w > 0:  # a reward-only solver needs a latency weight (a finite horizon)
                jobs.append(
                    Job(
                        instance,
                        name,
                        time_limit_s,
                        seed,
                        st.options_for(name),
                        instance_path,
                        tags("exact-weight", weight=w),
                        objective_changes={"latency_weight_per_s": w},
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
    for exact in capped:
        opts = st.options_for(exact)
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


def add_front_columns(df: pd.DataFrame, accuracy_weight: float | None = None) -> pd.DataFrame:
    """``series``, ``point_latency_s``, ``point_accuracy``, ``proven`` and ``on_front`` of every row, and
    what the exact rows prove (``plot.frontier.FrontBounds`` reads them): ``accuracy_bound`` of a capped
    row (its bound on ``accuracy_weight * sum q`` over ``accuracy_weight * n``, else its accuracy
    when proven), ``latency_bound`` of the least-latency row (its bound on the latency sum over n, else
    its latency when proven), ``line_intercept`` / ``line_slope`` of a reward-only row (module
    docstring). Without ``accuracy_weight`` (the instance's) only proven values count."""
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
    nan = math.nan
    acc_b, lat_b, icpt, slope = [], [], [], []
    w_acc = accuracy_weight if accuracy_weight is not None and accuracy_weight > 0 else nan
    tb_col = out["target_bound"] if "target_bound" in out else pd.Series(nan, index=out.index)
    for (_, r), tb in zip(out.iterrows(), tb_col, strict=True):
        n = float(r["n_tasks"]) if _fin(r.get("n_tasks")) and float(r["n_tasks"]) > 0 else nan
        proven = bool(r["proven"])
        a = b = i = sl = nan
        if r["series"] == "exact" and r["role"] in ("exact-cap", "exact-max-accuracy"):
            a = float(tb) / (w_acc * n) if _fin(tb) else (float(r["point_accuracy"]) if proven else nan)
        elif r["series"] == "exact" and r["role"] == "exact-min-latency":
            b = float(tb) / n if _fin(tb) else (float(r["point_latency_s"]) if proven else nan)
        elif r["series"] == "exact" and r["role"] == "exact-weight" and _fin(r["bound"]):
            i = float(r["bound"]) / (n * w_acc)
            sl = float(r["latency_weight_per_s"]) / w_acc
        acc_b.append(a)
        lat_b.append(b)
        icpt.append(i)
        slope.append(sl)
    out["accuracy_bound"], out["latency_bound"] = acc_b, lat_b
    out["line_intercept"], out["line_slope"] = icpt, slope
    return out


def _fin(x: Any) -> bool:
    return isinstance(x, int | float | np.number) and not isinstance(x, bool) and math.isfinite(float(x))


def front_violations(
    df: pd.DataFrame, tol: float = ACCURACY_TOL, accuracy_weight: float | None = None
) -> list[str]:
    """Points of any series (exact incumbents included) beyond what the exact solvers proved; empty when consistent.

    ``plot.frontier.FrontBounds``: a capped solve with cap ``c`` bounds the accuracy of every solution
    with mean latency <= c (by its bound, or its accuracy when proven); a reward-only solve bounds every
    solution by a line; the least-latency solve bounds the latency from below. A point beyond any of
    them means a bound (or the evaluator) is wrong.
    """
    from offload_opt.plot.frontier import FrontBounds

    pts = df if "accuracy_bound" in df else add_front_columns(df, accuracy_weight)
    bounds = FrontBounds.of(pts)
    others = pts[pts["point_latency_s"].notna() & pts["point_accuracy"].notna()]
    out = []
    for _, o in others.iterrows():
        lat, acc = float(o["point_latency_s"]), float(o["point_accuracy"])
        who = f"{o['solver']} ({o['role']}, weight {o['latency_weight_per_s']})"
        least = bounds.least_latency_s
        if math.isfinite(least) and lat < least - LATENCY_TOL * max(1.0, least):
            out.append(f"{who}: mean latency {lat:.6g} s < proven least {least:.6g} s")
        up = bounds.accuracy_upper(lat)
        if acc > up + tol:
            out.append(f"{who}: accuracy {acc:.6g} at {lat:.6g} s > proven bound {up:.6g}")
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
    exact: str | Sequence[str] | None = "mip",
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
    exacts = _exacts(exact)
    for name in exacts:
        get_solver(name)
    has_caps = any(takes_caps(e) for e in exacts)
    heuristics = _resolve(heuristics, DEFAULT_HEURISTICS, registered)
    baselines = _resolve(baselines, DEFAULT_BASELINES, registered)
    common: dict[str, Any] = {"instance_path": instance_path, "settings": settings}
    resume = settings.resume
    sweep: dict[str, Any] = {
        "settings": SweepSettings.of(settings, resume=True),  # phase 2 keeps phase 1's rows (see redo)
        "tag_columns": TAG_COLUMNS,
        "eval_columns": True,
        "derived_columns": DERIVED_COLUMNS,
        "finalize": lambda d: add_front_columns(d, instance.objective.accuracy_weight),
    }
    first = frontier_jobs(instance, exact, heuristics, baselines, points, **common)
    if output is None:
        df = run_sweep(first, None, desc="frontier (extremes, heuristics)", **sweep)
    else:  # both phases under one lock: no other sweep writes the file between them
        with exclusive_lock(check_output(output), "sweep"):
            phase1 = {**sweep, "settings": settings}
            df = run_sweep(first, output, desc="frontier (extremes, heuristics)", **phase1)
            if not has_caps:
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
    if not has_caps:
        return df
    caps = latency_caps(*sweep_range(df), points)
    if not caps:
        return df
    jobs = frontier_jobs(instance, exact, heuristics, baselines, points, caps=caps, **common)
    rest = run_sweep(jobs[len(first) :], None, desc="frontier (exact sweep)", **{**sweep, "finalize": None})
    both = pd.concat([df.drop(columns=DERIVED_COLUMNS), rest], ignore_index=True)
    return add_front_columns(both, instance.objective.accuracy_weight)
