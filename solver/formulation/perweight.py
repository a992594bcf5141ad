"""The per-weight formulation of weights mode (docs/design.md §15): one binary per weight instead
of one candidate per hidden mask, for the larger d where the 2^d patterns of the column model
(solver/formulation/columns.py, docs/design.md §3) do not scale.

For a live unit i (output weight v_i != 0) at point x_k, with s_i = sign(v_i), the unit's
contribution to the output is
    v_i relu(u_i(w) . x_k + b_i) = s_i relu(r_ik(w)),
    r_ik(w) = sum_j c_ijk w_ij + beta_i,   c_ijk = |v_i| u_ij x_kj,   beta_i = |v_i| b_i,
where w_ij in {0, 1} says whether u_ij is kept. r_ik is linear in the binaries, so the only
nonlinearity is one ReLU per (live unit, point). This module computes, exactly, every c_ijk,
beta_i, target value and the output bias as integers at one common exponent, and the interval
bounds of r_ik over all masks:
    low_ik = beta_i + sum_j min(0, c_ijk),   high_ik = beta_i + sum_j max(0, c_ijk).
These are the exact minimum and maximum of r_ik over the unit's masks (a linear function on the
0-1 cube attains its extremes at vertices, and each w_ij is free), so they are the tightest
big-M a formulation can have: an LP per unit and point (Fischetti & Jo 2018, Anderson et al.
2020), which tightens bounds through several layers of a trained network, cannot improve them
for one hidden layer. A unit with high_ik <= 0 contributes nothing at x_k under any mask; one
with low_ik >= 0 is linear there whenever it is live: both need no indicator.

A solver's choice of weights maps back to the column model's candidates through
ColumnModel.choice, so the engine's row generation and certificates stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solver import exact
from solver.core.problem import Mask, PruningMode
from solver.formulation.columns import ColumnModel


@dataclass(eq=False)
class PerWeightData:
    """The exact data of the per-weight formulation on some of a column model's points. Every
    integer (the object arrays, ``bias``) stands for the value int * 2**``exp``."""

    model: ColumnModel
    rows: np.ndarray  # the column model's rows these points are
    units: list[int]  # units with a nonzero output weight (the others are always dead)
    weights: list[list[int]]  # per unit in ``units``: the j with u_ij != 0 (zeros change nothing)
    sign: list[int]  # per unit: sign(v_i), +1 or -1
    coef: np.ndarray  # object (units, points, d): c_ijk
    beta: np.ndarray  # object (units,): beta_i
    low: np.ndarray  # object (units, points): the least r_ik over masks
    high: np.ndarray  # object (units, points): the largest r_ik over masks
    target: np.ndarray  # object (points,)
    bias: int  # the output bias
    exp: int
    output_relu: bool

    @property
    def num_points(self) -> int:
        return len(self.rows)

    def candidates(self, live: list[bool], kept: list[list[bool]]) -> list[int]:
        """The column model's candidates of a per-weight choice: ``live`` per unit in ``units``,
        ``kept`` per unit over its ``weights``."""
        return self.model.choice(self.mask(live, kept))

    def mask(self, live: list[bool], kept: list[list[bool]]) -> Mask:
        """The weights-mode mask of a per-weight choice (weights of dead units not kept)."""
        n, d = self.model.problem.network.n, self.model.problem.network.d
        hidden = np.zeros((n, d), dtype=bool)
        output = np.zeros(n, dtype=bool)
        for a, unit in enumerate(self.units):
            if live[a]:
                output[unit] = True
                for j, on in zip(self.weights[a], kept[a], strict=True):
                    hidden[unit, j] = bool(on)
        return Mask(hidden_weights=hidden, output_weights=output)

    def assignment(self, chosen: list[int]) -> tuple[list[bool], list[list[bool]]]:
        """The per-weight choice of some of the column model's candidates (for hints)."""
        by_unit = {self.model.candidates[c].unit: self.model.candidates[c] for c in chosen}
        live, kept = [], []
        for a, unit in enumerate(self.units):
            candidate = by_unit.get(unit)
            live.append(candidate is not None)
            hidden = candidate.hidden if candidate is not None else None
            kept.append([bool(hidden is not None and hidden[j]) for j in self.weights[a]])
        return live, kept


def per_weight_data(model: ColumnModel, rows: np.ndarray) -> PerWeightData:
    """The exact per-weight data of a weights-mode problem with one output on ``rows`` of
    ``model`` (the column model supplies the points, target and output bias it uses, exactly)."""
    problem = model.problem
    if problem.pruning != PruningMode.WEIGHTS:
        raise ValueError("the per-weight formulation is for weights mode")
    net = problem.network
    n, d = net.n, net.d
    rows = np.asarray(rows, dtype=np.int64)
    u = np.asarray(net.hidden_weights, dtype=float).reshape(n, d)
    v = np.asarray(net.output_weights, dtype=float).reshape(n)
    units = [i for i in range(n) if v[i] != 0]
    weights = [[j for j in range(d) if u[i, j] != 0] for i in units]
    sign = [1 if v[i] > 0 else -1 for i in units]
    points = problem.points()[model.point_index[rows]].reshape(len(rows), d)
    x = exact.from_floats(points)
    uu = exact.from_floats(u[units].reshape(len(units), d))
    vv = exact.from_floats(np.abs(v[units]))
    bb = exact.from_floats(net.biases[units])
    coef_ints = vv.ints[:, None, None] * uu.ints[:, None, :] * x.ints[None, :, :]
    coef_exp = vv.exp + uu.exp + x.exp
    beta_ints, beta_exp = vv.ints * bb.ints, vv.exp + bb.exp
    target = np.asarray(model.target, dtype=object).reshape(model.num_points)[rows]
    e = min(coef_exp, beta_exp, model.exp)
    coef = np.asarray(coef_ints * (1 << (coef_exp - e)), dtype=object).reshape(
        len(units), len(rows), d
    )
    beta = np.asarray(beta_ints * (1 << (beta_exp - e)), dtype=object).reshape(len(units))
    shift = 1 << (model.exp - e)
    zero = np.zeros_like(coef)
    low = np.minimum(coef, zero).sum(axis=2) + beta[:, None] if len(units) else coef.sum(axis=2)
    high = np.maximum(coef, zero).sum(axis=2) + beta[:, None] if len(units) else coef.sum(axis=2)
    return PerWeightData(
        model=model,
        rows=rows,
        units=units,
        weights=weights,
        sign=sign,
        coef=coef,
        beta=beta,
        low=np.asarray(low, dtype=object).reshape(len(units), len(rows)),
        high=np.asarray(high, dtype=object).reshape(len(units), len(rows)),
        target=np.asarray(target * shift, dtype=object),
        bias=int(model.bias) * shift,
        exp=e,
        output_relu=model.output_relu,
    )
