"""Gap definitions that survive negative rewards: relative only against a clearly positive reference,
absolute per task and normalised by the instance's largest accuracy reward everywhere."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from offload_opt.experiments.gap import add_gap_columns, format_gap_summary, gap_summary

COLUMNS = [
    "instance_digest",
    "solver",
    "termination",
    "objective",
    "bound",
    "sense",
    "n_tasks",
    "runtime_s",
    "status",
]


def rows() -> pd.DataFrame:
    """Three instances of 4 tasks: optimum 2.0 (clearly positive), 0.2 (positive, below 10 % of the
    largest accuracy reward 4.0) and -0.8 (negative, as S-02's -0.7733)."""
    return pd.DataFrame(
        [
            ("pos", "mip", "optimal", 2.0, 2.0, "max", 4, 1.0, "ok"),
            ("pos", "greedy", "heuristic", 1.5, None, "max", 4, 0.1, "ok"),
            ("small", "mip", "optimal", 0.2, 0.2, "max", 4, 1.0, "ok"),
            ("small", "greedy", "heuristic", 0.1, None, "max", 4, 0.1, "ok"),
            ("neg", "mip", "optimal", -0.8, -0.8, "max", 4, 1.0, "ok"),
            ("neg", "greedy", "heuristic", -2.0, None, "max", 4, 0.1, "ok"),
        ],
        columns=COLUMNS,
    )


WEIGHTS = {"pos": 1.0, "small": 1.0, "neg": 2.0}


def test_relative_gap_only_where_the_reference_is_clearly_positive():
    g = add_gap_columns(rows(), "mip", WEIGHTS).set_index(["instance_digest", "solver"])
    assert g.loc[("pos", "greedy"), "gap"] == pytest.approx(0.25)  # (2.0 - 1.5) / 2.0
    assert math.isnan(g.loc[("small", "greedy"), "gap"])  # 0.2 < 0.1 * 1.0 * 4 tasks: would read 50 %
    assert math.isnan(g.loc[("neg", "greedy"), "gap"])  # old definition: 150 %


def test_absolute_and_normalised_gaps_are_defined_for_any_sign():
    g = add_gap_columns(rows(), "mip", WEIGHTS).set_index(["instance_digest", "solver"])
    assert g.loc[("neg", "greedy"), "gap_abs_per_task"] == pytest.approx(1.2 / 4)  # reward units per task
    assert g.loc[("neg", "greedy"), "gap_norm"] == pytest.approx(1.2 / (2.0 * 4))  # weight 2, 4 tasks
    assert g.loc[("small", "greedy"), "gap_norm"] == pytest.approx(0.1 / 4)
    assert g.loc[("pos", "mip"), "gap_norm"] == 0.0 and g.loc[("pos", "mip"), "gap_abs_per_task"] == 0.0


def test_without_a_known_weight_the_normalised_gap_is_missing_and_the_relative_needs_a_positive_reference():
    g = add_gap_columns(rows(), "mip").set_index(["instance_digest", "solver"])
    assert math.isnan(g.loc[("neg", "greedy"), "gap_norm"])
    assert g.loc[("small", "greedy"), "gap"] == pytest.approx(0.5)  # > 0 is all that can be checked
    assert math.isnan(g.loc[("neg", "greedy"), "gap"])
    assert g.loc[("neg", "greedy"), "gap_abs_per_task"] == pytest.approx(0.3)


def test_the_weight_column_is_kept_so_a_table_read_back_gives_the_same_gaps():
    g = add_gap_columns(rows(), "mip", WEIGHTS)
    again = add_gap_columns(g, "mip")  # no weights passed: read from the table's own column
    cols = ["gap", "gap_abs_per_task", "gap_norm"]
    pd.testing.assert_frame_equal(g[cols], again[cols])


def test_the_summary_prints_every_gap_and_says_which_is_which():
    df = rows()
    df["accuracy_weight"] = df["instance_digest"].map(WEIGHTS)
    s = gap_summary(df, "mip").set_index(["solver", "gap_vs"])
    greedy = s.loc[("greedy", "optimum")]
    assert greedy["rel_defined"] == 1 and greedy["mean_gap_%"] == pytest.approx(25.0)
    assert greedy["max_abs_gap_per_task"] == pytest.approx(0.3)
    assert greedy["mean_norm_gap_%"] == pytest.approx(100 * (0.125 + 0.025 + 0.15) / 3)
    assert greedy["at_optimum_%"] == 0 and s.loc[("mip", "optimum"), "at_optimum_%"] == 100
    text = format_gap_summary(df, "mip")
    for name in ("gap = (reference - objective) / |reference|", "abs_gap_per_task", "norm_gap"):
        assert name in text


def test_reference_is_the_tightest_bound_of_every_exact_solver_or_any_proven_optimum():
    """Several exact solvers: an optimum proven by any of them wins; else the smallest bound (maximising)."""
    df = pd.DataFrame(
        [
            ("a", "mip", "time_limit", 1.8, 2.5, "max", 4, 1.0, "ok"),
            ("a", "cg", "feasible", 1.9, 2.05, "max", 4, 1.0, "ok"),
            ("a", "greedy", "heuristic", 1.5, None, "max", 4, 0.1, "ok"),
            ("b", "mip", "optimal", 1.0, 1.0, "max", 4, 1.0, "ok"),
            ("b", "cg", "feasible", 0.99, 1.01, "max", 4, 1.0, "ok"),
        ],
        columns=COLUMNS,
    )
    g = add_gap_columns(df, ["cg", "mip"], {"a": 1.0, "b": 1.0}).set_index(["instance_digest", "solver"])
    assert g.loc[("a", "greedy"), "reference"] == 2.05 and g.loc[("a", "greedy"), "reference_by"] == "cg"
    assert g.loc[("a", "greedy"), "gap_vs"] == "bound"
    assert g.loc[("b", "cg"), "reference"] == 1.0 and g.loc[("b", "cg"), "gap_vs"] == "optimum"
    assert g.loc[("b", "cg"), "reference_by"] == "mip"
    # one exact solver named alone still works as before
    assert add_gap_columns(df, "mip").set_index(["instance_digest", "solver"]).loc[("a", "greedy"), "reference"] == 2.5
