"""Networks with k > 1 outputs (docs/design.md §1): every objective, both pruning modes and several
backends against the independent brute force (tests/support/reference.py), which enumerates
every mask and evaluates every output in Fractions. The error is the max over outputs and points;
in weights mode a unit with no kept output weight is dead."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest

from solver.backends import available_backends
from solver.core.errors import InvalidProblemError
from solver.core.parameters import SolveParameters
from solver.core.problem import (
    Activation,
    BoxGrid,
    Mask,
    MinError,
    MinKept,
    Network,
    Pareto,
    Problem,
    PruningMode,
    Samples,
)
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.exact.certify import certify_mask
from solver.search.heuristics import HEURISTICS
from tests.support.problems import random_multi_output_problem
from tests.support.reference import exact_error, kept, table

TOL = Fraction(1, 10**6)
MODES = [PruningMode.NEURONS, PruningMode.WEIGHTS]
BACKENDS = [b for b in ("cpsat", "highs", "scip", "cbc") if b in available_backends()]


def check_min_error(problem: Problem, backend: str, max_kept: int | None = None) -> None:
    problem = dataclasses.replace(problem, objective=MinError(max_kept=max_kept))
    ref = table(problem)
    result = solve(problem, SolveParameters(backend=backend))
    assert result.status == SolveStatus.OPTIMAL, result.detail
    sol = result.solution
    true_error = exact_error(problem, sol.mask)
    assert true_error <= Fraction(sol.error) <= true_error + Fraction(1, 10**15)
    assert sol.kept == kept(sol.mask)
    if max_kept is not None:
        assert sol.kept <= max_kept
    opt = ref.min_error(max_kept)
    assert Fraction(result.objective_bound) <= opt <= true_error
    assert true_error - opt <= TOL


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(6))
def test_min_error_matches_brute_force(backend, mode, seed):
    rng = np.random.default_rng(seed)
    problem = random_multi_output_problem(rng, mode)
    assert problem.network.outputs > 1
    check_min_error(problem, backend)
    check_min_error(problem, backend, int(rng.integers(0, problem.max_kept_possible() + 1)))


@pytest.mark.parametrize("backend", BACKENDS[:2])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(6))
def test_min_kept_matches_brute_force(backend, mode, seed):
    rng = np.random.default_rng(100 + seed)
    problem = random_multi_output_problem(rng, mode)
    ref = table(problem)
    errors = sorted({e for _, e, _ in ref.entries})
    choices = [(a + b) / 2 for a, b in zip(errors, errors[1:], strict=False)] + [errors[-1] + 1]
    eps = choices[int(rng.integers(0, len(choices)))]
    for max_error in (float(eps), float(errors[0]) / 2 if errors[0] > 0 else None):
        if max_error is None:
            continue
        p = dataclasses.replace(problem, objective=MinKept(max_error=max_error))
        want = ref.min_kept(Fraction(max_error))
        result = solve(p, SolveParameters(backend=backend))
        if want is None:
            assert result.status == SolveStatus.INFEASIBLE, result.detail
            continue
        assert result.status == SolveStatus.OPTIMAL, result.detail
        assert result.solution.kept == want
        assert exact_error(p, result.solution.mask) <= Fraction(max_error)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(5))
def test_pareto_matches_brute_force(mode, seed):
    rng = np.random.default_rng(200 + seed)
    p = dataclasses.replace(random_multi_output_problem(rng, mode), objective=Pareto())
    want = table(p).frontier()
    result = solve(p)
    assert result.status == SolveStatus.OPTIMAL, result.detail
    got = [(pt.kept, pt.error) for pt in result.frontier]
    assert all(a[0] < b[0] and a[1] > b[1] for a, b in zip(got, got[1:], strict=False))
    for pt in result.frontier:
        true = exact_error(p, pt.mask)
        assert kept(pt.mask) == pt.kept
        best_at = min(e for k, e in want if k <= pt.kept)
        assert best_at <= true <= best_at + TOL
    for k, e in want:
        assert any(kk <= k and Fraction(ee) <= e + TOL for kk, ee in got), (k, e, got)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(4))
def test_heuristics_return_certified_masks(mode, seed):
    """Every heuristic handles k outputs: its mask's stated error is the brute force's."""
    rng = np.random.default_rng(300 + seed)
    problem = random_multi_output_problem(rng, mode)
    optimum = table(problem).min_error()
    for name in HEURISTICS:
        result = solve(problem, SolveParameters(heuristic=name, seed=1))
        assert result.solution is not None, name
        true = exact_error(problem, result.solution.mask)
        assert true <= Fraction(result.solution.error) <= true + Fraction(1, 10**15), name
        assert result.solution.kept == kept(result.solution.mask), name
        assert true >= optimum


def two_output_problem(pruning: PruningMode) -> Problem:
    """Output 0 needs unit 0, output 1 needs unit 1; unit 2 only hurts output 1."""
    network = Network(
        hidden_weights=np.array([[1.0], [-1.0], [0.5]]),
        output_weights=np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 1.0]]),
        output_bias=np.array([0.0, 0.25]),
    )
    points = np.array([[-1.0], [0.5], [1.0]])
    values = network.evaluate(points, Mask(neurons=np.array([True, True, False])))
    return Problem(network, Samples(points, values), None, pruning, MinError())


def test_dead_unit_and_output_weights_in_weights_mode():
    """Weights mode keeps or drops each output weight; a unit keeping none is dead, its hidden
    weights are not counted; neurons mode keeps a unit with all its output weights."""
    problem = two_output_problem(PruningMode.WEIGHTS)
    result = solve(problem)
    assert result.status == SolveStatus.OPTIMAL and result.solution.error == 0.0
    mask = result.solution.mask
    assert np.shape(mask.output_weights) == (2, 3)
    assert mask.output_weights.tolist() == [[True, False, False], [False, True, False]]
    assert result.solution.kept == 4  # two hidden weights and two output weights
    dead = Mask(
        hidden_weights=np.ones((3, 1), dtype=bool),
        output_weights=np.array([[True, False, False], [False, True, False]]),
    )
    assert dead.kept() == 4 and kept(dead) == 4
    assert certify_mask(problem, dead).error == 0
    neurons = solve(two_output_problem(PruningMode.NEURONS))
    assert neurons.solution.mask.neurons.tolist() == [True, True, False]
    assert neurons.solution.kept == 2 and neurons.solution.error == 0.0


def test_error_is_the_max_over_outputs():
    problem = two_output_problem(PruningMode.NEURONS)
    mask = Mask(neurons=np.array([True, False, False]))
    # Output 0 is exact; output 1 misses 2 * relu(-x) at x = -1: error 2.
    cert = certify_mask(problem, mask)
    assert cert.error == 2 == exact_error(problem, mask)
    assert cert.worst_point == 0


def test_box_refuses_several_outputs_clearly():
    network = Network(
        hidden_weights=np.array([[1.0, 0.5], [-1.0, 0.25]]),
        output_weights=np.array([[1.0, -1.0], [0.5, 0.5]]),
        output_bias=np.zeros(2),
        output_activation=Activation.IDENTITY,
    )
    problem = Problem(
        network, network, BoxGrid(-1.0, 1.0, 3), PruningMode.NEURONS, MinError(max_kept=1)
    )
    with pytest.raises(InvalidProblemError) as info:
        solve(problem, SolveParameters(continuous="evaluate"))
    (violation,) = info.value.violations
    assert violation.field == "parameters.continuous"
    assert violation.description == "network.outputs: the continuous box supports one output, not 2"
