"""802.11ax link budget, PHY rate and MAC efficiency (docs/model.md, "Data flow and transfers").

Pure functions. Every constant defaults to models/wifi.yaml (read on first
use, never at import) and can be overridden by keyword.

- Link: log-distance path loss -> SNR -> highest MCS whose hostap SNR floor is
  met -> HE single-user PHY rate ``N_SD * N_BPSCS * R * nss / (12.8 us + GI)``.
- MAC: Bianchi's (2000) model of DCF. ``mac_efficiency`` is the fraction of
  channel time that carries payload when ``n`` stations contend, each sending
  one A-MPDU (the reference frame of wifi.yaml) per access. With
  ``offered_load`` q < 1 (docs/model.md "WiFi under load") the transferring
  station is backlogged and each of the other n - 1 has a frame queued with
  probability q (the share of time its own traffic keeps it busy), the
  non-saturated extension of Malone, Duffy and Leith (2007); q = 1 is Bianchi's
  saturation and q = 0 the single-station value, exactly.
- Transfer: ``airtime_s = (overhead_s + 8 * bytes / (phy_rate * mac_efficiency)) / (1 - rho)``
  with ``rho`` the channel's background utilisation (airtime taken by traffic
  outside the instance): a transfer progresses only in the idle share 1 - rho.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from fractions import Fraction

from offload_opt.catalogue import load_wifi

BANDWIDTHS_MHZ = (20, 40, 80, 160)
GUARD_INTERVALS_US = (0.8, 1.6, 3.2)
_LINK_KW = frozenset({"pl0_db", "exponent", "d0_m", "noise_figure_db"})


def _w() -> dict:
    return load_wifi()


def _bandwidth(bandwidth_mhz: float) -> int:
    if bandwidth_mhz not in BANDWIDTHS_MHZ:
        raise ValueError(f"bandwidth_mhz: must be one of {BANDWIDTHS_MHZ}, got {bandwidth_mhz!r}")
    return int(bandwidth_mhz)


def _check_kw(kw: dict) -> None:
    unknown = set(kw) - _LINK_KW
    if unknown:
        raise TypeError(f"unexpected keyword(s) {sorted(unknown)}; allowed: {sorted(_LINK_KW)}")


# ---- link budget ------------------------------------------------------------------------------


def noise_floor_dbm(bandwidth_mhz: float, noise_figure_db: float | None = None) -> float:
    """Thermal noise over the channel plus the receiver noise figure: -174 + 10 log10(BW_Hz) + NF."""
    if not bandwidth_mhz > 0:
        raise ValueError(f"bandwidth_mhz: must be > 0, got {bandwidth_mhz!r}")
    prop = _w()["propagation"]
    nf = prop["noise_figure_db"] if noise_figure_db is None else noise_figure_db
    return prop["thermal_noise_dbm_per_hz"] + 10.0 * math.log10(bandwidth_mhz * 1e6) + nf


def path_loss_db(
    distance_m: float, pl0_db: float | None = None, exponent: float | None = None, d0_m: float = 1.0
) -> float:
    """Log-distance path loss ``PL0 + 10 n log10(d / d0)``; closer than ``d0`` counts as ``d0``."""
    if not distance_m >= 0:
        raise ValueError(f"distance_m: must be >= 0, got {distance_m!r}")
    if not d0_m > 0:
        raise ValueError(f"d0_m: must be > 0, got {d0_m!r}")
    prop = _w()["propagation"]
    pl0 = prop["pl0_db"] if pl0_db is None else pl0_db
    n = prop["exponent"] if exponent is None else exponent
    return pl0 + 10.0 * n * math.log10(max(distance_m, d0_m) / d0_m)


def snr_db(tx_power_dbm: float, distance_m: float, bandwidth_mhz: float, **kw: float) -> float:
    """Received SNR (dB); keywords override pl0_db, exponent, d0_m, noise_figure_db."""
    _check_kw(kw)
    loss = path_loss_db(
        distance_m, pl0_db=kw.get("pl0_db"), exponent=kw.get("exponent"), d0_m=kw.get("d0_m", 1.0)
    )
    return tx_power_dbm - loss - noise_floor_dbm(bandwidth_mhz, kw.get("noise_figure_db"))


def mcs_for_snr(snr_db: float, bandwidth_mhz: float) -> int | None:
    """Highest HE-MCS whose hostap SNR floor at this bandwidth is met; None when out of range."""
    floors = _w()["snr_min_db"][_bandwidth(bandwidth_mhz)]
    best = None
    for mcs, floor in enumerate(floors):
        if snr_db >= floor:
            best = mcs
    return best


def he_phy_rate_mbps(mcs: int, bandwidth_mhz: float, nss: int, gi_us: float = 0.8) -> float:
    """HE single-user PHY rate ``N_SD * N_BPSCS * R * nss / (12.8 us + GI)`` in Mb/s."""
    phy = _w()["phy"]
    table = phy["mcs"]
    if not (isinstance(mcs, numbers.Integral) and 0 <= mcs < len(table["n_bpscs"])):
        raise ValueError(f"mcs: must be an integer in 0..{len(table['n_bpscs']) - 1}, got {mcs!r}")
    if not (isinstance(nss, numbers.Integral) and 1 <= nss <= 8):
        raise ValueError(f"nss: must be an integer in 1..8, got {nss!r}")
    if gi_us not in GUARD_INTERVALS_US:
        raise ValueError(f"gi_us: must be one of {GUARD_INTERVALS_US}, got {gi_us!r}")
    n_sd = phy["n_sd"][_bandwidth(bandwidth_mhz)]
    rate = Fraction(table["coding_rate"][mcs])
    bits_per_symbol = n_sd * table["n_bpscs"][mcs] * float(rate) * nss
    return bits_per_symbol / (phy["symbol_us"] + gi_us)


@dataclass(frozen=True)
class LinkBudget:
    """The outcome of a link budget: SNR, the MCS it supports and that MCS's PHY rate."""

    distance_m: float
    snr_db: float
    mcs: int
    phy_rate_mbps: float


