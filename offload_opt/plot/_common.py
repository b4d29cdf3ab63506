"""Shared plumbing of the plot modules."""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_axes(figsize: tuple[float, float] = (7.0, 4.5)) -> Axes:
    """A fresh figure with one axes, rendered by Agg (no GUI, no pyplot state)."""
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig.add_subplot()


def save(ax: Axes, path: str | Path, dpi: int = 150) -> Path:
    """Write the figure holding ``ax`` to ``path`` (atomically: a temporary file, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    ax.figure.savefig(tmp, dpi=dpi)
    tmp.replace(path)
    return path
