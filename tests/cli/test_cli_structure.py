"""The CLI's structure: what a command imports, which errors are usage errors (exit 2, one line
per violation, no traceback) and which are bugs (a traceback), and the client's dependencies."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from solver.cli import backends as backends_cli
from solver.cli.app import main
from solver.cli.common import RemoteFailure, violation_line
from solver.core.errors import FieldViolation, InvalidProblemError
from solver.core.problem import MinError, Pareto, PruningMode
from solver.instances.generate import paper_problem
from solver.io import convert
from tests.support.servers import REPO


def python(code: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter from the repository (nothing imported beforehand)."""
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def problem_json(objective=None) -> dict:
    problem = paper_problem(2, 3, 1, PruningMode.NEURONS, objective or MinError(), 5)
    return json.loads(convert.to_json(convert.problem_to_proto(problem)))


def write_spec(tmp_path, spec: dict):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def assert_usage_error(code: int, out: str, err: str, line: str) -> None:
    assert code == 2
    assert out == ""
    assert err == line + "\n"


# -- imports ---------------------------------------------------------------------------------------


def test_local_commands_import_neither_grpc_nor_the_client(tmp_path):
    problem = tmp_path / "p.json"
    proc = python(
        "import contextlib, io, sys\n"
        "from solver.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    assert main(['generate', 'paper', '--d', '1', '--n', '2', '--seed', '1',\n"
        "                 '--pruning', 'neurons']) == 0\n"
        f"open({str(problem)!r}, 'w').write(out.getvalue())\n"
        f"assert main(['solve', {str(problem)!r}, '--json']) == 0\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('grpc', 'prunecert_client'))\n"
        "assert not loaded, loaded\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert '"status": "SOLVE_STATUS_OPTIMAL"' in proc.stdout


def test_the_client_loads_core_and_io_only():
    proc = python(
        "import sys\n"
        "import prunecert_client\n"
        "inner = ('solver.engine', 'solver.backends', 'solver.instances', 'solver.search',\n"
        "         'solver.exact', 'solver.formulation', 'solver.jobs', 'solver.service')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(inner))\n"
        "assert not loaded, loaded\n"
    )
    assert proc.returncode == 0, proc.stderr


# -- which errors are usage errors -----------------------------------------------------------------


def test_a_bug_is_a_traceback_not_a_usage_error():
    # A ValueError from the code (not an InvalidProblemError) is a bug: it must not look like
    # bad input (exit 2, one line), but surface with its traceback.
    proc = python(
        "import sys\n"
        "from solver.cli import generate\n"
        "def broken(*args, **kwargs):\n"
        "    raise ValueError('an internal bug')\n"
        "generate.paper_problem = broken\n"
        "from solver.cli import main\n"
        "sys.exit(main(['generate', 'paper', '--d', '1', '--n', '2', '--seed', '1',\n"
        "               '--pruning', 'neurons']))\n"
    )
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "ValueError: an internal bug" in proc.stderr
    assert "prunecert: error:" not in proc.stderr


def test_a_violation_leads_with_its_flag_then_names_the_field(tmp_path, capsys):
    # Issue 13: errors for flags name the flag first (what the user typed), the field after.
    assert violation_line(FieldViolation("--n", "bad", "--n")) == "prunecert: error: --n: bad"
    assert violation_line(FieldViolation("file", "bad")) == "prunecert: error: file: bad"
    assert (
        violation_line(FieldViolation("parameters.tolerance", "bad", "--tolerance"))
        == "prunecert: error: --tolerance: bad (parameters.tolerance)"
    )
    # A server's violations carry no flag: the parameters' flags are known to the CLI.
    assert (
        violation_line(FieldViolation("parameters.threads", "must be >= 0"))
        == "prunecert: error: --threads: must be >= 0 (parameters.threads)"
    )
    path = tmp_path / "p.json"
    path.write_text(json.dumps(problem_json()))
    code, out, err = run(capsys, "solve", str(path), "--tolerance", "-0.5")
    assert_usage_error(
        code,
        out,
        err,
        "prunecert: error: --tolerance: must be a finite number >= 0 (parameters.tolerance)",
    )


def test_a_remote_failure_prints_each_violation_with_its_exit_code(capsys, monkeypatch):
    def refused(args):
        raise RemoteFailure([("problem.network", "bad"), ("", "and more")], 2)

    monkeypatch.setattr(backends_cli, "run", refused)
    code, out, err = run(capsys, "backends")
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "prunecert: error: problem.network: bad",
        "prunecert: error: and more",
    ]


