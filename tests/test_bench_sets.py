"""The committed benchmark sets are what their recorded commands make (instances/bench/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from offload_opt.generator import generate
from offload_opt.instance import Instance

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "instances" / "bench"
KNOBS = {
    "S": {"users": 4, "aps": 2, "max_subtasks": 3},
    "M": {"users": 8, "aps": 3, "max_subtasks": 4, "models_per_ap": 2},
    "L": {"users": 30, "aps": 5},
}
S56_USERS = (5, 6)


@pytest.mark.parametrize("name", sorted(KNOBS))
def test_bench_set_is_what_its_recorded_command_makes(name):
    paths = sorted((BENCH / name).glob("*.json"))
    assert [p.stem for p in paths] == [f"{name}-{k:02d}" for k in range(1, 11)]
    for k, path in enumerate(paths, start=1):
        made = generate("default", seed=k, name=path.stem, **KNOBS[name])
        assert made.to_json() == path.read_text(), path.name


def test_s56_set_is_what_its_recorded_command_makes():
    paths = sorted((BENCH / "S56").glob("*.json"))
    expected = [f"S56-{u}u-{k:02d}" for u in S56_USERS for k in range(1, 6)]
    assert [p.stem for p in paths] == expected
    for path in paths:
        users, k = int(path.stem[4]), int(path.stem[-2:])
        made = generate("default", seed=k, name=path.stem, users=users, aps=2, max_subtasks=3)
        assert made.to_json() == path.read_text(), path.name


def test_optima_table_matches_the_committed_instances():
    import csv

    with (BENCH / "optima.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["set"] for r in rows} == {"S", "S56", "M"}
    for r in rows:
        inst = Instance.from_json(ROOT / r["path"])
        assert inst.digest() == r["digest"], r["path"]
        assert float(r["bound"]) >= float(r["objective"]) - 1e-9, r["path"]


def test_v1_sets_still_load_as_schema_1():
    for path in sorted((BENCH / "v1").glob("*/*.json")):
        assert Instance.from_json(path).schema_version == 1, path
