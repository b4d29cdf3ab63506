"""Deterministic instance generator: a seed and a Scenario give a byte-identical instance.

Sampling order matters for reproducibility, so each concern draws from its
own stream (``numpy.random.SeedSequence(seed).spawn``): the ground truth of the
tasks (difficulties, expected token lengths) is drawn before, and independently
of, the planner's errors; the realised output lengths (one sampled answer
around each expected length, models/planners.yaml) come from a fifth stream.
With the same seed the ``oracle``, ``teacher`` and ``distilled`` profiles
therefore describe the same world and differ only in their predictions, which
is what a planner study needs. The oracle predicts the true difficulty and the
expected lengths; the realised values are stored as ``actual`` beside every
prediction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Literal, cast

import numpy as np

from offload_opt._serde import fmt_value
from offload_opt.catalogue import Catalogue, PlannerProfile, load_catalogue
from offload_opt.instance import (
    AP,
    GPU,
    MAX_DURATION_S,
    MAX_RELEASE_SPAN_S,
    MAX_SLOTS,
    MAX_TOKENS,
    MAX_WEIGHT,
    RATE_MAX,
    Actual,
    Aggregation,
    Backhaul,
    Channel,
    Decomposition,
    Instance,
    Link,
    ModelInfo,
    ModelServer,
    Objective,
    PayloadKind,
    PhysicsSettings,
    SpeedEntry,
    Subtask,
    Task,
    User,
    WholeEstimate,
)
from offload_opt.physics import wifi
from offload_opt.physics.quality import _difficulty_of_work_unchecked, difficulty_of_work, work_of_difficulty

# Planner error profiles; their figures and sources are in models/planners.yaml (Catalogue.planners).
PLANNER_PROFILES: tuple[str, ...] = ("oracle", "teacher", "distilled")
SEPARATE_CHANNELS = (36, 52, 100, 116, 132, 149, 165, 44, 60, 108, 124, 140, 157)
# Mean CoT output tokens per MATH level (parameters.yaml tokens.recommended_defaults, grade C/D).
OUTPUT_TOKENS_BY_LEVEL = (220, 330, 420, 460, 740)
OUTPUT_TOKENS_SIGMA = 0.6  # log-normal spread across problems and samples, same source (split: planners.yaml)
PAYLOAD_BYTES = {"text": (0, 0), "image": (150_000, 600_000), "document": (20_000, 200_000)}
PAYLOAD_TOKENS = {"text": (0, 0), "image": (256, 1024), "document": (1000, 4000)}
MAX_SEED = 2**63 - 1
MAX_GENERATED_TASKS = 1_000_000
# Upper ends of the scenario knobs (docs/model.md "Numeric ranges"): every knob is finite and
# bounded so that a typo fails in one line before any work, and the instance it makes is valid.
SCENARIO_INT_MAX: dict[str, int] = {
    "users": MAX_GENERATED_TASKS,
    "aps": 10_000,
    "models_per_ap": 64,
    "slots": MAX_SLOTS,
    "gpus_per_ap": 64,
    "stream_tokens": MAX_TOKENS,
    "tasks_per_user": MAX_GENERATED_TASKS,
    "min_subtasks": 64,
    "max_subtasks": 64,
}
SCENARIO_FLOAT_MAX: dict[str, float] = {
    "area_m": 1e6,
    "release_window_s": MAX_RELEASE_SPAN_S,
    "dependency_density": 1.0,
    "backlog_max_s": MAX_RELEASE_SPAN_S,
    "backhaul_latency_s": MAX_DURATION_S,
    "backhaul_mbps": RATE_MAX,
    "accuracy_weight": MAX_WEIGHT,
    "latency_weight_per_s": MAX_WEIGHT,
    "deadline_s": MAX_DURATION_S,
    "background_utilisation": 1.0,
}
# docs/model.md "WiFi under load": who contends for the channel, and the image payload sizes
# (PAYLOAD_BYTES; one camera frame, wifi.yaml load.jpeg_frame_bytes_1080p; or a clip of
# load.video_llm_frames_per_clip such frames)
CONTENTION_RULES = ("offered", "saturation")
IMAGE_SOURCES = ("mixed", "jpeg-1080p", "clip-1080p")


def _mix(text: str) -> dict[str, float]:
    """Parse 'a=0.5,b=0.5' into weights; ValueError names the bad entry."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, w = part.partition("=")
        try:
            weight = float(w) if w else 1.0
        except ValueError:
            raise ValueError(f"bad weight in {part!r} (expected name=number)") from None
        if not weight >= 0 or not math.isfinite(weight):
            raise ValueError(f"weight of {name!r} must be a finite number >= 0, got {w!r}")
        out[name.strip()] = weight
    if not out or sum(out.values()) <= 0:
        raise ValueError(f"mix {text!r} has no positive weight")
    if not math.isfinite(sum(out.values())):  # 1e308 + 1e308: the shares would be NaN
        raise ValueError(f"weights of {text!r} sum beyond the float range; use smaller weights")
    return out


