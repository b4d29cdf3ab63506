"""The instance: validated, immutable problem data (see docs/model.md).

Every type checks its own fields on construction; ``Instance`` checks the
cross-references (a task naming an unknown user, a model no catalogue entry
runs) once, at the top. ``replace()`` returns a new, re-validated instance.
An instance is self-contained: the speeds, abilities and physics settings it
was generated with travel inside it, so a file keeps its meaning when the
catalogue in ``models/`` is revised.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from offload_opt._serde import (
    SINCE_V2,
    InputError,
    canonical_json,
    check_finite_range,
    check_id,
    check_json_value,
    check_key_id,
    check_max,
    check_nonneg,
    check_positive,
    check_range,
    check_unique,
    decode,
    encode,
    fmt_value,
)

SCHEMA_VERSION = 2  # 2: GPUs, composition rules, channel load, planner data (docs/model.md "Schema versions")
DIFFICULTY_MIN, DIFFICULTY_MAX = 1.0, 5.0
# Composition rules of a decomposed task's quality (physics.quality; docs/model.md "Quality of a
# decomposed task"): "product" each op at its own difficulty (schema 1), "work-share" each op a share
# of the whole task's reasoning work.
COMPOSITION_RULES = ("product", "work-share")

# Documented ranges (docs/model.md, "Numeric ranges and the time frame"). They keep every sum the
# evaluator and the solvers form finite and exact to far below a microsecond: times are computed
# relative to the earliest release, so absolute (e.g. Unix) release times are fine, but what
# happens after that release must fit in a bounded horizon.
MAX_RELEASE_S = 1e10  # absolute release times up to ~year 2286 in Unix seconds
MAX_RELEASE_SPAN_S = 1e6  # all releases (and server backlogs) within 11.6 days of the earliest release
MAX_DURATION_S = 1e6  # any given duration: setup, latency, overhead, deadline, explicit costs
MAX_TOKENS = 10_000_000  # tokens of one prompt / input / output (10x the longest context windows)
MAX_BYTES = 10**11  # payload or overhead bytes of one flow (100 GB)
MAX_SLOTS = 1024  # concurrent slots of one model server (each slot is a resource in every solver)
MAX_WEIGHT = 1e6  # objective weights
RATE_MIN, RATE_MAX = 1e-3, 1e9  # tokens/s and Mb/s: any rate outside is a unit error
MAC_EFFICIENCY_MIN = 1e-9
MAX_MEMORY_GB = 1e6  # GPU memory or model weights (a petabyte: any larger figure is a unit error)
MAX_BANDWIDTH_GBPS = 1e6  # GPU memory bandwidth (GB/s)
MAX_KV_BYTES_PER_TOKEN = 1e9  # KV cache per token of context (bytes)
MAX_BATCH_SLOPE = 100.0  # relative per-stream slowdown per extra stream (the fits are ~0.02-0.03)
PayloadKind = Literal["text", "image", "document"]


def _check_position(name: str, pos: tuple[float, float]) -> None:
    # Coordinates are metres from the corner of the area, so never negative; decode() rejects NaN.
    if len(pos) != 2:
        raise ValueError(f"{name}: expected [x, y] in metres, got {pos!r}")
    for axis, v in zip("xy", pos, strict=True):
        if not v >= 0:
            raise ValueError(f"{name}: {axis} must be >= 0 m (metres from the area's corner), got {v!r}")


def _check_difficulty(name: str, value: float) -> None:
    check_range(name, value, DIFFICULTY_MIN, DIFFICULTY_MAX)


def _check_op_difficulty(name: str, value: float) -> None:
    """A subtask's or aggregation step's difficulty: (0, 5]; below 1 it is a fraction of a level-1 task's work."""
    if not (isinstance(value, (int, float)) and 0.0 < value <= DIFFICULTY_MAX):
        raise ValueError(
            f"{name}: must be in (0, {DIFFICULTY_MAX:g}] (MATH level; below 1 a fraction of a level-1 task's work), "
            f"got {fmt_value(value)}"
        )


