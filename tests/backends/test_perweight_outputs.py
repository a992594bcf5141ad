"""The per-weight formulation with k >= 2 outputs (solver/backends/perweight.py, docs/design.md
§3, §15): rows are (point, output) pairs, a unit's output weights are pruned one by one, and a
unit keeping none is dead. Compared with the brute-force reference (tests/support/reference.py),
which enumerates every mask and evaluates it in Fractions, on real solves."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest

from solver import solve
from solver.backends.base import BackendOptions, BackendStatus, MinErrorTask, MinKeptTask
from solver.backends.perweight import PerWeightCpSatBackend
from solver.core.parameters import SolveParameters
from solver.core.problem import (
    Activation,
    BoxGrid,
    Mask,
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
from solver.formulation.columns import build_column_model
from solver.formulation.perweight import per_weight_data
from tests.support.reference import exact_error, kept, table

NAME = PerWeightCpSatBackend.name
TOL = Fraction(1e-6)


def _params(**more) -> SolveParameters:
    return SolveParameters(backend=NAME, **more)


def _network(rng, d: int, n: int, k: int, biased: bool, relu: bool) -> Network:
    return Network(
        hidden_weights=rng.uniform(-1, 1, size=(n, d)),
        output_weights=rng.uniform(-1, 1, size=(k, n)),
        hidden_biases=rng.uniform(-0.5, 0.5, size=n) if biased else None,
        output_bias=rng.uniform(-0.3, 0.3, size=k) if biased else np.zeros(k),
        output_activation=Activation.RELU if relu else Activation.IDENTITY,
    )


def _problem(seed: int, d: int, n: int, k: int, target: str, biased: bool, relu: bool) -> Problem:
    """A tiny k-output problem: a k-column samples target (the network's values, perturbed), or
    a network target on a box grid (the network itself perturbed, or another k-output
    network): optima keep some output weights of a unit and not others."""
    rng = np.random.default_rng(seed)
    network = _network(rng, d, n, k, biased, relu)
    if target == "samples":
        points = rng.uniform(-1, 1, size=(7, d))
        values = network.evaluate(points).reshape(7, k) + rng.uniform(-0.2, 0.2, size=(7, k))
        return Problem(
            network,
            Samples(points=points, values=values),
            None,
            PruningMode.WEIGHTS,
            MinError(),
        )
    if target == "perturbed":
        teacher = dataclasses.replace(
            network,
            hidden_weights=network.hidden_weights + rng.uniform(-0.1, 0.1, size=(n, d)),
            output_weights=network.output_weights + rng.uniform(-0.1, 0.1, size=(k, n)),
        )
    else:
        teacher = _network(rng, d, 2, k, biased, relu)
    # 3 x 3 points, or 2 x 2 for three units: the brute force evaluates 13^3 masks then.
    domain = BoxGrid(low=-1.0, high=1.0, points_per_axis=2 if n == 3 else 3)
    return Problem(network, teacher, domain, PruningMode.WEIGHTS, MinError())


# (seed, d, n, k, target, biased, output ReLU): every unit has all its output weights non-zero,
# so each goes through the shared-literal model (z_oa != live_a). Bias-free network targets keep
# only the undominated grid points (docs/design.md §5). Seeds chosen for frontiers of 3 to 9
# points (with others the empty network can be optimal, which tests little).
CASES = [
    (1, 2, 2, 2, "samples", True, False),
    (2, 2, 3, 2, "perturbed", True, True),
    (13, 3, 2, 2, "samples", True, True),
    (34, 2, 2, 3, "network", True, False),
    (15, 2, 2, 3, "perturbed", False, True),
    (6, 3, 2, 3, "samples", False, False),
]


def _check_min_error(problem: Problem, result, optimum: Fraction) -> None:
    assert result.stats.formulation == "perweight"
    assert Fraction(result.objective_bound) <= optimum, "the bound exceeds the true optimum"
    assert result.solution is not None
    assert Fraction(result.solution.error) >= exact_error(problem, result.solution.mask)
    assert result.status == SolveStatus.OPTIMAL
    assert Fraction(result.solution.error) - optimum <= TOL


@pytest.mark.parametrize(("seed", "d", "n", "k", "target", "biased", "relu"), CASES)
def test_min_error_and_min_kept_match_the_brute_force(seed, d, n, k, target, biased, relu):
    problem = _problem(seed, d, n, k, target, biased, relu)
    assert problem.network.outputs == k
    reference = table(problem)

    _check_min_error(problem, solve(problem, _params()), reference.min_error())
    budget = problem.max_kept_possible() // 3
    with_budget = dataclasses.replace(problem, objective=MinError(max_kept=budget))
    result = solve(with_budget, _params())
    _check_min_error(with_budget, result, reference.min_error(budget))
    assert kept(result.solution.mask) <= budget

    # min_kept at the error of a middle point of the frontier (plus a margin the fixed point
    # resolves): the fewest weights, proven, and a mask truly within it.
    frontier = reference.frontier()
    eps = float(frontier[len(frontier) // 2][1]) + 1e-3
    fewest = solve(dataclasses.replace(problem, objective=MinKept(max_error=eps)), _params())
    assert fewest.status == SolveStatus.OPTIMAL
    assert fewest.solution is not None
    assert kept(fewest.solution.mask) == fewest.solution.kept == reference.min_kept(Fraction(eps))
    assert exact_error(problem, fewest.solution.mask) <= Fraction(eps)


def test_zero_output_weights_and_a_unit_with_one_output_weight():
    """Unit 0 has one non-zero output weight of three (its literal is the unit's: z = live),
    unit 1 two, and a zero hidden weight: none of them gets a literal, and the optimum still
    matches the brute force over every mask (which keeps zero weights too)."""
    rng = np.random.default_rng(9)
    network = Network(
        hidden_weights=np.array([[0.7, -0.4], [0.0, 0.9]]),
        output_weights=np.array([[0.8, 0.0], [0.0, -0.6], [0.0, 0.4]]),
        hidden_biases=np.array([0.2, -0.1]),
        output_bias=np.array([0.1, 0.0, -0.2]),
    )
    points = rng.uniform(-1, 1, size=(6, 2))
    values = network.evaluate(points) + rng.uniform(-0.2, 0.2, size=(6, 3))
    problem = Problem(network, Samples(points, values), None, PruningMode.WEIGHTS, MinError())
    model = build_column_model(problem)
    assert PerWeightCpSatBackend.accepts(model, MinErrorTask())
    data = per_weight_data(model, np.arange(model.num_points))
    assert data.outputs == [[0], [1, 2]] and data.weights == [[0, 1], [1]]
    reference = table(problem)
    for budget in (1, 2, 3, 4):
        with_budget = dataclasses.replace(problem, objective=MinError(max_kept=budget))
        _check_min_error(with_budget, solve(with_budget, _params()), reference.min_error(budget))
    eps = float(reference.min_error(3)) + 1e-3
    fewest = solve(dataclasses.replace(problem, objective=MinKept(max_error=eps)), _params())
    assert fewest.status == SolveStatus.OPTIMAL
    assert fewest.solution.kept == reference.min_kept(Fraction(eps))


@pytest.mark.parametrize("k", [2, 3])
def test_relaxation_and_restriction_bracket_the_true_count(k):
    problem = _problem(20 + k, 2, 2, k, "samples", True, False)
    reference = table(problem)
    model = build_column_model(problem)
    rows = np.arange(model.num_points)
    backend = PerWeightCpSatBackend()
    for budget in (2, 4, 6):
        eps = reference.min_error(budget)
        truth = reference.min_kept(eps)
        relaxed = backend.solve(model, rows, MinKeptTask(max_error=eps), BackendOptions())
        assert relaxed.kept_bound is not None and relaxed.kept_bound <= truth
        restricted = backend.solve(
            model, rows, MinKeptTask(max_error=eps, restrict=True), BackendOptions()
        )
        if restricted.chosen is not None:
            mask = model.mask(restricted.chosen)
            assert exact_error(problem, mask) <= eps
            assert kept(mask) >= truth


def test_direct_min_error_bound_on_some_rows_is_below_the_optimum_there():
    """The engine's row generation passes some rows ((point, output) pairs, not whole points):
    the bound on those rows is a bound for the problem on their points' outputs."""
    problem = _problem(7, 2, 2, 3, "samples", True, True)
    model = build_column_model(problem)
    rows = np.array([0, 4, 8, 11, 13, 19])  # mixed outputs of several points
    outcome = PerWeightCpSatBackend().solve(model, rows, MinErrorTask(), BackendOptions())
    assert outcome.status == BackendStatus.OPTIMAL

    def error(chosen) -> Fraction:  # exact, on the rows only, in the problem's units
        return max(model.point_errors(chosen, rows).tolist()) * Fraction(2) ** model.exp

    best = min(error(model.choice(mask)) for _, _, mask in table(problem).entries)
    found = error(outcome.chosen)
    assert outcome.error_bound <= best <= found
    assert found - best <= TOL


def test_pareto_frontier_with_two_outputs():
    rng = np.random.default_rng(8)
    network = _network(rng, 2, 2, 2, True, False)
    target = _network(rng, 2, 2, 2, True, False)
    domain = PointSet(points=rng.uniform(-1, 1, size=(6, 2)))
    problem = Problem(network, target, domain, PruningMode.WEIGHTS, Pareto())
    result = solve(problem, _params())
    assert result.status == SolveStatus.OPTIMAL
    expected = table(problem).frontier()
    got = [(p.kept, Fraction(p.error)) for p in result.frontier]
    assert [c for c, _ in got] == [c for c, _ in expected]
    for (_, error), (_, truth) in zip(got, expected, strict=True):
        assert abs(error - truth) <= TOL


def test_the_mask_map_keeps_each_output_weight_and_kills_units_without_one():
    """PerWeightData.mask/assignment: k x n output masks; a unit with no kept output weight is
    dead and its hidden weights are not kept; zero weights have no literal."""
    network = Network(
        hidden_weights=np.array([[1.0, -0.5, 0.0], [0.25, 0.75, -1.0], [0.5, 0.5, 0.5]]),
        output_weights=np.array([[1.0, 0.0, -0.5], [0.5, -1.0, 0.25], [-0.25, 0.5, 0.0]]),
        hidden_biases=np.array([0.1, -0.2, 0.3]),
    )
    points = np.array([[0.5, -0.25, 1.0], [1.0, 1.0, -0.5]])
    problem = Problem(
        network, Samples(points, np.zeros((2, 3))), None, PruningMode.WEIGHTS, MinError()
    )
    model = build_column_model(problem)
    data = per_weight_data(model, np.arange(model.num_points))
    assert data.units == [0, 1, 2]
    assert data.weights == [[0, 1], [0, 1, 2], [0, 1, 2]]
    assert data.outputs == [[0, 1, 2], [1, 2], [0, 1]]
    kept_out = [[False, True, False], [False, False], [True, True]]
    hidden = [[True, False], [True, True, True], [False, True, False]]
    mask = data.mask(kept_out, hidden)
    assert mask.output_weights.shape == (3, 3)
    assert mask.output_weights.tolist() == [
        [False, False, True],
        [True, False, True],
        [False, False, False],
    ]
    # Unit 1 keeps no output weight: dead, none of its hidden weights kept.
    assert mask.hidden_weights.tolist() == [
        [True, False, False],
        [False, False, False],
        [False, True, False],
    ]
    assert mask.kept() == 2 + 3
    # The column model's candidates of that mask give the same choice back (hints).
    back_out, back_hidden = data.assignment(data.candidates(kept_out, hidden))
    assert back_out == kept_out
    assert back_hidden == [[True, False], [False, False, False], [False, True, False]]
    # And the candidates' exact outputs are the mask's, row by row ((point, output) pairs).
    full = Mask.full(problem)
    assert data.assignment(model.choice(full)) == (
        [[True] * len(o) for o in data.outputs],
        [[True] * len(w) for w in data.weights],
    )


def test_rows_are_point_major_pairs_with_their_own_bias_and_sign():
    network = Network(
        hidden_weights=np.array([[1.0, 0.5]]),
        output_weights=np.array([[2.0], [-0.5]]),
        hidden_biases=np.array([0.25]),
        output_bias=np.array([0.125, -1.0]),
    )
    points = np.array([[1.0, 2.0], [-1.0, 0.5]])
    values = np.array([[1.0, 2.0], [3.0, 4.0]])
    problem = Problem(network, Samples(points, values), None, PruningMode.WEIGHTS, MinError())
    model = build_column_model(problem)
    data = per_weight_data(model, np.array([3, 0, 1]))  # (point 1, out 1), (0, 0), (0, 1)

    def value(ints) -> Fraction:
        return Fraction(int(ints)) * Fraction(2) ** data.exp

    assert [value(t) for t in data.target] == [4, 1, 2]
    assert [value(c) for c in data.biases] == [-1, Fraction(1, 8), -1]
    assert data.sign.tolist() == [[-1, 1, -1]]
    # c_ijq = |v_oi| u_ij x_pj and beta_iq = |v_oi| b_i of the row's output and point.
    assert [[value(c) for c in row] for row in data.coef[0]] == [
        [Fraction(-1, 2), Fraction(1, 8)],
        [2, 2],
        [Fraction(1, 2), Fraction(1, 2)],
    ]
    assert [value(b) for b in data.beta[0]] == [Fraction(1, 8), Fraction(1, 2), Fraction(1, 8)]
    assert [value(h) for h in data.high[0]] == [Fraction(1, 4), Fraction(9, 2), Fraction(9, 8)]
    assert [value(lw) for lw in data.low[0]] == [Fraction(-3, 8), Fraction(1, 2), Fraction(1, 8)]


@pytest.mark.parametrize("seed", range(3))
def test_adversarial_scales_with_three_outputs_keep_the_bound_below_the_optimum(seed):
    """Values spanning 2^-30 .. 2^20: the fixed point rounds most of them, and the bound with
    the shared ReLU literals and the M z rows must stay rigorous."""
    rng = np.random.default_rng(40 + seed)
    d, n, k = 2, 2, 3
    network = Network(
        hidden_weights=2.0 ** rng.integers(-30, 21, size=(n, d)) * rng.choice([-1, 1], (n, d)),
        output_weights=2.0 ** rng.integers(-20, 10, size=(k, n)) * rng.choice([-1, 1], (k, n)),
        hidden_biases=rng.uniform(-1, 1, size=n) * 2.0 ** rng.integers(-25, 15, size=n),
        output_bias=2.0 ** rng.integers(-30, 5, size=k),
    )
    points = rng.normal(size=(5, d)) * 2.0 ** rng.integers(-10, 10, size=(5, 1))
    values = network.evaluate(points) * (1 + rng.uniform(-1e-3, 1e-3, size=(5, k)))
    problem = Problem(network, Samples(points, values), None, PruningMode.WEIGHTS, MinError())
    optimum = table(problem).min_error()
    result = solve(problem, _params(tolerance=1e-3 * max(1.0, float(np.abs(values).max()))))
    assert Fraction(result.objective_bound) <= optimum
    assert result.solution is not None
    assert Fraction(result.solution.error) >= exact_error(problem, result.solution.mask)


@pytest.mark.parametrize("relu", [False, True])
def test_matches_the_pattern_model_where_the_brute_force_is_too_large(relu):
    """d = 4, n = 4, k = 3 (113^4 masks): the pattern model (cpsat on the column
    model, a second formulation and its own proof) must reach the same certified optimum."""
    rng = np.random.default_rng(2 + relu)
    d, n, k = 4, 4, 3
    network = _network(rng, d, n, k, True, relu)
    points = rng.normal(size=(20, d))
    values = network.evaluate(points) + rng.uniform(-0.1, 0.1, size=(20, k))
    problem = Problem(
        network,
        Samples(points, values),
        None,
        PruningMode.WEIGHTS,
        MinError(max_kept=n * (d + k) // 3),
    )
    ours = solve(problem, _params())
    theirs = solve(problem, SolveParameters(backend="cpsat"))
    assert ours.status == theirs.status == SolveStatus.OPTIMAL
    assert abs(Fraction(ours.solution.error) - Fraction(theirs.solution.error)) <= TOL
    assert Fraction(ours.objective_bound) <= Fraction(theirs.solution.error)
    assert Fraction(ours.solution.error) >= exact_error(problem, ours.solution.mask)