def link_budget(
    tx_power_dbm: float, distance_m: float, bandwidth_mhz: float, nss: int, gi_us: float = 0.8, **kw: float
) -> LinkBudget | None:
    """SNR -> MCS -> PHY rate for a transmitter at ``distance_m``; None when even MCS 0 fails."""
    snr = snr_db(tx_power_dbm, distance_m, bandwidth_mhz, **kw)
    mcs = mcs_for_snr(snr, bandwidth_mhz)
    if mcs is None:
        return None
    return LinkBudget(distance_m, snr, mcs, he_phy_rate_mbps(mcs, bandwidth_mhz, nss, gi_us))


# ---- Bianchi DCF saturation model -------------------------------------------------------------


def _tau_of_p(p: float, W: int, m: int) -> float:
    # Bianchi's tau(p) = 2(1-2p) / ((1-2p)(W+1) + pW(1-(2p)^m)), divided through by (1-2p)
    # so that it stays finite at p = 1/2: (1-(2p)^m)/(1-2p) = sum_{k<m} (2p)^k.
    geometric = sum((2.0 * p) ** k for k in range(m))
    return 2.0 / (1.0 + W + p * W * geometric)


def bianchi_tau_p(n_stations: int, W: int, m: int, offered_load: float = 1.0) -> tuple[float, float]:
    """Fixed point (tau, p) of Bianchi's model: transmit and conditional collision probabilities.

    ``p = 1 - (1 - q tau(p))^(n-1)`` has exactly one root in [0, 1) (its left side
    rises with p, the right side falls), found by bisection; n = 1 or q = 0 gives
    p = 0. ``offered_load`` q is the probability that each of the other n - 1
    stations has a frame queued (1: Bianchi's saturation, the default).
    """
    _check_load(offered_load)
    if not (isinstance(n_stations, numbers.Integral) and n_stations >= 1):
        raise ValueError(f"n_stations: must be an integer >= 1, got {n_stations!r}")
    if not (isinstance(W, numbers.Integral) and W >= 2):
        # W = 1 means no backoff at all: every station sends in every slot and p = 1
        raise ValueError(f"W: must be an integer >= 2, got {W!r}")
    if not (isinstance(m, numbers.Integral) and m >= 0):
        raise ValueError(f"m: must be an integer >= 0, got {m!r}")
    n_stations, W, m, q = int(n_stations), int(W), int(m), float(offered_load)
    if n_stations == 1 or q == 0.0:
        return _tau_of_p(0.0, W, m), 0.0
    lo, hi = 0.0, 1.0
    for _ in range(100):
        p = 0.5 * (lo + hi)
        if 1.0 - (1.0 - q * _tau_of_p(p, W, m)) ** (n_stations - 1) > p:
            lo = p
        else:
            hi = p
    p = 0.5 * (lo + hi)
    return _tau_of_p(p, W, m), p


