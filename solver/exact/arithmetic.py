"""Exact arithmetic on float64 inputs.

Every double is a dyadic rational p / 2^k, so sums and products of the inputs are exact in
Python integers once all values of an array share one power of two: ``Dyadic(ints, exp)``
holds ``ints * 2**exp`` with ``ints`` an object array of Python ints. This is what the
certificates use (docs/design.md §2): no rounding happens until a final, directed
conversion back to float.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np


@dataclass(frozen=True, eq=False)
class Dyadic:
    """An array of exact values ``ints * 2**exp``."""

    ints: np.ndarray  # object dtype, Python ints
    exp: int

    @property
    def shape(self) -> tuple[int, ...]:
        return self.ints.shape

    def at(self, exp: int) -> np.ndarray:
        """The integers of the same values at a lower (or equal) exponent."""
        if exp > self.exp:
            raise ValueError("can only move to a finer exponent")
        return self.ints * (1 << (self.exp - exp))

    def __getitem__(self, index) -> Dyadic:
        return Dyadic(np.asarray(self.ints[index], dtype=object), self.exp)

    def to_float(self) -> np.ndarray:
        """Nearest-ish float64 values, for heuristics only (never for certificates)."""
        flat = [
            math.ldexp(float(v), self.exp)
            if abs(v) < 1 << 1000
            else float(Fraction(v) * Fraction(2) ** self.exp)
            for v in self.ints.ravel().tolist()
        ]
        return np.array(flat, dtype=float).reshape(self.ints.shape)

    def fraction(self, index) -> Fraction:
        value = int(self.ints[index])
        return Fraction(value) * (Fraction(2) ** self.exp)


def _object_array(values: list[int], shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out.reshape(shape)


def from_floats(values) -> Dyadic:
    """The exact values of a float64 array."""
    arr = np.asarray(values, dtype=float)
    ratios = [x.as_integer_ratio() for x in arr.ravel().tolist()]
    # Each denominator is a power of two; bring all to the largest.
    k = max((q.bit_length() - 1 for _, q in ratios), default=0)
    ints = [p << (k - (q.bit_length() - 1)) for p, q in ratios]
    return Dyadic(_object_array(ints, arr.shape), -k)


def constant(value: float) -> Dyadic:
    return from_floats(np.array(value, dtype=float))


def _common(a: Dyadic, b: Dyadic) -> tuple[np.ndarray, np.ndarray, int]:
    e = min(a.exp, b.exp)
    return a.at(e), b.at(e), e


def add(a: Dyadic, b: Dyadic) -> Dyadic:
    x, y, e = _common(a, b)
    return Dyadic(x + y, e)


def sub(a: Dyadic, b: Dyadic) -> Dyadic:
    x, y, e = _common(a, b)
    return Dyadic(x - y, e)


def mul(a: Dyadic, b: Dyadic) -> Dyadic:
    return Dyadic(a.ints * b.ints, a.exp + b.exp)


def matmul(a: Dyadic, b: Dyadic) -> Dyadic:
    return Dyadic(np.asarray(a.ints @ b.ints, dtype=object), a.exp + b.exp)


def relu(a: Dyadic) -> Dyadic:
    return Dyadic(np.where(a.ints > 0, a.ints, 0).astype(object), a.exp)


def absolute(a: Dyadic) -> Dyadic:
    return Dyadic(np.abs(a.ints).astype(object), a.exp)


def to_fraction(value: int, exp: int) -> Fraction:
    return Fraction(value) * (Fraction(2) ** exp)


def round_up(value: Fraction) -> float:
    """The smallest double >= value."""
    f = float(value)
    if Fraction(f) < value:
        f = math.nextafter(f, math.inf)
    return f


def round_down(value: Fraction) -> float:
    """The largest double <= value."""
    f = float(value)
    if Fraction(f) > value:
        f = math.nextafter(f, -math.inf)
    return f


def floor_scaled(ints: np.ndarray, exp: int, scale: int) -> np.ndarray:
    """floor(scale * ints * 2**exp), exactly, elementwise (object array of ints)."""
    scaled = ints * scale
    if exp >= 0:
        return scaled * (1 << exp)
    return scaled // (1 << -exp)  # Python floor division floors toward -inf


def ceil_scaled(ints: np.ndarray, exp: int, scale: int) -> np.ndarray:
    """ceil(scale * ints * 2**exp), exactly."""
    return -floor_scaled(-ints, exp, scale)
