"""The registry chooses "auto" by asking each backend whether it accepts the model and task:
meet in the middle first (separable min_error without a budget), then the general backends."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from solver.backends import (
    REGISTRY,
    available_backends,
    choose_backends,
    general_backends,
    get_backend,
)
from solver.backends.base import MinErrorTask, MinKeptTask, task_for
from solver.backends.mitm import MeetInTheMiddleBackend
from solver.core.errors import InvalidProblemError
from solver.core.parameters import SolveParameters
from solver.core.problem import MinError, MinKept, Pareto, PruningMode
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.formulation.columns import build_column_model
from solver.instances.families import Family
from solver.instances.generate import paper_problem
from tests.backends.test_separable import d1_problem

MITM = MeetInTheMiddleBackend.name


def _subset_sum(n: int = 12):
    family = Family(generator="subset_sum", n=(n,), seeds=(1,), count=1, low=-0.464, high=0.541)
    return family.problem(0)


def test_meet_in_the_middle_is_registered_first_and_listed():
    assert list(REGISTRY)[0] == MITM
    assert MITM in available_backends()
    assert REGISTRY[MITM].special_purpose
    assert not any(
        REGISTRY[name].special_purpose
        for name in ("cpsat", "scip", "highs", "cbc", "perweight-cpsat")
    )
    # Without a model to ask about, "auto" is the preferred general backend.
    assert get_backend(None).name == get_backend("auto").name == "cpsat"


def test_auto_asks_each_backend_in_preference_order():
    separable = build_column_model(_subset_sum())
    names = [b.name for b in choose_backends(separable, MinErrorTask())]
    assert names[0] == MITM and names[1] == "cpsat"
    # A budget couples the points; min_kept is not its task; weights mode is not separable.
    assert MITM not in [b.name for b in choose_backends(separable, MinErrorTask(max_kept=3))]
    assert MITM not in [b.name for b in choose_backends(separable, task_for(_min_kept()))]
    weights = build_column_model(paper_problem(1, 4, 1, PruningMode.WEIGHTS))
    assert MITM not in [b.name for b in choose_backends(weights, MinErrorTask())]
    general = build_column_model(paper_problem(2, 4, 1, PruningMode.NEURONS, points_per_axis=5))
    assert choose_backends(general, MinErrorTask())[0].name == "cpsat"


def _min_kept():
    return dataclasses.replace(_subset_sum(), objective=MinKept(max_error=0.1))


def test_task_for_each_objective():
    problem = _subset_sum(6)
    assert task_for(problem) == MinErrorTask(max_kept=None)
    assert task_for(dataclasses.replace(problem, objective=MinError(max_kept=2))) == MinErrorTask(2)
    assert isinstance(task_for(_min_kept()), MinKeptTask)
    pareto = dataclasses.replace(problem, objective=Pareto(max_kept=None))
    assert task_for(pareto) == MinErrorTask(max_kept=problem.max_kept_possible())


def test_explicit_meet_in_the_middle():
    problem = _subset_sum()
    result = solve(problem, SolveParameters(backend=MITM))
    assert result.status == SolveStatus.OPTIMAL
    assert (result.stats.backend, result.stats.formulation) == (MITM, "separable")
    with pytest.raises(InvalidProblemError, match="parameters.backend"):
        solve(
            paper_problem(2, 4, 1, PruningMode.NEURONS, points_per_axis=5),
            SolveParameters(backend=MITM),
        )
    with pytest.raises(InvalidProblemError, match="parameters.backend"):
        solve(
            dataclasses.replace(problem, objective=MinError(max_kept=2)),
            SolveParameters(backend=MITM),
        )


def test_an_answer_that_does_not_certify_passes_to_the_mip(monkeypatch):
    # A loose bound (as a float search too coarse for the tolerance would give): "auto" asks
    # the next accepting backend, whose stats describe the answer returned.
    original = MeetInTheMiddleBackend.solve

    def loose(self, model, rows, task, options):
        outcome = original(self, model, rows, task, options)
        outcome.error_bound = outcome.error_bound / 2
        return outcome

    problem = d1_problem(np.random.default_rng(3), 6)
    assert solve(problem).stats.backend == MITM
    monkeypatch.setattr(MeetInTheMiddleBackend, "solve", loose)
    result = solve(problem)
    assert result.status == SolveStatus.OPTIMAL, result.detail
    assert result.stats.backend == "cpsat" and result.stats.formulation == "columns"
    # Asked for by name, its own answer comes back, not certified optimal.
    named = solve(problem, SolveParameters(backend=MITM))
    assert named.tolerance > 1e-6
    assert named.status == SolveStatus.FEASIBLE and "exceeds the tolerance" in named.detail


def test_auto_cross_check_of_a_separable_problem_uses_a_second_mip():
    if len(general_backends()) < 2:
        pytest.skip("needs two installed general backends")
    result = solve(_subset_sum(), SolveParameters(cross_check="auto"))
    assert result.stats.backend == MITM
    assert result.cross_check.backend == "scip" and result.cross_check.agrees
