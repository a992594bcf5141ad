"""solver.exact.box: the exact error over the whole box, checked against independent
computations (exact per-edge breakpoints in d = 2, vertex enumeration with every local
hyperplane in d = 3, dense sampling). The cutting-plane solve: tests/engine/test_box_optimize.py."""

from __future__ import annotations

import dataclasses
import itertools
from fractions import Fraction

import numpy as np
import pytest

from solver.core.errors import InvalidProblemError
from solver.core.problem import (
    Activation,
    BoxGrid,
    Mask,
    Network,
    Neuron,
    PointSet,
    Problem,
    PruningMode,
    Samples,
)
from solver.exact.box import ContinuousError, breakpoint_points, continuous_max_error
from solver.exact.certify import certify_mask
from solver.instances.generate import paper_problem

NEURONS, WEIGHTS = PruningMode.NEURONS, PruningMode.WEIGHTS
RELU, IDENTITY = Activation.RELU, Activation.IDENTITY
BOXES = [(-1.0, 1.0), (0.0, 1.0), (0.5, 2.0), (-2.0, -0.5), (-1.0, 0.5)]


# -- an independent exact evaluator (pure Fractions) ------------------------------------------


def _fr(value) -> Fraction:
    return Fraction(float(value))


def _relu(value: Fraction) -> Fraction:
    return value if value > 0 else Fraction(0)


def _masked(problem: Problem, mask: Mask) -> tuple[np.ndarray, np.ndarray]:
    net = problem.network
    u = np.where(mask.hidden_matrix(net.n, net.d), net.hidden_weights, 0.0)
    v = np.where(mask.unit_vector(net.n), net.output_weights, 0.0)
    return u, v


def pre_outputs(problem: Problem, mask: Mask, x: list[Fraction]) -> tuple[Fraction, Fraction]:
    """(o, z): the pruned network and the target before their output activations."""
    u, v = _masked(problem, mask)
    o = Fraction(0)
    for i in range(len(v)):
        o += _fr(v[i]) * _relu(sum((_fr(a) * b for a, b in zip(u[i], x)), Fraction(0)))
    target = problem.target
    if isinstance(target, Neuron):
        z = sum((_fr(a) * b for a, b in zip(target.weights, x)), Fraction(0))
    else:
        z = Fraction(0)
        for i in range(target.n):
            pre = sum((_fr(a) * b for a, b in zip(target.hidden_weights[i], x)), Fraction(0))
            z += _fr(target.output_weights[i]) * _relu(pre)
    return o, z


def error_at(problem: Problem, mask: Mask, x) -> Fraction:
    x = [Fraction(v) for v in x]
    o, z = pre_outputs(problem, mask, x)
    if problem.network.output_activation == RELU:
        o = _relu(o)
    target = problem.target
    act = target.activation if isinstance(target, Neuron) else target.output_activation
    if act == RELU:
        z = _relu(z)
    return abs(o - z)


def kink_vectors(problem: Problem, mask: Mask) -> list[np.ndarray]:
    u, v = _masked(problem, mask)
    rows = [u[i] for i in range(len(v)) if v[i] != 0 and np.any(u[i] != 0)]
    target = problem.target
    if isinstance(target, Neuron):
        rows.append(np.asarray(target.weights, dtype=float))
    else:
        rows.extend(np.asarray(target.hidden_weights, dtype=float))
    return [r for r in rows if np.any(r != 0)]


