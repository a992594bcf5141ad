"""The kept cap of a min_kept task (MinKeptTask.max_kept: sum_c cost_c x_c <= max_kept; docs/
design.md §16), against the brute force over every mask (tests/support/reference.py), for
CP-SAT, the float MIP model (SCIP, HiGHS, CBC) and the per-weight model (weights mode).

What a capped relaxation must say, with K = max_kept + 1 and X = max_error: every mask within X
keeps >= min(kept_bound, K) (the cap removes only masks keeping >= K), and CP-SAT's INFEASIBLE
means no mask within X keeps < K. A capped restriction's choice keeps < K and is truly within
X."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest

from solver.backends import REGISTRY
from solver.backends.base import BackendOptions, BackendStatus, MinKeptTask
from solver.core.problem import MinKept, PruningMode
from solver.exact import round_up
from solver.formulation.columns import build_column_model
from solver.instances.generate import paper_problem
from tests.support.reference import exact_error, kept, table

TOL = 1e-6
# Instances with frontiers of 3-4 points (tests/engine/test_cubes_objectives.py).
INSTANCES = [(PruningMode.NEURONS, 6, 10), (PruningMode.WEIGHTS, 3, 2)]
_TABLES: dict = {}


def _instance(mode, n, seed):
    if (mode, n, seed) not in _TABLES:
        problem = paper_problem(2, n, seed, mode, points_per_axis=9)
        _TABLES[(mode, n, seed)] = (problem, table(problem))
    return _TABLES[(mode, n, seed)]


def _thresholds(ref) -> list[Fraction]:
    # Midway between frontier errors: far from every mask's error compared with the models'
    # rounding, so the relaxation and the restriction agree with the brute force exactly.
    frontier = ref.frontier()
    return [Fraction(round_up((a[1] + b[1]) / 2)) for a, b in zip(frontier, frontier[1:])]


def _backends(mode):
    names = ["cpsat", "scip", "highs", "cbc"]
    if mode == PruningMode.WEIGHTS:
        names.append("perweight-cpsat")
    return names


CASES = [(mode, n, seed, name) for mode, n, seed in INSTANCES for name in _backends(mode)]


@pytest.mark.parametrize(("mode", "n", "seed", "name"), CASES)
def test_capped_min_kept_against_brute_force(mode, n, seed, name):
    if name not in REGISTRY:
        pytest.skip(f"no backend {name!r} in this build")
    cls = REGISTRY[name]
    if not cls.available():
        pytest.skip(f"{name} is not installed")
    base, ref = _instance(mode, n, seed)
    backend = cls()
    for eps in _thresholds(ref):
        problem = dataclasses.replace(base, objective=MinKept(max_error=float(eps)))
        model = build_column_model(problem, drop_dominated=True)
        rows = np.arange(model.num_points)
        want = ref.min_kept(eps)
        assert want is not None and want >= 1
        for cap in (want - 1, want, want + 2):
            options = BackendOptions(tolerance=TOL)
            relaxed = backend.solve(model, rows, MinKeptTask(max_error=eps, max_kept=cap), options)
            restricted = backend.solve(
                model, rows, MinKeptTask(max_error=eps, restrict=True, max_kept=cap), options
            )
            for outcome in (relaxed, restricted):
                if outcome.chosen is not None:
                    assert model.kept(outcome.chosen) <= cap  # the cap row holds
            if relaxed.status != BackendStatus.INFEASIBLE and relaxed.kept_bound is not None:
                # Rigorous: the masks the cap removes keep > cap.
                assert min(relaxed.kept_bound, cap + 1) <= want
            if cap < want:
                # No mask within eps keeps <= cap: CP-SAT proves it; a float backend may not
                # claim otherwise with a choice.
                if name in ("cpsat", "perweight-cpsat"):
                    assert relaxed.status == BackendStatus.INFEASIBLE
                assert restricted.chosen is None
            else:
                assert relaxed.status == BackendStatus.OPTIMAL
                assert relaxed.kept_bound == want
                assert restricted.chosen is not None
                mask = model.mask(restricted.chosen)
                assert exact_error(problem, mask) <= eps
                assert kept(mask) == model.kept(restricted.chosen) == want
