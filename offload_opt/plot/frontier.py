"""Latency / accuracy trade-off plot: exact Pareto front, heuristic fronts, baselines as markers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

from offload_opt.plot._common import new_axes, save

BASELINE_MARKERS = ("s", "D", "^", "v", "P", "X", "*")
EXACT_CAP_ROLES = {"exact-cap": None, "exact-max-accuracy": math.inf}  # role -> cap (None: its own column)
EXACT_MIN_LATENCY = "exact-min-latency"
EXACT_WEIGHT = "exact-weight"  # a reward-only exact solver (cg) at one latency weight


@dataclass
class FrontBounds:
    """What the exact solves proved about every solution (mean latency L s, mean accuracy Q).

    ``caps``: (c, b): no solution with L <= c has Q > b (a capped solve's bound, or its proven
    accuracy); ``lines``: (a, s): Q <= a + s * L for every solution (a reward-only solve at latency
    weight w with bound B on the summed reward ``accuracy_weight * sum q - w * sum latency``:
    a = B / (n * accuracy_weight), s = w / accuracy_weight); ``least_latency_s``: no solution has a
    smaller L (NaN: unknown). Columns read: those ``experiments.frontier.add_front_columns`` derives.
    """

    caps: list[tuple[float, float]]
    lines: list[tuple[float, float]]
    least_latency_s: float

    @classmethod
    def of(cls, points: pd.DataFrame) -> FrontBounds:
        caps: list[tuple[float, float]] = []
        lines: list[tuple[float, float]] = []
        least = math.nan
        if "role" not in points:
            return cls(caps, lines, least)

        def proven_or(r: pd.Series, bound_col: str, point_col: str) -> float:
            """The row's bound where derived, else its own value where proven, else NaN."""
            if bound_col in r and _fin(r[bound_col]):
                return float(r[bound_col])
            return float(r[point_col]) if bool(r["proven"]) and _fin(r[point_col]) else math.nan

        for _, r in points[points["series"] == "exact"].iterrows():
            if r["role"] in EXACT_CAP_ROLES:
                b = proven_or(r, "accuracy_bound", "point_accuracy")
                cap = EXACT_CAP_ROLES[r["role"]]
                if math.isfinite(b):
                    caps.append((float(r["latency_cap_s"]) if cap is None else cap, b))
            elif r["role"] == EXACT_WEIGHT and "line_intercept" in r:
                if _fin(r["line_intercept"]) and _fin(r["line_slope"]):
                    lines.append((float(r["line_intercept"]), float(r["line_slope"])))
            elif r["role"] == EXACT_MIN_LATENCY:
                b = proven_or(r, "latency_bound", "point_latency_s")
                if math.isfinite(b):
                    least = b if math.isnan(least) else max(least, b)
        return cls(caps, lines, least)
        for _, r in points[points["series"] == "exact"].iterrows():
            if r["role"] in EXACT_CAP_ROLES and _fin(r["accuracy_bound"]):
                cap = EXACT_CAP_ROLES[r["role"]]
                caps.append((float(r["latency_cap_s"]) if cap is None else cap, float(r["accuracy_bound"])))
            elif r["role"] == EXACT_WEIGHT and _fin(r["line_intercept"]) and _fin(r["line_slope"]):
                lines.append((float(r["line_intercept"]), float(r["line_slope"])))
            elif r["role"] == EXACT_MIN_LATENCY and _fin(r["latency_bound"]):
                least = (
                    float(r["latency_bound"]) if math.isnan(least) else max(least, float(r["latency_bound"]))
                )
        return cls(caps, lines, least)

    def __bool__(self) -> bool:
        return bool(self.caps or self.lines)

    def accuracy_upper(self, latency_s: float) -> float:
        """The least proven upper bound on the mean accuracy of any solution with mean latency <= ``latency_s``
        (inf: none proven)."""
        up = min((b for c, b in self.caps if latency_s <= c), default=math.inf)
        return min(up, *(a + sl * latency_s for a, sl in self.lines)) if self.lines else up


def _fin(x: object) -> bool:
    return isinstance(x, int | float | np.number) and math.isfinite(float(x))


