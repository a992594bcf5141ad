"""`batch submit` with --time-limit, --backend, --tolerance and --request-id (issue 13, item 10),
`batch watch` off a terminal (item 5), and the scripting contract of item 8: `certify` returns
the job id like `submit`, `--follow` waits and prints the results, `status --json` has numbers
and RFC 3339 times, results carry the family coordinates in text, JSON and CSV, and the
deprecated double fields stay filled for old clients. A real server runs every job (its own
local Dask cluster)."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf import json_format

from prunecert.v1 import jobs_pb2
from prunecert_client import Client
from solver.cli.app import main
from solver.cli.batch import CERTIFY_COLUMNS, SOLVE_COLUMNS, ResultsWriter, _apply_parameters
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
        "--follow", "--format", "json", "--remote", server.remote,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr
    [line] = [json.loads(text) for text in proc.stdout.splitlines()]
    assert line["result"]["optimum"]["status"] == "SOLVE_STATUS_OPTIMAL"
    assert line["result"]["optimum"]["stats"]["backend"] == "highs"  # the flag reached it


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


# -- issue 13 item 8: a scripting contract -------------------------------------------------------


def rpc_methods(log: Path, since: int) -> list[str]:
    """The methods of the server's RPC log lines written after byte ``since`` of its log."""
    with log.open("rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    return re.findall(r'"method": "(\w+)"', text)


def masks_file(tmp_path: Path, seeds: tuple[int, ...]) -> Path:
    masks = tmp_path / "masks.jsonl"
    lines = []
    for seed in seeds:
        problem = json.loads(convert.to_json(convert.problem_to_proto(small(seed))))
        lines.append(json.dumps({"problem": problem, "mask": {"neurons": [True, False] * 2}}))
    masks.write_text("\n".join(lines) + "\n")
    return masks


def wait_final(remote: str, job: str) -> None:
    """Polls GetJob (never WatchJob) until the job is final."""
    with Client(remote) as client:
        while not client.get_job(job).done:
            time.sleep(0.1)


def test_certify_prints_the_job_id_last_and_does_not_wait(server, tmp_path):
    masks = masks_file(tmp_path, (4, 5))
    since = server.log.stat().st_size
    proc = cli("batch", "certify", str(masks), "--remote", server.remote)
    assert proc.returncode == 0, proc.stderr
    [job] = proc.stdout.splitlines()  # `JOB=$(prunecert batch certify ... | tail -1)` works
    assert re.fullmatch(r"[0-9a-f]+", job), proc.stdout
    assert proc.stderr == f"job {job}: submitted 2 masks (certify)\n"
    wait_final(server.remote, job)
    # It submitted and returned: it neither watched the job nor read its results (any such
    # call would be logged by now, the job being final after several more calls).
    methods = rpc_methods(server.log, since)
    assert "SubmitJob" in methods and "GetJob" in methods, methods
    assert not {"WatchJob", "GetJobResults"} & set(methods), methods

    results = cli("batch", "results", job, "--format", "text", "--remote", server.remote)
    assert results.returncode == 0, results.stderr
    header, *rows = [line.split() for line in results.stdout.splitlines()]
    assert header[:6] == ["index", "d", "n", "seed", "instance", "pruning"]
    assert header[-1] == "status"
    assert [row[:6] for row in rows] == [[str(i), "2", "4", "-", "-", "neurons"] for i in (0, 1)]


def test_follow_waits_for_the_end_and_prints_the_results(server, tmp_path):
    masks = masks_file(tmp_path, (6,))
    since = server.log.stat().st_size
    proc = cli("batch", "certify", str(masks), "--follow", "--progress-every", "0",
               "--format", "csv", "--remote", server.remote)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    [row] = list(csv.DictReader(io.StringIO(proc.stdout)))  # stdout: the results alone
    assert tuple(row) == CERTIFY_COLUMNS
    assert row["status"] == "OPTIMAL" and float(row["ratio"]) >= 1.0 - 1e-9
    job = re.search(r"job ([0-9a-f]+): submitted", proc.stderr).group(1)
    assert f"{job}  SUCCEEDED  certify  1/1 done" in proc.stderr  # it waited for the end
    while "GetJobResults" not in rpc_methods(server.log, since):  # logged as its call ends
        time.sleep(0.1)
    assert "WatchJob" in rpc_methods(server.log, since)


def test_a_format_without_follow_is_refused_before_anything_is_sent(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(spec_with([small(1)])))
    nobody = f"127.0.0.1:{free_port()}"
    code = main(["batch", "submit", str(spec), "--format", "csv", "--remote", nobody])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.startswith("prunecert: error: --format: needs --follow"), err


FAMILY = {
    "family": {
        "generator": "paper", "d": [2], "n": [3, 4], "seeds": [0, 7],
        "pruning": ["PRUNING_MODE_NEURONS", "PRUNING_MODE_WEIGHTS"],
        "objective": {"min_error": {"max_kept": 2}}, "points_per_axis": 5,
    }
}  # fmt: skip
# Family.coordinates: d, n, seed, pruning, the last fastest.
EXPECTED = [
    (2, n, seed, mode) for n in (3, 4) for seed in (0, 7) for mode in ("neurons", "weights")
]


@pytest.fixture(scope="module")
def family_job(server, tmp_path_factory) -> tuple[str, subprocess.CompletedProcess]:
    spec = tmp_path_factory.mktemp("family") / "spec.json"
    spec.write_text(json.dumps(FAMILY))
    proc = cli("batch", "submit", str(spec), "--follow", "--format", "csv",
               "--progress-every", "0", "--remote", server.remote)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    job = re.search(r"job ([0-9a-f]+): submitted 8 items", proc.stderr).group(1)
    return job, proc


def test_results_csv_has_a_header_and_the_family_coordinates(server, family_job, tmp_path):
    job, followed = family_job
    rows = list(csv.DictReader(io.StringIO(followed.stdout)))
    assert tuple(rows[0]) == SOLVE_COLUMNS
    assert [int(r["index"]) for r in rows] == list(range(8))
    got = [(int(r["d"]), int(r["n"]), int(r["seed"]), r["pruning"]) for r in rows]
    assert got == EXPECTED  # seed 0 is a seed, not a blank
    for row, (d, n, _, mode) in zip(rows, EXPECTED):
        assert row["status"] == "OPTIMAL" and row["instance"] == ""
        assert int(row["total"]) == (n if mode == "neurons" else n * (d + 1))
        assert float(row["bound"]) <= float(row["error"]) and int(row["kept"]) <= 2
        assert float(row["seconds"]) > 0 and row["backend"]

    # `batch results`: the same rows; resumed with --offset into the same file, one header.
    out = tmp_path / "results.csv"
    first = cli("batch", "results", job, "--format", "csv", "-o", str(out), "--remote",
                server.remote)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert out.read_text() == followed.stdout
    out.write_text("\n".join(out.read_text().splitlines()[:6]) + "\n")  # header + items 0-4
    resumed = cli("batch", "results", job, "--format", "csv", "-o", str(out), "--offset", "5",
                  "--remote", server.remote)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert out.read_text() == followed.stdout

    lines = [json.loads(x) for x in cli("batch", "results", job, "--remote", server.remote)
             .stdout.splitlines()]  # fmt: skip
    got = [(x["d"], x["n"], x["seed"], x["pruning"]) for x in lines]
    assert got == [(d, n, s, f"PRUNING_MODE_{m.upper()}") for d, n, s, m in EXPECTED]


def test_status_json_prints_numbers_and_rfc3339_times(server, family_job):
    job, _ = family_job
    proc = cli("batch", "status", job, "--json", "--remote", server.remote)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    for key in ("totalItems", "succeededItems", "failedItems", "runningItems"):
        assert type(data[key]) is int, (key, data[key])  # numbers, not "8"
    assert (data["totalItems"], data["succeededItems"], data["failedItems"]) == (8, 8, 0)
    times = [datetime.fromisoformat(data[k]) for k in ("created", "started", "finished")]
    assert all(t.tzinfo == UTC for t in times) and times == sorted(times)
    assert not {"createdTime", "startedTime", "finishedTime"} & set(data)
    assert json_format.ParseDict(data, jobs_pb2.Job()).id == job  # still a Job message

    listing = cli("batch", "list", "--json", "--remote", server.remote)
    assert listing.returncode == 0, listing.stderr
    [mine] = [j for j in map(json.loads, listing.stdout.splitlines()) if j["id"] == job]
    assert mine == data

    # The deprecated doubles still carry the same instants for v1 clients.
    with Client(server.remote) as client:
        old = client.get_job(job)
        assert 0 < old.created_time <= old.started_time <= old.finished_time
        for seconds, instant in zip((old.created_time, old.started_time, old.finished_time), times):
            assert abs(seconds - instant.timestamp()) <= 1e-6
        for message in client.job_results_messages(job, timeout=30):
            assert message.seconds > 0
            assert message.duration.ToNanoseconds() == round(message.seconds * 1e9)


def test_a_queued_job_has_null_start_and_finish():
    """job_json on a message as the server sends it before any item started."""
    from solver.cli.batch import job_json
    from solver.jobs.store import JobRow

    row = JobRow(1, "abc", "", "", "solve", b"", 3, jobs_pb2.JOB_STATE_QUEUED, 0, 0,
                 1767225600.5, 0.0, 0.0, "")  # fmt: skip

    class Queued:  # what the client's Job offers: to_message()
        @staticmethod
        def to_message():
            return row.to_proto()

    data = job_json(Queued)
    assert (data["started"], data["finished"]) == (None, None)
    assert data["created"] == "2026-01-01T00:00:00.500Z"
    assert data["totalItems"] == 3 and data["runningItems"] == 0


def test_a_failed_item_reads_failed_with_its_reason_in_every_format():
    failed = jobs_pb2.JobItemResult(index=2, error='InvalidProblemError: bad, "quoted"')
    failed.origin.d, failed.origin.n, failed.origin.pruning = 1, 5, 1
    failed.origin.full_kept, failed.origin.seed, failed.origin.instance = 5, 3, 9
    outputs = {}
    for fmt in ("text", "json", "csv"):
        out = io.StringIO()
        ResultsWriter(out, fmt, "solve").write_all([failed])
        outputs[fmt] = out.getvalue()
    [row] = list(csv.DictReader(io.StringIO(outputs["csv"])))
    assert (row["status"], row["detail"]) == ("FAILED", 'InvalidProblemError: bad, "quoted"')
    assert (row["seed"], row["instance"], row["error"]) == ("3", "9", "")
    line = json.loads(outputs["json"])
    assert (line["error"], line["seed"], line["instance"]) == (failed.error, 3, 9)
    text = outputs["text"].splitlines()[1].split()
    assert text[:7] == ["2", "1", "5", "3", "9", "neurons", "FAILED"]
    assert " ".join(text).endswith('InvalidProblemError: bad, "quoted"')


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (
            ["--cube-threads", "0"],
            "--cube-threads: only with --distributed (parameters.distributed.cube_threads)",
        ),
        (["--cubes", "4"], "--cubes: only with --distributed (parameters.distributed.cubes)"),
        (
            ["--distributed", "--cube-threads", "99"],
            "--cube-threads: must be an integer between 0 (the backend's own choice) and 64, "
            "got 99 (parameters.distributed.cube_threads)",
        ),
    ],
)
def test_cube_flags_are_checked_before_any_server_is_reached(flags, line):
    # Nothing listens on port 1: the flags are refused first, naming the flag and the field.
    proc = cli("batch", "submit", "examples/batch_spec.json", *flags, "--remote", "127.0.0.1:1")
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", f"prunecert: error: {line}\n")
