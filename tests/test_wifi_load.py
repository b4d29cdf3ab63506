"""WiFi under real load (docs/model.md "WiFi under load"): offered-load contention, background
utilisation, the camera scenario where the air matters, and where latency goes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from offload_opt.catalogue import load_catalogue
from offload_opt.cli import main
from offload_opt.costs import build_costs
from offload_opt.generator import SCENARIOS, Scenario, generate
from offload_opt.instance import Channel, Instance
from offload_opt.physics import wifi
from offload_opt.report import latency_shares
from offload_opt.solvers.base import solve

ROOT = Path(__file__).resolve().parent.parent
V1_FILES = sorted((ROOT / "instances" / "bench" / "v1").glob("*/*.json"))


# ---- the contention rule -----------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5, 10, 20, 50])
@pytest.mark.parametrize("rate", [86.0, 172.1, 480.4])
def test_offered_contention_at_full_load_is_bianchi_saturation(n, rate):
    """q = 1: every other station always has a frame queued, which is Bianchi's saturation."""
    assert wifi.mac_efficiency(n, rate, offered_load=1.0) == wifi.mac_efficiency(n, rate)
    # the general (non-saturated) formula, not only its saturation branch, tends to the same value
    assert wifi.mac_efficiency(n, rate, offered_load=1 - 1e-12) == pytest.approx(
        wifi.mac_efficiency(n, rate), rel=1e-9
    )


@pytest.mark.parametrize("n", [1, 2, 5, 12, 50])
def test_offered_contention_without_other_traffic_is_the_single_station_value(n):
    """q = 0: nobody else contends, so n stations in range cost nothing: S(1)."""
    assert wifi.mac_efficiency(n, 172.1, offered_load=0.0) == wifi.mac_efficiency(1, 172.1)


def test_offered_contention_falls_with_load_between_the_two_limits():
    rate = 480.4
    qs = [0.0, 0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 1.0]
    effs = [wifi.mac_efficiency(10, rate, offered_load=q) for q in qs]
    assert all(a > b for a, b in zip(effs, effs[1:], strict=False))
    assert effs[0] == wifi.mac_efficiency(1, rate) and effs[-1] == wifi.mac_efficiency(10, rate)
    # the saturation reference table of parameters.yaml (HE80 MCS9 1SS A-MPDU) at q = 1
    assert effs[-1] == pytest.approx(0.643, abs=5e-4)
    # a lightly loaded channel (each station busy 1 % of the time) is within 1 % of a lone station
    assert effs[2] == pytest.approx(effs[0], rel=0.01)


def test_offered_load_share():
    assert wifi.offered_load_share(0.0, 2.0) == 0.0
    assert wifi.offered_load_share(0.5, 2.0) == 0.25
    assert wifi.offered_load_share(3.0, 2.0) == 1.0  # more traffic than time: saturated
    assert wifi.offered_load_share(0.1, 0.0) == 1.0  # everything released at once: saturated
    for bad in (-1.0, math.nan):
        with pytest.raises(ValueError, match="busy_s"):
            wifi.offered_load_share(bad, 1.0)
    for bad in (-0.1, 1.1, math.nan):
        with pytest.raises(ValueError, match="offered_load"):
            wifi.mac_efficiency(3, 172.1, offered_load=bad)


def test_generator_contention_rules():
    """Offered-load efficiency is never below saturation; with every task released at once
    (no horizon) each station with traffic is saturated and the two rules agree."""
    for seed in range(3):
        offered = generate("default", seed=seed)
        saturated = generate("default", seed=seed, contention="saturation")
        for a, b in zip(offered.channels, saturated.channels, strict=True):
            assert a.n_stations == b.n_stations
            assert a.mac_efficiency >= b.mac_efficiency
        burst = generate("default", seed=seed, release_window_s=0.0)
        burst_sat = generate("default", seed=seed, release_window_s=0.0, contention="saturation")
        assert [c.mac_efficiency for c in burst.channels] == [c.mac_efficiency for c in burst_sat.channels]
    # the default scenario's load is light: its efficiency is about the lone station's, ~25 % above saturation
    inst = generate("default", seed=0)
    sat = generate("default", seed=0, contention="saturation")
    gains = [a.mac_efficiency / b.mac_efficiency for a, b in zip(inst.channels, sat.channels, strict=True)]
    assert all(1.1 < g < 1.5 for g in gains), gains


