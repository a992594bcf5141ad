"""The single-weight search (solver/single_weight.py) and the engine's use of it: when it applies,
that it finds an exact decomposition when one exists, that what it returns is a single-weight
mask whose stated error is the independent reference's, budgets and stops, and that a start
within the tolerance makes the engine's result OPTIMAL with the trivial bound 0 without a
backend call.
"""

from __future__ import annotations

import threading
import time
from fractions import Fraction

import numpy as np
import pytest

from solver.core.parameters import SolveParameters
from solver.core.problem import (
    Activation,
    BoxGrid,
    Mask,
    MinError,
    Network,
    Neuron,
    PointSet,
    Problem,
    PruningMode,
    Samples,
)
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.exact.certify import certify_mask
from solver.instances.generate import paper_problem
from solver.search import single_weight
from tests.support.reference import exact_error


def _problem(u, v, w, *, output=Activation.RELU, target=Activation.RELU, max_kept=None, **net):
    return Problem(
        network=Network(
            hidden_weights=np.asarray(u, dtype=float),
            output_weights=np.asarray(v, dtype=float),
            hidden_biases=net.get("hidden_biases"),
            output_bias=net.get("output_bias", 0.0),
            output_activation=output,
        ),
        target=Neuron(weights=np.asarray(w, dtype=float), bias=0.0, activation=target),
        domain=BoxGrid(low=-1.0, high=1.0, points_per_axis=5),
        pruning=PruningMode.WEIGHTS,
        objective=MinError(max_kept=max_kept),
    )


# Units 0-3 kept with one hidden weight each give exactly 0.5 x1 + 0.25 x2:
#   0.5 relu(x1) - 0.5 relu(-x1) + 0.25 relu(x2) - 0.25 relu(-x2); units 4-5 are distractors.
EXACT_U = [[1.0, 0.3], [-1.0, 0.7], [0.2, 0.5], [0.9, -0.5], [0.7, 0.6], [-0.4, 0.8]]
EXACT_V = [0.5, -0.5, 0.5, -0.5, 0.3, -0.9]
EXACT_W = [0.5, 0.25]


def _error(problem):
    return lambda mask: certify_mask(problem, mask).error


def _is_single_weight(mask) -> bool:
    hidden = np.asarray(mask.hidden_weights)
    output = np.asarray(mask.output_weights)
    return bool(np.all(hidden.sum(axis=1) == output.astype(int)))


def test_applies_only_to_bias_free_weights_mode_with_a_matching_neuron_target():
    paper = paper_problem(2, 8, 1, PruningMode.WEIGHTS)
    assert single_weight.applies(paper)
    assert single_weight.applies(_problem(EXACT_U, EXACT_V, EXACT_W, output=Activation.IDENTITY,
                                          target=Activation.IDENTITY))
    assert not single_weight.applies(paper_problem(2, 8, 1, PruningMode.NEURONS))
    assert not single_weight.applies(_problem(EXACT_U, EXACT_V, EXACT_W, target=Activation.IDENTITY))
    assert not single_weight.applies(
        _problem(EXACT_U, EXACT_V, EXACT_W, hidden_biases=np.full(6, 0.1))
    )
    assert not single_weight.applies(_problem(EXACT_U, EXACT_V, EXACT_W, output_bias=0.1))
    samples = Problem(
        network=paper.network,
        target=Samples(points=np.array([[1.0, 0.0], [0.0, 1.0]]), values=np.zeros(2)),
        domain=PointSet(points=np.array([[1.0, 0.0], [0.0, 1.0]])),
        pruning=PruningMode.WEIGHTS,
    )
    assert not single_weight.applies(samples)
    with pytest.raises(ValueError):
        single_weight.search(samples, _error(samples), good_enough=Fraction(0))


def _decomposition_bound(problem, mask) -> Fraction:
    """max(sum_j P_j, sum_j N_j) of the module docstring, in Fractions, for points in [-1, 1]^d."""
    u = np.asarray(problem.network.hidden_weights)
    v = np.asarray(problem.network.output_weights)
    w = np.asarray(problem.target.weights)
    hidden = np.asarray(mask.hidden_weights)
    positive = negative = Fraction(0)
    for j in range(u.shape[1]):
        deltas = []
        for s in (1, -1):
            kept = sum(
                (Fraction(float(v[i])) * abs(Fraction(float(u[i, j])))
                 for i in range(len(u)) if hidden[i, j] and np.sign(u[i, j]) == s),
                Fraction(0),
            )
            deltas.append(kept - s * Fraction(float(w[j])))
        positive += max([Fraction(0), *deltas])
        negative += max([Fraction(0), *(-x for x in deltas)])
    return max(positive, negative)


