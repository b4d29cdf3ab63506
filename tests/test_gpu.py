"""Edge GPUs (docs/model.md "Edge serving"): memory fit, the batching rule, shared slots, v1 files."""

from __future__ import annotations

import copy
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from offload_opt.catalogue import load_catalogue
from offload_opt.costs import build_costs, server_resource
from offload_opt.evaluator import evaluate
from offload_opt.generator import SCENARIOS, generate
from offload_opt.instance import (
    AP,
    GPU,
    Backhaul,
    Channel,
    Instance,
    Link,
    ModelInfo,
    ModelServer,
    Objective,
    SpeedEntry,
    Task,
    User,
    WholeEstimate,
    gpu_memory_need_gb,
)
from offload_opt.physics.llm import compute_time_s, decode_token_time_s
from offload_opt.solvers.base import solve, solvers

from .conftest import decomposed_task, tiny_physics

ROOT = Path(__file__).resolve().parent.parent
V1_FILE = ROOT / "instances" / "bench" / "v1" / "S" / "S-01.json"


# ---- memory fit -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_memory_fit_on_100_seeds(scenario):
    """Every GPU of every generated AP holds its models' weights plus the KV cache of its B streams."""
    gpus = 0
    for seed in range(100):
        inst = generate(scenario, seed=seed)
        for a in inst.aps:
            assert a.gpus, "generated APs have GPUs"
            for g in a.gpus:
                weights, kv = gpu_memory_need_gb(inst, a, g)
                assert weights > 0 and kv > 0
                assert weights + kv <= g.memory_gb
                assert 1 <= g.slots <= SCENARIOS[scenario].slots
                gpus += 1
    assert gpus >= 100


def test_models_share_a_gpu_when_there_are_fewer_gpus():
    """gpus_per_ap=1: several models on one GPU, still within its memory, sharing its slots."""
    shared = 0
    for seed in range(20):
        inst = generate("default", seed=seed, gpus_per_ap=1)
        for a in inst.aps:
            assert len(a.gpus) == 1
            shared += len(a.servers) > 1
            w, kv = gpu_memory_need_gb(inst, a, a.gpus[0])
            assert w + kv <= a.gpus[0].memory_gb
    assert shared > 0


# ---- the batching rule ----------------------------------------------------------------------------


@pytest.mark.parametrize("hardware", ["edge-rtx4090", "edge-l4"])
def test_batching_rule_reproduces_the_reference_sweeps(hardware):
    """Aggregate throughput B / t(B) with the catalogue's batch_slope matches each measured point within 10 %.

    The sweep's batch-1 token time is the one free scale (the sweeps were measured on other models than
    the catalogue's profiles); it is fitted as the geometric mean over the points, so the test checks the
    shape the slope gives, which is what the model uses."""
    spec = load_catalogue().hardware[hardware]
    assert spec.batch_slope is not None and spec.batching_sweep
    sweep = spec.batching_sweep
    # t(1) implied by each point under the rule, then one common t(1)
    implied = [b / (tps * (1 + spec.batch_slope * (b - 1))) for b, tps in sweep.items()]
    t1 = math.exp(np.mean(np.log(implied)))
    for b, tps in sweep.items():
        predicted = b / decode_token_time_s(1.0 / t1, spec.batch_slope, b)
        assert predicted == pytest.approx(tps, rel=0.10), (hardware, b, predicted, tps)


def test_a100_slope_reproduces_the_gain_at_8_streams():
    """A100: the slope is solved from the 6.6x aggregate gain at C=8 (parameters.yaml batching)."""
    s = load_catalogue().hardware["edge-a100-80gb"].batch_slope
    assert s is not None
    t1 = decode_token_time_s(75.0, s, 1)
    assert (8 / decode_token_time_s(75.0, s, 8)) / (1 / t1) == pytest.approx(6.6, rel=0.01)


def test_decode_token_time_counts_at_most_b_minus_1_other_models():
    """Other models' weight reads: none at B=1, the heaviest B-1 of them at larger B."""
    assert decode_token_time_s(50.0, 0.03, 1, (10.0, 20.0), 100.0) == pytest.approx(1 / 50)
    assert decode_token_time_s(50.0, 0.03, 2, (10.0, 20.0), 100.0) == pytest.approx(1.03 / 50 + 0.2)
    assert decode_token_time_s(50.0, 0.03, 8, (10.0, 20.0), 100.0) == pytest.approx(1.21 / 50 + 0.3)


