"""The per-weight formulation on CP-SAT (solver/backends/perweight.py, docs/design.md §15) against
the brute-force reference (tests/support/reference.py) and the pattern model, on real solves."""

from __future__ import annotations

import dataclasses
import math
import time
from fractions import Fraction

import numpy as np
import pytest

from solver import solve
from solver.backends import prefer_per_weight
from solver.backends.base import BackendOptions, MinErrorTask, MinKeptTask
from solver.backends.perweight import PerWeightCpSatBackend, choose_scale
from solver.core.errors import InvalidProblemError
from solver.core.parameters import SolveParameters
from solver.core.problem import (
    Activation,
    MinError,
    MinKept,
    Network,
    Pareto,
    PointSet,
    Problem,
    PruningMode,
    Samples,
)
from solver.core.result import SolveStatus
from solver.core.validate import DEFAULT_LIMITS
from solver.formulation.columns import build_column_model
from solver.formulation.perweight import per_weight_data
from tests.support.problems import random_problem
from tests.support.reference import exact_error, table

NAME = PerWeightCpSatBackend.name
TOL = Fraction(1e-6)


def _params(**more) -> SolveParameters:
    return SolveParameters(backend=NAME, **more)


def _biased_samples(rng, d: int, n: int, m: int, relu: bool) -> Problem:
    network = Network(
        hidden_weights=rng.uniform(-1, 1, size=(n, d)),
        output_weights=rng.uniform(-1, 1, size=n),
        hidden_biases=rng.uniform(-0.5, 0.5, size=n),
        output_bias=float(rng.uniform(-0.3, 0.3)),
        output_activation=Activation.RELU if relu else Activation.IDENTITY,
    )
    target = Samples(points=rng.normal(size=(m, d)), values=rng.uniform(-1, 1, size=m))
    return Problem(network, target, None, PruningMode.WEIGHTS, MinError())


def _check_min_error(problem: Problem, result, optimum: Fraction) -> None:
    assert result.stats.formulation == "perweight"
    assert Fraction(result.objective_bound) <= optimum, "the bound exceeds the true optimum"
    assert result.solution is not None
    assert Fraction(result.solution.error) >= exact_error(problem, result.solution.mask)
    assert result.status == SolveStatus.OPTIMAL
    assert Fraction(result.solution.error) - optimum <= TOL


@pytest.mark.parametrize("seed", range(12))
def test_random_problems_match_brute_force_on_both_objectives(seed):
    rng = np.random.default_rng(100 + seed)
    problem = random_problem(rng, PruningMode.WEIGHTS)
    reference = table(problem)
    budget = int(rng.integers(0, problem.max_kept_possible() + 1))
    with_budget = dataclasses.replace(problem, objective=MinError(max_kept=budget))
    optimum = reference.min_error(budget)
    result = solve(with_budget, _params())
    _check_min_error(with_budget, result, optimum)
    assert result.solution.kept <= budget

    eps = float(optimum) + 1e-3
    fewest = reference.min_kept(Fraction(eps))
    kept = solve(dataclasses.replace(problem, objective=MinKept(max_error=eps)), _params())
    assert kept.status == SolveStatus.OPTIMAL
    assert kept.solution.kept == fewest
    assert exact_error(problem, kept.solution.mask) <= Fraction(eps)


@pytest.mark.parametrize(
    ("d", "n", "relu"), [(2, 4, False), (3, 3, True), (4, 2, False), (5, 2, True)]
)
def test_biased_samples_targets_up_to_d5(d, n, relu):
    rng = np.random.default_rng(d * 10 + n)
    problem = _biased_samples(rng, d, n, m=12, relu=relu)
    reference = table(problem)
    budget = problem.max_kept_possible() // 3
    with_budget = dataclasses.replace(problem, objective=MinError(max_kept=budget))
    _check_min_error(with_budget, solve(with_budget, _params()), reference.min_error(budget))
    pattern = solve(with_budget, SolveParameters(backend="cpsat"))
    assert pattern.status == SolveStatus.OPTIMAL
    assert abs(Fraction(pattern.solution.error) - reference.min_error(budget)) <= TOL


