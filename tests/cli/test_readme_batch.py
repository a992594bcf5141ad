"""The README's batch commands (section "Batch jobs") run as written against a real server, with
the README's own spec file: the job id comes back on the last line (`JOB=$(... | tail -1)`),
and the other commands run on it (issue 13, items 8 and 10).

The block's `serve` line is the test's server; the commands reach it through a `.venv/bin/
prunecert` of the test's own that adds `--remote` (the README's commands use the default
address, 127.0.0.1:50051, which other things on this machine may hold)."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys

import pytest
from google.protobuf import json_format

from prunecert.v1 import jobs_pb2
from prunecert_client import Client
from solver.core.problem import MinError, PruningMode
from solver.instances.generate import paper_problem
from solver.io import convert
from tests.support.servers import REPO, serving

pytestmark = pytest.mark.timeout(240)


def batch_section() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("### Batch jobs")
    return readme[start : readme.index("\n## ", start)]


def commands_and_spec() -> tuple[list[str], str]:
    section = batch_section()
    block = re.search(r"```\n(.*?)```", section, flags=re.S).group(1)
    spec = re.search(r"```json\n(.*?)```", section, flags=re.S).group(1)
    lines = [line.split("  #")[0].strip() for line in block.splitlines()]
    return [line for line in lines if line and " serve " not in f"{line} "], spec


def test_the_batch_commands_run_as_written(tmp_path):
    commands, spec = commands_and_spec()
    assert any("JOB=$(" in c and "tail -1" in c for c in commands), commands
    json_format.Parse(spec, jobs_pb2.SubmitJobRequest())  # the README's spec is a valid one
    work = tmp_path / "work"
    (work / ".venv" / "bin").mkdir(parents=True)
    (work / "spec.json").write_text(spec)
    problem = paper_problem(2, 4, 1, PruningMode.NEURONS, MinError(max_kept=2), points_per_axis=5)
    record = {"problem": json.loads(convert.to_json(convert.problem_to_proto(problem)))}
    (work / "masks.jsonl").write_text(
        json.dumps({**record, "mask": {"neurons": [True, False, True, False]}})
    )
    with serving(tmp_path, "--max-concurrent", "1") as served:
        prunecert = work / ".venv" / "bin" / "prunecert"
        prunecert.write_text(
            f'#!/bin/sh\nexec {sys.executable} -m solver.cli "$@" --remote {served.remote}\n'
        )
        prunecert.chmod(0o755)
        script = "set -e\n" + "\n".join(commands) + '\necho "JOB=$JOB"\n'
        try:
            proc = subprocess.run(
                ["bash", "-c", script], cwd=work, capture_output=True, text=True, timeout=200
            )
        finally:
            with Client(served.remote) as client:  # the block's other jobs: not left running
                for job in client.list_jobs(page_size=1000)[0]:
                    client.cancel_job(job.id)
    assert proc.returncode == 0, proc.stderr
    job = re.search(r"^JOB=([0-9a-f]+)$", proc.stdout, flags=re.M)
    assert job, proc.stdout  # the id alone on submit's last line
    lines = [json.loads(x) for x in (work / "results.jsonl").read_text().splitlines()]
    assert lines and all({"index", "d", "n", "seed", "pruning", "result"} <= set(x) for x in lines)
    with (work / "results.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["index"]) for r in rows] == [x["index"] for x in lines]