def bianchi_throughput(
    n_stations: int,
    W: int,
    m: int,
    payload_bits: float,
    slot_s: float,
    ts_s: float,
    tc_s: float,
    bit_rate_bps: float,
    offered_load: float = 1.0,
) -> float:
    """Normalised throughput S: the fraction of time the channel carries payload bits.

    ``S = Ps Ptr E[P] / ((1 - Ptr) sigma + Ptr Ps Ts + Ptr (1 - Ps) Tc)`` with E[P] the
    payload's airtime ``payload_bits / bit_rate_bps`` (Bianchi 2000, eq. 13). With
    ``offered_load`` q < 1 one station is backlogged (it sends with probability tau per
    slot) and each of the other n - 1 sends with probability q tau: the slot is idle
    with ``(1 - tau)(1 - q tau)^(n-1)`` and a success with
    ``tau (1 - q tau)^(n-1) + (n-1) q tau (1 - tau)(1 - q tau)^(n-2)``; q = 1 gives
    Bianchi's saturation S(n) and q = 0 the single-station S(1).
    """
    for name, value in (("payload_bits", payload_bits), ("slot_s", slot_s), ("ts_s", ts_s), ("tc_s", tc_s)):
        if not value > 0:
            raise ValueError(f"{name}: must be > 0, got {value!r}")
    if not bit_rate_bps > 0:
        raise ValueError(f"bit_rate_bps: must be > 0, got {bit_rate_bps!r}")
    tau, _ = bianchi_tau_p(n_stations, W, m, offered_load)
    payload_s = payload_bits / bit_rate_bps
    if offered_load == 1.0:  # Bianchi's saturation formula as published
        p_tr = 1.0 - (1.0 - tau) ** n_stations
        p_s = n_stations * tau * (1.0 - tau) ** (n_stations - 1) / p_tr
        mean_slot = (1.0 - p_tr) * slot_s + p_tr * p_s * ts_s + p_tr * (1.0 - p_s) * tc_s
        return p_s * p_tr * payload_s / mean_slot
    others = n_stations - 1
    tau_o = float(offered_load) * tau
    p_idle = (1.0 - tau) * (1.0 - tau_o) ** others
    p_success = tau * (1.0 - tau_o) ** others
    if others:
        p_success += others * tau_o * (1.0 - tau) * (1.0 - tau_o) ** (others - 1)
    p_collision = max(0.0, 1.0 - p_idle - p_success)
    mean_slot = p_idle * slot_s + p_success * ts_s + p_collision * tc_s
    return p_success * payload_s / mean_slot


def bianchi_basic_times_s(
    payload_bits: float,
    mac_header_bits: float,
    phy_header_bits: float,
    ack_bits: float,
    bit_rate_bps: float,
    sifs_s: float,
    difs_s: float,
    prop_delay_s: float,
) -> tuple[float, float]:
    """(Ts, Tc) for basic access: Ts = H+P+SIFS+d+ACK+DIFS+d, Tc = H+P+DIFS+d.

    H is the MAC + PHY header; ``ack_bits`` is the whole ACK frame including its PHY header.
    """
    header_s = (mac_header_bits + phy_header_bits) / bit_rate_bps
    payload_s = payload_bits / bit_rate_bps
    ack_s = ack_bits / bit_rate_bps
    ts = header_s + payload_s + sifs_s + prop_delay_s + ack_s + difs_s + prop_delay_s
    tc = header_s + payload_s + difs_s + prop_delay_s
    return ts, tc


