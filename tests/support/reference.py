"""An independent brute-force reference: enumerate every mask, evaluate in Fractions.

Deliberately shares no code with the engine beyond the model dataclasses.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from solver.core.problem import Activation, Mask, Network, Neuron, Problem, PruningMode, Samples


def _f(x) -> Fraction:
    return Fraction(float(x))


def _act(activation: Activation, z: Fraction) -> Fraction:
    return max(z, Fraction(0)) if activation == Activation.RELU else z


def _net(
    net: Network, x: list[Fraction], hidden: np.ndarray, kept_out: np.ndarray
) -> list[Fraction]:
    """Every output of ``net`` at ``x``; ``kept_out`` (k x n) says which output weights act."""
    u = np.asarray(net.hidden_weights, dtype=float)
    v = np.asarray(net.output_weights, dtype=float).reshape(-1, net.n)
    c = np.asarray(net.output_bias, dtype=float).reshape(-1)
    biases = net.biases
    outputs = []
    for o in range(v.shape[0]):
        total = _f(c[o] if c.size > 1 else c[0])
        for i in range(net.n):
            if not kept_out[o, i]:
                continue
            pre = _f(biases[i]) + sum(
                (_f(u[i, j]) * x[j] for j in range(net.d) if hidden[i, j]), Fraction(0)
            )
            total += _f(v[o, i]) * max(pre, Fraction(0))
        outputs.append(_act(net.output_activation, total))
    return outputs


def exact_error(problem: Problem, mask: Mask) -> Fraction:
    """max over points and outputs of |pruned - target|, in Fractions."""
    net = problem.network
    k = np.asarray(net.output_weights).reshape(-1, net.n).shape[0]
    points = problem.points()
    hidden = mask.hidden_matrix(net.n, net.d)
    if mask.neurons is not None:
        kept_out = np.repeat(np.asarray(mask.neurons, dtype=bool)[None, :], k, axis=0)
    else:
        kept_out = np.asarray(mask.output_weights, dtype=bool).reshape(k, net.n)
    target = problem.target
    worst = Fraction(0)
    for p, row in enumerate(points):
        x = [_f(v) for v in row]
        if isinstance(target, Samples):
            y = [_f(v) for v in np.asarray(target.values, dtype=float).reshape(len(points), k)[p]]
        elif isinstance(target, Neuron):
            y = [
                _act(
                    target.activation,
                    _f(target.bias)
                    + sum(_f(w) * xi for w, xi in zip(target.weights, x, strict=False)),
                )
            ]
        else:
            ones = np.ones((target.n, target.d), dtype=bool)
            y = _net(target, x, ones, np.ones((k, target.n), dtype=bool))
        pruned = _net(net, x, hidden, kept_out)
        worst = max([worst] + [abs(a - b) for a, b in zip(pruned, y, strict=True)])
    return worst


def all_masks(problem: Problem):
    n, d = problem.network.n, problem.network.d
    shape = np.shape(problem.network.output_weights)  # (n,) or (k, n)
    k = shape[0] if len(shape) == 2 else 1
    if problem.pruning == PruningMode.NEURONS:
        for bits in itertools.product([False, True], repeat=n):
            yield Mask(neurons=np.array(bits, dtype=bool))
        return
    # Per unit: every hidden mask times every set of kept output weights; with no output weight
    # kept the unit is dead, and its hidden weights do not matter (one representative, all off).
    kept_sets = [s for s in itertools.product([False, True], repeat=k) if any(s)]
    options = [None] + [
        (h, s) for h in itertools.product([False, True], repeat=d) for s in kept_sets
    ]
    for choice in itertools.product(options, repeat=n):
        hidden = np.zeros((n, d), dtype=bool)
        output = np.zeros((k, n), dtype=bool)
        for i, c in enumerate(choice):
            if c is not None:
                hidden[i] = c[0]
                output[:, i] = c[1]
        yield Mask(hidden_weights=hidden, output_weights=output[0] if k == 1 else output)


@dataclass
class Table:
    """Every mask's (kept, exact error)."""

    entries: list[tuple[int, Fraction, Mask]]

    def min_error(self, max_kept: int | None = None) -> Fraction:
        return min(e for k, e, _ in self.entries if max_kept is None or k <= max_kept)

    def min_kept(self, max_error: Fraction) -> int | None:
        ks = [k for k, e, _ in self.entries if e <= max_error]
        return min(ks) if ks else None

    def frontier(self, max_kept: int | None = None) -> list[tuple[int, Fraction]]:
        best: dict[int, Fraction] = {}
        for k, e, _ in self.entries:
            if max_kept is not None and k > max_kept:
                continue
            best[k] = min(e, best.get(k, e))
        out: list[tuple[int, Fraction]] = []
        for k in sorted(best):
            if not out or best[k] < out[-1][1]:
                out.append((k, best[k]))
        return out


def kept(mask: Mask) -> int:
    """Units (neurons mode), or the hidden weights of live units (with an output weight kept)
    plus the kept output weights (weights mode), counted here rather than by Mask.kept."""
    if mask.neurons is not None:
        return int(np.count_nonzero(mask.neurons))
    hidden = np.asarray(mask.hidden_weights, dtype=bool)
    output = np.asarray(mask.output_weights, dtype=bool).reshape(-1, hidden.shape[0])
    live = output.any(axis=0)
    return int(np.count_nonzero(hidden[live]) + np.count_nonzero(output))


def table(problem: Problem) -> Table:
    return Table([(kept(m), exact_error(problem, m), m) for m in all_masks(problem)])
