"""The example files in examples/ (issue 11): a samples problem, an explicit-problems batch spec
and a masks.jsonl, used as a newcomer would: `prunecert solve` on the problem, `batch submit
--follow` and `batch certify --follow` on a real server. Each answer is compared with the brute
force over every mask."""

from __future__ import annotations

import csv
import io
import json
from fractions import Fraction

import pytest
from google.protobuf import json_format

from prunecert.v1 import jobs_pb2, problem_pb2, solve_pb2
from solver.core.parameters import SolveParameters
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.io import convert
from tests.support.reference import exact_error, table
from tests.support.servers import REPO, cli, serving

pytestmark = pytest.mark.timeout(240)

EXAMPLES = REPO / "examples"
TOL = Fraction(1, 10**6)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("examples"), "--max-concurrent", "1") as served:
        yield served


def test_the_samples_problem_solves_to_the_brute_force_optimum():
    problem = convert.problem_from_json((EXAMPLES / "samples_problem.json").read_text())
    assert type(problem.target).__name__ == "Samples"
    proc = cli("solve", str(EXAMPLES / "samples_problem.json"), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "SOLVE_STATUS_OPTIMAL"
    best = table(problem).min_error(problem.objective.max_kept)
    assert abs(Fraction(result["solution"]["error"]) - best) <= TOL


def test_the_batch_spec_runs_as_a_job_and_every_item_is_optimal(server):
    spec = convert.parse_json((EXAMPLES / "batch_spec.json").read_text(), jobs_pb2.SubmitJobRequest)
    problems = [convert.parse_problem(p) for p in spec.problems.problems]
    proc = cli("batch", "submit", str(EXAMPLES / "batch_spec.json"), "--follow",
               "--progress-every", "0", "--format", "csv", "--remote", server.remote)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(rows) == len(problems) == 2
    neurons, weights = problems
    row_of = {int(r["index"]): r for r in rows}
    assert row_of[0]["status"] == row_of[1]["status"] == "OPTIMAL", rows
    # Neurons mode: the brute force over all 2^6 masks.
    best = table(neurons).min_error(neurons.objective.max_kept)
    assert abs(Fraction(row_of[0]["error"]) - best) <= TOL
    # Weights mode has 2^24 masks: a second backend (a float MIP) is the reference.
    reference = solve(weights, SolveParameters(backend="highs", time_limit_seconds=60))
    assert reference.status == SolveStatus.OPTIMAL
    assert int(row_of[1]["kept"]) == reference.solution.kept
    assert exact_error(weights, reference.solution.mask) <= Fraction(weights.objective.max_error)


def test_masks_jsonl_certifies_every_line(server):
    lines = (EXAMPLES / "masks.jsonl").read_text().splitlines()
    proc = cli("batch", "certify", str(EXAMPLES / "masks.jsonl"), "--follow",
               "--progress-every", "0", "--format", "csv", "--remote", server.remote)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = sorted(csv.DictReader(io.StringIO(proc.stdout)), key=lambda r: int(r["index"]))
    assert len(rows) == len(lines) == 2
    for row, line in zip(rows, lines, strict=True):
        record = json.loads(line)
        problem = convert.parse_problem(
            json_format.ParseDict(record["problem"], problem_pb2.Problem())
        )
        mask = convert.parse_mask(json_format.ParseDict(record["mask"], solve_pb2.Mask()), problem)
        assert abs(Fraction(row["error"]) - exact_error(problem, mask)) <= Fraction(1, 10**12)
