"""Shared plumbing of the plot modules."""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from offload_opt._cliutil import atomic_target


def new_axes(figsize: tuple[float, float] = (7.0, 4.5)) -> Axes:
    """A fresh figure with one axes, rendered by Agg (no GUI, no pyplot state)."""
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig.add_subplot()


def save(ax: Axes, path: str | Path, dpi: int = 150) -> Path:
    """Write the figure holding ``ax`` to ``path`` (atomically: a temporary file, then a rename).

    The file gets the umask's mode (or the replaced file's); a failed write leaves no temporary file
    and raises a one-line ValueError naming ``path``.
    """
    path = Path(path)
    fig = ax.figure
    # the plot modules draw on new_axes (a top-level Figure); a SubFigure has no savefig of its own
    assert isinstance(fig, Figure), f"save: the axes belong to a {type(fig).__name__}, not a Figure"
    with atomic_target(path, flag=None) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".").lower() or None)
    return path
