"""Planners from data: imported plans files, the oracle's knowledge, and the sourced error profiles."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest
import yaml

from offload_opt.catalogue import PlannerProfile, load_catalogue
from offload_opt.cli import main
from offload_opt.generator import (
    PLANNER_PROFILES,
    generate,
    predicted_difficulty,
    predicted_tokens,
    realised_tokens,
)
from offload_opt.instance import Instance
from offload_opt.plans import format_plans, import_plans, parse_plans, place_plans, plans_of, read_plans

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "instances" / "plans" / "example.jsonl"
EXAMPLE_INSTANCE = ROOT / "instances" / "plans" / "example.json"
# the command recorded in docs/model.md and README that made EXAMPLE_INSTANCE
EXAMPLE_COMMAND = ["import-plans", str(EXAMPLE), "--scenario", "default", "--seed", "0"]


def _ops(inst: Instance):
    """(task id, op name, prediction holder) for every op of every task, in a fixed order."""
    for t in inst.tasks:
        yield t.id, "whole", t.whole
        if t.decomposition is not None:
            for s in t.decomposition.subtasks:
                yield t.id, s.id, s
            yield t.id, "agg", t.decomposition.aggregation


# ---- the plans file: round trip ------------------------------------------------------------------


def test_example_import_round_trips_tasks_and_predictions():
    """import -> instance JSON -> reload -> plans records: the same tasks, predictions and actual values."""
    records = [json.loads(line) for line in EXAMPLE.read_text().splitlines() if line.strip()]
    inst = Instance.from_dict(json.loads(import_plans(EXAMPLE, "default", seed=0).to_json()))
    back = plans_of(inst)
    assert [r["id"] for r in back] == [r["id"] for r in records]
    for rec, out in zip(records, back, strict=True):
        for key, value in rec.items():  # every field written in the file comes back unchanged
            if key == "subtasks":
                for s_in, s_out in zip(value, out["subtasks"], strict=True):
                    assert {k: s_out[k] for k in s_in} == s_in
            else:
                assert out[key] == value, (rec["id"], key)
    # and the records written back import to the identical instance
    again = place_plans(parse_plans(format_plans(back)), "default", seed=0, name=inst.name)
    first = import_plans(EXAMPLE, "default", seed=0)
    assert again.tasks == first.tasks
    assert again.replace(meta=first.meta).to_json() == first.to_json()  # only the provenance differs


def test_shipped_example_instance_is_what_the_recorded_command_makes(tmp_path, capsys):
    out = tmp_path / "example.json"
    assert main([*EXAMPLE_COMMAND, "-o", str(out)]) == 0
    assert out.read_text() == EXAMPLE_INSTANCE.read_text()
    assert "8 tasks" in capsys.readouterr().out


def test_placement_uses_the_generated_network_and_the_file_where_given():
    inst = import_plans(EXAMPLE, "default", seed=3)
    net = generate("default", seed=3)
    assert inst.users == net.users and inst.aps == net.aps and inst.links == net.links
    by_id = {t.id: t for t in inst.tasks}
    assert by_id["q3"].user == "u3" and by_id["q3"].release_s == 0.25  # from the file
    assert by_id["q7"].deadline_s == 30.0
    assert by_id["q1"].user == "u0" and by_id["q2"].user == "u1"  # task k on user k mod n
    assert all(0 <= t.release_s <= net.meta["scenario"]["release_window_s"] for t in inst.tasks)
    # the same file, scenario and seed give the same instance; another seed draws other releases
    assert import_plans(EXAMPLE, "default", seed=3).to_json() == inst.to_json()
    assert (
        by_id["q1"].release_s
        != {t.id: t for t in import_plans(EXAMPLE, "default", seed=4).tasks}["q1"].release_s
    )
    assert inst.meta["plans"]["texts"]["q8"] == "What is 15% of 240?"
    # contention is recomputed for the placed tasks' traffic; under saturation it does not depend on tasks
    sat = import_plans(EXAMPLE, "default", seed=3, contention="saturation")
    assert sat.channels == generate("default", seed=3, contention="saturation").channels


# ---- bad plans files -----------------------------------------------------------------------------

GOOD = {"prompt_tokens": 50, "whole": {"difficulty": 2.0, "output_tokens": 100}}
DEC = {
    **GOOD,
    "subtasks": [
        {"id": "a", "difficulty": 1.5, "input_tokens": 20, "output_tokens": 40},
        {"id": "b", "difficulty": 1.5, "input_tokens": 20, "output_tokens": 40, "depends_on": ["a"]},
    ],
    "aggregation": {"difficulty": 1.2, "input_tokens": 20, "output_tokens": 30},
}


def _with(base: dict, **changes) -> str:
    return json.dumps({**base, **changes})


BAD_FILES = [
    # a dependency cycle a -> b -> a
    (
        [
            json.dumps(GOOD),
            _with(
                DEC,
                subtasks=[
                    {**DEC["subtasks"][0], "depends_on": ["b"]},
                    DEC["subtasks"][1],
                ],
            ),
        ],
        "line 2: subtasks: dependency cycle",
    ),
    # an unknown dependency
    (
        [_with(DEC, subtasks=[DEC["subtasks"][0], {**DEC["subtasks"][1], "depends_on": ["zz"]}])],
        "line 1: subtasks[1].depends_on[0]: unknown dependency",
    ),
    # a missing field
    (
        [json.dumps(GOOD), json.dumps({"whole": GOOD["whole"]})],
        "line 2: prompt_tokens: missing required field",
    ),
    ([_with(GOOD, whole={"difficulty": 2.0})], "line 1: whole.output_tokens: missing required field"),
    ([_with(DEC, aggregation=None)], "line 1: aggregation: missing required field"),
    # negative tokens
    ([_with(GOOD, prompt_tokens=-4)], "line 1: prompt_tokens: must be an integer"),
    (
        [_with(DEC, subtasks=[{**DEC["subtasks"][0], "output_tokens": -1}, DEC["subtasks"][1]])],
        "line 1: subtasks[0].output_tokens: must be an integer",
    ),
    (
        [_with(GOOD, whole={"difficulty": 2.0, "output_tokens": 9, "actual": {"output_tokens": -2}})],
        "whole.actual",
    ),
    # bad JSON on line 3
    ([json.dumps(GOOD), json.dumps(GOOD), '{"prompt_tokens": 5,'], "line 3: <line>: bad JSON"),
    # a difficulty off the MATH scale, an unknown field (typo), a duplicate id, an aggregation without subtasks
    (
        [_with(GOOD, whole={"difficulty": 7, "output_tokens": 9})],
        "line 1: whole.difficulty: must be a number in [1, 5]",
    ),
    ([_with(GOOD, promt_tokens=5)], "line 1: promt_tokens: unknown field"),
    ([_with(GOOD, id="x"), _with(GOOD, id="x")], "line 2: id: duplicate task id"),
    ([_with(GOOD, aggregation=DEC["aggregation"])], "line 1: aggregation: given without subtasks"),
    # a user the network does not have
    ([_with(GOOD, user="u99")], "line 1: user: unknown user 'u99'"),
    # no task at all
    (["", "  "], "no tasks"),
]


@pytest.mark.parametrize(("lines", "expected"), BAD_FILES)
def test_bad_plans_file_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, lines, expected):
    plans = tmp_path / "plans.jsonl"
    plans.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.json"
    assert main(["import-plans", str(plans), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert expected in err, err
    assert not out.exists()


# ---- the oracle knows the expected lengths, not the realised ones ------------------------------


def _catalogue_with(tmp_path: Path, **realised: float):
    """A copy of models/ whose planners.yaml has the given realised_output_tokens figures."""
    d = tmp_path / "models"
    shutil.copytree(ROOT / "models", d)
    data = yaml.safe_load((d / "planners.yaml").read_text())
    for key, value in realised.items():
        data["realised_output_tokens"][key]["value"] = value
    (d / "planners.yaml").write_text(yaml.safe_dump(data))
    return load_catalogue(d)


def test_oracle_predicts_the_expected_values_not_the_realised_ones(tmp_path):
    # with no per-sample spread the realised length IS the expected one, and nothing else changes
    exact = _catalogue_with(tmp_path, sigma_log=0.0)
    differ = total = 0
    for seed in range(5):
        oracle = generate("default", seed=seed, planner="oracle")
        expected = generate("default", seed=seed, planner="oracle", catalogue=exact)
        for (_, _, op), (_, _, ex) in zip(_ops(oracle), _ops(expected), strict=True):
            assert op.output_tokens == ex.actual.output_tokens == ex.output_tokens  # oracle = expected
            assert op.difficulty == op.actual.difficulty  # a problem's difficulty is knowable
            differ += op.actual.output_tokens != op.output_tokens
            total += 1
    assert differ > 0.9 * total  # the realised length is a sample, not the expectation


def test_same_world_under_every_profile():
    """Profiles differ only in predictions: actual values and the network are identical."""
    worlds = {p: generate("default", seed=7, planner=p) for p in PLANNER_PROFILES}
    ref = [(t, o, op.actual) for t, o, op in _ops(worlds["oracle"])]
    for p, inst in worlds.items():
        assert [(t, o, op.actual) for t, o, op in _ops(inst)] == ref, p
        assert inst.aps == worlds["oracle"].aps and inst.users == worlds["oracle"].users
    teacher = [op.output_tokens for _, _, op in _ops(worlds["teacher"])]
    assert teacher != [op.output_tokens for _, _, op in _ops(worlds["oracle"])]


def test_realised_lengths_have_the_catalogued_spread_around_the_expected_ones(tmp_path):
    """log(realised / expected) ~ N(-s^2/2, s^2) with s = planners.yaml realised_output_tokens.sigma_log."""
    sigma = load_catalogue().output_length_spread.realised_sigma_log
    exact = _catalogue_with(tmp_path, sigma_log=0.0)
    logs = []
    for seed in range(30):
        real = generate("default", seed=seed, planner="oracle")
        ex = generate("default", seed=seed, planner="oracle", catalogue=exact)
        for (_, _, op), (_, _, e) in zip(_ops(real), _ops(ex), strict=True):
            if e.output_tokens >= 50:  # rounding to whole tokens is small here (within the + 0.01 below)
                logs.append(math.log(op.actual.output_tokens / e.output_tokens))
    x = np.array(logs)
    n = len(x)
    assert n > 1000
    assert abs(x.mean() - (-(sigma**2) / 2)) < 5 * sigma / math.sqrt(n)
    assert abs(x.std(ddof=1) - sigma) < 5 * sigma / math.sqrt(2 * (n - 1)) + 0.01  # + rounding of tokens


# ---- the profiles' errors have the catalogued bias and spread -------------------------------------


def _t4_quantile(p: float) -> float:
    """Closed-form quantile of Student's t with 4 degrees of freedom."""
    a = 4 * p * (1 - p)
    q = math.cos(math.acos(math.sqrt(a)) / 3) / math.sqrt(a)
    return math.copysign(2 * math.sqrt(q - 1), p - 0.5)


