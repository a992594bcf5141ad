"""`batch submit` with --time-limit, --backend, --tolerance and --request-id (issue 13, item 10),
and `batch watch` off a terminal (item 5): a real server runs the job."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from prunecert.v1 import jobs_pb2
from solver.cli.app import main
from solver.cli.batch import _apply_parameters
from solver.core.problem import MinError, PruningMode
from solver.instances.generate import paper_problem
from solver.io import convert
from tests.support.servers import Served, cli, free_port, serving

pytestmark = pytest.mark.timeout(240)


def spec_with(problems, parameters: dict | None = None) -> dict:
    spec: dict = {
        "problems": {
            "problems": [json.loads(convert.to_json(convert.problem_to_proto(p))) for p in problems]
        }
    }
    if parameters:
        spec["parameters"] = parameters
    return spec


def small(seed: int):
    return paper_problem(2, 4, seed, PruningMode.NEURONS, MinError(max_kept=2), points_per_axis=5)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("batch_cli"), "--max-concurrent", "1") as served:
        yield served


def test_submit_flags_override_the_spec_and_reach_the_solves(server, tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(spec_with([small(1), small(2)], {"backend": "cpsat"})))
    submit = cli(
        "batch", "submit", str(spec), "--backend", "highs", "--tolerance", "1e-7",
        "--time-limit", "60", "--request-id", "flags-1", "--remote", server.remote,
    )  # fmt: skip
    assert submit.returncode == 0, submit.stderr
    job = submit.stdout.splitlines()[-1]
    assert re.fullmatch(r"[0-9a-f]+", job), submit.stdout
    again = cli("batch", "submit", str(spec), "--request-id", "flags-1", "--remote", server.remote)
    assert again.stdout.splitlines()[-1] == job  # --request-id: the same job back

    watch = cli("batch", "watch", job, "--progress-every", "0.05", "--remote", server.remote)
    assert watch.returncode == 0, watch.stderr
    assert "\r" not in watch.stderr  # a pipe: plain lines, no bar
    assert "SUCCEEDED" in watch.stdout
    for text in watch.stderr.splitlines():
        assert re.fullmatch(r"\d+/2 items \(\d+%\)  failed \d+  running \d+  \d+\.\ds", text), text

    results = cli("batch", "results", job, "--remote", server.remote)
    assert results.returncode == 0, results.stderr
    items = [json.loads(line) for line in results.stdout.splitlines()]
    assert len(items) == 2
    for item in items:
        result = item["result"]
        assert result["status"] == "SOLVE_STATUS_OPTIMAL"
        assert result["stats"]["backend"] == "highs"  # the flag won over the spec's cpsat


def test_certify_takes_the_same_flags(server, tmp_path):
    problem = small(3)
    mask = {"neurons": [True, False, True, False]}
    masks = tmp_path / "masks.jsonl"
    record = {"problem": json.loads(convert.to_json(convert.problem_to_proto(problem)))}
    masks.write_text(json.dumps({**record, "mask": mask}) + "\n")
    proc = cli(
        "batch", "certify", str(masks), "--backend", "highs", "--progress-every", "0",
        "--remote", server.remote,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr
    [header, row] = proc.stdout.splitlines()
    assert header.split()[:2] == ["index", "kept"] and row.split()[-1] == "OPTIMAL"


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (
            ["--time-limit", "-1"],
            "prunecert: error: --time-limit: must be a finite number >= 0 "
            "(parameters.time_limit_seconds)",
        ),
        (
            ["--tolerance", "nan"],
            "prunecert: error: --tolerance: must be a finite number >= 0 (parameters.tolerance)",
        ),
    ],
)
@pytest.mark.parametrize("command", ["submit", "certify"])
def test_bad_flags_are_refused_before_anything_is_sent(tmp_path, capsys, command, flags, line):
    spec = tmp_path / "spec.json"
    if command == "submit":
        spec.write_text(json.dumps(spec_with([small(1)])))
    else:
        record = {"problem": json.loads(convert.to_json(convert.problem_to_proto(small(1))))}
        spec.write_text(json.dumps({**record, "mask": {"neurons": [True] * 4}}) + "\n")
    # No server listens there: the flags are refused before any call.
    nobody = f"127.0.0.1:{free_port()}"
    code = main(["batch", command, str(spec), *flags, "--remote", nobody])
    out, err = capsys.readouterr()
    assert (code, out, err) == (2, "", line + "\n")


def test_apply_parameters_keeps_the_spec_values_the_flags_leave_unset():
    request = jobs_pb2.SubmitJobRequest()
    request.parameters.backend = "scip"
    request.parameters.time_limit_seconds = 9.0
    request.parameters.threads = 3

    class Flags:
        time_limit = None
        backend = None
        tolerance = 1e-8

    _apply_parameters(Flags, request)
    assert request.parameters.backend == "scip"
    assert request.parameters.time_limit_seconds == 9.0
    assert request.parameters.threads == 3
    assert request.parameters.tolerance == 1e-8
    Flags.backend, Flags.time_limit = "highs", 5.0
    _apply_parameters(Flags, request)
    assert (request.parameters.backend, request.parameters.time_limit_seconds) == ("highs", 5.0)
