"""The models/ catalogue: LLMs, hardware, speeds, quality fit, WiFi constants and planner error profiles.

The YAML files in ``models/`` carry a source and a confidence grade next to
every figure (see models/README.md); this module reads them into small frozen
records and drops the provenance. Files are read lazily, on the first call,
and cached per directory.

Lookup order for the directory: the ``directory`` argument, then the
``OFFLOAD_OPT_MODELS`` environment variable, then ``models/`` beside the
package (a source checkout or editable install), then ``offload_opt/_models``
(package data of a regular install).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ENV_VAR = "OFFLOAD_OPT_MODELS"
_PROVENANCE = ("source", "confidence", "note")


@dataclass(frozen=True)
class LLMSpec:
    """An LLM: size, memory footprint per quantisation (GB) and IRT ability theta."""

    id: str
    family: str
    params_b: float
    theta: float
    memory_gb: dict[str, float]
    kv_bytes_per_token: float = 0.0  # 2 (K, V) x layers x kv_heads x head_dim x 2 bytes (fp16); 0: unknown


@dataclass(frozen=True)
class HardwareSpec:
    """A device or server an LLM can run on."""

    id: str
    kind: str
    memory_gb: float
    mem_bandwidth_gbps: float
    batch_slope: float | None = None  # edge GPUs: per-stream slowdown per extra stream (hardware.yaml)
    batching_sweep: dict[int, float] | None = None  # concurrency -> measured aggregate output tokens/s


@dataclass(frozen=True)
class SpeedProfile:
    """Batch-1 speed of one model on one hardware (see physics.llm.compute_time_s)."""

    hardware: str
    model: str
    prefill_tps: float
    decode_tps: float
    setup_s: float
    source: str
    quantisation: str = "bf16"
    confidence: str = ""


@dataclass(frozen=True)
class QualityFit:
    """Item side of the IRT fit (slope ``a``, difficulty of MATH levels 1..5) and the decomposition fit.

    ``work_levels``: reasoning work of MATH levels 1..5 and ``decomposition_uplift``: share of the error
    exponent decomposition removes (rule ``work-share`` of physics.quality); empty / 0 when a
    catalogue does not give them.
    """

    a: float
    b_levels: tuple[float, ...]
    work_levels: tuple[float, ...] = ()
    decomposition_uplift: float = 0.0


@dataclass(frozen=True)
class PlannerProfile:
    """How a planner's predictions err (models/planners.yaml).

    Difficulty: ``clamp(true + difficulty_bias_levels + difficulty_sd_levels * e, 1, 5)``; output tokens:
    ``expected * exp(token_bias_log + token_sigma_log * e)``; ``e`` is a standard normal, or a Student-t of
    ``*_tail_df`` degrees of freedom scaled to unit variance when that is not None (heavy tails).
    """

    name: str
    difficulty_bias_levels: float = 0.0
    difficulty_sd_levels: float = 0.0
    difficulty_tail_df: float | None = None
    token_bias_log: float = 0.0
    token_sigma_log: float = 0.0
    token_tail_df: float | None = None


@dataclass(frozen=True)
class OutputLengthSpread:
    """Log-normal spreads of output lengths: per sampled answer around the expected length, and across problems."""

    realised_sigma_log: float
    expected_sigma_log: float


@dataclass(frozen=True)
class Catalogue:
    """Everything in models/, provenance stripped. Treat the dicts as read-only."""

    models: dict[str, LLMSpec]
    hardware: dict[str, HardwareSpec]
    speeds: dict[tuple[str, str], SpeedProfile]
    quality: QualityFit
    wifi: dict
    planners: dict[str, PlannerProfile] = field(default_factory=dict)
    output_length_spread: OutputLengthSpread | None = None

    def speed(self, hardware: str, model: str) -> SpeedProfile:
        """The speed profile of ``model`` on ``hardware``; ValueError if it does not run there."""
        try:
            return self.speeds[(hardware, model)]
        except KeyError:
            if hardware not in self.hardware:
                raise ValueError(f"hardware: unknown hardware {hardware!r} (models/hardware.yaml)") from None
            if model not in self.models:
                raise ValueError(f"model: unknown model {model!r} (models/llms.yaml)") from None
            raise ValueError(
                f"model: {model!r} has no speed profile on {hardware!r} (runs there: {', '.join(self.models_on(hardware))})"
            ) from None

    def models_on(self, hardware: str) -> list[str]:
        """Models with a speed profile on ``hardware``, smallest first."""
        names = [m for (hw, m) in self.speeds if hw == hardware]
        return sorted(names, key=lambda m: (self.models[m].params_b, m))


def default_directory() -> Path:
    """Where the catalogue is read from when no directory is given."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    beside = Path(__file__).resolve().parent.parent / "models"
    if (beside / "llms.yaml").is_file():
        return beside
    packaged = Path(__file__).resolve().parent / "_models"
    if (packaged / "llms.yaml").is_file():
        return packaged
    raise FileNotFoundError(
        f"models catalogue not found (looked in {beside} and {packaged}); set {ENV_VAR} to the models/ directory"
    )


