"""Cube and conquer (solver.engine.cubes, docs/design.md §16) on a real Dask LocalCluster with two
workers: the distributed optimum equals the monolithic one and the brute force; each backend that
fixes units honours them; a stop ends every cube."""

from __future__ import annotations

import dataclasses
import threading
from fractions import Fraction

import numpy as np
import pytest

from solver.backends import REGISTRY
from solver.backends.base import BackendOptions, MinErrorTask
from solver.core.errors import InvalidProblemError
from solver.core.parameters import SolveParameters
from solver.core.problem import MinError, MinKept, PruningMode
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.engine.cube_split import SPLIT_RULES, split_order
from solver.engine.cubes import local_cluster, solve_cubes
from solver.formulation.columns import build_column_model
from solver.instances.generate import paper_problem
from tests.support.reference import all_masks, exact_error, kept

TOL = 1e-6


@pytest.fixture(scope="module")
def client():
    client = local_cluster(2)
    yield client
    cluster = client.cluster
    client.close()
    cluster.close()


def _problem(mode: PruningMode, n: int, seed: int, max_kept: int | None = None):
    problem = paper_problem(2, n, seed, mode, points_per_axis=9)
    return dataclasses.replace(problem, objective=MinError(max_kept=max_kept))


def _reference(problem, max_kept=None) -> Fraction:
    return min(
        exact_error(problem, m)
        for m in all_masks(problem)
        if max_kept is None or kept(m) <= max_kept
    )


CASES = [
    (PruningMode.NEURONS, 9, 1, None, "magnitude"),
    (PruningMode.NEURONS, 9, 2, 3, "kink"),
    (PruningMode.NEURONS, 10, 3, None, "lp"),
    (PruningMode.WEIGHTS, 3, 1, None, "magnitude"),
    (PruningMode.WEIGHTS, 3, 2, 4, "lp"),
]


@pytest.mark.parametrize(("mode", "n", "seed", "max_kept", "rule"), CASES)
def test_distributed_optimum_equals_monolithic_and_brute_force(
    client, mode, n, seed, max_kept, rule
):
    problem = _problem(mode, n, seed, max_kept)
    params = SolveParameters(sparsest=False, heuristic_start=False)
    outcome = solve_cubes(problem, params, cubes=4, rule=rule, client=client)
    result = outcome.result
    mono = solve(problem, params)
    best = _reference(problem, max_kept)
    assert result.status == SolveStatus.OPTIMAL, result.detail
    assert mono.status == SolveStatus.OPTIMAL
    # Certified within the tolerance of the brute force, and the bound never above it.
    assert Fraction(result.objective_bound) <= best
    assert Fraction(result.solution.error) - best <= Fraction(TOL)
    assert abs(result.solution.error - mono.solution.error) <= TOL
    assert exact_error(problem, result.solution.mask) <= Fraction(result.solution.error)
    if max_kept is not None:
        assert kept(result.solution.mask) <= max_kept
    # The leaves cover the choices: unless the start was already optimal, 4 root cubes ran.
    if outcome.cubes:
        assert {tuple(sorted(c.decisions)) for c in outcome.cubes} >= {
            tuple(sorted(outcome.split_units))
        }
        assert all(c.bound <= result.solution.error for c in outcome.cubes if c.state != "empty")


def test_a_cube_without_the_optimum_is_closed_by_the_cutoff(client):
    # Neurons n = 9: every cube reports a bound, and the one holding the optimum a mask.
    problem = _problem(PruningMode.NEURONS, 9, 4)
    params = SolveParameters(sparsest=False, heuristic_start=False)
    outcome = solve_cubes(problem, params, cubes=8, client=client)
    assert outcome.result.status == SolveStatus.OPTIMAL
    assert len(outcome.cubes) >= 8
    states = {c.state for c in outcome.cubes}
    assert states <= {"optimal", "closed", "split"}