# ---- a hand-made GPU-sharing instance ------------------------------------------------------------


def sharing_instance(slots: int = 2, backlog_s: float = 0.25) -> Instance:
    """One AP whose single 24 GB GPU hosts 'big' (8 GB) and 'mid' (4 GB) with ``slots`` streams;
    two users with a 'small' local model; three tasks (one decomposable) released together."""
    gpu = GPU("g0", 24.0, 1000.0, slots, backlog_s, 0.03, 4096)
    ap = AP(
        "a0", (0.0, 10.0), 1, "srv", (ModelServer("big", gpu="g0"), ModelServer("mid", gpu="g0")), gpus=(gpu,)
    )
    us = tuple(User(f"u{i}", (float(i), 0.0), "dev", ("small",)) for i in range(2))
    tasks = (
        Task("t0", "u0", 0.0, 100, WholeEstimate(3.0, 50)),
        Task("t1", "u1", 0.0, 80, WholeEstimate(4.0, 60)),
        decomposed_task("t2", "u0", 0.1),
    )
    return Instance(
        name="gpu-sharing",
        objective=Objective("reward", 1.0, 0.1),
        physics=tiny_physics(),
        models=(
            ModelInfo("small", -0.37, 0.5, 12288.0),
            ModelInfo("big", 1.86, 32.0, 262144.0),
            ModelInfo("mid", 1.43, 7.6, 57344.0),
        ),
        speeds=(
            SpeedEntry("dev", "small", 100.0, 10.0, 0.0, 0.5),
            SpeedEntry("srv", "big", 1000.0, 100.0, 0.5, 8.0),
            SpeedEntry("srv", "mid", 2000.0, 200.0, 0.5, 4.0),
        ),
        channels=(Channel(1, 20, 2, 1.0),),
        users=us,
        aps=(ap,),
        backhaul=(Backhaul(0.01, 8.0),),
        links=tuple(Link(u.id, "a0", 5.0, 30.0, 7, 8.0) for u in us),
        tasks=tasks,
    )


def test_models_on_one_gpu_share_its_slots_and_are_timed_at_batch_b():
    """Both models' options name the same slots srv:a0:g0:k; the decode time is the batch-B rule."""
    inst = sharing_instance(slots=2)
    costs = build_costs(inst)
    whole = costs.tasks[0].modes[0].ops[0]
    edge = {o.model: o for o in whole.options if o.node == "ap:a0"}
    slots = (server_resource("a0", "g0", 0), server_resource("a0", "g0", 1))
    assert edge["big"].resources == edge["mid"].resources == slots
    assert edge["big"].ready_s == pytest.approx(0.25)
    # big: (1 + 0.03) / 100 s per token plus one weight read of mid (4 GB at 1000 GB/s); prefill at batch 1
    token_s = 1.03 / 100 + 4.0 / 1000.0
    assert edge["big"].duration_s == pytest.approx(0.5 + 100 / 1000 + 50 * token_s)
    assert edge["mid"].duration_s == pytest.approx(0.5 + 100 / 2000 + 50 * (1.03 / 200 + 8.0 / 1000.0))
    # with B = 1 nothing interleaves: the batch-1 formula of v1
    one = build_costs(sharing_instance(slots=1)).tasks[0].modes[0].ops[0]
    big1 = next(o for o in one.options if o.model == "big")
    assert big1.duration_s == pytest.approx(compute_time_s(100, 50, 1000.0, 100.0, 0.5))


EXACT = "mip"


# every registered solver of the wireless form (cpsat handles only the explicit form)
WIRELESS_SOLVERS = sorted(n for n, spec in solvers().items() if "wireless" in spec.forms)


def test_wireless_solvers_are_all_but_the_explicit_only_ones():
    assert set(solvers()) - set(WIRELESS_SOLVERS) == {n for n, s in solvers().items() if s.forms == ("explicit",)}
    assert {"greedy", "alns", "mip", "cg"} <= set(WIRELESS_SOLVERS)


