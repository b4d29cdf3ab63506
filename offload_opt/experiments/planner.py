"""Planner study: what prediction errors cost once decisions meet the actual values.

For each seed the generator gives the same world under every planner
profile (oracle, teacher, distilled; models/planners.yaml), differing only in
the predicted difficulties and token counts. A solver decides on the
predictions; the evaluator then judges those decisions on the actual values
(``build_costs(instance, actual=True)``): the true difficulties and the
realised output lengths. Both are reported. The oracle predicts the expected
lengths, not the realised ones, so even its decisions meet values they did not
plan for; the reward lost to prediction error is the oracle's actual reward
minus the profile's, paired by seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from offload_opt.experiments.compare import _fmt_ci, check_seeds, default_heuristic
from offload_opt.experiments.runner import Job, SweepSettings, run_sweep
from offload_opt.experiments.stats import mean_ci
from offload_opt.generator import PLANNER_PROFILES, generate

TAG_COLUMNS = ["scenario", "instance_seed", "planner"]
REFERENCE_PROFILE = "oracle"


def planner_jobs(
    scenario: str,
    seeds: Sequence[int],
    solvers: Sequence[str],
    profiles: Sequence[str],
    settings: SweepSettings | None = None,
    overrides: dict[str, Any] | None = None,
) -> list[Job]:
    """One job per (seed, planner profile, solver), judged on the actual values."""
    st = settings or SweepSettings()
    jobs = []
    for s in seeds:
        for profile in profiles:
            inst = generate(scenario, seed=s, **{**(overrides or {}), "planner": profile})
            path = f"generate({scenario!r}, seed={s}, planner={profile!r})"
            for name in solvers:
                jobs.append(
                    Job(
                        inst,
                        name,
                        st.time_limit_s,
                        st.seed,
                        st.options_for(name),
                        path,
                        {"scenario": scenario, "instance_seed": s, "planner": profile},
                        evaluate_actual=True,
                    )
                )
    return jobs


def planner_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per (solver, profile): actual reward per task and the reward lost against the oracle, with 95% CIs."""
    rows = []
    for solver in dict.fromkeys(df["solver"]):
        mine = df[df["solver"] == solver]
        actual = mine.pivot_table(
            index="instance_seed", columns="planner", values="eval_mean_reward", aggfunc="first"
        )
        for profile in dict.fromkeys(mine["planner"]):
            part = mine[mine["planner"] == profile]
            predicted_m, predicted_h, _ = mean_ci(part["mean_reward"].astype(float))
            actual_m, actual_h, n = mean_ci(part["eval_mean_reward"].astype(float))
            lat_m, lat_h, _ = mean_ci(part["eval_mean_latency_s"].astype(float))
            acc_m, acc_h, _ = mean_ci(part["eval_mean_quality"].astype(float))
            if REFERENCE_PROFILE in actual and profile in actual:
                lost = (actual[REFERENCE_PROFILE] - actual[profile]).dropna()
                ref = abs(float(actual[REFERENCE_PROFILE].loc[lost.index].mean())) if len(lost) else math.nan
            else:
                lost, ref = pd.Series(dtype=float), math.nan
            lost_m, lost_h, paired_n = mean_ci(lost.to_numpy())
            rows.append(
                {
                    "solver": solver,
                    "planner": profile,
                    "seeds": n,
                    "predicted_reward": predicted_m,
                    "predicted_reward_ci95": predicted_h,
                    "actual_reward": actual_m,
                    "actual_reward_ci95": actual_h,
                    "actual_latency_s": lat_m,
                    "actual_latency_s_ci95": lat_h,
                    "actual_accuracy": acc_m,
                    "actual_accuracy_ci95": acc_h,
                    "reward_lost": lost_m,
                    "reward_lost_ci95": lost_h,
                    "reward_lost_%": 100 * lost_m / ref if ref else math.nan,
                    "paired_seeds": paired_n,
                }
            )
    return pd.DataFrame(rows)


def format_planner(df: pd.DataFrame) -> str:
    s = planner_summary(df)
    shown = pd.DataFrame(
        {
            "solver": s["solver"],
            "planner": s["planner"],
            "seeds": s["seeds"],
            "reward/task predicted": [
                _fmt_ci(m, h) for m, h in zip(s["predicted_reward"], s["predicted_reward_ci95"], strict=True)
            ],
            "reward/task actual": [
                _fmt_ci(m, h) for m, h in zip(s["actual_reward"], s["actual_reward_ci95"], strict=True)
            ],
            "latency actual (s)": [
                _fmt_ci(m, h) for m, h in zip(s["actual_latency_s"], s["actual_latency_s_ci95"], strict=True)
            ],
            "accuracy actual": [
                _fmt_ci(m, h) for m, h in zip(s["actual_accuracy"], s["actual_accuracy_ci95"], strict=True)
            ],
            "reward lost vs oracle": [
                _fmt_ci(m, h) for m, h in zip(s["reward_lost"], s["reward_lost_ci95"], strict=True)
            ],
            "lost %": [f"{p:.1f}%" if math.isfinite(p) else "-" for p in s["reward_lost_%"]],
        }
    )
    return "\n".join(
        [
            "decisions made on each planner's predictions ('predicted': judged on them), judged on the actual "
            "values ('actual': true difficulties, realised output lengths); reward lost = oracle's actual reward "
            "- profile's, paired by seed; the oracle knows expected, not realised, lengths "
            "(means ± 95% t half-width)",
            shown.to_string(index=False),
        ]
    )


def run_planner_study(
    scenario: str = "default",
    seeds: int = 20,
    output: str | Path | None = None,
    settings: SweepSettings | None = None,
    *,
    first_seed: int = 0,
    solvers: Sequence[str] | None = None,
    profiles: Sequence[str] = tuple(PLANNER_PROFILES),
    overrides: dict[str, Any] | None = None,
    **changes: Any,
) -> pd.DataFrame:
    """Run the study; one row per (seed, profile, solver) with the ``eval_*`` columns on actual values.

    ``settings`` (with ``changes``) holds limits, seed, options and back-end (``SweepSettings``);
    ``time_limit_s`` limits every solve here.
    """
    from offload_opt.solvers import get_solver

    settings = SweepSettings.of(settings, **changes)
    check_seeds(seeds)
    solvers = list(solvers) if solvers else [default_heuristic()]
    for name in solvers:
        get_solver(name)
    for p in profiles:
        if p not in PLANNER_PROFILES:
            raise ValueError(
                f"--profiles: unknown planner profile {p!r} (known: {', '.join(PLANNER_PROFILES)})"
            )
    if REFERENCE_PROFILE not in profiles:
        profiles = [REFERENCE_PROFILE, *profiles]
    jobs = planner_jobs(
        scenario,
        list(range(first_seed, first_seed + seeds)),
        solvers,
        profiles,
        settings,
        overrides,
    )
    return run_sweep(
        jobs,
        output,
        settings,
        desc="planner-study",
        tag_columns=TAG_COLUMNS,
    )