# ---- background utilisation ----------------------------------------------------------------------


@pytest.mark.parametrize("rho", [0.1, 0.3, 0.5, 0.9])
def test_background_divides_airtime_by_the_idle_share(rho):
    base = wifi.airtime_s(300_000, 143.4, 0.85, 1.895e-4)
    got = wifi.airtime_s(300_000, 143.4, 0.85, 1.895e-4, background_utilisation=rho)
    assert got == pytest.approx(base / (1 - rho), rel=1e-12)
    assert wifi.background_factor(rho) == pytest.approx(1 / (1 - rho), rel=1e-15)


def test_zero_background_is_the_v1_airtime_to_the_bit():
    for n_bytes, rate, eff in [(0, 8.6, 0.3), (1234, 286.8, 0.892), (5_000_000, 1201.0, 0.5)]:
        v1 = 1.895e-4 + 8.0 * n_bytes / (rate * 1e6 * eff)
        assert wifi.airtime_s(n_bytes, rate, eff, 1.895e-4) == v1
        assert wifi.airtime_s(n_bytes, rate, eff, 1.895e-4, background_utilisation=0.0) == v1


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, math.nan, math.inf])
def test_background_outside_unit_interval_is_rejected(bad):
    with pytest.raises(ValueError, match=r"background_utilisation: must be in \[0, 1\)"):
        wifi.background_factor(bad)
    with pytest.raises(ValueError, match=r"background_utilisation: must be in \[0, 1\)"):
        Channel(36, 20, 3, 0.8, bad)
    with pytest.raises(ValueError, match="background_utilisation"):
        Scenario(background_utilisation=bad)


def test_background_raises_the_cost_tables_airtime():
    inst = generate("default", seed=3)
    busy = inst.replace(
        channels=tuple(
            Channel(c.id, c.bandwidth_mhz, c.n_stations, c.mac_efficiency, 0.4) for c in inst.channels
        )
    )
    a, b = build_costs(inst), build_costs(busy)
    checked = 0
    for t, tc in zip(inst.tasks, a.tasks, strict=True):
        for ln in inst.links_of_user[t.user].values():
            for mode in tc.modes:
                for f in mode.flows:
                    src, dst = f"user:{t.user}", f"ap:{ln.ap}"
                    x, y = a.transfer(f, src, dst), b.transfer(f, src, dst)
                    assert y.duration_s == pytest.approx(x.duration_s / 0.6, rel=1e-12)
                    assert y.channel == x.channel
                    checked += 1
    assert checked > 0