@pytest.mark.parametrize("name", WIRELESS_SOLVERS)
def test_every_solver_on_a_gpu_sharing_instance(name):
    """Every registered solver of the wireless form returns a solution the evaluator accepts;
    the MIP proves optimality and its objective equals the evaluator's."""
    inst = sharing_instance()
    assert solvers()[name].supports(inst)
    options = {"mip": {"mip_gap": 0.0, "threads": 1}, "local-search": {"max_iters": 150}}.get(name, {})
    res = solve(inst, name, time_limit=60, seed=0, **options)
    assert res.status == "ok", (name, res.info)
    assert res.evaluation is not None and res.evaluation.feasible
    ev = evaluate(build_costs(inst), res.solution)
    assert ev.feasible and ev.objective == pytest.approx(res.objective, abs=1e-9)
    # ops on the GPU use its shared slots only
    for d in res.solution.decisions:
        for p in d.placements:
            if p.node == "ap:a0":
                assert 0 <= p.slot < 2
    if name == EXACT:
        assert res.termination == "optimal"
        assert res.claimed_objective == pytest.approx(ev.objective, abs=1e-6)


# ---- version-1 files ------------------------------------------------------------------------------


def test_v1_file_loads_keeps_its_digest_and_its_cost_tables():
    """A schema-1 file reads as v1 servers (own slots, batch-1 durations) and re-serialises byte for byte."""
    text = V1_FILE.read_text()
    inst = Instance.from_json(V1_FILE)
    assert inst.schema_version == 1
    assert inst.to_json() == text  # the same bytes, so the same digest
    assert all(not a.gpus for a in inst.aps)
    costs = build_costs(inst)
    checked = 0
    for t, task in zip(costs.tasks, inst.tasks, strict=True):
        op = t.modes[0].ops[0]
        for o in op.options:
            if not o.node.startswith("ap:"):
                continue
            ap = inst.ap_by_id[o.node.removeprefix("ap:")]
            srv = next(s for s in ap.servers if s.model == o.model)
            sp = inst.speed_of[(ap.hardware, o.model)]
            assert o.resources == tuple(server_resource(ap.id, o.model, k) for k in range(srv.slots))
            w_out = task.whole.output_tokens
            assert o.duration_s == compute_time_s(
                task.prompt_tokens, w_out, sp.prefill_tps, sp.decode_tps, sp.setup_s
            )
            assert o.ready_s == max(0.0, srv.queue_backlog_s - costs.time_origin_s)
            checked += 1
    assert checked > 0


# Fingerprints of the cost tables (predicted, actual) of v1 files, recorded with the code before the
# edge-GPU model (main at d7f9af9): every option's node, model, resources, duration, quality, ready time.
V1_COST_FINGERPRINTS = {
    "S/S-01.json": ("e12001ba5c6efaed", "db978230e553e646"),
    "M/M-01.json": ("721710f3cd9e35aa", "8b85355117983aeb"),
}


def _cost_fingerprint(inst: Instance, actual: bool) -> str:
    import hashlib

    h = hashlib.sha256()
    for t in build_costs(inst, actual=actual).tasks:
        for m in t.modes:
            for op in m.ops:
                for o in op.options:
                    key = (
                        t.id,
                        m.name,
                        op.name,
                        o.node,
                        o.model,
                        o.resources,
                        o.duration_s,
                        o.quality,
                        o.ready_s,
                    )
                    h.update(repr(key).encode())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(V1_COST_FINGERPRINTS))
def test_v1_cost_tables_are_those_of_the_code_before_gpus(name):
    """Bit for bit: a v1 file's cost tables equal those the pre-GPU code built."""
    inst = Instance.from_json(ROOT / "instances" / "bench" / "v1" / name)
    assert (_cost_fingerprint(inst, False), _cost_fingerprint(inst, True)) == V1_COST_FINGERPRINTS[name]


# ---- bad input: one line, exit 2 ------------------------------------------------------------------


def _gpu_file_data() -> dict:
    inst = generate("default", seed=0, gpus_per_ap=1)
    return json.loads(inst.to_json())


def _first_gpu_ap(data: dict) -> dict:
    return data["aps"][0]


def _over_memory(d):
    _first_gpu_ap(d)["gpus"][0]["slots"] = 1000


def _no_model(d):
    _first_gpu_ap(d)["gpus"].append({**_first_gpu_ap(d)["gpus"][0], "id": "g9"})


def _set_gpu(field, value):
    def f(d):
        _first_gpu_ap(d)["gpus"][0][field] = value

    return f


