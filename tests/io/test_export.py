"""Exporting a pruned network (solver/io/model_export.py).

The exported ONNX file runs in onnxruntime (a real runtime no one here wrote) on the problem's
domain points and must reproduce the pruned network: float64 files within 1e-12 of both the
float64 evaluation (Network.evaluate with the mask) and the exact one (solver/exact), float32
files within the forward-error bound of float32 arithmetic (``float_error_bound`` states it).
Every format imports back (solver/io/model_import.py) to exactly the pruned network. A real
scikit-learn MLPRegressor goes the whole way: imported, solved, exported, run.
"""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import onnxruntime as ort
import pytest
from safetensors.numpy import load_file

from solver import exact
from solver.core.errors import InvalidProblemError
from solver.core.problem import (
    Activation,
    Mask,
    MinError,
    Network,
    PointSet,
    Problem,
    PruningMode,
)
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.exact.certify import certify_mask
from solver.exact.evaluate import network_outputs
from solver.io.model_export import (
    ONNX_OPSET,
    export_model,
    prune_network,
    rounding_change,
    torch_masks,
    write_torch_masks,
)
from solver.io.model_import import import_model, read_network

D, N, M = 3, 7, 40
MODES = (PruningMode.NEURONS, PruningMode.WEIGHTS)


def make_problem(mode: PruningMode, biases: bool, output_relu: bool, seed: int = 0) -> Problem:
    rng = np.random.default_rng(seed)
    network = Network(
        hidden_weights=rng.standard_normal((N, D)),
        output_weights=rng.standard_normal(N),
        hidden_biases=rng.standard_normal(N) if biases else None,
        output_bias=float(rng.standard_normal()) if biases else 0.0,
        output_activation=Activation.RELU if output_relu else Activation.IDENTITY,
    )
    target = Network(
        network.hidden_weights.copy(),
        network.output_weights.copy(),
        None if network.hidden_biases is None else network.hidden_biases.copy(),
        network.output_bias,
        network.output_activation,
    )
    points = PointSet(rng.standard_normal((M, D)))
    return Problem(network, target, points, mode, MinError())


def make_mask(mode: PruningMode) -> Mask:
    """Units 1, 4 removed (neurons mode), or in weights mode: units 1 and 4 dead (output weight
    removed, hidden weights still marked kept, so the export must canonicalise), unit 2 live on
    its bias alone (every hidden weight removed), the others with some hidden weights removed."""
    if mode == PruningMode.NEURONS:
        return Mask(neurons=np.array([1, 0, 1, 1, 0, 1, 1], dtype=bool))
    hidden = np.ones((N, D), dtype=bool)
    hidden[2] = False
    hidden[0, 1] = hidden[3, 0] = hidden[5, 2] = hidden[6, 0] = hidden[6, 2] = False
    output = np.array([1, 0, 1, 1, 0, 1, 1], dtype=bool)
    return Mask(hidden_weights=hidden, output_weights=output)


def run_onnx(path, points: np.ndarray, dtype) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"input": points.astype(dtype)})
    assert out.dtype == dtype and out.shape == (points.shape[0], 1)
    return out[:, 0].astype(np.float64)


def exact_outputs(problem: Problem, mask: Mask) -> list[Fraction]:
    values = network_outputs(problem.network, exact.from_floats(problem.points()), mask)
    return [values.fraction(k) for k in range(values.shape[0])]


def float_error_bound(network: Network, mask: Mask, points: np.ndarray, unit: float):
    """A rigorous bound on |computed - exact| at each point for the pruned network evaluated in
    a float format of unit roundoff ``unit`` (2^-53 float64, 2^-24 float32), with its weights,
    biases and inputs each rounded to that format once (nothing is rounded in float64).

    The standard forward-error bound for sums of products (gamma_k = k u / (1 - k u), valid in
    any summation order and with or without fused multiply-adds): a hidden pre-activation, a
    sum of d products and a bias, each datum rounded once, is off by at most
    e_i = gamma_{d+3} (sum_j |w_ij x_j| + |b_i|); the ReLU is 1-Lipschitz, so its output is off
    by at most e_i too; the output, a sum of n products and a bias over inputs off by e_i, is off
    by at most (1 + gamma_{n+2}) sum_i |v_i| e_i + gamma_{n+2} (sum_i |v_i| r_i + |c|), r_i the
    exact hidden outputs; an output ReLU is 1-Lipschitz. The bound is evaluated in float64 and
    widened by 1e-6 relatively, far above float64's own error in computing it.
    """

    def gamma(k: int) -> float:
        return k * unit / (1 - k * unit)

    pruned = prune_network(network, mask).network
    w, v = np.abs(pruned.hidden_weights), np.abs(pruned.output_weights)
    b = np.abs(pruned.biases)
    spread = np.abs(points) @ w.T + b  # (m, n): sum_j |w_ij x_j| + |b_i|
    hidden_error = gamma(network.d + 3) * spread
    exact_hidden = np.maximum(points @ pruned.hidden_weights.T + pruned.biases, 0.0)
    g = gamma(network.n + 2)
    bound = (1 + g) * hidden_error @ v + g * (exact_hidden @ v + abs(pruned.output_bias))
    return bound * (1 + 1e-6)


