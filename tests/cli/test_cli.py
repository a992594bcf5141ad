"""The `prunecert` command line, in-process through solver.cli.app and as a real subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import json_format

from prunecert.v1 import solve_pb2
from solver.cli.app import main
from solver.core.problem import Activation, BoxGrid, MinError, MinKept, Neuron, Pareto, PruningMode
from solver.instances.generate import paper_problem
from solver.io import convert
from tests.support.servers import cli

K = "5"  # points per axis: keeps every solve well under a second

# `generate paper` for a small neurons-mode instance; tests append the flags they exercise.
SMALL_PAPER = ("generate", "paper", "--d", "2", "--n", "4", "--seed", "1", "--pruning", "neurons")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def generate(capsys, *extra: str, d=2, n=6, seed=1, pruning="weights") -> str:
    code, out, err = run(
        capsys,
        "generate",
        "paper",
        "--d",
        str(d),
        "--n",
        str(n),
        "--seed",
        str(seed),
        "--pruning",
        pruning,
        *extra,
    )
    assert code == 0, err
    assert err == ""
    return out


def write_problem(tmp_path: Path, capsys, *extra: str, name="problem.json", **kw) -> Path:
    path = tmp_path / name
    path.write_text(generate(capsys, "--points-per-axis", K, *extra, **kw))
    return path


def bad_matrix_file(tmp_path: Path, capsys) -> Path:
    """A paper problem whose hidden_weights claims 12 x 2 but holds 23 values."""
    doc = json.loads(generate(capsys, "--points-per-axis", K))
    doc["network"]["hiddenWeights"] = {"rows": 12, "cols": 2, "values": [0.5] * 23}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    return path


def parse_result(text: str) -> solve_pb2.SolveResult:
    msg = solve_pb2.SolveResult()
    json_format.Parse(text, msg)
    return msg


# -- generate ------------------------------------------------------------------------------------


def test_generate_matches_paper_problem(capsys):
    out = generate(capsys, "--points-per-axis", K, d=2, n=6, seed=1, pruning="weights")
    problem = convert.problem_from_json(out)
    want = paper_problem(2, 6, 1, PruningMode.WEIGHTS, points_per_axis=5)
    np.testing.assert_array_equal(problem.network.hidden_weights, want.network.hidden_weights)
    np.testing.assert_array_equal(problem.network.output_weights, want.network.output_weights)
    assert problem.network.hidden_biases is None and want.network.hidden_biases is None
    assert problem.network.output_bias == want.network.output_bias == 0.0
    assert problem.network.output_activation == want.network.output_activation == Activation.RELU
    assert isinstance(problem.target, Neuron)
    np.testing.assert_array_equal(problem.target.weights, want.target.weights)
    assert problem.target.bias == want.target.bias
    assert problem.target.activation == want.target.activation
    assert problem.domain == want.domain == BoxGrid(-1.0, 1.0, 5)
    assert problem.pruning == PruningMode.WEIGHTS
    assert problem.objective == MinError()


def test_generate_default_points_per_axis(capsys):
    assert convert.problem_from_json(generate(capsys, d=2)).domain.points_per_axis == 41
    assert convert.problem_from_json(generate(capsys, d=3, n=2)).domain.points_per_axis == 11


def test_generate_is_deterministic_and_seeded(capsys):
    a = generate(capsys, "--points-per-axis", K, seed=7)
    b = generate(capsys, "--points-per-axis", K, seed=7)
    c = generate(capsys, "--points-per-axis", K, seed=8)
    assert a == b
    assert a != c


@pytest.mark.parametrize("pruning", ["neurons", "weights"])
def test_generate_is_nested_in_n(capsys, pruning):
    small = convert.problem_from_json(generate(capsys, n=6, seed=3, pruning=pruning))
    large = convert.problem_from_json(generate(capsys, n=9, seed=3, pruning=pruning))
    assert small.network.hidden_weights.shape == (6, 2)
    assert large.network.hidden_weights.shape == (9, 2)
    np.testing.assert_array_equal(small.network.hidden_weights, large.network.hidden_weights[:6])
    np.testing.assert_array_equal(small.network.output_weights, large.network.output_weights[:6])
    np.testing.assert_array_equal(small.target.weights, large.target.weights)
    # The units beyond the sixth are not simply copies.
    assert not np.array_equal(large.network.hidden_weights[6:], large.network.hidden_weights[:3])


@pytest.mark.parametrize(
    "extra, objective",
    [
        (["--max-kept", "3"], MinError(max_kept=3)),
        (["--objective", "min_kept", "--max-error", "0.25"], MinKept(max_error=0.25)),
        (["--objective", "pareto"], Pareto()),
        (["--objective", "pareto", "--max-kept", "2"], Pareto(max_kept=2)),
    ],
)
def test_generate_objectives(capsys, extra, objective):
    problem = convert.problem_from_json(generate(capsys, *extra, pruning="neurons"))
    assert problem.objective == objective
    assert problem.pruning == PruningMode.NEURONS


def test_generate_min_kept_needs_max_error(capsys):
    code, out, err = run(
        capsys,
        *SMALL_PAPER,
        "--objective",
        "min_kept",
    )
    assert code == 2
    assert out == ""
    assert err == "prunecert: error: --max-error: is required with --objective min_kept\n"


def test_generate_rejects_zero_units(capsys):
    code, out, err = run(
        capsys, "generate", "paper", "--d", "2", "--n", "0", "--seed", "1", "--pruning", "neurons"
    )
    assert code == 2
    assert out == ""
    assert err.startswith("prunecert: error: ")


def test_generate_rejects_a_problem_solve_would_reject(capsys):
    code, out, err = run(
        capsys,
        *SMALL_PAPER,
        "--points-per-axis",
        "1",
    )
    assert code == 2
    assert "--points-per-axis: must be at least 2" in err


def test_generate_rejects_negative_max_error(capsys):
    code, out, err = run(
        capsys,
        *SMALL_PAPER,
        "--objective",
        "min_kept",
        "--max-error",
        "-1",
    )
    assert code == 2
    assert "max_error" in err or "--max-error" in err


def test_generate_negative_max_kept_names_the_flag(capsys):
    code, out, err = run(
        capsys,
        *SMALL_PAPER,
        "--max-kept",
        "-1",
    )
    assert code == 2
    assert "max-kept" in err or "max_kept" in err


# -- solve ---------------------------------------------------------------------------------------


def test_solve_prints_status(tmp_path, capsys):
    path = write_problem(tmp_path, capsys, n=6)
    code, out, err = run(capsys, "solve", str(path))
    assert code == 0, err
    assert err == ""
    lines = out.splitlines()
    assert re.fullmatch(r"status\s+OPTIMAL", lines[0]), out
    assert any(re.fullmatch(r"problem\s+weights pruning, MinError, n=6, d=2", ln) for ln in lines)
    assert any(ln.startswith("error ") for ln in lines)
    assert any(ln.startswith("bound ") for ln in lines)


@pytest.mark.parametrize("pruning", ["neurons", "weights"])
def test_solve_json_is_a_solve_result(tmp_path, capsys, pruning):
    path = write_problem(tmp_path, capsys, n=6, pruning=pruning)
    code, out, err = run(capsys, "solve", str(path), "--json")
    assert code == 0, err
    result = parse_result(out)
    assert result.status == solve_pb2.SOLVE_STATUS_OPTIMAL
    assert result.HasField("solution")
    assert result.solution.error >= result.objective_bound
    assert result.solution.error - result.objective_bound <= result.tolerance + 1e-12
    mask = result.solution.mask
    if pruning == "neurons":
        assert len(mask.neurons) == 6
        assert result.solution.kept == sum(mask.neurons)
    else:
        assert len(mask.hidden_weights) == 12 and len(mask.output_weights) == 6
    assert result.stats.backend == "cpsat"
    assert result.stats.points_total == 25
    # The mask reparses against the problem it was solved for.
    problem = convert.problem_from_json(path.read_text())
    convert.parse_mask(mask, problem)


def test_solve_json_agrees_with_text(tmp_path, capsys):
    path = write_problem(tmp_path, capsys, n=5, pruning="neurons")
    _, text, _ = run(capsys, "solve", str(path))
    _, js, _ = run(capsys, "solve", str(path), "--json")
    result = parse_result(js)
    kept = re.search(r"^kept\s+(\d+) of 5 units$", text, re.M)
    assert kept is not None, text
    assert int(kept.group(1)) == result.solution.kept


def test_solve_json_min_kept(tmp_path, capsys):
    path = write_problem(
        tmp_path, capsys, "--objective", "min_kept", "--max-error", "10", n=4, pruning="neurons"
    )
    code, out, err = run(capsys, "solve", str(path), "--json")
    assert code == 0, err
    result = parse_result(out)
    assert result.status == solve_pb2.SOLVE_STATUS_OPTIMAL
    assert result.solution.error <= 10
    assert result.objective_bound == result.solution.kept


def test_solve_json_pareto(tmp_path, capsys):
    path = write_problem(tmp_path, capsys, "--objective", "pareto", n=4, pruning="neurons")
    code, out, err = run(capsys, "solve", str(path), "--json")
    assert code == 0, err
    result = parse_result(out)
    assert result.status == solve_pb2.SOLVE_STATUS_OPTIMAL
    kept = [p.kept for p in result.frontier]
    errors = [p.error for p in result.frontier]
    assert kept and kept == sorted(kept) and len(set(kept)) == len(kept)
    assert all(a > b for a, b in pairwise(errors))
    assert all(p.error >= p.error_bound for p in result.frontier)


def test_solve_bad_matrix(tmp_path, capsys):
    code, out, err = run(capsys, "solve", str(bad_matrix_file(tmp_path, capsys)))
    assert code == 2
    assert out == ""
    assert err == "prunecert: error: network.hidden_weights: expected 12 x 2 values, got 23\n"


def test_solve_lists_every_violation(tmp_path, capsys):
    doc = json.loads(generate(capsys, "--points-per-axis", K))
    doc["pruning"] = "PRUNING_MODE_UNSPECIFIED"
    doc["domain"]["boxGrid"]["pointsPerAxis"] = 1
    path = tmp_path / "two.json"
    path.write_text(json.dumps(doc))
    code, out, err = run(capsys, "solve", str(path))
    assert code == 2
    assert err.splitlines() == [
        "prunecert: error: domain.box_grid.points_per_axis: must be at least 2, got 1",
        "prunecert: error: pruning: must be PRUNING_MODE_NEURONS or PRUNING_MODE_WEIGHTS",
    ]


def test_solve_missing_file(tmp_path, capsys):
    path = tmp_path / "nope.json"
    code, out, err = run(capsys, "solve", str(path))
    assert code == 2
    assert out == ""
    assert err.startswith(f"prunecert: error: file: cannot read {path}")


def test_solve_directory(tmp_path, capsys):
    code, _, err = run(capsys, "solve", str(tmp_path))
    assert code == 2
    assert err.startswith("prunecert: error: file: cannot read")


@pytest.mark.parametrize("text", ["{", "", "[1, 2", '{"network": {"hiddenWeights": 3}}'])
def test_solve_invalid_json(tmp_path, capsys, text):
    path = tmp_path / "bad.json"
    path.write_text(text)
    code, out, err = run(capsys, "solve", str(path))
    assert code == 2
    assert out == ""
    assert err.startswith("prunecert: error: problem: not valid Problem JSON")
    assert len(err.splitlines()) == 1


def test_solve_unknown_field(tmp_path, capsys):
    doc = json.loads(generate(capsys, "--points-per-axis", K))
    doc["extra"] = True
    path = tmp_path / "extra.json"
    path.write_text(json.dumps(doc))
    code, _, err = run(capsys, "solve", str(path))
    assert code == 2
    assert err.startswith("prunecert: error: problem: not valid Problem JSON")
    assert "extra" in err


def test_solve_undecodable_file_names_the_file(tmp_path, capsys):
    path = tmp_path / "binary.json"
    path.write_bytes(b"\xff\xfe{}")
    code, _, err = run(capsys, "solve", str(path))
    assert code == 2
    assert err.startswith(("prunecert: error: file:", "prunecert: error: problem:"))


@pytest.mark.parametrize(
    "flags, field",
    [
        (["--time-limit", "-1"], "parameters.time_limit_seconds"),
        (["--time-limit", "nan"], "parameters.time_limit_seconds"),
        (["--tolerance", "-0.5"], "parameters.tolerance"),
        (["--threads", "-2"], "parameters.threads"),
    ],
)
def test_solve_bad_parameters(tmp_path, capsys, flags, field):
    path = write_problem(tmp_path, capsys, n=3)
    code, out, err = run(capsys, "solve", str(path), *flags)
    assert code == 2
    assert out == ""
    # The flag leads, the field follows (issue 13).
    assert err.startswith(f"prunecert: error: {flags[0]}: ")
    assert err.rstrip().endswith(f"({field})")


def test_solve_unknown_backend(tmp_path, capsys):
    path = write_problem(tmp_path, capsys, n=3)
    code, out, err = run(capsys, "solve", str(path), "--backend", "gurobi9000")
    assert code == 2
    assert "unknown backend 'gurobi9000'" in err
    assert "cpsat" in err


def test_solve_named_backend(tmp_path, capsys):
    path = write_problem(tmp_path, capsys, n=3, pruning="neurons")
    code, out, err = run(capsys, "solve", str(path), "--backend", "cpsat", "--json")
    assert code == 0, err
    assert parse_result(out).stats.backend == "cpsat"


# -- other commands and usage ----------------------------------------------------------------------


def test_backends_lists_cpsat(capsys):
    code, out, err = run(capsys, "backends")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert "cpsat" in names


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["generate", "paper", "--d", "2"],
        ["generate", "paper", "--d", "2", "--n", "3", "--seed", "1", "--pruning", "units"],
        ["solve"],
    ],
)
def test_usage_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage: prunecert" in capsys.readouterr().err


# -- as a real process ----------------------------------------------------------------------------


def test_process_generate_then_solve_stdin():
    gen = cli(
        "generate",
        "paper",
        "--d",
        "2",
        "--n",
        "5",
        "--seed",
        "2",
        "--pruning",
        "neurons",
        "--points-per-axis",
        K,
    )
    assert gen.returncode == 0, gen.stderr
    assert gen.stderr == ""
    sol = cli("solve", "-", "--json", stdin=gen.stdout)
    assert sol.returncode == 0, sol.stderr
    assert "Traceback" not in sol.stderr
    result = parse_result(sol.stdout)
    assert result.status == solve_pb2.SOLVE_STATUS_OPTIMAL
    assert result.solution.error >= result.objective_bound


def test_process_bad_matrix(tmp_path, capsys):
    proc = cli("solve", str(bad_matrix_file(tmp_path, capsys)))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(
        "prunecert: error: network.hidden_weights: expected 12 x 2 values, got 23"
    )
    assert proc.stdout == ""


def test_process_missing_file(tmp_path):
    proc = cli("solve", str(tmp_path / "missing.json"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("prunecert: error: file: cannot read")


def test_process_invalid_json():
    proc = cli("solve", "-", stdin="{not json")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("prunecert: error: problem: not valid Problem JSON")


def test_process_min_kept_without_max_error():
    proc = cli(
        *SMALL_PAPER,
        "--objective",
        "min_kept",
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert "--max-error: is required with --objective min_kept" in proc.stderr


def test_ctrl_c_cancels_a_solve_and_prints_its_best_mask(tmp_path):
    # Found by the gap study: CP-SAT's own SIGINT handler aborted the process (exit 134), and a
    # KeyboardInterrupt inside Thread.join lost the result (KeyError). Now: CANCELLED, exit 130
    # (issue 13: the exit status is the result's; it was 0).
    import signal
    import time

    problem = tmp_path / "p.json"
    problem.write_text(
        convert.to_json(convert.problem_to_proto(paper_problem(2, 48, 1, PruningMode.WEIGHTS)))
    )
    cli = Path(sys.executable).with_name("prunecert")
    proc = subprocess.Popen(
        [str(cli), "solve", str(problem), "--json", "--time-limit", "300"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(5.0)  # imports done, the model built, CP-SAT searching (the solve needs minutes)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    result = json_format.Parse(out, solve_pb2.SolveResult())
    assert result.status == solve_pb2.SOLVE_STATUS_CANCELLED
    assert result.HasField("solution") and result.solution.kept > 0  # the best mask so far
