"""The paper's protocol (Han & Sun 2026): baselines vs our heuristic vs the exact optimum, over seeds.

Each seed generates one instance of the scenario; every solver decides on it
and the evaluator reports mean latency, mean accuracy (success probability)
and mean reward per task. Means carry 95% t-intervals over seeds; relative
changes against each baseline are paired by seed (the interval of the mean
paired difference, divided by the baseline's mean). Every solver decides on
the planner's predictions; every decision is then judged on the actual values
(difficulties and realised output lengths, ``build_costs(actual=True)``), and
both are reported: the predicted figures are what the solver optimised, the
actual ones what the users got, and the relative changes are on the actual
ones. Unless told otherwise,
the exact solvers are warm-started with our heuristic too (option
``warm_start``; it runs inside the exact solver on a share of the time
limit), so that a time-limited exact run starts from a comparable plan.

Several exact solvers may run side by side (default ``mip`` and ``cg``, each
with the full time limit): each has its row, and per seed the best bound of
any of them and the best incumbent of any solver are reported with the
solvers that gave them (``exact_summary``, the gap study's ``best_known``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from offload_opt.experiments.gap import PROVEN_GAP, best_known, exact_names
from offload_opt.experiments.runner import Job, SweepSettings, run_sweep
from offload_opt.experiments.stats import mean_ci
from offload_opt.generator import generate

TAG_COLUMNS = ["scenario", "instance_seed", "role"]
DEFAULT_BASELINES = ("local-only", "nearest-edge")
DEFAULT_HEURISTIC = "local-search"
DEFAULT_EXACT = ("mip", "cg")
WARM_START_DEFAULT = "greedy"  # the exact solver's own default incumbent, kept beside ours
FALLBACK_HEURISTICS = ("local-search", "alns", "greedy")
# What the paper reports for its method against the baselines (relative change, %).
PAPER_CHANGE_PCT = {"mean_latency_s": -20.0, "mean_reward": 80.0}
# judged on the predictions the solver decided on (the solver's own objective)
METRICS = {"mean_latency_s": "latency_s", "mean_quality": "accuracy", "mean_reward": "reward"}
# the same decisions judged on the actual values (what users got)
ACTUAL_METRICS = {
    "eval_mean_latency_s": "actual_latency_s",
    "eval_mean_quality": "actual_accuracy",
    "eval_mean_reward": "actual_reward",
}


def check_seeds(seeds: int) -> int:
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"--seeds: must be an integer >= 1, got {seeds!r}")
    return seeds


def default_heuristic() -> str:
    """Our best heuristic: local-search when registered, else the first fallback (alns, greedy) that is."""
    from offload_opt.solvers import solvers

    have = solvers()
    for name in FALLBACK_HEURISTICS:
        if name in have:
            return name
    raise ValueError(f"--heuristic: none of {', '.join(FALLBACK_HEURISTICS)} is registered; name one")


def compare_jobs(
    scenario: str,
    seeds: Sequence[int],
    baselines: Sequence[str],
    heuristic: str | None,
    exact: str | Sequence[str] | None,
    settings: SweepSettings | None = None,
    overrides: dict[str, Any] | None = None,
) -> list[Job]:
    """One job per (seed, solver): the baselines, our heuristic, each exact solver; judged on actual values too."""
    st = settings or SweepSettings()
    heuristic_time_limit_s, seed = st.heuristic_time_limit_s, st.seed
    jobs = []
    for s in seeds:
        inst = generate(scenario, seed=s, **(overrides or {}))
        path = f"generate({scenario!r}, seed={s})"

        def tags(role: str, s: int = s) -> dict[str, Any]:
            return {"scenario": scenario, "instance_seed": s, "role": role}

        jobs += [
            Job(
                inst,
                b,
                heuristic_time_limit_s,
                seed,
                st.options_for(b),
                path,
                tags("baseline"),
                evaluate_actual=True,
            )
            for b in baselines
        ]
        if heuristic:
            jobs.append(
                Job(
                    inst,
                    heuristic,
                    heuristic_time_limit_s,
                    seed,
                    st.options_for(heuristic),
                    path,
                    tags("heuristic"),
                    evaluate_actual=True,
                )
            )
        for name in exact_names(exact) if exact else []:
            jobs.append(
                Job(
                    inst,
                    name,
                    st.time_limit_s,
                    seed,
                    st.options_for(name),
                    path,
                    tags("exact"),
                    evaluate_actual=True,
                )
            )
    return jobs


def exact_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per seed: the best bound of the exact rows and the best incumbent of any row (on the predictions
    the solvers optimised), the solvers that gave them, their relative gap and whether it is proven
    (an exact solver said ``optimal``, or the gap is within the gap study's ``PROVEN_GAP``)."""
    exacts = list(dict.fromkeys(df.loc[df["role"] == "exact", "solver"]))
    if not exacts:
        return pd.DataFrame()
    known = best_known(df, exacts)
    seeds = df.drop_duplicates("instance_digest").set_index("instance_digest")["instance_seed"]
    rows = []
    for digest, k in known.items():
        b, inc = k["bound"], k["incumbent"]
        gap = (b - inc) / max(abs(inc), 1e-9) if math.isfinite(b) and math.isfinite(inc) else math.nan
        rows.append(
            {
                "instance_seed": seeds.get(digest),
                "bound": b,
                "bound_by": k["bound_by"],
                "incumbent": inc,
                "incumbent_by": k["incumbent_by"],
                "gap": gap,
                "proven_by": k["proven_by"],
            }
        )
    return pd.DataFrame(rows)


