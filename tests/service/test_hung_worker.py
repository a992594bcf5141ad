"""A hung worker without a client deadline (issue 15, item 7): the server enforces its own
deadline (the solve's time limit plus --solve-margin), answers ABORTED, replaces the worker
and serves the next solve. The worker of a real `prunecert serve` process is stopped with
SIGSTOP, and the call carries no deadline of its own that could end it first."""

from __future__ import annotations

import os
import signal
import threading
import time

import grpc
import psutil
import pytest

from prunecert.v1 import service_pb2, service_pb2_grpc
from solver.core.parameters import SolveParameters
from solver.core.problem import MinError, PruningMode
from solver.core.result import SolveStatus
from solver.instances.generate import paper_problem
from solver.io import convert
from tests.support.server_groups import TOKENS, serving_group

pytestmark = pytest.mark.timeout(180)

A = [("authorization", f"Bearer {TOKENS[0]}")]


def solver_workers(pid: int) -> list[psutil.Process]:
    """The server's worker processes (multiprocessing spawn children, not its tracker)."""
    out = []
    for child in psutil.Process(pid).children():
        cmdline = " ".join(child.cmdline())
        if "spawn_main" in cmdline and "resource_tracker" not in cmdline:
            out.append(child)
    return out


def request(time_limit: float) -> service_pb2.SolveRequest:
    problem = paper_problem(2, 6, 1, PruningMode.NEURONS, MinError(max_kept=3), points_per_axis=9)
    return service_pb2.SolveRequest(
        problem=convert.problem_to_proto(problem),
        parameters=convert.parameters_to_proto(SolveParameters(time_limit_seconds=time_limit)),
    )


def test_stopped_worker_is_abandoned_at_the_servers_deadline_and_replaced(tmp_path):
    with serving_group(tmp_path, "--max-concurrent", "1", "--solve-margin", "1") as served:
        [worker] = solver_workers(served.proc.pid)
        os.kill(worker.pid, signal.SIGSTOP)
        try:
            with grpc.insecure_channel(served.remote) as channel:
                stub = service_pb2_grpc.PruningSolverStub(channel)
                outcome: list = []

                def call() -> None:
                    try:
                        # No deadline: only the server's own can end this call.
                        outcome.append(stub.Solve(request(1.0), metadata=A))
                    except grpc.RpcError as exc:
                        outcome.append(exc)

                thread = threading.Thread(target=call, daemon=True)
                start = time.monotonic()
                thread.start()
                thread.join(60)
                took = time.monotonic() - start
                assert not thread.is_alive(), "the call still hangs after 60 s"
                [error] = outcome
                assert isinstance(error, grpc.RpcError), error
                assert error.code() == grpc.StatusCode.ABORTED
                assert "replaced" in error.details()
                # Time limit 1 s + margin 1 s + cancel grace 1 s, and far less than 60.
                assert took >= 2.0, took

                # The replacement serves the next solve (it starts in the background).
                start = time.monotonic()
                while True:
                    try:
                        reply = stub.Solve(request(10.0), metadata=A, timeout=30)
                        break
                    except grpc.RpcError as exc:
                        assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, exc
                        assert time.monotonic() - start < 60, "no worker came back"
                        time.sleep(0.2)
                assert reply.status == SolveStatus.OPTIMAL.value
        finally:
            try:
                os.kill(worker.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE
        [fresh] = solver_workers(served.proc.pid)
        assert fresh.pid != worker.pid