def test_network_target_pareto_matches_the_frontier():
    rng = np.random.default_rng(3)
    target = Network(
        hidden_weights=rng.uniform(-1, 1, size=(2, 2)),
        output_weights=rng.uniform(-1, 1, size=2),
        hidden_biases=rng.uniform(-0.5, 0.5, size=2),
    )
    network = Network(
        hidden_weights=rng.uniform(-1, 1, size=(3, 2)),
        output_weights=rng.uniform(-1, 1, size=3),
        hidden_biases=rng.uniform(-0.5, 0.5, size=3),
    )
    domain = PointSet(points=rng.uniform(-1, 1, size=(9, 2)))
    problem = Problem(network, target, domain, PruningMode.WEIGHTS, Pareto())
    result = solve(problem, _params())
    assert result.status == SolveStatus.OPTIMAL
    expected = table(problem).frontier()
    got = [(p.kept, Fraction(p.error)) for p in result.frontier]
    assert [k for k, _ in got] == [k for k, _ in expected]
    for (_, error), (_, truth) in zip(got, expected, strict=True):
        assert abs(error - truth) <= TOL


def test_relu_output_min_kept_infeasible_below_a_negative_target():
    # relu(o) >= 0 while the target is -1 at the point: no mask is within 0.5.
    network = Network(
        hidden_weights=np.array([[1.0, -1.0]]),
        output_weights=np.array([1.0]),
        output_activation=Activation.RELU,
    )
    target = Samples(points=np.array([[0.5, 0.25]]), values=np.array([-1.0]))
    problem = Problem(network, target, None, PruningMode.WEIGHTS, MinKept(max_error=0.5))
    assert solve(problem, _params()).status == SolveStatus.INFEASIBLE


@pytest.mark.parametrize("seed", range(4))
def test_adversarial_scales_keep_the_bound_below_the_optimum(seed):
    """Values spanning 2^-30 .. 2^20 in one network: the fixed point rounds most of them, and the
    bound must stay rigorous (tests/backends/test_adversarial.py's spirit)."""
    rng = np.random.default_rng(seed)
    d, n = 3, 3
    magnitudes = 2.0 ** rng.integers(-30, 21, size=(n, d))
    network = Network(
        hidden_weights=magnitudes * rng.choice([-1.0, 1.0], size=(n, d)),
        output_weights=2.0 ** rng.integers(-20, 10, size=n) * rng.choice([-1.0, 1.0], size=n),
        hidden_biases=rng.uniform(-1, 1, size=n) * 2.0 ** rng.integers(-25, 15, size=n),
        output_bias=float(2.0 ** rng.integers(-30, 5)),
    )
    points = rng.normal(size=(6, d)) * 2.0 ** rng.integers(-10, 10, size=(6, 1))
    values = network.evaluate(points) * (1 + rng.uniform(-1e-3, 1e-3, size=6))
    problem = Problem(network, Samples(points, values), None, PruningMode.WEIGHTS, MinError())
    optimum = table(problem).min_error()
    result = solve(problem, _params(tolerance=1e-3 * max(1.0, float(np.abs(values).max()))))
    assert Fraction(result.objective_bound) <= optimum
    assert result.solution is not None
    assert Fraction(result.solution.error) >= exact_error(problem, result.solution.mask)


def test_huge_values_are_scaled_below_one_not_refused():
    network = Network(
        hidden_weights=np.array([[2.0**40, -(2.0**40)]]),
        output_weights=np.array([2.0**10]),
        hidden_biases=np.array([2.0**38]),
    )
    points = np.array([[1.0, 0.5], [0.25, 1.0]])
    target = Samples(points, network.evaluate(points) + 2.0**45)
    problem = Problem(network, target, None, PruningMode.WEIGHTS, MinError())
    model = build_column_model(problem, drop_dominated=False)
    scale = choose_scale(per_weight_data(model, np.arange(model.num_points)), Fraction(0))
    assert scale.value < 1
    result = solve(problem, _params(tolerance=2.0**30))
    optimum = table(problem).min_error()
    assert Fraction(result.objective_bound) <= optimum
    assert result.status == SolveStatus.OPTIMAL