CASES = [
    pytest.param(mode, biases, relu, id=f"{mode.name.lower()}-{tag}{'-relu' if relu else ''}")
    for mode in MODES
    for biases, tag in ((True, "biases"), (False, "bias-free"))
    for relu in (False, True)
]


@pytest.mark.parametrize("drop", [False, True], ids=["zeros", "drop-dead-units"])
@pytest.mark.parametrize(("mode", "biases", "relu"), CASES)
def test_float64_onnx_reproduces_the_pruned_network_in_onnxruntime(
    tmp_path, mode, biases, relu, drop
):
    problem = make_problem(mode, biases, relu)
    mask = make_mask(mode)
    path = tmp_path / "pruned.onnx"
    pruned = export_model(problem, mask, path, drop_dead_units=drop)
    assert pruned.network.n == (5 if drop else N)
    points = problem.points()
    got = run_onnx(path, points, np.float64)
    assert np.max(np.abs(got - problem.network.evaluate(points, mask))) <= 1e-12
    truth = exact_outputs(problem, mask)
    errors = [abs(Fraction(float(g)) - t) for g, t in zip(got, truth)]
    assert max(errors) <= Fraction(1, 10**12)
    # Also within the rigorous float64 bound (tighter than 1e-12 at these magnitudes).
    bound = float_error_bound(problem.network, mask, points, 2.0**-53)
    assert all(e <= Fraction(float(b)) for e, b in zip(errors, bound))
    # The test is not vacuous: the pruning changes the output, and the output ReLU bites.
    full = problem.network.evaluate(points)
    assert np.max(np.abs(full - got)) > 1e-3
    if relu:
        assert 0 < np.count_nonzero(got == 0.0) < M


@pytest.mark.parametrize(("mode", "biases", "relu"), CASES)
def test_float32_onnx_is_within_float32_rounding(tmp_path, mode, biases, relu):
    problem = make_problem(mode, biases, relu)
    mask = make_mask(mode)
    path = tmp_path / "pruned32.onnx"
    export_model(problem, mask, path, dtype="float32")
    points = problem.points()
    got = run_onnx(path, points, np.float32)
    truth = exact_outputs(problem, mask)
    bound = float_error_bound(problem.network, mask, points, 2.0**-24)
    errors = [abs(Fraction(float(g)) - t) for g, t in zip(got, truth)]
    assert all(e <= Fraction(float(b)) for e, b in zip(errors, bound))
    # float32 really rounds (a float64 file would be exact to 1e-12), and the bound is not loose
    # by orders of magnitude: the worst error uses a visible part of it.
    assert max(errors) > Fraction(1, 10**9)
    assert max(float(e) / b for e, b in zip(errors, bound) if b) > 1e-3


def assert_same_network(got: Network, want: Network, output_relu: bool = True) -> None:
    """Bit for bit (float64 widening is exact): the arrays, the biases' presence, the output."""
    assert np.array_equal(got.hidden_weights, want.hidden_weights)
    assert np.array_equal(got.output_weights, want.output_weights)
    if want.hidden_biases is None:
        assert got.hidden_biases is None
    else:
        assert np.array_equal(got.hidden_biases, want.hidden_biases)
    assert got.output_bias == want.output_bias
    expected = want.output_activation if output_relu else Activation.IDENTITY
    assert got.output_activation == expected


