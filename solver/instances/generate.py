"""Problem families. ``paper``: the setting of arXiv 2603.02234.

Reproducible from numpy.random.default_rng(seed): w* uniform on the unit sphere is drawn first,
then each unit's u_i ~ U[-1, 1]^d and v_i ~ U[-1, 1] in turn, so the network for n is exactly the
first n units of the network for any larger n (nested families). Bias-free, output ReLU, target
relu(w* . x), box [-1, 1]^d with K points per axis.
"""

from __future__ import annotations

import numpy as np

from solver.core.problem import (
    Activation,
    BoxGrid,
    MinError,
    Network,
    Neuron,
    Objective,
    Problem,
    PruningMode,
)


def default_points_per_axis(d: int) -> int:
    return 41 if d <= 2 else 11


def paper_problem(
    d: int,
    n: int,
    seed: int,
    pruning: PruningMode,
    objective: Objective | None = None,
    points_per_axis: int | None = None,
) -> Problem:
    if d < 1 or n < 1:
        raise ValueError("d and n must be at least 1")
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(d)
    w /= np.linalg.norm(w)
    u = np.empty((n, d))
    v = np.empty(n)
    for i in range(n):
        u[i] = rng.uniform(-1.0, 1.0, size=d)
        v[i] = rng.uniform(-1.0, 1.0)
    network = Network(
        hidden_weights=u,
        output_weights=v,
        hidden_biases=None,
        output_bias=0.0,
        output_activation=Activation.RELU,
    )
    k = points_per_axis if points_per_axis is not None else default_points_per_axis(d)
    return Problem(
        network=network,
        target=Neuron(weights=w, bias=0.0, activation=Activation.RELU),
        domain=BoxGrid(low=-1.0, high=1.0, points_per_axis=k),
        pruning=pruning,
        objective=objective if objective is not None else MinError(),
    )
