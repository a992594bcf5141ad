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


def _net(net: Network, x: list[Fraction], hidden: np.ndarray, live: np.ndarray) -> Fraction:
    u = np.asarray(net.hidden_weights, dtype=float)
    biases = net.biases
    total = _f(net.output_bias)
    for i in range(net.n):
        if not live[i]:
            continue
        pre = _f(biases[i]) + sum(
            (_f(u[i, j]) * x[j] for j in range(net.d) if hidden[i, j]), Fraction(0)
        )
        total += _f(net.output_weights[i]) * max(pre, Fraction(0))
    return _act(net.output_activation, total)


def exact_error(problem: Problem, mask: Mask) -> Fraction:
    net = problem.network
    points = problem.points()
    hidden = mask.hidden_matrix(net.n, net.d)
    live = mask.unit_vector(net.n)
    target = problem.target
    worst = Fraction(0)
    for k, row in enumerate(points):
        x = [_f(v) for v in row]
        if isinstance(target, Samples):
            y = _f(target.values[k])
        elif isinstance(target, Neuron):
            y = _act(
                target.activation,
                _f(target.bias) + sum(_f(w) * xi for w, xi in zip(target.weights, x, strict=False)),
            )
        else:
            ones = np.ones((target.n, target.d), dtype=bool)
            y = _net(target, x, ones, np.ones(target.n, dtype=bool))
        worst = max(worst, abs(_net(net, x, hidden, live) - y))
    return worst


def all_masks(problem: Problem):
    n, d = problem.network.n, problem.network.d
    if problem.pruning == PruningMode.NEURONS:
        for bits in itertools.product([False, True], repeat=n):
            yield Mask(neurons=np.array(bits, dtype=bool))
        return
    # Per unit: removed, or kept with one of the 2^d hidden masks.
    options = [None] + list(itertools.product([False, True], repeat=d))
    for choice in itertools.product(options, repeat=n):
        hidden = np.zeros((n, d), dtype=bool)
        live = np.zeros(n, dtype=bool)
        for i, c in enumerate(choice):
            if c is not None:
                live[i] = True
                hidden[i] = c
        yield Mask(hidden_weights=hidden, output_weights=live)


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


def table(problem: Problem) -> Table:
    return Table([(m.kept(), exact_error(problem, m), m) for m in all_masks(problem)])