def _fmt_ci(mean: float, half: float, digits: int = 4) -> str:
    if not math.isfinite(mean):
        return "-"
    if not math.isfinite(half):
        return f"{mean:.{digits}g}"
    return f"{mean:.{digits}g} ± {half:.2g}"


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per solver: n seeds, mean latency / accuracy / reward with 95% half-widths, share proven optimal.

    ``latency_s``, ``accuracy``, ``reward``: on the predictions the solver decided on; ``actual_*``: the same
    decisions judged on the actual values (NaN when the rows carry no ``eval_*`` columns).
    """
    rows = []
    for solver in dict.fromkeys(df["solver"]):
        part = df[df["solver"] == solver]
        row: dict[str, Any] = {"solver": solver, "role": part["role"].iloc[0], "seeds": len(part)}
        for col, name in METRICS.items():
            m, h, n = mean_ci(part[col].astype(float))
            row[name], row[f"{name}_ci95"], row["solved"] = m, h, n
        for col, name in ACTUAL_METRICS.items():
            values = part[col].astype(float) if col in part else pd.Series([math.nan] * len(part))
            m, h, _ = mean_ci(values)
            row[name], row[f"{name}_ci95"] = m, h
        if row["role"] == "exact":
            row["proven_optimal_%"] = 100 * float((part["termination"] == "optimal").mean())
        else:
            row["proven_optimal_%"] = math.nan
        row["mean_runtime_s"] = part["runtime_s"].astype(float).mean()
        rows.append(row)
    return pd.DataFrame(rows)


def relative_changes(df: pd.DataFrame, actual: bool = True) -> pd.DataFrame:
    """Relative change (%) of our heuristic and the exact solver against each baseline, paired by seed.

    On the actual values (``eval_*`` columns) by default, when the rows have them; ``actual=False``: on the
    predictions. The column names are the same either way (``latency_s_change_%``, ...).
    """
    rows = []
    roles = df.drop_duplicates("solver").set_index("solver")["role"]
    baselines = [s for s, r in roles.items() if r == "baseline"]
    ours = [s for s, r in roles.items() if r in ("heuristic", "exact")]
    use_actual = actual and all(c in df for c in ACTUAL_METRICS)
    metrics = {c: METRICS[p] for c, p in zip(ACTUAL_METRICS, METRICS, strict=True)} if use_actual else METRICS
    reward_col = "eval_mean_reward" if use_actual else "mean_reward"
    wide = {
        col: df.pivot_table(index="instance_seed", columns="solver", values=col, aggfunc="first")
        for col in metrics
    }
    for mine in ours:
        for base in baselines:
            row: dict[str, Any] = {"solver": mine, "vs": base}
            for col, name in metrics.items():
                w = wide[col]
                if mine not in w or base not in w:
                    row[f"{name}_change_%"], row[f"{name}_change_ci95"] = math.nan, math.nan
                    continue
                pair = w[[mine, base]].dropna()
                ref = abs(float(pair[base].mean())) if len(pair) else math.nan
                m, h, _ = mean_ci((pair[mine] - pair[base]).to_numpy())
                scale = 100.0 / ref if ref and math.isfinite(ref) else math.nan
                row[f"{name}_change_%"], row[f"{name}_change_ci95"] = m * scale, h * scale
            row["paired_seeds"] = (
                int(len(wide[reward_col][[mine, base]].dropna()))
                if (mine in wide[reward_col] and base in wide[reward_col])
                else 0
            )
            rows.append(row)
    return pd.DataFrame(rows)


def format_compare(df: pd.DataFrame) -> str:
    """The printed report: the summary and the relative changes, with the paper's figures beside ours."""
    summary = summary_table(df)
    shown = pd.DataFrame(
        {
            "solver": summary["solver"],
            "role": summary["role"],
            "seeds": summary["solved"].astype(str) + "/" + summary["seeds"].astype(str),
            "latency (s) predicted": _ci_column(summary, "latency_s"),
            "latency (s) actual": _ci_column(summary, "actual_latency_s"),
            "accuracy predicted": _ci_column(summary, "accuracy"),
            "accuracy actual": _ci_column(summary, "actual_accuracy"),
            "reward/task predicted": _ci_column(summary, "reward"),
            "reward/task actual": _ci_column(summary, "actual_reward"),
            "proven optimal": [f"{p:.0f}%" if math.isfinite(p) else "-" for p in summary["proven_optimal_%"]],
            "runtime (s)": [f"{t:.3g}" for t in summary["mean_runtime_s"]],
        }
    )
    lines = [
        "decided on the planner's predictions, judged on the predictions ('predicted') and on the actual "
        "values ('actual'); means over seeds ± half-width of the 95% t-interval",
        shown.to_string(index=False),
    ]
    exact = df[df["role"] == "exact"]
    for name, part in exact.groupby("solver", sort=False):
        if (part["termination"] != "optimal").any():
            lines.append(
                f"note: {name} stopped before proving optimality on "
                f"{int((part['termination'] != 'optimal').sum())} of {len(part)} seeds "
                "(its rows are its best solutions, not proven optima)"
            )
    best = exact_summary(df) if len(exact) else pd.DataFrame()
    if len(best):
        by = lambda col: ", ".join(f"{s} {c}" for s, c in best[col].replace("", "-").value_counts().items())  # noqa: E731
        gaps = 100 * best["gap"].dropna()
        lines.append(
            f"all exact solvers together ({', '.join(dict.fromkeys(exact['solver']))}): proven on "
            f"{int((best['proven_by'] != '').sum())} of {len(best)} seeds (best incumbent of any solver within "
            f"{PROVEN_GAP:g} of the best bound, or an exact solver's proof); gap of the best incumbent to the "
            f"best bound: median {gaps.median():.3g}%, max {gaps.max():.3g}%; best bound by: {by('bound_by')}; "
            f"best incumbent by: {by('incumbent_by')}"
            if len(gaps)
            else "all exact solvers together: no seed with both a bound and an incumbent"
        )
    if len(exact):
        lines.append(
            "'proven optimal' is on the predictions it decided on; on the actual values any plan can lose"
        )
    changes = relative_changes(df)
    if not changes.empty:
        shown = pd.DataFrame(
            {
                "solver": changes["solver"],
                "vs baseline": changes["vs"],
                "latency": [
                    _pct(m, h)
                    for m, h in zip(
                        changes["latency_s_change_%"], changes["latency_s_change_ci95"], strict=True
                    )
                ],
                "accuracy": [
                    _pct(m, h)
                    for m, h in zip(
                        changes["accuracy_change_%"], changes["accuracy_change_ci95"], strict=True
                    )
                ],
                "reward": [
                    _pct(m, h)
                    for m, h in zip(changes["reward_change_%"], changes["reward_change_ci95"], strict=True)
                ],
                "paper: latency": f"{PAPER_CHANGE_PCT['mean_latency_s']:+.0f}%",
                "paper: reward": f"{PAPER_CHANGE_PCT['mean_reward']:+.0f}%",
            }
        )
        judged = "actual values" if all(c in df for c in ACTUAL_METRICS) else "predictions"
        lines += [
            "",
            f"relative change against each baseline, judged on the {judged} (ours, measured, paired by seed; "
            "95% CI) and the paper's reported figures (Han & Sun 2026) beside them",
            shown.to_string(index=False),
        ]
        lines.append(
            "reward change is relative to |baseline reward|; a negative baseline reward makes large "
            "percentages"
        )
    return "\n".join(lines)


