"""Experiments: optimality gaps, tradeoff frontiers, the paper's comparison, planner study."""
