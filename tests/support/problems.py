"""Random tiny problems covering every feature, for comparisons with the brute force."""

from __future__ import annotations

import numpy as np

from solver.core.problem import (
    Activation,
    BoxGrid,
    MinError,
    Network,
    Neuron,
    PointSet,
    Problem,
    PruningMode,
    Samples,
)


def _values(rng: np.random.Generator, shape, zeros: bool) -> np.ndarray:
    values = rng.uniform(-1.0, 1.0, size=shape)
    if zeros:
        values[rng.random(shape) < 0.2] = 0.0  # degenerate zeros exercise the special cases
    return values


def random_problem(rng: np.random.Generator, mode: PruningMode, objective=None) -> Problem:
    d = int(rng.integers(1, 4))
    if mode == PruningMode.NEURONS:
        n = int(rng.integers(1, 7))
    else:
        n = int(rng.integers(1, {1: 5, 2: 4, 3: 3}[d]))
    zeros = bool(rng.random() < 0.3)
    biased = bool(rng.random() < 0.5)
    network = Network(
        hidden_weights=_values(rng, (n, d), zeros),
        output_weights=_values(rng, n, zeros),
        hidden_biases=_values(rng, n, zeros) if biased else None,
        output_bias=float(rng.uniform(-0.5, 0.5)) if biased else 0.0,
        output_activation=Activation.RELU if rng.random() < 0.5 else Activation.IDENTITY,
    )
    kind = rng.choice(["neuron", "network", "samples"])
    domain = None
    if kind == "samples":
        m = int(rng.integers(1, 8))
        target = Samples(points=rng.uniform(-1, 1, size=(m, d)), values=rng.uniform(-1, 1, size=m))
    else:
        if kind == "neuron":
            target = Neuron(
                weights=rng.uniform(-1, 1, size=d),
                bias=float(rng.uniform(-0.5, 0.5)) if biased else 0.0,
                activation=Activation.RELU if rng.random() < 0.7 else Activation.IDENTITY,
            )
        else:
            t = int(rng.integers(1, 4))
            target = Network(
                hidden_weights=rng.uniform(-1, 1, size=(t, d)),
                output_weights=rng.uniform(-1, 1, size=t),
                hidden_biases=rng.uniform(-1, 1, size=t) if biased else None,
                output_bias=0.0,
                output_activation=Activation.RELU if rng.random() < 0.5 else Activation.IDENTITY,
            )
        if rng.random() < 0.6:
            domain = BoxGrid(
                low=-1.0,
                high=float(rng.choice([0.5, 1.0])),
                points_per_axis=int(rng.integers(2, 5)),
            )
        else:
            domain = PointSet(points=rng.uniform(-1, 1, size=(int(rng.integers(1, 9)), d)))
    return Problem(
        network=network,
        target=target,
        domain=domain,
        pruning=mode,
        objective=objective if objective is not None else MinError(),
    )


def random_multi_output_problem(
    rng: np.random.Generator, mode: PruningMode, objective=None, outputs: int | None = None
) -> Problem:
    """A tiny problem with k = 2 or 3 outputs (docs/design.md §1), small enough for the brute
    force in weights mode (each unit: removed or one of 2^d hidden masks times 2^k - 1 output
    sets): a k-output network or k-column samples target, biases or not, either activation."""
    k = int(outputs if outputs is not None else rng.integers(2, 4))
    d = int(rng.integers(1, 3))
    if mode == PruningMode.NEURONS:
        n = int(rng.integers(1, 6))
    else:
        n = int(rng.integers(1, 3 if k == 3 or d == 2 else 4))
    zeros = bool(rng.random() < 0.3)
    biased = bool(rng.random() < 0.5)
    activation = Activation.RELU if rng.random() < 0.5 else Activation.IDENTITY
    network = Network(
        hidden_weights=_values(rng, (n, d), zeros),
        output_weights=_values(rng, (k, n), zeros),
        hidden_biases=_values(rng, n, zeros) if biased else None,
        output_bias=rng.uniform(-0.5, 0.5, size=k) if biased else np.zeros(k),
        output_activation=activation,
    )
    domain = None
    if rng.random() < 0.5:
        m = int(rng.integers(1, 7))
        target = Samples(
            points=rng.uniform(-1, 1, size=(m, d)), values=rng.uniform(-1, 1, size=(m, k))
        )
    elif rng.random() < 0.5:  # the network itself, perturbed: optima keep several weights
        target = Network(
            hidden_weights=network.hidden_weights + rng.uniform(-0.1, 0.1, size=(n, d)),
            output_weights=network.output_weights + rng.uniform(-0.1, 0.1, size=(k, n)),
            hidden_biases=network.hidden_biases,
            output_bias=network.output_bias,
            output_activation=activation,
        )
        domain = BoxGrid(low=-1.0, high=1.0, points_per_axis=int(rng.integers(2, 4)))
    else:
        t = int(rng.integers(1, 4))
        target = Network(
            hidden_weights=rng.uniform(-1, 1, size=(t, d)),
            output_weights=rng.uniform(-1, 1, size=(k, t)),
            hidden_biases=rng.uniform(-1, 1, size=t) if biased else None,
            output_bias=rng.uniform(-0.5, 0.5, size=k) if biased else np.zeros(k),
            output_activation=Activation.RELU if rng.random() < 0.5 else Activation.IDENTITY,
        )
        domain = BoxGrid(low=-1.0, high=1.0, points_per_axis=int(rng.integers(2, 4)))
    return Problem(
        network=network,
        target=target,
        domain=domain,
        pruning=mode,
        objective=objective if objective is not None else MinError(),
    )
