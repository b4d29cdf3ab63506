"""Instance validation, JSON round-trip, pickling, and one-line errors for bad input."""

from __future__ import annotations

import copy
import json
import math
import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offload_opt import InputError, Instance, generate
from offload_opt.cli import main
from offload_opt.instance import SCHEMA_VERSION

from .conftest import decomposed_task, tiny_instance


def test_json_round_trip_is_exact(tiny):
    again = Instance.from_dict(json.loads(tiny.to_json()))
    assert again == tiny
    assert again.to_json() == tiny.to_json()


def test_pickle_round_trip(tiny):
    assert pickle.loads(pickle.dumps(tiny)) == tiny


def test_replace_returns_new_validated_instance(tiny):
    other = tiny.replace(name="other")
    assert other.name == "other" and tiny.name == "tiny"
    with pytest.raises(InputError, match="tasks: the instance has no tasks"):
        tiny.replace(tasks=())


def test_instance_is_immutable(tiny):
    with pytest.raises(AttributeError):
        tiny.name = "x"  # type: ignore[misc]


def _dict() -> dict:
    return tiny_instance(tasks=(decomposed_task(),)).to_dict()


def _set(path: list, value):
    def mutate(d):
        cur = d
        for k in path[:-1]:
            cur = cur[k]
        if value is _DELETE:
            del cur[path[-1]]
        else:
            cur[path[-1]] = value
        return d

    return mutate


_DELETE = object()

BAD = [
    # (mutation, expected start of the error message)
    (
        _set(["tasks", 0, "prompt_tokens"], -5),
        "tasks[0].prompt_tokens: must be > 0, got -5",
    ),  # negative tokens
    (_set(["tasks", 0, "prompt_tokens"], 0), "tasks[0].prompt_tokens: must be > 0, got 0"),  # zero tokens
    (_set(["speeds", 0, "decode_tps"], 0), "speeds[0].decode_tps: must be > 0, got 0"),  # zero rate
    (_set(["speeds", 1, "prefill_tps"], -1.0), "speeds[1].prefill_tps: must be > 0"),  # negative rate
    (
        _set(["links", 0, "phy_rate_mbps"], float("nan")),
        "links[0].phy_rate_mbps: must be a finite number",
    ),  # NaN
    (
        _set(["users", 0, "position_m"], [-1.0, 2.0]),
        "users[0].position_m: x must be >= 0",
    ),  # negative position
    (
        _set(["aps", 0, "position_m"], [1.0, float("nan")]),
        "aps[0].position_m[1]: must be a finite",
    ),  # NaN position
    (
        _set(["tasks", 0, "whole", "difficulty"], 7.0),
        "tasks[0].whole.difficulty: must be in [1.0, 5.0], got 7.0",
    ),
    (
        _set(["tasks", 0, "decomposition", "subtasks", 0, "difficulty"], 0.2),
        "tasks[0].decomposition.subtasks[0].difficulty: composition 'product' needs a MATH level in [1, 5], got 0.2",
    ),  # below level 1: a share of a level-1 task's work, which only the work-share rule gives a meaning
    (
        _set(["tasks", 0, "decomposition", "subtasks", 0, "difficulty"], 5.5),
        "tasks[0].decomposition.subtasks[0].difficulty: must be in (0, 5]",
    ),  # subtask difficulty above the hardest level
    (
        _set(["tasks", 0, "decomposition", "subtasks", 0, "parents"], ["s1"]),
        "tasks[0].decomposition.subtasks: dependency cycle",
    ),  # s0 <- s1 <- s0
    (
        _set(["tasks", 0, "decomposition", "subtasks", 1, "parents"], ["s9"]),
        "tasks[0].decomposition.subtasks[1].parents[0]: unknown subtask 's9'",
    ),  # unknown parent
    (_set(["tasks", 0, "user"], "ghost"), "tasks[0].user: unknown user 'ghost'"),  # unknown id
    (_set(["links", 0, "ap"], "nowhere"), "links[0].ap: unknown ap 'nowhere'"),  # link to unknown AP
    (_set(["aps", 0, "channel"], 99), "aps[0].channel: unknown channel 99"),  # unknown channel
    (
        _set(["aps", 0, "servers", 0, "model"], "gpt-9"),
        "aps[0].servers[0].model: no speed entry",
    ),  # unhosted model
    (_set(["tasks", 0, "release_s"], _DELETE), "tasks[0].release_s: missing required field"),  # missing field
    (_set(["tasks", 0, "colour"], "red"), "tasks[0].colour: unknown field"),  # unknown field
    (
        _set(["schema_version"], SCHEMA_VERSION + 1),
        f"schema_version: {SCHEMA_VERSION + 1} is newer",
    ),  # too new
    (_set(["tasks", 0, "payload_kind"], "video"), "tasks[0].payload_kind: must be one of"),  # bad enum
    (_set(["aps", 0, "servers", 0, "slots"], 0), "aps[0].servers[0].slots: must be >= 1, got 0"),
    (_set(["tasks", 0, "prompt_tokens"], "many"), "tasks[0].prompt_tokens: expected an integer, got 'many'"),
]


