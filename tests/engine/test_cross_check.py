"""Cross-checked certificates: a second backend's answer, and disagreement made visible."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from solver import exact
from solver.backends import REGISTRY, available_backends
from solver.backends.cpsat import CpSatBackend
from solver.core.errors import BackendUnavailableError
from solver.core.parameters import SolveParameters
from solver.core.problem import MinKept, PruningMode
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.instances.generate import paper_problem
from solver.io import convert
from tests.support.problems import random_problem


@pytest.mark.parametrize("seed", range(12))
def test_auto_cross_check_agrees(seed):
    if len(available_backends()) < 2:
        pytest.skip("needs two installed backends")
    problem = random_problem(
        np.random.default_rng(seed), [PruningMode.NEURONS, PruningMode.WEIGHTS][seed % 2]
    )
    result = solve(problem, SolveParameters(backend="cpsat", cross_check="auto"))
    assert result.status == SolveStatus.OPTIMAL, result.detail
    check = result.cross_check
    assert check is not None and check.agrees, check
    assert check.backend != "cpsat"
    assert abs(check.solution.error - result.solution.error) <= 1e-6
    # The message carries both answers.
    back = convert.parse_result(convert.result_to_proto(result)).cross_check
    assert (back.backend, back.status, back.objective_bound, back.agrees, back.detail) == (
        check.backend,
        check.status,
        check.objective_bound,
        check.agrees,
        check.detail,
    )
    assert back.solution.error == check.solution.error and back.solution.mask.same_as(
        check.solution.mask
    )


def test_min_kept_cross_check():
    problem = random_problem(np.random.default_rng(3), PruningMode.NEURONS)
    full = solve(problem)
    p = dataclasses.replace(problem, objective=MinKept(max_error=full.solution.error * 1.5 + 1e-3))
    result = solve(p, SolveParameters(cross_check="scip"))
    assert result.cross_check.agrees
    assert result.cross_check.solution.kept == result.solution.kept


class _ConfidentlyWrong(CpSatBackend):
    """What a buggy solver does: claims the empty mask is optimal, with a matching bound."""

    name = "confidently-wrong"

    def solve(self, model, rows, task, options):
        outcome = super().solve(model, rows, task, options)
        outcome.chosen = []
        outcome.error_bound = exact.to_fraction(int(model.point_errors([], rows).max()), model.exp)
        return outcome


def test_disagreement_is_reported_not_resolved(monkeypatch):
    monkeypatch.setitem(REGISTRY, _ConfidentlyWrong.name, _ConfidentlyWrong)
    problem = paper_problem(2, 8, 1, PruningMode.NEURONS, points_per_axis=9)
    honest = solve(problem, SolveParameters(backend="cpsat"))
    assert honest.status == SolveStatus.OPTIMAL and honest.solution.kept > 0
    result = solve(problem, SolveParameters(backend="cpsat", cross_check=_ConfidentlyWrong.name))
    check = result.cross_check
    assert not check.agrees
    assert result.status == SolveStatus.FEASIBLE
    assert "cross-check disagrees" in result.detail
    # Both answers are there: ours, certified, and theirs, whose proof the engine refuted.
    assert result.solution.error == honest.solution.error
    assert check.status == SolveStatus.FEASIBLE
    assert check.solution.error >= result.solution.error


def test_a_refuted_bound_is_not_reported(monkeypatch):
    monkeypatch.setitem(REGISTRY, _ConfidentlyWrong.name, _ConfidentlyWrong)
    problem = paper_problem(2, 8, 1, PruningMode.NEURONS, points_per_axis=9)
    result = solve(problem, SolveParameters(backend=_ConfidentlyWrong.name))
    assert result.status == SolveStatus.FEASIBLE
    assert "refuted" in result.detail
    assert result.objective_bound == 0.0


def test_unknown_cross_check_backend():
    problem = random_problem(np.random.default_rng(1), PruningMode.NEURONS)
    with pytest.raises(BackendUnavailableError):
        solve(problem, SolveParameters(cross_check="nope"))
