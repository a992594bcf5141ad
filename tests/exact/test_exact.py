"""Exact arithmetic and certificates against Fractions and float64."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from solver import exact
from solver.core.problem import PruningMode
from solver.exact.certify import certify_mask
from tests.support.problems import random_problem
from tests.support.reference import all_masks, exact_error

finite = st.floats(
    allow_nan=False, allow_infinity=False, width=64, min_value=-1e300, max_value=1e300
)


@given(st.lists(finite, min_size=1, max_size=8))
def test_from_floats_is_exact(values):
    d = exact.from_floats(values)
    for i, v in enumerate(values):
        assert d.fraction(i) == Fraction(v)


@given(st.lists(finite, min_size=1, max_size=6), st.integers(1, 2**40))
def test_directed_scaling(values, scale):
    d = exact.from_floats(values)
    floors = exact.floor_scaled(d.ints, d.exp, scale)
    ceils = exact.ceil_scaled(d.ints, d.exp, scale)
    for i, v in enumerate(values):
        assert floors[i] == math.floor(Fraction(v) * scale)
        assert ceils[i] == math.ceil(Fraction(v) * scale)


@given(st.fractions(min_value=-(10**6), max_value=10**6))
def test_directed_rounding(value):
    up, down = exact.round_up(value), exact.round_down(value)
    assert Fraction(down) <= value <= Fraction(up)
    assert math.nextafter(up, -math.inf) < value or Fraction(up) == value
    assert math.nextafter(down, math.inf) > value or Fraction(down) == value


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([PruningMode.NEURONS, PruningMode.WEIGHTS]))
def test_certificate_matches_reference_and_float(seed, mode):
    problem = random_problem(np.random.default_rng(seed), mode)
    for k, mask in enumerate(all_masks(problem)):
        if k > 20:
            break
        cert = certify_mask(problem, mask)
        assert cert.error == exact_error(problem, mask)
        assert cert.error_upper == exact.round_up(cert.error)
        approx = np.max(
            np.abs(
                problem.network.evaluate(problem.points(), mask)
                - problem.target_values(problem.points())
            )
        )
        assert abs(approx - float(cert.error)) <= 1e-12 * max(1.0, approx)
        assert cert.kept == mask.kept()