def edge_max(problem: Problem, mask: Mask, zeros: bool = True) -> Fraction:
    """d = 2: per boundary edge, every parameter where a kink line crosses it, then (``zeros``)
    the zeros of o and z between consecutive ones; the max of the exact errors there."""
    low, high = Fraction(problem.domain.low), Fraction(problem.domain.high)
    normals = [[_fr(a) for a in row] for row in kink_vectors(problem, mask)]
    best = Fraction(0)
    for j in (0, 1):
        k = 1 - j
        for c in (low, high):

            def point(t, j=j, k=k, c=c):
                x = [Fraction(0), Fraction(0)]
                x[j], x[k] = c, t
                return x

            ts = {low, high}
            for a in normals:
                if a[k] != 0:
                    t = -a[j] * c / a[k]
                    if low < t < high:
                        ts.add(t)
            ts = sorted(ts)
            values = [pre_outputs(problem, mask, point(t)) for t in ts]
            candidates = list(ts)
            for which in (0, 1) if zeros else ():
                for (ta, va), (tb, vb) in itertools.pairwise(zip(ts, [v[which] for v in values])):
                    if va * vb < 0:
                        candidates.append(ta + va * (tb - ta) / (va - vb))
            best = max([best] + [error_at(problem, mask, point(t)) for t in candidates])
    return best


def _solve3(rows: list[list[Fraction]], rhs: list[Fraction]) -> list[Fraction] | None:
    """Cramer's rule for a 3 x 3 system; None when singular."""

    def det(m):
        return (
            m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
        )

    base = det(rows)
    if base == 0:
        return None
    out = []
    for col in range(3):
        m = [list(r) for r in rows]
        for r in range(3):
            m[r][col] = rhs[r]
        out.append(det(m) / base)
    return out


def vertex_max_3d(problem: Problem, mask: Mask, local: bool = True) -> Fraction:
    """d = 3: all points where 3 independent constraints hold among the box faces, the kink
    planes, and o's and z's linear pieces for EVERY sign pattern of the units (a superset of
    the cells' local planes o = 0 and z = 0). All are points of the box, and the set contains
    every maximiser candidate, so its max is the continuous max. ``local`` False leaves the
    pieces out (corners, kink-plane vertices only)."""
    u, v = _masked(problem, mask)
    live = [i for i in range(len(v)) if v[i] != 0 and np.any(u[i] != 0)]
    planes = [[_fr(a) for a in row] for row in kink_vectors(problem, mask)]
    for signs in itertools.product((0, 1), repeat=len(live) if local else 0):
        g = [
            sum((_fr(v[i]) * _fr(u[i, j]) for i, s in zip(live, signs) if s), Fraction(0))
            for j in range(3)
        ]
        planes.append(g)
    target = problem.target
    if isinstance(target, Network) and local:
        for signs in itertools.product((0, 1), repeat=target.n):
            h = [
                sum(
                    (
                        _fr(target.output_weights[i]) * _fr(target.hidden_weights[i, j])
                        for i in range(target.n)
                        if signs[i]
                    ),
                    Fraction(0),
                )
                for j in range(3)
            ]
            planes.append(h)
    planes = [p for p in planes if any(p)]
    low, high = Fraction(problem.domain.low), Fraction(problem.domain.high)
    constraints = [
        ([Fraction(int(i == j)) for i in range(3)], c) for j in range(3) for c in (low, high)
    ]
    constraints += [(p, Fraction(0)) for p in planes]
    best = Fraction(0)
    seen = set()
    for trio in itertools.combinations(constraints, 3):
        x = _solve3([t[0] for t in trio], [t[1] for t in trio])
        if x is None or not all(low <= c <= high for c in x) or tuple(x) in seen:
            continue
        seen.add(tuple(x))
        best = max(best, error_at(problem, mask, x))
    return best


# -- random instances ---------------------------------------------------------------------------