@dataclass(frozen=True)
class Scenario:
    """Every knob of the generator, with its unit. ``SCENARIOS['default']`` drives the demo."""

    users: int = 12
    aps: int = 3
    area_m: float = 40.0  # side of the square area, metres
    channel_plan: Literal["separate", "co-channel"] = "separate"
    bandwidth_mhz: int = 40
    device_mix: str = "phone-sd8elite=0.4,phone-sd8gen3=0.3,laptop-m1=0.2,jetson-orin-nano=0.1"
    edge_hardware: str = "edge-a100-80gb=0.5,edge-rtx4090=0.3,edge-l4=0.2"
    edge_models: str = "qwen2.5-7b,qwen2.5-14b,qwen2.5-32b,qwen2.5-72b,llama-3.1-8b,llama-3.1-70b"
    models_per_ap: int = 2
    # Edge serving (docs/model.md "Edge serving"). Each AP's edge server has up to gpus_per_ap GPUs of
    # its hardware; 2 = models_per_ap, so by default every model has a GPU of its own, as vLLM serves
    # (one model per server process, which claims the GPU's memory). slots caps B, the concurrent
    # streams of a GPU: 8, the knee of the A100 sweep (parameters.yaml llm_inference.batching: beyond
    # C=8 per-token latency rises and tail latency explodes); at 8 streams the RTX 4090 and L4 fits
    # are 1.19x and 1.12x their batch-1 token time. The free memory may allow fewer.
    slots: int = 8
    gpus_per_ap: int = 2
    # KV cache reserved per stream (tokens of context): a stream holds its prompt (40-120 tokens,
    # + 256-1024 for an image, + 1000-4000 for a document: PAYLOAD_TOKENS) and its output (mean
    # 220-740 by level, OUTPUT_TOKENS_BY_LEVEL); 4096 covers a mean stream (~1,100 tokens over the
    # default mix) ~3.7 times, and the cache is paged, so B x 4096 bounds what B streams hold together.
    stream_tokens: int = 4096
    payload_mix: str = "text=0.6,image=0.25,document=0.15"
    difficulty_mix: str = "1=43,2=90,3=105,4=128,5=134"  # MATH level weights (MATH-500 mix)
    tasks_per_user: int = 1
    release_window_s: float = 2.0  # tasks are released uniformly in [0, window]
    min_subtasks: int = 2
    max_subtasks: int = 3
    dependency_density: float = 0.3  # probability of an edge from each earlier subtask
    backlog_max_s: float = 1.0  # initial backlog of each server, uniform in [0, max]
    backhaul_latency_s: float = 0.002
    backhaul_mbps: float = 1000.0
    planner: Literal["oracle", "teacher", "distilled"] = "teacher"
    accuracy_weight: float = 1.0
    latency_weight_per_s: float = 0.05
    deadline_s: float | None = None  # per-task deadline; None: no deadline
    # -- WiFi under load (docs/model.md "WiFi under load") --
    background_utilisation: float = 0.0  # share of each channel's airtime taken by other traffic, [0, 1)
    # who contends: stations as their offered load keeps them busy, or all saturated (the v1 rule)
    contention: Literal["offered", "saturation"] = "offered"
    image_source: Literal["mixed", "jpeg-1080p", "clip-1080p"] = "mixed"  # image payload sizes

    def __post_init__(self) -> None:
        for name, hi in SCENARIO_INT_MAX.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"{name}: must be an integer, got {fmt_value(value)}")
            if value < 1:
                raise ValueError(f"{name}: must be >= 1, got {fmt_value(value)}")
            if value > hi:  # a bound, so a typo (slots=10**9) fails at once instead of exhausting memory
                raise ValueError(f"{name}: must be <= {hi}, got {fmt_value(value)}")
        if self.users * self.tasks_per_user > MAX_GENERATED_TASKS:
            raise ValueError(
                f"tasks_per_user: users * tasks_per_user must be <= {MAX_GENERATED_TASKS}, "
                f"got {self.users} * {self.tasks_per_user}"
            )
        for name, top in SCENARIO_FLOAT_MAX.items():
            number = getattr(self, name)
            if number is None and name == "deadline_s":
                continue
            if isinstance(number, bool) or not isinstance(number, int | float):
                raise ValueError(f"{name}: must be a number, got {fmt_value(number)}")
            if not math.isfinite(number):
                raise ValueError(f"{name}: must be a finite number, got {fmt_value(number)}")
            if number > top:
                raise ValueError(f"{name}: must be <= {top:g}, got {fmt_value(number)}")
        if self.max_subtasks < self.min_subtasks:
            raise ValueError(
                f"max_subtasks: must be >= min_subtasks ({self.min_subtasks}), got {self.max_subtasks}"
            )
        for name in ("area_m", "backhaul_mbps"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)!r}")
        for name in (
            "release_window_s",
            "backlog_max_s",
            "backhaul_latency_s",
            "accuracy_weight",
            "latency_weight_per_s",
        ):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(self, name)!r}")
        if not 0 <= self.dependency_density <= 1:
            raise ValueError(f"dependency_density: must be in [0, 1], got {self.dependency_density!r}")
        if self.bandwidth_mhz not in (20, 40, 80, 160):
            raise ValueError(f"bandwidth_mhz: must be 20, 40, 80 or 160, got {self.bandwidth_mhz!r}")
        if not self.background_utilisation < 1 or not self.background_utilisation >= 0:
            raise ValueError(
                f"background_utilisation: must be in [0, 1), got {fmt_value(self.background_utilisation)}"
            )
        if self.contention not in CONTENTION_RULES:
            raise ValueError(
                f"contention: must be one of {', '.join(CONTENTION_RULES)}, got {self.contention!r}"
            )
        if self.image_source not in IMAGE_SOURCES:
            raise ValueError(
                f"image_source: must be one of {', '.join(IMAGE_SOURCES)}, got {self.image_source!r}"
            )
        if self.channel_plan not in ("separate", "co-channel"):
            raise ValueError(f"channel_plan: must be 'separate' or 'co-channel', got {self.channel_plan!r}")
        if self.planner not in PLANNER_PROFILES:
            raise ValueError(f"planner: must be one of {sorted(PLANNER_PROFILES)}, got {self.planner!r}")
        if self.deadline_s is not None and not self.deadline_s > 0:
            raise ValueError(f"deadline_s: must be > 0, got {self.deadline_s!r}")
        for name in ("device_mix", "edge_hardware", "payload_mix", "difficulty_mix"):
            try:
                _mix(getattr(self, name))
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        for lvl in _mix(self.difficulty_mix):
            if lvl not in {"1", "2", "3", "4", "5"}:
                raise ValueError(f"difficulty_mix: levels are 1..5, got {lvl!r}")
        for kind in _mix(self.payload_mix):
            if kind not in PAYLOAD_BYTES:
                raise ValueError(f"payload_mix: kinds are text, image, document, got {kind!r}")

    def replace(self, **changes) -> Scenario:
        return Scenario(**{**asdict(self), **changes})


