"""The pruning problem as plain dataclasses over numpy arrays (no protobuf, no solver).

Semantics (docs/design.md §1):
    f(x) = act_out(sum_i v_i * relu(u_i . x + b_i) + c)
Pruning neurons keeps a subset of units; pruning weights keeps a subset of the u_ij and v_i
(biases follow their unit; a unit whose v_i is removed is removed entirely).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np


class Activation(enum.IntEnum):
    """Mirrors prunecert.v1.Activation; UNSPECIFIED is never a silent default."""

    UNSPECIFIED = 0
    IDENTITY = 1
    RELU = 2


class PruningMode(enum.IntEnum):
    """Mirrors prunecert.v1.PruningMode."""

    UNSPECIFIED = 0
    NEURONS = 1
    WEIGHTS = 2


def _apply(activation: Activation, z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0) if activation == Activation.RELU else z


@dataclass(frozen=True, eq=False)
class Network:
    """A two-layer network. ``hidden_biases`` None means bias-free (all zero)."""

    hidden_weights: np.ndarray  # (n, d)
    output_weights: np.ndarray  # (n,)
    hidden_biases: np.ndarray | None = None  # (n,) or None
    output_bias: float = 0.0
    output_activation: Activation = Activation.IDENTITY

    @property
    def n(self) -> int:
        return int(np.shape(self.hidden_weights)[0])

    @property
    def d(self) -> int:
        shape = np.shape(self.hidden_weights)
        return int(shape[1]) if len(shape) == 2 else 0

    @property
    def biases(self) -> np.ndarray:
        """The hidden biases as an array, zeros when bias-free."""
        if self.hidden_biases is None:
            return np.zeros(self.n)
        return np.asarray(self.hidden_biases, dtype=float)

    @property
    def is_bias_free(self) -> bool:
        return not np.any(self.biases) and self.output_bias == 0.0

    def evaluate(self, points: np.ndarray, mask: Mask | None = None) -> np.ndarray:
        """Float64 outputs at ``points`` (m, d), optionally pruned by ``mask``.

        For heuristics and plots; certificates use solver.exact.certify's exact arithmetic instead.
        """
        u = np.asarray(self.hidden_weights, dtype=float)
        v = np.asarray(self.output_weights, dtype=float)
        if mask is not None:
            u = u * mask.hidden_matrix(self.n, self.d)
            v = v * mask.unit_vector(self.n)
        hidden = np.maximum(points @ u.T + self.biases, 0.0)
        return _apply(self.output_activation, hidden @ v + self.output_bias)


@dataclass(frozen=True, eq=False)
class Neuron:
    """A single neuron target: activation(weights . x + bias)."""

    weights: np.ndarray  # (d,)
    bias: float = 0.0
    activation: Activation = Activation.RELU

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        return _apply(self.activation, points @ np.asarray(self.weights, dtype=float) + self.bias)


@dataclass(frozen=True, eq=False)
class Samples:
    """Explicit target values at explicit points; the points are the domain."""

    points: np.ndarray  # (m, d)
    values: np.ndarray  # (m,)


Target = Neuron | Network | Samples


@dataclass(frozen=True)
class BoxGrid:
    """``points_per_axis`` points per axis on [low, high]^d (numpy.linspace coordinates)."""

    low: float
    high: float
    points_per_axis: int

    def points(self, d: int) -> np.ndarray:
        axis = np.linspace(self.low, self.high, self.points_per_axis)
        mesh = np.meshgrid(*([axis] * d), indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=1) if d else np.zeros((1, 0))


@dataclass(frozen=True, eq=False)
class PointSet:
    """Explicit domain points, one per row."""

    points: np.ndarray  # (m, d)


Domain = BoxGrid | PointSet


@dataclass(frozen=True)
class MinError:
    """Minimise the error; ``max_kept`` None means no budget."""

    max_kept: int | None = None


@dataclass(frozen=True)
class MinKept:
    """Minimise the kept count subject to error <= ``max_error``."""

    max_error: float


@dataclass(frozen=True)
class Pareto:
    """The (kept, error) frontier, for kept up to ``max_kept`` (None: the whole network)."""

    max_kept: int | None = None


Objective = MinError | MinKept | Pareto


@dataclass(frozen=True, eq=False)
class Problem:
    network: Network
    target: Target
    domain: Domain | None  # None exactly when the target is Samples
    pruning: PruningMode
    objective: Objective = field(default_factory=MinError)

    def points(self) -> np.ndarray:
        """The domain points (m, d) in float64."""
        if isinstance(self.target, Samples):
            return np.asarray(self.target.points, dtype=float)
        if isinstance(self.domain, BoxGrid):
            return self.domain.points(self.network.d)
        assert isinstance(self.domain, PointSet)
        return np.asarray(self.domain.points, dtype=float)

    def target_values(self, points: np.ndarray) -> np.ndarray:
        """Float64 target values at ``points`` (for heuristics; certificates are exact)."""
        if isinstance(self.target, Samples):
            return np.asarray(self.target.values, dtype=float)
        return self.target.evaluate(points)

    @property
    def is_bias_free(self) -> bool:
        """Every function involved is positively homogeneous (docs/design.md §5)."""
        target = self.target
        if isinstance(target, Samples) or not self.network.is_bias_free:
            return False
        if isinstance(target, Neuron):
            return target.bias == 0.0
        return target.is_bias_free

    def max_kept_possible(self) -> int:
        """The kept count of the full network."""
        if self.pruning == PruningMode.NEURONS:
            return self.network.n
        return self.network.n * (self.network.d + 1)


@dataclass(frozen=True, eq=False)
class Mask:
    """Which parameters stay. Neurons mode fills ``neurons``; weights mode the other two."""

    neurons: np.ndarray | None = None  # (n,) bool
    hidden_weights: np.ndarray | None = None  # (n, d) bool
    output_weights: np.ndarray | None = None  # (n,) bool

    @staticmethod
    def full(problem: Problem) -> Mask:
        n, d = problem.network.n, problem.network.d
        if problem.pruning == PruningMode.NEURONS:
            return Mask(neurons=np.ones(n, dtype=bool))
        return Mask(
            hidden_weights=np.ones((n, d), dtype=bool), output_weights=np.ones(n, dtype=bool)
        )

    @property
    def mode(self) -> PruningMode:
        return PruningMode.NEURONS if self.neurons is not None else PruningMode.WEIGHTS

    def unit_vector(self, n: int) -> np.ndarray:
        """Which units are live (bool, n)."""
        if self.neurons is not None:
            return np.asarray(self.neurons, dtype=bool)
        return np.asarray(self.output_weights, dtype=bool)

    def hidden_matrix(self, n: int, d: int) -> np.ndarray:
        """Which hidden weights act (bool, n x d); a removed neuron keeps none."""
        if self.neurons is not None:
            return np.repeat(np.asarray(self.neurons, dtype=bool)[:, None], d, axis=1)
        return np.asarray(self.hidden_weights, dtype=bool).reshape(n, d)

    def canonical(self) -> Mask:
        """The same pruning with no weight of a removed unit marked kept."""
        if self.neurons is not None:
            return self
        live = np.asarray(self.output_weights, dtype=bool)
        hidden = np.asarray(self.hidden_weights, dtype=bool) & live[:, None]
        return Mask(hidden_weights=hidden, output_weights=live.copy())

    def kept(self) -> int:
        """Units (neurons mode) or weights of live units (weights mode)."""
        if self.neurons is not None:
            return int(np.count_nonzero(self.neurons))
        c = self.canonical()
        return int(np.count_nonzero(c.hidden_weights) + np.count_nonzero(c.output_weights))

    def same_as(self, other: Mask) -> bool:
        a, b = self.canonical(), other.canonical()
        if a.neurons is not None or b.neurons is not None:
            return (
                a.neurons is not None
                and b.neurons is not None
                and bool(np.array_equal(a.neurons, b.neurons))
            )
        return bool(
            np.array_equal(a.hidden_weights, b.hidden_weights)
            and np.array_equal(a.output_weights, b.output_weights)
        )
