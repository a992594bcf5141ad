"""bench/real.py's instances (issue 11's realistic suite): each dataset's width-8 model, trained
by scikit-learn and imported with solver.import_model, is the model scikit-learn runs.

The reference is scikit-learn itself: a regressor's ``predict``, and for a classifier the
logits recomputed in float64 from ``coefs_`` / ``intercepts_`` plus scikit-learn's own
``predict_proba``, which must be the softmax (multi-class) or the logistic (binary, one logit)
of the imported network's outputs. The target must be the unpruned network: its exact error
(solver.certify, docs/design.md §2) with every parameter kept is 0.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from solver import Mask, MinError, Network, PointSet, PruningMode, certify

BENCH = Path(__file__).resolve().parents[2] / "bench" / "real.py"
EXPECTED = {"iris": (4, 3), "diabetes": (10, 1), "wine": (13, 3), "breast_cancer": (30, 1)}
WIDTH = 8


@pytest.fixture(scope="module")
def real():
    # bench/ is a folder of scripts, not a package: load the script as a module.
    spec = importlib.util.spec_from_file_location("bench_real", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module through sys.modules
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def logits(model, points: np.ndarray) -> np.ndarray:
    """The network's outputs before the output function, from scikit-learn's own weights."""
    hidden = np.maximum(points @ model.coefs_[0] + model.intercepts_[0], 0.0)
    return hidden @ model.coefs_[1] + model.intercepts_[1]


def as_columns(values: np.ndarray) -> np.ndarray:
    return values.reshape(len(values), -1)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_instance_is_the_trained_model(real, name):
    d, k = EXPECTED[name]
    model = real.train_model(name, WIDTH)
    problem = real.build_problem(name, WIDTH, PruningMode.NEURONS)
    net = problem.network
    assert (net.d, net.outputs, net.n) == (d, k, WIDTH)
    assert problem.objective == MinError(max_kept=WIDTH // 2)

    # The domain: the standardised training points, at most 200 of them, all distinct rows of
    # the dataset (the scaler's output, which the model was trained on).
    features, _ = real.load_dataset(name)
    points = problem.points()
    assert isinstance(problem.domain, PointSet)
    assert points.shape == (min(200, len(features)), d)
    assert np.allclose(features.mean(axis=0), 0.0, atol=1e-12)
    rows = {row.tobytes() for row in features}
    assert all(row.tobytes() in rows for row in points)

    outputs = as_columns(net.evaluate(points))
    assert np.max(np.abs(outputs - as_columns(logits(model, points)))) <= 1e-9
    if name == "diabetes":
        assert np.max(np.abs(outputs - as_columns(model.predict(points)))) <= 1e-9
    else:
        probabilities = model.predict_proba(points)
        if k == 1:  # binary: one logit, the probability of class 1 is its logistic
            expected = 1.0 / (1.0 + np.exp(-outputs[:, 0]))
            assert np.max(np.abs(probabilities[:, 1] - expected)) <= 1e-9
        else:
            shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
            expected = shifted / shifted.sum(axis=1, keepdims=True)
            assert np.max(np.abs(probabilities - expected)) <= 1e-9

    # The target is the unpruned network: the same weights, and exactly 0 error when all is kept.
    target = problem.target
    assert isinstance(target, Network)
    assert np.array_equal(target.hidden_weights, net.hidden_weights)
    assert np.array_equal(target.output_matrix, net.output_matrix)
    assert np.array_equal(target.biases, net.biases)
    assert np.array_equal(target.output_biases, net.output_biases)
    assert certify(problem, Mask.full(problem)).error == 0


@pytest.mark.parametrize("name", ["iris", "breast_cancer"])
def test_weights_mode_budget_is_half_the_prunable_weights(real, name):
    # Kept counts hidden weights of live units plus kept output weights: n (d + k) in all.
    d, k = EXPECTED[name]
    problem = real.build_problem(name, WIDTH, PruningMode.WEIGHTS)
    assert problem.max_kept_possible() == WIDTH * (d + k)
    assert problem.objective == MinError(max_kept=WIDTH * (d + k) // 2)
    full = certify(problem, Mask.full(problem))
    assert (full.kept, full.error) == (WIDTH * (d + k), 0)


def test_domain_sample_is_seeded(real):
    # More points than the cap: a seeded sample, the same for the same seed.
    first = real.domain_points("diabetes", 50, seed=1)
    assert first.shape == (50, 10)
    assert np.array_equal(first, real.domain_points("diabetes", 50, seed=1))
    assert not np.array_equal(first, real.domain_points("diabetes", 50, seed=2))
    assert real.domain_points("iris", 200).shape == (150, 4)  # fewer points than the cap: all