SCENARIOS: dict[str, Scenario] = {
    "default": Scenario(),
    "small": Scenario(users=4, aps=2, max_subtasks=3, models_per_ap=1),
    "co-channel": Scenario(channel_plan="co-channel"),
    # Where the air matters: smart cameras (Jetson Orin Nano class: at most a small local LLM) ask
    # about events in clips of 1080p JPEG frames (a video LLM's 8 sampled frames, sizes and count in
    # wifi.yaml load), all APs on one 20 MHz channel that other traffic keeps busy (0.5 = wifi.yaml
    # load.busy_channel_utilisation; tests/test_wifi_load.py checks the two agree).
    "camera": Scenario(
        channel_plan="co-channel",
        bandwidth_mhz=20,
        device_mix="jetson-orin-nano=1",
        payload_mix="image=1",
        image_source="clip-1080p",
        tasks_per_user=2,
        background_utilisation=0.5,
    ),
}

SCENARIO_HELP: dict[str, str] = {
    "users": "number of users (devices)",
    "aps": "number of access points with an edge server",
    "area_m": "side of the square area (m)",
    "channel_plan": "'separate' (one channel per AP) or 'co-channel' (all APs share one channel)",
    "bandwidth_mhz": "channel bandwidth (MHz): 20, 40, 80, 160",
    "device_mix": "device hardware mix, hardware=weight,... (models/hardware.yaml)",
    "edge_hardware": "edge server hardware mix, hardware=weight,...",
    "edge_models": "pool of models an AP may host, comma-separated (models/llms.yaml)",
    "models_per_ap": "model servers per AP (drawn from the pool, those that fit the hardware)",
    "slots": "most concurrent streams per edge GPU (its free memory may allow fewer)",
    "gpus_per_ap": "GPUs per edge server (models share a GPU when there are fewer GPUs than models)",
    "stream_tokens": "KV-cache tokens reserved per GPU stream (memory check)",
    "payload_mix": "payload kind mix: text, image, document weights",
    "difficulty_mix": "MATH level (1..5) weights of whole tasks",
    "tasks_per_user": "tasks each user releases",
    "release_window_s": "tasks are released uniformly in [0, window] (s)",
    "min_subtasks": "fewest subtasks in a decomposition",
    "max_subtasks": "most subtasks in a decomposition",
    "dependency_density": "probability of a dependency on each earlier subtask",
    "backlog_max_s": "initial queue backlog per model server, uniform in [0, max] (s)",
    "backhaul_latency_s": "wired AP-AP latency (s)",
    "backhaul_mbps": "wired AP-AP bandwidth (Mb/s)",
    "planner": "planner error profile: oracle, teacher, distilled (models/planners.yaml)",
    "accuracy_weight": "reward per unit of success probability",
    "latency_weight_per_s": "reward lost per second of latency",
    "deadline_s": "per-task deadline (s); omit for none",
    "background_utilisation": "share of every channel's airtime used by other traffic, in [0, 1)",
    "contention": "'offered' (stations contend as their offered load keeps them busy) or 'saturation' (v1)",
    "image_source": "image payload sizes: 'mixed' (photos), 'jpeg-1080p' (one camera frame) or "
    "'clip-1080p' (the frames a video LLM samples from a clip)",
}