# ---- catalogue figures carried inside the instance -------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    """An LLM as the instance sees it: its IRT ability ``theta`` (models/llms.yaml).

    ``kv_bytes_per_token``: bytes of KV cache one token of context holds (K and V, all layers,
    fp16); what the memory check of a GPU needs. 0 (the version-1 default) means unknown, which
    only servers without a GPU may be.
    """

    id: str
    theta: float
    params_b: float
    kv_bytes_per_token: float = field(default=0.0, metadata=SINCE_V2)

    def __post_init__(self) -> None:
        check_id("id", self.id)
        check_positive("params_b", self.params_b)
        check_nonneg("kv_bytes_per_token", self.kv_bytes_per_token)
        check_max("kv_bytes_per_token", self.kv_bytes_per_token, MAX_KV_BYTES_PER_TOKEN)


@dataclass(frozen=True)
class SpeedEntry:
    """Speed of one model on one hardware profile (models/speeds.yaml).

    ``weights_gb``: GPU memory the model takes at this profile's precision (weights and runtime
    overhead, models/llms.yaml ``memory_gb``); read by the memory check and by the decode-time
    rule of models sharing a GPU. 0 (the version-1 default) means unknown.
    """

    hardware: str
    model: str
    prefill_tps: float
    decode_tps: float
    setup_s: float
    weights_gb: float = field(default=0.0, metadata=SINCE_V2)

    def __post_init__(self) -> None:
        check_positive("prefill_tps", self.prefill_tps)
        check_finite_range("prefill_tps", self.prefill_tps, RATE_MIN, RATE_MAX)
        check_positive("decode_tps", self.decode_tps)
        check_finite_range("decode_tps", self.decode_tps, RATE_MIN, RATE_MAX)
        check_nonneg("setup_s", self.setup_s)
        check_max("setup_s", self.setup_s, MAX_DURATION_S)
        check_nonneg("weights_gb", self.weights_gb)
        check_max("weights_gb", self.weights_gb, MAX_MEMORY_GB)


@dataclass(frozen=True)
class PhysicsSettings:
    """Constants of the physics layer used to turn the instance into cost tables."""

    bytes_per_token: float
    request_overhead_bytes: float
    airtime_overhead_s: float
    quality_a: float
    quality_b_levels: tuple[float, float, float, float, float]
    # How a decomposed task's quality composes (COMPOSITION_RULES; docs/model.md
    # "Quality of a decomposed task"). The defaults are schema 1's rule: each op at its own difficulty.
    composition: str = field(default="product", metadata=SINCE_V2)
    # rule "work-share": reasoning work of MATH levels 1..5 (models/quality.yaml decomposition.work_levels)
    work_levels: tuple[float, ...] | None = field(default=None, metadata=SINCE_V2)
    # rule "work-share": share of the error exponent decomposition removes, in [0, 1)
    decomposition_uplift: float = field(default=0.0, metadata=SINCE_V2)

    def __post_init__(self) -> None:
        check_positive("bytes_per_token", self.bytes_per_token)
        check_finite_range("bytes_per_token", self.bytes_per_token, RATE_MIN, 1e6)
        check_nonneg("request_overhead_bytes", self.request_overhead_bytes)
        check_max("request_overhead_bytes", self.request_overhead_bytes, MAX_BYTES)
        check_nonneg("airtime_overhead_s", self.airtime_overhead_s)
        check_max("airtime_overhead_s", self.airtime_overhead_s, MAX_DURATION_S)
        check_positive("quality_a", self.quality_a)
        if list(self.quality_b_levels) != sorted(self.quality_b_levels):
            raise ValueError(f"quality_b_levels: must be non-decreasing, got {list(self.quality_b_levels)}")
        if self.composition not in COMPOSITION_RULES:
            raise ValueError(
                f"composition: unknown rule {fmt_value(self.composition)} (one of {', '.join(COMPOSITION_RULES)})"
            )
        uplift = self.decomposition_uplift
        if not (isinstance(uplift, (int, float)) and 0.0 <= uplift < 1.0):
            raise ValueError(f"decomposition_uplift: must be in [0, 1), got {fmt_value(uplift)}")
        if self.composition == "product":
            if self.decomposition_uplift != 0.0:
                raise ValueError(
                    f"decomposition_uplift: the product rule has no uplift, got {fmt_value(self.decomposition_uplift)}"
                )
        elif self.work_levels is None:
            raise ValueError(f"work_levels: required by composition {fmt_value(self.composition)}")
        if self.work_levels is not None:
            if len(self.work_levels) != len(self.quality_b_levels):
                raise ValueError(
                    f"work_levels: expected {len(self.quality_b_levels)} MATH levels, got {len(self.work_levels)}"
                )
            prev = 0.0
            for i, w in enumerate(self.work_levels):
                if not w > prev:  # decode() rejects NaN and infinities
                    raise ValueError(
                        f"work_levels[{i}]: must be above the level below (0 below level 1), got {fmt_value(w)}"
                    )
                prev = w


# ---- network ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Channel:
    """A WiFi channel; all APs on it share one airtime (one radio per channel).

    ``mac_efficiency`` is the fraction of channel time carrying payload for the
    instance's own transfers (v1 files: Bianchi saturation; generated now: the
    offered-load rule, docs/model.md "WiFi under load"). ``background_utilisation``
    is the share of airtime other traffic takes, in [0, 1); a transfer's airtime is
    divided by ``1 - background_utilisation`` (physics.wifi.airtime_s). 0, the
    default, is the v1 meaning.

    ``busy_until_s``: the channel carries transfers committed earlier until this
    absolute time (the frame of the releases, like ``queue_backlog_s``); every
    transfer of the instance on it starts no earlier (docs/model.md "Timing
    rules"). The simulator sets it from the committed transfers. 0, the default,
    is the v1 meaning (free from the start).
    """

    id: int
    bandwidth_mhz: int
    n_stations: int
    mac_efficiency: float
    background_utilisation: float = field(default=0.0, metadata=SINCE_V2)
    busy_until_s: float = field(default=0.0, metadata=SINCE_V2)

    def __post_init__(self) -> None:
        if self.bandwidth_mhz not in (20, 40, 80, 160):
            raise ValueError(f"bandwidth_mhz: must be 20, 40, 80 or 160, got {self.bandwidth_mhz!r}")
        check_nonneg("n_stations", self.n_stations)
        if not 0 < self.mac_efficiency <= 1:
            raise ValueError(f"mac_efficiency: must be in (0, 1], got {self.mac_efficiency!r}")
        # Bianchi's efficiency falls as 1/stations (5e-4 with 5,000 on one channel); only a
        # denormal-small value would make an airtime infinite
        check_finite_range("mac_efficiency", self.mac_efficiency, MAC_EFFICIENCY_MIN, 1.0)
        rho = self.background_utilisation
        if isinstance(rho, bool) or not isinstance(rho, int | float) or not 0 <= rho < 1:
            raise ValueError(f"background_utilisation: must be in [0, 1), got {fmt_value(rho)}")
        busy = self.busy_until_s
        if isinstance(busy, bool) or not isinstance(busy, int | float):
            raise ValueError(f"busy_until_s: must be a number of seconds, got {fmt_value(busy)}")
        check_nonneg("busy_until_s", busy)
        check_max("busy_until_s", busy, MAX_RELEASE_S + MAX_RELEASE_SPAN_S)


@dataclass(frozen=True)
class User:
    """A device that sends tasks; it runs its ``local_models`` one op at a time."""

    id: str
    position_m: tuple[float, float]
    hardware: str
    local_models: tuple[str, ...] = ()
    nss: int = 1
    tx_power_dbm: float = 16.02

    def __post_init__(self) -> None:
        check_id("id", self.id)
        _check_position("position_m", self.position_m)
        if self.nss not in (1, 2, 3, 4):
            raise ValueError(f"nss: must be 1..4 spatial streams, got {self.nss!r}")


@dataclass(frozen=True)
class GPU:
    """One GPU of an AP's edge server, shared by every model server that names it (docs/model.md
    "Edge serving").

    ``slots`` is B, the GPU's concurrent decode streams, shared by ALL its hosted models: each
    is one unary resource ``srv:<ap>:<gpu>:<k>`` and every op on the GPU is timed at batch B
    (physics.llm.decode_token_time_s). ``queue_backlog_s``: each slot is busy with work already
    queued until then (an absolute time like the releases). ``batch_slope``: per-stream token
    time grows by this fraction of the batch-1 time per extra stream (the fits
    ``t(B) = t1 + k*B`` of the catalogue, slope = k / t(1)). ``stream_tokens``: context tokens
    the KV cache is sized for per stream (memory check).
    """

    id: str
    memory_gb: float
    mem_bandwidth_gbps: float
    slots: int = 1
    queue_backlog_s: float = 0.0
    batch_slope: float = 0.0
    stream_tokens: int = 4096

    def __post_init__(self) -> None:
        check_key_id("id", self.id)
        for name, top in (("memory_gb", MAX_MEMORY_GB), ("mem_bandwidth_gbps", MAX_BANDWIDTH_GBPS)):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"{name}: must be > 0, got {fmt_value(value)}")
            check_max(name, value, top)
        if self.slots < 1:
            raise ValueError(f"slots: must be >= 1, got {fmt_value(self.slots)}")
        check_max("slots", self.slots, MAX_SLOTS)
        check_nonneg("queue_backlog_s", self.queue_backlog_s)
        check_max("queue_backlog_s", self.queue_backlog_s, MAX_RELEASE_S + MAX_RELEASE_SPAN_S)
        check_nonneg("batch_slope", self.batch_slope)
        check_max("batch_slope", self.batch_slope, MAX_BATCH_SLOPE)
        check_positive("stream_tokens", self.stream_tokens)
        check_max("stream_tokens", self.stream_tokens, MAX_TOKENS)


@dataclass(frozen=True)
class ModelServer:
    """One model served at an AP's edge server.

    Without ``gpu`` (version 1): the server has its own ``slots`` concurrent requests and
    ``queue_backlog_s``. With ``gpu``: it runs on that GPU of the AP and shares the GPU's slots
    and backlog with the other models there; its own ``slots`` / ``queue_backlog_s`` then stay
    at their defaults.
    """

    model: str
    slots: int = 1
    queue_backlog_s: float = 0.0
    gpu: str | None = field(default=None, metadata=SINCE_V2)

    def __post_init__(self) -> None:
        if self.slots < 1:
            raise ValueError(f"slots: must be >= 1, got {fmt_value(self.slots)}")
        check_max("slots", self.slots, MAX_SLOTS)
        check_nonneg("queue_backlog_s", self.queue_backlog_s)
        check_max("queue_backlog_s", self.queue_backlog_s, MAX_RELEASE_S + MAX_RELEASE_SPAN_S)
        if self.gpu is not None:
            check_key_id("gpu", self.gpu)
            if self.slots != 1:
                raise ValueError(
                    f"slots: a server on gpu {self.gpu!r} uses the GPU's slots; leave slots at 1, "
                    f"got {fmt_value(self.slots)}"
                )
            if self.queue_backlog_s != 0.0:
                raise ValueError(
                    f"queue_backlog_s: a server on gpu {self.gpu!r} uses the GPU's backlog; leave it at 0, "
                    f"got {fmt_value(self.queue_backlog_s)}"
                )


@dataclass(frozen=True)
class SlotGroup:
    """Identical unary slots that a set of models share: a GPU, or (version 1) one model server."""

    id: str  # the GPU id, or the model id of a server without GPU
    slots: int
    queue_backlog_s: float
    models: tuple[str, ...]


@dataclass(frozen=True)
class AP:
    """An access point with its edge server (``gpus``: its GPUs; none = version-1 servers)."""

    id: str
    position_m: tuple[float, float]
    channel: int
    hardware: str
    servers: tuple[ModelServer, ...] = ()
    nss: int = 2
    tx_power_dbm: float = 20.0
    gpus: tuple[GPU, ...] = field(default=(), metadata=SINCE_V2)

    def __post_init__(self) -> None:
        check_id("id", self.id)
        _check_position("position_m", self.position_m)
        models = [s.model for s in self.servers]
        for i, m in enumerate(models):
            if m in models[:i]:
                raise ValueError(f"servers[{i}].model: model {m!r} listed twice")
        gpu_ids = [g.id for g in self.gpus]
        for i, gid in enumerate(gpu_ids):
            if gid in gpu_ids[:i]:
                raise ValueError(f"gpus[{i}].id: gpu {gid!r} listed twice")
            if gid in models:  # slot resources srv:<ap>:<gpu|model>:<k> must name one thing
                raise ValueError(f"gpus[{i}].id: {gid!r} is also a model id on this AP; rename the GPU")
        for j, srv in enumerate(self.servers):
            if self.gpus and srv.gpu is None:
                raise ValueError(
                    f"servers[{j}].gpu: the AP has gpus, so every server names one (model {srv.model!r})"
                )
            if srv.gpu is not None and srv.gpu not in gpu_ids:
                raise ValueError(f"servers[{j}].gpu: unknown gpu {srv.gpu!r} (gpus of this AP: {gpu_ids})")
        hosted = {s.gpu for s in self.servers}
        for i, g in enumerate(self.gpus):
            if g.id not in hosted:
                raise ValueError(f"gpus[{i}]: gpu {g.id!r} hosts no model")

    @cached_property  # the AP is frozen: built once, not on every call in the hot paths
    def slot_groups(self) -> tuple[SlotGroup, ...]:
        """The AP's groups of identical slots: one per GPU, or one per server without GPU (v1)."""
        if not self.gpus:
            return tuple(SlotGroup(s.model, s.slots, s.queue_backlog_s, (s.model,)) for s in self.servers)
        return tuple(
            SlotGroup(g.id, g.slots, g.queue_backlog_s, tuple(s.model for s in self.servers if s.gpu == g.id))
            for g in self.gpus
        )

    @cached_property
    def group_of_model(self) -> dict[str, SlotGroup]:
        """model id -> the slot group it runs in."""
        return {m: grp for grp in self.slot_groups for m in grp.models}

    @cached_property
    def gpu_by_id(self) -> dict[str, GPU]:
        return {g.id: g for g in self.gpus}