@pytest.mark.parametrize("name", ["cpsat", "scip", "highs", "cbc"])
@pytest.mark.parametrize("mode", [PruningMode.NEURONS, PruningMode.WEIGHTS])
def test_fixed_units_are_respected_by_each_backend(name, mode):
    cls = REGISTRY[name]
    if not cls.available():
        pytest.skip(f"{name} is not installed")
    n = 7 if mode == PruningMode.NEURONS else 3
    problem = _problem(mode, n, 5)
    model = build_column_model(problem, drop_dominated=True)
    units = split_order("magnitude", model)[:2]
    for fixed in ({units[0]: True, units[1]: False}, {units[0]: False, units[1]: True}):
        outcome = cls().solve(
            model,
            np.arange(model.num_points),
            MinErrorTask(),
            BackendOptions(fixed_units=fixed, tolerance=TOL),
        )
        live = {model.candidates[c].unit for c in outcome.chosen}
        assert all((u in live) == alive for u, alive in fixed.items())
        # The bound is about the cube: at most the cube's brute-force optimum, and the choice
        # is within the tolerance of it.
        in_cube = [
            exact_error(problem, m)
            for m in all_masks(problem)
            if all((_live(m, u)) == alive for u, alive in fixed.items())
        ]
        cube_best = min(in_cube)
        assert outcome.error_bound <= cube_best
        chosen_error = exact_error(problem, model.mask(outcome.chosen))
        assert chosen_error - cube_best <= Fraction(TOL) + _resolution(outcome)


def _live(mask, unit: int) -> bool:
    if mask.neurons is not None:
        return bool(mask.neurons[unit])
    return bool(
        np.asarray(mask.output_weights, dtype=bool)
        .reshape(-1, len(mask.hidden_weights))[:, unit]
        .any()
    )


def _resolution(outcome) -> Fraction:
    # CP-SAT's first level resolves about candidates / scale (docs/design.md §7).
    return Fraction(64, outcome.scale) if outcome.scale else Fraction(0)


def test_meet_in_the_middle_refuses_fixed_units():
    problem = paper_problem(1, 6, 1, PruningMode.NEURONS)
    model = build_column_model(problem, drop_dominated=True)
    backend = REGISTRY["meet-in-the-middle"]()
    unit = model.candidates[0].unit
    with pytest.raises(InvalidProblemError, match="cannot fix units"):
        backend.solve(
            model,
            np.arange(model.num_points),
            MinErrorTask(),
            BackendOptions(fixed_units={unit: True}),
        )


def test_split_rules_rank_every_unit():
    problem = _problem(PruningMode.NEURONS, 9, 1)
    model = build_column_model(problem, drop_dominated=True)
    units = {model.candidates[g[0]].unit for g in model.groups}
    for rule in SPLIT_RULES:
        assert sorted(split_order(rule, model)) == sorted(units)


def test_bad_requests_name_their_field(client):
    # Every objective is accepted (tests/engine/test_cubes_objectives.py); a bad cube count, an
    # unknown rule and a parameter a distributed solve does not take are refused together.
    problem = dataclasses.replace(
        _problem(PruningMode.NEURONS, 6, 1), objective=MinKept(max_error=0.5)
    )
    params = SolveParameters(cross_check="highs")
    with pytest.raises(InvalidProblemError) as caught:
        solve_cubes(problem, params, cubes=1, rule="nope", client=client)
    fields = {v.field for v in caught.value.violations}
    assert fields == {
        "parameters.cross_check",
        "parameters.distributed.cubes",
        "parameters.distributed.cube_rule",
    }


def test_a_stop_stops_every_cube(client):
    # Neurons n = 64 takes far longer than this test to prove; the stop comes with the first
    # progress event, before the cubes start, and every cube must end unfinished.
    problem = paper_problem(2, 64, 1, PruningMode.NEURONS)
    stop = threading.Event()
    outcome = solve_cubes(
        problem,
        SolveParameters(sparsest=False, heuristic_start=False),
        cubes=4,
        client=client,
        stop=stop,
        progress=lambda _event: stop.set(),
    )
    assert outcome.result.status == SolveStatus.CANCELLED
    assert outcome.result.solution is not None  # the certified starting mask at least
    assert outcome.cubes
    assert all(c.state in ("open", "cancelled") for c in outcome.cubes)


def test_weights_mode_over_the_pattern_limit_is_refused_before_any_cluster():
    # d = 16, n = 2: 131,072 patterns, over the pattern model's limit; the per-weight route has
    # no cubes, so a distributed solve is refused naming --distributed (no cluster is started:
    # client=None would start one after validation).
    problem = paper_problem(16, 2, 1, PruningMode.WEIGHTS, points_per_axis=2)
    with pytest.raises(InvalidProblemError) as info:
        solve_cubes(problem, SolveParameters(time_limit_seconds=5))
    [violation] = info.value.violations
    assert violation.field == "parameters.distributed" and violation.flag == "--distributed"
    assert "131072 patterns" in violation.description