def bianchi_rts_times_s(
    payload_bits: float,
    mac_header_bits: float,
    phy_header_bits: float,
    ack_bits: float,
    rts_bits: float,
    cts_bits: float,
    bit_rate_bps: float,
    sifs_s: float,
    difs_s: float,
    prop_delay_s: float,
) -> tuple[float, float]:
    """(Ts, Tc) for RTS/CTS access: collisions only cost an RTS (control frames include PHY headers)."""
    rts_s, cts_s, ack_s = rts_bits / bit_rate_bps, cts_bits / bit_rate_bps, ack_bits / bit_rate_bps
    data_s = (mac_header_bits + phy_header_bits + payload_bits) / bit_rate_bps
    d = prop_delay_s
    ts = rts_s + sifs_s + d + cts_s + sifs_s + d + data_s + sifs_s + d + ack_s + difs_s + d
    tc = rts_s + difs_s + d
    return ts, tc


def ax_ampdu_times_s(
    phy_rate_mbps: float, gi_us: float = 0.8, n_mpdus: int | None = None, msdu_bytes: int | None = None
) -> tuple[float, float, float]:
    """(Ts, Tc, payload airtime) of one 802.11ax A-MPDU exchange at ``phy_rate_mbps``.

    Ts = AIFS + HE SU preamble + whole data symbols + SIFS + BlockAck; a collision
    is noticed only when the BlockAck fails to arrive, so Tc = Ts. The PSDU
    (MSDUs + per-MPDU overhead + SERVICE/tail bits) is padded to whole symbols.
    """
    if not phy_rate_mbps > 0:
        raise ValueError(f"phy_rate_mbps: must be > 0, got {phy_rate_mbps!r}")
    w = _w()
    phy, mac, ref = w["phy"], w["mac"], w["ampdu_reference"]
    n = ref["n_mpdus"] if n_mpdus is None else n_mpdus
    msdu = ref["msdu_bytes"] if msdu_bytes is None else msdu_bytes
    if not (n >= 1 and msdu > 0):
        raise ValueError(f"n_mpdus, msdu_bytes: must be >= 1 and > 0, got {n!r}, {msdu!r}")
    symbol_us = phy["symbol_us"] + gi_us
    bits_per_symbol = phy_rate_mbps * symbol_us
    psdu_bits = phy["service_tail_bits"] + 8 * n * (msdu + ref["mpdu_overhead_bytes"])
    n_symbols = math.ceil(psdu_bits / bits_per_symbol - 1e-9)
    ts_us = (
        mac["aifs_us"]
        + mac["he_su_preamble_us"]
        + n_symbols * symbol_us
        + mac["sifs_us"]
        + mac["block_ack_us"]
    )
    payload_us = 8 * n * msdu / phy_rate_mbps
    return ts_us * 1e-6, ts_us * 1e-6, payload_us * 1e-6


def mac_efficiency(
    n_stations: int, phy_rate_mbps: float, gi_us: float = 0.8, offered_load: float = 1.0
) -> float:
    """Fraction of channel time carrying payload with ``n_stations`` contenders (0 counts as 1).

    Bianchi's S with the 802.11ax timing and A-MPDU reference frame of wifi.yaml
    (about 0.78, 0.70, 0.64, 0.59 at n = 1, 5, 10, 20 for HE80 MCS9 1SS when
    saturated). ``offered_load`` < 1: the other stations have a frame queued only
    that share of the time (``bianchi_throughput``); v1 instances were generated
    with the saturation default 1.
    """
    if not (isinstance(n_stations, numbers.Integral) and n_stations >= 0):
        raise ValueError(f"n_stations: must be an integer >= 0, got {n_stations!r}")
    _check_load(offered_load)
    mac = _w()["mac"]
    ts_s, tc_s, payload_s = ax_ampdu_times_s(phy_rate_mbps, gi_us)
    bit_rate_bps = phy_rate_mbps * 1e6
    return bianchi_throughput(
        max(n_stations, 1),
        mac["bianchi_W"],
        mac["bianchi_m"],
        payload_s * bit_rate_bps,
        mac["slot_us"] * 1e-6,
        ts_s,
        tc_s,
        bit_rate_bps,
        offered_load,
    )