@dataclass(frozen=True)
class Backhaul:
    """Wired link between two APs (or the default for every pair)."""

    latency_s: float
    bandwidth_mbps: float
    ap_a: str | None = None
    ap_b: str | None = None

    def __post_init__(self) -> None:
        check_nonneg("latency_s", self.latency_s)
        check_max("latency_s", self.latency_s, MAX_DURATION_S)
        check_positive("bandwidth_mbps", self.bandwidth_mbps)
        check_finite_range("bandwidth_mbps", self.bandwidth_mbps, RATE_MIN, RATE_MAX)


@dataclass(frozen=True)
class Link:
    """The radio link between a user and an AP it can reach (derived by physics/wifi.py)."""

    user: str
    ap: str
    distance_m: float
    snr_db: float
    mcs: int
    phy_rate_mbps: float

    def __post_init__(self) -> None:
        check_nonneg("distance_m", self.distance_m)
        check_range("mcs", self.mcs, 0, 11)
        check_positive("phy_rate_mbps", self.phy_rate_mbps)
        check_finite_range("phy_rate_mbps", self.phy_rate_mbps, RATE_MIN, RATE_MAX)


# ---- tasks and the planner's predictions ------------------------------------------------------


@dataclass(frozen=True)
class Actual:
    """Realised values beside a prediction (used to evaluate decisions made on predictions)."""

    difficulty: float | None = None
    output_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.difficulty is not None:  # a whole task's is checked against [1, 5] by WholeEstimate
            _check_op_difficulty("difficulty", self.difficulty)
        if self.output_tokens is not None:
            check_nonneg("output_tokens", self.output_tokens)
            check_max("output_tokens", self.output_tokens, MAX_TOKENS)


