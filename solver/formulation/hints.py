"""Float64 hints for the exact engine: starting solutions (solution hints) and initial active
point sets, computed on a formulation (ColumnModel). The user-facing heuristic baselines are in
solver.heuristics.

They only propose candidates; every figure that reaches a user is certified exactly elsewhere.
"""

from __future__ import annotations

import numpy as np

from solver.formulation.columns import ColumnModel
from solver.formulation.deadline import NO_DEADLINE, Deadline


def float_errors(model: ColumnModel, chosen: list[int]) -> np.ndarray:
    """Approximate |pruned - target| at the model's points."""
    cols, target = model.float_data()
    out = cols[:, chosen].sum(axis=1) + model.float_bias()
    if model.output_relu:
        out = np.maximum(out, 0.0)
    return np.abs(out - target)


def greedy_forward(
    model: ColumnModel,
    max_kept: int | None = None,
    max_error: float | None = None,
    deadline: Deadline = NO_DEADLINE,
) -> list[int]:
    """Add, one at a time, the candidate that lowers the max error most (at most one per unit,
    within the budget); stop when nothing helps, ``max_error`` is reached or ``deadline``
    passes (each step evaluates every candidate at every point: with a thousand units on ten
    thousand points a step takes about 0.1 s). Every prefix is a valid choice."""
    cols, target = model.float_data()
    costs = model.costs
    unit_of = np.array([c.unit for c in model.candidates], dtype=np.int64)
    out = model.float_bias().copy()
    chosen: list[int] = []
    kept = 0
    allowed = np.ones(len(model.candidates), dtype=bool)

    def errors(values: np.ndarray) -> np.ndarray:
        return np.abs((np.maximum(values, 0.0) if model.output_relu else values) - target[:, None])

    current = float(errors(out[:, None]).max()) if model.num_points else 0.0
    while allowed.any() and not deadline.passed():
        if max_error is not None and current <= max_error:
            break
        if max_kept is not None:
            allowed &= costs <= max_kept - kept
        idx = np.flatnonzero(allowed)
        if idx.size == 0:
            break
        trial = errors(out[:, None] + cols[:, idx]).max(axis=0)
        best = int(np.argmin(trial))
        if trial[best] >= current:
            break
        c = int(idx[best])
        chosen.append(c)
        kept += int(costs[c])
        out = out + cols[:, c]
        current = float(trial[best])
        allowed &= unit_of != unit_of[c]
    return chosen


def initial_rows(model: ColumnModel, masks: list[list[int]], size: int = 12) -> np.ndarray:
    """A small starting active set: the worst points of the given choices plus a spread sample."""
    m = model.num_points
    if m <= 3 * size:
        return np.arange(m)
    picked: set[int] = set()
    for chosen in masks:
        worst = np.argsort(-float_errors(model, chosen), kind="stable")[:size]
        picked.update(int(k) for k in worst)
    picked.update(int(k) for k in np.linspace(0, m - 1, size).round().astype(int))
    return np.array(sorted(picked), dtype=np.int64)
