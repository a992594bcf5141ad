"""The numbers `prunecert plot` draws (solver.io.figure_data) against the exact evaluation: the
largest drawn error is the result's certified error, the worst points are exactly where the exact
maximum is attained, and a result that is not the problem's is refused, naming the field."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest

from solver import (
    MinError,
    Pareto,
    PointSet,
    PruningMode,
    SolveParameters,
    paper_problem,
    solve,
)
from solver.core.errors import InvalidProblemError
from solver.core.problem import Activation, Mask, Network, Problem, Samples
from solver.core.result import SolveResult, SolveStatus
from solver.exact.certify import ExactDomain
from solver.io.figure_data import figure_data

N, W = PruningMode.NEURONS, PruningMode.WEIGHTS


def exact_errors(problem: Problem, mask: Mask) -> list[Fraction]:
    errors = ExactDomain(problem).errors(mask)
    return [errors.fraction(k) for k in range(errors.shape[0])]


def check_against_exact(problem: Problem, result: SolveResult) -> None:
    data = figure_data(problem, result)
    exact = exact_errors(problem, result.solution.mask)
    top = max(exact)
    assert data.error_exact == top
    assert data.errors.max() == result.solution.error == data.error_max
    assert data.worst.tolist() == [e == top for e in exact]
    assert data.worst.any()
    # Each drawn error is its point's exact error rounded up: never below it, and below the next
    # double above it.
    for drawn, e in zip(data.errors.tolist(), exact):
        assert Fraction(drawn) >= e
        assert Fraction(np.nextafter(drawn, -np.inf)) < e or drawn == 0.0
    # The values drawn are the exact ones to the nearest double: the float evaluation agrees.
    points = problem.points()
    np.testing.assert_allclose(data.points, points)
    np.testing.assert_allclose(data.target, problem.target_values(points), atol=1e-12)
    pruned = problem.network.evaluate(points, result.solution.mask)
    np.testing.assert_allclose(data.pruned, pruned, atol=1e-12)
    assert data.kept == result.solution.kept
    assert data.frontier == tuple(result.frontier)


@pytest.mark.parametrize(
    ("d", "n", "pruning", "objective", "k"),
    [
        (1, 6, N, MinError(), 21),
        (2, 8, W, MinError(), 9),
        (2, 8, N, Pareto(), 9),
        (3, 5, W, Pareto(), 5),
    ],
)
def test_the_drawn_errors_are_the_exact_ones(d, n, pruning, objective, k):
    problem = paper_problem(d, n, 1, pruning, objective, points_per_axis=k)
    result = solve(problem)
    assert result.status == SolveStatus.OPTIMAL
    check_against_exact(problem, result)
    data = figure_data(problem, result)
    assert data.draws_domain == (d <= 2)
    assert data.grid_shape == (k,) * d
    if isinstance(objective, Pareto):
        assert len(data.frontier) >= 2  # the instances are chosen to have a frontier to draw


def test_every_point_attaining_the_maximum_is_a_worst_point():
    # A silent network (zero output weights) against given values: the error is |value| at every
    # point, its maximum 1 attained at two of the four points.
    network = Network(hidden_weights=np.array([[1.0], [-1.0]]), output_weights=np.array([0.0, 0.0]))
    points = np.array([[-1.0], [-0.5], [0.5], [1.0]])
    target = Samples(points=points, values=np.array([1.0, 0.25, -1.0, 0.75]))
    problem = Problem(network=network, target=target, domain=None, pruning=N)
    result = solve(problem)
    data = figure_data(problem, result)
    assert data.worst.tolist() == [True, False, True, False]
    assert data.errors.tolist() == [1.0, 0.25, 1.0, 0.75]
    assert data.grid_shape is None and data.domain_word == "given points"


def test_given_points_and_an_output_relu():
    base = paper_problem(2, 8, 2, W, MinError(max_kept=6), points_per_axis=7)
    rng = np.random.default_rng(0)
    network = dataclasses.replace(base.network, output_activation=Activation.RELU)
    problem = dataclasses.replace(
        base, network=network, domain=PointSet(points=rng.uniform(-1, 1, size=(40, 2)))
    )
    check_against_exact(problem, solve(problem))


def test_kept_matrix_and_kinks_follow_the_mask():
    problem = paper_problem(2, 8, 1, W, MinError(), points_per_axis=9)
    result = solve(problem)
    data = figure_data(problem, result)
    mask = result.solution.mask.canonical()
    assert data.kept_matrix[:, :2].tolist() == mask.hidden_weights.tolist()
    assert data.kept_matrix[:, 2].tolist() == mask.output_weights.tolist()
    assert int(data.kept_matrix.sum()) == result.solution.kept
    u = problem.network.hidden_weights
    live_with_weights = [
        i for i in range(8) if mask.output_weights[i] and mask.hidden_weights[i].any()
    ]
    assert [k.unit for k in data.kinks] == live_with_weights
    for kink in data.kinks:
        assert (
            kink.weights.tolist()
            == np.where(mask.hidden_weights[kink.unit], u[kink.unit], 0).tolist()
        )


def test_the_title_states_status_error_bound_and_kept():
    problem = paper_problem(2, 8, 1, N, MinError(), points_per_axis=9)
    result = solve(problem)
    title = figure_data(problem, result).title()
    assert title.startswith("OPTIMAL, ")
    assert f"error {result.solution.error:.6g} on the grid" in title
    assert f"bound {result.objective_bound:.6g}" in title
    assert f"kept {result.solution.kept} of 8 units" in title


def test_a_result_of_another_problem_is_refused_naming_the_field():
    problem = paper_problem(2, 8, 1, N, MinError(), points_per_axis=9)
    other = paper_problem(2, 8, 2, N, MinError(), points_per_axis=9)
    result = solve(other)
    with pytest.raises(InvalidProblemError) as info:
        figure_data(problem, result, where="r.json")
    [violation] = info.value.violations
    assert violation.field == "r.json: solution.error"
    assert "belongs to another problem" in violation.description


def test_a_frontier_point_whose_figures_are_not_exact_is_refused():
    problem = paper_problem(2, 8, 1, N, Pareto(), points_per_axis=9)
    result = solve(problem)
    point = result.frontier[0]
    result.frontier[0] = dataclasses.replace(point, error=point.error * 2 + 1)
    with pytest.raises(InvalidProblemError) as info:
        figure_data(problem, result, where="r.json")
    assert info.value.violations[0].field == "r.json: frontier[0]"


def test_a_result_without_a_mask_is_refused_naming_solution():
    problem = paper_problem(2, 4, 1, N, MinError(), points_per_axis=5)
    result = SolveResult(status=SolveStatus.NO_SOLUTION, detail="time limit")
    with pytest.raises(InvalidProblemError) as info:
        figure_data(problem, result, where="r.json")
    [violation] = info.value.violations
    assert violation.field == "r.json: solution"
    assert "NO_SOLUTION" in violation.description and "time limit" in violation.description


def test_a_continuous_optimum_is_checked_against_its_grid_error():
    problem = paper_problem(2, 8, 1, N, MinError(), points_per_axis=9)
    result = solve(problem, SolveParameters(continuous="optimize"))
    assert result.continuous is not None and result.continuous.grid_error is not None
    data = figure_data(problem, result)
    assert data.error_max == result.continuous.grid_error
    assert "box error" in data.title()