def _ci_column(summary: pd.DataFrame, name: str) -> list[str]:
    return [_fmt_ci(m, h) for m, h in zip(summary[name], summary[f"{name}_ci95"], strict=True)]


def _pct(m: float, h: float) -> str:
    if not math.isfinite(m):
        return "-"
    return f"{m:+.1f}%" + (f" ± {h:.1f}" if math.isfinite(h) else "")


def run_compare(
    scenario: str = "default",
    seeds: int = 20,
    output: str | Path | None = None,
    settings: SweepSettings | None = None,
    *,
    first_seed: int = 0,
    baselines: Sequence[str] = DEFAULT_BASELINES,
    heuristic: str | None = None,
    exact: str | Sequence[str] | None = DEFAULT_EXACT,
    overrides: dict[str, Any] | None = None,
    **changes: Any,
) -> pd.DataFrame:
    """Run the comparison; one row per (seed, solver).

    ``settings`` (with ``changes``) holds limits, seed, options and back-end (``SweepSettings``); without
    ``settings`` each exact solve gets 60 s.
    """
    from offload_opt.solvers import get_solver

    settings = SweepSettings.of(settings or SweepSettings(time_limit_s=60.0), **changes)
    check_seeds(seeds)
    heuristic = heuristic or default_heuristic()
    exacts = exact_names(exact) if exact else []
    for name in [*baselines, heuristic, *exacts]:
        get_solver(name)
    solver_options = {k: dict(v) for k, v in settings.solver_options.items()}
    for name in exacts:
        if "warm_start" not in solver_options.get(name, {}):
            # the exact solver also starts from our heuristic's plan, so an early stop still has a good incumbent
            solver_options.setdefault(name, {})["warm_start"] = list(
                dict.fromkeys([WARM_START_DEFAULT, heuristic])
            )
    jobs = compare_jobs(
        scenario,
        list(range(first_seed, first_seed + seeds)),
        baselines,
        heuristic,
        exact,
        SweepSettings.of(settings, solver_options=solver_options),
        overrides,
    )
    return run_sweep(jobs, output, settings, desc="compare", tag_columns=TAG_COLUMNS)


def paired(df: pd.DataFrame, column: str, a: str, b: str) -> np.ndarray:
    """Per-seed ``column`` of solver ``a`` minus solver ``b`` (seeds where both have a value)."""
    w = df.pivot_table(index="instance_seed", columns="solver", values=column, aggfunc="first")
    return (w[a] - w[b]).dropna().to_numpy()
