"""`prunecert import` end to end: a model file in, a problem file out that `solve` certifies; every
flag refusal names its flag; the README's "Prune your own network" commands run as written."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest
from safetensors.numpy import save_file

from solver.cli.app import main
from solver.core.problem import Activation, BoxGrid, Network, Neuron, PointSet, Samples
from solver.io import convert
from solver.io.model_import import read_network
from tests.support.readme import run_block, shell_block
from tests.support.servers import REPO

README = REPO / "README.md"
PRUNECERT = REPO / ".venv" / "bin" / "prunecert"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def model(tmp_path):
    """A float32 model (n = 4, d = 2) as a PyTorch Sequential's state_dict, and 9 samples."""
    rng = np.random.default_rng(4)
    tensors = {
        "0.weight": rng.standard_normal((4, 2)).astype(np.float32),
        "0.bias": rng.standard_normal(4).astype(np.float32),
        "2.weight": rng.standard_normal((1, 4)).astype(np.float32),
        "2.bias": rng.standard_normal(1).astype(np.float32),
    }
    save_file(tensors, tmp_path / "m.safetensors")
    points = rng.standard_normal((9, 2))
    labels = rng.standard_normal(9)
    header = "x1,y,x2\n"
    rows = "".join(
        f"{float(p[0])!r},{float(v)!r},{float(p[1])!r}\n" for p, v in zip(points, labels)
    )
    (tmp_path / "s.csv").write_text(header + rows)
    return tmp_path / "m.safetensors", tensors, points, labels


def test_import_writes_a_problem_that_solve_certifies(capsys, tmp_path, model):
    path, tensors, points, _ = model
    out = tmp_path / "p.json"
    code, stdout, err = run(
        capsys,
        "import",
        path,
        "--samples",
        tmp_path / "s.csv",
        "--label-columns",
        "y",
        "--max-kept",
        "2",
        "-o",
        out,
    )
    assert (code, stdout, err) == (0, "", "")
    problem = convert.problem_from_json(out.read_text())
    net = problem.network
    assert np.array_equal(net.hidden_weights, tensors["0.weight"].astype(np.float64))
    assert np.array_equal(net.output_weights, tensors["2.weight"][0].astype(np.float64))
    assert net.output_bias == float(tensors["2.bias"][0])
    assert isinstance(problem.target, Network) and isinstance(problem.domain, PointSet)
    assert np.array_equal(problem.domain.points, points)  # repr round-trips every double
    assert problem.objective.max_kept == 2
    code, stdout, err = run(capsys, "solve", out, "--json")
    assert code == 0, err
    result = json.loads(stdout)
    assert result["status"] == "SOLVE_STATUS_OPTIMAL"
    mask = tmp_path / "mask.json"
    mask.write_text(json.dumps(result["solution"]["mask"]))
    code, stdout, err = run(capsys, "certify", out, mask)
    assert code == 0, err


