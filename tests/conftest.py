"""Tiny hand-made instances whose schedules can be computed by hand.

Units are chosen so that arithmetic is easy: a PHY rate of 8 Mb/s with MAC
efficiency 1 and no per-exchange overhead moves 1 byte per microsecond, so a
transfer of B bytes lasts B * 1e-6 s; 1 token = 1 byte, no request overhead.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import settings

from offload_opt.catalogue import ENV_VAR
from offload_opt.instance import (
    AP,
    Aggregation,
    Backhaul,
    Channel,
    Decomposition,
    Instance,
    Link,
    ModelInfo,
    ModelServer,
    Objective,
    PhysicsSettings,
    SpeedEntry,
    Subtask,
    Task,
    User,
    WholeEstimate,
)

# CI runs the same examples every time (derandomize); a failure prints the blob that reproduces it
settings.register_profile("deterministic", derandomize=True, print_blob=True)
settings.load_profile("deterministic")

B_LEVELS = (-1.194, -0.824, -0.092, 0.654, 1.457)


def tiny_physics() -> PhysicsSettings:
    return PhysicsSettings(
        bytes_per_token=1.0,
        request_overhead_bytes=0.0,
        airtime_overhead_s=0.0,
        quality_a=1.275,
        quality_b_levels=B_LEVELS,
    )


def tiny_instance(
    tasks: tuple[Task, ...] | None = None,
    users: int = 1,
    backlog_s: float = 0.0,
    slots: int = 1,
    n_aps: int = 1,
    same_channel: bool = True,
) -> Instance:
    """One AP (or more) with a 'big' model server; users with a 'small' local model; 8 Mb/s links.

    Device 'small': prefill 100 tok/s, decode 10 tok/s, setup 0 s.
    Server 'big': prefill 1000 tok/s, decode 100 tok/s, setup 0.5 s.
    """
    us = tuple(User(f"u{i}", (float(i), 0.0), "dev", ("small",)) for i in range(users))
    aps = tuple(
        AP(
            f"a{k}",
            (0.0, 10.0 * k),
            1 if same_channel else 1 + k,
            "srv",
            (ModelServer("big", slots, backlog_s),),
        )
        for k in range(n_aps)
    )
    channels = tuple(Channel(c, 20, users, 1.0) for c in sorted({a.channel for a in aps}))
    links = tuple(Link(u.id, a.id, 5.0, 30.0, 7, 8.0) for u in us for a in aps)
    if tasks is None:
        tasks = (Task("t0", "u0", 0.0, 100, WholeEstimate(3.0, 50)),)
    return Instance(
        name="tiny",
        objective=Objective("reward", 1.0, 0.1),
        physics=tiny_physics(),
        models=(ModelInfo("small", -0.37, 0.5), ModelInfo("big", 1.86, 72.0)),
        speeds=(SpeedEntry("dev", "small", 100.0, 10.0, 0.0), SpeedEntry("srv", "big", 1000.0, 100.0, 0.5)),
        channels=channels,
        users=us,
        aps=aps,
        backhaul=(Backhaul(0.01, 8.0),),
        links=links,
        tasks=tasks,
    )


def decomposed_task(
    tid: str = "t0", user: str = "u0", release_s: float = 0.0, payload_bytes: int = 0
) -> Task:
    """Two independent subtasks s0, s1 and an aggregation step."""
    return Task(
        tid,
        user,
        release_s,
        100,
        WholeEstimate(4.0, 200),
        payload_bytes=payload_bytes,
        payload_kind="image" if payload_bytes else "text",
        decomposition=Decomposition(
            (
                Subtask("s0", 2.0, 50, 100, uses_payload=bool(payload_bytes)),
                Subtask("s1", 2.0, 50, 100, ("s0",)),
            ),
            Aggregation(1.0, 20, 80),
        ),
    )


@pytest.fixture
def tiny() -> Instance:
    """One user, one AP, one whole-only task."""
    return tiny_instance()


@pytest.fixture
def exact_lengths(tmp_path, monkeypatch):
    """A models/ copy with no per-sample spread of output lengths: the oracle's predictions == actual values.

    (The oracle predicts expected lengths; a realised answer differs from them, models/planners.yaml.)
    """
    d = tmp_path / "models"
    shutil.copytree(Path(__file__).resolve().parent.parent / "models", d)
    data = yaml.safe_load((d / "planners.yaml").read_text())
    data["realised_output_tokens"]["sigma_log"]["value"] = 0.0
    (d / "planners.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv(ENV_VAR, str(d))
