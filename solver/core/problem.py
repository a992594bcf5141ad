"""The pruning problem as plain dataclasses over numpy arrays (no protobuf, no solver).

Semantics (docs/design.md §1):
    f_o(x) = act_out(sum_i v_oi * relu(u_i . x + b_i) + c_o),   o = 1..k outputs
Pruning neurons keeps a subset of units (each with all its output weights); pruning weights keeps
a subset of the u_ij and v_oi (biases follow their unit; a unit with no kept output weight is
dead and its hidden weights count as not kept). The error is the max over outputs and points.

One output (k = 1) keeps the shapes it always had: output weights (n,), a float output bias,
sample values (m,), a weights-mode mask's output flags (n,). k > 1 uses (k, n), (k,), (m, k) and
(k, n); ``Network.output_matrix``, ``Network.output_biases`` and ``Mask.output_matrix`` give
the (k, ...) form for either.
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
    """A two-layer network with k >= 1 outputs. ``hidden_biases`` None means bias-free (all
    zero). One output: ``output_weights`` (n,) and a float ``output_bias``; k outputs:
    (k, n) and (k,) (a (1, n) matrix and a one-element bias are stored as one output)."""

    hidden_weights: np.ndarray  # (n, d)
    output_weights: np.ndarray  # (n,), or (k, n) for k > 1 outputs
    hidden_biases: np.ndarray | None = None  # (n,) or None
    output_bias: float | np.ndarray = 0.0  # a float, or (k,) for k > 1 outputs
    output_activation: Activation = Activation.IDENTITY

    def __post_init__(self) -> None:
        # One output has one canonical form, so every k = 1 caller sees the shapes it always did.
        weights = self.output_weights
        if isinstance(weights, np.ndarray) and weights.ndim == 2 and weights.shape[0] == 1:
            object.__setattr__(self, "output_weights", weights[0])
        bias = self.output_bias
        if not isinstance(bias, int | float) and np.ndim(bias) >= 1 and np.size(bias) == 1:
            object.__setattr__(self, "output_bias", float(np.ravel(bias)[0]))

    @property
    def n(self) -> int:
        return int(np.shape(self.hidden_weights)[0])

    @property
    def outputs(self) -> int:
        """k, the number of outputs."""
        shape = np.shape(self.output_weights)
        return int(shape[0]) if len(shape) == 2 else 1

    @property
    def output_matrix(self) -> np.ndarray:
        """The output weights as a (k, n) float array, whatever k."""
        return np.asarray(self.output_weights, dtype=float).reshape(self.outputs, -1)

    @property
    def output_biases(self) -> np.ndarray:
        """The output biases as a (k,) float array, whatever k."""
        return np.broadcast_to(
            np.asarray(self.output_bias, dtype=float).ravel(), (self.outputs,)
        ).copy()

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
        return not np.any(self.biases) and not np.any(self.output_biases)

    def evaluate(self, points: np.ndarray, mask: Mask | None = None) -> np.ndarray:
        """Float64 outputs at ``points`` (m, d), optionally pruned by ``mask``: (m,) for one
        output, (m, k) for k.

        For heuristics and plots; certificates use solver.exact.certify's exact arithmetic instead.
        """
        u = np.asarray(self.hidden_weights, dtype=float)
        v = self.output_matrix
        if mask is not None:
            u = u * mask.hidden_matrix(self.n, self.d)
            v = v * mask.output_matrix(self.n, self.outputs)
        hidden = np.maximum(points @ u.T + self.biases, 0.0)
        out = _apply(self.output_activation, hidden @ v.T + self.output_biases)
        return out[:, 0] if self.outputs == 1 else out


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
    """Explicit target values at explicit points; the points are the domain. One column of
    values per network output: (m,) for one output, (m, k) for k (an (m, 1) column is stored
    as (m,))."""

    points: np.ndarray  # (m, d)
    values: np.ndarray  # (m,), or (m, k) for k > 1 outputs

    def __post_init__(self) -> None:
        values = self.values
        if isinstance(values, np.ndarray) and values.ndim == 2 and values.shape[1] == 1:
            object.__setattr__(self, "values", values[:, 0])


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
        """Float64 target values at ``points``, shaped like Network.evaluate's (for heuristics;
        certificates are exact)."""
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
        return self.network.n * (self.network.d + self.network.outputs)


@dataclass(frozen=True, eq=False)
class Mask:
    """Which parameters stay. Neurons mode fills ``neurons``; weights mode the other two. A
    unit is live when it keeps at least one output weight (weights mode)."""

    neurons: np.ndarray | None = None  # (n,) bool
    hidden_weights: np.ndarray | None = None  # (n, d) bool
    output_weights: np.ndarray | None = None  # (n,) bool, or (k, n) for k > 1 outputs

    @staticmethod
    def full(problem: Problem) -> Mask:
        n, d = problem.network.n, problem.network.d
        if problem.pruning == PruningMode.NEURONS:
            return Mask(neurons=np.ones(n, dtype=bool))
        return Mask(
            hidden_weights=np.ones((n, d), dtype=bool),
            output_weights=np.ones(np.shape(problem.network.output_weights), dtype=bool),
        )

    @property
    def mode(self) -> PruningMode:
        return PruningMode.NEURONS if self.neurons is not None else PruningMode.WEIGHTS

    def unit_vector(self, n: int) -> np.ndarray:
        """Which units are live (bool, n): kept, or keeping at least one output weight."""
        if self.neurons is not None:
            return np.asarray(self.neurons, dtype=bool)
        return np.asarray(self.output_weights, dtype=bool).reshape(-1, n).any(axis=0)

    def output_matrix(self, n: int, k: int) -> np.ndarray:
        """Which output weights act (bool, k x n); a removed neuron keeps none."""
        if self.neurons is not None:
            return np.repeat(np.asarray(self.neurons, dtype=bool)[None, :], k, axis=0)
        return np.asarray(self.output_weights, dtype=bool).reshape(k, n)

    def hidden_matrix(self, n: int, d: int) -> np.ndarray:
        """Which hidden weights act (bool, n x d); a removed neuron keeps none."""
        if self.neurons is not None:
            return np.repeat(np.asarray(self.neurons, dtype=bool)[:, None], d, axis=1)
        return np.asarray(self.hidden_weights, dtype=bool).reshape(n, d)

    def canonical(self) -> Mask:
        """The same pruning with no weight of a removed unit marked kept."""
        if self.neurons is not None:
            return self
        output = np.asarray(self.output_weights, dtype=bool)
        hidden = np.asarray(self.hidden_weights, dtype=bool)
        live = output.reshape(-1, hidden.shape[0]).any(axis=0)
        return Mask(hidden_weights=hidden & live[:, None], output_weights=output.copy())

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
