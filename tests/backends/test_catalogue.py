"""Known optima, on every installed backend."""

from __future__ import annotations

import numpy as np
import pytest

from solver.backends import REGISTRY, available_backends
from solver.core.parameters import SolveParameters
from solver.core.problem import MinKept
from solver.core.result import SolveStatus
from solver.engine import solve
from tests.backends.test_backends import accepts
from tests.support.catalogue import CATALOGUE


@pytest.mark.parametrize(
    "backend", sorted(name for name, cls in REGISTRY.items() if not cls.special_purpose)
)
@pytest.mark.parametrize("case", CATALOGUE, ids=lambda c: c.name)
def test_known_optimum(case, backend):
    if backend not in available_backends():
        pytest.skip(f"backend {backend} is not installed")
    if not accepts(backend, case.problem):  # the per-weight backend: weights mode only
        pytest.skip(f"backend {backend} does not accept this problem")
    result = solve(case.problem, SolveParameters(backend=backend))
    assert result.status == SolveStatus.OPTIMAL, result.detail
    if case.frontier is not None:
        assert [(p.kept, p.error) for p in result.frontier] == case.frontier
        return
    assert result.solution is not None
    if isinstance(case.problem.objective, MinKept):
        assert result.solution.kept == case.kept
        assert result.objective_bound == case.kept
        return
    assert result.solution.error == case.error
    assert result.objective_bound <= case.error
    assert result.solution.kept == case.kept
    if case.kept == 0:
        mask = result.solution.mask
        assert not np.any(mask.unit_vector(case.problem.network.n))


def test_min_kept_infeasible_below_the_best_error():
    import dataclasses

    from tests.support.catalogue import _relu_output

    problem = dataclasses.replace(_relu_output(), objective=MinKept(max_error=0.5))
    result = solve(problem)
    assert result.status == SolveStatus.INFEASIBLE
    assert result.solution is None
