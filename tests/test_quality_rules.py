"""Quality of a decomposed task: the composition rules (docs/model.md "Quality of a decomposed task").

``work-share`` conserves the work (one model, no uplift: decomposed = whole), its uplift reproduces the
Plan-and-Solve figures it was fitted to, the generator splits the whole task's work across the ops, and
schema-1 files keep the ``product`` rule with the same cost tables.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from offload_opt import build_costs, generate
from offload_opt._serde import InputError
from offload_opt.catalogue import load_catalogue
from offload_opt.cli import main
from offload_opt.instance import (
    Aggregation,
    Decomposition,
    Instance,
    ModelInfo,
    Subtask,
    Task,
    WholeEstimate,
)
from offload_opt.physics.quality import (
    difficulty_of_work,
    difficulty_to_b,
    p_correct,
    uplift_from_accuracies,
    work_of_difficulty,
    work_share_quality,
)
from tests.conftest import tiny_instance

ROOT = Path(__file__).resolve().parent.parent
CAT = load_catalogue()
WORK = CAT.quality.work_levels
# Plan-and-Solve (arXiv 2305.04091), text-davinci-003, Zero-shot-CoT -> PS+ (models/quality.yaml)
PS_AVERAGE = (0.704, 0.767)  # average of six arithmetic sets: the figure the uplift is fitted to
PS_GSM8K = (0.564, 0.593)  # one set, not used in the fit


def _work_share_instance(tasks: tuple[Task, ...], uplift: float = 0.0, theta_big: float = 1.86) -> Instance:
    """The tiny network of conftest under the work-share rule (catalogue work levels)."""
    inst = tiny_instance()
    physics = dataclasses.replace(
        inst.physics, composition="work-share", work_levels=WORK, decomposition_uplift=uplift
    )
    models = (ModelInfo("small", -0.37, 0.5), ModelInfo("big", theta_big, 72.0))
    return inst.replace(physics=physics, models=models, tasks=tasks)


def _split_task(level: float, shares: list[float]) -> Task:
    """A task of ``level`` whose subtasks (shares[:-1]) and aggregation step (shares[-1]) carry those work shares."""
    total = work_of_difficulty(level, WORK)
    diffs = [difficulty_of_work(s * total, WORK) for s in shares]
    subs = tuple(Subtask(f"s{i}", d, 20, 30, ("s0",) if i == 2 else ()) for i, d in enumerate(diffs[:-1]))
    return Task(
        "t0",
        "u0",
        0.0,
        100,
        WholeEstimate(level, 90),
        decomposition=Decomposition(subs, Aggregation(diffs[-1], 20, 30)),
    )


def _same_model_qualities(inst: Instance, model: str) -> tuple[float, float]:
    """(whole-task quality, decomposed quality) with ``model`` on every op, as the cost tables give them."""
    costs = build_costs(inst)
    task = costs.tasks[0]
    out = []
    for mode in task.modes:
        options = [next(o for o in op.options if o.model == model) for op in mode.ops]
        out.append(costs.task_quality(mode, options))
    whole, decomposed = out
    return whole, decomposed


# -- the physics functions ------------------------------------------------------------------------


def test_work_of_difficulty_goes_through_the_levels_and_zero():
    assert [work_of_difficulty(float(d), WORK) for d in (1, 2, 3, 4, 5)] == list(WORK)
    assert work_of_difficulty(0.5, WORK) == pytest.approx(WORK[0] / 2)
    assert work_of_difficulty(2.5, WORK) == pytest.approx((WORK[1] + WORK[2]) / 2)


@given(st.floats(min_value=1e-3, max_value=5.0))
def test_difficulty_of_work_inverts_work_of_difficulty(d):
    assert difficulty_of_work(work_of_difficulty(d, WORK), WORK) == pytest.approx(d, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: work_of_difficulty(0.0, WORK), "difficulty: must be in (0, 5]"),  # no work is no op
        (lambda: work_of_difficulty(5.1, WORK), "difficulty: must be in (0, 5]"),  # beyond the hardest level
        (lambda: difficulty_of_work(-1.0, WORK), "work: must be in (0, 816.0]"),  # negative work
        (
            lambda: work_of_difficulty(2.0, (300.0, 200.0)),
            "work_levels[1]: must be finite and above",
        ),  # not rising
        (
            lambda: work_share_quality(0.5, 0.3, 1.0),
            "decomposition_uplift: must be in [0, 1)",
        ),  # uplift too big
        (lambda: work_share_quality(0.5, -0.1, 0.0), "work_share: must be finite and >= 0"),  # negative share
    ],
)
def test_physics_rejects_bad_arguments(call, message):
    with pytest.raises(ValueError, match=None) as err:
        call()
    assert str(err.value).startswith(message), str(err.value)


# -- conservation: one model, no uplift, decomposed = whole ---------------------------------------


@given(
    level=st.floats(min_value=1.0, max_value=5.0),
    weights=st.lists(st.floats(min_value=0.01, max_value=1.0), min_size=2, max_size=6),
    model=st.sampled_from(["small", "big"]),
)
def test_one_model_no_uplift_decomposed_equals_whole(level, weights, model):
    """Any level, any split into 1..5 subtasks plus the aggregation step: quality is conserved to 1e-9."""
    shares = [w / sum(weights) for w in weights]
    inst = _work_share_instance((_split_task(level, shares),), uplift=0.0)
    whole, decomposed = _same_model_qualities(inst, model)
    assert 0.0 < whole < 1.0
    assert decomposed == pytest.approx(whole, abs=1e-9, rel=0.0)


def test_splitting_more_work_than_the_task_has_costs_quality():
    """Shares summing to more than 1 (a planner that over-splits) lower the quality: the rule counts work."""
    inst = _work_share_instance((_split_task(3.0, [0.5, 0.5, 0.5]),))
    whole, decomposed = _same_model_qualities(inst, "big")
    assert decomposed == pytest.approx(whole**1.5, rel=1e-12)


def test_weak_subtasks_and_strong_aggregator_mix_the_two_models():
    """A weak model on the subtasks and a strong one on the aggregation step: each contributes its share."""
    shares = [0.4, 0.4, 0.2]
    inst = _work_share_instance((_split_task(4.0, shares),))
    costs = build_costs(inst)
    mode = costs.tasks[0].modes[1]
    picks = [
        next(o for o in op.options if o.model == ("big" if op.is_aggregation else "small")) for op in mode.ops
    ]
    q_small = p_correct(-0.37, 4.0, 1.275, inst.physics.quality_b_levels)
    q_big = p_correct(1.86, 4.0, 1.275, inst.physics.quality_b_levels)
    assert costs.task_quality(mode, picks) == pytest.approx(q_small**0.8 * q_big**0.2, rel=1e-9)


# -- the uplift reproduces the cited figures ------------------------------------------------------


def _theta_for(quality: float, level: float) -> float:
    """Ability whose whole-task quality at ``level`` is ``quality`` (inverse of the IRT sigmoid)."""
    a, b = CAT.quality.a, difficulty_to_b(level, CAT.quality.b_levels)
    return b + math.log(quality / (1.0 - quality)) / a


def test_uplift_is_fitted_to_plan_and_solve_average():
    assert CAT.quality.decomposition_uplift == pytest.approx(uplift_from_accuracies(*PS_AVERAGE), abs=1e-4)
    assert 0.0 < CAT.quality.decomposition_uplift < 1.0


@pytest.mark.parametrize("shares", [[0.5, 0.5], [0.3, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4]])
def test_uplift_reproduces_plan_and_solve_through_the_cost_tables(shares):
    """A model at 70.4 % on the whole task reaches 76.7 % decomposed (PS+ vs Zero-shot-CoT), however split."""
    level = 3.0
    inst = _work_share_instance(
        (_split_task(level, shares),),
        uplift=CAT.quality.decomposition_uplift,
        theta_big=_theta_for(PS_AVERAGE[0], level),
    )
    whole, decomposed = _same_model_qualities(inst, "big")
    assert whole == pytest.approx(PS_AVERAGE[0], abs=1e-9)
    assert decomposed == pytest.approx(PS_AVERAGE[1], abs=5e-4)


def test_catalogue_validation_figures_are_what_the_fit_predicts():
    """models/quality.yaml states the fit's prediction beside each cited pair; the code reproduces both."""
    import yaml

    data = yaml.safe_load((ROOT / "models" / "quality.yaml").read_text())["decomposition"]["validation"]
    u = CAT.quality.decomposition_uplift
    for key, (q_whole, q_dec) in {"arithmetic_average": PS_AVERAGE, "gsm8k": PS_GSM8K}.items():
        row = data[key]
        assert (row["zero_shot_cot"], row["ps_plus"]) == (q_whole, q_dec)
        assert work_share_quality(q_whole, 1.0, u) == pytest.approx(row["predicted_by_fit"], abs=5e-4)
    assert uplift_from_accuracies(*PS_GSM8K) == pytest.approx(0.0876, abs=1e-4)  # the note's per-set figure


