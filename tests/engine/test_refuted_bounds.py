"""Bounds refuted by a certified mask are withdrawn from results, not only their status
(issue 14; docs/design.md §2)."""

from __future__ import annotations

import numpy as np

from solver.core.problem import (
    Mask,
    MinError,
    MinKept,
    Network,
    Neuron,
    PointSet,
    Problem,
    PruningMode,
)
from solver.core.result import FrontierPoint, Solution, SolveResult, SolveStatus
from solver.engine.cross_check import _unrefuted
from solver.engine.objectives import withdraw_refuted

MASK = Mask(neurons=np.array([True]))


def _problem(objective):
    net = Network(np.ones((1, 1)), np.array([1.0]))
    return Problem(
        net, Neuron(np.array([1.0])), PointSet(np.array([[1.0]])), PruningMode.NEURONS, objective
    )


def _result(error, bound, kept=1):
    return SolveResult(SolveStatus.OPTIMAL, Solution(MASK, kept, error), objective_bound=bound)


def test_frontier_bound_refuted_by_a_mask_with_fewer_kept_is_withdrawn():
    frontier = [
        FrontierPoint(kept=0, error=1.08, mask=MASK, error_bound=1.07, certified=True),
        FrontierPoint(kept=1, error=1.05, mask=MASK, error_bound=1.049, certified=True),
    ]
    masks = [Solution(MASK, 1, 1.04)]
    assert withdraw_refuted(frontier, masks)
    assert (frontier[0].error_bound, frontier[0].certified) == (1.07, True)
    assert (frontier[1].error_bound, frontier[1].certified) == (0.0, False)
    assert frontier[1].error == 1.05  # the mask and its certified error stay
    assert not withdraw_refuted(frontier, masks)


def test_min_error_bound_refuted_by_the_other_backend():
    problem = _problem(MinError())
    mine, theirs = _result(1.1e-8, 3.85e-9), _result(0.0, 0.0)
    assert _unrefuted(problem, mine, theirs) == 0.0  # the other's bound 0 holds
    assert _unrefuted(problem, theirs, mine) == 0.0
    # An unrefuted bound stays; a refuted one falls back to the other's if that one holds.
    assert _unrefuted(problem, _result(0.5, 0.4), _result(0.45, 0.3)) == 0.4
    assert _unrefuted(problem, _result(0.5, 0.48), _result(0.45, 0.3)) == 0.3
    assert _unrefuted(problem, _result(0.5, 0.48), _result(0.45, 0.47)) == 0.0


def test_min_kept_bound_refuted_by_a_certified_count():
    problem = _problem(MinKept(0.0))
    assert _unrefuted(problem, _result(0.0, 14.0, kept=14), _result(0.0, 7.0, kept=12)) == 7.0
    assert _unrefuted(problem, _result(0.0, 13.0, kept=14), _result(0.0, 13.0, kept=12)) == 0.0
