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
    return setup_s + in_tokens / prefill_tps + out_tokens / decode_tps
