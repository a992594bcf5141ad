"""Startup failures of `prunecert serve` as real processes (issue 15, item 9): a store it
cannot use or a port it cannot bind is one line on stderr and exit code 2, never a traceback,
and a store it cannot read is never overwritten."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from prunecert.v1 import jobs_pb2
from solver.jobs.store import JobStore
from tests.support.servers import REPO, free_port

pytestmark = pytest.mark.timeout(180)

STORE = "jobs.sqlite3"


def serve(*args: str, timeout: float = 60.0) -> tuple[int | None, str]:
    """(exit code, stderr) of `prunecert serve ARGS`; None if it was still running after
    ``timeout`` (then its whole process group is killed)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "solver.cli", "serve", "--max-concurrent", "1", *args],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, err = proc.communicate(timeout=timeout)
        return proc.returncode, err
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        return None, err


def assert_one_line_refusal(code: int | None, err: str, flag: str, *words: str) -> None:
    assert code == 2, f"exit {code}: {err}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert flag in lines[0], lines[0]
    for word in words:
        assert word in lines[0], lines[0]


def make_store(data_dir: Path, jobs: int = 200) -> Path:
    """A real store of ``jobs`` jobs with 2 KB specs: about a hundred 4 KB pages."""
    store = JobStore(data_dir / STORE)
    for i in range(jobs):
        spec = jobs_pb2.SubmitJobRequest(request_id=f"r{i}-" + "x" * 2048)
        row, _ = store.create("owner", f"r{i}", "solve", spec.SerializeToString(), 1)
        store.set_state(row.id, jobs_pb2.JOB_STATE_CANCELLED, "made by the test")
    store.close()
    path = data_dir / STORE
    assert (
        not (data_dir / f"{STORE}-wal").exists() or (data_dir / f"{STORE}-wal").stat().st_size == 0
    )
    return path


def test_corrupt_page_in_the_middle_is_refused_and_left_untouched(tmp_path):
    path = make_store(tmp_path)
    data = bytearray(path.read_bytes())
    middle = (len(data) // 4096 // 2) * 4096
    data[middle : middle + 4096] = os.urandom(4096)
    path.write_bytes(bytes(data))
    before = path.read_bytes()
    code, err = serve("--port", str(free_port()), "--data-dir", str(tmp_path))
    assert_one_line_refusal(code, err, "--data-dir", "integrity check failed", str(path))
    assert path.read_bytes() == before


def test_a_file_that_is_not_sqlite_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / STORE
    path.write_bytes(b"not a database, but someone's data" * 100)
    code, err = serve("--port", str(free_port()), "--data-dir", str(tmp_path))
    assert_one_line_refusal(code, err, "--data-dir", str(path))
    assert path.read_bytes() == b"not a database, but someone's data" * 100


def test_a_zero_length_store_is_refused(tmp_path):
    path = tmp_path / STORE
    path.touch()
    code, err = serve("--port", str(free_port()), "--data-dir", str(tmp_path))
    assert_one_line_refusal(code, err, "--data-dir", "empty")
    assert path.stat().st_size == 0


def _make_read_only(path: Path) -> None:
    """Read-only even for root (chattr +i), else by permissions; skip if neither holds."""
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"running as root and chattr +i is unavailable: {done.stderr!r}")
    else:
        path.chmod(0o444)
    try:
        with path.open("ab"):
            pass
    except OSError:
        return
    pytest.skip("cannot make a file read-only here")


def test_a_read_only_store_is_refused(tmp_path):
    path = make_store(tmp_path, jobs=3)
    _make_read_only(path)
    try:
        code, err = serve("--port", str(free_port()), "--data-dir", str(tmp_path))
        assert_one_line_refusal(code, err, "--data-dir", str(path))
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)
    assert JobStore(path).list("owner", jobs_pb2.JOB_STATE_UNSPECIFIED, None, 10)  # intact


def test_a_port_in_use_is_refused_in_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = serve("--port", str(port), "--data-dir", str(tmp_path))
    assert_one_line_refusal(code, err, "--port", str(port))


def test_a_healthy_store_still_serves_its_jobs(tmp_path):
    make_store(tmp_path, jobs=3)
    code, err = serve("--port", str(free_port()), "--data-dir", str(tmp_path), timeout=8)
    assert code is None, f"exited {code}: {err}"  # still serving when we stopped it
