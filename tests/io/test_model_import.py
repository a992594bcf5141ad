"""Importing a trained network (solver/io/model_import.py, onnx_import.py, samples.py).

Every format is written from the same random weights by its own library (numpy, safetensors,
onnx.helper, scikit-learn) and must import to those weights bit for bit; an ONNX file written by
skl2onnx (a converter no one here wrote) must import to a network that onnxruntime agrees with;
every refusal names the file and the node, key or array at fault; an imported problem solves to
the brute-force reference's optimum.
"""

from __future__ import annotations

import dataclasses
import warnings
from fractions import Fraction

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import save_file

from solver.core.errors import InvalidProblemError
from solver.core.problem import (
    Activation,
    BoxGrid,
    MinError,
    Network,
    Neuron,
    PointSet,
    PruningMode,
    Samples,
)
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.exact.certify import certify_mask
from solver.io.model_import import import_model, read_network
from tests.support.reference import exact_error, table

D, N = 3, 5


def weights(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((N, D)).astype(dtype),
        rng.standard_normal(N).astype(dtype),
        rng.standard_normal((1, N)).astype(dtype),
        rng.standard_normal(1).astype(dtype),
    )


def assert_network_is(net: Network, w1, b1, w2, b2, relu=False):
    # Bit for bit: widening to float64 is exact, so equality (not closeness) is the test.
    assert net.hidden_weights.dtype == np.float64
    assert np.array_equal(net.hidden_weights, w1.astype(np.float64))
    assert np.array_equal(net.hidden_biases, b1.astype(np.float64))
    assert np.array_equal(net.output_weights, w2[0].astype(np.float64))
    assert net.output_bias == float(b2[0])
    assert net.output_activation == (Activation.RELU if relu else Activation.IDENTITY)


# -- ONNX files built node by node ------------------------------------------------------------------


