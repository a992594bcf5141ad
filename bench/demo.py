"""`make demo`: the paper's showcase, certified, through the gRPC service.

Starts `prunecert serve` with its defaults (loopback, no tokens) on a free port, solves one
random network (d = 2, n = 24, seed 1) against one target ReLU neuron with neuron pruning and
with weight pruning through the Python client, prints the table, and stops the server
(SIGTERM, graceful shutdown).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from prunecert_client import Client
from solver.core.problem import PruningMode
from solver.instances.generate import paper_problem


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_serving(address: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.2)


def main() -> int:
    d, n, seed = 2, 24, 1
    port = free_port()
    address = f"127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "solver.cli", "serve", "--port", str(port)],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_serving(address)
        print(f"PruneCert demo (server {address}): approximate relu(w* . x) on a 41 x 41 grid of")
        print(
            f"[-1, 1]^2 by pruning one random bias-free ReLU network (d={d}, n={n}, seed={seed}).\n"
        )
        header = (
            f"{'mode':8s} {'kept':>10s} {'certified error':>16s} {'lower bound':>16s} "
            f"{'status':>8s} {'time':>7s}"
        )
        print(header)
        print("-" * len(header))
        errors = {}
        with Client(address) as client:
            for mode, total in ((PruningMode.NEURONS, n), (PruningMode.WEIGHTS, n * (d + 1))):
                problem = paper_problem(d, n, seed, mode)
                start = time.perf_counter()
                result = client.solve(problem, time_limit=120)
                elapsed = time.perf_counter() - start
                sol = result.solution
                name = mode.name.lower()
                errors[name] = sol.error
                kept = f"{sol.kept}/{total}"
                print(
                    f"{name:8s} {kept:>10s} {sol.error:16.9g} {result.objective_bound:16.9g} "
                    f"{result.status.name:>8s} {elapsed:6.2f}s"
                )
        ratio = errors["neurons"] / errors["weights"]
        print(
            f"\nWeight pruning reaches an error {ratio:.0f}x smaller than neuron pruning from the "
            "same network:\nthe gap of arXiv 2603.02234. Each error is the chosen mask's exact "
            "error (rational arithmetic,\nrounded up); each bound is a rigorous lower bound on "
            "the optimum over all masks."
        )
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
    print(f"server stopped (exit code {code})")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
