"""Meet in the middle on separable problems, against the brute force and against CP-SAT."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest

from solver.core.parameters import SolveParameters
from solver.core.problem import (
    Activation,
    BoxGrid,
    MinError,
    Network,
    Neuron,
    PointSet,
    Problem,
    PruningMode,
)
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.instances.families import Family
from tests.support.reference import exact_error, table


def d1_problem(rng: np.random.Generator, n: int) -> Problem:
    """d = 1, bias-free: each unit acts on one side only, so the two ends decouple."""
    return Problem(
        network=Network(
            hidden_weights=rng.uniform(-1, 1, size=(n, 1)),
            output_weights=rng.uniform(-1, 1, size=n),
            output_activation=Activation.RELU if rng.random() < 0.5 else Activation.IDENTITY,
        ),
        target=Neuron(
            weights=np.array([rng.uniform(-1, 1)]),
            activation=Activation.RELU if rng.random() < 0.5 else Activation.IDENTITY,
        ),
        domain=BoxGrid(-1.0, float(rng.choice([0.5, 1.0])), int(rng.integers(2, 6))),
        pruning=PruningMode.NEURONS,
        objective=MinError(),
    )


@pytest.mark.parametrize("seed", range(40))
def test_separable_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    problem = d1_problem(rng, int(rng.integers(1, 9)))
    result = solve(problem)
    assert result.status == SolveStatus.OPTIMAL, result.detail
    assert result.stats.backend == "meet-in-the-middle"
    opt = table(problem).min_error()
    true = exact_error(problem, result.solution.mask)
    assert Fraction(result.objective_bound) <= opt <= true <= opt + Fraction(1, 10**12)
    assert true <= Fraction(result.solution.error)


@pytest.mark.parametrize("seed", range(3))
def test_subset_sum_agrees_with_cpsat(seed):
    family = Family(generator="subset_sum", n=(21,), seeds=(seed,), count=3, low=-0.464, high=0.541)
    for j in range(family.size()):
        problem = family.problem(j)
        fast = solve(problem)
        mip = solve(problem, SolveParameters(backend="cpsat"))
        assert fast.stats.backend == "meet-in-the-middle"
        assert fast.status == mip.status == SolveStatus.OPTIMAL
        # Both certified: their exact errors agree within the tolerance.
        assert abs(fast.solution.error - mip.solution.error) <= 1e-6
        assert fast.tolerance <= 1e-12


def test_budget_or_explicit_backend_uses_the_mip():
    problem = d1_problem(np.random.default_rng(0), 6)
    assert (
        solve(dataclasses.replace(problem, objective=MinError(max_kept=2))).stats.backend == "cpsat"
    )
    assert solve(problem, SolveParameters(backend="cpsat")).stats.backend == "cpsat"


def test_non_separable_uses_the_mip():
    problem = Problem(
        network=Network(
            hidden_weights=np.array([[1.0, 1.0], [1.0, -1.0]]), output_weights=np.ones(2)
        ),
        target=Neuron(weights=np.array([1.0, 0.0])),
        domain=PointSet(np.array([[1.0, 0.0], [0.0, 1.0]])),
        pruning=PruningMode.NEURONS,
    )
    assert solve(problem).stats.backend == "cpsat"