def random_instance(seed: int, d: int, n: int | None = None) -> tuple[Problem, Mask]:
    rng = np.random.default_rng(seed)
    n = n if n is not None else int(rng.integers(1, 7))
    u = rng.uniform(-1, 1, (n, d))
    v = rng.uniform(-1, 1, n)
    if rng.random() < 0.4:
        u[rng.random((n, d)) < 0.2] = 0.0  # zeros: kink planes through the box faces at 0
        v[rng.random(n) < 0.1] = 0.0
    network = Network(
        hidden_weights=u, output_weights=v, output_activation=rng.choice([RELU, IDENTITY])
    )
    if rng.random() < 0.6:
        target = Neuron(weights=rng.uniform(-1, 1, d), activation=rng.choice([RELU, IDENTITY]))
    else:
        m = int(rng.integers(1, 3))
        target = Network(
            hidden_weights=rng.uniform(-1, 1, (m, d)),
            output_weights=rng.uniform(-1, 1, m),
            output_activation=rng.choice([RELU, IDENTITY]),
        )
    low, high = BOXES[int(rng.integers(len(BOXES)))]
    mode = NEURONS if rng.random() < 0.5 else WEIGHTS
    problem = Problem(network=network, target=target, domain=BoxGrid(low, high, 7), pruning=mode)
    if mode == NEURONS:
        mask = Mask(neurons=rng.random(n) < 0.7)
    else:
        mask = Mask(hidden_weights=rng.random((n, d)) < 0.7, output_weights=rng.random(n) < 0.8)
    return problem, mask


def float_errors(problem: Problem, mask: Mask, points: np.ndarray) -> np.ndarray:
    return np.abs(problem.network.evaluate(points, mask) - problem.target_values(points))


def check_attained(problem: Problem, mask: Mask, ce: ContinuousError) -> None:
    """The reported max is attained at the reported point of the box, and rounded up right."""
    low, high = Fraction(problem.domain.low), Fraction(problem.domain.high)
    assert all(low <= c <= high for c in ce.worst_point)
    assert error_at(problem, mask, ce.worst_point) == ce.error
    assert Fraction(ce.error_upper) >= ce.error
    assert np.nextafter(ce.error_upper, -np.inf) < ce.error or ce.error_upper == 0.0


# -- continuous_max_error: d = 1 by hand ---------------------------------------------------------


def _problem_1d(u, v, out, w, act, low=-1.0, high=1.0, target=None) -> Problem:
    network = Network(
        hidden_weights=np.array(u, dtype=float).reshape(-1, 1),
        output_weights=np.array(v, dtype=float),
        output_activation=out,
    )
    target = target if target is not None else Neuron(weights=np.array([w]), activation=act)
    return Problem(network=network, target=target, domain=BoxGrid(low, high, 3), pruning=NEURONS)


def test_d1_unit_equal_to_target_has_zero_error():
    p = _problem_1d([1.0], [1.0], IDENTITY, 1.0, RELU)
    ce = continuous_max_error(p, Mask.full(p))
    assert ce.error == 0 and ce.error_upper == 0.0 and ce.vertices == 2


def test_d1_identity_and_relu_outputs_by_hand():
    # o(x) = relu(x) - 0.5 relu(-x), y = -0.75 x on [-2, 1].
    # identity: x = -2: |-1 - 1.5| = 2.5; x = 1: |1 + 0.75| = 1.75.
    p = _problem_1d([1.0, -1.0], [1.0, -0.5], IDENTITY, -0.75, IDENTITY, low=-2.0)
    ce = continuous_max_error(p, Mask.full(p))
    assert ce.error == Fraction(5, 2) and ce.worst_point == (Fraction(-2),)
    # relu output: x = -2: |0 - 1.5| = 1.5; x = 1: 1.75.
    p = dataclasses.replace(p, network=dataclasses.replace(p.network, output_activation=RELU))
    ce = continuous_max_error(p, Mask.full(p))
    assert ce.error == Fraction(7, 4) and ce.worst_point == (Fraction(1),)
    # Dropping the second unit: relu(x) vs -0.75 x: x = -2 gives 1.5, x = 1 gives 1.75.
    ce = continuous_max_error(p, Mask(neurons=np.array([True, False])))
    assert ce.error == Fraction(7, 4)
    # Nothing kept: |0 - y| = 1.5 at x = -2.
    ce = continuous_max_error(p, Mask(neurons=np.array([False, False])))
    assert ce.error == Fraction(3, 2) and ce.worst_point == (Fraction(-2),)


