"""Weights mode's per-weight route (docs/design.md §15): the lazy column model with the per-weight
backend, chosen by "auto" above solver.backends.PATTERNS_THRESHOLD patterns or where the pattern
model is over its limit; checked against the brute force (tests/support/reference.py), the
pattern route and the independent exact evaluation, with every refusal's message."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest

from solver import solve
from solver.backends import (
    PATTERNS_THRESHOLD,
    REGISTRY,
    choose_backends,
    general_backends,
    prefer_per_weight,
)
from solver.backends.base import task_for
from solver.backends.perweight import PerWeightCpSatBackend
from solver.core.errors import InvalidProblemError, ProblemTooLargeError
from solver.core.parameters import SolveParameters
from solver.core.problem import (
    Activation,
    BoxGrid,
    Mask,
    MinError,
    MinKept,
    Network,
    Neuron,
    Pareto,
    Problem,
    PruningMode,
    Samples,
)
from solver.core.result import SolveStatus
from solver.core.validate import DEFAULT_LIMITS, Limits, validate_problem, weight_patterns
from solver.engine.starts import magnitude_mask
from solver.exact.certify import ExactDomain
from solver.formulation.columns import build_column_model
from tests.support.reference import exact_error, kept, table

PER_WEIGHT = PerWeightCpSatBackend.name
TOL = Fraction(1, 10**6)


def _wide(d: int = 20, n: int = 3, m: int = 5, seed: int = 5, objective=None) -> Problem:
    """Weights mode at d = 20: 3 * 2^20 patterns, over the pattern model's limit."""
    rng = np.random.default_rng(seed)
    network = Network(
        hidden_weights=rng.normal(size=(n, d)) / np.sqrt(d),
        output_weights=rng.normal(size=n),
        hidden_biases=rng.normal(size=n) * 0.3,
        output_bias=0.1,
    )
    target = Samples(points=rng.normal(size=(m, d)), values=rng.normal(size=m))
    return Problem(
        network, target, None, PruningMode.WEIGHTS, objective or MinError(max_kept=2 * d // 3)
    )


def _small(d: int, n: int, seed: int, objective=None) -> Problem:
    rng = np.random.default_rng(seed)
    network = Network(
        hidden_weights=rng.uniform(-1, 1, size=(n, d)),
        output_weights=rng.uniform(-1, 1, size=n),
        hidden_biases=rng.uniform(-0.5, 0.5, size=n) if seed % 2 else None,
        output_bias=float(rng.uniform(-0.3, 0.3)),
        output_activation=Activation.RELU if seed % 3 == 0 else Activation.IDENTITY,
    )
    if seed % 2:
        target = Samples(points=rng.normal(size=(7, d)), values=rng.uniform(-1, 1, size=7))
        domain = None
    else:
        target = Neuron(weights=rng.uniform(-1, 1, size=d), activation=Activation.RELU)
        domain = BoxGrid(low=-1.0, high=1.0, points_per_axis=3)
    return Problem(network, target, domain, PruningMode.WEIGHTS, objective or MinError())


def _certified(problem: Problem, result) -> Fraction:
    """The result's mask re-evaluated exactly, twice independently; its stated figures checked."""
    assert result.solution is not None
    truth = exact_error(problem, result.solution.mask)
    assert ExactDomain(problem).certify(result.solution.mask).error == truth
    assert truth <= Fraction(result.solution.error) <= truth + Fraction(1, 10**15)
    assert result.solution.kept == kept(result.solution.mask)
    assert Fraction(result.objective_bound) <= truth
    return truth


# -- the route "auto" takes ------------------------------------------------------------------------


def test_auto_solves_d20_on_the_per_weight_route():
    problem = _wide()
    net = problem.network
    assert weight_patterns(net.n, net.d, 1) > DEFAULT_LIMITS.max_weight_candidates
    validate_problem(problem)  # not refused for size: the per-weight route takes it
    result = solve(problem, SolveParameters(time_limit_seconds=60))
    assert result.stats.formulation == "perweight"
    assert result.stats.backend == PER_WEIGHT
    assert result.status == SolveStatus.OPTIMAL, result.detail
    truth = _certified(problem, result)
    assert truth - Fraction(result.objective_bound) <= TOL
    assert result.solution.kept <= problem.objective.max_kept


def test_auto_takes_the_pattern_model_below_the_threshold_and_per_weight_above():
    below = _small(2, 3, 1)
    assert not prefer_per_weight(below, DEFAULT_LIMITS)
    assert solve(below).stats.formulation == "patterns"
    # Above the measured threshold, within the pattern model's limit.
    d = int(np.log2(PATTERNS_THRESHOLD)) + 1
    above = _small(d, 1, 1)
    assert PATTERNS_THRESHOLD < weight_patterns(1, d, 1) <= DEFAULT_LIMITS.max_weight_candidates
    assert prefer_per_weight(above, DEFAULT_LIMITS)
    result = solve(above)
    assert result.stats.formulation == "perweight"
    assert result.status == SolveStatus.OPTIMAL
    _certified(above, result)
    # Neurons mode never.
    neurons = dataclasses.replace(above, pruning=PruningMode.NEURONS)
    assert not prefer_per_weight(neurons, DEFAULT_LIMITS)


def test_the_lazy_model_is_accepted_by_the_per_weight_backend_only():
    problem = _small(3, 2, 1)
    lazy = build_column_model(problem, lazy=True)
    complete = build_column_model(problem)
    task = task_for(problem)
    assert [b.name for b in choose_backends(lazy, task)] == [PER_WEIGHT]
    for name, cls in REGISTRY.items():
        assert cls.accepts(lazy, task) == (name == PER_WEIGHT), name
    assert PER_WEIGHT in [b.name for b in choose_backends(complete, task)]
    assert choose_backends(complete, task)[0].name == "cpsat"
    assert PER_WEIGHT not in general_backends()
    # Every backend but the per-weight one solves over the candidates (meet in the middle too).
    assert [name for name, cls in REGISTRY.items() if not cls.solves_columns()] == [PER_WEIGHT]


# -- optima: the lazy route against the pattern route and the brute force --------------------------


@pytest.mark.parametrize(("d", "n", "seed"), [(2, 3, 1), (2, 2, 2), (3, 2, 3), (3, 2, 4)])
def test_small_instances_agree_with_the_pattern_route_and_brute_force(d, n, seed):
    problem = _small(d, n, seed)
    reference = table(problem)
    budget = problem.max_kept_possible() // 2
    problem = dataclasses.replace(problem, objective=MinError(max_kept=budget))
    optimum = reference.min_error(budget)
    lazy = solve(problem, SolveParameters(backend=PER_WEIGHT))
    patterns = solve(problem, SolveParameters(backend="cpsat"))
    assert lazy.stats.formulation == "perweight" and patterns.stats.formulation == "patterns"
    for result in (lazy, patterns):
        assert result.status == SolveStatus.OPTIMAL, result.detail
        assert _certified(problem, result) - optimum <= TOL
        assert Fraction(result.objective_bound) <= optimum
        assert result.solution.kept <= budget


@pytest.mark.parametrize(("d", "n", "seed"), [(2, 2, 5), (3, 2, 6)])
def test_min_kept_on_the_lazy_route(d, n, seed):
    problem = _small(d, n, seed)
    reference = table(problem)
    eps = float(reference.min_error(problem.max_kept_possible() // 2)) + 1e-3
    problem = dataclasses.replace(problem, objective=MinKept(max_error=eps))
    result = solve(problem, SolveParameters(backend=PER_WEIGHT))
    assert result.stats.formulation == "perweight"
    assert result.status == SolveStatus.OPTIMAL, result.detail
    assert result.solution.kept == reference.min_kept(Fraction(eps))
    assert _certified(problem, result) <= Fraction(eps)


def test_pareto_on_the_lazy_route_matches_the_frontier():
    problem = _small(2, 2, 7, objective=Pareto())
    result = solve(problem, SolveParameters(backend=PER_WEIGHT))
    assert result.stats.formulation == "perweight"
    assert result.status == SolveStatus.OPTIMAL, result.detail
    frontier = table(problem).frontier()
    assert [p.kept for p in result.frontier] == [k for k, _ in frontier]
    for point, (_, error) in zip(result.frontier, frontier, strict=True):
        assert exact_error(problem, point.mask) == error
        assert Fraction(point.error_bound) <= error


def test_min_kept_at_d20_through_auto():
    # The full network's own error is the threshold's floor: the fewest kept reaching twice it.
    problem = _wide(m=4, seed=8)
    full = exact_error(problem, Mask.full(problem))
    eps = float(full) * 2 + 0.05
    problem = dataclasses.replace(problem, objective=MinKept(max_error=eps))
    result = solve(problem, SolveParameters(time_limit_seconds=60))
    assert result.stats.formulation == "perweight"
    assert result.status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE), result.detail
    assert _certified(problem, result) <= Fraction(eps)
    assert result.objective_bound <= result.solution.kept


def test_heuristic_mode_at_d20():
    problem = _wide()
    result = solve(problem, SolveParameters(heuristic="magnitude"))
    assert result.status == SolveStatus.FEASIBLE
    _certified(problem, result)


def test_magnitude_start_is_the_longest_prefix_within_the_budget():
    problem = _wide(d=6, n=3)
    net = problem.network
    n, d = net.n, net.d
    # The reference: parameters by decreasing |value| (hidden weights first on ties), each
    # prefix's mask counted by tests/support/reference.kept.
    values = np.concatenate([np.abs(net.hidden_weights).ravel(), np.abs(net.output_weights)])
    order = np.argsort(-values, kind="stable")

    def prefix(t: int) -> Mask:
        on = np.zeros(values.size, dtype=bool)
        on[order[:t]] = True
        return Mask(hidden_weights=on[: n * d].reshape(n, d), output_weights=on[n * d :])

    for budget in range(problem.max_kept_possible() + 1):
        longest = max(t for t in range(values.size + 1) if kept(prefix(t)) <= budget)
        mask = magnitude_mask(problem, budget)
        assert kept(mask) <= budget
        assert mask.same_as(prefix(longest)), budget


# -- refusals ----------------------------------------------------------------------------------


def test_an_explicit_pattern_backend_on_a_too_large_instance_is_refused():
    with pytest.raises(InvalidProblemError) as info:
        solve(_wide(), SolveParameters(backend="cpsat"))
    (violation,) = info.value.violations
    assert violation.field == "parameters.backend"
    assert violation.flag == "--backend"
    assert "3145728 patterns" in violation.description
    assert f"--backend {PER_WEIGHT}" in violation.description
    assert "--backend auto" in violation.description


def test_a_cross_check_that_needs_the_patterns_is_refused():
    with pytest.raises(InvalidProblemError) as info:
        solve(_wide(), SolveParameters(cross_check="cpsat"))
    (violation,) = info.value.violations
    assert violation.field == "parameters.cross_check"
    assert violation.flag == "--cross-check"
    assert "no second backend" in violation.description


def test_the_per_weight_route_limits_name_their_fields():
    problem = _wide(m=5)  # n d = 60 weights, n points = 15 ReLUs
    tight = Limits(max_per_weight_weights=59, max_per_weight_relus=14)
    with pytest.raises(ProblemTooLargeError) as info:
        validate_problem(problem, tight)
    fields = {v.field: v.description for v in info.value.violations}
    assert set(fields) == {"network.hidden_weights", "domain"}
    assert "n * d = 60 exceed the limit of 59" in fields["network.hidden_weights"]
    assert "n * points = 15 exceed the limit of 14" in fields["domain"]
    assert "per-weight route" in fields["domain"]
    validate_problem(problem, Limits(max_per_weight_weights=60, max_per_weight_relus=15))
    with pytest.raises(ProblemTooLargeError):
        solve(problem, limits=tight)


def test_an_explicit_per_weight_backend_over_its_limits_names_the_flag():
    problem = _small(3, 2, 1)  # 16 patterns: the pattern model is within its limit
    tight = Limits(max_per_weight_relus=10)
    solve(problem, SolveParameters(backend="cpsat"), limits=tight)  # the pattern route is fine
    with pytest.raises(ProblemTooLargeError) as info:
        solve(problem, SolveParameters(backend=PER_WEIGHT), limits=tight)
    fields = {v.field: v for v in info.value.violations}
    assert set(fields) == {"domain", "parameters.backend"}
    assert fields["parameters.backend"].flag == "--backend"
    assert "--backend auto" in fields["parameters.backend"].description


def test_auto_over_the_per_weight_limits_falls_back_to_the_pattern_model():
    # 2 * 2^10 = 2048 patterns: "auto" prefers the per-weight route, but its ReLU limit (n
    # points) is exceeded while the pattern model is within its own: auto solves on patterns.
    problem = _small(10, 2, 1)
    tight = Limits(max_per_weight_relus=10)
    assert weight_patterns(2, 10, 1) <= tight.max_weight_candidates
    result = solve(problem, SolveParameters(time_limit_seconds=20), limits=tight)
    assert result.stats.formulation == "patterns"
    assert result.status == SolveStatus.OPTIMAL
    reference = solve(problem, SolveParameters(backend="cpsat", time_limit_seconds=20))
    assert reference.status == SolveStatus.OPTIMAL
    assert abs(_certified(problem, result) - _certified(problem, reference)) <= TOL
