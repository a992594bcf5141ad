"""Streams, malformed streaming requests and shutdown against real `prunecert serve` processes
(issue 15, items 3 and 6; solver.service.admission).

* Item 3: with 10 WatchJob streams open, health, GetServerInfo and Solve all timed out (the RPC
  pool had max_concurrent + 8 threads). Streams now have a budget, per tenant and in total;
  beyond it a stream gets RESOURCE_EXHAUSTED naming the setting, and unary calls still answer.
* Item 6: five malformed server-reflection requests left calls gRPC could never finish, and
  SIGTERM no longer ended the server. They now get INVALID_ARGUMENT, and the server exits.

The job server here points its feeder at a Dask scheduler that does not exist, so a submitted
job stays QUEUED and its WatchJob stays open without any solving (no CPU on a shared machine).
"""

from __future__ import annotations

import threading
from fractions import Fraction

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from grpc_status import rpc_status

from prunecert.v1 import jobs_pb2, service_pb2, service_pb2_grpc, solve_pb2
from solver.core.problem import MinError, PruningMode
from solver.instances.generate import paper_problem
from solver.io import convert
from tests.support.reference import table
from tests.support.server_groups import TOKENS, serving_group
from tests.support.servers import free_port

pytestmark = pytest.mark.timeout(240)

TOK_A, TOK_B = TOKENS
REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


