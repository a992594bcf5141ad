"""The drawing of a result's figure (solver.io.figures): the marks it places are the exact
figures' (worst points, the error scale, the frontier's whiskers), every case draws without a
warning (the suite turns warnings into errors), and the files are real images."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from matplotlib.image import imread

from solver import MinError, Pareto, PointSet, PruningMode, paper_problem, solve
from solver.core.errors import InvalidProblemError
from solver.core.problem import Mask, Network, Problem, Samples
from solver.io.figure_data import figure_data
from solver.io.figures import draw, figure_format, write_figure

N, W = PruningMode.NEURONS, PruningMode.WEIGHTS


def worst_marks(fig) -> np.ndarray:
    """The offsets of the scatter labelled as the worst points, on whichever panel holds it."""
    for ax in fig.axes:
        for collection in ax.collections:
            if str(collection.get_label()).startswith("worst"):
                return np.asarray(collection.get_offsets())
    raise AssertionError("no worst-point marks")


def test_the_worst_marks_and_the_error_scale_are_the_exact_figures():
    problem = paper_problem(2, 8, 1, W, MinError(), points_per_axis=9)
    data = figure_data(problem, solve(problem))
    fig = draw(data)
    np.testing.assert_array_equal(worst_marks(fig), data.points[data.worst])
    error_panel = next(ax for ax in fig.axes if ax.get_title() == "|pruned - target|")
    [mesh] = error_panel.collections[:1]
    assert mesh.norm.vmax == data.error_max  # the colour scale ends at the certified error
    assert np.array_equal(np.asarray(mesh.get_array()).ravel(), data.errors.reshape(9, 9).T.ravel())
    assert fig._suptitle.get_text().startswith(data.title())


def test_one_dimension_marks_the_worst_points_on_the_error_curve():
    problem = paper_problem(1, 6, 1, N, MinError(), points_per_axis=21)
    data = figure_data(problem, solve(problem))
    marks = worst_marks(draw(data))
    np.testing.assert_array_equal(marks[:, 0], data.points[data.worst, 0])
    np.testing.assert_array_equal(marks[:, 1], data.errors[data.worst])


def test_a_frontier_point_not_proven_gets_a_whisker_down_to_its_bound(tmp_path):
    problem = paper_problem(2, 8, 1, N, Pareto(), points_per_axis=9)
    result = solve(problem)
    point = result.frontier[0]
    result.frontier[0] = dataclasses.replace(point, certified=False, error_bound=point.error / 2)
    data = figure_data(problem, result)
    fig = draw(data)
    frontier = next(ax for ax in fig.axes if ax.get_title().startswith("Pareto frontier"))
    [bars] = [c for c in frontier.containers if hasattr(c, "has_yerr") and c.has_yerr]
    [segment] = bars.lines[2][0].get_segments()
    np.testing.assert_allclose(segment[:, 1], [point.error / 2, point.error])
    write_figure(data, tmp_path / "f.png")
    assert imread(tmp_path / "f.png").size > 0


def test_a_perfect_fit_and_given_points_draw_without_warnings(tmp_path):
    # The target is the network itself, on random points: the full mask's error is 0 everywhere.
    base = paper_problem(2, 5, 3, N, MinError(), points_per_axis=5)
    rng = np.random.default_rng(1)
    problem = Problem(
        network=base.network,
        target=base.network,
        domain=PointSet(points=rng.uniform(-1, 1, size=(30, 2))),
        pruning=N,
        objective=Pareto(),
    )
    data = figure_data(problem, solve(problem))
    assert data.error_max == 0.0 and data.worst.all()
    write_figure(data, tmp_path / "f.svg")
    assert (tmp_path / "f.svg").read_bytes().startswith(b"<?xml")


def test_samples_in_one_dimension_and_a_constant_unit(tmp_path):
    # Unit 1 keeps its output weight but, in weights mode, none of its hidden weights: it is a
    # constant (relu of its bias) and has no kink to draw.
    network = Network(
        hidden_weights=np.array([[1.0], [0.5]]),
        output_weights=np.array([1.0, 1.0]),
        hidden_biases=np.array([0.0, 0.25]),
    )
    points = np.linspace(-1, 1, 7)[:, None]
    problem = Problem(network, Samples(points, np.abs(points[:, 0])), None, W, MinError())
    result = solve(problem)
    data = figure_data(problem, result)
    mask = Mask(hidden_weights=np.array([[True], [False]]), output_weights=np.array([True, True]))
    assert [k.unit for k in figure_data(problem, _with_mask(problem, result, mask)).kinks] == [0]
    write_figure(data, tmp_path / "f.pdf")
    assert (tmp_path / "f.pdf").read_bytes().startswith(b"%PDF")


def _with_mask(problem, result, mask):
    from solver.exact.certify import certify_mask

    cert = certify_mask(problem, mask)
    solution = dataclasses.replace(
        result.solution, mask=mask, kept=cert.kept, error=cert.error_upper
    )
    return dataclasses.replace(result, solution=solution)


def test_three_dimensions_draw_the_histogram_and_say_why(tmp_path):
    problem = paper_problem(3, 5, 1, W, Pareto(), points_per_axis=5)
    data = figure_data(problem, solve(problem))
    fig = draw(data)
    titles = [ax.get_title() for ax in fig.axes]
    assert "errors over the 125 points" in titles
    assert "|pruned - target|" not in titles
    assert "the domain panels need d <= 2 (here d = 3)" in fig._suptitle.get_text()


@pytest.mark.parametrize("name", ["f.gif", "f", "f.PNG.bak"])
def test_an_unknown_suffix_names_the_flag_given(name):
    with pytest.raises(InvalidProblemError) as info:
        figure_format(name, flag="--plot", format_flag=None)
    [violation] = info.value.violations
    assert violation.flag == "--plot" and "--format" not in violation.description
    assert figure_format("F.PNG") == "png"
