"""The per-weight formulation of weights mode (docs/design.md §15): one binary per weight instead
of one candidate per hidden mask, for the larger d where the 2^d patterns of the column model
(solver/formulation/columns.py, docs/design.md §3) do not scale.

Rows are (point, output) pairs, point-major, as in the column model (docs/design.md §3): with k
outputs, row q = p k + o is output o at the model's point x_p (one output: the rows are the
points). For a unit i with output weight v_oi != 0 and s_oi = sign(v_oi), the unit's contribution
at row q = (p, o) is
    v_oi relu(u_i(w) . x_p + b_i) = s_oi relu(r_iq(w)),
    r_iq(w) = sum_j c_ijq w_ij + beta_iq,   c_ijq = |v_oi| u_ij x_pj,   beta_iq = |v_oi| b_i,
where w_ij in {0, 1} says whether u_ij is kept (the output weights' own binaries, and whether the
unit is live at all, are the backend's: solver/backends/perweight.py). r_iq is linear in the
binaries, so the only nonlinearity is one ReLU per (live unit, point): r_iq is |v_oi| times the
unit's pre-activation at x_p, whose sign does not depend on o. This module computes, exactly,
every c_ijq, beta_iq, target value and output bias as integers at one common exponent, per row,
and the interval bounds of r_iq over all masks:
    low_iq = beta_iq + sum_j min(0, c_ijq),   high_iq = beta_iq + sum_j max(0, c_ijq).
These are the exact minimum and maximum of r_iq over the unit's masks (a linear function on the
0-1 cube attains its extremes at vertices, and each w_ij is free), so they are the tightest
big-M a formulation can have: an LP per unit and point (Fischetti & Jo 2018, Anderson et al.
2020), which tightens bounds through several layers of a trained network, cannot improve them
for one hidden layer. A unit with high_iq <= 0 contributes nothing at row q under any mask; one
with low_iq >= 0 is linear there whenever it is live: both need no indicator. At a row whose
output weight v_oi is zero, c = beta = low = high = 0 and the sign is 0: the unit adds nothing.

The data uses only what every column model has (its problem, point_index, target, biases, exp,
output_relu, num_outputs), never its enumerated candidates, so it serves the lazy model too; a
solver's choice of weights maps back to the column model's candidates through
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
    """The exact data of the per-weight formulation on some of a column model's rows. Every
    integer (the object arrays) stands for the value int * 2**``exp``. Per-row arrays follow
    ``rows``; "unit" indices a follow ``units``."""

    model: ColumnModel
    rows: np.ndarray  # the column model's rows ((point, output) pairs, point-major)
    units: list[int]  # units with a nonzero output weight (the others are always dead)
    weights: list[list[int]]  # per unit: the j with u_ij != 0 (zeros change nothing)
    outputs: list[list[int]]  # per unit: the o with v_oi != 0 (its output weights to choose)
    sign: np.ndarray  # int (units, rows): sign(v_oi) of the row's output o (0 where v_oi = 0)
    coef: np.ndarray  # object (units, rows, d): c_ijq
    beta: np.ndarray  # object (units, rows): beta_iq
    low: np.ndarray  # object (units, rows): the least r_iq over masks
    high: np.ndarray  # object (units, rows): the largest r_iq over masks
    target: np.ndarray  # object (rows,)
    biases: np.ndarray  # object (rows,): the output bias c_o of each row's output
    exp: int
    output_relu: bool
    num_outputs: int  # k
    row_point: np.ndarray  # int (rows,): the row's point, an index into model.point_index

    @property
    def num_points(self) -> int:
        """The rows ((point, output) pairs; the points when k = 1)."""
        return len(self.rows)

    def candidates(self, kept_out: list[list[bool]], kept: list[list[bool]]) -> list[int]:
        """The column model's candidates of a per-weight choice: ``kept_out`` per unit over its
        ``outputs``, ``kept`` per unit over its ``weights``."""
        return self.model.choice(self.mask(kept_out, kept))

    def mask(self, kept_out: list[list[bool]], kept: list[list[bool]]) -> Mask:
        """The weights-mode mask of a per-weight choice: a unit keeping no output weight is dead
        and keeps no hidden weight (the canonical mask); output_weights is k x n when k > 1."""
        net = self.model.problem.network
        n, d, k = net.n, net.d, self.num_outputs
        hidden = np.zeros((n, d), dtype=bool)
        output = np.zeros((k, n), dtype=bool)
        for a, unit in enumerate(self.units):
            for o, on in zip(self.outputs[a], kept_out[a], strict=True):
                output[o, unit] = bool(on)
            if output[:, unit].any():
                for j, on in zip(self.weights[a], kept[a], strict=True):
                    hidden[unit, j] = bool(on)
        return Mask(hidden_weights=hidden, output_weights=output[0] if k == 1 else output)

    def assignment(self, chosen: list[int]) -> tuple[list[list[bool]], list[list[bool]]]:
        """The per-weight choice (kept output weights, kept hidden weights per unit) of some of
        the column model's candidates (for hints; only the chosen candidates are read)."""
        by_unit = {self.model.candidates[c].unit: self.model.candidates[c] for c in chosen}
        kept_out, kept = [], []
        for a, unit in enumerate(self.units):
            candidate = by_unit.get(unit)
            if candidate is None:
                kept_out.append([False] * len(self.outputs[a]))
                kept.append([False] * len(self.weights[a]))
                continue
            outs = candidate.outputs  # None only outside weights mode
            kept_out.append([bool(outs is None or outs[o]) for o in self.outputs[a]])
            hidden = candidate.hidden
            kept.append([bool(hidden is not None and hidden[j]) for j in self.weights[a]])
        return kept_out, kept