def auth(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def tiny_problem():
    return paper_problem(2, 4, 1, PruningMode.NEURONS, MinError(2), points_per_axis=5)


def violated_fields(err: grpc.RpcError) -> list[str]:
    status = rpc_status.from_call(err)
    fields = []
    for detail in status.details if status else ():
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            fields += [v.field for v in bad.field_violations]
    return fields


def first_event_or_error(call):
    try:
        return next(call), None
    except grpc.RpcError as err:
        return None, err


@pytest.fixture
def jobs_server(tmp_path):
    # A scheduler address nothing listens on: jobs stay QUEUED (see the module docstring).
    with serving_group(
        tmp_path,
        "--max-concurrent",
        "1",
        "--max-streams",
        "3",
        "--max-streams-per-tenant",
        "2",
        "--dask-scheduler",
        f"tcp://127.0.0.1:{free_port()}",
    ) as served:
        yield served


def test_streams_past_the_budget_are_refused_and_unary_calls_still_answer(jobs_server):
    with grpc.insecure_channel(jobs_server.remote) as channel:
        stub = service_pb2_grpc.PruningSolverStub(channel)
        request = jobs_pb2.SubmitJobRequest()
        request.problems.problems.append(convert.problem_to_proto(tiny_problem()))
        job_a = stub.SubmitJob(request, metadata=auth(TOK_A), timeout=30)
        job_b = stub.SubmitJob(request, metadata=auth(TOK_B), timeout=30)

        def watch(token: str, job_id: str):
            return stub.WatchJob(jobs_pb2.WatchJobRequest(id=job_id), metadata=auth(token))

        open_calls = []
        try:
            # Tenant A: two streams (its share), the third is refused for the per-tenant cap.
            for _ in range(2):
                call = watch(TOK_A, job_a.id)
                event, err = first_event_or_error(call)
                assert err is None, err
                assert event.job.state == jobs_pb2.JOB_STATE_QUEUED
                open_calls.append(call)
            event, err = first_event_or_error(watch(TOK_A, job_a.id))
            assert err is not None and err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert violated_fields(err) == ["max_streams_per_tenant"]
            # Tenant B is not starved by A: it gets the last stream of the total budget...
            call = watch(TOK_B, job_b.id)
            event, err = first_event_or_error(call)
            assert err is None, err
            open_calls.append(call)
            # ...and past the total every stream is refused, whoever asks.
            for token, job in ((TOK_B, job_b), (TOK_A, job_a)):
                _, err = first_event_or_error(watch(token, job.id))
                assert err is not None and err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert violated_fields(err) == ["max_streams"]
            # Reflection is a stream too.
            reflect = channel.stream_stream(
                REFLECTION,
                request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
            )
            ask = reflection_pb2.ServerReflectionRequest(list_services="")
            _, err = first_event_or_error(reflect(iter([ask]), metadata=auth(TOK_A)))
            assert err is not None and err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

            # With every stream slot taken, health, info and a solve answer (each with a
            # deadline, so a starved server fails the test instead of hanging it).
            check = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
            assert check.status == health_pb2.HealthCheckResponse.SERVING
            info = stub.GetServerInfo(
                service_pb2.GetServerInfoRequest(), metadata=auth(TOK_A), timeout=5
            )
            assert info.requires_token
            problem = tiny_problem()
            reply = stub.Solve(
                service_pb2.SolveRequest(problem=convert.problem_to_proto(problem)),
                metadata=auth(TOK_B),
                timeout=60,
            )
            assert reply.status == solve_pb2.SOLVE_STATUS_OPTIMAL
            best = table(problem).min_error(2)
            assert abs(Fraction(reply.solution.error) - best) <= Fraction(1, 10**9)
            # Every open stream is still served.
            for call in open_calls:
                assert call.is_active()
        finally:
            for call in open_calls:
                call.cancel()

        # Closed streams give their slots back (released when gRPC ends the call: poll).
        for _ in range(100):
            call = watch(TOK_A, job_a.id)
            _, err = first_event_or_error(call)
            call.cancel()
            if err is None:
                break
            assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert err is None, err


def test_malformed_reflection_requests_do_not_stop_sigterm(tmp_path):
    with serving_group(tmp_path, "--max-concurrent", "1", "--grace", "1", tokens=False) as served:
        with grpc.insecure_channel(served.remote) as channel:
            reflect = channel.stream_stream(REFLECTION)  # raw bytes both ways
            for _ in range(5):
                call = reflect(iter([b"\xff\xff\xff\xff not a request"]), timeout=30)
                _, err = first_event_or_error(call)
                assert err is not None and err.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert violated_fields(err) == ["request"]
                assert "Exception" not in (err.details() or "")
            # A well-formed reflection stream the client never closes does not block it either.
            held = channel.stream_stream(
                REFLECTION,
                request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
            )

            done = threading.Event()

            def until_done():
                yield reflection_pb2.ServerReflectionRequest(list_services="")
                done.wait(120)  # does not half-close while the server stops

            open_stream = held(until_done(), timeout=120)
            try:
                reply = next(open_stream)
                assert reply.list_services_response.service
                # The bound: the server used not to exit within 20 s.
                code, _ = served.stop(timeout=20)
                assert code == 0
            finally:
                done.set()
                open_stream.cancel()


# -- item 11: request bytes in flight -------------------------------------------------------------

PAD_FIELD = 19_999  # a field number no request type uses: parsed, kept as unknown, and ignored


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def padded(message, size: int) -> bytes:
    """``message`` serialized and grown to about ``size`` bytes by one unknown field."""
    body = b"\0" * size
    return message.SerializeToString() + _varint(PAD_FIELD << 3 | 2) + _varint(size) + body


class RssWatch:
    """The server process's RSS: before, highest seen while running, after (reported only)."""

    def __init__(self, pid: int):
        import psutil

        self.process = psutil.Process(pid)
        self.before = self.peak = self.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def rss(self) -> int:
        return self.process.memory_info().rss

    def _poll(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.rss())

    def stop(self) -> str:
        self._stop.set()
        self._thread.join()
        after = self.rss()
        mib = 1024 * 1024
        return f"RSS before {self.before // mib} MiB, peak {self.peak // mib} MiB, after {after // mib} MiB"


def test_request_bytes_in_flight_are_capped(tmp_path):
    from solver.io.wire import MESSAGE_SIZE_OPTIONS

    mb = 1_000_000
    with (
        serving_group(
            tmp_path,
            "--max-concurrent",
            "1",
            "--max-request-bytes",
            str(100 * mb),
            "--dask-scheduler",
            f"tcp://127.0.0.1:{free_port()}",
            tokens=False,
        ) as served,
        grpc.insecure_channel(served.remote, options=list(MESSAGE_SIZE_OPTIONS)) as ch,
    ):
        stub = service_pb2_grpc.PruningSolverStub(ch)
        request = jobs_pb2.SubmitJobRequest()
        request.problems.problems.append(convert.problem_to_proto(tiny_problem()))
        job = stub.SubmitJob(request, timeout=30)
        rss = RssWatch(served.proc.pid)
        # One 60 MB request held in flight: a WatchJob (its job stays QUEUED) counts its bytes
        # for as long as the stream is open.
        watch_raw = ch.unary_stream(
            "/prunecert.v1.PruningSolver/WatchJob",
            response_deserializer=jobs_pb2.JobEvent.FromString,
        )
        held = watch_raw(padded(jobs_pb2.WatchJobRequest(id=job.id), 60 * mb))
        try:
            assert next(held).job.id == job.id
            # Six more 60 MB requests at once: none fits beside it, each refused unparsed.
            solve_raw = ch.unary_unary("/prunecert.v1.PruningSolver/Solve")
            big_solve = padded(
                service_pb2.SolveRequest(problem=convert.problem_to_proto(tiny_problem())), 60 * mb
            )
            errors: list[grpc.RpcError | None] = []

            def send() -> None:
                try:
                    solve_raw(big_solve, timeout=120)
                    errors.append(None)
                except grpc.RpcError as err:
                    errors.append(err)

            senders = [threading.Thread(target=send) for _ in range(6)]
            for t in senders:
                t.start()
            for t in senders:
                t.join()
            assert len(errors) == 6
            for err in errors:
                assert err is not None and err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert violated_fields(err) == ["max_request_bytes_in_flight"]
            # Small requests still fit.
            assert stub.GetServerInfo(service_pb2.GetServerInfoRequest(), timeout=10).version
        finally:
            held.cancel()
        # Once the held stream ends its bytes are returned (when gRPC ends the call: poll), and
        # a large request is served and solved like any other.
        for _ in range(100):
            try:
                reply = solve_raw(big_solve, timeout=120)
                break
            except grpc.RpcError as err:
                assert violated_fields(err) == ["max_request_bytes_in_flight"]
        else:
            pytest.fail("the held request's bytes were never returned")
        result = solve_pb2.SolveResult.FromString(reply)
        assert result.status == solve_pb2.SOLVE_STATUS_OPTIMAL
        best = table(tiny_problem()).min_error(2)
        assert abs(Fraction(result.solution.error) - best) <= Fraction(1, 10**9)
        print(f"\n8 x 60 MB requests, cap 100 MB: {rss.stop()}")


def test_admission_settings_are_checked_with_their_flags():
    from solver.core.errors import ConfigurationError
    from solver.service.server import ServerConfig

    bad = ServerConfig(
        max_streams=0, max_streams_per_tenant=0, max_request_bytes=0, worker_memory_bytes=0
    ).violations()
    assert {(v.field, v.flag) for v in bad} == {
        ("max_streams", "--max-streams"),
        ("max_streams_per_tenant", "--max-streams-per-tenant"),
        ("max_request_bytes", "--max-request-bytes"),
        ("worker_memory_bytes", "--worker-memory"),
    }
    assert [
        v.field for v in ServerConfig(max_streams=2, max_streams_per_tenant=3).violations()
    ] == ["max_streams_per_tenant"]
    with pytest.raises(ConfigurationError):
        ServerConfig(max_streams=0).check()
    ServerConfig().check()
