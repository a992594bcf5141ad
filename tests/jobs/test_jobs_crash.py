"""Durable jobs through real `prunecert serve --data-dir` processes (issue 4).

* The crash test: a server runs a batch, is killed with SIGKILL (its whole process group, so
  its Dask scheduler and workers die with it) once some but not all results are committed, is
  restarted on the same directory and port, and the batch completes without being resubmitted:
  every item exactly once, the results committed before the crash untouched, every result the
  same as a clean (local engine) run.
* The `prunecert batch ...` commands as real processes against a real server.

Every server is started in its own session (start_new_session=True) and its process group is
killed in a finally.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import json_format

from prunecert.v1 import jobs_pb2, problem_pb2, solve_pb2
from prunecert_client import Client
from solver.core.problem import Mask, MinError, Problem, PruningMode
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.exact.certify import certify_mask
from solver.instances.generate import paper_problem
from solver.io import convert
from tests.support.server_groups import group_members, kill_group
from tests.support.servers import REPO, Served, cli, free_port, wait_serving

pytestmark = pytest.mark.timeout(300)

N, W = PruningMode.NEURONS, PruningMode.WEIGHTS
FINAL = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED")


# -- server processes ----------------------------------------------------------------------------


@contextmanager
def serving(data_dir: Path, port: int, log: Path) -> Iterator[Served]:
    with log.open("a") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "solver.cli",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                "--max-concurrent",
                "1",
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    served = Served(proc, port, log)
    try:
        wait_serving(served)
        yield served
    finally:
        kill_group(served)


def wait_job(client: Client, job_id: str, condition, timeout: float, what: str):
    start = time.monotonic()
    while True:
        job = client.get_job(job_id)
        if condition(job):
            return job
        assert time.monotonic() - start < timeout, f"{what} not within {timeout} s: {job}"
        time.sleep(0.05)


# -- the crash test ------------------------------------------------------------------------------


def crash_problems() -> list[Problem]:
    """16 items of roughly 0.3 to 1 s each (weights mode, n = 16..19, seeds 1..4)."""
    return [paper_problem(2, n, seed, W) for n in (16, 17, 18, 19) for seed in (1, 2, 3, 4)]


def test_killed_server_resumes_the_batch_on_restart(tmp_path):
    problems = crash_problems()
    data_dir, log = tmp_path / "data", tmp_path / "serve.log"
    port = free_port()
    request_id = "crash-test-batch"

    with serving(data_dir, port, log) as first:
        with Client(first.remote) as client:
            job = client.submit_problems(problems, request_id=request_id)
            assert job.total_items == 16
            at_kill = wait_job(
                client, job.id, lambda j: j.finished_items >= 3, 120, "3 committed results"
            )
            before = {m.index: m for m in client.job_results_messages(job.id, timeout=30)}
        members = group_members(first.pgid)
        assert len(members) >= 3, "expected the server and its Dask processes in its group"
        kill_group(first)
        assert first.proc.returncode == -signal.SIGKILL
        deadline = time.monotonic() + 10
        while group_members(first.pgid):
            assert time.monotonic() < deadline, "processes of the killed group still alive"
            time.sleep(0.1)
    assert 3 <= at_kill.finished_items < 16, f"killed too late to test resumption: {at_kill}"
    assert at_kill.running_items > 0, at_kill  # items were in flight when the server died
    assert len(before) >= 3 and set(before) <= set(range(16))

    with serving(data_dir, port, log) as second, Client(second.remote) as client:
        # No resubmission: the job continues on its own.
        done = wait_job(client, job.id, lambda j: j.state in FINAL, 180, "the job to finish")
        assert done.state == "JOB_STATE_SUCCEEDED", done
        assert (done.total_items, done.succeeded_items, done.failed_items) == (16, 16, 0)
        assert done.created_time == job.created_time
        messages = list(client.job_results_messages(job.id, timeout=30))
        # The same request id still names the same, single job.
        assert client.submit_problems(problems, request_id=request_id).id == job.id
        listed = [j.id for j in client.list_jobs(page_size=1000)[0]]
        assert listed == [job.id]

    assert [m.index for m in messages] == list(range(16))  # every item, exactly once, in order
    after = {m.index: m for m in messages}
    for index, message in before.items():
        assert after[index] == message, f"committed result {index} changed after the restart"
    for m, problem in zip(messages, problems):
        assert m.problem == convert.problem_to_proto(problem)
        assert m.WhichOneof("outcome") == "solve_result", m.error
        remote = convert.parse_result(m.solve_result)
        clean = solve(problem)
        assert remote.status == clean.status == SolveStatus.OPTIMAL
        assert remote.solution.error == clean.solution.error  # bit for bit
        # Masks (and kept counts) may differ between runs when several masks tie.
        cert = certify_mask(problem, remote.solution.mask)
        assert cert.error_upper == remote.solution.error
        assert cert.kept == remote.solution.kept
        assert remote.objective_bound <= remote.solution.error


# -- the batch CLI -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_server(tmp_path_factory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("batch_cli")
    with serving(directory / "data", free_port(), directory / "serve.log") as served:
        yield served


def small(seed: int, mode: PruningMode) -> Problem:
    return paper_problem(2, 6, seed, mode, MinError(max_kept=3), points_per_axis=7)


SPEC = {
    "requestId": "cli-family",
    "family": {
        "generator": "paper",
        "d": [2],
        "n": [5, 6],
        "seeds": [1],
        "pruning": ["PRUNING_MODE_NEURONS", "PRUNING_MODE_WEIGHTS"],
        "objective": {"min_error": {"max_kept": 3}},
        "points_per_axis": 7,
    },
}


def submit_spec(served: Served, path: Path, spec: dict) -> str:
    path.write_text(json.dumps(spec))
    proc = cli("batch", "submit", str(path), "--remote", served.remote)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines, proc.stdout
    job_id = lines[-1]
    assert re.fullmatch(r"[0-9a-f]+", job_id), lines  # the id alone on the last line
    return job_id


def status_json(served: Served, job_id: str) -> tuple[dict, jobs_pb2.Job]:
    proc = cli("batch", "status", job_id, "--json", "--remote", served.remote)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    return data, json_format.Parse(proc.stdout, jobs_pb2.Job())


def test_batch_submit_status_watch_results(cli_server, tmp_path):
    job_id = submit_spec(cli_server, tmp_path / "spec.json", SPEC)
    data, job = status_json(cli_server, job_id)
    assert data["id"] == job_id and job.id == job_id
    assert data["state"] in {f"JOB_STATE_{s}" for s in ("QUEUED", "RUNNING", "SUCCEEDED")}
    assert data["totalItems"] == 4 and data["kind"] == "solve"  # a number, not a string
    assert data["requestId"] == "cli-family"

    watch = cli("batch", "watch", job_id, "--remote", cli_server.remote)
    assert watch.returncode == 0, watch.stderr
    assert job_id in watch.stdout and "SUCCEEDED" in watch.stdout and "4/4" in watch.stdout

    data, job = status_json(cli_server, job_id)
    assert data["state"] == "JOB_STATE_SUCCEEDED"
    assert job.state == jobs_pb2.JOB_STATE_SUCCEEDED
    assert (job.total_items, job.succeeded_items, job.failed_items) == (4, 4, 0)
    times = [datetime.fromisoformat(data[key]) for key in ("created", "started", "finished")]
    assert times == sorted(times) and all(t.tzinfo == UTC for t in times)
    assert "createdTime" not in data  # the deprecated doubles are for old binary clients

    # Submitting the same spec (same request id) again gives the same job.
    assert submit_spec(cli_server, tmp_path / "again.json", SPEC) == job_id

    out = tmp_path / "results.jsonl"
    proc = cli("batch", "results", job_id, "-o", str(out), "--remote", cli_server.remote)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["index"] for line in lines] == [0, 1, 2, 3]
    family = convert.parse_family(json_format.ParseDict(SPEC["family"], jobs_pb2.FamilySpec()))
    for line in lines:
        assert {"index", "problem", "result"} <= set(line)
        # The family coordinates, in the family's order (d, n, seed, pruning; pruning fastest).
        n, mode = (5, 6)[line["index"] // 2], ("NEURONS", "WEIGHTS")[line["index"] % 2]
        assert (line["d"], line["n"], line["seed"]) == (2, n, 1)
        assert line["pruning"] == f"PRUNING_MODE_{mode}"
        assert line["fullKept"] == (n if mode == "NEURONS" else 3 * n)
        problem = family.problem(line["index"])
        message = json_format.ParseDict(line["problem"], problem_pb2.Problem())
        assert message == convert.problem_to_proto(problem)
        result = convert.parse_result(
            json_format.ParseDict(line["result"], solve_pb2.SolveResult())
        )
        clean = solve(problem)
        assert result.status == clean.status == SolveStatus.OPTIMAL
        assert abs(result.solution.error - clean.solution.error) <= 1e-9
        assert certify_mask(problem, result.solution.mask).error_upper == result.solution.error

    resumed = tmp_path / "resumed.jsonl"
    proc = cli(
        "batch",
        "results",
        job_id,
        "-o",
        str(resumed),
        "--offset",
        "2",
        "--remote",
        cli_server.remote,
    )
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(x)["index"] for x in resumed.read_text().splitlines()] == [2, 3]

    stdout = cli("batch", "results", job_id, "--remote", cli_server.remote)
    assert stdout.returncode == 0
    assert [json.loads(x)["index"] for x in stdout.stdout.splitlines()] == [0, 1, 2, 3]

    listing = cli("batch", "list", "--remote", cli_server.remote)
    assert listing.returncode == 0 and job_id in listing.stdout
    cancel = cli("batch", "cancel", job_id, "--remote", cli_server.remote)
    assert cancel.returncode == 0 and "SUCCEEDED" in cancel.stdout  # finished: unchanged


def masks_line(problem: Problem, mask: Mask) -> str:
    return json.dumps(
        {
            "problem": json_format.MessageToDict(convert.problem_to_proto(problem)),
            "mask": json_format.MessageToDict(convert.mask_to_proto(mask)),
        }
    )


def test_batch_certify_reports_kept_error_optimum_and_ratio(cli_server, tmp_path):
    rng = np.random.default_rng(3)
    items = []
    for k, mode in enumerate((N, W, N)):
        problem = small(10 + k, mode)
        if mode == N:
            mask = Mask(neurons=np.array([True, False, True, False, True, False]))
        else:
            mask = Mask(hidden_weights=rng.random((6, 2)) < 0.6, output_weights=rng.random(6) < 0.6)
        items.append((problem, mask))
    path = tmp_path / "masks.jsonl"
    path.write_text("\n".join(masks_line(p, m) for p, m in items) + "\n")

    # --follow: the old blocking behaviour, the table on stdout; the job id goes to stderr.
    proc = cli("batch", "certify", str(path), "--follow", "--remote", cli_server.remote)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()]
    header = ["index", "d", "n", "seed", "instance", "pruning", "kept", "total", "error"]
    assert rows[0] == [*header, "optimum", "ratio", "status"]
    rows = rows[1:]
    assert [int(r[0]) for r in rows] == [0, 1, 2]
    assert re.search(r"job [0-9a-f]+: submitted 3 masks", proc.stderr), proc.stderr
    for row, (problem, mask) in zip(rows, items):
        index, d, n, seed, instance, pruning, kept, total, error, optimum, ratio, status = row
        assert (d, n, seed, instance) == ("2", "6", "-", "-")  # explicit items: no family
        assert pruning == problem.pruning.name.lower()
        assert int(total) == problem.max_kept_possible()
        cert = certify_mask(problem, mask)
        assert int(kept) == cert.kept
        assert float(error) == pytest.approx(cert.error_upper, rel=1e-9)
        budget = Problem(
            problem.network, problem.target, problem.domain, problem.pruning, MinError(cert.kept)
        )
        best = solve(budget)
        assert status == "OPTIMAL"
        assert float(optimum) == pytest.approx(best.solution.error, rel=1e-9, abs=1e-12)
        if best.solution.error > 0:
            assert float(ratio) == pytest.approx(cert.error_upper / best.solution.error, rel=1e-3)
        assert float(ratio) >= 1.0 - 1e-9


def test_batch_certify_rejects_a_bad_line(cli_server, tmp_path):
    path = tmp_path / "bad.jsonl"
    problem = small(1, N)
    path.write_text(masks_line(problem, Mask(neurons=np.ones(6, bool))) + '\n{"problem": {}}\n')
    proc = cli("batch", "certify", str(path), "--remote", cli_server.remote)
    assert proc.returncode == 2
    assert f"{path}:2" in proc.stderr
    assert proc.stdout == ""  # nothing submitted: no job id


def test_batch_submit_invalid_spec_names_the_field(cli_server, tmp_path):
    spec = {"family": {**SPEC["family"], "generator": "nope"}}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(spec))
    proc = cli("batch", "submit", str(path), "--remote", cli_server.remote)
    assert proc.returncode == 2
    assert "family.generator" in proc.stderr
    assert proc.stdout == ""
