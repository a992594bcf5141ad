"""solver.engine.box_optimize: the cutting-plane solve over the whole box against brute force
(moved from tests/exact/test_box.py with the loop it tests)."""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
import sys
import threading
from fractions import Fraction

import numpy as np
import pytest

from solver.core.errors import InvalidProblemError
from solver.core.parameters import SolveParameters
from solver.core.problem import Mask, MinError, MinKept, PointSet, Problem, PruningMode, Samples
from solver.core.result import SolveStatus
from solver.engine import box_optimize, solve
from solver.exact.box import breakpoint_points, continuous_max_error
from solver.exact.certify import certify_mask
from solver.instances.generate import paper_problem
from tests.exact.test_box import _relu_peak_problem

NEURONS, WEIGHTS = PruningMode.NEURONS, PruningMode.WEIGHTS


def solve_continuous(problem: Problem, parameters=None, **options):
    """box_optimize.solve_continuous on the engine's solve unless a test passes its own."""
    options.setdefault("solve_points", solve)
    return box_optimize.solve_continuous(problem, parameters, **options)


def test_refuses_problems_outside_the_scope():
    p = paper_problem(2, 4, 1, NEURONS, points_per_axis=3)
    biased = dataclasses.replace(
        p, network=dataclasses.replace(p.network, hidden_biases=np.full(4, 0.1))
    )
    points = p.points()
    samples = dataclasses.replace(
        p, target=Samples(points=points, values=np.zeros(len(points))), domain=None
    )
    on_points = dataclasses.replace(p, domain=PointSet(points=points))
    for bad in (biased, samples, on_points):
        with pytest.raises(InvalidProblemError):
            solve_continuous(bad)
    with pytest.raises(InvalidProblemError, match="objective"):
        solve_continuous(dataclasses.replace(p, objective=MinKept(max_error=0.5)))


# -- solve_continuous ----------------------------------------------------------------------------


def _all_masks(p: Problem):
    n, d = p.network.n, p.network.d
    if p.pruning == NEURONS:
        for bits in itertools.product((False, True), repeat=n):
            yield Mask(neurons=np.array(bits))
        return
    choices = [None] + list(itertools.product((False, True), repeat=d))
    for combo in itertools.product(choices, repeat=n):
        hidden = np.array([c if c is not None else (False,) * d for c in combo], dtype=bool)
        output = np.array([c is not None for c in combo])
        yield Mask(hidden_weights=hidden, output_weights=output)


def _check_bracket(p: Problem, result, optimum: Fraction | None = None) -> None:
    assert result.status == "optimal", result.detail
    assert result.continuous is not None and result.certificate is not None
    tol = Fraction(result.tolerance)
    lower, upper = Fraction(result.lower_bound), result.continuous.error
    assert lower <= upper and upper - lower <= tol
    assert result.gap <= result.tolerance
    # The reported figures are the mask's own.
    mask = result.certificate.mask
    assert continuous_max_error(p, mask).error == upper
    assert result.certificate.error == certify_mask(p, mask).error <= upper
    if optimum is not None:
        assert lower <= optimum <= upper
    # The grid is in the box: its optimum cannot exceed the continuous one. At convergence
    # lower >= upper - tol >= continuous optimum - tol >= grid bound - tol.
    grid = solve(p)
    assert Fraction(grid.objective_bound) <= upper
    assert lower >= Fraction(grid.objective_bound) - tol
    for r in result.rounds:
        assert r.lower <= r.upper and r.seconds >= 0
    assert [r.points for r in result.rounds] == sorted(r.points for r in result.rounds)


@pytest.mark.parametrize("seed", [1, 2])
def test_solve_continuous_neurons_against_brute_force(seed):
    p = paper_problem(2, 8, seed, NEURONS, points_per_axis=5)
    optimum = min(continuous_max_error(p, m).error for m in _all_masks(p))
    _check_bracket(p, solve_continuous(p), optimum)


def test_solve_continuous_weights_against_brute_force():
    p = paper_problem(2, 3, 4, WEIGHTS, points_per_axis=5)
    optimum = min(continuous_max_error(p, m).error for m in _all_masks(p))
    _check_bracket(p, solve_continuous(p), optimum)


def test_solve_continuous_weights_n8_and_budget():
    p = paper_problem(2, 8, 1, WEIGHTS, points_per_axis=5)
    _check_bracket(p, solve_continuous(p))
    budget = dataclasses.replace(p, objective=MinError(max_kept=5))
    result = solve_continuous(budget)
    _check_bracket(budget, result)
    assert result.certificate.kept <= 5


def test_solve_continuous_with_grid_points_bounds_the_grid_optimum_from_round_one():
    p = paper_problem(2, 8, 3, NEURONS, points_per_axis=9)
    result = solve_continuous(p, include_grid=True, max_rounds=1)
    grid = solve(p)
    assert result.rounds[0].lower >= grid.objective_bound - result.tolerance
    assert result.rounds[0].points >= len(breakpoint_points(p))


def test_solve_continuous_adds_the_zero_of_o():
    p = _relu_peak_problem()
    result = solve_continuous(p)
    _check_bracket(p, result, Fraction(3, 8))
    assert len(result.rounds) >= 2  # the first point set misses the peak
    assert any(np.array_equal(row, [0.5, 1.0]) for row in result.points)
    one = solve_continuous(p, max_rounds=1)
    assert one.status == "not_converged" and "max_rounds" in one.detail
    assert one.lower_bound <= one.upper_bound


def test_solve_continuous_d3():
    p = paper_problem(3, 4, 1, NEURONS, points_per_axis=3)
    optimum = min(continuous_max_error(p, m).error for m in _all_masks(p))
    result = solve_continuous(p)
    _check_bracket(p, result, optimum)


def test_solve_continuous_stop_and_tolerance():
    p = paper_problem(2, 6, 1, NEURONS, points_per_axis=5)
    stop = threading.Event()
    stop.set()
    stopped = solve_continuous(p, stop=stop)
    assert stopped.status == "not_converged" and stopped.rounds == [] and stopped.mask is None
    loose = solve_continuous(p, SolveParameters(tolerance=1e-3))
    assert loose.status == "optimal" and loose.tolerance == 1e-3
    assert loose.rounds[-1].engine_status == SolveStatus.OPTIMAL


def test_solve_continuous_refuses_a_refuted_bound():
    def inflated(problem, parameters=None, **kwargs):
        result = solve(problem, parameters, **kwargs)
        result.objective_bound = 10.0  # a wrong "proof": above every mask's error
        return result

    problem = paper_problem(2, 4, 1, NEURONS, points_per_axis=3)
    result = solve_continuous(problem, solve_points=inflated)
    assert result.status == "not_converged" and "refuted" in result.detail
    assert result.lower_bound == 0.0 and result.continuous is not None


def test_the_exact_box_theory_never_imports_the_engine():
    # The loop lives here and receives the engine's solve: no cycle engine -> box -> engine.
    code = (
        "import sys\n"
        "import solver.exact.box\n"
        "assert not [m for m in sys.modules if m.startswith('solver.engine')], sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