def _unknown_gpu(d):
    _first_gpu_ap(d)["servers"][0]["gpu"] = "nope"


def _gpu_named_like_model(d):
    ap = _first_gpu_ap(d)
    model = ap["servers"][0]["model"]
    ap["gpus"][0]["id"] = model
    for s in ap["servers"]:
        s["gpu"] = model


def _duplicate_gpu(d):
    ap = _first_gpu_ap(d)
    ap["gpus"].append(copy.deepcopy(ap["gpus"][0]))


def _own_slots(d):
    _first_gpu_ap(d)["servers"][0]["slots"] = 2


BAD = [
    (
        _over_memory,
        r"aps\[0\]\.gpus\[0\]\.memory_gb: hosted models need [\d.]+ GB \(weights [\d.]+ \+ KV cache [\d.]+ for 1000 streams of 4096 tokens\), the GPU has [\d.]+ GB",
    ),
    (_no_model, r"aps\[0\]\.gpus\[1\]: gpu 'g9' hosts no model"),
    (_set_gpu("memory_gb", 0), r"aps\[0\]\.gpus\[0\]\.memory_gb: must be > 0, got 0"),
    (_set_gpu("memory_gb", -80), r"aps\[0\]\.gpus\[0\]\.memory_gb: must be > 0, got -80"),
    (_set_gpu("mem_bandwidth_gbps", 0), r"aps\[0\]\.gpus\[0\]\.mem_bandwidth_gbps: must be > 0, got 0"),
    (_set_gpu("mem_bandwidth_gbps", -1.5), r"aps\[0\]\.gpus\[0\]\.mem_bandwidth_gbps: must be > 0"),
    (_unknown_gpu, r"aps\[0\]\.servers\[0\]\.gpu: unknown gpu 'nope'"),
    (_gpu_named_like_model, r"aps\[0\]\.gpus\[0\]\.id: .* is also a model id on this AP"),
    (_duplicate_gpu, r"aps\[0\]\.gpus\[1\]\.id: gpu 'g0' listed twice"),
    (_own_slots, r"aps\[0\]\.servers\[0\]\.slots: a server on gpu 'g0' uses the GPU's slots"),
]


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    BAD,
    ids=[m.__name__ if hasattr(m, "__name__") else str(i) for i, (m, _) in enumerate(BAD)],
)
def test_bad_gpu_input_is_one_line_exit_2(tmp_path, mutate, pattern):
    """`solve.py show FILE` on a bad GPU field: exit 2, one line naming the field and value, no traceback."""
    data = _gpu_file_data()
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "solve.py"), "show", str(path)], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert re.search(pattern, lines[0]), lines[0]


# ---- the continuous-batching replay ---------------------------------------------------------------


@pytest.mark.parametrize("which", ["hand-made", "generated"])
def test_batching_replay_equals_the_slot_timing_at_b1(which):
    """With one stream per GPU the continuous-batching replay and the slot abstraction coincide (1e-9 s)."""
    from offload_opt.sim.batching import replay_batched

    inst = (
        sharing_instance(slots=1)
        if which == "hand-made"
        else generate("default", seed=2, slots=1, tasks_per_user=3)
    )
    costs = build_costs(inst)
    res = solve(costs, "greedy")
    assert res.evaluation is not None and res.evaluation.feasible
    rep = replay_batched(inst, costs, res.solution, res.evaluation)
    assert len(rep.batched_latency_s) == len(inst.tasks)
    for t, lat in rep.batched_latency_s.items():
        assert lat == pytest.approx(rep.slot_latency_s[t], abs=1e-9)


def test_batching_replay_is_never_slower_than_the_slots_when_streams_are_alone():
    """B > 1 but tasks far apart: each stream runs alone, faster than at batch B, so the slot timing
    overstates every GPU task's latency and the replay's latency is the batch-1 one."""
    from offload_opt.sim.batching import replay_batched

    base = generate("small", seed=3, tasks_per_user=2)
    spaced = tuple(t.__class__(**{**t.__dict__, "release_s": 500.0 * k}) for k, t in enumerate(base.tasks))
    inst = base.replace(tasks=spaced)
    costs = build_costs(inst)
    res = solve(costs, "nearest-edge")
    rep = replay_batched(inst, costs, res.solution, res.evaluation)
    errs = rep.relative_errors()
    assert min(errs) >= -1e-12
    assert max(errs) > 0.01