def scenario_fields() -> list[tuple[str, object, str]]:
    """(name, default, help) of every scenario knob, for the CLI."""
    return [(f.name, f.default, SCENARIO_HELP[f.name]) for f in fields(Scenario)]


def _unit_noise(rng: np.random.Generator, tail_df: float | None) -> float:
    """A zero-mean, unit-variance draw: standard normal, or Student-t(``tail_df``) scaled (heavy tails)."""
    if tail_df is None:
        return float(rng.standard_normal())
    return float(rng.standard_t(tail_df)) * math.sqrt((tail_df - 2) / tail_df)


def predicted_difficulty(
    true: float, profile: PlannerProfile, rng: np.random.Generator, lo: float = 1.0
) -> float:
    """``profile``'s prediction of a difficulty ``true`` (MATH levels): bias + spread, clamped to [lo, 5].

    ``lo`` is 1 for a whole task; a subtask or aggregation step may carry less work than a level-1 task
    (docs/model.md "Quality of a decomposed task"), so its floor is lower."""
    if not profile.difficulty_sd_levels and not profile.difficulty_bias_levels:
        return round(true, 4)
    noise = (
        profile.difficulty_sd_levels * _unit_noise(rng, profile.difficulty_tail_df)
        if profile.difficulty_sd_levels
        else 0.0
    )
    return round(min(5.0, max(lo, true + profile.difficulty_bias_levels + noise)), 4)


def predicted_tokens(expected: int, profile: PlannerProfile, rng: np.random.Generator) -> int:
    """``profile``'s prediction of an op whose expected output length is ``expected`` tokens (log-scale error)."""
    if not profile.token_sigma_log and not profile.token_bias_log:
        return expected
    noise = (
        profile.token_sigma_log * _unit_noise(rng, profile.token_tail_df) if profile.token_sigma_log else 0.0
    )
    return max(1, int(round(expected * math.exp(profile.token_bias_log + noise))))


def realised_tokens(expected: int, sigma_log: float, rng: np.random.Generator) -> int:
    """One sampled answer's length: log-normal around ``expected`` with mean ``expected`` (heavy right tail)."""
    if not sigma_log:
        return expected
    return max(
        1, int(round(expected * math.exp(sigma_log * float(rng.standard_normal()) - sigma_log**2 / 2)))
    )


def _chooser(mix: dict[str, float]) -> Callable[[np.random.Generator], str]:
    """A draw of one name of ``mix`` with probability its weight's share, the weights normalised once.

    The draw is ``rng.choice(len(names), p=w / w.sum())`` with the same ``p`` each time, so a chooser
    made once per mix gives the draws of ``_choice`` bit for bit (the task loop draws two per task).
    """
    names = list(mix)
    w = np.array([mix[n] for n in names], dtype=float)
    p = w / w.sum()
    n = len(names)

    def draw(rng: np.random.Generator) -> str:
        return names[int(rng.choice(n, p=p))]

    return draw


def _choice(rng: np.random.Generator, mix: dict[str, float]) -> str:
    return _chooser(mix)(rng)


def _weights_gb(cat: Catalogue, hardware: str, model: str) -> float:
    """GPU memory of ``model`` at the precision of its speed profile on ``hardware`` (llms.yaml memory_gb)."""
    return cat.models[model].memory_gb[cat.speed(hardware, model).quantisation]