# -- compare ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--time-limit", "--heuristic-time-limit"])
@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_compare_bad_time_limit(tmp_path, capsys, flag, value):
    spec = write_spec(tmp_path, {"problems": {"problems": [problem_json()]}})
    out_csv = tmp_path / "rows.csv"
    code, out, err = run(capsys, "compare", str(spec), flag, value, "--out", str(out_csv))
    assert_usage_error(
        code, out, err, f"prunecert: error: {flag}: must be a positive number of seconds"
    )
    assert not out_csv.exists()


def test_compare_refuses_certify_items(tmp_path, capsys):
    item = {"problem": problem_json(), "mask": {"neurons": [True, False, True]}}
    spec = write_spec(tmp_path, {"certify": {"items": [item]}})
    code, out, err = run(capsys, "compare", str(spec), "--out", str(tmp_path / "rows.csv"))
    assert code == 2 and out == ""
    assert err.splitlines()[-1] == (
        "prunecert: error: spec: compare takes a family or a list of problems, not certify items"
    )
    assert "Traceback" not in err


def test_compare_refuses_pareto(tmp_path, capsys):
    spec = write_spec(tmp_path, {"problems": {"problems": [problem_json(Pareto())]}})
    code, out, err = run(capsys, "compare", str(spec), "--out", str(tmp_path / "rows.csv"))
    assert code == 2
    assert err.splitlines()[-1] == (
        "prunecert: error: objective: compare supports min_error and min_kept, not pareto"
    )
    assert "Traceback" not in err


def test_run_comparison_names_an_unknown_heuristic():
    from prunecert.v1 import jobs_pb2
    from solver.studies.compare import run_comparison

    request = convert.parse_json(
        json.dumps({"problems": {"problems": [problem_json()]}}), jobs_pb2.SubmitJobRequest
    )
    with pytest.raises(InvalidProblemError) as info:
        run_comparison(request, heuristics=["magnitude", "clairvoyant"])
    (violation,) = info.value.violations
    assert violation.field == "heuristics" and violation.flag == "--heuristics"
    assert violation.description.startswith("unknown 'clairvoyant'; valid: ")


# -- batch and serve: checked before anything is sent or served ------------------------------------


def test_batch_certify_bad_line_is_a_usage_error(tmp_path, capsys):
    masks = tmp_path / "masks.jsonl"
    masks.write_text('{"problem": {}, "mask": {}}\nnot json\n')
    # No server listens there: the file is read (and refused) before any call is made.
    code, out, err = run(capsys, "batch", "certify", str(masks), "--remote", "127.0.0.1:9")
    assert code == 2 and out == ""
    assert err.startswith(
        f'prunecert: error: {masks}:2: expected {{"problem": ..., "mask": ...}}: '
    )
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--tls-cert", "cert.pem"], "--tls-cert"),
        (["--max-concurrent", "0"], "--max-concurrent"),
        (["--max-time-limit", "0"], "--max-time-limit"),
        (["--host", "0.0.0.0"], "--host"),
    ],
)
def test_serve_refuses_bad_settings_before_serving(capsys, tmp_path, argv, flag):
    code, out, err = run(capsys, "serve", "--port", "0", "--data-dir", str(tmp_path), *argv)
    assert code == 2 and out == ""
    assert err.startswith("prunecert: error: ") and flag in err
    assert "Traceback" not in err
