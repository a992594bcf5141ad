"""The lazy column model (solver/formulation/columns.py, build_column_model(lazy=True)) against the
complete one: the same exact columns, errors and masks for every mask of tiny problems, and the
independent exact evaluation (tests/support/reference.py) for random masks at larger d."""

from __future__ import annotations

import threading
from fractions import Fraction

import numpy as np
import pytest

from solver import exact
from solver.core.problem import Mask, PruningMode
from solver.formulation.columns import build_column_model
from tests.support.problems import random_multi_output_problem, random_problem
from tests.support.reference import all_masks, exact_error


def _error(model, chosen) -> Fraction:
    errors = model.point_errors(chosen)
    return exact.to_fraction(int(max(errors.tolist(), default=0)), model.exp)


def _canonical(problem, mask: Mask) -> Mask:
    """The mask with zero weights and the weights of dead units dropped (what a model keeps)."""
    net = problem.network
    n, d, k = net.n, net.d, net.outputs
    u = np.asarray(net.hidden_weights, dtype=float).reshape(n, d)
    output = mask.output_matrix(n, k) & (net.output_matrix != 0)
    live = output.any(axis=0)
    hidden = mask.hidden_matrix(n, d) & (u != 0) & live[:, None]
    return Mask(hidden_weights=hidden, output_weights=output[0] if k == 1 else output)


def _problems():
    for seed in range(16):
        rng = np.random.default_rng(700 + seed)
        yield random_problem(rng, PruningMode.WEIGHTS)
    for seed in range(6):
        rng = np.random.default_rng(800 + seed)
        yield random_multi_output_problem(rng, PruningMode.WEIGHTS)


@pytest.mark.parametrize("problem", list(_problems()))
def test_lazy_model_matches_the_complete_model_on_every_mask(problem):
    complete = build_column_model(problem)
    lazy = build_column_model(problem, lazy=True)
    assert complete.complete and not lazy.complete
    assert lazy.exp == complete.exp
    assert np.array_equal(lazy.point_index, complete.point_index)
    assert list(lazy.target) == list(complete.target)
    units = {lazy.candidates[g[0]].unit for g in lazy.groups}
    assert len(lazy.candidates) == len(units) <= problem.network.n  # full patterns only
    for mask in all_masks(problem):
        chosen_lazy, chosen_complete = lazy.choice(mask), complete.choice(mask)
        # The same exact outputs on every row, hence the same errors.
        assert list(lazy.outputs(chosen_lazy)) == list(complete.outputs(chosen_complete))
        assert list(lazy.point_errors(chosen_lazy)) == list(complete.point_errors(chosen_complete))
        # The lazy model keeps the mask itself; the complete one may merge identical columns
        # into a cheaper representative.
        canonical = _canonical(problem, mask)
        mapped = lazy.mask(chosen_lazy)
        if len(chosen_lazy) == int(canonical.unit_vector(problem.network.n).sum()):
            assert mapped.same_as(canonical)
        assert complete.kept(chosen_complete) <= lazy.kept(chosen_lazy)
        # Asking again finds the same candidates (no second copy).
        assert lazy.choice(mask) == chosen_lazy
    # float data follows the added columns.
    cols, _ = lazy.float_data()
    assert cols.shape == lazy.columns.shape


def test_lazy_model_errors_are_exact_at_larger_d():
    rng = np.random.default_rng(5)
    n, d, m = 3, 20, 6
    from solver.core.problem import MinError, Network, Problem, Samples

    network = Network(
        hidden_weights=rng.normal(size=(n, d)) / np.sqrt(d),
        output_weights=rng.normal(size=n),
        hidden_biases=rng.normal(size=n) * 0.3,
        output_bias=0.1,
    )
    target = Samples(points=rng.normal(size=(m, d)), values=rng.normal(size=m))
    problem = Problem(network, target, None, PruningMode.WEIGHTS, MinError())
    lazy = build_column_model(problem, lazy=True)
    assert len(lazy.candidates) == n
    for _ in range(20):
        mask = Mask(hidden_weights=rng.random((n, d)) < 0.5, output_weights=rng.random(n) < 0.7)
        assert _error(lazy, lazy.choice(mask)) == exact_error(problem, mask)
    full = lazy.full_choice()
    assert _error(lazy, full) == exact_error(problem, Mask.full(problem))


def test_choice_from_several_threads_adds_each_pattern_once():
    rng = np.random.default_rng(9)
    problem = random_problem(rng, PruningMode.WEIGHTS)
    lazy = build_column_model(problem, lazy=True)
    masks = list(all_masks(problem))
    threads = [threading.Thread(target=lambda: [lazy.choice(m) for m in masks]) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    keys = [(c.unit, c.hidden, c.outputs) for c in lazy.candidates]
    assert len(keys) == len(set(keys))
    assert lazy.columns.shape[1] == len(lazy.candidates)
