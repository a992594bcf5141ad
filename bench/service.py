"""`make bench` (service part): figures, never assertions.

1. Round-trip latency of Solve on a trivial problem over loopback: 200 calls, median and p99.
2. Overhead of a remote solve versus the same solve in-process, on paper-family instances,
   interleaved in the same process; CP-SAT runs with one thread and a fixed seed so that both
   sides do the same search.
3. The solve queue: QUEUED_CLIENTS solves sent at once to 2 solver processes (queue of 4):
   each call's wait as its reply reports it (SolveStats.queue_wait_seconds), and GetServerInfo's.
"""

from __future__ import annotations

import statistics
import sys
import time
from concurrent import futures

import grpc
import numpy as np

from prunecert.v1 import service_pb2, service_pb2_grpc
from prunecert_client import Client
from solver.core.parameters import SolveParameters
from solver.core.problem import Activation, Network, Neuron, PointSet, Problem, PruningMode
from solver.engine import solve
from solver.instances.generate import paper_problem
from solver.io import convert
from solver.service.server import ServerConfig, create_server

QUEUED_CLIENTS = 6


def trivial_problem() -> Problem:
    return Problem(
        network=Network(
            hidden_weights=np.array([[1.0], [0.5]]), output_weights=np.array([0.5, 0.25])
        ),
        target=Neuron(weights=np.array([0.75]), activation=Activation.IDENTITY),
        domain=PointSet(np.array([[1.0], [-1.0]])),
        pruning=PruningMode.NEURONS,
    )


def main() -> int:
    running = create_server(ServerConfig(port=0, max_concurrent=2))
    address = f"127.0.0.1:{running.port}"
    try:
        with Client(address) as client:
            problem = trivial_problem()
            for _ in range(20):  # warm up both workers and the channel
                client.solve(problem)
            latencies = []
            for _ in range(200):
                start = time.perf_counter()
                client.solve(problem)
                latencies.append((time.perf_counter() - start) * 1000)
            local = []
            for _ in range(200):
                start = time.perf_counter()
                solve(problem)
                local.append((time.perf_counter() - start) * 1000)
            latencies.sort()
            print("Solve round trip on a trivial problem over loopback (200 calls)")
            print(
                f"  median {statistics.median(latencies):.2f} ms   p99 {latencies[197]:.2f} ms   "
                f"(the same solve in-process: median {statistics.median(local):.2f} ms)\n"
            )

            print(
                "Remote vs in-process solve, paper family d=2, K=41 (threads=1, seed=1, 3 runs each)"
            )
            print(f"{'instance':24s} {'in-process':>11s} {'remote':>9s} {'overhead':>9s}")
            params = SolveParameters(threads=1, seed=1)
            for mode, n in ((PruningMode.NEURONS, 32), (PruningMode.WEIGHTS, 16)):
                problem = paper_problem(2, n, 1, mode)
                here, there = [], []
                for _ in range(3):
                    start = time.perf_counter()
                    solve(problem, params)
                    here.append(time.perf_counter() - start)
                    start = time.perf_counter()
                    client.solve(problem, params)
                    there.append(time.perf_counter() - start)
                h, t = statistics.median(here), statistics.median(there)
                name = f"{mode.name.lower()} n={n}"
                print(f"{name:24s} {h:10.3f}s {t:8.3f}s {100 * (t - h) / h:8.1f}%")
        queueing(address)
    finally:
        running.stop(0)
    return 0


def queueing(address: str) -> None:
    problem = paper_problem(2, 16, 1, PruningMode.NEURONS)
    request = service_pb2.SolveRequest(
        problem=convert.problem_to_proto(problem),
        parameters=convert.parameters_to_proto(SolveParameters(threads=1, seed=1)),
    )
    print(
        f"\nQueueing: {QUEUED_CLIENTS} Solves at once (neurons n=16) on 2 solver processes, "
        "queue of 4"
    )
    with (
        grpc.insecure_channel(address) as channel,
        futures.ThreadPoolExecutor(QUEUED_CLIENTS) as pool,
    ):
        stub = service_pb2_grpc.PruningSolverStub(channel)

        def one() -> tuple[str, float, float]:
            start = time.perf_counter()
            try:
                reply = stub.Solve(request, timeout=120)
            except grpc.RpcError as err:
                return err.code().name, 0.0, time.perf_counter() - start
            return "OK", reply.stats.queue_wait_seconds, time.perf_counter() - start

        outcomes = list(pool.map(lambda _: one(), range(QUEUED_CLIENTS)))
        info = stub.GetServerInfo(service_pb2.GetServerInfoRequest(), timeout=10)
    for code, wait, took in sorted(outcomes, key=lambda o: o[2]):
        print(f"  {code:18s} waited {wait:6.3f} s   answered after {took:6.3f} s")
    print(
        f"  GetServerInfo: mean wait {info.mean_queue_wait_seconds:.3f} s over every call served, "
        f"recent {info.recent_queue_wait_seconds:.3f} s, refusals {info.queue_refusals}"
    )


if __name__ == "__main__":
    sys.exit(main())