# -- the generator splits the work ----------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generator_splits_the_whole_tasks_work_and_tokens(seed):
    inst = generate(seed=seed, planner="oracle")
    ph = inst.physics
    assert (ph.composition, ph.work_levels) == ("work-share", WORK)
    assert ph.decomposition_uplift == CAT.quality.decomposition_uplift
    for t in inst.tasks:
        dec = t.decomposition
        assert dec is not None
        ops = [*dec.subtasks, dec.aggregation]
        total = work_of_difficulty(t.whole.actual.difficulty, WORK)
        parts = sum(work_of_difficulty(op.actual.difficulty, WORK) for op in ops)
        # difficulties are rounded to 4 decimals in the file: a relative error below 1e-3
        assert parts == pytest.approx(total, rel=1e-3)
        # the expected output tokens are split (the oracle predicts the expected values; realised
        # lengths are drawn per op around them, docs/model.md "Planners and imported plans")
        out = sum(op.output_tokens for op in ops)
        assert abs(out - t.whole.output_tokens) <= 8 * len(ops)  # rounding and the 8-token floor
        # the oracle planner predicts the truth
        assert [op.difficulty for op in ops] == [op.actual.difficulty for op in ops]


def test_generated_decomposition_with_one_model_keeps_the_whole_quality_up_to_the_uplift():
    """On generated (actual) values, one model everywhere: decomposed = whole ** (1 - uplift), up to rounding."""
    inst = generate(seed=4, planner="oracle")
    u = inst.physics.decomposition_uplift
    costs = build_costs(inst, actual=True)
    for task in costs.tasks:
        whole_mode, dec_mode = task.modes
        model = whole_mode.ops[0].options[0].model
        q_whole = costs.task_quality(whole_mode, [whole_mode.ops[0].options[0]])
        picks = [next(o for o in op.options if o.model == model) for op in dec_mode.ops]
        assert costs.task_quality(dec_mode, picks) == pytest.approx(q_whole ** (1.0 - u), rel=2e-3)


