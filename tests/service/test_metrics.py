"""The Prometheus endpoint of a real `prunecert serve --metrics-port` process (issue 15).

Known calls are sent (solves, a certification, a bad request, a queued call, a refusal from a
full queue, a cancelled stream, jobs), the endpoint is scraped over HTTP and parsed with
prometheus_client's own parser, and every count must equal what was sent.

The job server's feeder points at a Dask scheduler that does not exist, so a submitted job
stays QUEUED without any solving, and a cancelled one keeps its items unrun.
"""

from __future__ import annotations

import time
import urllib.request
from collections import Counter
from collections.abc import Callable

import grpc
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from prunecert.v1 import jobs_pb2, service_pb2, service_pb2_grpc, solve_pb2
from solver.core.parameters import SolveParameters
from solver.core.problem import Mask, MinError, PruningMode
from solver.instances.generate import paper_problem
from solver.io import convert
from solver.service.metrics import ServiceMetrics
from tests.support.servers import free_port, serving

pytestmark = pytest.mark.timeout(180)

SERVICE = "prunecert.v1.PruningSolver"


def small():
    return paper_problem(2, 8, 2, PruningMode.NEURONS, MinError(max_kept=3), points_per_axis=9)


def solve_request(problem, **params) -> service_pb2.SolveRequest:
    return service_pb2.SolveRequest(
        problem=convert.problem_to_proto(problem),
        parameters=convert.parameters_to_proto(SolveParameters(**params)),
    )


def long_request() -> service_pb2.SolveRequest:
    return solve_request(paper_problem(2, 48, 2, PruningMode.WEIGHTS), time_limit_seconds=120)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"not within {timeout} s: {what}"
        time.sleep(0.05)