def test_cli_rejects_background_of_one(tmp_path, capsys):
    path = tmp_path / "i.json"
    assert main(["generate", "--seed", "1", "-o", str(path)]) == 0
    data = json.loads(path.read_text())
    data["channels"][0]["background_utilisation"] = 1.0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["show", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "background_utilisation" in err and "1.0" in err, err
    out = tmp_path / "never.json"
    assert main(["generate", "--background-utilisation", "1", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "background_utilisation" in err, err
    assert not out.exists()


# ---- version-1 files ---------------------------------------------------------------------------


@pytest.mark.skipif(not V1_FILES, reason="no v1 benchmark files")
def test_v1_files_give_the_v1_airtimes():
    """A v1 file has no background: every user-AP transfer costs the v1 formula exactly."""
    for path in V1_FILES[:6]:
        inst = Instance.from_json(path)
        assert inst.schema_version == 1
        assert all(c.background_utilisation == 0.0 for c in inst.channels)
        assert "background_utilisation" not in inst.to_json()
        costs = build_costs(inst)
        physics = inst.physics
        assert physics is not None
        n = 0
        for t, tc in zip(inst.tasks, costs.tasks, strict=True):
            for ln in inst.links_of_user[t.user].values():
                eff = inst.channel_by_id[inst.ap_by_id[ln.ap].channel].mac_efficiency
                for mode in tc.modes:
                    for f in mode.flows:
                        got = costs.transfer(f, f"user:{t.user}", f"ap:{ln.ap}").duration_s
                        v1 = physics.airtime_overhead_s + 8.0 * f.size / (ln.phy_rate_mbps * 1e6 * eff)
                        assert got == v1
                        n += 1
        assert n > 0, path


# ---- the camera scenario ------------------------------------------------------------------------


def test_camera_scenario_figures_come_from_the_catalogue():
    load = load_catalogue().wifi["load"]
    sc = SCENARIOS["camera"]
    assert sc.background_utilisation == load["busy_channel_utilisation"]
    assert sc.bandwidth_mhz == 20 and sc.channel_plan == "co-channel" and sc.payload_mix == "image=1"
    lo, hi = load["jpeg_frame_bytes_1080p"]
    frames = load["video_llm_frames_per_clip"]
    inst = generate("camera", seed=0)
    assert len(inst.channels) == 1 and inst.channels[0].background_utilisation == 0.5
    assert all(
        t.payload_kind == "image" and frames * lo <= t.payload_bytes <= frames * hi for t in inst.tasks
    )
    one = generate("camera", seed=0, image_source="jpeg-1080p")
    assert all(lo <= t.payload_bytes <= hi for t in one.tasks)


def test_camera_scenario_air_is_a_material_share_of_latency():
    """Measured (alns seed 0, instance seeds 0-9): air 2.6-4.7 % of the summed critical-path latency
    and waiting for the channel 10.6-35.4 % (seeds 0, 1, 2: air 3.0 / 3.9 / 2.8 %, channel wait
    20.7 / 27.9 / 15.2 %); in the default scenario air is 0.1-0.2 % and channel waiting 0.0 %.
    The floors below sit well under those figures."""
    for seed in range(3):
        cam = solve(generate("camera", seed=seed), "alns", seed=0)
        assert cam.evaluation is not None and cam.evaluation.feasible
        sh = latency_shares(cam.evaluation)
        assert sh is not None
        assert sh.air + sh.queue + sh.compute + sh.backhaul == pytest.approx(1.0, abs=1e-12)
        assert sh.air > 0.01, sh
        assert sh.air + sh.channel_queue > 0.10, sh
        base = solve(generate("default", seed=seed), "alns", seed=0)
        assert base.evaluation is not None
        bsh = latency_shares(base.evaluation)
        assert bsh is not None and sh.air + sh.channel_queue > 10 * (bsh.air + bsh.channel_queue)


# ---- where latency goes -------------------------------------------------------------------------


def test_latency_shares_follow_the_evaluators_breakdown():
    res = solve(generate("camera", seed=4), "greedy")
    ev = res.evaluation
    assert ev is not None and ev.tasks
    sh = latency_shares(ev)
    assert sh is not None
    total = sum(t.latency_s for t in ev.tasks)
    assert sh.total_latency_s == pytest.approx(total, rel=1e-9)
    assert sh.air == pytest.approx(sum(t.airtime_s for t in ev.tasks) / total, rel=1e-9)
    assert sh.compute == pytest.approx(sum(t.compute_s + t.aggregation_s for t in ev.tasks) / total, rel=1e-9)
    assert 0 <= sh.channel_queue <= sh.queue
    assert all(0 <= t.channel_queue_s <= t.queue_s + 1e-12 for t in ev.tasks)


def test_solve_and_show_print_the_shares(tmp_path, capsys):
    inst, sol = tmp_path / "c.json", tmp_path / "c.sol.json"
    assert main(["generate", "--scenario", "camera", "--seed", "1", "-o", str(inst)]) == 0
    capsys.readouterr()
    assert main(["solve", str(inst), "--solver", "greedy", "-o", str(sol)]) == 0
    out = capsys.readouterr().out
    assert "latency on critical paths: air " in out and "for the channel" in out and "compute" in out
    assert main(["show", str(inst), "--solution", str(sol)]) == 0
    out = capsys.readouterr().out
    assert "channels (1)" in out and "background" in out and "latency on critical paths: air " in out
    assert main(["solve", str(inst), "--solver", "greedy", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    shares = data["latency_shares"]
    assert set(shares) >= {"air", "queue", "channel_queue", "compute", "backhaul"}
    assert sum(shares[k] for k in ("air", "queue", "compute", "backhaul")) == pytest.approx(1.0)
