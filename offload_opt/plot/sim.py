"""Plots of simulations over time: latency CDF per policy, queue length per model server, load curve."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from offload_opt.plot._common import new_axes


def plot_latency_cdf(rows_by_policy: Mapping[str, pd.DataFrame], ax: Axes | None = None) -> Axes:
    """Empirical CDF of task latency, one step line per policy (rows with ``latency_s``)."""
    if ax is None:
        ax = new_axes()
    for i, (policy, rows) in enumerate(rows_by_policy.items()):
        lat = np.sort(rows["latency_s"].to_numpy(dtype=float))
        if len(lat) == 0:
            continue
        ax.step(lat, np.arange(1, len(lat) + 1) / len(lat), where="post", color=f"C{i % 10}", label=policy)
    ax.set_xlabel("latency (s)")
    ax.set_ylabel("share of tasks")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return ax


def plot_queue_lengths(series: Mapping[str, pd.Series], ax: Axes | None = None) -> Axes:
    """Ops waiting or running at each model server over time (``offload_opt.sim.queue_lengths``)."""
    if ax is None:
        ax = new_axes()
    for i, (name, s) in enumerate(series.items()):
        x = np.concatenate([[0.0], s.index.to_numpy(dtype=float)])
        y = np.concatenate([[0.0], s.to_numpy(dtype=float)])
        ax.step(x, y, where="post", color=f"C{i % 10}", label=name, linewidth=1.0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("ops queued or running")
    ax.grid(alpha=0.3)
    if series:
        ax.legend(loc="upper left", fontsize="small")
    return ax


LOAD_METRICS = {
    "mean_latency_s": "mean latency (s)",
    "p95_latency_s": "p95 latency (s)",
    "reward_per_task": "reward per task",
}


def plot_load_curve(
    agg: pd.DataFrame,
    metric: str = "mean_latency_s",
    saturation: Mapping[str, float] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """``metric`` against the arrival rate, one line per policy with its confidence band.

    ``agg`` is ``offload_opt.sim.load_curve.aggregate``'s table (columns ``metric`` and
    ``metric_ci``); a dashed vertical line marks each policy's saturation rate.
    """
    if ax is None:
        ax = new_axes()
    for i, (policy, g) in enumerate(agg.groupby("policy", sort=False)):
        g = g.sort_values("rate")
        x = g["rate"].to_numpy(dtype=float)
        y = g[metric].to_numpy(dtype=float)
        hw = np.nan_to_num(g[f"{metric}_ci"].to_numpy(dtype=float))
        c = f"C{i % 10}"
        ax.plot(x, y, marker="o", markersize=3, color=c, label=policy)
        ax.fill_between(x, y - hw, y + hw, color=c, alpha=0.2, linewidth=0)
        rate = (saturation or {}).get(str(policy), math.nan)
        if not math.isnan(rate):
            ax.axvline(rate, color=c, linestyle="--", linewidth=1.0)
    ax.set_xlabel("arrival rate (tasks/s)")
    ax.set_ylabel(LOAD_METRICS.get(metric, metric))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return ax
