"""Plots: the series drawn are the data given (read back from the axes), files are written, ax=None convention."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from offload_opt.costs import build_costs
from offload_opt.evaluator import evaluate
from offload_opt.plot import plot_frontier, plot_gaps, plot_schedule
from offload_opt.plot.frontier import proven_band, save_frontier_plot
from offload_opt.plot.gantt import (
    BACKHAUL_ROW,
    gantt_rows,
    row_label,
    row_of,
    save_schedule_plot,
    server_backlog,
)
from offload_opt.plot.gap import save_gap_plot
from offload_opt.solution import (
    Placement,
    Solution,
    TaskDecision,
    activities_of,
    decisions_to_assignments,
    make_solution,
)

from .conftest import decomposed_task, tiny_instance

PNG = b"\x89PNG\r\n\x1a\n"


def _bars(ax) -> dict[str, tuple[float, float, float]]:
    """Activity key -> (start, duration, row) of every bar drawn (bars carry the activity key as gid)."""
    return {
        p.get_gid(): (p.get_x(), p.get_width(), p.get_y() + p.get_height() / 2)
        for p in ax.patches
        if p.get_gid() and not p.get_gid().startswith("backlog:")
    }


@pytest.fixture
def split_across_aps():
    """One decomposed task: s0 on AP a0, s1 on AP a1 (a backhaul delivery a0 -> a1), agg on the device."""
    inst = tiny_instance(tasks=(decomposed_task(),), n_aps=2, same_channel=False, backlog_s=0.2)
    costs = build_costs(inst)
    dec = TaskDecision(
        "t0",
        "decompose",
        (
            Placement("s0", "ap:a0", "big"),
            Placement("s1", "ap:a1", "big"),
            Placement("agg", "user:u0", "small"),
        ),
    )
    a = decisions_to_assignments(costs, Solution((dec,)))[0]
    mode = costs.tasks[0].modes[a.mode]
    depth = {}
    for i in mode.topo_order:  # order every resource by data depth: inputs, ops, outputs
        depth[i] = max((depth[f.src] + 1 for f in mode.flows if f.dst == i and f.src >= 0), default=0)
    rank = {}
    for k, (key, _) in enumerate(activities_of(costs, costs.tasks[0], a)):
        if k < len(mode.ops):
            rank[key] = 2.0 * depth[k] + 1
        else:
            f = mode.flows[k - len(mode.ops)]
            rank[key] = 0.0 if f.src < 0 else 2.0 * depth[f.src] + 2
    ev = evaluate(costs, make_solution(costs, {0: a}, rank))
    assert ev.feasible, ev.violations
    return inst, ev


def test_gantt_draws_every_activity_on_its_row(split_across_aps):
    inst, ev = split_across_aps
    ax = plot_schedule(ev, busy_until_s=server_backlog(inst))
    rows = gantt_rows(ev)
    assert [t.get_text() for t in ax.get_yticklabels()] == [row_label(r) for r in rows]
    assert rows[0].startswith("dev:") and rows[-1] == BACKHAUL_ROW  # devices first, backhaul last
    bars = _bars(ax)
    drawn = {k: a for k, a in ev.schedule.items() if row_of(a) is not None}
    assert set(bars) == set(drawn)
    for key, act in drawn.items():
        start, width, y = bars[key]
        assert start == pytest.approx(act.start_s) and width == pytest.approx(act.end_s - act.start_s)
        assert y == pytest.approx(rows.index(row_of(act)))
    # the backhaul delivery s0 -> s1 between the two APs has no shared resource: its own row
    assert row_of(ev.schedule["t0/s0>s1"]) == BACKHAUL_ROW
    # instantaneous same-node flows are not drawn
    assert all(a.end_s > a.start_s for k, a in ev.schedule.items() if k in bars and a.resource is None)
    backlog = [p for p in ax.patches if (p.get_gid() or "").startswith("backlog:")]
    assert backlog and all(p.get_width() == pytest.approx(0.2) for p in backlog)
    assert ax.get_xlabel() == "time (s)"


def test_gantt_uses_the_given_axes_and_writes_png(split_across_aps, tmp_path):
    _, ev = split_across_aps
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_schedule(ev, ax=ax) is ax
    out = save_schedule_plot(ev, tmp_path / "g.png")
    assert out.read_bytes()[:8] == PNG


def test_gantt_refuses_an_empty_schedule():
    ev = evaluate(build_costs(tiny_instance()), Solution(()))
    with pytest.raises(ValueError, match="schedule"):
        plot_schedule(ev)


def _points() -> pd.DataFrame:
    """A hand-made frontier table: exact front with one unproven point, a dominated heuristic point, baselines."""
    rows = [
        # series, solver, latency, accuracy, proven, on_front
        ("exact", "mip", 2.0, 0.6, True, True),
        ("exact", "mip", 4.0, 0.8, True, True),
        ("exact", "mip", 6.0, 0.85, False, True),
        ("exact", "mip", 7.0, 0.85, True, False),  # dominated: left out
        ("greedy", "greedy", 3.0, 0.6, False, True),
        ("greedy", "greedy", 5.0, 0.7, False, True),
        ("greedy", "greedy", 5.5, 0.65, False, False),  # dominated: left out
        ("baseline", "local-only", 9.0, 0.5, False, True),
        ("baseline", "nearest-edge", 4.5, 0.7, False, True),
    ]
    return pd.DataFrame(
        rows, columns=["series", "solver", "point_latency_s", "point_accuracy", "proven", "on_front"]
    )


def test_frontier_plot_series_are_the_fronts():
    ax = plot_frontier(_points())
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    # the exact line runs through proven points only (the unproven (6, .85) is a hollow marker)
    exact = lines["exact (mip), proven"]
    assert list(exact.get_xdata()) == [2.0, 4.0, 7.0] and list(exact.get_ydata()) == [0.6, 0.8, 0.85]
    assert exact.get_drawstyle() == "steps-post"
    greedy = lines["greedy (weight sweep)"]
    assert list(greedy.get_xdata()) == [3.0, 5.0] and list(greedy.get_ydata()) == [0.6, 0.7]
    scatters = {c.get_label(): c.get_offsets().tolist() for c in ax.collections}
    assert scatters["exact incumbent, not proven"] == [[6.0, 0.85]]
    assert scatters["local-only"] == [[9.0, 0.5]] and scatters["nearest-edge"] == [[4.5, 0.7]]
    assert ax.get_xlabel() == "mean latency (s)"
    assert ax.get_ylabel() == "mean accuracy (success probability)"


def test_proven_band_between_attained_and_bound():
    """Proven: least latency 2 (accuracy .6), best .8 within 4.5 s (reached at 4 s), best .85 overall (at 7 s)."""
    pts = pd.DataFrame(
        [
            # series, solver, role, cap, latency, accuracy, proven, on_front
            ("exact", "mip", "exact-min-latency", math.nan, 2.0, 0.6, True, True),
            ("exact", "mip", "exact-cap", 4.5, 4.0, 0.8, True, True),
            (
                "exact",
                "mip",
                "exact-cap",
                6.5,
                6.0,
                0.82,
                False,
                True,
            ),  # not proven: attained, bounds nothing
            ("exact", "mip", "exact-max-accuracy", math.nan, 7.0, 0.85, True, True),
            ("baseline", "local-only", "baseline", math.nan, 9.0, 0.5, False, True),
        ],
        columns=[
            "series",
            "solver",
            "role",
            "latency_cap_s",
            "point_latency_s",
            "point_accuracy",
            "proven",
            "on_front",
        ],
    )
    xs, lower, upper = proven_band(pts)
    assert xs[0] == 2.0 and xs[-1] == 9.0 and all(np.diff(xs) > 0)
    at = {x: (lo, up) for x, lo, up in zip(xs.tolist(), lower.tolist(), upper.tolist(), strict=True)}
    # the best point so far, of any series; the least cap (>= the latency) that a proven solve bounds
    assert at[2.0] == (0.6, 0.8) and at[4.0] == (0.8, 0.8) and at[4.5] == (0.8, 0.8)
    assert at[6.0] == (0.82, 0.85) and at[7.0] == (0.85, 0.85) and at[9.0] == (0.85, 0.85)
    just_after = min(x for x in xs if x > 4.5)
    assert at[just_after] == (0.8, 0.85)  # past the 4.5 s cap only the best overall accuracy bounds
    ax = plot_frontier(pts)
    assert "the true front lies in this band (best incumbent to proven bound)" in [
        c.get_label() for c in ax.collections
    ]
    assert proven_band(pts.drop(columns=["role"])) is None


def test_frontier_plot_given_axes_and_file(tmp_path):
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_frontier(_points(), ax=ax) is ax
    assert save_frontier_plot(_points(), tmp_path / "f.png").read_bytes()[:8] == PNG


def test_gap_plot_points_are_the_gaps(tmp_path):
    df = pd.DataFrame(
        {
            "solver": ["mip", "greedy", "greedy", "greedy", "local-only", "local-only"],
            "gap": [0.0, 0.1, 0.02, 0.3, 0.5, math.nan],
            "gap_vs": ["optimum", "optimum", "optimum", "bound", "optimum", "optimum"],
        }
    )
    ax = plot_gaps(df, exact="mip")
    pts = {c.get_label(): np.asarray(c.get_offsets()) for c in ax.collections}
    assert sorted(pts["greedy vs optimum"][:, 1]) == pytest.approx([2.0, 10.0])
    assert pts["greedy vs bound"][:, 1] == pytest.approx([30.0])
    assert pts["local-only vs optimum"][:, 1] == pytest.approx([50.0])  # the NaN gap is not drawn
    assert pts["mip vs optimum"][:, 1] == pytest.approx([0.0])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["greedy", "local-only", "mip"]  # exact last
    hollow = next(c for c in ax.collections if c.get_label() == "greedy vs bound")
    assert hollow.get_facecolor().size == 0 or hollow.get_facecolor()[0][3] == 0
    assert "%" in ax.get_ylabel()
    assert save_gap_plot(df, tmp_path / "gap.png", exact="mip").read_bytes()[:8] == PNG