def proven_band(
    points: pd.DataFrame, end_s: float | None = None, samples: int = 200
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(latency, lower, upper) of the band that must hold the true front, from what the exact solves proved.

    Lower: the best accuracy any point (of any series) reaches at or below each latency (the best
    incumbent). Upper: ``FrontBounds.accuracy_upper`` (proven caps, the bounds of capped solves that
    stopped early, and reward-only solves' lines); never below the lower edge. Sampled at every
    point's and cap's latency (and just after it: the edges jump there) and on a grid of
    ``samples`` latencies between the fastest point and ``end_s`` (default: the slowest point);
    drawn with straight segments between samples. None when nothing bounds the front.
    """
    bounds = FrontBounds.of(points)
    if not bounds:
        return None
    feasible = points[points["point_latency_s"].notna() & points["point_accuracy"].notna()]
    if feasible.empty:
        return None
    achieved = list(
        zip(feasible["point_latency_s"].astype(float), feasible["point_accuracy"].astype(float), strict=True)
    )
    start = min(lat for lat, _ in achieved)
    end = max(float(points["point_latency_s"].max()), start) if end_s is None else end_s
    jumps = [x for x in [*(lat for lat, _ in achieved), *(c for c, _ in bounds.caps)] if start <= x <= end]
    xs = sorted({start, end, *np.linspace(start, end, samples), *jumps, *(x * (1 + 1e-9) for x in jumps)})
    xs = [x for x in xs if x <= end]
    lower, upper = [], []
    for x in xs:
        lo = max((q for lat, q in achieved if lat <= x * (1 + 1e-12)), default=math.nan)
        up = bounds.accuracy_upper(x)
        lower.append(lo)
        upper.append(max(up, lo) if math.isfinite(up) else math.nan)
    return np.asarray(xs), np.asarray(lower), np.asarray(upper)


def plot_frontier(
    points: pd.DataFrame, ax: Axes | None = None, title: str | None = None, log_latency: bool | None = None
) -> Axes:
    """Draw the points of ``run_frontier`` (columns series, solver, point_latency_s, point_accuracy,
    proven, on_front); dominated points are left out.

    Series, by label: ``exact (<solvers>), proven`` a step line through the proven exact
    points only (hollow markers ``exact incumbent, not proven`` where a solver stopped early),
    with a shaded band from the best incumbent up to the proven bound (``proven_band``) where
    the true front lies,
    ``<heuristic> (weight sweep)`` a dashed line, and each baseline a marker
    labelled with its name. ``log_latency`` (None: when the drawn latencies span
    more than a factor of 10) puts latency on a log scale.
    """
    if ax is None:
        ax = new_axes()
    front = points[points["on_front"].astype(bool)].sort_values(["point_latency_s", "point_accuracy"])
    exact_rows = points[(points["series"] == "exact") & points["point_latency_s"].notna()]
    if not exact_rows.empty:
        name = ", ".join(dict.fromkeys(exact_rows["solver"].astype(str)))
        proven = exact_rows[exact_rows["proven"].astype(bool)].sort_values(
            ["point_latency_s", "point_accuracy"]
        )
        # the line: proven points only, each kept when it beats every faster proven point
        keep = proven["point_accuracy"].astype(float).cummax().diff().fillna(1.0) > 0
        line = proven[keep.to_numpy()]
        if not line.empty:
            ax.step(
                line["point_latency_s"],
                line["point_accuracy"],
                where="post",
                color="black",
                lw=1.5,
                marker="o",
                ms=5,
                label=f"exact ({name}), proven",
                zorder=4,
            )
        band = proven_band(points, end_s=float(front["point_latency_s"].max()))
        if band is not None and np.isfinite(band[2]).any():
            ax.fill_between(
                *band,
                color="black",
                alpha=0.12,
                lw=0,
                label="the true front lies in this band (best incumbent to proven bound)",
            )
        unproven = exact_rows[~exact_rows["proven"].astype(bool) & exact_rows["on_front"].astype(bool)]
        if not unproven.empty:
            ax.scatter(
                unproven["point_latency_s"],
                unproven["point_accuracy"],
                s=70,
                facecolors="white",
                edgecolors="red",
                linewidths=1.2,
                label="exact incumbent, not proven",
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