def test_d10_is_solved_where_the_pattern_model_is_refused_for_its_scale():
    rng = np.random.default_rng(11)
    problem = _biased_samples(rng, 10, 16, m=40, relu=False)
    problem = dataclasses.replace(problem, objective=MinError(max_kept=16 * 11 // 3))
    assert prefer_per_weight(problem, DEFAULT_LIMITS)
    result = solve(problem, _params(time_limit_seconds=5))
    assert result.status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)
    assert result.solution is not None and result.solution.kept <= 16 * 11 // 3
    assert Fraction(result.solution.error) >= exact_error(problem, result.solution.mask)


def test_the_deadline_ends_the_search_with_a_choice_and_a_rigorous_bound():
    rng = np.random.default_rng(12)
    problem = _biased_samples(rng, 8, 12, m=60, relu=True)
    model = build_column_model(problem)  # outside the limit: the engine's part, not the backend's
    options = BackendOptions(deadline=time.monotonic() + 1.5)
    outcome = PerWeightCpSatBackend().solve(
        model, np.arange(model.num_points), MinErrorTask(max_kept=12 * 9 // 3), options
    )
    # It returned (the engine falls back on its hint when no choice comes back); whatever it
    # found is within budget, and its bound is below the exact error of masks within budget.
    if outcome.chosen is not None:
        assert model.mask(outcome.chosen).kept() <= 12 * 9 // 3
    assert outcome.error_bound is not None
    assert outcome.error_bound <= exact_error(problem, model.mask([]))


def test_a_passed_deadline_returns_before_solving():
    rng = np.random.default_rng(13)
    problem = _biased_samples(rng, 4, 6, m=30, relu=False)
    model = build_column_model(problem)
    options = BackendOptions(deadline=time.monotonic() - 1.0)
    outcome = PerWeightCpSatBackend().solve(
        model, np.arange(model.num_points), MinErrorTask(), options
    )
    assert outcome.chosen is None


def test_min_kept_relaxation_and_restriction_bracket_the_true_count():
    rng = np.random.default_rng(14)
    problem = _biased_samples(rng, 3, 3, m=10, relu=False)
    reference = table(problem)
    eps = Fraction(float(reference.min_error(4)))
    model = build_column_model(problem)
    rows = np.arange(model.num_points)
    backend = PerWeightCpSatBackend()
    relaxed = backend.solve(model, rows, MinKeptTask(max_error=eps), BackendOptions())
    restricted = backend.solve(
        model, rows, MinKeptTask(max_error=eps, restrict=True), BackendOptions()
    )
    truth = reference.min_kept(eps)
    assert relaxed.kept_bound is not None and relaxed.kept_bound <= truth
    if restricted.chosen is not None:
        mask = model.mask(restricted.chosen)
        assert exact_error(problem, mask) <= eps
        assert mask.kept() >= truth


def test_refuses_neurons_mode_with_a_clear_error():
    rng = np.random.default_rng(15)
    problem = dataclasses.replace(
        random_problem(rng, PruningMode.NEURONS), pruning=PruningMode.NEURONS
    )
    with pytest.raises(InvalidProblemError, match="does not accept"):
        solve(problem, _params())


# --- The cuts (*) of solver/formulation/perweight_cuts.py (module docstring of the backend,
# "Cuts"): every rounded row at every mask's point of the relaxation theorem, by brute force.


def _cut_problem(seed: int, d: int, n: int, k: int) -> Problem:
    rng = np.random.default_rng(seed)
    network = Network(
        hidden_weights=rng.uniform(-1, 1, size=(n, d)),
        output_weights=rng.uniform(-1, 1, size=(k, n)) if k > 1 else rng.uniform(-1, 1, size=n),
        hidden_biases=rng.uniform(-0.6, 0.6, size=n),
        output_bias=rng.uniform(-0.3, 0.3, size=k) if k > 1 else 0.1,
    )
    points = rng.normal(size=(6, d))
    values = rng.uniform(-1, 1, size=(6, k)) if k > 1 else rng.uniform(-1, 1, size=6)
    return Problem(
        network, Samples(points=points, values=values), None, PruningMode.WEIGHTS, MinError()
    )


@pytest.mark.parametrize(
    ("seed", "k", "num", "fine"), [(0, 1, 5, 1), (1, 1, 37, 3), (2, 2, 7, 2), (3, 3, 11, 1)]
)
def test_every_cut_holds_at_every_masks_theorem_point(seed, k, num, fine):
    """At act = [r > 0], live - act >= 0 and g in {floor(S r), ceil(S r)} (0 when the unit is
    dead, the output weight off or r <= 0), every subset's rounded row holds. A coarse S makes
    the outward rounding matter: rounding any coefficient down, or dropping F' - 1, fails."""
    from itertools import product

    from solver.backends.perweight import _Scale, cut_row
    from solver.exact import to_fraction

    d, n = 3, 3
    problem = _cut_problem(seed, d, n, k)
    model = build_column_model(problem, lazy=True)
    data = per_weight_data(model, np.arange(model.num_points))
    scale = _Scale(num)
    S, e = scale.value, data.exp
    checked = 0
    for a in range(len(data.units)):
        js = data.weights[a]
        for q in range(data.num_points):
            if int(data.high[a, q]) <= 0 or int(data.low[a, q]) >= 0:
                continue
            for inside in product([False, True], repeat=d):
                row = cut_row(data, scale, a, q, np.array(inside), fine, 10**6)
                assert row is not None
                f, weight, on_live, on_act, constant = row
                for live, z in product([0, 1], [0, 1]):
                    for w in product([0, 1], repeat=len(js)):
                        if live == 0 and any(w):
                            continue
                        r_int = sum(int(data.coef[a, q, j]) * wj for j, wj in zip(js, w))
                        r = to_fraction(r_int + int(data.beta[a, q]) * live, e)
                        act = int(r > 0)
                        if z and act:
                            gs = {math.floor(S * r), math.ceil(S * r)}
                        else:
                            gs = {0}
                        right = sum(c * wj for c, wj in zip(weight, w, strict=True))
                        right += on_live * live + on_act * act + constant
                        for g in gs:
                            assert f * g <= right, (a, q, inside, live, z, w, g)
                        checked += 1
    assert checked > 100


def test_the_linear_separation_finds_the_most_violated_subset():
    """most_violated against every subset of (*), at random fractional points."""
    from itertools import product

    from solver.formulation.perweight_cuts import most_violated

    rng = np.random.default_rng(5)
    d, pairs = 4, 40
    c = rng.uniform(-1, 1, size=(pairs, d))
    beta = rng.uniform(-1, 1, size=pairs)
    live = rng.uniform(0, 1, size=pairs)
    act = live * rng.uniform(0, 1, size=pairs)
    w = live[:, None] * rng.uniform(0, 1, size=(pairs, d))
    inside, bound = most_violated(c, beta, w, live, act)
    for i in range(pairs):
        best = math.inf
        for subset in product([False, True], repeat=d):
            s = np.array(subset)
            value = (s * c[i] * w[i]).sum() + (s * (c[i] < 0) * -c[i]).sum() * (live[i] - act[i])
            value += (beta[i] + (~s * (c[i] > 0) * c[i]).sum()) * act[i]
            best = min(best, value)
        assert bound[i] == pytest.approx(best, abs=1e-12)
        assert inside[i].tolist() == [bool(v) for v in inside[i]]


# Seeds whose LP relaxation leaves 15-40 pairs cut (with others the LP fits exactly: no cut).
@pytest.mark.parametrize("seed", [1, 9, 13, 22])
def test_separated_cuts_are_found_and_keep_the_optimum(seed, monkeypatch):
    """The LP separation finds cuts on small instances, and solves with them (and without any,
    the unchanged model) match the brute force."""
    from solver.formulation.perweight_cuts import separate

    rng = np.random.default_rng(300 + seed)
    problem = _biased_samples(rng, 3, 3, m=12, relu=False)
    budget = problem.max_kept_possible() // 2
    with_budget = dataclasses.replace(problem, objective=MinError(max_kept=budget))
    model = build_column_model(with_budget, lazy=True)
    data = per_weight_data(model, np.arange(model.num_points))
    optimum = table(problem).min_error(budget)
    found = separate(data, budget, 3, Fraction(100))
    assert found.cuts, "no cut separated: the end-to-end solves test no cut row"
    # The LP's rigorous bound: below the optimum, and not void on these instances.
    assert 0 < found.bound <= optimum
    for rounds, static in [(5, True), (0, False)]:
        monkeypatch.setattr(PerWeightCpSatBackend, "cut_rounds", rounds)
        monkeypatch.setattr(PerWeightCpSatBackend, "static_cuts", static)
        _check_min_error(with_budget, solve(with_budget, _params()), optimum)


@pytest.mark.parametrize(("seed", "k"), [(0, 1), (1, 2), (2, 3), (3, 1), (4, 2)])
def test_the_lp_bound_is_below_the_brute_force_optimum(seed, k):
    """separate's rigorous LP bound (exact arithmetic on the float LP's duals) never exceeds
    the least error over masks within the budget, with one or several outputs and a budget of
    0, a third, or every weight; a cap below the optimum's error is not a valid cap and is not
    used. A wrong sign or a dropped term in _safe_bound would put it above."""
    from solver.formulation.perweight_cuts import separate

    n = 3 if k == 1 else 2  # the brute force's masks: 2^12 or at most 2^12 (k = 3)
    problem = _cut_problem(seed, 3, n, k)
    reference = table(problem)
    model = build_column_model(problem, lazy=True)
    data = per_weight_data(model, np.arange(model.num_points))
    positive = 0
    for budget in [0, problem.max_kept_possible() // 3, None]:
        optimum = reference.min_error(budget if budget is not None else problem.max_kept_possible())
        bound = separate(data, budget, 4, optimum + 1).bound
        assert 0 <= bound <= optimum, (budget, float(bound), float(optimum))
        # The cap at the optimum itself is valid too (the optimal mask has t = optimum).
        assert separate(data, budget, 2, optimum).bound <= optimum
        positive += bound > 0
    assert positive >= 1
