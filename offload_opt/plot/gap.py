"""Optimality-gap plot: one column per solver, one point per instance (hollow: measured against a bound)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from offload_opt.plot._common import new_axes, save


def plot_gaps(df: pd.DataFrame, exact: str | Sequence[str] | None = None, ax: Axes | None = None) -> Axes:
    """Gap (%) of every solver on every instance, from rows with ``solver``, ``gap`` and ``gap_vs``.

    Filled points are gaps to a proven optimum, hollow ones to the exact
    solvers' best bound (upper estimates); ``exact``: one name or several (drawn last). Boxes summarise each solver's gaps.
    Scatter series are labelled ``"<solver> vs optimum"`` / ``"<solver> vs bound"``.
    """
    if ax is None:
        ax = new_axes()
    exacts = [] if exact is None else [exact] if isinstance(exact, str) else list(exact)
    present = set(df["solver"])
    solvers = [s for s in dict.fromkeys(df["solver"]) if s not in exacts] + [
        e for e in exacts if e in present
    ]
    boxes, positions = [], []
    for i, solver in enumerate(solvers):
        mine = df[(df["solver"] == solver) & df["gap"].notna()]
        if mine.empty:
            continue
        gaps = 100 * mine["gap"].to_numpy(dtype=float)
        boxes.append(gaps)
        positions.append(i)
        # deterministic spread of the points around the column
        spread = np.linspace(-0.18, 0.18, len(gaps)) if len(gaps) > 1 else np.zeros(1)
        for kind, face in (("optimum", f"C{i % 10}"), ("bound", "none")):
            sel = (mine["gap_vs"] == kind).to_numpy()
            if sel.any():
                ax.scatter(
                    i + spread[sel],
                    gaps[sel],
                    s=22,
                    facecolors=face,
                    edgecolors=f"C{i % 10}",
                    label=f"{solver} vs {kind}",
                    zorder=3,
                )
    if boxes:
        ax.boxplot(
            boxes,
            positions=positions,
            widths=0.5,
            showfliers=False,
            manage_ticks=False,
            medianprops={"color": "black"},
            boxprops={"color": "0.5"},
            whiskerprops={"color": "0.5"},
            capprops={"color": "0.5"},
        )
    ax.set_xticks(range(len(solvers)), solvers, rotation=20, ha="right")
    ax.set_xlim(-0.6, len(solvers) - 0.4)
    ax.set_ylabel("optimality gap (% of reference objective)")
    ax.set_xlabel("solver")
    ref = f"the optimum proven by {', '.join(exacts)}" if exacts else "the exact optimum"
    ax.set_title(f"Gap to {ref} (hollow: to the best bound, not proven)", fontsize=10)
    ax.axhline(0.0, color="0.7", lw=0.8, zorder=1)
    ax.grid(axis="y", alpha=0.3)
    return ax


def save_gap_plot(df: pd.DataFrame, path: str | Path, exact: str | Sequence[str] | None = None) -> Path:
    """Draw ``plot_gaps`` on a new figure and write it to ``path``."""
    return save(plot_gaps(df, exact=exact), path)
