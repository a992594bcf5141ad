"""`prunecert export` end to end: a solved problem's pruned network out as ONNX (run by
onnxruntime), npz or safetensors, PyTorch masks beside it; every refusal is one line naming the
file, field or flag, with exit 2."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import onnxruntime as ort
import pytest
from safetensors.numpy import load_file

from prunecert.v1 import solve_pb2
from solver.cli.app import main
from solver.core.problem import MinError, MinKept, Pareto, PruningMode
from solver.exact.certify import certify_mask
from solver.instances.generate import paper_problem
from solver.io import convert
from solver.io.model_import import read_network
from tests.support.servers import REPO

PRUNECERT = REPO / ".venv" / "bin" / "prunecert"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write_problem(path, problem) -> None:
    path.write_text(convert.to_json(convert.problem_to_proto(problem)))


def solved(capsys, tmp_path, problem, name="p", expected_code=0):
    """Problem and result files, the result from `prunecert solve --json`."""
    problem_path, result_path = tmp_path / f"{name}.json", tmp_path / f"{name}.result.json"
    write_problem(problem_path, problem)
    code, out, err = run(capsys, "solve", problem_path, "--json")
    assert code == expected_code, err
    result_path.write_text(out)
    return problem_path, result_path


def test_import_solve_export_as_a_user_runs_it(tmp_path):
    """The commands as processes, from a trained-looking model to an ONNX file onnxruntime runs."""
    rng = np.random.default_rng(7)
    np.savez(
        tmp_path / "model.npz",
        W1=rng.standard_normal((8, 3)),
        b1=rng.standard_normal(8),
        W2=rng.standard_normal((1, 8)),
        b2=rng.standard_normal(1),
    )
    points = rng.standard_normal((50, 3))
    np.save(tmp_path / "samples.npy", points)

    def prunecert(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(PRUNECERT), *argv], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )

    step = prunecert(
        "import", "model.npz", "--samples", "samples.npy", "--max-kept", "4", "-o", "p.json"
    )
    assert step.returncode == 0, step.stderr
    step = prunecert("solve", "p.json", "--json")
    assert step.returncode == 0, step.stderr
    (tmp_path / "r.json").write_text(step.stdout)
    result = json.loads(step.stdout)
    step = prunecert(
        "export", "p.json", "r.json", "-o", "pruned.onnx", "--torch-masks", "masks.safetensors"
    )
    assert step.returncode == 0, step.stderr
    assert step.stderr == ""
    error = result["solution"]["error"]
    assert step.stdout.splitlines() == [
        "exported    pruned.onnx (ONNX opset 13: Gemm, Relu, Gemm), float64",
        "units       4 of 8 live; the removed units' weights and biases are zero",
        "masks       masks.safetensors (0.weight_mask, 2.weight_mask, 0.bias_mask, "
        "2.bias_mask; for custom_from_mask)",
        "kept        4 of 8 units",
        f"error       {error:.12g}   (on the given points: exact, rounded up; result OPTIMAL)",
    ]
    # onnxruntime's values: the unpruned network's minus the error at most, and at the worst
    # point exactly that far (the target is the unpruned network).
    session = ort.InferenceSession(
        str(tmp_path / "pruned.onnx"), providers=["CPUExecutionProvider"]
    )
    pruned = session.run(None, {"input": points})[0][:, 0]
    problem = convert.problem_from_json((tmp_path / "p.json").read_text())
    unpruned = problem.network.evaluate(points)
    assert abs(np.max(np.abs(pruned - unpruned)) - error) <= 1e-12
    kept = np.array(result["solution"]["mask"]["neurons"])
    masks = load_file(str(tmp_path / "masks.safetensors"))
    assert np.array_equal(masks["0.bias_mask"], kept.astype(float))
    assert np.array_equal(masks["0.weight_mask"], np.repeat(kept[:, None], 3, axis=1).astype(float))
    # And the exported file imports as the pruned network.
    step = prunecert("import", "pruned.onnx", "--samples", "samples.npy", "-o", "again.json")
    assert step.returncode == 0, step.stderr
    again = convert.problem_from_json((tmp_path / "again.json").read_text())
    assert np.array_equal(
        again.network.output_weights, np.where(kept, problem.network.output_weights, 0)
    )


def test_weights_mode_dropping_dead_units_in_float32(capsys, tmp_path):
    problem = paper_problem(2, 6, 1, PruningMode.WEIGHTS, MinError(max_kept=6), 9)
    problem_path, result_path = solved(capsys, tmp_path, problem)
    result = convert.parse_result(
        convert.parse_json(result_path.read_text(), solve_pb2.SolveResult)
    )
    live = int(np.count_nonzero(result.solution.mask.output_weights))
    assert 0 < live < 6
    out = tmp_path / "pruned.safetensors"
    code, stdout, err = run(
        capsys,
        "export",
        problem_path,
        result_path,
        "-o",
        out,
        "--drop-dead-units",
        "--dtype",
        "float32",
        "--layers",
        "fc1",
        "fc2",
    )
    assert code == 0, err
    assert f"units       {live} of 6 live; the {6 - live} others are left out" in stdout
    assert (
        "prunecert: note: --dtype float32 rounds every value to the nearest float32 (largest change"
    ) in err
    tensors = load_file(str(out))
    assert tensors["fc1.weight"].dtype == np.float32 and tensors["fc1.weight"].shape == (live, 2)
    assert read_network(out, ("fc1", "fc2")).n == live
    # Without dropping, dead units stay as zeros, and the output says why they are zero.
    code, stdout, err = run(capsys, "export", problem_path, result_path, "-o", tmp_path / "z.onnx")
    assert (code, err) == (0, "")
    assert (
        f"units       {live} of 6 live; {6 - live} dead (output weight removed): their hidden "
        "weights and biases are zero too"
    ) in stdout
    assert read_network(tmp_path / "z.onnx").n == 6


def test_a_pareto_frontier_point_is_exported_by_its_kept_count(capsys, tmp_path):
    problem = paper_problem(2, 4, 2, PruningMode.NEURONS, Pareto(), 9)
    problem_path, result_path = solved(capsys, tmp_path, problem)
    frontier = json.loads(result_path.read_text())["frontier"]
    point = frontier[1]
    code, stdout, err = run(
        capsys,
        "export",
        problem_path,
        result_path,
        "-o",
        tmp_path / "k.npz",
        "--frontier-kept",
        point["kept"],
    )
    assert code == 0, err
    assert f"kept        {point['kept']} of 4 units" in stdout
    assert read_network(tmp_path / "k.npz").output_weights.tolist().count(0.0) == 4 - point["kept"]
    code, stdout, err = run(
        capsys, "export", problem_path, result_path, "-o", tmp_path / "k.npz", "--frontier-kept", 99
    )
    kepts = ", ".join(
        str(p.get("kept", 0)) for p in sorted(frontier, key=lambda p: p.get("kept", 0))
    )
    assert (code, stdout) == (2, "")
    assert err == (
        f"prunecert: error: --frontier-kept: {result_path} has no frontier point keeping 99 "
        f"(frontier kept counts: {kepts})\n"
    )


def test_an_output_relu_is_kept_in_onnx_and_noted_for_parameter_files(capsys, tmp_path):
    problem = paper_problem(2, 4, 1, PruningMode.NEURONS, MinError(max_kept=2), 9)
    problem_path, result_path = solved(capsys, tmp_path, problem)
    assert problem.network.output_activation.name == "RELU"  # the paper family's output
    code, stdout, err = run(capsys, "export", problem_path, result_path, "-o", tmp_path / "m.onnx")
    assert (code, err) == (0, "")
    assert "(ONNX opset 13: Gemm, Relu, Gemm, Relu)" in stdout
    code, stdout, err = run(capsys, "export", problem_path, result_path, "-o", tmp_path / "m.npz")
    assert code == 0
    assert err.startswith("prunecert: note: a .npz file holds no activations: the output ReLU")


# -- refusals: one line, exit 2 ----------------------------------------------------------------


def assert_refused(result: tuple[int, str, str], line: str) -> None:
    code, out, err = result
    assert (code, out) == (2, ""), err
    assert err == f"prunecert: error: {line}\n"


@pytest.fixture
def small(capsys, tmp_path):
    problem = paper_problem(2, 3, 1, PruningMode.NEURONS, MinError(max_kept=2), 5)
    return solved(capsys, tmp_path, problem)


def test_a_result_of_another_size_is_refused_naming_the_mask(capsys, tmp_path, small):
    _, result_path = small
    other = tmp_path / "other.json"
    write_problem(other, paper_problem(2, 4, 1, PruningMode.NEURONS, MinError(max_kept=2), 5))
    assert_refused(
        run(capsys, "export", other, result_path, "-o", tmp_path / "m.onnx"),
        f"{result_path}: solution.mask.neurons: expected 4 values, got 3 (the mask does not fit "
        f"{other}: n = 4, d = 2, neurons pruning)",
    )
    weights = tmp_path / "weights.json"
    write_problem(weights, paper_problem(2, 3, 1, PruningMode.WEIGHTS, MinError(), 5))
    code, out, err = run(capsys, "export", weights, result_path, "-o", tmp_path / "m.onnx")
    assert (code, out) == (2, "")
    assert f"prunecert: error: {result_path}: solution.mask.hidden_weights: expected 6" in err
    assert not (tmp_path / "m.onnx").exists()


def test_a_result_of_another_problem_of_the_same_shape_is_refused(capsys, tmp_path, small):
    _, result_path = small
    other = paper_problem(2, 3, 2, PruningMode.NEURONS, MinError(max_kept=2), 5)
    other_path = tmp_path / "seed2.json"
    write_problem(other_path, other)
    claimed = json.loads(result_path.read_text())["solution"]["error"]
    mask = convert.parse_result(
        convert.parse_json(result_path.read_text(), solve_pb2.SolveResult)
    ).solution.mask
    actual = certify_mask(other, mask).error_upper
    assert_refused(
        run(capsys, "export", other_path, result_path, "-o", tmp_path / "m.onnx"),
        f"{result_path}: states error {claimed!r} for its mask, but the mask's exact error on "
        f"{other_path} is {actual!r}: the result is not of this problem",
    )


def test_a_result_without_a_mask_is_refused_with_its_status(capsys, tmp_path):
    problem = paper_problem(2, 3, 1, PruningMode.NEURONS, MinKept(max_error=1e-9), 5)
    problem_path, result_path = solved(capsys, tmp_path, problem, expected_code=4)
    detail = json.loads(result_path.read_text()).get("detail", "")
    why = f": {detail}" if detail else ""
    assert_refused(
        run(capsys, "export", problem_path, result_path, "-o", tmp_path / "m.onnx"),
        f"{result_path}: has no solution.mask to export (status INFEASIBLE{why})",
    )


def test_bad_files_and_flags_are_refused_naming_them(capsys, tmp_path, small):
    problem_path, result_path = small
    assert_refused(
        run(capsys, "export", problem_path, result_path, "-o", tmp_path / "m.pt"),
        f"-o: {tmp_path / 'm.pt'}: unknown format '.pt'; expected .onnx, .npz, .safetensors",
    )
    assert_refused(
        run(capsys, "export", problem_path, result_path, "-o", tmp_path / "no" / "m.onnx"),
        f"-o: cannot write {tmp_path / 'no' / 'm.onnx'}: No such file or directory",
    )
    assert_refused(
        run(capsys, "export", problem_path, result_path, "--torch-masks", tmp_path / "m.npz"),
        f"--torch-masks: {tmp_path / 'm.npz'}: unknown format '.npz'; expected .safetensors",
    )
    assert_refused(
        run(capsys, "export", problem_path, result_path),
        "-o: give the file to write (or --torch-masks FILE)",
    )
    assert_refused(
        run(
            capsys,
            "export",
            problem_path,
            result_path,
            "-o",
            tmp_path / "m.npz",
            "--layers",
            "a",
            "b",
        ),
        "--layers: names the modules of .safetensors and .onnx files and of --torch-masks; .npz "
        "arrays are always W1, b1, W2, b2",
    )
    assert_refused(
        run(
            capsys, "export", problem_path, result_path, "-o", tmp_path / "m.onnx", "--layers", "a"
        ),
        "--layers: expected two module names (hidden, output), got 1",
    )
    # The problem where the result belongs, and a missing file.
    code, out, err = run(capsys, "export", problem_path, problem_path, "-o", tmp_path / "m.onnx")
    assert (code, out) == (2, "")
    assert err.startswith(f"prunecert: error: {problem_path}: not valid SolveResult JSON")
    assert_refused(
        run(capsys, "export", problem_path, tmp_path / "none.json", "-o", tmp_path / "m.onnx"),
        f"file: cannot read {tmp_path / 'none.json'}: No such file or directory",
    )
    assert not (tmp_path / "m.onnx").exists()
