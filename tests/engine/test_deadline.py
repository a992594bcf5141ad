"""The time limit is a deadline for the whole solve (issue 15, item 5; docs/design.md §14):
building the column model, a backend's model, the starts and the cross-check all stop at it,
and what the solve then returns is well formed: a status consistent with the certificate, and
a returned mask certified exactly. No timed assertions: the mechanism is tested (deadlines that
have passed, limits that expire during building), the figures are in bench/large.py."""

from __future__ import annotations

import threading
import time
from fractions import Fraction

import numpy as np
import pytest

from solver.backends import get_backend
from solver.backends.base import BackendOptions, BackendStatus, MinErrorTask, MinKeptTask
from solver.core.parameters import SolveParameters
from solver.core.problem import MinError, MinKept, PruningMode
from solver.core.result import SolveResult, SolveStatus
from solver.engine import solve
from solver.engine.cross_check import cross_check
from solver.exact.certify import certify_mask
from solver.formulation.columns import build_column_model
from solver.formulation.deadline import NO_DEADLINE, Deadline, DeadlineReached
from solver.formulation.hints import greedy_forward
from solver.instances.generate import paper_problem

PASSED = Deadline(at=time.monotonic() - 1.0)


def stopped() -> Deadline:
    stop = threading.Event()
    stop.set()
    return Deadline(stop=stop)


def well_formed(problem, result: SolveResult) -> None:
    """The status agrees with the figures, and a returned mask is certified exactly."""
    assert result.status != SolveStatus.UNSPECIFIED
    assert result.detail
    if result.solution is None:
        assert result.status in (SolveStatus.NO_SOLUTION, SolveStatus.CANCELLED)
        assert result.objective_bound == 0.0
        return
    cert = certify_mask(problem, result.solution.mask)
    assert result.solution.error == cert.error_upper
    assert result.solution.kept == cert.kept
    assert result.objective_bound <= result.solution.error
    if result.status == SolveStatus.OPTIMAL:
        assert result.solution.error - result.objective_bound <= 1e-6


@pytest.mark.parametrize("mode", [PruningMode.NEURONS, PruningMode.WEIGHTS])
def test_building_honours_a_deadline(mode):
    problem = paper_problem(2, 12, 3, mode, points_per_axis=15)
    for deadline in (PASSED, stopped()):
        with pytest.raises(DeadlineReached, match="building the column model"):
            build_column_model(problem, deadline=deadline)
    # A deadline far away changes nothing: the same model as without one.
    later = build_column_model(problem, deadline=Deadline.after(3600))
    plain = build_column_model(problem, deadline=NO_DEADLINE)
    assert later.exp == plain.exp and later.groups == plain.groups
    assert np.array_equal(later.columns, plain.columns)


def test_greedy_start_stops_at_the_deadline_with_a_valid_prefix():
    model = build_column_model(paper_problem(2, 16, 1, PruningMode.NEURONS, points_per_axis=9))
    assert greedy_forward(model, deadline=PASSED) == []
    assert len(greedy_forward(model)) > 0


@pytest.mark.parametrize("backend", ["cpsat", "highs", "scip"])
@pytest.mark.parametrize("task", [MinErrorTask(), MinKeptTask(max_error=Fraction(1, 2))])
def test_backends_stop_building_at_the_deadline(backend, task):
    model = build_column_model(paper_problem(2, 16, 1, PruningMode.NEURONS, points_per_axis=9))
    rows = np.arange(model.num_points)
    options = BackendOptions(deadline=PASSED.at, time_limit=10.0)
    outcome = get_backend(backend).solve(model, rows, task, options)
    assert outcome.status == BackendStatus.NO_SOLUTION and outcome.chosen is None
    # With time left, the same call solves.
    solved = get_backend(backend).solve(
        model, rows, task, BackendOptions(deadline=time.monotonic() + 60)
    )
    assert solved.status == BackendStatus.OPTIMAL


@pytest.mark.parametrize(
    ("mode", "objective"),
    [
        (PruningMode.NEURONS, MinError()),
        (PruningMode.WEIGHTS, MinError()),
        (PruningMode.NEURONS, MinKept(max_error=0.2)),
    ],
)
def test_a_limit_expiring_while_building_gives_a_well_formed_result(mode, objective):
    # Mid-size: building alone takes far longer than the limit.
    problem = paper_problem(2, 64, 1, mode, objective, points_per_axis=41)
    result = solve(problem, SolveParameters(time_limit_seconds=1e-3))
    well_formed(problem, result)
    assert result.status == SolveStatus.NO_SOLUTION
    assert "time limit reached" in result.detail


def test_a_solve_stopped_before_it_starts_is_cancelled():
    problem = paper_problem(2, 16, 1, PruningMode.NEURONS, points_per_axis=21)
    stop = threading.Event()
    stop.set()
    result = solve(problem, SolveParameters(), stop=stop)
    well_formed(problem, result)
    assert result.status == SolveStatus.CANCELLED


@pytest.mark.parametrize("limit", [0.05, 0.3, 1.0])
def test_short_limits_give_well_formed_results(limit):
    # Whichever phase the limit ends (building, the starts, the search, the sparsest step),
    # the result is well formed.
    problem = paper_problem(2, 48, 2, PruningMode.NEURONS, points_per_axis=31)
    well_formed(problem, solve(problem, SolveParameters(time_limit_seconds=limit)))


def test_a_cross_check_with_no_time_left_is_not_run_and_does_not_agree():
    problem = paper_problem(2, 6, 1, PruningMode.NEURONS, points_per_axis=7)
    params = SolveParameters(cross_check="highs")
    result = solve(problem, SolveParameters())
    assert result.status == SolveStatus.OPTIMAL
    called = []
    cross_check(problem, params, result, "highs", 0.0, None, lambda *a, **k: called.append(a))
    assert called == []
    assert result.cross_check is not None and not result.cross_check.agrees
    assert "not run" in result.cross_check.detail
    assert result.status == SolveStatus.FEASIBLE
    well_formed(problem, result)
