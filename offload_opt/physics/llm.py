"""Duration of one LLM op: the only place the compute-time formula lives (docs/model.md)."""

from __future__ import annotations


def compute_time_s(
    in_tokens: float, out_tokens: float, prefill_tps: float, decode_tps: float, setup_s: float
) -> float:
    """``setup_s + in_tokens / prefill_tps + out_tokens / decode_tps`` (batch 1, no queueing).

    Prefill reads the whole input at ``prefill_tps``; decode emits tokens one by
    one at ``decode_tps``; ``setup_s`` is the fixed per-request overhead.
    """
    if not in_tokens >= 0:
        raise ValueError(f"in_tokens: must be >= 0, got {in_tokens!r}")
    if not out_tokens >= 0:
        raise ValueError(f"out_tokens: must be >= 0, got {out_tokens!r}")
    if not prefill_tps > 0:
        raise ValueError(f"prefill_tps: must be > 0, got {prefill_tps!r}")
    if not decode_tps > 0:
        raise ValueError(f"decode_tps: must be > 0, got {decode_tps!r}")
    if not setup_s >= 0:
        raise ValueError(f"setup_s: must be >= 0, got {setup_s!r}")
    return _compute_time_unchecked_s(in_tokens, out_tokens, prefill_tps, decode_tps, setup_s)


def _compute_time_unchecked_s(
    in_tokens: float, out_tokens: float, prefill_tps: float, decode_tps: float, setup_s: float
) -> float:
    """``compute_time_s`` on inputs already checked (the cost tables' fast path: speeds and token
    counts are checked when the instance is built)."""
    return setup_s + in_tokens / prefill_tps + out_tokens / decode_tps


def decode_token_time_s(
    decode_tps: float,
    batch_slope: float,
    streams: int,
    other_weights_gb: tuple[float, ...] = (),
    mem_bandwidth_gbps: float = 1.0,
) -> float:
    """Per-stream time of one decoded token on a GPU running ``streams`` streams at once (s).

    ``(1 / decode_tps) * (1 + batch_slope * (streams - 1))`` is the sourced batching fit
    ``t(B) = t1 + k*B`` written relative to batch 1 (``batch_slope = k / t(1)``, models/
    hardware.yaml). Models on one GPU decode in turns on its memory bandwidth (decode is
    bandwidth bound), so a stream also waits, per token, for one weight read of every *other*
    model that has a stream running: ``weights_gb / mem_bandwidth_gbps``. ``other_weights_gb``
    lists those models' weights; at most ``streams - 1`` of them can be running beside this
    stream, and the heaviest are counted (the slot abstraction's worst case at full batch).
    """
    if not decode_tps > 0:
        raise ValueError(f"decode_tps: must be > 0, got {decode_tps!r}")
    if not batch_slope >= 0:
        raise ValueError(f"batch_slope: must be >= 0, got {batch_slope!r}")
    if not streams >= 1:
        raise ValueError(f"streams: must be >= 1, got {streams!r}")
    if not mem_bandwidth_gbps > 0:
        raise ValueError(f"mem_bandwidth_gbps: must be > 0, got {mem_bandwidth_gbps!r}")
    interleaved = sorted(other_weights_gb, reverse=True)[: streams - 1]
    return (1.0 + batch_slope * (streams - 1)) / decode_tps + sum(interleaved) / mem_bandwidth_gbps


def gpu_op_time_s(
    in_tokens: float,
    out_tokens: float,
    prefill_tps: float,
    decode_token_s: float,
    setup_s: float,
) -> float:
    """An op on a shared GPU: ``setup_s + in_tokens / prefill_tps + out_tokens * decode_token_s``.

    Prefill stays at its batch-1 rate (it is compute bound and short beside decode in these
    workloads); only decode slows with the batch (``decode_token_time_s``).
    """
    return compute_time_s(in_tokens, out_tokens, prefill_tps, 1.0 / decode_token_s, setup_s)


def _gpu_op_time_unchecked_s(
    in_tokens: float, out_tokens: float, prefill_tps: float, decode_token_s: float, setup_s: float
) -> float:
    """``gpu_op_time_s`` on inputs already checked (the cost tables' fast path)."""
    return _compute_time_unchecked_s(in_tokens, out_tokens, prefill_tps, 1.0 / decode_token_s, setup_s)