@dataclass(frozen=True)
class WholeEstimate:
    """The planner's estimate for doing the task in one step."""

    difficulty: float
    output_tokens: int
    actual: Actual | None = None

    def __post_init__(self) -> None:
        _check_difficulty("difficulty", self.difficulty)
        check_positive("output_tokens", self.output_tokens)
        check_max("output_tokens", self.output_tokens, MAX_TOKENS)
        if self.actual is not None and self.actual.difficulty is not None:
            _check_difficulty("actual.difficulty", self.actual.difficulty)


RESERVED_OP_NAMES = ("whole", "agg", "in", "out")  # see solution.op_key / flow_key


@dataclass(frozen=True)
class Subtask:
    """A planner subtask; its input also includes its parents' outputs."""

    id: str
    difficulty: float
    input_tokens: int
    output_tokens: int
    parents: tuple[str, ...] = ()
    uses_payload: bool = False
    actual: Actual | None = None

    def __post_init__(self) -> None:
        check_key_id("id", self.id)
        if self.id in RESERVED_OP_NAMES:
            raise ValueError(f"id: {self.id!r} is reserved (op names whole, agg; flow ends in, out)")
        _check_op_difficulty("difficulty", self.difficulty)
        check_positive("input_tokens", self.input_tokens)
        check_max("input_tokens", self.input_tokens, MAX_TOKENS)
        check_positive("output_tokens", self.output_tokens)
        check_max("output_tokens", self.output_tokens, MAX_TOKENS)


@dataclass(frozen=True)
class Aggregation:
    """The step that combines all subtask outputs into the final answer."""

    difficulty: float
    input_tokens: int
    output_tokens: int
    actual: Actual | None = None

    def __post_init__(self) -> None:
        _check_op_difficulty("difficulty", self.difficulty)
        check_positive("input_tokens", self.input_tokens)
        check_max("input_tokens", self.input_tokens, MAX_TOKENS)
        check_positive("output_tokens", self.output_tokens)
        check_max("output_tokens", self.output_tokens, MAX_TOKENS)