def _check_load(offered_load: float) -> None:
    if (
        isinstance(offered_load, bool)
        or not isinstance(offered_load, numbers.Real)
        or not 0 <= offered_load <= 1
    ):
        raise ValueError(f"offered_load: must be a number in [0, 1], got {offered_load!r}")


def offered_load_share(busy_s: float, horizon_s: float) -> float:
    """Share of ``horizon_s`` a station's own traffic (``busy_s`` of airtime) keeps it backlogged, capped at 1.

    The probability q that a station has a frame queued when another one contends
    (docs/model.md "WiFi under load"). A station with traffic but no horizon (every
    task released at once) is saturated: q = 1; no traffic gives q = 0.
    """
    if not busy_s >= 0:
        raise ValueError(f"busy_s: must be >= 0, got {busy_s!r}")
    if not horizon_s >= 0:
        raise ValueError(f"horizon_s: must be >= 0, got {horizon_s!r}")
    if busy_s == 0:
        return 0.0
    if horizon_s == 0:
        return 1.0
    return min(1.0, busy_s / horizon_s)


def background_factor(background_utilisation: float) -> float:
    """Stretch ``1 / (1 - rho)`` of a transfer on a channel whose other traffic takes the share ``rho`` of airtime.

    The transfer progresses only while the channel is free of other traffic: the
    available bandwidth is the idle share 1 - rho of the capacity (channel
    busy-fraction estimation, wifi.yaml ``load.background_rule`` with its sources),
    and a job of length x served only when a higher-priority load rho leaves the
    server free completes in x / (1 - rho) on average. rho = 0 gives exactly 1.
    """
    rho = background_utilisation
    if isinstance(rho, bool) or not isinstance(rho, numbers.Real) or not 0 <= rho < 1:
        raise ValueError(f"background_utilisation: must be in [0, 1), got {rho!r}")
    return 1.0 / (1.0 - float(rho))


def airtime_s(
    n_bytes: float,
    phy_rate_mbps: float,
    mac_efficiency: float,
    overhead_s: float | None = None,
    background_utilisation: float = 0.0,
) -> float:
    """Channel time of one transfer: ``(overhead_s + 8 * n_bytes / (phy_rate * mac_efficiency)) / (1 - rho)``.

    ``overhead_s`` defaults to wifi.yaml's per-exchange overhead (channel access, preamble, BlockAck);
    ``background_utilisation`` rho is the share of airtime other traffic takes (``background_factor``;
    0, the v1 meaning, leaves the airtime unchanged to the bit).
    """
    factor = background_factor(background_utilisation)
    if not n_bytes >= 0:
        raise ValueError(f"n_bytes: must be >= 0, got {n_bytes!r}")
    if not phy_rate_mbps > 0:
        raise ValueError(f"phy_rate_mbps: must be > 0, got {phy_rate_mbps!r}")
    if not 0 < mac_efficiency <= 1:
        raise ValueError(f"mac_efficiency: must be in (0, 1], got {mac_efficiency!r}")
    if overhead_s is None:
        overhead_s = _w()["exchange_overhead_s"]
    elif not overhead_s >= 0:
        raise ValueError(f"overhead_s: must be >= 0, got {overhead_s!r}")
    return _airtime_unchecked_s(n_bytes, phy_rate_mbps, mac_efficiency, overhead_s, factor)


def _airtime_unchecked_s(
    n_bytes: float, phy_rate_mbps: float, mac_efficiency: float, overhead_s: float, factor: float
) -> float:
    """``airtime_s``'s formula on inputs already checked (``factor`` from ``background_factor``): the
    fast path of a caller that validated a link once and times many transfers on it."""
    base = overhead_s + 8.0 * n_bytes / (phy_rate_mbps * 1e6 * mac_efficiency)
    return base if factor == 1.0 else base * factor
