"""Meet in the middle: the exact search for separable problems, a special-purpose backend
(docs/design.md §5 and §9).

When pruning neurons with no budget and every candidate contributes at only one domain point
(d = 1 bias-free: a unit with u > 0 acts only at x = high, one with u < 0 only at x = low; the
subset-sum family has a single point), the points decouple: the optimum is the max over points
of independent 1-D subset-sum problems. Each is solved by meet in the middle over the sorted
subset sums of two halves.

The search runs in float64; every computed sum is within delta of the exact one with
delta = gamma_(m+2) * (sum |a_i| + |y - c|), gamma_k = k u / (1 - k u), u = 2^-53 (standard
bound for recursive summation of k terms), plus (m + 3) 2^-1074 for the data rounded into the
subnormal range, where rounding errs absolutely rather than relatively (computed exactly).
So the exact optimum is at least (float optimum -
delta): that is the bound, and the engine certifies the chosen mask exactly as for any backend.
When that bound is too loose for the tolerance, "auto" moves on to the next backend (the MIP).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from solver.backends.base import (
    Backend,
    BackendOptions,
    BackendOutcome,
    BackendStatus,
    MinErrorTask,
    Task,
)
from solver.backends.subset_sum import UNIT_ROUNDOFF, subset_sums
from solver.core.problem import PruningMode
from solver.formulation.columns import ColumnModel

MAX_CANDIDATES_PER_POINT = 40  # 2^20 sums per half at most
UNIT_ROUNDOFF_EXACT = Fraction(UNIT_ROUNDOFF)
SUBNORMAL_SPACING = Fraction(1, 2**1074)  # the spacing of doubles below 2^-1022


def separable_points(model: ColumnModel) -> list[list[int]] | None:
    """Candidates by the one row they act on, or None if the model is not separable. Rows are
    (point, output) pairs, so with several outputs a unit acting on two outputs (at any point)
    makes the model not separable, and "auto" asks the MIP backends."""
    if model.problem.pruning != PruningMode.NEURONS:
        return None
    by_point: list[list[int]] = [[] for _ in range(model.num_points)]
    for c in range(len(model.candidates)):
        support = np.flatnonzero(model.columns[:, c] != 0)
        if len(support) != 1:
            return None
        by_point[int(support[0])].append(c)
    if any(len(cands) > MAX_CANDIDATES_PER_POINT for cands in by_point):
        return None
    return by_point


def _subset_sums(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All 2^m subset sums (float64) and, for each, its subset as a bit mask (sum r is the
    subset of the bits of r)."""
    sums = subset_sums(np.asarray(values, dtype=np.float64)[None, :])[0]
    return sums, np.arange(len(sums), dtype=np.int64)


def _best_subset(values: np.ndarray, target: float, relu: bool, bias: float) -> tuple[float, int]:
    """(float error, bit mask) of the subset whose output best matches ``target``.

    Identity output: minimise |s + bias - target|. ReLU output: |max(s + bias, 0) - target|.
    """
    half = len(values) // 2
    left, left_masks = _subset_sums(values[:half])
    right, right_masks = _subset_sums(values[half:])
    order = np.argsort(right, kind="stable")
    right, right_masks = right[order], right_masks[order]
    want = target - bias - left  # for each left sum, the right sum that hits the target
    pos = np.searchsorted(right, want)
    best_err, best_mask = np.inf, 0
    for shift in (-1, 0):
        idx = np.clip(pos + shift, 0, len(right) - 1)
        outputs = left + right[idx] + bias
        if relu:
            outputs = np.maximum(outputs, 0.0)
        errs = np.abs(outputs - target)
        j = int(np.argmin(errs))
        if errs[j] < best_err:
            best_err, best_mask = float(errs[j]), int(left_masks[j] | (right_masks[idx[j]] << half))
    if relu:
        # Any subset with output <= 0 gives error |target|; the smallest sum is the best bet.
        lowest = left[:, None] + right[None, :1] + bias
        j = int(np.argmin(lowest[:, 0]))
        if lowest[j, 0] <= 0 and abs(target) < best_err:
            best_err, best_mask = abs(target), int(left_masks[j] | (right_masks[0] << half))
    return best_err, best_mask


def solve_separable(
    model: ColumnModel, by_point: list[list[int]], rows: np.ndarray | None = None
) -> tuple[list[int], Fraction]:
    """(chosen candidates, rigorous lower bound on the optimal error over the model's points
    ``rows``, default all). A candidate acting on a point outside ``rows`` is not chosen."""
    cols, target = model.float_data()
    biases = model.float_bias()  # per row: a row is a (point, output) pair
    chosen: list[int] = []
    bound = Fraction(0)
    points = range(model.num_points) if rows is None else sorted(int(k) for k in rows)
    for k in points:
        cands, bias = by_point[k], float(biases[k])
        values = np.array([cols[k, c] for c in cands], dtype=float)
        err, bits = _best_subset(values, float(target[k]), model.output_relu, bias)
        chosen += [c for i, c in enumerate(cands) if bits >> i & 1]
        # Rounding of the data (to float) and of every sum, bounded together, in exact
        # arithmetic (a float delta underflows to 0 on subnormal data).
        scale = sum(Fraction(abs(float(v))) for v in values) + abs(Fraction(float(target[k])))
        scale += abs(Fraction(bias))
        steps = len(values) + 3
        gamma = Fraction(steps) * UNIT_ROUNDOFF_EXACT / (1 - steps * UNIT_ROUNDOFF_EXACT)
        # Relative error bounds fail below the normal range: rounding a datum to a subnormal
        # double errs by up to half its spacing 2^-1074 absolutely, so each of the m + 2 data
        # (columns, target, bias) adds 2^-1074 (twice what is needed, as the relative term).
        # Sums and differences of doubles need no such term: an addition whose result is
        # subnormal is exact.
        delta = 2 * gamma * scale + steps * SUBNORMAL_SPACING
        point_bound = Fraction(err) - delta
        bound = max(bound, point_bound)
    return chosen, max(bound, Fraction(0))


class MeetInTheMiddleBackend(Backend):
    """Separable min_error tasks without a budget, by meet in the middle per point."""

    name = "meet-in-the-middle"
    # One search of at most 2^20 sums per half: it is not interrupted, it ends in seconds.
    supports_early_stop = False
    special_purpose = True
    formulation = "separable"
    # Its subset sums range over the model's candidates: on a lazy model they would be only
    # those enumerated so far (Backend.accepts).
    over_candidates = True

    @classmethod
    def available(cls) -> bool:
        return True  # numpy only

    @classmethod
    def version(cls) -> str:
        return f"numpy {np.__version__}"

    @classmethod
    def accepts(cls, model: ColumnModel, task: Task) -> bool:
        """Neurons mode, every candidate acting on one point (at most MAX_CANDIDATES_PER_POINT
        per point), min_error without a budget (a budget couples the points)."""
        return (
            super().accepts(model, task)
            and isinstance(task, MinErrorTask)
            and task.max_kept is None
            and separable_points(model) is not None
        )

    def solve(
        self, model: ColumnModel, rows: np.ndarray, task: Task, options: BackendOptions
    ) -> BackendOutcome:
        self.check_fixed_units(options)  # its subset sums range over every unit
        by_point = separable_points(model)
        if by_point is None or not self.accepts(model, task):
            raise ValueError("meet in the middle: the model or task is not separable")
        chosen, bound = solve_separable(model, by_point, rows)
        return BackendOutcome(BackendStatus.OPTIMAL, chosen=chosen, error_bound=bound)
