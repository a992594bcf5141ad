"""The human-readable report names the domain its error refers to."""

from __future__ import annotations

import dataclasses

import numpy as np

from solver import MinError, PointSet, PruningMode, paper_problem, solve
from solver.io.report import format_result


def test_the_error_line_says_grid_points_or_given_points():
    grid = paper_problem(1, 4, 1, PruningMode.NEURONS, MinError(), points_per_axis=5)
    assert "on the grid points: exact" in format_result(grid, solve(grid))
    points = dataclasses.replace(grid, domain=PointSet(points=np.array([[0.5], [-0.25], [1.0]])))
    text = format_result(points, solve(points))
    assert "on the given points: exact" in text and "grid" not in text