def tensor(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def onnx_file(path, nodes, initializers, inputs=("X",), outputs=("Y",), dtype=TensorProto.FLOAT):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(name, dtype, [None, D]) for name in inputs],
        [helper.make_tensor_value_info(name, dtype, [None, 1]) for name in outputs],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def gemm_file(path, w1, b1, w2, b2, output_relu=False, dtype=TensorProto.FLOAT):
    nodes = [
        helper.make_node("Gemm", ["X", "W1", "B1"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node(
            "Gemm", ["r", "W2", "B2"], ["o" if output_relu else "Y"], name="fc2", transB=1
        ),
    ]
    if output_relu:
        nodes.append(helper.make_node("Relu", ["o"], ["Y"], name="out_relu"))
    inits = [tensor("W1", w1), tensor("B1", b1), tensor("W2", w2), tensor("B2", b2)]
    return onnx_file(path, nodes, inits, dtype=dtype)


def matmul_file(path, w1, b1, w2, b2, middle="Relu", after=None):
    """MatMul + Add layers (weights in x out, as ONNX's MatMul takes them)."""
    nodes = [
        helper.make_node("Cast", ["X"], ["x"], name="cast", to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["x", "W1"], ["m"], name="mm1"),
        helper.make_node("Add", ["m", "B1"], ["h"], name="add1"),
        helper.make_node(middle, ["h"], ["r"], name=f"{middle}_3"),
        helper.make_node("MatMul", ["r", "W2"], ["m2"], name="mm2"),
        helper.make_node("Add", ["B2", "m2"], ["o"], name="add2"),  # the bias first: Add commutes
        helper.make_node("Reshape", ["o", "shape"], ["o2"], name="reshape"),
    ]
    last = "o2"
    if after:
        nodes.append(helper.make_node(after, [last], ["o3"], name=f"{after}_9"))
        last = "o3"
    nodes.append(helper.make_node("Identity", [last], ["Y"], name="id"))
    inits = [
        tensor("W1", w1.T.copy()),
        tensor("B1", b1.reshape(1, -1)),
        tensor("W2", w2.T.copy()),
        tensor("B2", b2.reshape(1, 1)),
        tensor("shape", np.array([-1, 1], dtype=np.int64)),
    ]
    return onnx_file(path, nodes, inits)


# -- every format, the same weights ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_format_imports_the_same_weights_bit_for_bit(tmp_path, dtype):
    w1, b1, w2, b2 = weights(dtype)
    np.savez(tmp_path / "m.npz", W1=w1, b1=b1, W2=w2, b2=b2)
    save_file(
        {"0.weight": w1, "0.bias": b1, "2.weight": w2, "2.bias": b2}, tmp_path / "m.safetensors"
    )
    save_file(
        {"fc1.weight": w1, "fc1.bias": b1, "fc2.weight": w2, "fc2.bias": b2, "other": b1},
        tmp_path / "named.safetensors",
    )
    onnx_type = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    gemm_file(tmp_path / "gemm.onnx", w1, b1, w2, b2, dtype=onnx_type)
    for path in ("m.npz", "m.safetensors", "gemm.onnx"):
        assert_network_is(read_network(tmp_path / path), w1, b1, w2, b2)
    assert_network_is(read_network(tmp_path / "named.safetensors", ("fc1", "fc2")), w1, b1, w2, b2)
    if dtype == np.float32:
        assert_network_is(
            read_network(matmul_file(tmp_path / "mm.onnx", w1, b1, w2, b2)), w1, b1, w2, b2
        )
    gemm_file(tmp_path / "relu.onnx", w1, b1, w2, b2, output_relu=True, dtype=onnx_type)
    assert_network_is(read_network(tmp_path / "relu.onnx"), w1, b1, w2, b2, relu=True)


def test_a_bias_free_model_imports_without_biases(tmp_path):
    w1, _, w2, _ = weights()
    np.savez(tmp_path / "m.npz", W1=w1, W2=w2[0])
    net = read_network(tmp_path / "m.npz")
    assert net.hidden_biases is None and net.output_bias == 0.0 and net.is_bias_free


def fitted_mlp(kind="regressor", hidden=(N,), activation="relu", outputs=1, seed=0):
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((40, D))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: the fit's quality is beside the point
        if kind == "regressor":
            y = x @ rng.standard_normal((D, outputs)) if outputs > 1 else x[:, 0] - x[:, 1]
            model = MLPRegressor(
                hidden_layer_sizes=hidden, activation=activation, max_iter=50, random_state=seed
            )
        else:
            y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0 if outputs > 2 else 0)
            model = MLPClassifier(
                hidden_layer_sizes=hidden, activation=activation, max_iter=50, random_state=seed
            )
        return model.fit(x, y), x


def test_a_fitted_sklearn_regressor_imports_its_own_weights():
    model, x = fitted_mlp()
    w1, b1, w2, b2 = weights()
    model.coefs_, model.intercepts_ = [w1.T.copy(), w2.T.copy()], [b1, b2]
    net = read_network(model)
    assert_network_is(net, w1, b1, w2, b2)
    np.testing.assert_allclose(net.evaluate(x), model.predict(x), rtol=1e-12, atol=1e-12)


def test_a_binary_classifier_imports_its_logit():
    model, x = fitted_mlp("classifier")
    logit = read_network(model).evaluate(x)
    np.testing.assert_allclose(1 / (1 + np.exp(-logit)), model.predict_proba(x)[:, 1], rtol=1e-12)


def test_multi_output_sklearn_models_import_every_output():
    """A multi-target regressor has one output per target; a multi-class classifier's outputs
    are its logits, the values before the softmax (docs/design.md §1: k outputs)."""
    from scipy.special import softmax

    regressor, x = fitted_mlp(outputs=3)
    net = read_network(regressor)
    assert net.outputs == 3 and np.shape(net.output_weights) == (3, N)
    np.testing.assert_allclose(net.evaluate(x), regressor.predict(x), rtol=1e-12, atol=1e-12)
    classifier, x = fitted_mlp("classifier", outputs=3)
    logits = read_network(classifier).evaluate(x)
    assert logits.shape == (len(x), 3)
    np.testing.assert_allclose(softmax(logits, axis=1), classifier.predict_proba(x), rtol=1e-10)


def float_rounding_bound(net: Network, x: np.ndarray, eps: float) -> np.ndarray:
    """A rigorous bound on the rounding of a dot-product evaluation in precision ``eps``: k
    roundings per length-k sum (Higham's gamma_k), on the absolute values of every term."""
    pre = np.abs(x) @ np.abs(net.hidden_weights).T + np.abs(net.biases)
    scale = pre @ np.abs(net.output_weights) + abs(net.output_bias)
    k = net.d + net.n + 4
    return 2 * k * eps * scale


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_skl2onnx_export_matches_onnxruntime(tmp_path, dtype):
    import onnxruntime
    from skl2onnx import to_onnx

    model, x = fitted_mlp(seed=3)
    path = tmp_path / "sk.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path.write_bytes(to_onnx(model, x[:1].astype(dtype)).SerializeToString())
    inputs = x.astype(dtype)
    problem = import_model(path, samples=inputs.astype(np.float64))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    runtime = session.run(None, {session.get_inputs()[0].name: inputs})[0].ravel()
    ours = problem.network.evaluate(problem.points())
    eps = float(np.finfo(dtype).eps)
    assert np.all(np.abs(ours - runtime) <= float_rounding_bound(problem.network, inputs, eps))
    # The weights are the file's float32 (or float64) values, widened exactly.
    assert np.array_equal(problem.network.hidden_weights, model.coefs_[0].T.astype(dtype))


# -- problems -------------------------------------------------------------------------------------


def test_targets_and_domains(tmp_path):
    w1, b1, w2, b2 = weights()
    np.savez(tmp_path / "m.npz", W1=w1, b1=b1, W2=w2, b2=b2)
    points = np.random.default_rng(1).standard_normal((7, D))
    labels = np.arange(7.0)
    np.savez(tmp_path / "s.npz", points=points, labels=labels)
    own = import_model(tmp_path / "m.npz", samples=tmp_path / "s.npz")
    assert isinstance(own.target, Network) and isinstance(own.domain, PointSet)
    assert np.array_equal(own.domain.points, points)
    assert np.array_equal(own.target.evaluate(points), own.network.evaluate(points))
    assert own.target is not own.network
    fit = import_model(tmp_path / "m.npz", samples=tmp_path / "s.npz", target="labels")
    assert isinstance(fit.target, Samples) and fit.domain is None
    assert np.array_equal(fit.target.values, labels)
    grid = import_model(tmp_path / "m.npz", target="neuron", neuron=Neuron(np.ones(D)))
    assert grid.domain == BoxGrid(-1.0, 1.0, 11)
    arrays = import_model(tmp_path / "m.npz", samples=points, labels=labels, target="labels")
    assert np.array_equal(arrays.target.points, points)


@pytest.mark.parametrize("mode", [PruningMode.NEURONS, PruningMode.WEIGHTS])
def test_an_imported_problem_solves_to_the_brute_force_optimum(tmp_path, mode):
    w1, b1, w2, b2 = weights(np.float32, seed=5)
    gemm_file(tmp_path / "m.onnx", w1[:4, :2], b1[:4], w2[:, :4], b2)  # n = 4, d = 2
    w1s = w1[:4, :2]
    points = np.random.default_rng(2).standard_normal((12, 2))
    np.save(tmp_path / "s.npy", points)
    problem = import_model(tmp_path / "m.onnx", samples=tmp_path / "s.npy", pruning=mode)
    assert np.array_equal(problem.network.hidden_weights, w1s.astype(np.float64))
    budget = 2 if mode == PruningMode.NEURONS else 5
    problem = dataclasses.replace(problem, objective=MinError(max_kept=budget))
    result = solve(problem)
    assert result.status == SolveStatus.OPTIMAL, result.detail
    optimum = table(problem).min_error(budget)
    true_error = exact_error(problem, result.solution.mask)
    assert Fraction(result.objective_bound) <= optimum <= true_error <= optimum + Fraction(1, 10**6)
    assert certify_mask(problem, result.solution.mask).error_upper == result.solution.error


# -- refusals -------------------------------------------------------------------------------------


def refusal(call) -> str:
    with pytest.raises(InvalidProblemError) as info:
        call()
    assert len(info.value.violations) == 1
    return str(info.value.violations[0])


def onnx_refusal(tmp_path, nodes, inits, **kw) -> str:
    path = onnx_file(tmp_path / "model.onnx", nodes, inits, **kw)
    return refusal(lambda: read_network(path)).replace(str(path), "model.onnx")


def layer_inits(dtype=np.float32, outputs=1):
    w1, b1, w2, b2 = weights(dtype)
    w2 = np.random.default_rng(9).standard_normal((outputs, N)).astype(dtype)
    return [
        tensor("W1", w1),
        tensor("B1", b1),
        tensor("W2", w2),
        tensor("B2", b2[:1].repeat(outputs)),
    ]


def gemm(a, out, name, w="W1", b="B1", **attrs):
    return helper.make_node("Gemm", [a, w, b], [out], name=name, transB=1, **attrs)


RELU = helper.make_node("Relu", ["h"], ["r"], name="relu")
OUT = gemm("r", "Y", "fc2", "W2", "B2")


def test_the_onnx_refusals_name_the_node(tmp_path):
    w1, b1, w2, b2 = weights(np.float32)
    path = matmul_file(tmp_path / "model.onnx", w1, b1, w2, b2, middle="Sigmoid")
    assert refusal(lambda: read_network(path)) == (
        f"{path}: node 'Sigmoid_3' (Sigmoid): only Relu is supported between the two layers"
    )
    path = matmul_file(tmp_path / "model.onnx", w1, b1, w2, b2, after="Sigmoid")
    assert refusal(lambda: read_network(path)).endswith(
        "node 'Sigmoid_9' (Sigmoid): only an optional Relu (and reshapes) may follow the output layer"
    )
    inits = layer_inits()
    expected = [
        (
            [
                gemm("X", "h", "fc1"),
                RELU,
                helper.make_node("Relu", ["r"], ["s"], name="again"),
                gemm("s", "Y", "fc2", "W2", "B2"),
            ],
            "node 'again' (Relu): expected the output layer (Gemm or MatMul) after the hidden Relu",
        ),
        (
            [
                helper.make_node("Relu", ["X"], ["x"], name="first"),
                gemm("x", "h", "fc1"),
                RELU,
                OUT,
            ],
            "node 'first' (Relu): expected the first layer (Gemm or MatMul)",
        ),
        (
            [gemm("X", "h", "fc1", alpha=2.0), RELU, OUT],
            "node 'fc1' (Gemm): alpha and beta other than 1 are not supported",
        ),
        (
            [helper.make_node("Gemm", ["X", "W1", "B1"], ["h"], name="fc1", transA=1), RELU, OUT],
            "node 'fc1' (Gemm): transA = 1 is not supported",
        ),
        (
            [helper.make_node("MatMul", ["W1", "X"], ["h"], name="mm"), RELU, OUT],
            "node 'mm' (MatMul): the data must be the first operand, the weights the second",
        ),
        (
            [
                helper.make_node("Identity", ["W1"], ["w"], name="idw"),
                gemm("X", "h", "fc1", w="w"),
                RELU,
                OUT,
            ],
            "node 'fc1' (Gemm): weights 'w' must be an initializer or a Constant",
        ),
        (
            [
                helper.make_node("Cast", ["X"], ["x"], name="c", to=TensorProto.INT64),
                gemm("x", "h", "fc1"),
                RELU,
                OUT,
            ],
            "node 'c' (Cast): only casts to float or double are supported",
        ),
        (
            [gemm("X", "h", "fc1"), RELU, OUT, helper.make_node("Relu", ["h"], ["z"], name="side")],
            "tensor 'h' feeds 2 nodes (node 'relu' (Relu), node 'side' (Relu)); expected a chain",
        ),
        (
            [
                gemm("X", "h", "fc1"),
                RELU,
                OUT,
                helper.make_node("Relu", ["B1"], ["z"], name="stray"),
            ],
            "node 'stray' (Relu): not on the path from the input to the output",
        ),
        (
            [gemm("X", "h", "fc1"), helper.make_node("Relu", ["h"], ["Y"], name="relu")],
            "the graph ends at tensor 'Y' without both layers (expected Gemm or MatMul, Relu, Gemm or MatMul)",
        ),
    ]
    for nodes, message in expected:
        assert onnx_refusal(tmp_path, nodes, inits) == f"model.onnx: {message}", message
    three = layer_inits(outputs=3)
    three[3] = tensor("B2", np.zeros(2, dtype=np.float32))
    assert onnx_refusal(tmp_path, [gemm("X", "h", "fc1"), RELU, OUT], three) == (
        "model.onnx: node 'fc2' (Gemm) bias 'B2' must hold 3 values (one per output), got shape "
        "(2,)"
    )
    assert onnx_refusal(tmp_path, [gemm("X", "h", "fc1"), RELU, OUT], inits, inputs=("X", "Z")) == (
        "model.onnx: the graph has 2 inputs (X, Z); expected 1"
    )
    two_outputs = [gemm("X", "h", "fc1"), RELU, OUT]
    assert onnx_refusal(tmp_path, two_outputs, inits, outputs=("Y", "h")) == (
        "model.onnx: the graph's outputs are Y, h; expected one, 'Y'"
    )
    ints = [tensor("W1", np.ones((N, D), dtype=np.int32)), *inits[1:]]
    assert onnx_refusal(tmp_path, [gemm("X", "h", "fc1"), RELU, OUT], ints) == (
        "model.onnx: node 'fc1' (Gemm): initializer 'W1' has dtype int32; expected float16, "
        "float32 or float64"
    )
    (tmp_path / "bad.onnx").write_bytes(b"not a model at all")
    assert refusal(lambda: read_network(tmp_path / "bad.onnx")).startswith(
        f"{tmp_path / 'bad.onnx'}: cannot read as ONNX"
    )


def test_an_skl2onnx_classifier_is_refused_at_its_sigmoid(tmp_path):
    from skl2onnx import to_onnx

    model, x = fitted_mlp("classifier")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onnx_bytes = to_onnx(model, x[:1].astype(np.float32), options={"zipmap": False})
    (tmp_path / "clf.onnx").write_bytes(onnx_bytes.SerializeToString())
    message = refusal(lambda: read_network(tmp_path / "clf.onnx"))
    assert "(Sigmoid): only an optional Relu (and reshapes) may follow the output layer" in message


def test_the_npz_and_safetensors_refusals_name_the_array_or_key(tmp_path):
    w1, b1, w2, b2 = weights(np.float32)

    def npz(**arrays) -> str:
        np.savez(tmp_path / "m.npz", **arrays)
        return refusal(lambda: read_network(tmp_path / "m.npz")).replace(str(tmp_path) + "/", "")

    assert npz(W1=w1, W2=w2, W3=w2) == "m.npz: array 'W3' is not one of W1, b1, W2, b2"
    assert npz(W1=w1) == "m.npz: has no array 'W2' (W1: n x d, W2: k x n; b1, b2 optional)"
    assert npz(W1=w1[0], W2=w2) == "m.npz: array 'W1' must be an n x d matrix, got shape (3,)"
    assert npz(W1=w1, W2=np.ones((1, 2, N))) == (
        "m.npz: array 'W2' must be a k x 5 matrix, got shape (1, 2, 5)"
    )
    assert npz(W1=w1, W2=w2[:, :2]) == "m.npz: array 'W2' has 2 inputs, the hidden layer 5 units"
    assert npz(W1=w1, b1=b1[:2], W2=w2) == "m.npz: array 'b1' must hold 5 values, got shape (2,)"
    assert npz(W1=w1, W2=w2, b2=np.ones(2)) == "m.npz: array 'b2' must hold 1 value, got shape (2,)"
    assert npz(W1=w1, W2=np.ones((2, N)), b2=np.ones(3)) == (
        "m.npz: array 'b2' must hold 2 values (one per output), got shape (3,)"
    )
    assert npz(W1=np.full((N, D), np.nan), W2=w2) == (
        "m.npz: array 'W1' must be finite (NaN or infinity at flat index 0)"
    )

    def st(tensors, layers=None) -> str:
        save_file(tensors, tmp_path / "m.safetensors")
        return refusal(lambda: read_network(tmp_path / "m.safetensors", layers)).replace(
            str(tmp_path) + "/", ""
        )

    assert st({"0.weight": w1, "0.bias": b1, "2.weight": w2, "4.weight": w2}) == (
        "m.safetensors: key '4.weight': expected the state_dict of nn.Sequential(Linear, ReLU, "
        "Linear) (keys 0.weight, 0.bias, 2.weight, 2.bias); name the two Linear modules with --layers"
    )
    assert st({"fc1.weight": w1, "fc2.bias": b2}, ("fc1", "fc2")) == (
        "m.safetensors: has no key 'fc2.weight' (keys: fc1.weight, fc2.bias)"
    )
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 3)
    assert "cannot read as .safetensors" in refusal(
        lambda: read_network(tmp_path / "bad.safetensors")
    )
    assert refusal(lambda: read_network(tmp_path / "m.h5")).endswith(
        "m.h5: unknown model format '.h5'; expected .npz, .safetensors, .onnx"
    )
    assert refusal(lambda: read_network(tmp_path / "none.npz")).endswith("none.npz: no such file")
    assert refusal(lambda: read_network(tmp_path / "m.npz", ("a", "b"))).endswith(
        "m.npz: named layers are for .safetensors models only"
    )