def strip_provenance(node: Any) -> Any:
    """Resolve ``{value: x, source: ..}`` wrappers to ``x`` and drop source/confidence/note keys."""
    if isinstance(node, dict):
        if "value" in node:
            return strip_provenance(node["value"])
        return {
            k: strip_provenance(v)
            for k, v in node.items()
            if k not in _PROVENANCE and not str(k).startswith("_")
        }
    if isinstance(node, list):
        return [strip_provenance(v) for v in node]
    return node


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load, except that a key repeated in one mapping is an error (not 'last one wins')."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float | bool | None):
                continue  # an unhashable key: the base constructor reports it
            if key in seen:
                raise ValueError(
                    f"{self.name}: key {key!r} appears twice in one mapping (line {key_node.start_mark.line + 1})"
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read(directory: Path, name: str) -> dict:
    path = directory / name
    try:
        with path.open(encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except FileNotFoundError:
        raise FileNotFoundError(f"models catalogue: missing {path}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


@functools.cache
def _default_for(env_value: str | None) -> Path:
    # Keyed on the environment variable so that changing it is still honoured.
    return default_directory().resolve()


def _resolve(directory: str | Path | None) -> Path:
    if directory is None:
        return _default_for(os.environ.get(ENV_VAR))
    return Path(directory).resolve()


def load_wifi(directory: str | Path | None = None) -> dict:
    """models/wifi.yaml with provenance stripped (cached per directory)."""
    return _load_wifi(_resolve(directory))


@functools.cache
def _load_wifi(directory: Path) -> dict:
    return strip_provenance(_read(directory, "wifi.yaml"))


KV_BYTES_PER_VALUE = 2  # fp16 / bf16 KV cache


def _kv_bytes_per_token(arch: dict | None) -> float:
    """KV cache per token of context: 2 (K and V) x layers x kv_heads x head_dim x 2 bytes; 0 if not given."""
    if arch is None:
        return 0.0
    return float(2 * int(arch["layers"]) * int(arch["kv_heads"]) * int(arch["head_dim"]) * KV_BYTES_PER_VALUE)


def load_catalogue(directory: str | Path | None = None) -> Catalogue:
    """Read the catalogue in ``directory`` (default: see module docstring); cached per directory."""
    return _load_catalogue(_resolve(directory))


@functools.cache
def _load_catalogue(directory: Path) -> Catalogue:
    llms = strip_provenance(_read(directory, "llms.yaml"))["models"]
    models = {
        mid: LLMSpec(
            id=mid,
            family=str(m["family"]),
            params_b=float(m["params_b"]),
            theta=float(m["theta"]),
            memory_gb={str(q): float(gb) for q, gb in m["memory_gb"].items()},
            kv_bytes_per_token=_kv_bytes_per_token(m.get("kv_cache")),
        )
        for mid, m in llms.items()
    }
    hw_data = strip_provenance(_read(directory, "hardware.yaml"))["hardware"]
    hardware = {
        hid: HardwareSpec(
            id=hid,
            kind=str(h["kind"]),
            memory_gb=float(h["memory_gb"]),
            mem_bandwidth_gbps=float(h["mem_bandwidth_gbps"]),
            batch_slope=float(h["batch_slope"]) if "batch_slope" in h else None,
            batching_sweep=(
                {
                    int(c): float(v)
                    for c, v in zip(
                        h["batching_sweep"]["concurrency"], h["batching_sweep"]["out_tps_total"], strict=True
                    )
                }
                if "batching_sweep" in h
                else None
            ),
        )
        for hid, h in hw_data.items()
    }
    # profiles keep their source strings: read them before stripping provenance
    speeds: dict[tuple[str, str], SpeedProfile] = {}
    for p in _read(directory, "speeds.yaml")["profiles"]:
        key = (str(p["hardware"]), str(p["model"]))
        if key in speeds:
            raise ValueError(f"speeds.yaml: duplicate profile for {key}")
        if key[0] not in hardware:
            raise ValueError(f"speeds.yaml: unknown hardware {key[0]!r} in profile {key}")
        if key[1] not in models:
            raise ValueError(f"speeds.yaml: unknown model {key[1]!r} in profile {key}")
        speeds[key] = SpeedProfile(
            hardware=key[0],
            model=key[1],
            prefill_tps=float(p["prefill_tps"]),
            decode_tps=float(p["decode_tps"]),
            setup_s=float(p["setup_s"]),
            source=str(p["source"]),
            quantisation=str(p["quantisation"]),
            confidence=str(p.get("confidence", "")),
        )
    quality_data = strip_provenance(_read(directory, "quality.yaml"))
    irt = quality_data["irt"]
    dec = quality_data.get("decomposition", {})
    quality = QualityFit(
        a=float(irt["a"]),
        b_levels=tuple(float(b) for b in irt["b_levels"]),
        work_levels=tuple(float(w) for w in dec.get("work_levels", ())),
        decomposition_uplift=float(dec.get("uplift", 0.0)),
    )
    planners, spread = _planners(strip_provenance(_read(directory, "planners.yaml")))
    return Catalogue(
        models=models,
        hardware=hardware,
        speeds=speeds,
        quality=quality,
        wifi=_load_wifi(directory),
        planners=planners,
        output_length_spread=spread,
    )


def _planners(data: dict) -> tuple[dict[str, PlannerProfile], OutputLengthSpread]:
    """models/planners.yaml (provenance stripped) as profiles; ValueError names a bad figure."""

    def number(path: str, value: Any, lo: float = 0.0, allow_negative: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise ValueError(f"planners.yaml: {path}: expected a number, got {value!r}")
        if not allow_negative and value < lo:
            raise ValueError(f"planners.yaml: {path}: must be >= {lo:g}, got {value!r}")
        return float(value)

    def df(path: str, value: Any) -> float | None:
        if value is None:
            return None
        out = number(path, value)
        if out <= 2:  # the unit-variance scaling needs a finite variance
            raise ValueError(f"planners.yaml: {path}: tail_df must be > 2, got {value!r}")
        return out

    profiles: dict[str, PlannerProfile] = {}
    for name, p in data["profiles"].items():
        d, t = p.get("difficulty_error", {}), p.get("token_error", {})
        profiles[str(name)] = PlannerProfile(
            name=str(name),
            difficulty_bias_levels=number(
                f"{name}.difficulty_error.bias_levels", d.get("bias_levels", 0.0), allow_negative=True
            ),
            difficulty_sd_levels=number(f"{name}.difficulty_error.sd_levels", d.get("sd_levels", 0.0)),
            difficulty_tail_df=df(f"{name}.difficulty_error.tail_df", d.get("tail_df")),
            token_bias_log=number(
                f"{name}.token_error.bias_log", t.get("bias_log", 0.0), allow_negative=True
            ),
            token_sigma_log=number(f"{name}.token_error.sigma_log", t.get("sigma_log", 0.0)),
            token_tail_df=df(f"{name}.token_error.tail_df", t.get("tail_df")),
        )
    r = data["realised_output_tokens"]
    spread = OutputLengthSpread(
        realised_sigma_log=number("realised_output_tokens.sigma_log", r["sigma_log"]),
        expected_sigma_log=number("realised_output_tokens.expected_sigma_log", r["expected_sigma_log"]),
    )
    return profiles, spread
