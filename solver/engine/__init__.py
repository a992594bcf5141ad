"""The engine: orchestrates formulation, backends, searches and certificates into a result.

dispatch        solve, certify_and_compare, validate_for_problem
run             one solve's model, backend, clock, events and row generation
starts          starting masks (greedy, single-weight search, heuristics)
objectives      min_error, min_kept and pareto on a run
cross_check     a second backend's answer compared
heuristic_mode  parameters.heuristic: a heuristic's mask instead of a solve
box_optimize    parameters.continuous = optimize: cutting planes over the box
interrupt       solve_interruptibly (Ctrl-C for local solves)
"""

from solver.engine.dispatch import certify_and_compare, solve, validate_for_problem
from solver.engine.interrupt import solve_interruptibly

__all__ = ["certify_and_compare", "solve", "solve_interruptibly", "validate_for_problem"]
