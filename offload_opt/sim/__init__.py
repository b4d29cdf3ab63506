"""Simulation over time: arrivals, decision epochs, execution on actual values, load curves."""

from offload_opt.sim.engine import EpochRule, SimResult, queue_lengths, simulate, summarise

__all__ = ["EpochRule", "SimResult", "queue_lengths", "simulate", "summarise"]
