"""Which units a distributed solve splits on (docs/design.md §16): each rule ranks the units, and
the first k of the ranking give the 2^k cubes; a stalled cube splits again on the next unit of
the same ranking.

A rule only decides how the work is divided: every ranking gives cubes that cover all choices,
so no rule can make a certificate wrong, only slower.

- ``magnitude``: largest |v_i| |u_i| first, the units whose presence moves the output most.
- ``kink``: a neuron target only: the units whose kink hyperplane (u_i . x + b_i = 0) lies
  nearest the target's (w . x + b = 0), by the angle between their normals; near the target's
  kink the pruned network must bend where the target does, so these decisions matter most.
- ``lp``: the LP relaxation of the model on its points (float64, scipy's HiGHS): the units whose
  relaxed choice is most fractional, the classic most-infeasible branching of MIP solvers. The
  LP only ranks; it proves nothing.
"""

from __future__ import annotations

import numpy as np

from solver.core.errors import FieldViolation, InvalidProblemError
from solver.core.parameters import CUBE_RULES
from solver.core.problem import Neuron
from solver.formulation.columns import ColumnModel

SPLIT_RULES = CUBE_RULES  # the contract's names (solver.core.parameters)
RULE_FIELD = "parameters.distributed.cube_rule"
RULE_FLAG = "--cube-rule"


def split_order(rule: str, model: ColumnModel, max_kept: int | None = None) -> list[int]:
    """Every unit with a candidate in ``model``, best to split on first under ``rule``."""
    units = [model.candidates[group[0]].unit for group in model.groups if group]
    magnitude = _magnitudes(model)
    if rule == "magnitude":
        score = {u: -magnitude[u] for u in units}
    elif rule == "kink":
        target = model.problem.target
        if not isinstance(target, Neuron):
            raise InvalidProblemError(
                FieldViolation(
                    RULE_FIELD,
                    "the kink rule needs a neuron target; use magnitude or lp",
                    RULE_FLAG,
                )
            )
        score = {u: _kink_angle(model, target, u) for u in units}
    elif rule == "lp":
        fractional = _lp_fractionality(model, max_kept)
        score = {u: -fractional.get(u, 0.0) for u in units}
    else:
        raise InvalidProblemError(
            FieldViolation(
                RULE_FIELD, f"unknown rule {rule!r}; known: {', '.join(SPLIT_RULES)}", RULE_FLAG
            )
        )
    # Ties (e.g. integral LP values) go to the larger unit: a stable, data-given order.
    return sorted(units, key=lambda u: (score[u], -magnitude[u], u))


def _magnitudes(model: ColumnModel) -> dict[int, float]:
    net = model.problem.network
    u = np.asarray(net.hidden_weights, dtype=float)
    v = net.output_matrix
    return {i: float(np.linalg.norm(v[:, i]) * np.linalg.norm(u[i])) for i in range(net.n)}


def _kink_angle(model: ColumnModel, target: Neuron, unit: int) -> float:
    """1 - |cos| of the angle between the unit's and the target's kink normals (0: parallel
    kinks), with the biases as one more coordinate so that parallel but shifted kinks differ."""
    net = model.problem.network
    w = np.append(np.asarray(target.weights, dtype=float), target.bias)
    bias = 0.0 if net.hidden_biases is None else float(net.hidden_biases[unit])
    u = np.append(np.asarray(net.hidden_weights, dtype=float)[unit], bias)
    norms = float(np.linalg.norm(u) * np.linalg.norm(w))
    return 1.0 if norms == 0 else 1.0 - abs(float(u @ w)) / norms


def _lp_fractionality(model: ColumnModel, max_kept: int | None) -> dict[int, float]:
    """Per unit, min(s, 1 - s) where s is the unit's total relaxed choice in the LP: minimise t
    with |o_k - y_k| <= t on every row (with a ReLU output only the upper side, and the lower
    side where y_k > 0: a relaxation of both branches is not needed for a ranking)."""
    from scipy.optimize import linprog

    cols, y = model.float_data()
    bias = model.float_bias()
    num = cols.shape[1]
    if num == 0:
        return {}
    ones = -np.ones((cols.shape[0], 1))
    upper = np.hstack([cols, ones])
    rhs_up = y - bias
    lower_rows = np.ones(len(y), dtype=bool) if not model.output_relu else y > 0
    a_ub = [upper, np.hstack([-cols[lower_rows], ones[lower_rows]])]
    b_ub = [rhs_up, -(y - bias)[lower_rows]]
    for group in model.groups:
        if len(group) > 1:
            row = np.zeros(num + 1)
            row[group] = 1.0
            a_ub.append(row[None, :])
            b_ub.append(np.array([1.0]))
    if max_kept is not None:
        row = np.append([float(c.cost) for c in model.candidates], 0.0)
        a_ub.append(row[None, :])
        b_ub.append(np.array([float(max_kept)]))
    objective = np.zeros(num + 1)
    objective[-1] = 1.0
    bounds = [(0.0, 1.0)] * num + [(0.0, None)]
    answer = linprog(
        objective, A_ub=np.vstack(a_ub), b_ub=np.concatenate(b_ub), bounds=bounds, method="highs"
    )
    if answer.x is None:
        return {}
    fractional = {}
    for group in model.groups:
        share = float(np.clip(answer.x[group].sum(), 0.0, 1.0))
        fractional[model.candidates[group[0]].unit] = min(share, 1.0 - share)
    return fractional