def per_weight_data(model: ColumnModel, rows: np.ndarray) -> PerWeightData:
    """The exact per-weight data of a weights-mode problem with k >= 1 outputs on ``rows`` of
    ``model`` ((point, output) pairs; the column model supplies the points, target and output
    biases it uses, exactly)."""
    problem = model.problem
    if problem.pruning != PruningMode.WEIGHTS:
        raise ValueError("the per-weight formulation is for weights mode")
    net = problem.network
    n, d, k = net.n, net.d, int(model.num_outputs)
    rows = np.asarray(rows, dtype=np.int64)
    u = np.asarray(net.hidden_weights, dtype=float).reshape(n, d)
    v = net.output_matrix.reshape(k, n)
    units = [i for i in range(n) if np.any(v[:, i] != 0)]
    weights = [[j for j in range(d) if u[i, j] != 0] for i in units]
    outputs = [[o for o in range(k) if v[o, i] != 0] for i in units]
    row_point, row_output = rows // k, rows % k
    points = problem.points()[model.point_index[row_point]].reshape(len(rows), d)
    x = exact.from_floats(points)
    uu = exact.from_floats(u[units].reshape(len(units), d))
    vv = exact.from_floats(np.abs(v[:, units]).reshape(k, len(units)))
    bb = exact.from_floats(net.biases[units])
    # |v_oi| of each row's output o, per unit: (units, rows).
    v_rows = vv.ints[row_output, :].T.reshape(len(units), len(rows))
    coef_ints = v_rows[:, :, None] * uu.ints[:, None, :] * x.ints[None, :, :]
    coef_exp = vv.exp + uu.exp + x.exp
    beta_ints, beta_exp = v_rows * bb.ints[:, None], vv.exp + bb.exp
    target = np.asarray(model.target, dtype=object).reshape(model.num_points)[rows]
    biases = np.asarray(model.biases, dtype=object).reshape(model.num_points)[rows]
    e = min(coef_exp, beta_exp, model.exp)
    coef = np.asarray(coef_ints * (1 << (coef_exp - e)), dtype=object).reshape(
        len(units), len(rows), d
    )
    beta = np.asarray(beta_ints * (1 << (beta_exp - e)), dtype=object).reshape(
        len(units), len(rows)
    )
    shift = 1 << (model.exp - e)
    zero = np.zeros_like(coef)
    low = np.minimum(coef, zero).sum(axis=2) + beta if len(units) else coef.sum(axis=2)
    high = np.maximum(coef, zero).sum(axis=2) + beta if len(units) else coef.sum(axis=2)
    sign = np.sign(v[:, units]).astype(np.int64)[row_output, :].T.reshape(len(units), len(rows))
    return PerWeightData(
        model=model,
        rows=rows,
        units=units,
        weights=weights,
        outputs=outputs,
        sign=sign,
        coef=coef,
        beta=beta,
        low=np.asarray(low, dtype=object).reshape(len(units), len(rows)),
        high=np.asarray(high, dtype=object).reshape(len(units), len(rows)),
        target=np.asarray(target * shift, dtype=object),
        biases=np.asarray(biases * shift, dtype=object),
        exp=e,
        output_relu=model.output_relu,
        num_outputs=k,
        row_point=row_point,
    )