def _t4_pdf(x: float) -> float:
    return 3 / 8 * (1 + x * x / 4) ** -2.5


def _quartile_model(sd: float, tail_df: float | None) -> tuple[float, float]:
    """(upper-quartile offset, density there) of the unit-variance error law scaled to ``sd``."""
    if tail_df is None:
        q = NormalDist().inv_cdf(0.75)
        return sd * q, NormalDist().pdf(q) / sd
    assert tail_df == 4, "the closed-form quantile below is for 4 degrees of freedom"
    scale = sd * math.sqrt((tail_df - 2) / tail_df)
    q = _t4_quantile(0.75)
    return scale * q, _t4_pdf(q) / scale


def _check_law(err: np.ndarray, bias: float, sd: float, tail_df: float | None, clamped: bool = False) -> None:
    """Median = bias and half the interquartile range = the law's, within 5 standard errors (n draws)."""
    n = len(err)
    q_off, dens = _quartile_model(sd, tail_df)
    se_quartile = math.sqrt(0.75 * 0.25 / n) / dens
    se_median = math.sqrt(0.25 / n) / _median_density(sd, tail_df)
    q25, q50, q75 = np.quantile(err, [0.25, 0.5, 0.75])
    assert abs(q50 - bias) < 5 * se_median, (q50, bias)
    assert abs((q75 - q25) / 2 - q_off) < 5 * se_quartile, ((q75 - q25) / 2, q_off)
    if tail_df is None and not clamped:  # unclamped normal errors: the standard deviation itself
        assert abs(err.std(ddof=1) - sd) < 5 * sd / math.sqrt(2 * (n - 1))