def test_the_sklearn_refusals():
    from sklearn.linear_model import LinearRegression
    from sklearn.neural_network import MLPRegressor

    assert refusal(lambda: read_network(LinearRegression())) == (
        "model: a LinearRegression is not a model file path or a fitted scikit-learn MLPRegressor "
        "or MLPClassifier"
    )
    assert refusal(lambda: read_network(MLPRegressor())) == (
        "model: the MLPRegressor is not fitted (call fit first)"
    )
    deep, _ = fitted_mlp(hidden=(4, 4))
    assert refusal(lambda: read_network(deep)) == (
        "model: the MLPRegressor has 2 hidden layers; only 1 is supported"
    )
    tanh, _ = fitted_mlp(activation="tanh")
    assert refusal(lambda: read_network(tanh)) == (
        "model: the MLPRegressor has activation='tanh'; only 'relu' is supported"
    )


def test_the_problem_refusals(tmp_path):
    w1, b1, w2, b2 = weights()
    model = tmp_path / "m.npz"
    np.savez(model, W1=w1, b1=b1, W2=w2, b2=b2)
    points = np.zeros((4, D))
    np.save(tmp_path / "s.npy", points)
    assert refusal(lambda: import_model(model, target="other")) == (
        "target: must be one of network, labels, neuron, got 'other'"
    )
    assert refusal(lambda: import_model(model, samples=tmp_path / "s.npy", target="labels")) == (
        "target: labels needs samples with labels (.npz 'labels', .csv --label-columns, or labels=)"
    )
    assert refusal(lambda: import_model(model, target="neuron")) == (
        "target: neuron needs the neuron's weights (--neuron-weights)"
    )
    assert refusal(lambda: import_model(model, samples=np.zeros((4, 2)))) == (
        "samples: the points have 2 coordinates, the network's input dimension is 3"
    )
    assert refusal(lambda: import_model(model, samples=points, box=BoxGrid(-1, 1, 3))) == (
        "domain: give samples or a box, not both"
    )
    two_columns = np.zeros((4, 2))
    assert refusal(
        lambda: import_model(model, samples=points, labels=two_columns, target="labels")
    ) == ("labels: 2 label column(s) for a network with 1 output(s): one per output")
    assert refusal(lambda: import_model(model, samples=points, labels=np.zeros((3, 2)))) == (
        "labels: expected 4 values (m, or m x k for k outputs), got shape (3, 2)"
    )
    assert refusal(lambda: import_model(model, labels=np.zeros(4))) == (
        "samples: labels need samples (the points they label)"
    )


