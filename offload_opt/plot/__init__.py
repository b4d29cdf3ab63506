"""Plots (matplotlib): each function takes the data and an optional ``ax``, and returns the axes.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state, no
display needed: files are rendered by the Agg canvas).
"""

from offload_opt.plot.frontier import plot_frontier
from offload_opt.plot.gantt import plot_schedule
from offload_opt.plot.gap import plot_gaps

__all__ = ["plot_frontier", "plot_gaps", "plot_schedule"]
