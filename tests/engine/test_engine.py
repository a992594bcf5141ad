"""The engine against the independent brute force, on many random tiny problems."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.core.parameters import SolveParameters
from solver.core.problem import MinError, MinKept, Pareto, PruningMode
from solver.core.result import SolveStatus
from solver.engine import solve
from tests.support.problems import random_problem
from tests.support.reference import exact_error, table

TOL = Fraction(1, 10**6)
MODES = [PruningMode.NEURONS, PruningMode.WEIGHTS]


def check_min_error(problem, max_kept=None, params=None):
    problem = dataclasses.replace(problem, objective=MinError(max_kept=max_kept))
    ref = table(problem)
    result = solve(problem, params)
    assert result.status == SolveStatus.OPTIMAL, result.detail
    opt = ref.min_error(max_kept)
    sol = result.solution
    assert sol is not None
    true_error = exact_error(problem, sol.mask)
    # The reported error is the mask's exact error rounded up, and the mask is canonical.
    assert true_error <= Fraction(sol.error) <= true_error + Fraction(1, 10**15)
    assert sol.kept == sol.mask.kept()
    assert sol.mask.same_as(sol.mask.canonical())
    if max_kept is not None:
        assert sol.kept <= max_kept
    assert Fraction(result.objective_bound) <= opt <= true_error
    assert true_error - opt <= TOL
    assert Fraction(result.tolerance) >= true_error - Fraction(result.objective_bound) - Fraction(
        1, 10**15
    )
    assert result.tolerance <= 1e-6


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(40))
def test_min_error_matches_brute_force(mode, seed):
    rng = np.random.default_rng(seed)
    problem = random_problem(rng, mode)
    check_min_error(problem)
    budget = int(rng.integers(0, problem.max_kept_possible() + 1))
    check_min_error(problem, max_kept=budget)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(25))
def test_min_kept_matches_brute_force(mode, seed):
    rng = np.random.default_rng(1000 + seed)
    problem = random_problem(rng, mode)
    ref = table(problem)
    errors = sorted({e for _, e, _ in ref.entries})
    # Thresholds halfway between achievable errors, and one below the best (infeasible).
    choices = [(a + b) / 2 for a, b in zip(errors, errors[1:], strict=False)] + [errors[-1] + 1]
    eps = choices[int(rng.integers(0, len(choices)))]
    for max_error in (float(eps), float(errors[0]) / 2 if errors[0] > 0 else None):
        if max_error is None:
            continue
        p = dataclasses.replace(problem, objective=MinKept(max_error=max_error))
        want = ref.min_kept(Fraction(max_error))
        result = solve(p)
        if want is None:
            assert result.status == SolveStatus.INFEASIBLE, result.detail
            assert result.solution is None
            continue
        assert result.status == SolveStatus.OPTIMAL, result.detail
        assert result.solution.kept == want
        assert exact_error(p, result.solution.mask) <= Fraction(max_error)
        assert result.objective_bound == want


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(15))
def test_pareto_matches_brute_force(mode, seed):
    rng = np.random.default_rng(2000 + seed)
    problem = random_problem(rng, mode)
    max_kept = None if seed % 3 else int(rng.integers(0, problem.max_kept_possible() + 1))
    p = dataclasses.replace(problem, objective=Pareto(max_kept=max_kept))
    want = table(p).frontier(max_kept)
    result = solve(p)
    assert result.status == SolveStatus.OPTIMAL, result.detail
    got = [(pt.kept, pt.error) for pt in result.frontier]
    # Kept ascending, error strictly decreasing.
    assert all(a[0] < b[0] and a[1] > b[1] for a, b in zip(got, got[1:], strict=False))
    # Each true frontier point is matched within the tolerance, and nothing beats the truth.
    for pt in result.frontier:
        true = exact_error(p, pt.mask)
        assert pt.mask.kept() == pt.kept
        best_at = min(e for k, e in want if k <= pt.kept)
        assert best_at <= true <= best_at + TOL
        assert Fraction(pt.error_bound) <= best_at
    for k, e in want:
        assert any(kk <= k and Fraction(ee) <= e + TOL for kk, ee in got), (k, e, got)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    mode=st.sampled_from(MODES),
    rowgen=st.booleans(),
    drop=st.booleans(),
)
def test_property_min_error_any_parameters(seed, mode, rowgen, drop):
    """Row generation and dominated-point dropping never change the certified answer."""
    problem = random_problem(np.random.default_rng(seed), mode)
    check_min_error(
        problem, params=SolveParameters(row_generation=rowgen, drop_dominated_points=drop)
    )


def test_row_generation_on_paper_instance_agrees_with_full_solve():
    from solver.instances.generate import paper_problem

    problem = paper_problem(2, 10, 3, PruningMode.NEURONS, points_per_axis=21)
    full = solve(problem, SolveParameters(row_generation=False))
    rows = solve(problem, SolveParameters(row_generation=True))
    assert full.status == rows.status == SolveStatus.OPTIMAL
    assert abs(full.solution.error - rows.solution.error) <= 1e-6
    assert rows.stats.active_points < full.stats.points_used


@pytest.mark.parametrize("seed", [1, 2])
def test_rounds_ended_by_a_violating_incumbent_still_reach_the_optimum(seed, monkeypatch):
    # With row generation a round also ends at an incumbent that violates points outside the
    # active set (those points join); the certified optimum must not change.
    from solver.engine.run import Run
    from solver.instances.generate import paper_problem

    refines = []
    original = Run._should_stop

    def spy(self, chosen, bound):
        verdict = original(self, chosen, bound)
        refines.append(verdict and self._refine)
        return verdict

    problem = paper_problem(2, 20, seed, PruningMode.WEIGHTS, points_per_axis=21)
    full = solve(problem, SolveParameters(row_generation=False, threads=1, seed=1))
    monkeypatch.setattr(Run, "_should_stop", spy)
    rows = solve(problem, SolveParameters(row_generation=True, threads=1, seed=1))
    assert full.status == rows.status == SolveStatus.OPTIMAL
    assert abs(full.solution.error - rows.solution.error) <= 1e-6
    assert exact_error(problem, rows.solution.mask) <= Fraction(rows.solution.error)
    assert any(refines)  # at least one round ended at a violating incumbent


def test_the_search_stops_once_an_incumbent_is_certifiable_within_the_tolerance(monkeypatch):
    # A hard instance (weights n = 48 runs for minutes to an integer-exact proof) with a coarse
    # tolerance: an early incumbent already certifies, so the solve ends OPTIMAL long before
    # its time limit instead of running to it as FEASIBLE.
    from solver.engine.run import Run
    from solver.instances.generate import paper_problem

    stops = []
    original = Run._should_stop

    def spy(self, chosen, bound):
        verdict = original(self, chosen, bound)
        stops.append(verdict and not self._refine)
        return verdict

    monkeypatch.setattr(Run, "_should_stop", spy)
    problem = paper_problem(2, 48, 1, PruningMode.WEIGHTS)
    # The greedy start's error (0.11) is above the tolerance, so the backend has to run (a start
    # within the tolerance of 0 is OPTIMAL without it).
    params = SolveParameters(tolerance=0.05, time_limit_seconds=120, heuristic_start=False)
    result = solve(problem, params)
    assert result.status == SolveStatus.OPTIMAL
    assert Fraction(result.solution.error) - Fraction(result.objective_bound) <= 0.05
    assert exact_error(problem, result.solution.mask) <= Fraction(result.solution.error)
    assert stops and stops[-1]  # the search ended at a certifiable incumbent