def test_d1_box_without_the_origin():
    # relu(x) vs 0.5 x on [0.5, 2]: the error 0.5 x peaks at x = 2.
    p = _problem_1d([1.0], [1.0], IDENTITY, 0.5, IDENTITY, low=0.5, high=2.0)
    ce = continuous_max_error(p, Mask.full(p))
    assert ce.error == 1 and ce.worst_point == (Fraction(2),)


def test_d1_network_target():
    target = Network(
        hidden_weights=np.array([[2.0], [-1.0]]),
        output_weights=np.array([1.0, 0.25]),
        output_activation=RELU,
    )
    # pruned 2 relu(x) (identity) vs relu(2 relu(x) + 0.25 relu(-x)): equal for x > 0;
    # at x = -1: |0 - 0.25| = 0.25.
    p = _problem_1d([1.0], [2.0], IDENTITY, 0.0, RELU, target=target)
    ce = continuous_max_error(p, Mask.full(p))
    assert ce.error == Fraction(1, 4) and ce.worst_point == (Fraction(-1),)


# -- continuous_max_error: d = 2 -----------------------------------------------------------------


def _relu_peak_problem() -> Problem:
    """Output ReLU whose max lies where o = 0 inside a boundary edge, off every kink line.

    Top edge x = (s, 1): o = relu(x2) - 0.5 relu(x1 + 1.5 x2) = 0.25 - 0.5 s, y = 0.5 - 0.25 s.
    For s <= 1/2 the error is 0.25 (1 + s), for s >= 1/2 it is y: the peak 3/8 is at (1/2, 1).
    The other edges stay at or below 1/4 (worked by hand), so corners and kink crossings give
    only 1/4.
    """
    network = Network(
        hidden_weights=np.array([[0.0, 1.0], [1.0, 1.5]]),
        output_weights=np.array([1.0, -0.5]),
        output_activation=RELU,
    )
    return Problem(
        network=network,
        target=Neuron(weights=np.array([-0.25, 0.5]), activation=RELU),
        domain=BoxGrid(-1.0, 1.0, 5),
        pruning=NEURONS,
    )


def test_output_relu_peak_at_a_zero_of_o():
    p = _relu_peak_problem()
    mask = Mask.full(p)
    ce = continuous_max_error(p, mask)
    assert ce.error == Fraction(3, 8)
    assert ce.worst_point == (Fraction(1, 2), Fraction(1))
    check_attained(p, mask, ce)
    assert edge_max(p, mask) == ce.error
    # The breakpoints alone (corners, kink crossings) miss it: §11 needs the zeros of o.
    points = breakpoint_points(p)
    assert float_errors(p, mask, points).max() == 0.25


def test_target_relu_peak_at_a_zero_of_z():
    """The same configuration with the roles swapped: the target network's zero matters."""
    p = _relu_peak_problem()
    swapped = Problem(
        network=Network(
            hidden_weights=np.array([[-0.25, 0.5]]),
            output_weights=np.array([1.0]),
            output_activation=RELU,
        ),
        target=p.network,
        domain=p.domain,
        pruning=NEURONS,
    )
    mask = Mask.full(swapped)
    ce = continuous_max_error(swapped, mask)
    assert ce.error == Fraction(3, 8) and ce.worst_point == (Fraction(1, 2), Fraction(1))
    assert edge_max(swapped, mask, zeros=False) == Fraction(1, 4)


def crossing_instance(seed: int, d: int, n: int, network_target: bool) -> tuple[Problem, Mask]:
    """A paper network with a random mask, against its neuron or a random relu network."""
    rng = np.random.default_rng(seed)
    p = paper_problem(d, n, seed, NEURONS)
    mask = Mask(neurons=rng.random(n) < 0.6)
    target = Network(
        hidden_weights=rng.uniform(-1, 1, (2, d)),
        output_weights=rng.uniform(-1, 1, 2),
        output_activation=RELU,
    )
    return (dataclasses.replace(p, target=target) if network_target else p), mask