def _edge_server(
    cat: Catalogue, hw: str, models: list[str], sc: Scenario, rng: np.random.Generator
) -> tuple[tuple[GPU, ...], tuple[ModelServer, ...]]:
    """The GPUs of one edge server and the models placed on them, so that every GPU's memory holds.

    Models go, heaviest first, onto the GPU with the most free memory where their weights plus the KV
    cache of one stream (of the largest KV per token on that GPU) still fit; a model that fits on no
    GPU is left out, and a GPU left empty is not installed. Each GPU then runs
    B = min(``slots``, streams its free memory holds) streams; hardware without a batching fit in the
    catalogue runs one stream at a time. One backlog per GPU is drawn after the placement.
    """
    spec = cat.hardware[hw]
    kv_gb = {m: sc.stream_tokens * cat.models[m].kv_bytes_per_token / 1e9 for m in models}
    hosted: list[list[str]] = [[] for _ in range(sc.gpus_per_ap)]
    used = [0.0] * sc.gpus_per_ap
    for m in sorted(models, key=lambda m: (-_weights_gb(cat, hw, m), m)):
        w = _weights_gb(cat, hw, m)
        for g in sorted(range(sc.gpus_per_ap), key=lambda g: (used[g], g)):
            kv = max(kv_gb[x] for x in [*hosted[g], m])
            if used[g] + w + kv <= spec.memory_gb:
                hosted[g].append(m)
                used[g] += w
                break
    gpus: list[GPU] = []
    servers: list[ModelServer] = []
    for g in range(sc.gpus_per_ap):
        if not hosted[g]:
            continue
        kv = max(kv_gb[m] for m in hosted[g])
        fit_streams = int((spec.memory_gb - used[g]) / kv) if kv > 0 else sc.slots
        streams = min(sc.slots, fit_streams) if spec.batch_slope is not None else 1
        backlog = round(float(rng.uniform(0, sc.backlog_max_s)), 4)
        gid = f"g{len(gpus)}"
        gpus.append(
            GPU(
                gid,
                spec.memory_gb,
                spec.mem_bandwidth_gbps,
                streams,
                backlog,
                spec.batch_slope or 0.0,
                sc.stream_tokens,
            )
        )
        servers.extend(ModelServer(m, gpu=gid) for m in sorted(hosted[g]))
    servers.sort(key=lambda s: models.index(s.model))
    return tuple(gpus), tuple(servers)


def _share_difficulty(
    share: float, task_difficulty: float, work_levels: tuple[float, ...], task_work: float | None = None
) -> float:
    """Difficulty of an op carrying ``share`` of a task's work (physics.quality.difficulty_of_work), rounded.

    ``task_work``: ``work_of_difficulty(task_difficulty, work_levels)`` when the caller has it (the task
    loop works it out once per task, with the work levels checked once per instance); the work's range is
    checked here, and a work outside it goes through the checked function, which raises."""
    if task_work is None:
        task_work = work_of_difficulty(task_difficulty, work_levels)
        work = max(share * task_work, 1e-9)
        d = difficulty_of_work(work, work_levels)
    else:
        work = max(share * task_work, 1e-9)
        ok = 0.0 < work <= work_levels[-1]
        d = _difficulty_of_work_unchecked(work, work_levels) if ok else difficulty_of_work(work, work_levels)
    # rounding to 4 decimals keeps files short; the floor keeps a vanishing share a valid difficulty (> 0)
    return max(1e-4, round(d, 4))


def generate(
    scenario: Scenario | str = "default",
    seed: int = 0,
    catalogue: Catalogue | None = None,
    name: str | None = None,
    **overrides,
) -> Instance:
    """A validated instance of ``scenario`` (a Scenario or a name in SCENARIOS) for ``seed``."""
    got = _generate(scenario, seed, catalogue, name, overrides, tasks_only=False)
    assert isinstance(got, Instance)
    return got


def generate_tasks(
    scenario: Scenario | str = "default", seed: int = 0, catalogue: Catalogue | None = None, **overrides
) -> tuple[Task, ...]:
    """The tasks of ``generate(scenario, seed, catalogue, **overrides)``, the same to the bit, without the rest.

    For a pool of task templates (the simulator's, thousands of tasks): the channels' MAC
    efficiencies (which time every task's airtime) and the instance's whole checks are left out;
    every task is checked by its own constructor as in ``generate``.
    """
    got = _generate(scenario, seed, catalogue, None, overrides, tasks_only=True)
    assert isinstance(got, tuple)
    return got


