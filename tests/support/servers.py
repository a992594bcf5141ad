"""Subprocesses for the tests that need real processes: `prunecert serve` and CLI runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parents[2]


def cli(*argv: str, timeout: float = 120, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`prunecert ARGV...` run from the repository, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "solver.cli", *argv],
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Served:
    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def remote(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pgid(self) -> int:
        return self.proc.pid  # started as a session leader: its pid is its process group id

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> tuple[int, float]:
        """Send ``sig``; the exit code and the seconds it took to exit."""
        start = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - start


def wait_serving(served: Served, credentials=None, timeout: float = 60.0) -> None:
    """Until the health service answers SERVING (TLS when ``credentials`` are given)."""
    target = f"localhost:{served.port}" if credentials else served.remote
    channel = (
        grpc.secure_channel(target, credentials) if credentials else grpc.insecure_channel(target)
    )
    with channel:
        health = health_pb2_grpc.HealthStub(channel)
        start = time.monotonic()
        while True:
            assert served.proc.poll() is None, served.log.read_text()
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            assert time.monotonic() - start < timeout, "server not serving in time"
            time.sleep(0.1)

def isolated_env(directory: Path) -> dict[str, str]:
    """The environment with HOME in ``directory``: whatever the server stores by default in the
    user's home (its job store) stays out of the real one."""
    home = directory / "home"
    home.mkdir(exist_ok=True)
    return {**os.environ, "HOME": str(home)}


@contextmanager
def serving(directory: Path, *flags: str, credentials=None) -> Iterator[Served]:
    """`prunecert serve --port P FLAGS` on a free port, HOME in ``directory``, SIGTERM at exit."""
    port = free_port()
    log = directory / f"serve-{port}.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "solver.cli", "serve", "--port", str(port), *flags],
            cwd=REPO,
            env=isolated_env(directory),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    served = Served(proc, port, log)
    try:
        wait_serving(served, credentials)
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