# Seeds where the max is at a zero of o (False) or of the target network's z (True) on an edge
# and nowhere else: corners and kink crossings alone fall short (asserted below).
CROSSING_2D = [(7, False), (31, False), (35, False), (131, True), (138, True)]
CROSSING_3D = [(0, False), (1, False), (19, True), (87, True)]


@pytest.mark.parametrize(("seed", "network_target"), CROSSING_2D)
def test_d2_zeros_of_o_and_z_are_needed(seed, network_target):
    p, mask = crossing_instance(seed, 2, 12, network_target)
    ce = continuous_max_error(p, mask)
    assert ce.error == edge_max(p, mask)
    assert edge_max(p, mask, zeros=False) < ce.error
    check_attained(p, mask, ce)


@pytest.mark.parametrize(("seed", "network_target"), CROSSING_3D)
def test_d3_zeros_of_o_and_z_are_needed(seed, network_target):
    p, mask = crossing_instance(seed, 3, 4, network_target)
    ce = continuous_max_error(p, mask)
    assert ce.error == vertex_max_3d(p, mask)
    assert vertex_max_3d(p, mask, local=False) < ce.error
    check_attained(p, mask, ce)


@pytest.mark.parametrize("seed", range(40))
def test_d2_matches_independent_edge_breakpoints(seed):
    p, mask = random_instance(seed, d=2)
    ce = continuous_max_error(p, mask)
    assert ce.error == edge_max(p, mask)
    check_attained(p, mask, ce)
    # Never below the grid error of the same mask (the grid is in the box).
    assert ce.error >= certify_mask(p, mask).error


@pytest.mark.parametrize("seed", range(8))
def test_d2_never_below_a_dense_sample(seed):
    p, mask = random_instance(100 + seed, d=2)
    axis = np.linspace(p.domain.low, p.domain.high, 401)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    ce = continuous_max_error(p, mask)
    sampled = float_errors(p, mask, grid).max()
    assert sampled <= ce.error_upper + 1e-12
    # ... and the sample comes close (the error is Lipschitz; the spacing is < 0.01).
    assert ce.error_upper - sampled < 0.1


@pytest.mark.parametrize("mode", [NEURONS, WEIGHTS])
def test_paper_problem_d2(mode):
    p = paper_problem(2, 64, 1, mode)
    rng = np.random.default_rng(5)
    masks = [Mask.full(p)]
    if mode == NEURONS:
        masks.append(Mask(neurons=rng.random(64) < 0.3))
    else:
        masks.append(
            Mask(hidden_weights=rng.random((64, 2)) < 0.6, output_weights=rng.random(64) < 0.3)
        )
    for mask in masks:
        ce = continuous_max_error(p, mask)
        assert ce.error == edge_max(p, mask)
        assert ce.error >= certify_mask(p, mask).error
        check_attained(p, mask, ce)


# -- continuous_max_error: d = 3 -----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(10))
def test_d3_matches_vertex_enumeration_with_local_planes(seed):
    p, mask = random_instance(200 + seed, d=3, n=3)
    ce = continuous_max_error(p, mask)
    assert ce.error == vertex_max_3d(p, mask)
    check_attained(p, mask, ce)
    assert ce.error >= certify_mask(p, mask).error


