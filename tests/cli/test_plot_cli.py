"""`prunecert plot PROBLEM RESULT -o FILE`: problems generated and solved with the CLI, their
results drawn for d = 1, 2 and 3 (min_error and pareto) into real image files read back with
matplotlib; bad input is one line naming the file's field or the flag, exit 2."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import pytest
from matplotlib.image import imread

from solver.cli.app import main
from solver.io import convert
from solver.io.figure_data import figure_data
from tests.support.readme import run_block, shell_block
from tests.support.servers import REPO

README = REPO / "README.md"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def solved(tmp_path, capsys, d, n, pruning, objective="min_error", k=9, name="p"):
    """A generated problem and its `solve --json` result, as files."""
    code, out, err = run(
        capsys,
        *("generate", "paper", "--d", d, "--n", n, "--seed", 1, "--pruning", pruning),
        *("--objective", objective, "--points-per-axis", k),
    )
    assert code == 0, err
    problem = tmp_path / f"{name}.json"
    problem.write_text(out)
    code, out, err = run(capsys, "solve", problem, "--json")
    assert code == 0, err  # OPTIMAL
    result = tmp_path / f"{name}.result.json"
    result.write_text(out)
    return problem, result


def assert_image(path) -> None:
    pixels = imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels.std() > 0  # something is drawn


@pytest.mark.parametrize(
    ("d", "n", "pruning", "objective", "k"),
    [
        (1, 6, "neurons", "min_error", 21),
        (1, 6, "neurons", "pareto", 21),
        (2, 8, "weights", "min_error", 9),
        (2, 8, "neurons", "pareto", 9),
        (3, 5, "weights", "pareto", 5),
    ],
)
def test_plot_writes_a_png_of_what_the_exact_evaluation_gives(
    tmp_path, capsys, d, n, pruning, objective, k
):
    problem, result = solved(tmp_path, capsys, d, n, pruning, objective, k)
    out = tmp_path / "figure.png"
    code, stdout, err = run(capsys, "plot", problem, result, "-o", out)
    assert (code, stdout, err) == (0, "", "")
    assert_image(out)
    # The figure's numbers, from the same files: the largest drawn error is the certified one.
    p = convert.problem_from_json(problem.read_text())
    r = convert.parse_result(convert.parse_json(result.read_text(), _result_type()))
    data = figure_data(p, r)
    assert data.errors.max() == r.solution.error
    assert data.draws_domain == (d <= 2)


def _result_type():
    from prunecert.v1 import solve_pb2

    return solve_pb2.SolveResult


@pytest.mark.parametrize(("suffix", "magic"), [(".pdf", b"%PDF"), (".svg", b"<?xml")])
def test_the_format_follows_the_suffix(tmp_path, capsys, suffix, magic):
    problem, result = solved(tmp_path, capsys, 2, 4, "neurons", k=5)
    out = tmp_path / f"figure{suffix}"
    assert run(capsys, "plot", problem, result, "-o", out)[0] == 0
    assert out.read_bytes().startswith(magic)


def test_format_overrides_the_suffix(tmp_path, capsys):
    problem, result = solved(tmp_path, capsys, 2, 4, "neurons", k=5)
    out = tmp_path / "figure.image"
    assert run(capsys, "plot", problem, result, "-o", out, "--format", "png")[0] == 0
    assert_image(out)


def test_the_result_can_come_from_stdin(tmp_path, capsys, monkeypatch):
    problem, result = solved(tmp_path, capsys, 2, 4, "weights", k=5)
    monkeypatch.setattr(sys, "stdin", io.StringIO(result.read_text()))
    out = tmp_path / "figure.png"
    assert run(capsys, "plot", problem, "-", "-o", out)[0] == 0
    assert_image(out)


# -- bad input: one line, exit 2, naming the flag or the file's field ----------------------------


def assert_refused(capsys, argv, expected: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") >= 1 and err.startswith("prunecert: error: "), err
    assert re.search(expected, err), err


def test_an_unknown_suffix_is_refused_naming_o(tmp_path, capsys):
    problem, result = solved(tmp_path, capsys, 2, 4, "neurons", k=5)
    assert_refused(
        capsys,
        ("plot", problem, result, "-o", tmp_path / "figure.gif"),
        r"^prunecert: error: -o: cannot tell the format of '.*figure\.gif'",
    )
    assert not (tmp_path / "figure.gif").exists()


def test_an_unwritable_output_is_refused_naming_o(tmp_path, capsys):
    problem, result = solved(tmp_path, capsys, 2, 4, "neurons", k=5)
    out = tmp_path / "missing" / "figure.png"
    assert_refused(
        capsys, ("plot", problem, result, "-o", out), r"^prunecert: error: -o: cannot write"
    )


def test_a_result_that_is_not_json_is_refused_naming_the_file(tmp_path, capsys):
    problem, _ = solved(tmp_path, capsys, 2, 4, "neurons", k=5)
    bad = tmp_path / "bad.json"
    bad.write_text("status OPTIMAL\n")
    assert_refused(
        capsys,
        ("plot", problem, bad, "-o", tmp_path / "f.png"),
        rf"^prunecert: error: {re.escape(str(bad))}: not valid SolveResult JSON",
    )


def test_a_missing_result_file_is_refused(tmp_path, capsys):
    problem, _ = solved(tmp_path, capsys, 2, 4, "neurons", k=5)
    assert_refused(
        capsys,
        ("plot", problem, tmp_path / "nope.json", "-o", tmp_path / "f.png"),
        r"^prunecert: error: file: cannot read .*nope\.json",
    )


def test_a_result_of_the_other_pruning_mode_is_refused_naming_its_mask(tmp_path, capsys):
    neurons, _ = solved(tmp_path, capsys, 2, 4, "neurons", k=5, name="n")
    _, weights_result = solved(tmp_path, capsys, 2, 4, "weights", k=5, name="w")
    assert_refused(
        capsys,
        ("plot", neurons, weights_result, "-o", tmp_path / "f.png"),
        rf"^prunecert: error: {re.escape(str(weights_result))}: solution\.mask",
    )


def test_a_result_of_another_problem_is_refused_naming_its_error(tmp_path, capsys):
    # Same shape and mode, another seed: the masks parse, their errors are not this problem's.
    problem, _ = solved(tmp_path, capsys, 2, 8, "neurons", name="a")
    code, out, err = run(
        capsys,
        *("generate", "paper", "--d", 2, "--n", 8, "--seed", 2, "--pruning", "neurons"),
        *("--points-per-axis", 9),
    )
    assert code == 0, err
    other = tmp_path / "other.json"
    other.write_text(out)
    code, out, err = run(capsys, "solve", other, "--json")
    assert code == 0, err
    other_result = tmp_path / "other.result.json"
    other_result.write_text(out)
    assert_refused(
        capsys,
        ("plot", problem, other_result, "-o", tmp_path / "f.png"),
        rf"^prunecert: error: {re.escape(str(other_result))}: solution\.error: .* belongs to "
        "another problem",
    )


def test_a_result_without_a_mask_is_refused_naming_solution(tmp_path, capsys):
    problem, result = solved(tmp_path, capsys, 2, 4, "neurons", k=5)
    message = json.loads(result.read_text())
    del message["solution"]
    message["status"] = "SOLVE_STATUS_NO_SOLUTION"
    result.write_text(json.dumps(message))
    assert_refused(
        capsys,
        ("plot", problem, result, "-o", tmp_path / "f.png"),
        rf"^prunecert: error: {re.escape(str(result))}: solution: the result \(NO_SOLUTION\) "
        "has no mask to draw",
    )


# -- solve --plot ---------------------------------------------------------------------------------


def test_solve_plot_draws_the_result_it_prints(tmp_path, capsys):
    problem, _ = solved(tmp_path, capsys, 2, 6, "weights", k=7)
    figure = tmp_path / "solved.png"
    code, out, err = run(capsys, "solve", problem, "--json", "--plot", figure)
    assert code == 0, err
    assert_image(figure)
    assert json.loads(out)["status"] == "SOLVE_STATUS_OPTIMAL"  # stdout keeps the result


def test_solve_plot_with_an_unknown_suffix_fails_before_solving(tmp_path, capsys):
    problem, _ = solved(tmp_path, capsys, 2, 4, "neurons", k=5)
    code, out, err = run(capsys, "solve", problem, "--plot", tmp_path / "x.bmp")
    assert code == 2 and out == "" and err.startswith("prunecert: error: --plot"), err
    assert not (tmp_path / "x.bmp").exists()


# -- what loads, and the README -------------------------------------------------------------------


def test_solve_does_not_load_matplotlib(tmp_path, capsys):
    problem, _ = solved(tmp_path, capsys, 2, 4, "neurons", k=5)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\nfrom solver.cli import main\n"
            f"main(['solve', {str(problem)!r}])\n"
            "assert 'matplotlib' not in sys.modules\n",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


def test_the_readme_plot_commands_run_as_written(tmp_path):
    proc = run_block(shell_block("### Pictures of a result"), tmp_path)
    assert proc.returncode == 0, proc.stderr
    written = sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".png", ".pdf", ".svg"))
    assert written, proc.stdout
    magic = {".pdf": b"%PDF", ".svg": b"<?xml"}
    for name in written:
        path = tmp_path / name
        if path.suffix == ".png":
            assert_image(path)
        else:
            assert path.read_bytes().startswith(magic[path.suffix])