def test_labels_neuron_and_box_targets(capsys, tmp_path, model):
    path, _, points, labels = model
    code, stdout, _ = run(
        capsys,
        "import",
        path,
        "--samples",
        tmp_path / "s.csv",
        "--label-columns",
        "y",
        "--target",
        "labels",
        "--pruning",
        "weights",
        "--objective",
        "min_kept",
        "--max-error",
        "0.5",
    )
    assert code == 0
    problem = convert.problem_from_json(stdout)
    assert isinstance(problem.target, Samples) and problem.domain is None
    assert np.array_equal(problem.target.values, labels)
    assert problem.objective.max_error == 0.5
    code, stdout, _ = run(
        capsys,
        "import",
        path,
        "--target",
        "neuron",
        "--neuron-weights",
        "1",
        "-0.5",
        "--neuron-bias",
        "0.25",
        "--low",
        "-2",
        "--points-per-axis",
        "5",
    )
    assert code == 0
    problem = convert.problem_from_json(stdout)
    assert isinstance(problem.target, Neuron) and problem.target.bias == 0.25
    assert problem.target.activation == Activation.RELU
    assert problem.domain == BoxGrid(-2.0, 1.0, 5)
    code, stdout, _ = run(capsys, "import", path, "--objective", "pareto")
    assert convert.problem_from_json(stdout).domain == BoxGrid(-1.0, 1.0, 41)  # generate's default


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (["--objective", "min_kept"], "--max-error: is required with --objective min_kept"),
        (["--max-kept", "-1"], "--max-kept: must be >= 0, got -1"),
        (["--points-per-axis", "1"], "--points-per-axis: must be at least 2, got 1"),
        (
            ["--target", "neuron"],
            "--neuron-weights: is required with --target neuron (the target neuron's weights)",
        ),
        (
            ["--neuron-weights", "1", "2"],
            "--target: --neuron-weights and --neuron-bias need --target neuron, not network",
        ),
        (["--label-columns", "y"], "--label-columns: only with --samples FILE.csv"),
        (["--layers", "a"], "--layers: expected two module names (hidden, output), got 1"),
        (["--low", "2"], "--low: must be finite and below --high (2.0 >= 1.0)"),
        (
            ["--target", "labels"],
            "--target: labels needs samples with labels (.npz 'labels', .csv --label-columns, or "
            "labels=) (target)",
        ),
        (
            ["--layers", "fc1", "fc2"],
            "{path}: has no key 'fc1.weight' (keys: 0.bias, 0.weight, 2.bias, 2.weight)",
        ),
        (
            ["--target", "neuron", "--neuron-weights", "1"],
            "target.neuron.weights: expected 2 values, got 1",
        ),
    ],
)
def test_flag_refusals_name_the_flag(capsys, model, flags, line):
    path = model[0]
    code, out, err = run(capsys, "import", path, *flags)
    assert (code, out) == (2, "")
    assert err == f"prunecert: error: {line.format(path=path)}\n"


def test_samples_with_box_flags_and_unwritable_output_are_refused(capsys, tmp_path, model):
    path = model[0]
    code, _, err = run(capsys, "import", path, "--samples", tmp_path / "s.csv", "--high", "3")
    assert code == 2
    assert err == (
        "prunecert: error: --samples: the samples are the domain: not with --low, --high, "
        "--points-per-axis\n"
    )
    code, _, err = run(capsys, "import", path, "-o", tmp_path / "no" / "p.json")
    assert code == 2
    assert err.startswith(f"prunecert: error: -o: cannot write {tmp_path / 'no' / 'p.json'}: ")


def test_an_unsupported_onnx_node_is_one_line_and_exit_2_from_the_installed_command(tmp_path):
    from onnx import TensorProto, helper, numpy_helper, save

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((2, 3)).astype(np.float32), "W1"),
        numpy_helper.from_array(rng.standard_normal((3, 1)).astype(np.float32), "W2"),
    ]
    nodes = [
        helper.make_node("MatMul", ["X", "W1"], ["h"], name="MatMul_1"),
        helper.make_node("Sigmoid", ["h"], ["r"], name="Sigmoid_3"),
        helper.make_node("MatMul", ["r", "W2"], ["Y"], name="MatMul_4"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])],
        initializer=inits,
    )
    save(helper.make_model(graph), str(tmp_path / "model.onnx"))
    proc = subprocess.run(
        [str(PRUNECERT), "import", "model.onnx"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        "prunecert: error: model.onnx: node 'Sigmoid_3' (Sigmoid): only Relu is supported between "
        "the two layers\n"
    )


def test_the_readme_commands_run_as_written(tmp_path):
    # As written: from a directory whose .venv is the repository's, every line checked.
    proc = run_block(shell_block("## Prune your own network"), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("status      OPTIMAL") == 2, proc.stdout
    assert "kept        6 of 12 units" in proc.stdout
    problem = convert.problem_from_json((tmp_path / "diabetes.json").read_text())
    assert problem.network.n == 12 and problem.network.d == 10
    assert isinstance(problem.target, Network)
    fit = convert.problem_from_json((tmp_path / "fit.json").read_text())
    assert isinstance(fit.target, Samples) and fit.target.points.shape == (100, 10)
    assert "exported    pruned.onnx (ONNX opset 13: Gemm, Relu, Gemm), float64" in proc.stdout
    assert "units       6 of 12 live; the 6 others are left out" in proc.stdout
    runtime = float(re.search(r"max \|pruned - unpruned\| (\S+)", proc.stdout).group(1))
    certified = float(re.search(r"certified error +(\S+)", proc.stdout).group(1))
    assert abs(runtime - certified) <= 1e-5  # .6g printing and the float32 model's rounding
    assert read_network(tmp_path / "pruned.onnx").n == 6