def test_d3_max_inside_a_facet_where_two_kink_planes_cross():
    """o = relu(x1) - 0.25 (|x2| + |x3|) against y = 0 on [-1, 1]^3: on the facet x1 = 1 the
    error 1 - 0.25 (|x2| + |x3|) peaks at (1, 0, 0), off every box edge (there it is <= 3/4)."""
    units = np.array([[1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=float)
    p = Problem(
        network=Network(
            hidden_weights=units,
            output_weights=np.array([1.0, -0.25, -0.25, -0.25, -0.25]),
            output_activation=IDENTITY,
        ),
        target=Neuron(weights=np.zeros(3), activation=RELU),
        domain=BoxGrid(-1.0, 1.0, 4),  # no grid point at 0: the grid error is below 1
        pruning=NEURONS,
    )
    mask = Mask.full(p)
    ce = continuous_max_error(p, mask)
    assert ce.error == 1 and ce.worst_point == (Fraction(1), Fraction(0), Fraction(0))
    assert ce.error == vertex_max_3d(p, mask)
    assert certify_mask(p, mask).error < 1


@pytest.mark.parametrize("seed", range(3))
def test_d3_never_below_random_points(seed):
    p, mask = random_instance(300 + seed, d=3, n=6)
    rng = np.random.default_rng(seed)
    points = rng.uniform(p.domain.low, p.domain.high, (100_000, 3))
    # Half of them pushed onto the boundary, where the max lies.
    face = rng.integers(0, 3, 50_000)
    points[np.arange(50_000), face] = rng.choice([p.domain.low, p.domain.high], 50_000)
    ce = continuous_max_error(p, mask)
    assert float_errors(p, mask, points).max() <= ce.error_upper + 1e-12
    check_attained(p, mask, ce)


def test_d3_paper_problem():
    p = paper_problem(3, 8, 1, NEURONS, points_per_axis=5)
    mask = Mask.full(p)
    ce = continuous_max_error(p, mask)
    check_attained(p, mask, ce)
    assert ce.error >= certify_mask(p, mask).error
    with pytest.raises(InvalidProblemError, match="max_vertices"):
        continuous_max_error(p, mask, max_vertices=100)


# -- refusals ------------------------------------------------------------------------------------


def test_refuses_problems_outside_the_scope():
    # Asking for the box is the user's choice (parameters.continuous): the refusal names it.
    p = paper_problem(2, 4, 1, NEURONS, points_per_axis=3)
    mask = Mask.full(p)
    biased = dataclasses.replace(
        p, network=dataclasses.replace(p.network, hidden_biases=np.full(4, 0.1))
    )
    with pytest.raises(InvalidProblemError, match="hidden_biases"):
        continuous_max_error(biased, mask)
    out_bias = dataclasses.replace(p, network=dataclasses.replace(p.network, output_bias=0.5))
    with pytest.raises(InvalidProblemError, match="output_bias"):
        continuous_max_error(out_bias, mask)
    target_bias = dataclasses.replace(
        p, target=Neuron(weights=np.array([1.0, 0.0]), bias=0.5, activation=RELU)
    )
    with pytest.raises(InvalidProblemError, match="target"):
        continuous_max_error(target_bias, mask)
    points = p.points()
    samples = dataclasses.replace(
        p, target=Samples(points=points, values=np.zeros(len(points))), domain=None
    )
    with pytest.raises(InvalidProblemError, match="target"):
        continuous_max_error(samples, mask)
    on_points = dataclasses.replace(p, domain=PointSet(points=points))
    with pytest.raises(InvalidProblemError, match="domain"):
        continuous_max_error(on_points, mask)
    with pytest.raises(ValueError):  # an internal invariant: its one caller passes d <= 2
        breakpoint_points(paper_problem(3, 2, 1, NEURONS))


# -- breakpoint_points ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [NEURONS, WEIGHTS])
def test_breakpoint_points(mode):
    p = paper_problem(2, 6, 3, mode)
    points = breakpoint_points(p)
    assert points.dtype == np.float64 and points.shape[1] == 2
    assert np.all((points >= -1.0) & (points <= 1.0))
    # Every point is on the boundary, and the corners are there.
    assert np.all(np.max(np.abs(points), axis=1) == 1.0)
    for corner in itertools.product((-1.0, 1.0), repeat=2):
        assert any(np.array_equal(row, corner) for row in points)
    # Each unit's kink line meets the boundary where u . x = 0 (up to rounding).
    u = p.network.hidden_weights
    for row in u:
        near = np.abs(points @ row) <= 1e-15
        assert np.count_nonzero(near) >= 2
    if mode == WEIGHTS:  # the axes (masked sub-vectors) too
        assert any(np.array_equal(row, [0.0, 1.0]) for row in points)
    one_d = breakpoint_points(paper_problem(1, 5, 1, mode))
    assert one_d.tolist() == [[-1.0], [1.0]]
