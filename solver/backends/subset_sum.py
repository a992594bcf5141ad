"""Batches of 1-D subset-sum instances (the per-weight construction of Pensia et al. 2020; the
`subset_sum` family): meet in the middle per instance with lean numpy, certified without the
general engine's per-instance set-up.

Instance: candidates c (n,), target w; keep a subset S minimising |sum_S c - w| (neurons mode,
d = 1, unit hidden weights, identity output, one point x = 1). Certificate: the chosen subset's
error is computed exactly (math.fsum is correctly rounded; the sign of a second fsum of the
residual decides the directed rounding), and the bound is the float optimum minus delta,
delta = 2 gamma_(n+3) (sum |c| + |w|), gamma_k = k u / (1 - k u), u = 2^-53, which covers the
rounding of every subset sum the search compares (solver.backends.mitm uses the same bound).
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


def subset_sums(c: np.ndarray) -> np.ndarray:
    """(B, 2^k) sums of every subset of each row of c (B, k); column r is the subset of the bits
    of r, as in _bits. Built by doubling (8x faster here than a matmul with _bits)."""
    sums = np.zeros((c.shape[0], 1))
    for k in range(c.shape[1]):
        sums = np.concatenate([sums, sums + c[:, k : k + 1]], axis=1)
    return sums


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
        return self.solve_batch(np.asarray(candidates, dtype=np.float64)[None, :], [target])[0]

    def solve_batch(self, candidates: np.ndarray, targets) -> list[SubsetSumAnswer]:
        """Instances b = 0..B-1: candidates[b] (B, n) and targets[b]. Everything but one
        searchsorted per instance runs as whole-batch numpy (per-call overhead dominated the
        one-instance-at-a-time version)."""
        c = np.asarray(candidates, dtype=np.float64).reshape(-1, self.n)
        t = np.asarray(targets, dtype=np.float64).reshape(-1)
        rows = np.arange(len(t))
        left = subset_sums(c[:, : self.half])  # (B, 2^half) half sums
        right = subset_sums(c[:, self.half :])  # (B, 2^(n-half))
        want = t[:, None] - left
        # Plain sorts of values (SIMD in numpy, ~10x faster than a stable argsort) and sorted
        # queries (searchsorted walks them in one pass); the indices of the best pair are found
        # afterwards by value: any pair with the same float values has the same float error.
        right_sorted = np.sort(right, axis=1)
        want_sorted = np.sort(want, axis=1)
        pos = np.empty(want.shape, dtype=np.intp)
        for b in rows:
            pos[b] = np.searchsorted(right_sorted[b], want_sorted[b])
        last = right.shape[1] - 1
        lo = np.take_along_axis(right_sorted, np.clip(pos - 1, 0, last), axis=1)
        hi = np.take_along_axis(right_sorted, np.minimum(pos, last), axis=1)
        err_lo = np.abs(lo - want_sorted)
        err_hi = np.abs(hi - want_sorted)
        use_hi = err_hi < err_lo
        errs = np.where(use_hi, err_hi, err_lo)
        best = np.argmin(errs, axis=1)
        # The float error of the best pair as the search compared it (|right - (target - left)|).
        err = errs[rows, best]
        partner = np.where(use_hi[rows, best], hi[rows, best], lo[rows, best])
        i = np.argmax(want == want_sorted[rows, best][:, None], axis=1)  # first match
        j = np.argmax(right == partner[:, None], axis=1)
        keep = np.concatenate([self.left_bits[i], self.right_bits[j]], axis=1).astype(bool)
        delta = 2 * self.gamma * (np.abs(c).sum(axis=1) + np.abs(t))
        # Subnormal data: the relative delta underflows; additions of doubles with a subnormal
        # result are exact, but keep an absolute (n + 3) 2^-1074 so the bound never rests on it.
        delta = delta + (self.n + 3) * 2.0**-1074
        bounds = np.maximum(0.0, np.nextafter(err - delta, -np.inf))
        answers = []
        for b in rows:
            error = exact_error_upper(c[b][keep[b]].tolist(), float(t[b]))
            answers.append(SubsetSumAnswer(keep[b], error, min(float(bounds[b]), error)))
        return answers