def test_samples_with_one_label_column_per_output(tmp_path):
    from solver.io.samples import read_samples

    (tmp_path / "c.csv").write_text("x,y,a,b\n1,2,3,4\n5,6,7,8\n")
    csv_set = read_samples(tmp_path / "c.csv", ["b", "a"])  # the order given is the outputs'
    assert csv_set.points.tolist() == [[1, 2], [5, 6]]
    assert csv_set.labels.tolist() == [[4, 3], [8, 7]]
    np.savez(tmp_path / "w.npz", points=np.zeros((2, 2)), labels=np.arange(6.0).reshape(2, 3))
    assert read_samples(tmp_path / "w.npz").labels.shape == (2, 3)
    np.savez(tmp_path / "one.npz", points=np.zeros((2, 2)), labels=np.ones((2, 1)))
    assert read_samples(tmp_path / "one.npz").labels.shape == (2,)  # m x 1 is one output


def test_the_samples_refusals(tmp_path):
    from solver.io.samples import read_samples

    def fails(name, content=None, label_columns=None) -> str:
        path = tmp_path / name
        if isinstance(content, str):
            path.write_text(content)
        elif isinstance(content, dict):
            np.savez(path, **content)
        elif content is not None:
            np.save(path, content)
        return refusal(lambda: read_samples(path, label_columns)).replace(str(tmp_path) + "/", "")

    assert (
        fails("s.npy", np.zeros(3))
        == "s.npy: the array must be a non-empty m x d matrix, got shape (3,)"
    )
    assert fails("s.npy", np.zeros((2, 2), dtype=int)) == (
        "s.npy: the array has dtype int64; expected float16, float32 or float64"
    )
    assert fails("t.npz", {"points": np.zeros((2, 2)), "y": np.zeros(2)}) == (
        "t.npz: array 'y' is not one of points, labels"
    )
    assert fails("u.npz", {"labels": np.zeros(2)}) == "u.npz: has no array 'points' (m x d)"
    assert fails("v.npz", {"points": np.zeros((2, 2)), "labels": np.zeros(3)}) == (
        "v.npz: array 'labels' must hold one row per point (2), got shape (3,)"
    )
    assert fails("w.npz", {"points": np.zeros((2, 2)), "labels": np.zeros((3, 3))}) == (
        "w.npz: array 'labels' must hold one row per point (2), got shape (3, 3)"
    )
    assert fails("a.csv", "") == "a.csv: is empty (expected a header row, then one row per point)"
    assert fails("b.csv", "x,y\n1,2\n", ["z"]) == "b.csv: no column 'z' (the header has x, y)"
    assert fails("d.csv", "x,y\n1,2\n3\n") == "d.csv: line 3 has 1 fields, the header 2"
    assert fails("e.csv", "x,y\n1,two\n") == "e.csv: line 2, column 'y': 'two' is not a number"
    assert fails("g.txt") == "g.txt: unknown samples format '.txt'; expected .npy, .npz, .csv"
    assert fails("h.npy", None, ["y"]) == "h.npy: label columns are for .csv samples only"
    assert fails("i.npy") == "i.npy: no such file"
    (tmp_path / "j.npy").write_bytes(b"junk")
    assert fails("j.npy").startswith("j.npy: cannot read as .npy")


def test_csv_samples_split_labels_from_points(tmp_path):
    from solver.io.samples import read_samples

    (tmp_path / "s.csv").write_text("a,y,b\n1.5,10,2\n-3,20,0.25\n")
    found = read_samples(tmp_path / "s.csv", ["y"])
    assert np.array_equal(found.points, [[1.5, 2.0], [-3.0, 0.25]])
    assert np.array_equal(found.labels, [10.0, 20.0])
    assert read_samples(tmp_path / "s.csv").points.shape == (2, 3)
