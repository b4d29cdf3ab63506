"""The models/ catalogue: provenance of every figure, internal consistency, loader behaviour."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from offload_opt.catalogue import ENV_VAR, Catalogue, load_catalogue, strip_provenance

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
YAML_FILES = ["llms.yaml", "hardware.yaml", "speeds.yaml", "quality.yaml", "wifi.yaml", "planners.yaml"]

MODEL_IDS = {
    "qwen2.5-0.5b",
    "qwen2.5-1.5b",
    "qwen2.5-3b",
    "qwen2.5-7b",
    "qwen2.5-14b",
    "qwen2.5-32b",
    "qwen2.5-72b",
    "llama-3.1-8b",
    "llama-3.1-70b",
}
HARDWARE_KINDS = {
    "phone-sd8elite": "phone",
    "phone-sd8gen3": "phone",
    "laptop-m1": "laptop",
    "laptop-m3max": "laptop",
    "jetson-orin-nano": "jetson",
    "jetson-agx-orin": "jetson",
    "edge-l4": "edge_gpu",
    "edge-rtx4090": "edge_gpu",
    "edge-a100-80gb": "edge_gpu",
}
# ../shared/reference/parameters.yaml accuracy.irt_model (theta keyed by our ids, a, b_levels)
IRT_THETA = {
    "qwen2.5-0.5b": -0.37,
    "qwen2.5-1.5b": 0.51,
    "qwen2.5-3b": 0.97,
    "qwen2.5-7b": 1.43,
    "qwen2.5-14b": 1.67,
    "qwen2.5-32b": 1.86,
    "qwen2.5-72b": 1.86,
    "llama-3.1-8b": 0.38,
    "llama-3.1-70b": 1.07,
}
IRT_A = 1.275
IRT_B = (-1.194, -0.824, -0.092, 0.654, 1.457)
GRADE = re.compile(r"^[ABCD]\b")


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    """The repository catalogue."""
    return load_catalogue(MODELS_DIR)


@pytest.fixture(scope="module")
def raw() -> dict[str, dict]:
    """The YAML files as written, provenance included."""
    return {name: yaml.safe_load((MODELS_DIR / name).read_text(encoding="utf-8")) for name in YAML_FILES}


def _numeric_leaves(node, path=(), has_source=False, has_grade=False):
    """Yield (path, has_source, has_grade) for every number, with provenance inherited from enclosing mappings."""
    if isinstance(node, dict):
        has_source = has_source or "source" in node
        has_grade = has_grade or "confidence" in node
        for key, value in node.items():
            yield from _numeric_leaves(value, (*path, key), has_source, has_grade)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _numeric_leaves(value, (*path, i), has_source, has_grade)
    elif isinstance(node, int | float) and not isinstance(node, bool):
        yield path, has_source, has_grade


def _mappings(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _mappings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _mappings(value)


# ---- provenance ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", YAML_FILES)
def test_every_number_has_source_and_grade(raw, name):
    leaves = list(_numeric_leaves(raw[name]))
    assert leaves, f"{name} has no numbers?"
    missing = [".".join(map(str, p)) for p, src, grade in leaves if not (src and grade)]
    assert not missing, f"{name}: numbers without source/confidence: {missing}"


@pytest.mark.parametrize("name", YAML_FILES)
def test_sources_and_grades_are_meaningful(raw, name):
    for node in _mappings(raw[name]):
        if "source" in node:
            assert isinstance(node["source"], str) and len(node["source"]) >= 10, node
        if "confidence" in node:
            assert GRADE.match(str(node["confidence"])), node["confidence"]


def test_computed_figures_state_their_formula(raw):
    # a "computed" source must say from what: a formula sign or a named calibration
    for name in YAML_FILES:
        for node in _mappings(raw[name]):
            src = node.get("source")
            if isinstance(src, str) and src.startswith("computed"):
                assert re.search(r"[=x/*]|calibration", src), (name, src)


# ---- content ------------------------------------------------------------------------------------


def test_ids_and_kinds(cat):
    assert set(cat.models) == MODEL_IDS
    assert {h: spec.kind for h, spec in cat.hardware.items()} == HARDWARE_KINDS


def test_irt_figures_match_reference(cat):
    assert {m: spec.theta for m, spec in cat.models.items()} == IRT_THETA
    assert cat.quality.a == IRT_A
    assert cat.quality.b_levels == IRT_B


def test_model_figures_are_sane(cat):
    for m in cat.models.values():
        assert m.params_b > 0
        assert set(m.memory_gb) == {"bf16", "int4"}
        assert 0 < m.memory_gb["int4"] < m.memory_gb["bf16"] < 2.2 * m.params_b, m.id


def test_llama_memory_follows_stated_rule(cat):
    # llms.yaml: params_b x (memory_gb / params_b) of the same-size Qwen2.5 model
    for llama, qwen in (("llama-3.1-8b", "qwen2.5-7b"), ("llama-3.1-70b", "qwen2.5-72b")):
        lm, qm = cat.models[llama], cat.models[qwen]
        for q in ("bf16", "int4"):
            assert lm.memory_gb[q] == pytest.approx(lm.params_b * qm.memory_gb[q] / qm.params_b, abs=0.01)


def test_wifi_resolved_values(cat):
    w = cat.wifi
    assert w["tx_power_dbm"] == {"sta": 16.02, "ap": 20.0}
    assert w["bytes_per_token"] == 4.0
    assert w["request_overhead_bytes"] == 300
    assert w["exchange_overhead_s"] == pytest.approx(189.5e-6)
    assert set(w["snr_min_db"]) == {20, 40, 80, 160}
    assert all(len(v) == 12 and v == sorted(v) for v in w["snr_min_db"].values())
    mac = w["mac"]
    # the exchange overhead is the sum of its stated parts
    expected_us = (
        mac["aifs_us"]
        + mac["cw_min"] / 2 * mac["slot_us"]
        + mac["he_su_preamble_us"]
        + mac["sifs_us"]
        + mac["block_ack_us"]
    )
    assert w["exchange_overhead_s"] == pytest.approx(expected_us * 1e-6)


# ---- speeds -------------------------------------------------------------------------------------


def test_speed_profiles_reference_known_entries_and_fit_in_memory(cat):
    assert cat.speeds
    for (hw, m), sp in cat.speeds.items():
        assert (sp.hardware, sp.model) == (hw, m)
        assert hw in cat.hardware and m in cat.models
        need = cat.models[m].memory_gb[sp.quantisation]
        assert need <= cat.hardware[hw].memory_gb, f"{m} ({sp.quantisation}, {need} GB) does not fit on {hw}"
        assert sp.prefill_tps > 0 and sp.decode_tps > 0 and sp.setup_s >= 0
        assert sp.prefill_tps > sp.decode_tps, (hw, m)  # prefill is batched over the prompt
        assert GRADE.match(sp.confidence) and sp.source


def test_every_hardware_runs_something(cat):
    for hw in cat.hardware:
        assert cat.models_on(hw), hw


def test_tiers(cat):
    # devices hold small models; edge GPUs the large ones (>= 7B)
    for hw, m in cat.speeds:
        kind, size = cat.hardware[hw].kind, cat.models[m].params_b
        if kind in ("phone", "laptop"):
            assert size <= 8.1, (hw, m)
        if kind == "edge_gpu":
            assert size >= 7.0, (hw, m)
    for hw in ("phone-sd8elite", "phone-sd8gen3", "laptop-m1", "laptop-m3max"):
        assert {"qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-3b"} <= set(cat.models_on(hw))
    assert "qwen2.5-72b" in cat.models_on("edge-a100-80gb")


def test_decode_slows_with_model_size(cat):
    # within one hardware and quantisation, more bytes per token never decode faster
    for hw in cat.hardware:
        for quant in ("bf16", "int4"):
            rows = sorted(
                (cat.models[m].memory_gb[quant], sp.decode_tps)
                for (h, m), sp in cat.speeds.items()
                if h == hw and sp.quantisation == quant
            )
            speeds = [tps for _, tps in rows]
            assert speeds == sorted(speeds, reverse=True), (hw, quant, rows)


def test_measured_anchors_kept_verbatim(cat):
    # ../shared/reference/parameters.yaml llm_inference.hardware_profiles
    assert cat.speed("edge-a100-80gb", "qwen2.5-7b").decode_tps == 84.3
    assert cat.speed("edge-a100-80gb", "qwen2.5-32b").decode_tps == 22.1
    assert cat.speed("edge-a100-80gb", "qwen2.5-72b").decode_tps == 16.5
    assert cat.speed("phone-sd8elite", "qwen2.5-1.5b").decode_tps == 23.5
    assert cat.speed("phone-sd8elite", "qwen2.5-7b").decode_tps == 15.4
    assert cat.speed("phone-sd8elite", "llama-3.1-8b").decode_tps == 13.1
    assert cat.speed("edge-rtx4090", "llama-3.1-8b").decode_tps == 130.6
    assert cat.speed("laptop-m1", "llama-3.1-8b").decode_tps == 10.2
    assert cat.speed("jetson-orin-nano", "qwen2.5-1.5b").decode_tps == 32.1


def _profile_rows(raw):
    return {(p["hardware"], p["model"]): p for p in raw["speeds.yaml"]["profiles"]}


def test_computed_profiles_follow_their_calibration(raw, cat):
    """Recompute every calibrated figure from the formula and inputs speeds.yaml states."""
    cal = raw["speeds.yaml"]["calibrations"]
    rows = _profile_rows(raw)
    checked = 0
    for (hw, m), p in rows.items():
        model, hardware = cat.models[m], cat.hardware[hw]
        if "decode_calibration" in p:
            c = cal["decode"][p["decode_calibration"]]
            if c["method"] == "bandwidth":
                t = c["t0_ms"] / 1e3 + model.memory_gb[p["quantisation"]] / (
                    c["eta_bw"] * hardware.mem_bandwidth_gbps
                )
                expected = 1.0 / t
            else:
                expected = c["factor"] * rows[(c["base_hardware"], m)]["decode_tps"]
            assert p["decode_tps"] == pytest.approx(expected, rel=0.01), (hw, m)
            checked += 1
        if "prefill_calibration" in p:
            c = cal["prefill"][p["prefill_calibration"]]
            if c["method"] == "anchor":
                expected = c["factor"] * c["anchor_tps"] * c["anchor_params_b"] / model.params_b
            else:
                expected = c["factor"] * rows[(c["base_hardware"], m)]["prefill_tps"]
            assert p["prefill_tps"] == pytest.approx(expected, rel=0.01), (hw, m)
            checked += 1
        if p["source"].startswith("computed"):
            assert "decode_calibration" in p or "prefill_calibration" in p, (hw, m)
    assert checked >= 40


def test_calibrations_reproduce_their_measured_points(raw, cat):
    dec = raw["speeds.yaml"]["calibrations"]["decode"]

    def tps(name, model_gb, hw):
        c = dec[name]
        return 1.0 / (c["t0_ms"] / 1e3 + model_gb / (c["eta_bw"] * cat.hardware[hw].mem_bandwidth_gbps))

    llama8 = cat.models["llama-3.1-8b"].memory_gb["int4"]
    assert tps("llamacpp-4090", llama8, "edge-rtx4090") == pytest.approx(130.58, rel=0.005)
    assert tps("llamacpp-m1", llama8, "laptop-m1") == pytest.approx(10.20, rel=0.005)
    assert tps("llamacpp-m3max", llama8, "laptop-m3max") == pytest.approx(48.97, rel=0.005)
    assert tps("llamacpp-orin-nano", 1.18, "jetson-orin-nano") == pytest.approx(32.1, rel=0.005)
    assert tps("a100-vllm-gptq-1gpu", 39.91, "edge-a100-80gb") == pytest.approx(16.5, rel=0.005)
    # the stated 70B cross-checks of t0 = 1 ms
    llama70 = cat.models["llama-3.1-70b"].memory_gb["int4"]
    assert tps("llamacpp-m3max", llama70, "laptop-m3max") == pytest.approx(7.65, rel=0.01)
    assert tps("llamacpp-agx-orin", 37.87, "jetson-agx-orin") == pytest.approx(3.0, rel=0.02)


def test_setup_matches_its_basis(raw):
    basis = raw["speeds.yaml"]["setup_basis"]
    for p in raw["speeds.yaml"]["profiles"]:
        assert p["setup_s"] == basis[p["setup_basis"]]["value"], (p["hardware"], p["model"])


# ---- Catalogue API ------------------------------------------------------------------------------


def test_models_on_is_smallest_first(cat):
    for hw in cat.hardware:
        sizes = [cat.models[m].params_b for m in cat.models_on(hw)]
        assert sizes == sorted(sizes)
    assert cat.models_on("no-such-hardware") == []


def test_speed_lookup_and_errors(cat):
    sp = cat.speed("edge-a100-80gb", "qwen2.5-7b")
    assert (sp.hardware, sp.model, sp.quantisation) == ("edge-a100-80gb", "qwen2.5-7b", "bf16")
    with pytest.raises(ValueError, match="no speed profile"):
        cat.speed("phone-sd8gen3", "qwen2.5-72b")
    with pytest.raises(ValueError, match="unknown hardware"):
        cat.speed("toaster", "qwen2.5-7b")
    with pytest.raises(ValueError, match="unknown model"):
        cat.speed("edge-l4", "gpt-5")


def test_load_catalogue_default_and_cache(cat):
    default = load_catalogue()
    assert default is load_catalogue()
    assert default == cat


def test_load_catalogue_from_directory_and_env(tmp_path, monkeypatch):
    copy = tmp_path / "models"
    shutil.copytree(MODELS_DIR, copy)
    data = yaml.safe_load((copy / "quality.yaml").read_text(encoding="utf-8"))
    data["irt"]["a"]["value"] = 2.0
    (copy / "quality.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    assert load_catalogue(copy).quality.a == 2.0
    assert load_catalogue(str(copy)).quality.a == 2.0
    monkeypatch.setenv(ENV_VAR, str(copy))
    assert load_catalogue().quality.a == 2.0
    monkeypatch.delenv(ENV_VAR)
    assert load_catalogue().quality.a == IRT_A


def test_load_catalogue_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="llms.yaml"):
        load_catalogue(tmp_path)


def test_duplicate_profile_rejected(tmp_path):
    copy = tmp_path / "models"
    shutil.copytree(MODELS_DIR, copy)
    data = yaml.safe_load((copy / "speeds.yaml").read_text(encoding="utf-8"))
    data["profiles"].append(dict(data["profiles"][0]))
    (copy / "speeds.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ValueError, match="duplicate"):
        load_catalogue(copy)


def test_strip_provenance():
    node = {
        "a": {"value": 1.0, "source": "s", "confidence": "A"},
        "b": [{"value": 2}],
        "_anchor": 3,
        "note": "n",
    }
    assert strip_provenance(node) == {"a": 1.0, "b": [2]}


def test_nothing_is_read_at_import(tmp_path):
    # importing the package and physics must not touch models/ (defaults are built lazily)
    env = dict(os.environ, **{ENV_VAR: str(tmp_path / "missing")})
    code = "import offload_opt.catalogue, offload_opt.physics.wifi, offload_opt.physics.quality, offload_opt.physics.llm"
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
