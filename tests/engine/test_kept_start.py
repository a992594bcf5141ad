"""min_kept's start on trained-like networks (weights mode, biases): the quick heuristics' mask
joins greedy forward selection, and a solve whose time runs out returns its start when that
meets max_error, never the full network (bench/real.py found min_kept at n = 32 returning all
224 weights)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from solver.core.parameters import SolveParameters
from solver.core.problem import MinKept, Network, PointSet, Problem, PruningMode
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.engine.kept import kept_start
from solver.engine.run import Run
from solver.engine.starts import magnitude_mask
from solver.exact.certify import certify_mask


def _trained_like(n: int, d: int, points: int, seed: int) -> Problem:
    """A network with biases whose target is itself on Gaussian points, min_kept at the exact
    error of magnitude pruning at half the weights (a threshold some mask is known to meet)."""
    rng = np.random.default_rng(seed)
    network = Network(
        hidden_weights=rng.standard_normal((n, d)) / np.sqrt(d),
        output_weights=rng.standard_normal(n),
        hidden_biases=rng.standard_normal(n) * 0.5,
        output_bias=0.3,
    )
    domain = PointSet(rng.standard_normal((points, d)))
    full = Problem(network, network, domain, PruningMode.WEIGHTS, MinKept(max_error=0.0))
    half = magnitude_mask(full, n * (d + 1) // 2)
    threshold = certify_mask(full, half).error_upper
    return Problem(network, network, domain, PruningMode.WEIGHTS, MinKept(max_error=threshold))


def test_the_start_meets_max_error_and_keeps_no_more_than_greedy():
    problem = _trained_like(8, 4, 40, seed=3)
    eps = Fraction(problem.objective.max_error)
    run = Run(problem, SolveParameters(heuristic_start=True), None, None)
    start = kept_start(run, eps)
    assert certify_mask(problem, run.model.mask(start)).error <= eps
    off = Run(problem, SolveParameters(heuristic_start=False), None, None)
    greedy = kept_start(off, eps)  # greedy forward selection alone
    if certify_mask(problem, off.model.mask(greedy)).error <= eps:
        assert run.model.kept(start) <= off.model.kept(greedy)


def test_a_solve_out_of_time_returns_a_mask_within_max_error_sparser_than_the_network():
    problem = _trained_like(24, 10, 120, seed=5)
    result = solve(problem, SolveParameters(time_limit_seconds=4.0))
    assert result.status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)
    cert = certify_mask(problem, result.solution.mask)  # re-checked here, exactly
    assert cert.error <= Fraction(problem.objective.max_error)
    assert result.solution.kept < problem.max_kept_possible()