def _generate(
    scenario: Scenario | str,
    seed: int,
    catalogue: Catalogue | None,
    name: str | None,
    overrides: dict,
    tasks_only: bool,
) -> Instance | tuple[Task, ...]:
    if isinstance(scenario, str):
        if scenario not in SCENARIOS:
            raise ValueError(f"scenario: unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
        scenario = SCENARIOS[scenario]
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed: must be an integer in [0, 2**63 - 1], got {fmt_value(seed)}")
    if overrides:
        scenario = scenario.replace(**overrides)
    sc = scenario
    cat = catalogue or load_catalogue()
    # a fifth child keeps the first four streams identical to the four-stream generator's
    streams = np.random.SeedSequence(seed).spawn(5)
    rng_net, rng_task, rng_plan, rng_edge, rng_real = (np.random.default_rng(s) for s in streams)
    if sc.planner not in cat.planners:
        raise ValueError(f"planner: no profile {sc.planner!r} in models/planners.yaml")
    if cat.output_length_spread is None:
        raise ValueError("planners.yaml: realised_output_tokens missing from the catalogue")

    for hw in list(_mix(sc.device_mix)) + list(_mix(sc.edge_hardware)):
        if hw not in cat.hardware:
            raise ValueError(f"hardware: unknown hardware {hw!r} (models/hardware.yaml)")
    pool = [m.strip() for m in sc.edge_models.split(",") if m.strip()]
    for m in pool:
        if m not in cat.models:
            raise ValueError(f"edge_models: unknown model {m!r} (models/llms.yaml)")

    # -- channels and APs: a regular grid over the area --
    cols = math.ceil(math.sqrt(sc.aps))
    rows = math.ceil(sc.aps / cols)
    aps: list[AP] = []
    chan_of = []
    for k in range(sc.aps):
        r, c = divmod(k, cols)
        pos = (round((c + 0.5) * sc.area_m / cols, 3), round((r + 0.5) * sc.area_m / rows, 3))
        channel = SEPARATE_CHANNELS[k % len(SEPARATE_CHANNELS)] if sc.channel_plan == "separate" else 36
        chan_of.append(channel)
        hw = _choice(rng_edge, _mix(sc.edge_hardware))
        fits = [m for m in pool if m in cat.models_on(hw)]
        if not fits:
            raise ValueError(f"edge_models: none of {pool} runs on edge hardware {hw!r}")
        n = min(sc.models_per_ap, len(fits))
        chosen = sorted(rng_edge.choice(len(fits), size=n, replace=False).tolist())
        gpus, servers = _edge_server(cat, hw, [fits[i] for i in chosen], sc, rng_edge)
        aps.append(
            AP(
                f"ap{k}",
                pos,
                channel,
                hw,
                servers,
                nss=2,
                tx_power_dbm=float(cat.wifi["tx_power_dbm"]["ap"]),
                gpus=gpus,
            )
        )

    # -- users and their links --
    sta_tx = float(cat.wifi["tx_power_dbm"]["sta"])
    users: list[User] = []
    links: list[Link] = []
    for k in range(sc.users):
        hw = _choice(rng_net, _mix(sc.device_mix))
        local = [m for m in cat.models_on(hw) if cat.models[m].params_b <= 3.5]
        local_models = (local[int(rng_net.integers(len(local)))],) if local else ()
        nss = int(rng_net.integers(1, 3))
        for _attempt in range(1000):
            pos = (
                round(float(rng_net.uniform(0, sc.area_m)), 3),
                round(float(rng_net.uniform(0, sc.area_m)), 3),
            )
            user_links = []
            for ap in aps:
                d = math.dist(pos, ap.position_m)
                lb = wifi.link_budget(sta_tx, d, sc.bandwidth_mhz, min(nss, ap.nss))
                if lb is not None:
                    user_links.append(
                        Link(
                            f"u{k}",
                            ap.id,
                            round(d, 3),
                            round(lb.snr_db, 3),
                            lb.mcs,
                            round(lb.phy_rate_mbps, 3),
                        )
                    )
            if user_links or local_models:
                break
        else:
            raise ValueError("area_m: users cannot reach any AP; make the area smaller or add APs")
        users.append(User(f"u{k}", pos, hw, local_models, nss, sta_tx))
        links.extend(user_links)

    payload_bytes = _payload_ranges(sc, cat)

    # -- tasks: truth first, then the planner's noisy predictions --
    work_levels = cat.quality.work_levels
    if len(work_levels) != 5:  # the work-share rule needs the work of MATH levels 1..5
        raise ValueError(
            f"quality.yaml: decomposition.work_levels must give 5 MATH levels, got {len(work_levels)}"
        )
    profile = cat.planners[sc.planner]
    spread = cat.output_length_spread
    draw_level = _chooser(_mix(sc.difficulty_mix))
    draw_payload = _chooser(_mix(sc.payload_mix))
    tasks: list[Task] = []

    def predict_diff(true: float, lo: float = 1.0) -> float:
        """The planner's difficulty for an op of true difficulty ``true`` (MATH levels, clamped to [lo, 5])."""
        return predicted_difficulty(true, profile, rng_plan, lo)

    def op_floor(true: float) -> float:
        # a subtask's difficulty may lie below level 1 (a share of a level-1 task's work); its
        # prediction is kept in (0, 5] by a floor at half the truth there (our assumption)
        return min(1.0, true / 2)

    def predict_tokens(expected: int) -> int:
        """The planner's output tokens for an op whose expected length is ``expected``."""
        return predicted_tokens(expected, profile, rng_plan)

    def realise_tokens(expected: int) -> int:
        """One sampled answer's length around ``expected`` (stored as ``actual``; the oracle cannot know it)."""
        return realised_tokens(expected, spread.realised_sigma_log, rng_real)

    def tokens_for(level: float) -> int:
        """Expected output tokens of a problem at ``level``: the level mean times a per-problem spread."""
        lo = int(math.floor(level)) - 1
        hi = min(lo + 1, 4)
        frac = level - math.floor(level)
        mean = OUTPUT_TOKENS_BY_LEVEL[lo] * (1 - frac) + OUTPUT_TOKENS_BY_LEVEL[hi] * frac
        sigma = spread.expected_sigma_log
        return max(8, int(round(mean * math.exp(float(rng_task.normal(0, sigma)) - sigma**2 / 2))))

    for u in users:
        for _ in range(sc.tasks_per_user):
            level = float(draw_level(rng_task))
            true_d = round(min(5.0, max(1.0, level + float(rng_task.uniform(-0.5, 0.5)))), 4)
            # payload_mix's kinds were checked against PAYLOAD_BYTES (text, image, document) in __post_init__
            kind = cast(PayloadKind, draw_payload(rng_task))
            lo, hi = payload_bytes[kind]
            payload = int(rng_task.integers(lo, hi + 1)) if hi else 0
            tlo, thi = PAYLOAD_TOKENS[kind]
            prompt = int(rng_task.integers(40, 120)) + (int(rng_task.integers(tlo, thi + 1)) if thi else 0)
            true_out = tokens_for(true_d)
            release = round(float(rng_task.uniform(0, sc.release_window_s)), 4)
            n_sub = int(rng_task.integers(sc.min_subtasks, sc.max_subtasks + 1))
            # The whole task's reasoning work W(L) is split across the subtasks and the aggregation
            # step (shares ~ flat Dirichlet, our assumption); an op's difficulty is the level whose
            # work is its share, and its output tokens are its share of the whole task's
            # (docs/model.md "Quality of a decomposed task").
            shares = [float(x) for x in rng_task.dirichlet(np.ones(n_sub + 1))]
            task_work = work_of_difficulty(true_d, work_levels)  # W(L), once per task (checked)
            subs = []
            for s in range(n_sub):
                parents = tuple(f"s{p}" for p in range(s) if rng_task.random() < sc.dependency_density)
                sd = _share_difficulty(shares[s], true_d, work_levels, task_work)
                s_out = max(8, int(round(true_out * shares[s])))
                s_in = max(8, int(round(prompt / n_sub)) + int(rng_task.integers(10, 40)))
                uses = kind != "text" and (s == 0 or rng_task.random() < 0.5)
                subs.append((f"s{s}", sd, s_in, s_out, parents, uses))
            agg_d = _share_difficulty(shares[n_sub], true_d, work_levels, task_work)
            agg_out = max(8, int(round(true_out * shares[n_sub])))
            agg_in = int(rng_task.integers(30, 80))
            decomposition = Decomposition(
                tuple(
                    Subtask(
                        sid,
                        predict_diff(sd, op_floor(sd)),
                        s_in,
                        predict_tokens(s_out),
                        parents,
                        uses,
                        Actual(sd, realise_tokens(s_out)),
                    )
                    for sid, sd, s_in, s_out, parents, uses in subs
                ),
                Aggregation(
                    predict_diff(agg_d, op_floor(agg_d)),
                    agg_in,
                    predict_tokens(agg_out),
                    Actual(agg_d, realise_tokens(agg_out)),
                ),
            )
            whole = WholeEstimate(
                predict_diff(true_d), predict_tokens(true_out), Actual(true_d, realise_tokens(true_out))
            )
            tasks.append(
                Task(
                    f"t{len(tasks)}",
                    u.id,
                    release,
                    prompt,
                    whole,
                    payload,
                    kind,
                    decomposition,
                    sc.deadline_s,
                )
            )

    if tasks_only:
        return tuple(tasks)
    channels = _channels(sc, cat, chan_of, aps, links, tasks)

    used_models = sorted(
        {m for u in users for m in u.local_models} | {s.model for a in aps for s in a.servers}
    )
    used_pairs = sorted(
        {(u.hardware, m) for u in users for m in u.local_models}
        | {(a.hardware, s.model) for a in aps for s in a.servers}
    )
    b_levels = cat.quality.b_levels
    # QualityFit holds the difficulty of MATH levels 1..5 (models/quality.yaml);
    # load_catalogue does not check the count, so say so here rather than build a wrong PhysicsSettings
    assert len(b_levels) == 5, f"quality b_levels: expected 5 MATH levels, got {len(b_levels)}"
    physics = PhysicsSettings(
        bytes_per_token=float(cat.wifi["bytes_per_token"]),
        request_overhead_bytes=float(cat.wifi["request_overhead_bytes"]),
        airtime_overhead_s=float(cat.wifi["exchange_overhead_s"]),
        quality_a=cat.quality.a,
        quality_b_levels=b_levels,
        composition="work-share",
        work_levels=work_levels,
        decomposition_uplift=cat.quality.decomposition_uplift,
    )
    return Instance(
        name=name or f"{'default' if sc == SCENARIOS['default'] else 'custom'}-s{seed}",
        objective=Objective("reward", sc.accuracy_weight, sc.latency_weight_per_s),
        physics=physics,
        models=tuple(
            ModelInfo(m, cat.models[m].theta, cat.models[m].params_b, cat.models[m].kv_bytes_per_token)
            for m in used_models
        ),
        speeds=tuple(
            SpeedEntry(
                hw,
                m,
                cat.speed(hw, m).prefill_tps,
                cat.speed(hw, m).decode_tps,
                cat.speed(hw, m).setup_s,
                _weights_gb(cat, hw, m),
            )
            for hw, m in used_pairs
        ),
        channels=tuple(channels),
        users=tuple(users),
        aps=tuple(aps),
        backhaul=(Backhaul(sc.backhaul_latency_s, sc.backhaul_mbps),) if aps else (),
        links=tuple(links),
        tasks=tuple(tasks),
        meta={"generator": "offload_opt.generate", "seed": int(seed), "scenario": asdict(sc)},
    )


def _payload_ranges(sc: Scenario, cat: Catalogue) -> dict[str, tuple[int, int]]:
    """Payload byte range [lo, hi] of each kind; ``image_source`` picks the image sizes."""
    ranges = dict(PAYLOAD_BYTES)
    if sc.image_source in ("jpeg-1080p", "clip-1080p"):
        load = cat.wifi["load"]
        lo, hi = load["jpeg_frame_bytes_1080p"]
        # frames of one clip show one scene, so they compress alike: the clip is frames x one frame size
        frames = int(load["video_llm_frames_per_clip"]) if sc.image_source == "clip-1080p" else 1
        ranges["image"] = (frames * int(lo), frames * int(hi))
    return ranges


def _channels(
    sc: Scenario, cat: Catalogue, chan_of: list[int], aps: list[AP], links: list[Link], tasks: list[Task]
) -> list[Channel]:
    """One Channel per channel in use: its stations, MAC efficiency and background utilisation.

    The stations are the users in range of an AP on the channel (as in v1). ``mac_efficiency``
    is Bianchi's S at the mean PHY rate of its links: with every station saturated
    (``contention='saturation'``, the v1 rule) or, by default, with the other stations
    backlogged only for the share of time their own traffic keeps them busy
    (``physics.wifi.offered_load_share``): each task's request (payload + prompt) and whole
    answer sent once over the user's best link at the single-station efficiency, within the
    release window (docs/model.md "WiFi under load").
    """
    physics_bpt = float(cat.wifi["bytes_per_token"])
    framing = float(cat.wifi["request_overhead_bytes"])
    overhead_s = float(cat.wifi["exchange_overhead_s"])
    best_rate: dict[str, float] = {}
    for ln in links:
        best_rate[ln.user] = max(best_rate.get(ln.user, 0.0), ln.phy_rate_mbps)
    sent_bytes: dict[str, list[float]] = {}
    for t in tasks:
        act = t.whole.actual
        out_tokens = (
            act.output_tokens if act is not None and act.output_tokens is not None else t.whole.output_tokens
        )
        up = t.payload_bytes + t.prompt_tokens * physics_bpt + framing
        down = out_tokens * physics_bpt + framing
        sent_bytes.setdefault(t.user, []).extend((up, down))
    channels = []
    for channel in sorted(set(chan_of)):
        on = {a.id for a in aps if a.channel == channel}
        stations = sorted({ln.user for ln in links if ln.ap in on})
        rates = [ln.phy_rate_mbps for ln in links if ln.ap in on]
        ref_rate = float(np.mean(rates)) if rates else wifi.he_phy_rate_mbps(7, sc.bandwidth_mhz, 1)
        n = max(len(stations), 1)
        if sc.contention == "saturation":
            eff = wifi.mac_efficiency(n, ref_rate)
        else:
            single = wifi.mac_efficiency(1, ref_rate)
            loads = [
                wifi.offered_load_share(
                    sum(wifi.airtime_s(b, best_rate[u], single, overhead_s) for b in sent_bytes.get(u, ())),
                    sc.release_window_s,
                )
                for u in stations
            ]
            q = float(np.mean(loads)) if loads else 0.0
            eff = wifi.mac_efficiency(n, ref_rate, offered_load=q)
        channels.append(
            Channel(channel, sc.bandwidth_mhz, len(stations), round(eff, 6), sc.background_utilisation)
        )
    return channels
