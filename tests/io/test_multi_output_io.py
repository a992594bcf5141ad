"""Several outputs through the contract and the model files (docs/design.md §1): proto and JSON
round trips (one-output messages unchanged byte for byte), clear field errors, a real
scikit-learn multi-output model imported, solved, exported and run in onnxruntime, and figures."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from prunecert.v1 import problem_pb2
from solver.core.errors import InvalidProblemError, ProblemTooLargeError
from solver.core.problem import (
    Activation,
    MinError,
    Network,
    Problem,
    PruningMode,
    Samples,
)
from solver.core.result import SolveStatus
from solver.core.validate import Limits
from solver.engine import solve
from solver.exact.certify import certify_mask
from solver.io import convert
from solver.io.figure_data import figure_data
from solver.io.figures import draw
from solver.io.model_export import export_model, torch_masks
from solver.io.model_import import import_model, read_network

K, N, D, M = 3, 4, 2, 6


def multi_problem(pruning=PruningMode.WEIGHTS) -> Problem:
    rng = np.random.default_rng(4)
    network = Network(
        hidden_weights=rng.uniform(-1, 1, (N, D)),
        output_weights=rng.uniform(-1, 1, (K, N)),
        hidden_biases=rng.uniform(-1, 1, N),
        output_bias=np.array([0.25, -0.5, 0.0]),
        output_activation=Activation.RELU,
    )
    points = rng.uniform(-1, 1, (M, D))
    return Problem(
        network, Samples(points, rng.uniform(0, 1, (M, K))), None, pruning, MinError(max_kept=6)
    )


def test_proto_and_json_round_trip_several_outputs():
    problem = multi_problem()
    msg = convert.problem_to_proto(problem)
    assert msg.network.outputs == K
    assert len(msg.network.output_weights) == K * N and list(msg.network.output_biases) == [
        0.25,
        -0.5,
        0.0,
    ]
    assert msg.network.output_bias == 0.0
    back = convert.problem_from_json(convert.to_json(msg))
    assert np.array_equal(back.network.output_weights, problem.network.output_weights)
    assert np.array_equal(back.network.output_biases, problem.network.output_biases)
    assert np.array_equal(back.target.values, problem.target.values)
    assert back.target.values.shape == (M, K)
    assert convert.problem_to_proto(back).SerializeToString() == msg.SerializeToString()


def test_one_output_messages_are_unchanged():
    """k = 1 writes neither new field, so v1 files and clients see the same bytes."""
    problem = multi_problem()
    one = Problem(
        Network(
            problem.network.hidden_weights,
            problem.network.output_weights[:1],  # (1, n): stored as one output
            output_bias=np.array([0.5]),
        ),
        Samples(problem.target.points, problem.target.values[:, :1]),
        None,
        PruningMode.NEURONS,
    )
    assert np.shape(one.network.output_weights) == (N,) and one.network.output_bias == 0.5
    assert np.shape(one.target.values) == (M,)
    msg = convert.problem_to_proto(one)
    assert msg.network.outputs == 0 and len(msg.network.output_biases) == 0
    assert "outputs" not in convert.to_json(msg) and "outputBiases" not in convert.to_json(msg)
    expected = problem_pb2.Problem()
    expected.network.hidden_weights.rows, expected.network.hidden_weights.cols = N, D
    expected.network.hidden_weights.values[:] = one.network.hidden_weights.ravel().tolist()
    expected.network.output_weights[:] = one.network.output_weights.tolist()
    expected.network.output_bias = 0.5
    expected.network.output_activation = int(Activation.IDENTITY)
    assert msg.network.SerializeToString() == expected.network.SerializeToString()


def field_errors(msg) -> list[str]:
    with pytest.raises(InvalidProblemError) as info:
        convert.parse_problem(msg)
    return [str(v) for v in info.value.violations]


def test_bad_multi_output_fields_are_named():
    msg = convert.problem_to_proto(multi_problem())
    short = problem_pb2.Problem()
    short.CopyFrom(msg)
    del short.network.output_weights[-1]
    assert field_errors(short) == ["network.output_weights: expected k x n = 3 x 4 values, got 11"]
    biased = problem_pb2.Problem()
    biased.CopyFrom(msg)
    biased.network.output_bias = 1.0
    assert field_errors(biased) == [
        "network.output_bias: must be 0 with 3 outputs (their biases go in output_biases)"
    ]
    biases = problem_pb2.Problem()
    biases.CopyFrom(msg)
    del biases.network.output_biases[-1]
    assert field_errors(biases) == ["network.output_biases: expected 3 values, got 2"]
    values = problem_pb2.Problem()
    values.CopyFrom(msg)
    del values.target.samples.values[-1]
    assert field_errors(values) == ["target.samples.values: expected m x k = 6 x 3 values, got 17"]
    one = problem_pb2.Problem()
    one.CopyFrom(msg)
    one.network.outputs = 1
    del one.network.output_weights[N:]
    assert field_errors(one)[0] == (
        "network.output_biases: must be empty with one output (use output_bias)"
    )


def test_targets_must_have_as_many_outputs():
    problem = multi_problem()
    target = Network(
        problem.network.hidden_weights,
        problem.network.output_weights[:2],
        output_bias=np.zeros(2),
    )
    msg = convert.problem_to_proto(problem)
    msg.target.network.CopyFrom(
        convert.problem_to_proto(
            Problem(target, target, problem.domain, PruningMode.NEURONS)
        ).network
    )
    msg.domain.points.rows, msg.domain.points.cols = 2, D
    msg.domain.points.values[:] = [0.0] * (2 * D)
    assert field_errors(msg) == ["target.network.outputs: expected 3 outputs like network, got 2"]
    msg.target.neuron.weights[:] = [1.0, 1.0]
    msg.target.neuron.activation = int(Activation.RELU)
    assert field_errors(msg) == [
        "target.neuron: a neuron has one output and the network 3: use a 3-output network or "
        "samples with 3 values per point"
    ]


def test_weights_mode_pattern_count_counts_output_sets():
    problem = multi_problem()
    wide = Network(np.ones((N, 14)), problem.network.output_weights, output_bias=np.zeros(K))
    msg = convert.problem_to_proto(
        Problem(wide, Samples(np.zeros((2, 14)), np.zeros((2, K))), None, PruningMode.WEIGHTS)
    )
    # Over the pattern model's limit, weights mode takes the per-weight route (docs/design.md
    # §15), whose own limits then apply: the message counts the patterns with their output sets.
    convert.parse_problem(msg)
    with pytest.raises(ProblemTooLargeError) as info:
        convert.parse_problem(msg, Limits(max_per_weight_weights=N * 14 - 1))
    assert str(info.value.violations[0]) == (
        "network.hidden_weights: weights mode with n * 2^d * (2^k - 1) = 458752 patterns (over "
        "the pattern model's limit of 65536) takes the per-weight route, and the per-weight "
        f"formulation has one binary per hidden weight: n * d = {N * 14} exceed the limit of "
        f"{N * 14 - 1}"
    )


def test_masks_of_several_outputs_round_trip_with_their_problem():
    problem = multi_problem()
    result = solve(problem)
    mask = result.solution.mask
    assert np.shape(mask.output_weights) == (K, N)
    msg = convert.mask_to_proto(mask)
    assert msg.outputs == K
    assert convert.parse_mask(msg, problem).same_as(mask)
    assert convert.parse_result(convert.result_to_proto(result)).solution.mask.same_as(mask)
    msg.outputs = K + 1  # a mask that says another k is refused, never misread
    with pytest.raises(InvalidProblemError) as info:
        convert.parse_mask(msg, problem)
    assert info.value.violations[0].field == "mask.outputs"
    flat = convert.solve_pb2.Mask(  # k x n flags without their k: read as one output, refused
        hidden_weights=mask.hidden_weights.ravel().tolist(),
        output_weights=mask.output_weights.ravel().tolist(),
    )
    with pytest.raises(InvalidProblemError) as info:
        convert.parse_mask(flat, problem)
    assert info.value.violations[0].field == "mask.outputs"
    flat.outputs = K
    del flat.output_weights[-1]
    with pytest.raises(InvalidProblemError) as info:
        convert.parse_mask(flat, problem)
    assert str(info.value.violations[0]) == (
        "mask.output_weights: expected k x n = 3 x 4 values, got 11"
    )


def sklearn_multi_output(tmp_path):
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.neural_network import MLPRegressor
    from sklearn.preprocessing import StandardScaler

    x, y = load_iris(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    targets = np.eye(3)[y]  # a 3-output regressor (one-hot targets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MLPRegressor(hidden_layer_sizes=(6,), max_iter=400, random_state=0)
        model.fit(x, targets)
    path = tmp_path / "iris.onnx"
    path.write_bytes(to_onnx(model, x[:1].astype(np.float32)).SerializeToString())
    return model, x[::10], path


@pytest.mark.parametrize("pruning", [PruningMode.NEURONS, PruningMode.WEIGHTS])
def test_a_sklearn_multi_output_model_end_to_end(tmp_path, pruning):
    """skl2onnx writes the model, import reads its 3 outputs, the solve is certified, and
    onnxruntime runs the exported pruned model to the exact values."""
    import onnxruntime as ort

    model, points, path = sklearn_multi_output(tmp_path)
    network = read_network(path)
    assert network.outputs == 3
    from_sklearn = read_network(model)
    assert from_sklearn.outputs == 3
    np.testing.assert_allclose(from_sklearn.evaluate(points), model.predict(points), atol=1e-12)
    budget = 3 if pruning == PruningMode.NEURONS else 10
    problem = import_model(
        path, samples=points, pruning=pruning, objective=MinError(max_kept=budget)
    )
    result = solve(problem)
    assert result.status == SolveStatus.OPTIMAL, result.detail
    cert = certify_mask(problem, result.solution.mask)
    assert cert.error_upper == result.solution.error and result.solution.kept <= budget
    out = tmp_path / "pruned.onnx"
    pruned = export_model(problem, result.solution.mask, out, drop_dead_units=True)
    assert pruned.network.outputs == 3
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: points})[0]
    assert got.shape == (len(points), 3)
    want = problem.network.evaluate(points, result.solution.mask)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    # The file imports back as the pruned network, value for value.
    again = read_network(out)
    assert np.array_equal(again.output_matrix, pruned.network.output_matrix)
    masks = torch_masks(problem.network, result.solution.mask)
    assert masks["2.weight_mask"].shape == (3, problem.network.n)


def test_figures_of_several_outputs_show_the_error_histogram():
    problem = multi_problem()
    result = solve(problem)
    data = figure_data(problem, result)
    assert not data.draws_domain and data.outputs == K
    assert data.kept_matrix.shape == (N, D + K)
    assert data.errors.max() == result.solution.error
    figure = draw(data)
    assert "3 outputs" in figure._suptitle.get_text()
