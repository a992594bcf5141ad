"""Batches of 1-D subset-sum instances (the per-weight construction of Pensia et al. 2020; the
`subset_sum` family): meet in the middle per instance with lean numpy, certified without the
general engine's per-instance set-up.

Instance: candidates c (n,), target w; keep a subset S minimising |sum_S c - w| (neurons mode,
d = 1, unit hidden weights, identity output, one point x = 1). Certificate: the chosen subset's
error is computed exactly (math.fsum is correctly rounded; the sign of a second fsum of the
residual decides the directed rounding), and the bound is the float optimum minus delta,
delta = 2 gamma_(n+3) (sum |c| + |w|), gamma_k = k u / (1 - k u), u = 2^-53, which covers the
rounding of every subset sum the search compares (solver/separable.py uses the same bound).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

UNIT_ROUNDOFF = 2.0**-53


@dataclass(frozen=True)
class SubsetSumAnswer:
    keep: np.ndarray  # (n,) bool
    error_upper: float  # exact error of `keep`, rounded up
    bound: float  # rigorous lower bound on the optimal error (rounded down)


def _bits(count: int) -> np.ndarray:
    """(2^count, count) 0/1 matrix: row r holds the bits of r."""
    rows = np.arange(1 << count)[:, None]
    return ((rows >> np.arange(count)) & 1).astype(np.float64)


def exact_error_upper(values: list[float], target: float) -> float:
    """The smallest double >= |sum(values) - target|, exactly."""
    terms = [*values, -target]
    nearest = math.fsum(terms)
    residual = math.fsum([*terms, -nearest])  # its sign is the sign of (exact - nearest)
    if nearest > 0 or (nearest == 0 and residual >= 0):
        return math.nextafter(nearest, math.inf) if residual > 0 else nearest
    return math.nextafter(-nearest, math.inf) if residual < 0 else -nearest


class SubsetSumSolver:
    """Meet in the middle for many instances of one size n (bit matrices built once)."""

    def __init__(self, n: int):
        self.n = n
        self.half = n // 2
        self.left_bits = _bits(self.half)
        self.right_bits = _bits(n - self.half)
        steps = n + 3
        self.gamma = steps * UNIT_ROUNDOFF / (1 - steps * UNIT_ROUNDOFF)

    def solve(self, candidates: np.ndarray, target: float) -> SubsetSumAnswer:
        c = np.asarray(candidates, dtype=np.float64)
        left = self.left_bits @ c[: self.half]
        right = self.right_bits @ c[self.half :]
        order = np.argsort(right, kind="stable")
        right_sorted = right[order]
        want = target - left
        pos = np.searchsorted(right_sorted, want)
        lo = np.clip(pos - 1, 0, len(right_sorted) - 1)
        hi = np.clip(pos, 0, len(right_sorted) - 1)
        err_lo = np.abs(left + right_sorted[lo] - target)
        err_hi = np.abs(left + right_sorted[hi] - target)
        use_hi = err_hi < err_lo
        errs = np.where(use_hi, err_hi, err_lo)
        i = int(np.argmin(errs))
        j = int(order[hi[i] if use_hi[i] else lo[i]])
        keep = np.concatenate([self.left_bits[i], self.right_bits[j]]).astype(bool)
        delta = 2 * self.gamma * (float(np.abs(c).sum()) + abs(target))
        bound = max(0.0, math.nextafter(float(errs[i]) - delta, -math.inf))
        error = exact_error_upper(c[keep].tolist(), target)
        return SubsetSumAnswer(keep, error, min(bound, error))