@pytest.mark.parametrize("activation", [Activation.RELU, Activation.IDENTITY])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_the_decomposition_bounds_the_error_of_single_weight_masks(activation, d):
    # The bound the search minimises holds for every single-weight mask (reference errors).
    rng = np.random.default_rng(d)
    for _ in range(15):
        n = int(rng.integers(1, 6))
        problem = _problem(
            rng.uniform(-1, 1, (n, d)), rng.uniform(-1, 1, n), rng.uniform(-1, 1, d),
            output=activation, target=activation,
        )
        problem = Problem(
            network=problem.network, target=problem.target,
            domain=BoxGrid(low=-1.0, high=1.0, points_per_axis=5 if d < 3 else 3),
            pruning=PruningMode.WEIGHTS,
        )
        choice = rng.integers(-1, d, n)  # -1: unit removed, else its one hidden weight
        hidden = np.zeros((n, d), dtype=bool)
        for i, j in enumerate(choice):
            if j >= 0:
                hidden[i, j] = True
        mask = Mask(hidden_weights=hidden, output_weights=hidden.any(axis=1))
        assert exact_error(problem, mask) <= _decomposition_bound(problem, mask)


@pytest.mark.parametrize("activation", [Activation.RELU, Activation.IDENTITY])
def test_finds_an_exact_decomposition(activation):
    problem = _problem(EXACT_U, EXACT_V, EXACT_W, output=activation, target=activation)
    found = single_weight.search(problem, _error(problem), good_enough=Fraction(0), time_limit=30)
    assert found is not None
    mask, error = found
    assert error == 0 == exact_error(problem, mask)
    assert _is_single_weight(mask)


@pytest.mark.parametrize("seed", range(6))
def test_returns_a_single_weight_mask_with_its_reference_error(seed):
    problem = paper_problem(2, 5, seed, PruningMode.WEIGHTS, points_per_axis=5)
    found = single_weight.search(problem, _error(problem), good_enough=Fraction(0), time_limit=30)
    assert found is not None
    mask, error = found
    assert _is_single_weight(mask)
    assert error == exact_error(problem, mask)


def test_respects_max_kept():
    problem = _problem(EXACT_U, EXACT_V, EXACT_W)
    # Two single-weight units keep 4 weights: the exact decomposition (8) is out of reach.
    mask, error = single_weight.search(
        problem, _error(problem), good_enough=Fraction(0), max_kept=5, time_limit=30
    )
    assert int(np.asarray(mask.hidden_weights).sum() + np.asarray(mask.output_weights).sum()) <= 5
    assert error > 0
    assert single_weight.search(problem, _error(problem), good_enough=Fraction(0), max_kept=1) is None


def test_stops_at_good_enough_and_on_stop():
    problem = paper_problem(2, 64, 1, PruningMode.WEIGHTS)
    calls = []

    def error(mask):
        calls.append(mask)
        return certify_mask(problem, mask).error

    # Anything is good enough: the first solution ends the search.
    # One worker: with several, another may report before stop_search takes effect.
    found = single_weight.search(
        problem, error, good_enough=Fraction(10**6), time_limit=60, threads=1
    )
    assert found is not None and len(calls) == 1
    stop = threading.Event()
    stop.set()
    assert single_weight.search(problem, error, good_enough=Fraction(0), stop=stop) is None
    # A stop during the search ends it (nothing here can reach error 0 at n = 64 with five
    # points per axis; the time limit is only a backstop).
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    single_weight.search(problem, error, good_enough=Fraction(0), time_limit=120, stop=stop)
    assert time.monotonic() - started < 60


def test_subnormal_weights_give_no_traceback():
    # A float quotient for the fixed-point scale overflowed here (review finding).
    problem = _problem(np.asarray(EXACT_U) * 1e-155, EXACT_V, np.asarray(EXACT_W) * 1e-155)
    single_weight.search(problem, _error(problem), good_enough=Fraction(0), time_limit=5)
    result = solve(problem, SolveParameters(heuristic_start=True, time_limit_seconds=10))
    assert result.status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)


def test_a_cross_check_skips_the_shortcut():
    problem = _problem(EXACT_U, EXACT_V, EXACT_W)
    result = solve(problem, SolveParameters(heuristic_start=True, cross_check="auto"))
    assert result.status == SolveStatus.OPTIMAL and result.solution.error == 0
    assert result.stats.rounds >= 1


def test_engine_returns_optimal_without_a_backend_call_when_a_start_is_within_tolerance():
    problem = _problem(EXACT_U, EXACT_V, EXACT_W)
    result = solve(problem, SolveParameters(heuristic_start=True))
    assert result.status == SolveStatus.OPTIMAL
    assert result.solution.error == 0 and result.objective_bound == 0
    assert result.stats.rounds == 0
    assert "within the tolerance of 0" in result.detail
    # The backend's own proof agrees.
    plain = solve(problem, SolveParameters(heuristic_start=False))
    assert plain.status == SolveStatus.OPTIMAL and plain.solution.error == 0
    assert plain.stats.rounds >= 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_engine_with_the_search_reaches_the_same_certified_optimum(seed):
    # n = 12: the optimum is far above the tolerance, so the backend still has to prove it.
    problem = paper_problem(2, 12, seed, PruningMode.WEIGHTS, points_per_axis=11)
    with_search = solve(problem, SolveParameters(heuristic_start=True, time_limit_seconds=120))
    without = solve(problem, SolveParameters(heuristic_start=False, time_limit_seconds=120))
    assert with_search.status == without.status == SolveStatus.OPTIMAL
    assert abs(with_search.solution.error - without.solution.error) <= 2e-6
    assert with_search.objective_bound <= without.solution.error
    assert without.objective_bound <= with_search.solution.error