def _median_density(sd: float, tail_df: float | None) -> float:
    if tail_df is None:
        return NormalDist().pdf(0) / sd
    return _t4_pdf(0) / (sd * math.sqrt((tail_df - 2) / tail_df))


@pytest.mark.parametrize("name", [p for p in PLANNER_PROFILES if p != "oracle"])
def test_profile_errors_have_the_catalogued_bias_and_spread(name):
    prof = load_catalogue().planners[name]
    rng = np.random.default_rng(12345)
    n = 20_000
    true = 3.0  # mid-scale: the clamp to [1, 5] does not touch the quartiles
    diff_err = np.array([predicted_difficulty(true, prof, rng) - true for _ in range(n)])
    _check_law(
        diff_err,
        prof.difficulty_bias_levels,
        prof.difficulty_sd_levels,
        prof.difficulty_tail_df,
        clamped=True,
    )
    expected = 1_000_000  # large, so rounding to whole tokens does not matter
    tok_err = np.log([predicted_tokens(expected, prof, rng) / expected for _ in range(n)])
    _check_law(tok_err, prof.token_bias_log, prof.token_sigma_log, prof.token_tail_df)


def test_a_biased_profile_is_biased():
    """The bias terms act (the catalogued profiles have none that is citable, so check on a made-up one)."""
    prof = PlannerProfile("biased", 0.5, 0.3, None, -0.2, 0.1, None)
    rng = np.random.default_rng(1)
    n = 5000
    d = np.array([predicted_difficulty(3.0, prof, rng) - 3.0 for _ in range(n)])
    t = np.log([predicted_tokens(10**6, prof, rng) / 10**6 for _ in range(n)])
    _check_law(d, 0.5, 0.3, None, clamped=True)
    _check_law(t, -0.2, 0.1, None)


def test_oracle_profile_returns_its_input_and_draws_nothing():
    prof = load_catalogue().planners["oracle"]
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert predicted_difficulty(2.3456, prof, rng) == 2.3456
    assert predicted_tokens(321, prof, rng) == 321
    assert realised_tokens(321, 0.0, rng) == 321
    assert rng.bit_generator.state == state


def test_catalogue_has_every_generator_profile():
    assert set(load_catalogue().planners) == set(PLANNER_PROFILES)


def test_read_plans_reads_the_example():
    tasks = read_plans(EXAMPLE)
    assert len(tasks) == 8 and sum(t.decomposition is not None for t in tasks) == 5


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--seed", "-1"], "seed: must be an integer in [0"),  # a seed out of range
        (["--seed", "x"], "--seed"),  # not a number
    ],
)
def test_bad_import_plans_options_exit_2(tmp_path, capsys, argv, expected):
    out = tmp_path / "out.json"
    assert main(["import-plans", str(EXAMPLE), *argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err
    assert not out.exists()


def test_import_plans_without_output_prints_the_instance(capsys):
    assert main([*EXAMPLE_COMMAND]) == 0
    assert capsys.readouterr().out == EXAMPLE_INSTANCE.read_text()
