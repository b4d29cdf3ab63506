"""Latency / accuracy trade-off plot: exact Pareto front, heuristic fronts, baselines as markers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

from offload_opt.plot._common import new_axes, save

BASELINE_MARKERS = ("s", "D", "^", "v", "P", "X", "*")
EXACT_CAP_ROLES = {"exact-cap": None, "exact-max-accuracy": math.inf}  # role -> cap (None: its own column)


def proven_band(
    points: pd.DataFrame, end_s: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(latency, lower, upper) of the band that must hold the true front, from the proven exact points.

    Lower: the best accuracy any point (of any series) reaches at or below each latency.
    Upper: a proven solve with cap ``c`` and accuracy ``Q`` bounds every solution with mean
    latency <= c by ``Q``. Steps are "post" (the value holds up to the next latency); the
    band runs from the fastest point to ``end_s`` (default: the slowest point).
    None when no cap-constrained point is proven (or the table has no ``role`` column).
    """
    if "role" not in points or "latency_cap_s" not in points:
        return None
    ok = (points["series"] == "exact") & points["proven"].astype(bool) & points["point_latency_s"].notna()
    ex = points[ok]
    caps = []
    for _, r in ex.iterrows():
        if r["role"] in EXACT_CAP_ROLES:
            cap = EXACT_CAP_ROLES[r["role"]]
            caps.append((float(r["latency_cap_s"]) if cap is None else cap, float(r["point_accuracy"])))
    if not caps:
        return None
    feasible = points[points["point_latency_s"].notna() & points["point_accuracy"].notna()]
    achieved = list(
        zip(feasible["point_latency_s"].astype(float), feasible["point_accuracy"].astype(float), strict=True)
    )
    start = min(lat for lat, _ in achieved)
    end = max(float(points["point_latency_s"].max()), start) if end_s is None else end_s
    xs = sorted(
        {
            start,
            end,
            *(x for x in [*(lat for lat, _ in achieved), *(c for c, _ in caps)] if start <= x <= end),
        }
    )
    lower, upper = [], []
    for x in xs:
        lo = max((q for lat, q in achieved if lat <= x * (1 + 1e-12)), default=math.nan)
        up = min((q for c, q in caps if c > x * (1 + 1e-12)), default=math.nan)
        lower.append(lo)
        upper.append(max(up, lo) if math.isfinite(up) else math.nan)
    return np.asarray(xs), np.asarray(lower), np.asarray(upper)


def plot_frontier(
    points: pd.DataFrame, ax: Axes | None = None, title: str | None = None, log_latency: bool | None = None
) -> Axes:
    """Draw the points of ``run_frontier`` (columns series, solver, point_latency_s, point_accuracy,
    proven, on_front); dominated points are left out.

    Series, by label: ``exact (<solver>)`` a step line through the exact front
    (hollow markers ``exact, not proven`` where the solver stopped early), with a
    shaded band up to the proven bound (``proven_band``) where the true front lies,
    ``<heuristic> (weight sweep)`` a dashed line, and each baseline a marker
    labelled with its name. ``log_latency`` (None: when the drawn latencies span
    more than a factor of 10) puts latency on a log scale.
    """
    if ax is None:
        ax = new_axes()
    front = points[points["on_front"].astype(bool)].sort_values(["point_latency_s", "point_accuracy"])
    exact = front[front["series"] == "exact"]
    if not exact.empty:
        name = exact["solver"].iloc[0]
        ax.step(
            exact["point_latency_s"],
            exact["point_accuracy"],
            where="post",
            color="black",
            lw=1.5,
            marker="o",
            ms=5,
            label=f"exact ({name})",
            zorder=4,
        )
        band = proven_band(points, end_s=float(front["point_latency_s"].max()))
        if band is not None and np.isfinite(band[2]).any():
            ax.fill_between(
                *band,
                step="post",
                color="black",
                alpha=0.12,
                lw=0,
                label="the true front lies in this band (proven)",
            )
        unproven = exact[~exact["proven"].astype(bool)]
        if not unproven.empty:
            ax.scatter(
                unproven["point_latency_s"],
                unproven["point_accuracy"],
                s=70,
                facecolors="white",
                edgecolors="red",
                linewidths=1.2,
                label="exact, not proven",
                zorder=5,
            )
    colour = 0
    for series in dict.fromkeys(front["series"]):
        if series in ("exact", "baseline"):
            continue
        part = front[front["series"] == series]
        ax.plot(
            part["point_latency_s"],
            part["point_accuracy"],
            ls="--",
            marker="o",
            ms=4,
            lw=1.0,
            color=f"C{colour % 10}",
            label=f"{series} (weight sweep)",
            zorder=3,
        )
        colour += 1
    base = front[front["series"] == "baseline"]
    for k, (_, r) in enumerate(base.iterrows()):
        ax.scatter(
            [r["point_latency_s"]],
            [r["point_accuracy"]],
            marker=BASELINE_MARKERS[k % len(BASELINE_MARKERS)],
            s=60,
            color=f"C{(colour + k) % 10}",
            edgecolors="black",
            linewidths=0.6,
            label=r["solver"],
            zorder=6,
        )
    lat = front["point_latency_s"].dropna()
    if log_latency is None:
        log_latency = bool(len(lat)) and lat.min() > 0 and lat.max() > 10 * lat.min()
    if log_latency:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(_minor_label))
    ax.set_xlabel("mean latency (s)" + (", log scale" if log_latency else ""))
    ax.set_ylabel("mean accuracy (success probability)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title or "Latency / accuracy trade-off (up and left is better)", fontsize=10)
    return ax


def _minor_label(v: float, _pos: int) -> str:
    """Label the 2x, 3x and 5x minor ticks of a log axis in plain numbers."""
    if v <= 0:
        return ""
    lead = round(v / 10 ** math.floor(math.log10(v)))
    return f"{v:g}" if lead in (2, 3, 5) else ""


def save_frontier_plot(points: pd.DataFrame, path: str | Path, title: str | None = None) -> Path:
    """Draw ``plot_frontier`` on a new figure and write it to ``path``."""
    return save(plot_frontier(points, title=title), path)
