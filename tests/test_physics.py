"""Physics layer against published reference numbers.

The reference figures are copied from ../shared/reference/parameters.yaml (key
paths given per table) so that these tests run on a fresh clone without it.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from offload_opt.catalogue import load_catalogue
from offload_opt.physics import wifi
from offload_opt.physics.llm import compute_time_s
from offload_opt.physics.quality import compose_decomposed, difficulty_to_b, p_correct

# parameters.yaml wifi.phy_rates_mbps.he_802_11ax.gi_0.8us (Mb/s, MCS 0..11)
HE_RATES_GI08 = {
    (20, 1): [8.6, 17.2, 25.8, 34.4, 51.6, 68.8, 77.4, 86.0, 103.2, 114.7, 129.0, 143.4],
    (20, 2): [17.2, 34.4, 51.6, 68.8, 103.2, 137.6, 154.9, 172.1, 206.5, 229.4, 258.1, 286.8],
    (40, 1): [17.2, 34.4, 51.6, 68.8, 103.2, 137.6, 154.9, 172.1, 206.5, 229.4, 258.1, 286.8],
    (40, 2): [34.4, 68.8, 103.2, 137.6, 206.5, 275.3, 309.7, 344.1, 412.9, 458.8, 516.2, 573.5],
    (80, 1): [36.0, 72.1, 108.1, 144.1, 216.2, 288.2, 324.3, 360.3, 432.4, 480.4, 540.4, 600.5],
    (80, 2): [72.1, 144.1, 216.2, 288.2, 432.4, 576.5, 648.5, 720.6, 864.7, 960.8, 1080.9, 1201.0],
    (160, 1): [72.1, 144.1, 216.2, 288.2, 432.4, 576.5, 648.5, 720.6, 864.7, 960.8, 1080.9, 1201.0],
    (160, 2): [144.1, 288.2, 432.4, 576.5, 864.7, 1152.9, 1297.1, 1441.2, 1729.4, 1921.6, 2161.8, 2402.0],
}

# parameters.yaml wifi.bianchi_dcf.fhss_original_params (Bianchi 2000, FHSS, 1 Mb/s), in bits and seconds
FHSS = dict(
    payload_bits=8184,
    mac_header_bits=272,
    phy_header_bits=128,
    bit_rate_bps=1e6,
    sifs_s=28e-6,
    difs_s=128e-6,
    prop_delay_s=1e-6,
)
FHSS_SLOT_S = 50e-6
FHSS_ACK_BITS = 112 + 128
FHSS_RTS_BITS = 160 + 128
FHSS_CTS_BITS = 112 + 128

# parameters.yaml wifi.bianchi_dcf.normalized_throughput_fhss: {(W, m, access): {n: S}}
FHSS_THROUGHPUT = {
    (32, 3, "basic"): {1: 0.839, 2: 0.847, 5: 0.81, 10: 0.753, 20: 0.679, 50: 0.553},
    (32, 3, "rts"): {1: 0.791, 2: 0.819, 5: 0.834, 10: 0.837, 20: 0.836, 50: 0.827},
    (32, 5, "basic"): {1: 0.839, 2: 0.847, 5: 0.81, 10: 0.758, 20: 0.698, 50: 0.611},
    (32, 5, "rts"): {1: 0.791, 2: 0.819, 5: 0.834, 10: 0.837, 20: 0.836, 50: 0.832},
    (128, 3, "basic"): {1: 0.673, 2: 0.768, 5: 0.825, 10: 0.826, 20: 0.798, 50: 0.725},
    (128, 3, "rts"): {1: 0.642, 2: 0.732, 5: 0.798, 10: 0.822, 20: 0.833, 50: 0.836},
}
# ... .normalized_throughput_fhss.tau_p_W32_m5: {n: (tau, p)}
TAU_P_W32_M5 = {
    1: (0.0606, 0.0),
    2: (0.057, 0.057),
    5: (0.0478, 0.1781),
    10: (0.0373, 0.2898),
    20: (0.0264, 0.3988),
    50: (0.0154, 0.5324),
}

# parameters.yaml wifi.bianchi_dcf.ax_like_saturation.results: S_norm by n, and Ts (us)
AX_SATURATION = {
    # (mcs, bandwidth, nss): ({n: S_norm}, Ts_us)
    (9, 80, 1): ({1: 0.784, 2: 0.764, 5: 0.699, 10: 0.643, 20: 0.588, 50: 0.513}, 951.6),
    (11, 40, 2): ({1: 0.758, 2: 0.743, 5: 0.681, 10: 0.627, 20: 0.574, 50: 0.501}, 815.6),
}

# parameters.yaml accuracy.irt_model.predicted_per_level (MATH L1..L5)
IRT_PREDICTED = {
    "qwen2.5-0.5b": [0.741, 0.641, 0.412, 0.213, 0.089],
    "qwen2.5-1.5b": [0.898, 0.847, 0.684, 0.456, 0.231],
    "qwen2.5-3b": [0.941, 0.908, 0.795, 0.6, 0.351],
    "qwen2.5-7b": [0.966, 0.946, 0.874, 0.728, 0.491],
    "qwen2.5-14b": [0.975, 0.96, 0.905, 0.786, 0.568],
    "qwen2.5-32b": [0.98, 0.968, 0.923, 0.823, 0.626],
    "qwen2.5-72b": [0.98, 0.968, 0.923, 0.823, 0.626],
    "llama-3.1-8b": [0.881, 0.822, 0.645, 0.413, 0.202],
    "llama-3.1-70b": [0.947, 0.918, 0.814, 0.629, 0.378],
}


# ---- PHY rates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("bw", "nss"), list(HE_RATES_GI08))
def test_he_rate_matches_reference_table(bw, nss):
    for mcs, expected in enumerate(HE_RATES_GI08[(bw, nss)]):
        assert wifi.he_phy_rate_mbps(mcs, bw, nss) == pytest.approx(expected, abs=0.1), (bw, nss, mcs)


def test_he_rate_40mhz_2ss_mcs11():
    assert round(wifi.he_phy_rate_mbps(11, 40, 2), 1) == 573.5


@pytest.mark.parametrize(("gi_us", "scale"), [(1.6, 13.6 / 14.4), (3.2, 13.6 / 16.0)])
def test_he_rate_guard_interval_scaling(gi_us, scale):
    # parameters.yaml he_802_11ax.gi_scaling
    assert wifi.he_phy_rate_mbps(7, 80, 2, gi_us) == pytest.approx(wifi.he_phy_rate_mbps(7, 80, 2) * scale)


@pytest.mark.parametrize(
    "args",
    [
        (12, 40, 1),  # no MCS 12 in HE
        (-1, 40, 1),  # negative MCS
        (7, 30, 1),  # 30 MHz is not an HE bandwidth
        (7, 40, 0),  # at least one spatial stream
        (7.0, 40, 1),  # MCS must be an integer
    ],
)
def test_he_rate_rejects_invalid(args):
    with pytest.raises(ValueError):
        wifi.he_phy_rate_mbps(*args)


def test_he_rate_rejects_unknown_guard_interval():
    with pytest.raises(ValueError, match="gi_us"):
        wifi.he_phy_rate_mbps(7, 40, 1, gi_us=0.4)


# ---- link budget -------------------------------------------------------------------------------


@pytest.mark.parametrize(("bw", "expected"), [(20, -94.0), (40, -91.0), (80, -88.0)])
def test_noise_floor(bw, expected):
    # parameters.yaml wifi.propagation.noise_floor_dbm.values (rounded to 1 dB there)
    assert wifi.noise_floor_dbm(bw) == pytest.approx(expected, abs=0.05)


def test_noise_floor_override():
    assert wifi.noise_floor_dbm(20, noise_figure_db=0.0) == pytest.approx(-174 + 73.0103, abs=1e-3)


@pytest.mark.parametrize(("d", "expected"), [(5, 67.6), (15, 82.0), (30, 91.0)])
def test_path_loss_example(d, expected):
    # parameters.yaml wifi.propagation.example_link_budget
    assert wifi.path_loss_db(d) == pytest.approx(expected, abs=0.05)


def test_path_loss_inside_reference_distance_is_pl0():
    assert wifi.path_loss_db(0.0) == wifi.path_loss_db(0.5) == pytest.approx(46.6777)
    assert wifi.path_loss_db(10, exponent=2.0) == pytest.approx(46.6777 + 20.0)


@pytest.mark.parametrize(("d", "snr", "mcs"), [(5, 43.0, 11), (15, 29.0, 7), (30, 20.0, 4)])
def test_link_budget_example(d, snr, mcs):
    # parameters.yaml example_link_budget: AP 20 dBm, exponent 3, 40 MHz
    lb = wifi.link_budget(20.0, d, 40, 2)
    assert lb is not None
    assert lb.snr_db == pytest.approx(snr, abs=0.5)
    assert lb.mcs == mcs
    assert lb.phy_rate_mbps == pytest.approx(HE_RATES_GI08[(40, 2)][mcs], abs=0.1)


def test_link_budget_out_of_range_is_none():
    assert wifi.link_budget(16.02, 500.0, 40, 1) is None


def test_link_budget_rejects_unknown_keyword():
    with pytest.raises(TypeError):
        wifi.link_budget(20.0, 5.0, 40, 1, shadowing_db=3.0)


def test_mcs_for_snr_uses_hostap_floors():
    # he40 floors: [5, 8, 12, 14, 18, 21, 23, 28, 32, 34, 37, 39]
    assert wifi.mcs_for_snr(4.99, 40) is None
    assert wifi.mcs_for_snr(5.0, 40) == 0
    assert wifi.mcs_for_snr(27.9, 40) == 6
    assert wifi.mcs_for_snr(28.0, 40) == 7
    assert wifi.mcs_for_snr(100.0, 40) == 11
    assert wifi.mcs_for_snr(28.0, 80) == 6  # wider channel, +3 dB floors


@given(st.floats(min_value=0.0, max_value=300.0), st.floats(min_value=0.0, max_value=300.0))
def test_rate_never_increases_with_distance(d1, d2):
    near, far = sorted((d1, d2))
    lb_near, lb_far = wifi.link_budget(20.0, near, 40, 2), wifi.link_budget(20.0, far, 40, 2)
    if lb_far is not None:
        assert lb_near is not None and lb_near.phy_rate_mbps >= lb_far.phy_rate_mbps


# ---- Bianchi ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("W", "m", "access"), list(FHSS_THROUGHPUT))
def test_bianchi_fhss_throughput(W, m, access):
    if access == "basic":
        ts, tc = wifi.bianchi_basic_times_s(ack_bits=FHSS_ACK_BITS, **FHSS)
    else:
        ts, tc = wifi.bianchi_rts_times_s(
            ack_bits=FHSS_ACK_BITS, rts_bits=FHSS_RTS_BITS, cts_bits=FHSS_CTS_BITS, **FHSS
        )
    for n, expected in FHSS_THROUGHPUT[(W, m, access)].items():
        s = wifi.bianchi_throughput(n, W, m, FHSS["payload_bits"], FHSS_SLOT_S, ts, tc, FHSS["bit_rate_bps"])
        assert s == pytest.approx(expected, rel=0.01), (W, m, access, n)


@pytest.mark.parametrize(("n", "expected"), [(5, 0.81), (10, 0.753), (20, 0.679)])
def test_bianchi_fhss_basic_w32_m3(n, expected):
    ts, tc = wifi.bianchi_basic_times_s(ack_bits=FHSS_ACK_BITS, **FHSS)
    s = wifi.bianchi_throughput(n, 32, 3, FHSS["payload_bits"], FHSS_SLOT_S, ts, tc, FHSS["bit_rate_bps"])
    assert s == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize(("n", "expected"), list(TAU_P_W32_M5.items()))
def test_bianchi_tau_p_table(n, expected):
    tau, p = wifi.bianchi_tau_p(n, 32, 5)
    assert tau == pytest.approx(expected[0], abs=6e-4)
    assert p == pytest.approx(expected[1], abs=6e-4)


@given(st.integers(2, 200), st.integers(2, 1024), st.integers(0, 10))
def test_bianchi_fixed_point_is_consistent(n, W, m):
    tau, p = wifi.bianchi_tau_p(n, W, m)
    assert 0 < tau <= 1 and 0 <= p <= 1  # p may round to 1.0 when collisions are near certain
    assert p == pytest.approx(1 - (1 - tau) ** (n - 1), abs=1e-9)
    # tau from Bianchi's original form (away from the removable singularity at p = 1/2)
    if abs(1 - 2 * p) > 1e-6:
        original = 2 * (1 - 2 * p) / ((1 - 2 * p) * (W + 1) + p * W * (1 - (2 * p) ** m))
        assert tau == pytest.approx(original, rel=1e-9)


def test_bianchi_collisions_grow_with_stations():
    ps = [wifi.bianchi_tau_p(n, 16, 6)[1] for n in (1, 2, 5, 10, 20, 50)]
    assert ps[0] == 0.0
    assert all(a < b for a, b in zip(ps, ps[1:], strict=False))


@pytest.mark.parametrize("n", [0, -1, 2.5])
def test_bianchi_rejects_bad_station_count(n):
    with pytest.raises(ValueError, match="n_stations"):
        wifi.bianchi_tau_p(n, 16, 6)


def test_bianchi_rejects_window_without_backoff():
    with pytest.raises(ValueError, match="W"):
        wifi.bianchi_tau_p(2, 1, 0)


# ---- 802.11ax MAC efficiency -------------------------------------------------------------------


@pytest.mark.parametrize("key", list(AX_SATURATION))
def test_ax_ampdu_exchange_time(key):
    mcs, bw, nss = key
    ts, tc, _ = wifi.ax_ampdu_times_s(wifi.he_phy_rate_mbps(mcs, bw, nss))
    assert ts * 1e6 == pytest.approx(AX_SATURATION[key][1], abs=0.05)
    assert tc == ts


def test_ax_single_mpdu_exchange_time():
    # parameters.yaml ax_like_saturation HE20_MCS7_1SS_1500B: Ts 271.6 us, payload airtime 139.5 us
    ts, _, payload = wifi.ax_ampdu_times_s(wifi.he_phy_rate_mbps(7, 20, 1), n_mpdus=1, msdu_bytes=1500)
    assert ts * 1e6 == pytest.approx(271.6, abs=0.05)
    assert payload * 1e6 == pytest.approx(139.5, abs=0.05)


@pytest.mark.parametrize("key", list(AX_SATURATION))
def test_mac_efficiency_matches_ax_saturation_table(key):
    mcs, bw, nss = key
    rate = wifi.he_phy_rate_mbps(mcs, bw, nss)
    for n, expected in AX_SATURATION[key][0].items():
        assert wifi.mac_efficiency(n, rate) == pytest.approx(expected, rel=0.01), (key, n)


@pytest.mark.parametrize(("n", "expected"), [(1, 0.784), (5, 0.699), (10, 0.643), (20, 0.588)])
def test_mac_efficiency_he80_mcs9(n, expected):
    assert wifi.mac_efficiency(n, wifi.he_phy_rate_mbps(9, 80, 1)) == pytest.approx(expected, rel=0.01)


def test_mac_efficiency_zero_stations_counts_as_one():
    rate = wifi.he_phy_rate_mbps(7, 40, 1)
    assert wifi.mac_efficiency(0, rate) == wifi.mac_efficiency(1, rate)


@given(st.sampled_from([(m, bw, nss) for m in range(12) for bw in (20, 40, 80, 160) for nss in (1, 2)]))
def test_mac_efficiency_in_unit_interval_and_falls_with_contention(link):
    rate = wifi.he_phy_rate_mbps(*link)
    effs = [wifi.mac_efficiency(n, rate) for n in (1, 2, 5, 10, 20, 50)]
    assert all(0 < e < 1 for e in effs)
    assert all(a > b for a, b in zip(effs[1:], effs[2:], strict=False))  # n=1 -> 2 may rise (Bianchi)


# ---- airtime -----------------------------------------------------------------------------------


def test_airtime_formula():
    assert wifi.airtime_s(1000, 100.0, 0.5, overhead_s=1e-4) == pytest.approx(1e-4 + 8000 / 50e6)
    assert wifi.airtime_s(0, 100.0, 0.5, overhead_s=0.0) == 0.0


def test_airtime_default_overhead_is_one_short_exchange():
    # AIFS 34 + 7.5 slots x 9 + preamble 40 + SIFS 16 + BlockAck 32 = 189.5 us (models/wifi.yaml)
    assert wifi.airtime_s(0, 100.0, 0.7) == pytest.approx(189.5e-6)


@pytest.mark.parametrize(
    "args",
    [
        (-1, 100.0, 0.5),  # negative size
        (100, 0.0, 0.5),  # no rate
        (100, 100.0, 0.0),  # zero efficiency
        (100, 100.0, 1.5),  # efficiency above 1
    ],
)
def test_airtime_rejects_invalid(args):
    with pytest.raises(ValueError):
        wifi.airtime_s(*args)


# ---- LLM compute time --------------------------------------------------------------------------


def test_compute_time_formula():
    assert compute_time_s(100, 50, 1000.0, 25.0, 0.02) == pytest.approx(0.02 + 0.1 + 2.0)
    assert compute_time_s(0, 0, 1.0, 1.0, 0.0) == 0.0


@pytest.mark.parametrize(
    "args",
    [
        (-1, 10, 100.0, 10.0, 0.0),  # negative input tokens
        (10, -1, 100.0, 10.0, 0.0),  # negative output tokens
        (10, 10, 0.0, 10.0, 0.0),  # zero prefill speed
        (10, 10, 100.0, 0.0, 0.0),  # zero decode speed
        (10, 10, 100.0, 10.0, -0.1),  # negative setup
        (10, 10, math.nan, 10.0, 0.0),  # NaN speed
    ],
)
def test_compute_time_rejects_invalid(args):
    with pytest.raises(ValueError):
        compute_time_s(*args)


# ---- quality (IRT) -----------------------------------------------------------------------------


def test_p_correct_reproduces_reference_table():
    cat = load_catalogue()
    for model, expected in IRT_PREDICTED.items():
        theta = cat.models[model].theta
        for level, q in enumerate(expected, start=1):
            got = p_correct(theta, float(level), cat.quality.a, cat.quality.b_levels)
            assert got == pytest.approx(q, abs=0.005), (model, level)


def test_difficulty_to_b_is_piecewise_linear():
    b = (-1.0, 0.0, 2.0, 3.0, 7.0)
    assert [difficulty_to_b(d, b) for d in (1, 2, 3, 4, 5)] == list(b)
    assert difficulty_to_b(2.5, b) == pytest.approx(1.0)
    assert difficulty_to_b(4.75, b) == pytest.approx(6.0)


@pytest.mark.parametrize("d", [0.99, 5.01, math.nan])
def test_difficulty_outside_scale_rejected(d):
    with pytest.raises(ValueError, match="difficulty"):
        difficulty_to_b(d, (-1.0, 0.0, 1.0, 2.0, 3.0))


@given(
    st.floats(-3, 3),
    st.floats(-3, 3),
    st.floats(1, 5),
    st.floats(1, 5),
)
def test_p_correct_monotone(theta1, theta2, d1, d2):
    cat = load_catalogue()
    a, b = cat.quality.a, cat.quality.b_levels
    lo_t, hi_t = sorted((theta1, theta2))
    easy, hard = sorted((d1, d2))
    assert p_correct(hi_t, easy, a, b) >= p_correct(lo_t, easy, a, b)
    assert p_correct(hi_t, easy, a, b) >= p_correct(hi_t, hard, a, b)
    assert 0 < p_correct(lo_t, hard, a, b) < 1


def test_compose_decomposed_is_product():
    assert compose_decomposed(0.9, [0.8, 0.5]) == pytest.approx(0.36)
    assert compose_decomposed(0.7, []) == 0.7


@pytest.mark.parametrize(("q_agg", "subs"), [(1.2, [0.5]), (0.5, [0.5, -0.1]), (0.5, [math.nan])])
def test_compose_decomposed_rejects_non_probabilities(q_agg, subs):
    with pytest.raises(ValueError):
        compose_decomposed(q_agg, subs)