# -- schema-1 files keep the product rule ---------------------------------------------------------


V1_FILE = ROOT / "instances" / "bench" / "v1" / "S" / "S-01.json"


def test_v1_file_keeps_the_product_rule_and_its_bytes():
    text = V1_FILE.read_text()
    inst = Instance.from_json(V1_FILE)
    assert inst.schema_version == 1
    ph = inst.physics
    assert (ph.composition, ph.work_levels, ph.decomposition_uplift) == ("product", None, 0.0)
    assert "composition" not in json.loads(inst.to_json())["physics"]  # defaults stay out of the file
    assert json.loads(inst.to_json()) == json.loads(text)


def test_v1_file_cost_tables_rate_each_op_at_its_own_difficulty():
    """Same cost tables as before the rule existed: every op's quality is p_correct at its own difficulty."""
    inst = Instance.from_json(V1_FILE)
    ph = inst.physics
    costs = build_costs(inst)
    checked = 0
    for task, tc in zip(inst.tasks, costs.tasks, strict=True):
        dec = task.decomposition
        assert dec is not None
        diffs = {"whole": task.whole.difficulty, "agg": dec.aggregation.difficulty}
        diffs.update({s.id: s.difficulty for s in dec.subtasks})
        for mode in tc.modes:
            for op in mode.ops:
                for o in op.options:
                    theta = inst.model_by_id[o.model].theta
                    assert o.quality == p_correct(theta, diffs[op.name], ph.quality_a, ph.quality_b_levels)
                    checked += 1
            # and the task's quality is the plain product of the chosen options
            picks = [op.options[0] for op in mode.ops]
            assert costs.task_quality(mode, picks) == pytest.approx(
                float(np.prod([o.quality for o in picks])), rel=1e-12
            )
    assert checked > 0


# -- bad input ------------------------------------------------------------------------------------


def _generated_dict() -> dict:
    return json.loads(generate(seed=0, users=2, aps=1).to_json())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "composition",
            "sum",
            "physics.composition: unknown rule 'sum' (one of product, work-share)",
        ),  # no such rule
        (
            "decomposition_uplift",
            1.0,
            "physics.decomposition_uplift: must be in [0, 1), got 1",
        ),  # all error removed
        (
            "decomposition_uplift",
            -0.1,
            "physics.decomposition_uplift: must be in [0, 1), got -0.1",
        ),  # a penalty
        (
            "work_levels",
            [243.3, 200.0, 459.4, 506.5, 816.0],
            "physics.work_levels[1]: must be above the level below",
        ),
        ("work_levels", [1.0, 2.0], "physics.work_levels: expected 5 MATH levels, got 2"),  # wrong count
        ("work_levels", None, "physics.work_levels: required by composition 'work-share'"),  # rule needs them
    ],
)
def test_bad_composition_settings_give_one_line_and_exit_2(tmp_path, capsys, field, value, message):
    data = _generated_dict()
    data["physics"][field] = value
    with pytest.raises(InputError) as err:
        Instance.from_dict(data)
    assert str(err.value).startswith(message), str(err.value)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    out = tmp_path / "sol.json"
    assert main(["solve", str(path), "--solver", "greedy", "-o", str(out)]) == 2
    err_text = capsys.readouterr().err.strip()
    assert err_text.count("\n") == 0 and message in err_text, err_text
    assert not out.exists()


def test_product_rule_has_no_uplift():
    data = _generated_dict()
    data["physics"].update(composition="product", work_levels=None, decomposition_uplift=0.2)
    with pytest.raises(InputError, match=r"^physics\.decomposition_uplift: the product rule has no uplift"):
        Instance.from_dict(data)
