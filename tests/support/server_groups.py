"""`prunecert serve` as a real process in a process group of its own, for the adversarial-client
tests (issue 15); tests/support/servers.py has the plain one.

Each server runs in its own session, so its worker processes and Dask cluster share its process
group, and the whole group is killed in a ``finally`` whatever the test did to it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from tests.support.servers import REPO, Served, free_port, wait_serving

TOKENS = ("tokA", "tokB")


def kill_group(served: Served) -> None:
    """SIGKILL the server's whole process group and reap the server."""
    try:
        os.killpg(served.pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        served.proc.wait(15)
    except subprocess.TimeoutExpired:
        pass


def write_tokens(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.txt"
    path.write_text("\n".join(TOKENS) + "\n")
    return path


@contextmanager
def serving_group(tmp_path: Path, *args: str, tokens: bool = True, wait: bool = True) -> Iterator[Served]:
    """`prunecert serve` on a free loopback port with a data dir under ``tmp_path`` (and the
    tokens of TOKENS unless ``tokens`` is False); ``args`` are further flags."""
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    argv = [sys.executable, "-m", "solver.cli", "serve", "--port", str(port)]
    if "--data-dir" not in args:
        argv += ["--data-dir", str(tmp_path / "data")]
    if tokens:
        argv += ["--tokens-file", str(write_tokens(tmp_path))]
    with log.open("a") as err:
        proc = subprocess.Popen(
            [*argv, *args],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    served = Served(proc, port, log)
    try:
        if wait:
            wait_serving(served)
        yield served
    finally:
        kill_group(served)


def group_members(pgid: int) -> list[psutil.Process]:
    """Live (non-zombie) processes of a process group."""
    out = []
    for p in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(p.pid) == pgid and p.info["status"] != psutil.STATUS_ZOMBIE:
                out.append(p)
        except (ProcessLookupError, psutil.Error):
            pass
    return out
