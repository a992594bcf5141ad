"""What plain `prunecert serve` tells its operator, and what it keeps quiet (issue 13, item 9).

It used to use ~/.local/share/prunecert and start Dask silently, while Dask wrote about 50 INFO
lines to stderr (an advert for jupyter-server-proxy among them). Now it prints once, one line
each, where it listens, its data directory, its job cluster and its metrics address, and Dask
logs only warnings. A real `prunecert serve` runs a real job on its own local cluster here, so
that Dask has started (and would have spoken) before stderr is read.
"""

from __future__ import annotations

import os
import re
import socket
import time
import urllib.request

import grpc
import pytest

from prunecert.v1 import jobs_pb2, service_pb2_grpc
from solver.cli.app import build_parser
from solver.core.problem import MinError, PruningMode
from solver.instances.generate import paper_problem
from solver.io import convert
from tests.support.servers import cli, serving

pytestmark = pytest.mark.timeout(240)


def run_one_job(remote: str) -> None:
    with grpc.insecure_channel(remote) as channel:
        stub = service_pb2_grpc.PruningSolverStub(channel)
        request = jobs_pb2.SubmitJobRequest()
        for seed in (1, 2):
            problem = paper_problem(2, 4, seed, PruningMode.NEURONS, MinError(2), points_per_axis=5)
            request.problems.problems.append(convert.problem_to_proto(problem))
        job = stub.SubmitJob(request, timeout=30)
        start = time.monotonic()
        while job.state != jobs_pb2.JOB_STATE_SUCCEEDED:
            assert job.state in (jobs_pb2.JOB_STATE_QUEUED, jobs_pb2.JOB_STATE_RUNNING), job
            assert time.monotonic() - start < 180, "the job did not finish"
            time.sleep(0.25)
            job = stub.GetJob(jobs_pb2.GetJobRequest(id=job.id), timeout=30)


def test_plain_serve_prints_its_defaults_once_and_dask_stays_quiet(tmp_path):
    home = tmp_path / "home"  # serving() runs the server with HOME there
    with serving(tmp_path, "--max-concurrent", "1", "--metrics-port", "0") as served:
        run_one_job(served.remote)
        lines = served.log.read_text().splitlines()
        [metrics] = [line for line in lines if " metrics: " in line]
        url = re.search(r"metrics: (http://127\.0\.0\.1:\d+/metrics)$", metrics)
        assert url, metrics
        with urllib.request.urlopen(url.group(1), timeout=10) as response:
            assert b"prunecert_job_items" in response.read()
        code, _ = served.stop()
        assert code == 0
    lines = served.log.read_text().splitlines()

    def one(pattern: str) -> str:
        found = [line for line in lines if re.search(pattern, line)]
        assert len(found) == 1, (pattern, found)
        return found[0]

    one(rf"serving prunecert\.v1\.PruningSolver on 127\.0\.0\.1:{served.port} \(plaintext")
    data_dir = home / ".local" / "share" / "prunecert"
    one(rf"data dir: {re.escape(str(data_dir.resolve()))} ")
    assert (data_dir / "jobs.sqlite3").is_file()
    one(rf"job cluster: a local Dask cluster of {os.cpu_count()} worker processes on loopback")
    one(r"metrics: http://127\.0\.0\.1:\d+/metrics")
    # Dask ran a job, and said nothing at INFO (nor advertised anything).
    chatter = [line for line in lines if "distributed." in line or "jupyter" in line]
    assert chatter == []


def test_serve_names_an_existing_dask_scheduler_instead(tmp_path):
    address = "tcp://127.0.0.1:9"  # nothing listens there: no job is submitted
    with serving(tmp_path, "--max-concurrent", "1", "--dask-scheduler", address) as served:
        code, _ = served.stop()
        assert code == 0
    text = served.log.read_text()
    assert f"job cluster: the Dask scheduler at {address}" in text
    assert "metrics:" not in text  # off unless asked for


def test_help_documents_the_default_data_dir_and_the_new_flags():
    result = cli("serve", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # argparse wraps lines
    assert "default ~/.local/share/prunecert" in text
    for flag in ("--queue-limit", "--max-queue-wait", "--metrics-port", "--metrics-host"):
        assert flag in text


@pytest.mark.parametrize("flag", ["--token-file", "--tokens-file"])
def test_the_token_file_flag_has_the_clients_name_and_keeps_the_old_one(flag):
    args = build_parser().parse_args(["serve", flag, "tokens.txt"])
    assert args.token_file == "tokens.txt"


def test_bad_queue_and_metrics_flags_are_one_line_naming_the_flag(tmp_path):
    for flags, named in (
        (("--queue-limit", "-1"), "--queue-limit"),
        (("--max-queue-wait", "nan"), "--max-queue-wait"),
        (("--metrics-port", "70000"), "--metrics-port"),
    ):
        result = cli("serve", "--port", "0", *flags)
        assert result.returncode == 2, result.stderr
        assert named in result.stderr
        assert "Traceback" not in result.stderr


def test_a_metrics_port_in_use_is_one_line_naming_the_flag(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--port", "0", "--metrics-port", str(port), "--data-dir", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert "--metrics-port" in result.stderr and str(port) in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "jobs.sqlite3").exists()  # refused before anything started