@pytest.mark.parametrize("suffix", [".onnx", ".npz", ".safetensors"])
@pytest.mark.parametrize("drop", [False, True], ids=["zeros", "drop-dead-units"])
@pytest.mark.parametrize(("mode", "biases", "relu"), CASES)
def test_every_format_imports_back_to_the_pruned_network(
    tmp_path, suffix, drop, mode, biases, relu
):
    problem = make_problem(mode, biases, relu)
    mask = make_mask(mode)
    path = tmp_path / f"pruned{suffix}"
    pruned = export_model(problem, mask, path, drop_dead_units=drop)
    # Only ONNX holds the output activation; .npz and state_dicts are parameters only.
    assert_same_network(read_network(path), pruned.network, output_relu=suffix == ".onnx")
    # Removed weights are zero, the rest the network's own values.
    canonical = mask.canonical()
    keep = canonical.hidden_matrix(N, D)[pruned.units]
    original = problem.network.hidden_weights[pruned.units]
    assert np.array_equal(pruned.network.hidden_weights, np.where(keep, original, 0.0))
    live = canonical.unit_vector(N)[pruned.units]
    assert np.array_equal(
        pruned.network.output_weights,
        np.where(live, problem.network.output_weights[pruned.units], 0.0),
    )
    if biases:
        assert np.array_equal(
            pruned.network.hidden_biases, np.where(live, problem.network.biases[pruned.units], 0.0)
        )
    # Dead units have no nonzero weight left, hidden or output, nor a bias.
    dead = ~live
    assert not np.any(pruned.network.hidden_weights[dead])
    assert not np.any(pruned.network.output_weights[dead])
    assert not np.any(pruned.network.biases[dead])
    # The imported file, as a problem again, has the certified error of the mask on the points.
    imported = import_model(path, samples=problem.points())
    reloaded = certify_mask(
        Problem(imported.network, problem.target, problem.domain, PruningMode.NEURONS),
        Mask(neurons=np.ones(imported.network.n, dtype=bool)),
    )
    if suffix == ".onnx" or not relu:
        assert reloaded.error == certify_mask(problem, mask).error


@pytest.mark.parametrize("suffix", [".onnx", ".npz", ".safetensors"])
def test_float32_files_import_to_the_rounded_network(tmp_path, suffix):
    problem = make_problem(PruningMode.WEIGHTS, True, False)
    mask = make_mask(PruningMode.WEIGHTS)
    path = tmp_path / f"pruned{suffix}"
    pruned = export_model(problem, mask, path, dtype="float32")
    net = pruned.network
    rounded = Network(
        net.hidden_weights.astype(np.float32).astype(np.float64),
        net.output_weights.astype(np.float32).astype(np.float64),
        net.hidden_biases.astype(np.float32).astype(np.float64),
        float(np.float32(net.output_bias)),
    )
    assert_same_network(read_network(path), rounded)
    change = rounding_change(net, "float32")
    assert 0 < change <= 2.0**-24 * np.max(np.abs(net.hidden_weights))
    assert rounding_change(net, "float64") == 0.0


def test_state_dict_and_onnx_names_follow_the_layers(tmp_path):
    problem = make_problem(PruningMode.NEURONS, True, False)
    mask = make_mask(PruningMode.NEURONS)
    pruned = export_model(problem, mask, tmp_path / "m.safetensors", layers=("fc1", "fc2"))
    tensors = load_file(str(tmp_path / "m.safetensors"))
    assert sorted(tensors) == ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]
    assert tensors["fc1.weight"].shape == (N, D) and tensors["fc2.weight"].shape == (1, N)
    assert_same_network(read_network(tmp_path / "m.safetensors", ("fc1", "fc2")), pruned.network)
    export_model(problem, mask, tmp_path / "m.onnx", layers=("fc1", "fc2"))
    import onnx

    model = onnx.load(str(tmp_path / "m.onnx"))
    assert model.opset_import[0].version == ONNX_OPSET
    assert sorted(i.name for i in model.graph.initializer) == sorted(tensors)
    assert [node.op_type for node in model.graph.node] == ["Gemm", "Relu", "Gemm"]


