"""Tiny problems with hand-derived optima, replayed on every backend."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solver.core.problem import (
    Activation,
    MinError,
    MinKept,
    Network,
    Neuron,
    Objective,
    Pareto,
    PointSet,
    Problem,
    PruningMode,
)


@dataclass(frozen=True)
class Case:
    name: str
    problem: Problem
    error: float | None  # optimal error (min_error); None for min_kept / pareto
    kept: int | None  # kept of the optimum (when unique), or the min_kept answer
    frontier: list[tuple[int, float]] | None = None


def _subset_sum(objective: Objective) -> Problem:
    # d = 1, x = 1: the output is the sum of the kept output weights (docs/design.md §5).
    return Problem(
        network=Network(
            hidden_weights=np.ones((3, 1)),
            output_weights=np.array([0.5, 0.375, 0.25]),
            output_activation=Activation.IDENTITY,
        ),
        target=Neuron(weights=np.array([0.625]), activation=Activation.IDENTITY),
        domain=PointSet(points=np.array([[1.0]])),
        pruning=PruningMode.NEURONS,
        objective=objective,
    )


def _relu_output() -> Problem:
    # relu(-relu(x)) is 0 everywhere, as is the empty network: the optimum keeps nothing.
    return Problem(
        network=Network(
            hidden_weights=np.array([[1.0]]),
            output_weights=np.array([-1.0]),
            output_activation=Activation.RELU,
        ),
        target=Neuron(weights=np.array([1.0]), activation=Activation.RELU),
        domain=PointSet(points=np.array([[-1.0], [1.0]])),
        pruning=PruningMode.NEURONS,
        objective=MinError(),
    )


def _hidden_weight() -> Problem:
    # relu(x1 + x2) pruned to relu(x1) matches the target exactly: keep u_11 and v_1.
    return Problem(
        network=Network(
            hidden_weights=np.array([[1.0, 1.0]]),
            output_weights=np.array([1.0]),
            output_activation=Activation.IDENTITY,
        ),
        target=Neuron(weights=np.array([1.0, 0.0]), activation=Activation.RELU),
        domain=PointSet(points=np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])),
        pruning=PruningMode.WEIGHTS,
        objective=MinError(),
    )


def _bias_only(mode: PruningMode) -> Problem:
    # A unit with a zero weight and bias 0.5, output weight 2: the constant 1.
    return Problem(
        network=Network(
            hidden_weights=np.array([[0.0]]),
            output_weights=np.array([2.0]),
            hidden_biases=np.array([0.5]),
            output_activation=Activation.IDENTITY,
        ),
        target=Neuron(weights=np.array([0.0]), bias=1.0, activation=Activation.IDENTITY),
        domain=PointSet(points=np.array([[3.0]])),
        pruning=mode,
        objective=MinError(),
    )


CATALOGUE = [
    Case("subset-sum", _subset_sum(MinError()), 0.0, 2),
    Case("subset-sum budget 1", _subset_sum(MinError(max_kept=1)), 0.125, 1),
    Case("subset-sum min_kept", _subset_sum(MinKept(max_error=0.0)), None, 2),
    Case(
        "subset-sum pareto",
        _subset_sum(Pareto()),
        None,
        None,
        frontier=[(0, 0.625), (1, 0.125), (2, 0.0)],
    ),
    Case("relu output keeps nothing", _relu_output(), 1.0, 0),
    Case("one hidden weight", _hidden_weight(), 0.0, 2),
    Case("bias only, neurons", _bias_only(PruningMode.NEURONS), 0.0, 1),
    Case("bias only, weights", _bias_only(PruningMode.WEIGHTS), 0.0, 1),
]