@pytest.mark.parametrize(("mutate", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_instance_gives_one_line_naming_field(mutate, message):
    data = mutate(copy.deepcopy(_dict()))
    with pytest.raises(InputError) as err:
        Instance.from_dict(data)
    text = str(err.value)
    assert text.startswith(message), text
    assert "\n" not in text


def test_unreachable_user_without_local_model_is_rejected():
    data = _dict()
    data["users"][0]["local_models"] = []
    data["links"] = []
    with pytest.raises(InputError, match=r"tasks\[0\].user: user 'u0' has no local model and reaches no AP"):
        Instance.from_dict(data)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),  # empty file
        ("{not json", "malformed JSON at line 1"),  # malformed JSON
        ("[1, 2]", "<root>: expected a JSON object"),  # wrong top-level type
    ],
)
def test_cli_bad_files_exit_2_with_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert main(["show", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


@pytest.mark.parametrize(("mutate", "message"), BAD[:6], ids=[m for _, m in BAD[:6]])
def test_cli_bad_instance_exit_2(tmp_path, capsys, mutate, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(mutate(copy.deepcopy(_dict()))))
    assert main(["show", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_cli_missing_file(capsys, tmp_path):
    assert main(["show", str(tmp_path / "nope.json")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_topcuoglu_example_loads():
    inst = Instance.from_json("instances/classic/topcuoglu2002.json")
    assert inst.is_explicit and inst.objective.kind == "makespan"
    job = inst.explicit.jobs[0]
    assert len(job.ops) == 10 and len(job.edges) == 15
    assert inst.explicit.processors == ("P1", "P2", "P3")
    assert job.ops[0].durations == (14.0, 16.0, 9.0)


# ---- generator --------------------------------------------------------------------------------


def test_generator_is_deterministic_and_seed_sensitive():
    a = generate("default", seed=7, users=6, aps=2)
    b = generate("default", seed=7, users=6, aps=2)
    c = generate("default", seed=8, users=6, aps=2)
    assert a.to_json() == b.to_json()
    assert a.to_json() != c.to_json()


def test_generator_planner_profiles_share_the_truth():
    """Same seed: the oracle, teacher and distilled instances differ only in predictions."""
    insts = {
        p: generate("default", seed=3, users=5, aps=2, planner=p) for p in ("oracle", "teacher", "distilled")
    }
    truth = {
        p: [(t.whole.actual, t.decomposition.aggregation.actual) for t in i.tasks] for p, i in insts.items()
    }
    assert truth["oracle"] == truth["teacher"] == truth["distilled"]
    oracle = insts["oracle"]
    assert all(t.whole.difficulty == t.whole.actual.difficulty for t in oracle.tasks)
    assert any(t.whole.difficulty != t.whole.actual.difficulty for t in insts["distilled"].tasks)


def test_generated_instance_round_trips_and_has_sources_of_speed():
    inst = generate("default", seed=1)
    assert Instance.from_dict(json.loads(inst.to_json())) == inst
    assert len(inst.users) == 12 and len(inst.aps) == 3
    for ln in inst.links:
        assert 0 <= ln.mcs <= 11 and ln.phy_rate_mbps > 0


@st.composite
def random_instances(draw):
    seed = draw(st.integers(0, 10_000))
    return generate(
        "default",
        seed=seed,
        users=draw(st.integers(1, 6)),
        aps=draw(st.integers(1, 4)),
        area_m=draw(st.floats(5.0, 80.0)),
        max_subtasks=draw(st.integers(1, 4)),
        min_subtasks=1,
        dependency_density=draw(st.floats(0.0, 1.0)),
        channel_plan=draw(st.sampled_from(["separate", "co-channel"])),
        bandwidth_mhz=draw(st.sampled_from([20, 40, 80])),
        planner=draw(st.sampled_from(["oracle", "teacher", "distilled"])),
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_instances())
def test_property_round_trip_exact(inst):
    text = inst.to_json()
    again = Instance.from_dict(json.loads(text))
    assert again == inst and again.to_json() == text
    assert pickle.loads(pickle.dumps(inst)) == inst


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_property_validation_never_crashes(data):
    """Random damage to a valid instance is either accepted or rejected with an InputError."""
    d = _dict()
    # pick a random location in the tree and overwrite it with random JSON
    paths = []

    def walk(node, path):
        paths.append(path)
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, [*path, k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, [*path, i])

    walk(d, [])
    path = data.draw(st.sampled_from(paths[1:]))
    value = data.draw(json_values)
    _set(path, value)(d)
    try:
        inst = Instance.from_dict(d)
    except InputError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(inst, Instance)
        for ln in inst.links:
            assert math.isfinite(ln.phy_rate_mbps)