def test_a_bias_free_network_is_written_without_bias_tensors(tmp_path):
    problem = make_problem(PruningMode.WEIGHTS, False, False)
    export_model(problem, make_mask(PruningMode.WEIGHTS), tmp_path / "m.safetensors")
    assert sorted(load_file(str(tmp_path / "m.safetensors"))) == ["0.weight", "2.weight"]
    export_model(problem, make_mask(PruningMode.WEIGHTS), tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as archive:
        assert sorted(archive.files) == ["W1", "W2"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("biases", [True, False])
def test_torch_masks_reproduce_the_pruned_weights(tmp_path, mode, biases):
    """custom_from_mask computes weight_orig * weight_mask (and bias likewise): applied to the
    unpruned model's tensors, the masks give exactly the exported (unshrunk) weights."""
    problem = make_problem(mode, biases, False)
    mask = make_mask(mode)
    path = tmp_path / "masks.safetensors"
    written = write_torch_masks(problem, mask, path, dtype="float32")
    masks = load_file(str(path))
    assert sorted(masks) == sorted(written)
    expected_keys = {"0.weight_mask", "2.weight_mask"}
    if biases:
        expected_keys |= {"0.bias_mask", "2.bias_mask"}
    assert set(masks) == expected_keys
    assert masks["0.weight_mask"].shape == (N, D) and masks["2.weight_mask"].shape == (1, N)
    assert all(m.dtype == np.float32 and set(np.unique(m)) <= {0.0, 1.0} for m in masks.values())
    net = problem.network
    pruned = prune_network(net, mask).network
    assert np.array_equal(net.hidden_weights * masks["0.weight_mask"], pruned.hidden_weights)
    assert np.array_equal(net.output_weights * masks["2.weight_mask"][0], pruned.output_weights)
    if biases:
        assert np.array_equal(net.hidden_biases * masks["0.bias_mask"], pruned.hidden_biases)
        assert masks["2.bias_mask"].tolist() == [1.0]  # the output bias is never pruned
    named = torch_masks(net, mask, layers=("fc1", "fc2"))
    assert {key.split(".")[0] for key in named} == {"fc1", "fc2"}


def test_refusals_name_the_flag(tmp_path):
    problem = make_problem(PruningMode.NEURONS, True, False)
    nothing = Mask(neurons=np.zeros(N, dtype=bool))
    with pytest.raises(InvalidProblemError) as info:
        export_model(problem, nothing, tmp_path / "m.onnx", drop_dead_units=True)
    assert info.value.violations[0].flag == "--drop-dead-units"
    assert "keeps no unit" in info.value.violations[0].description
    export_model(problem, nothing, tmp_path / "m.onnx")  # without dropping: all zero, fine
    assert (
        run_onnx(tmp_path / "m.onnx", problem.points(), np.float64).tolist()
        == [problem.network.output_bias] * M
    )
    with pytest.raises(InvalidProblemError) as info:
        export_model(problem, make_mask(PruningMode.NEURONS), tmp_path / "m.pt")
    assert str(info.value) == (
        f"-o: {tmp_path / 'm.pt'}: unknown format '.pt'; expected .onnx, .npz, .safetensors"
    )
    with pytest.raises(InvalidProblemError) as info:
        export_model(problem, make_mask(PruningMode.NEURONS), tmp_path / "no" / "m.npz")
    assert str(info.value) == (
        f"-o: cannot write {tmp_path / 'no' / 'm.npz'}: No such file or directory"
    )
    with pytest.raises(InvalidProblemError) as info:
        export_model(problem, make_mask(PruningMode.NEURONS), tmp_path / "m.npz", dtype="int8")
    assert info.value.violations[0].flag == "--dtype"
    huge = Network(
        problem.network.hidden_weights * 1e200, problem.network.output_weights, None, 0.0
    )
    with pytest.raises(InvalidProblemError) as info:
        export_model(huge, make_mask(PruningMode.NEURONS), tmp_path / "h.onnx", dtype="float32")
    assert str(info.value) == (
        "--dtype: 0.weight holds values beyond float32's range (at most 3.403e+38 in "
        "magnitude); use float64"
    )
    assert not (tmp_path / "h.onnx").exists()
    export_model(huge, make_mask(PruningMode.NEURONS), tmp_path / "h.onnx")  # float64 holds them


@pytest.mark.parametrize("mode", MODES)
def test_a_fitted_scikit_learn_mlp_is_imported_solved_exported_and_run(tmp_path, mode):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    rng = np.random.default_rng(3)
    x = rng.standard_normal((60, D))
    y = np.sin(x[:, 0]) + x[:, 1] * x[:, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPRegressor(hidden_layer_sizes=(6,), max_iter=400, random_state=0).fit(x, y)
    budget = 3 if mode == PruningMode.NEURONS else 8
    problem = import_model(model, samples=x, pruning=mode, objective=MinError(max_kept=budget))
    # The unpruned export is scikit-learn's own network: onnxruntime agrees with its predict.
    full = Mask.full(problem)
    export_model(problem, full, tmp_path / "full.onnx")
    assert (
        np.max(np.abs(run_onnx(tmp_path / "full.onnx", x, np.float64) - model.predict(x))) < 1e-12
    )
    result = solve(problem)
    assert result.status == SolveStatus.OPTIMAL
    mask = result.solution.mask
    assert 0 < mask.kept() <= budget
    path = tmp_path / "pruned.onnx"
    export_model(problem, mask, path, drop_dead_units=True)
    got = run_onnx(path, x, np.float64)
    truth = exact_outputs(problem, mask)
    assert max(abs(Fraction(float(g)) - t) for g, t in zip(got, truth)) <= Fraction(1, 10**12)
    # The pruned network's error against the unpruned one, as onnxruntime computes it, is the
    # certified error (up to the 1e-12 above).
    runtime_error = np.max(np.abs(got - model.predict(x)))
    assert abs(runtime_error - result.solution.error) <= 2e-12
    assert import_model(path, samples=x).network.n == int(np.count_nonzero(mask.unit_vector(6)))