@dataclass(frozen=True)
class Decomposition:
    """A DAG of subtasks plus the aggregation step."""

    subtasks: tuple[Subtask, ...]
    aggregation: Aggregation

    def __post_init__(self) -> None:
        if not self.subtasks:
            raise ValueError("subtasks: a decomposition needs at least one subtask")
        check_unique("subtasks", (s.id for s in self.subtasks))
        known = {s.id for s in self.subtasks}
        for i, s in enumerate(self.subtasks):
            for j, p in enumerate(s.parents):
                if p not in known:
                    raise ValueError(f"subtasks[{i}].parents[{j}]: unknown subtask {p!r}")
                if p == s.id:
                    raise ValueError(f"subtasks[{i}].parents[{j}]: subtask {p!r} depends on itself")
        _topological_order("subtasks", {s.id: s.parents for s in self.subtasks})

    @cached_property
    def order(self) -> tuple[str, ...]:
        """Subtask ids in a topological order (parents first)."""
        return _topological_order("subtasks", {s.id: s.parents for s in self.subtasks})


def _topological_order(name: str, parents: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Kahn's algorithm keeping input order among ready nodes; ValueError names a node on a cycle."""
    indeg = {k: len(set(v)) for k, v in parents.items()}
    children: dict[str, list[str]] = {k: [] for k in parents}
    for k, ps in parents.items():
        for p in set(ps):
            children[p].append(k)
    ready = [k for k in parents if indeg[k] == 0]
    out: list[str] = []
    while ready:
        k = ready.pop(0)
        out.append(k)
        for c in children[k]:
            indeg[c] -= 1
            if indeg[c] == 0:
                ready.append(c)
    if len(out) != len(parents):
        stuck = next(k for k in parents if k not in out)
        raise ValueError(f"{name}: dependency cycle through {stuck!r}")
    return tuple(out)


@dataclass(frozen=True)
class Task:
    """An LLM request from a user, with the planner's whole-task and decomposed estimates."""

    id: str
    user: str
    release_s: float
    prompt_tokens: int
    whole: WholeEstimate
    payload_bytes: int = 0
    payload_kind: PayloadKind = "text"
    decomposition: Decomposition | None = None
    deadline_s: float | None = None

    def __post_init__(self) -> None:
        check_key_id("id", self.id)
        check_nonneg("release_s", self.release_s)
        check_max("release_s", self.release_s, MAX_RELEASE_S)
        check_positive("prompt_tokens", self.prompt_tokens)
        check_max("prompt_tokens", self.prompt_tokens, MAX_TOKENS)
        check_nonneg("payload_bytes", self.payload_bytes)
        check_max("payload_bytes", self.payload_bytes, MAX_BYTES)
        if self.deadline_s is not None:
            check_positive("deadline_s", self.deadline_s)
            check_max("deadline_s", self.deadline_s, MAX_DURATION_S)


@dataclass(frozen=True)
class Objective:
    """What is optimised: summed reward (maximised) or makespan (minimised, explicit form)."""

    kind: Literal["reward", "makespan"] = "reward"
    accuracy_weight: float = 1.0
    latency_weight_per_s: float = 0.05

    def __post_init__(self) -> None:
        check_nonneg("accuracy_weight", self.accuracy_weight)
        check_max("accuracy_weight", self.accuracy_weight, MAX_WEIGHT)
        check_nonneg("latency_weight_per_s", self.latency_weight_per_s)
        check_max("latency_weight_per_s", self.latency_weight_per_s, MAX_WEIGHT)

    @property
    def sense(self) -> Literal["max", "min"]:
        return "max" if self.kind == "reward" else "min"


# ---- explicit-cost form (classic DAG scheduling) ----------------------------------------------


@dataclass(frozen=True)
class ExplicitOp:
    """An op with a duration per processor (``None``: cannot run there) and optional quality."""

    id: str
    durations: tuple[float | None, ...]
    quality: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        check_key_id("id", self.id)
        for i, d in enumerate(self.durations):
            if d is not None:
                check_nonneg(f"durations[{i}]", d)
                check_max(f"durations[{i}]", d, MAX_DURATION_S)
        if all(d is None for d in self.durations):
            raise ValueError("durations: the op can run on no processor")
        if self.quality is not None:
            for i, q in enumerate(self.quality):
                check_range(f"quality[{i}]", q, 0.0, 1.0)


@dataclass(frozen=True)
class ExplicitEdge:
    """Precedence ``src -> dst`` costing ``cost`` when the two run on different processors."""

    src: str
    dst: str
    cost: float = 0.0

    def __post_init__(self) -> None:
        check_nonneg("cost", self.cost)
        check_max("cost", self.cost, MAX_DURATION_S)


@dataclass(frozen=True)
class ExplicitJob:
    """A DAG of ops (one task in the general model)."""

    id: str
    ops: tuple[ExplicitOp, ...]
    edges: tuple[ExplicitEdge, ...] = ()
    release_s: float = 0.0

    def __post_init__(self) -> None:
        check_key_id("id", self.id)
        # the explicit form is timed in absolute seconds (its makespan is absolute), so its
        # releases share the bound of the relative frame
        check_nonneg("release_s", self.release_s)
        check_max("release_s", self.release_s, MAX_RELEASE_SPAN_S)
        if not self.ops:
            raise ValueError("ops: a job needs at least one op")
        check_unique("ops", (o.id for o in self.ops))
        known = {o.id for o in self.ops}
        parents: dict[str, list[str]] = {o.id: [] for o in self.ops}
        seen: set[tuple[str, str]] = set()
        for i, e in enumerate(self.edges):
            for end in ("src", "dst"):
                if getattr(e, end) not in known:
                    raise ValueError(f"edges[{i}].{end}: unknown op {fmt_value(getattr(e, end))}")
            if (e.src, e.dst) in seen:  # two costs for one edge: which one applies? (and one activity key)
                raise ValueError(f"edges[{i}]: duplicate edge {e.src!r} -> {e.dst!r}")
            seen.add((e.src, e.dst))
            parents[e.dst].append(e.src)
        _topological_order("edges", {k: tuple(v) for k, v in parents.items()})


@dataclass(frozen=True)
class ExplicitCosts:
    """Cost tables given directly: processors and jobs."""

    processors: tuple[str, ...]
    jobs: tuple[ExplicitJob, ...]

    def __post_init__(self) -> None:
        if not self.processors:
            raise ValueError("processors: at least one processor is needed")
        for i, p in enumerate(self.processors):
            check_id(f"processors[{i}]", p)
        if len(set(self.processors)) != len(self.processors):
            raise ValueError("processors: duplicate processor name")
        if not self.jobs:
            raise ValueError("jobs: at least one job is needed")
        check_unique("jobs", (j.id for j in self.jobs))
        n = len(self.processors)
        for i, job in enumerate(self.jobs):
            for k, op in enumerate(job.ops):
                if len(op.durations) != n:
                    raise ValueError(
                        f"jobs[{i}].ops[{k}].durations: expected {n} entries (one per processor), "
                        f"got {len(op.durations)}"
                    )
                if op.quality is not None and len(op.quality) != n:
                    raise ValueError(
                        f"jobs[{i}].ops[{k}].quality: expected {n} entries, got {len(op.quality)}"
                    )


# ---- the instance -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    """A complete, validated problem. Build with ``from_json``/``from_dict`` or the generator."""

    schema_version: int = SCHEMA_VERSION
    name: str = "instance"
    objective: Objective = field(default_factory=Objective)
    physics: PhysicsSettings | None = None
    models: tuple[ModelInfo, ...] = ()
    speeds: tuple[SpeedEntry, ...] = ()
    channels: tuple[Channel, ...] = ()
    users: tuple[User, ...] = ()
    aps: tuple[AP, ...] = ()
    backhaul: tuple[Backhaul, ...] = ()
    links: tuple[Link, ...] = ()
    tasks: tuple[Task, ...] = ()
    explicit: ExplicitCosts | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.schema_version > SCHEMA_VERSION or self.schema_version < 1:
            raise ValueError(
                f"schema_version: {fmt_value(self.schema_version)} is not supported "
                f"(this offload_opt reads 1..{SCHEMA_VERSION})"
            )
        check_json_value("meta", self.meta)
        if self.explicit is not None:
            if self.tasks or self.users or self.aps:
                raise ValueError("explicit: an explicit-cost instance has no users, aps or tasks")
            if self.objective.kind != "makespan":
                raise ValueError("objective.kind: explicit-cost instances use 'makespan'")
            return
        if not self.tasks:
            raise ValueError("tasks: the instance has no tasks")
        if self.physics is None:
            raise ValueError("physics: missing required field for a wireless instance")
        if self.objective.kind != "reward":
            raise ValueError("objective.kind: wireless instances use 'reward'")
        self._check_references()
        if self.physics.composition == "product":
            self._check_product_difficulties()

    def _check_product_difficulties(self) -> None:
        """The product rule rates each op as a MATH item of its own, so its difficulty must be a level in [1, 5]."""
        for i, t in enumerate(self.tasks):
            dec = t.decomposition
            if dec is None:
                continue
            ops: list[tuple[str, Subtask | Aggregation]] = [
                (f"subtasks[{j}]", s) for j, s in enumerate(dec.subtasks)
            ]
            ops.append(("aggregation", dec.aggregation))
            for where, op in ops:
                actual = op.actual.difficulty if op.actual is not None else None
                for name, d in (("difficulty", op.difficulty), ("actual.difficulty", actual)):
                    if d is not None and d < DIFFICULTY_MIN:
                        raise ValueError(
                            f"tasks[{i}].decomposition.{where}.{name}: composition 'product' needs a MATH level "
                            f"in [{DIFFICULTY_MIN:g}, {DIFFICULTY_MAX:g}], got {fmt_value(d)}"
                        )

    def _check_references(self) -> None:
        for name in ("models", "users", "aps", "tasks"):
            check_unique(name, (x.id for x in getattr(self, name)))
        chan_ids = [c.id for c in self.channels]
        if len(set(chan_ids)) != len(chan_ids):
            raise ValueError("channels: duplicate channel id")
        models = {m.id for m in self.models}
        speeds: set[tuple[str, str]] = set()
        for i, s in enumerate(self.speeds):
            if s.model not in models:
                raise ValueError(f"speeds[{i}].model: unknown model {fmt_value(s.model)}")
            if (s.hardware, s.model) in speeds:  # two rates for one pair: never let one silently win
                raise ValueError(
                    f"speeds[{i}]: duplicate entry for model {fmt_value(s.model)} "
                    f"on hardware {fmt_value(s.hardware)}"
                )
            speeds.add((s.hardware, s.model))
        for i, u in enumerate(self.users):
            for j, m in enumerate(u.local_models):
                if (u.hardware, m) not in speeds:
                    raise ValueError(
                        f"users[{i}].local_models[{j}]: no speed entry for model {m!r} on hardware {u.hardware!r}"
                    )
        for i, a in enumerate(self.aps):
            if a.channel not in chan_ids:
                raise ValueError(f"aps[{i}].channel: unknown channel {a.channel!r}")
            for j, srv in enumerate(a.servers):
                if (a.hardware, srv.model) not in speeds:
                    raise ValueError(
                        f"aps[{i}].servers[{j}].model: no speed entry for model {srv.model!r} "
                        f"on hardware {a.hardware!r}"
                    )
            for k, gpu in enumerate(a.gpus):
                self._check_gpu_memory(i, k, a, gpu)
        users = {u.id for u in self.users}
        aps = {a.id for a in self.aps}
        defaults = [b for b in self.backhaul if b.ap_a is None and b.ap_b is None]
        if len(self.aps) > 1 and not defaults:
            raise ValueError("backhaul: a default entry (no ap_a/ap_b) is needed when there are several APs")
        if len(defaults) > 1:
            raise ValueError("backhaul: more than one default entry (no ap_a/ap_b)")
        bh_pairs: set[frozenset[str | None]] = set()
        for i, b in enumerate(self.backhaul):
            if (b.ap_a is None) != (b.ap_b is None):
                raise ValueError(f"backhaul[{i}]: give both ap_a and ap_b, or neither for the default")
            for end in ("ap_a", "ap_b"):
                v = getattr(b, end)
                if v is not None and v not in aps:
                    raise ValueError(f"backhaul[{i}].{end}: unknown ap {fmt_value(v)}")
            if b.ap_a is not None:
                pair = frozenset((b.ap_a, b.ap_b))
                if pair in bh_pairs:
                    raise ValueError(f"backhaul[{i}]: duplicate entry for {b.ap_a!r}-{b.ap_b!r}")
                bh_pairs.add(pair)
        pairs: set[tuple[str, str]] = set()
        for i, ln in enumerate(self.links):
            if ln.user not in users:
                raise ValueError(f"links[{i}].user: unknown user {ln.user!r}")
            if ln.ap not in aps:
                raise ValueError(f"links[{i}].ap: unknown ap {ln.ap!r}")
            if (ln.user, ln.ap) in pairs:
                raise ValueError(f"links[{i}]: duplicate link {ln.user!r}-{ln.ap!r}")
            pairs.add((ln.user, ln.ap))
        has_server = {a.id for a in self.aps if a.servers}
        reach = {u: False for u in users}
        for ln in self.links:
            if ln.ap in has_server:
                reach[ln.user] = True
        by_id = {u.id: u for u in self.users}
        # the relative time frame (docs/model.md): everything after the earliest release is bounded
        origin = min(t.release_s for t in self.tasks)

        def beyond_span(path: str, time_s: float) -> ValueError:
            return ValueError(
                f"{path}: must be within {MAX_RELEASE_SPAN_S:g} s of the earliest release "
                f"({origin!r} s), got {time_s!r}"
            )

        for i, t in enumerate(self.tasks):
            if t.release_s - origin > MAX_RELEASE_SPAN_S:
                raise beyond_span(f"tasks[{i}].release_s", t.release_s)
        for i, c in enumerate(self.channels):
            if c.busy_until_s - origin > MAX_RELEASE_SPAN_S:
                raise beyond_span(f"channels[{i}].busy_until_s", c.busy_until_s)
        for i, a in enumerate(self.aps):
            for j, server in enumerate(a.servers):
                if server.queue_backlog_s - origin > MAX_RELEASE_SPAN_S:
                    raise beyond_span(f"aps[{i}].servers[{j}].queue_backlog_s", server.queue_backlog_s)
            for k, gpu in enumerate(a.gpus):
                if gpu.queue_backlog_s - origin > MAX_RELEASE_SPAN_S:
                    raise beyond_span(f"aps[{i}].gpus[{k}].queue_backlog_s", gpu.queue_backlog_s)
        for i, t in enumerate(self.tasks):
            if t.user not in users:
                raise ValueError(f"tasks[{i}].user: unknown user {t.user!r}")
            if not reach[t.user] and not by_id[t.user].local_models:
                raise ValueError(
                    f"tasks[{i}].user: user {t.user!r} has no local model and reaches no AP with a model server"
                )

    def _check_gpu_memory(self, i: int, k: int, ap: AP, gpu: GPU) -> None:
        """The models on a GPU fit its memory: weights + KV cache of ``slots`` streams (docs/model.md).

        Any slot may hold a stream of any hosted model, so the KV cache is sized with the largest
        ``kv_bytes_per_token`` among them.
        """
        need = gpu_memory_need_gb(self, ap, gpu)
        for j, srv in enumerate(ap.servers):
            if srv.gpu != gpu.id:
                continue
            if not self.speed_of[(ap.hardware, srv.model)].weights_gb > 0:
                raise ValueError(
                    f"speeds: the entry for model {srv.model!r} on hardware {ap.hardware!r} needs weights_gb > 0 "
                    f"(aps[{i}].servers[{j}] runs on a GPU)"
                )
            if not self.model_by_id[srv.model].kv_bytes_per_token > 0:
                raise ValueError(
                    f"models: model {srv.model!r} needs kv_bytes_per_token > 0 (aps[{i}].servers[{j}] runs on a GPU)"
                )
        weights_gb, kv_gb = need
        if weights_gb + kv_gb > gpu.memory_gb * (1 + 1e-12):
            raise ValueError(
                f"aps[{i}].gpus[{k}].memory_gb: hosted models need {weights_gb + kv_gb:.1f} GB (weights "
                f"{weights_gb:.1f} + KV cache {kv_gb:.1f} for {gpu.slots} streams of {gpu.stream_tokens} tokens), "
                f"the GPU has {gpu.memory_gb:g} GB"
            )

    # -- derived index tables (computed once per object; the object never changes) --

    @cached_property
    def user_by_id(self) -> dict[str, User]:
        return {u.id: u for u in self.users}

    @cached_property
    def ap_by_id(self) -> dict[str, AP]:
        return {a.id: a for a in self.aps}

    @cached_property
    def model_by_id(self) -> dict[str, ModelInfo]:
        return {m.id: m for m in self.models}

    @cached_property
    def channel_by_id(self) -> dict[int, Channel]:
        return {c.id: c for c in self.channels}

    @cached_property
    def speed_of(self) -> dict[tuple[str, str], SpeedEntry]:
        """(hardware, model) -> speed entry."""
        return {(s.hardware, s.model): s for s in self.speeds}

    @cached_property
    def links_of_user(self) -> dict[str, dict[str, Link]]:
        """user -> {ap -> link}; a missing AP is out of range."""
        out: dict[str, dict[str, Link]] = {u.id: {} for u in self.users}
        for ln in self.links:
            out[ln.user][ln.ap] = ln
        return out

    def backhaul_between(self, ap_a: str, ap_b: str) -> Backhaul:
        """The wired link between two APs: a pair entry if given, else the default."""
        default = None
        for b in self.backhaul:
            if {b.ap_a, b.ap_b} == {ap_a, ap_b}:
                return b
            if b.ap_a is None:
                default = b
        if default is None:
            raise ValueError(f"backhaul: no entry between {ap_a!r} and {ap_b!r}")
        return default

    @property
    def is_explicit(self) -> bool:
        return self.explicit is not None

    # -- construction, I/O --

    def replace(self, **changes: Any) -> Instance:
        """A new, re-validated instance with ``changes`` applied."""
        try:
            return dataclasses.replace(self, **changes)
        except InputError:
            raise
        except ValueError as exc:
            raise InputError(str(exc)) from None

    @classmethod
    def from_dict(cls, data: Any) -> Instance:
        if not isinstance(data, dict):
            raise InputError(f"<root>: expected a JSON object, got {type(data).__name__}")
        version = data.get("schema_version")
        if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
            raise InputError(
                f"schema_version: {fmt_value(version)} is newer than this offload_opt supports "
                f"({SCHEMA_VERSION}); upgrade"
            )
        if "schema_version" not in data:
            raise InputError("schema_version: missing required field")
        return decode(cls, data)

    @classmethod
    def from_json(cls, source: str | Path) -> Instance:
        """Read an instance from a JSON file path."""
        return cls.from_dict(read_json(source))

    def to_dict(self) -> dict[str, Any]:
        return encode(self)

    def to_json(self, path: str | Path | None = None) -> str:
        """The canonical JSON text; written to ``path`` if given."""
        text = canonical_json(self) + "\n"  # = json.dumps(self.to_dict(), indent=1, allow_nan=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    def digest(self) -> str:
        """A short content hash identifying the instance in results tables."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


def gpu_memory_need_gb(instance: Instance, ap: AP, gpu: GPU) -> tuple[float, float]:
    """(weights GB, KV-cache GB) the models hosted on ``gpu`` need: the sum of their ``weights_gb``
    and ``slots x stream_tokens x max kv_bytes_per_token / 1e9`` (any slot may serve any model)."""
    hosted = [s.model for s in ap.servers if s.gpu == gpu.id]
    weights_gb = sum(instance.speed_of[(ap.hardware, m)].weights_gb for m in hosted)
    kv = max((instance.model_by_id[m].kv_bytes_per_token for m in hosted), default=0.0)
    return weights_gb, gpu.slots * gpu.stream_tokens * kv / 1e9


MAX_JSON_BYTES = 512 * 2**20  # 512 MiB: ten times a 50,000-task instance; larger files are refused


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json object hook: a key given twice is an error, not 'the last one wins'."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _DuplicateKey(Exception):
    pass


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, read in chunks up to MAX_JSON_BYTES; a NUL byte means it is not JSON text."""
    chunks: list[bytes] = []
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(2**20):
            if b"\0" in chunk:
                raise InputError(f"{path}: not a JSON text file (contains NUL bytes)")
            size += len(chunk)
            if size > MAX_JSON_BYTES:
                raise InputError(f"{path}: larger than {MAX_JSON_BYTES // 2**20} MiB, refused")
            chunks.append(chunk)
    return b"".join(chunks)


def read_json(source: str | Path) -> Any:
    """Load a JSON file, turning I/O, encoding and syntax problems into one-line InputErrors.

    Refused: files over MAX_JSON_BYTES or with NUL bytes (``/dev/zero``), non-UTF-8 text,
    a key repeated within one object, nesting deeper than the parser's recursion limit and
    integers too long to convert.
    """
    path = Path(source)
    try:
        raw = _read_bytes(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a JSON file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None
    if not text.strip():
        raise InputError(f"{path}: the file is empty")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except _DuplicateKey as exc:
        raise InputError(f"{path}: key {fmt_value(exc.args[0])} appears twice in one JSON object") from None
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply to read") from None
    except ValueError as exc:  # e.g. an integer literal longer than Python converts (4300 digits)
        raise InputError(f"{path}: malformed JSON: {exc}") from None