class Scrape:
    """One scrape of the endpoint: sample values by (name, labels)."""

    def __init__(self, url: str):
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
            text = response.read().decode()
        self.samples: dict[tuple[str, frozenset], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        """A sample's value; 0 for a labelled series never touched (the counters are lazy)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def sum_of(self, name: str, **labels: str) -> float:
        """The sum over every series of ``name`` whose labels include ``labels``."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and want <= ls)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    directory = tmp_path_factory.mktemp("metrics")
    metrics_port = free_port()
    flags = (
        "--max-concurrent", "1",
        "--queue-limit", "1",
        "--metrics-port", str(metrics_port),
        "--data-dir", str(directory / "data"),
        "--dask-scheduler", f"tcp://127.0.0.1:{free_port()}",
    )  # fmt: skip
    with serving(directory, *flags) as server:
        yield server, f"http://127.0.0.1:{metrics_port}/metrics"


def test_scraped_counts_match_the_calls_sent(served):
    server, url = served
    sent: Counter[tuple[str, str]] = Counter()  # (method, code) -> calls
    with grpc.insecure_channel(server.remote) as channel:
        stub = service_pb2_grpc.PruningSolverStub(channel)

        def info() -> service_pb2.ServerInfo:
            sent["GetServerInfo", "OK"] += 1
            return stub.GetServerInfo(service_pb2.GetServerInfoRequest(), timeout=10)

        for _ in range(3):
            reply = stub.Solve(solve_request(small()), timeout=60)
            assert reply.status == solve_pb2.SOLVE_STATUS_OPTIMAL
            sent["Solve", "OK"] += 1
        problem = small()
        certified = stub.Certify(
            service_pb2.CertifyRequest(
                problem=convert.problem_to_proto(problem),
                mask=convert.mask_to_proto(Mask(neurons=np.array([True, False] * 4))),
                compare_with_optimum=True,
            ),
            timeout=60,
        )
        assert certified.optimum.status == solve_pb2.SOLVE_STATUS_OPTIMAL
        sent["Certify", "OK"] += 1
        with pytest.raises(grpc.RpcError) as bad:
            stub.Solve(solve_request(small(), tolerance=-1.0), timeout=60)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        sent["Solve", "INVALID_ARGUMENT"] += 1

        # The one solver process held by a stream; one call waits; the next is refused.
        holder = stub.SolveStream(long_request(), timeout=150)
        assert next(holder).WhichOneof("kind") != "result"
        queued = stub.Solve.future(solve_request(small()), timeout=120)
        wait_until(lambda: info().queued_solves == 1, "the call waits")
        with pytest.raises(grpc.RpcError) as full:
            stub.Solve(solve_request(small()), timeout=60)
        assert full.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        sent["Solve", "RESOURCE_EXHAUSTED"] += 1
        scrape = Scrape(url)
        assert scrape.value("prunecert_solver_slots_busy") == 1
        assert scrape.value("prunecert_solve_queue_length") == 1
        holder.cancel()
        sent["SolveStream", "CANCELLED"] += 1
        assert queued.result(timeout=120).stats.queue_wait_seconds > 0
        sent["Solve", "OK"] += 1

        # Jobs: one left queued (2 items pending), one cancelled (3 items never run).
        def submit(count: int) -> jobs_pb2.Job:
            request = jobs_pb2.SubmitJobRequest()
            for _ in range(count):
                request.problems.problems.append(convert.problem_to_proto(small()))
            sent["SubmitJob", "OK"] += 1
            return stub.SubmitJob(request, timeout=30)

        submit(2)
        cancelled = submit(3)
        stub.CancelJob(jobs_pb2.CancelJobRequest(id=cancelled.id), timeout=30)
        sent["CancelJob", "OK"] += 1

        # The cancelled stream is counted once its handler has wound up: poll for it.
        def settled() -> bool:
            now = Scrape(url)
            return (
                now.value("prunecert_solver_slots_busy") == 0
                and now.sum_of("grpc_server_handled_total", grpc_method="SolveStream") == 1
            )

        wait_until(settled, "the stream's end is counted")
        scrape = Scrape(url)

    for (method, code), count in sent.items():
        labels = {"grpc_service": SERVICE, "grpc_method": method}
        assert scrape.value("grpc_server_handled_total", **labels, grpc_code=code) == count, (
            method,
            code,
        )
    for method in {m for m, _ in sent}:
        labels = {"grpc_service": SERVICE, "grpc_method": method}
        total = sum(n for (m, _), n in sent.items() if m == method)
        assert scrape.sum_of("grpc_server_handled_total", **labels) == total, method
        assert scrape.value("grpc_server_started_total", **labels) == total, method
        assert scrape.value("grpc_server_handling_seconds_count", **labels) == total, method
        assert scrape.value("grpc_server_handling_seconds_bucket", **labels, le="+Inf") == total
    # Health checks (the fixture's wait for SERVING) are counted under their own service.
    health = {"grpc_service": "grpc.health.v1.Health", "grpc_method": "Check"}
    assert scrape.value("grpc_server_handled_total", **health, grpc_code="OK") >= 1

    # Solve outcomes: four Solves and the Certify's optimum, all OPTIMAL; the cancelled stream
    # has none.
    assert scrape.value("prunecert_solve_outcomes_total", method="Solve", status="OPTIMAL") == 4
    assert scrape.value("prunecert_solve_outcomes_total", method="Certify", status="OPTIMAL") == 1
    assert scrape.sum_of("prunecert_solve_outcomes_total", method="SolveStream") == 0

    # Calls that asked for the solver process: 3 solves, the certification, the stream and the
    # queued solve got it (the last after a wait); one was refused with the queue full.
    waits = "prunecert_solve_queue_wait_seconds"
    assert scrape.value(f"{waits}_count", outcome="served") == 6
    assert scrape.value(f"{waits}_sum", outcome="served") > 0
    assert scrape.value(f"{waits}_count", outcome="full") == 1
    assert scrape.value(f"{waits}_count", outcome="timed_out") == 0
    assert scrape.value(f"{waits}_count", outcome="cancelled") == 0

    assert scrape.value("prunecert_solver_slots") == 1
    assert scrape.value("prunecert_solver_slots_busy") == 0
    assert scrape.value("prunecert_solve_queue_length") == 0
    assert scrape.value("prunecert_solve_queue_limit") == 1
    assert scrape.value("prunecert_solve_queue_max_wait_seconds") == 30

    assert scrape.value("prunecert_job_store_readable") == 1
    assert scrape.value("prunecert_jobs", state="queued") == 1
    assert scrape.value("prunecert_jobs", state="cancelled") == 1
    assert scrape.sum_of("prunecert_jobs") == 2
    assert scrape.value("prunecert_job_items", state="pending") == 2
    assert scrape.value("prunecert_job_items", state="not_run") == 3
    assert scrape.value("prunecert_job_items", state="succeeded") == 0


def test_unauthenticated_calls_are_counted_with_their_code(tmp_path):
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("tok\n")
    port = free_port()
    with (
        serving(tmp_path, "--max-concurrent", "1", "--token-file", str(tokens),
                "--metrics-port", str(port)) as server,
        grpc.insecure_channel(server.remote) as channel,
    ):  # fmt: skip
        stub = service_pb2_grpc.PruningSolverStub(channel)
        for _ in range(2):
            with pytest.raises(grpc.RpcError) as refused:
                stub.GetServerInfo(service_pb2.GetServerInfoRequest(), timeout=10)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        stub.GetServerInfo(
            service_pb2.GetServerInfoRequest(),
            metadata=[("authorization", "Bearer tok")],
            timeout=10,
        )
        scrape = Scrape(f"http://127.0.0.1:{port}/metrics")
    labels = {"grpc_service": SERVICE, "grpc_method": "GetServerInfo"}
    assert scrape.value("grpc_server_handled_total", **labels, grpc_code="UNAUTHENTICATED") == 2
    assert scrape.value("grpc_server_handled_total", **labels, grpc_code="OK") == 1


def test_each_server_counts_in_a_registry_of_its_own():
    first, second = ServiceMetrics(), ServiceMetrics()  # no clash over metric names
    first.observe_solve("Solve", "OPTIMAL")
    first.observe_queue("served", 0.5)
    sample = ("prunecert_solve_outcomes_total", {"method": "Solve", "status": "OPTIMAL"})
    assert first.registry.get_sample_value(*sample) == 1
    assert second.registry.get_sample_value(*sample) is None
    count = ("prunecert_solve_queue_wait_seconds_count", {"outcome": "served"})
    assert first.registry.get_sample_value(*count) == 1
    assert second.registry.get_sample_value(*count) == 0
