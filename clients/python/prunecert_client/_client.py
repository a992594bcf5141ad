"""The PruneCert client: typed calls over gRPC, the core's dataclasses in and out."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator

import grpc

from prunecert.v1 import jobs_pb2, service_pb2, service_pb2_grpc
from prunecert_client._connection import split_address
from prunecert_client._exceptions import ClientError, from_rpc_error
from prunecert_client._types import (
    BackendInfo,
    BoundUpdate,
    CertifyResult,
    Finished,
    Incumbent,
    Job,
    JobEvent,
    JobItem,
    LogLine,
    ServerInfo,
    SolveEvent,
    Started,
    Tls,
    certify_result_from_message,
    job_from_message,
    job_item_from_message,
)
from prunecert_client._waiting import BusyWait, OnWait
from solver.core.parameters import SolveParameters
from solver.core.problem import Mask, Problem
from solver.core.result import SolveResult
from solver.io import convert
from solver.io.wire import (
    AUTHORIZATION_KEY,
    BEARER_PREFIX,
    MESSAGE_SIZE_OPTIONS,
    SERVICE_NAME,
)

# UNAVAILABLE is retried with exponential backoff by grpc itself (every RPC here is a pure
# function of its request, hence idempotent).
_SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{"service": SERVICE_NAME}],
                "retryPolicy": {
                    "maxAttempts": 5,
                    "initialBackoff": "0.2s",
                    "maxBackoff": "5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
)

# Looking into a refused connection address by address (prunecert_client._connection): any
# method will do, the connection fails before it is looked up; health needs no token.
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
PROBE_SECONDS = 5.0


class Client:
    """A connection to a PruneCert server.

    >>> with Client("127.0.0.1:50051") as client:
    ...     result = client.solve(problem, time_limit=30)

    ``tls``: a Tls, or True for TLS with the system's CA roots (Tls()); None or False for
    plaintext. ``wait_seconds``: while the server is busy (RESOURCE_EXHAUSTED for its load), send
    Solve, Certify, SolveStream (before its first event) and SubmitJob again with exponential
    backoff, for up to this many seconds in all (default 0: fail at once); ``on_wait(seconds,
    refusal)`` is called before each wait (default: a log record on the "prunecert_client"
    logger). A call's ``timeout`` applies to each attempt.
    """

    def __init__(
        self,
        address: str,
        token: str | None = None,
        tls: Tls | bool | None = None,
        *,
        wait_seconds: float = 0.0,
        on_wait: OnWait | None = None,
    ):
        options = [
            ("grpc.enable_retries", 1),
            ("grpc.service_config", _SERVICE_CONFIG),
            *MESSAGE_SIZE_OPTIONS,  # the server's limit, so large problems and results pass
        ]
        self._address = address
        self._tls = (tls if isinstance(tls, Tls) else Tls()) if tls else None
        self._closed = threading.Event()
        self._busy = BusyWait(wait_seconds, on_wait, self._closed)
        if self._tls is not None:
            if self._tls.server_name:
                options.append(("grpc.ssl_target_name_override", self._tls.server_name))
            credentials = grpc.ssl_channel_credentials(
                root_certificates=self._tls.root_certificates()
            )
            self._channel = grpc.secure_channel(address, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(address, options=options)
        self._stub = service_pb2_grpc.PruningSolverStub(self._channel)
        self._metadata = ((AUTHORIZATION_KEY, f"{BEARER_PREFIX}{token}"),) if token else ()

    def _error(self, exc: grpc.RpcError) -> ClientError:
        """The ClientError for a failed call on this channel (a connection failure's cause and
        hint need the address and the TLS settings)."""
        return from_rpc_error(exc, self._address, self._tls, self._failure_at)

    def _failure_at(self, target: str) -> str | None:
        """grpc's UNAVAILABLE text for one health check at ``target`` (one resolved address, as
        "ipv4:IP:PORT"), on a channel of its own without retries, the certificate checked
        against the name this client checks; None when it got through."""
        host, _ = split_address(self._address)
        options = [("grpc.enable_retries", 0)]
        if self._tls is not None:
            options.append(("grpc.ssl_target_name_override", self._tls.server_name or host))
            credentials = grpc.ssl_channel_credentials(self._tls.root_certificates())
            channel = grpc.secure_channel(target, credentials, options=options)
        else:
            channel = grpc.insecure_channel(target, options=options)
        try:
            channel.unary_unary(HEALTH_CHECK)(b"", timeout=PROBE_SECONDS)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                return exc.details()
        finally:
            channel.close()
        return None

    def _unary(self, method, request, timeout: float | None):
        try:
            return method(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise self._error(exc) from exc

    def close(self) -> None:
        """Close the channel: cancels calls in flight and ends a wait for a busy server."""
        self._closed.set()
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- calls ---------------------------------------------------------------------------------
    @staticmethod
    def _parameters(parameters: SolveParameters | None, keywords: dict) -> SolveParameters:
        """A SolveParameters, or one built from keywords; ``time_limit`` is accepted for
        ``time_limit_seconds``."""
        if parameters is not None:
            if keywords:
                raise TypeError("pass either parameters or keyword parameters, not both")
            return parameters
        if "time_limit" in keywords:
            keywords["time_limit_seconds"] = keywords.pop("time_limit")
        return SolveParameters(**keywords)

    @staticmethod
    def _request(
        problem: Problem, params: SolveParameters, request_id: str
    ) -> service_pb2.SolveRequest:
        return service_pb2.SolveRequest(
            problem=convert.problem_to_proto(problem),
            parameters=convert.parameters_to_proto(params),
            request_id=request_id,
        )

    def solve(
        self,
        problem: Problem,
        parameters: SolveParameters | None = None,
        *,
        timeout: float | None = None,
        request_id: str = "",
        **params,
    ) -> SolveResult:
        """Solve remotely. Parameters as a SolveParameters or keywords (time_limit,
        backend, threads, seed, tolerance, row_generation); ``timeout`` is the RPC deadline."""
        request = self._request(problem, self._parameters(parameters, params), request_id)
        reply = self._busy.run(lambda: self._unary(self._stub.Solve, request, timeout))
        return convert.parse_result(reply)

    def solve_stream(
        self,
        problem: Problem,
        parameters: SolveParameters | None = None,
        *,
        timeout: float | None = None,
        request_id: str = "",
        **params,
    ) -> Iterator[SolveEvent]:
        """Solve remotely, yielding ``Started`` (once a solver process has the solve), progress
        events and finally ``Finished``. Leaving the loop early cancels the solve on the server
        and loses its result; ``stop_solve(started.solve_id)`` instead stops it and keeps the
        stream going to a ``Finished`` (CANCELLED, with the best certified mask so far).
        ``Incumbent`` events carry the solver's estimates, not certified figures."""
        request = self._request(problem, self._parameters(parameters, params), request_id)

        def start():
            """The call and its first event (None: it ended without one). Until an event has
            arrived the server has done nothing for the call, so a busy refusal is retried."""
            call = self._stub.SolveStream(request, timeout=timeout, metadata=self._metadata)
            try:
                return call, next(call, None)
            except grpc.RpcError as exc:
                call.cancel()
                raise self._error(exc) from exc

        call, first = self._busy.run(start)
        try:
            if first is None:
                return
            for event in itertools.chain([first], call):
                kind = event.WhichOneof("kind")
                t = event.elapsed_seconds
                if kind == "started":
                    yield Started(t, event.started.solve_id, event.started.queue_wait_seconds)
                elif kind == "incumbent":
                    yield Incumbent(t, event.incumbent.kept, event.incumbent.error)
                elif kind == "bound":
                    yield BoundUpdate(t, event.bound)
                elif kind == "log":
                    yield LogLine(t, event.log)
                elif kind == "result":
                    result = event.result
                    yield Finished(
                        t, convert.parse_result(result), convert.parse_distributed(result)
                    )
        except grpc.RpcError as exc:
            raise self._error(exc) from exc
        finally:
            call.cancel()

    def stop_solve(self, solve_id: str, *, timeout: float | None = 10.0) -> None:
        """Stop this caller's running ``solve_stream`` named by ``Started.solve_id``, as a local
        Ctrl-C does: its stream then ends with ``Finished``, a CANCELLED result with the best
        certified mask found so far and a rigorous bound. NotFound when no solve of this
        caller's (same token) has that id, e.g. one that has already ended."""
        self._unary(self._stub.StopSolve, service_pb2.StopSolveRequest(solve_id=solve_id), timeout)

    def certify(
        self,
        problem: Problem,
        mask: Mask,
        *,
        compare_with_optimum: bool = False,
        parameters: SolveParameters | None = None,
        timeout: float | None = None,
        request_id: str = "",
    ) -> CertifyResult:
        """The mask's exact error and kept count; with compare_with_optimum, also the certified
        optimum for the same budget and the gap."""
        request = service_pb2.CertifyRequest(
            problem=convert.problem_to_proto(problem),
            mask=convert.mask_to_proto(mask),
            compare_with_optimum=compare_with_optimum,
            parameters=convert.parameters_to_proto(parameters or SolveParameters()),
            request_id=request_id,
        )
        reply = self._busy.run(lambda: self._unary(self._stub.Certify, request, timeout))
        return certify_result_from_message(reply)

    def server_info(self, *, timeout: float | None = 10.0) -> ServerInfo:
        reply = self._unary(self._stub.GetServerInfo, service_pb2.GetServerInfoRequest(), timeout)
        return ServerInfo(
            version=reply.version,
            backends=[
                BackendInfo(b.name, b.version, b.supports_early_stop) for b in reply.backends
            ],
            max_units=reply.max_units,
            max_input_dim=reply.max_input_dim,
            max_points=reply.max_points,
            max_weight_candidates=reply.max_weight_candidates,
            max_concurrent_solves=reply.max_concurrent_solves,
            max_time_limit_seconds=reply.max_time_limit_seconds,
            requires_token=reply.requires_token,
        )

    # -- jobs ----------------------------------------------------------------------------------
    def _call(self, method, request, timeout: float | None = 30.0):
        return self._unary(method, request, timeout)

    def submit_job(self, request: jobs_pb2.SubmitJobRequest | str) -> Job:
        """Submit a job from a SubmitJobRequest or its proto3 JSON (a spec file's text). A
        submission refused as busy stored nothing, so it is sent again as it is (with its
        request_id, if any: that makes even a repeated success return the one job)."""
        if isinstance(request, str):
            request = convert.parse_json(request, jobs_pb2.SubmitJobRequest, what="spec")
        return job_from_message(self._busy.run(lambda: self._call(self._stub.SubmitJob, request)))

    def submit_problems(
        self,
        problems: list[Problem],
        parameters: SolveParameters | None = None,
        request_id: str = "",
    ) -> Job:
        request = jobs_pb2.SubmitJobRequest(
            request_id=request_id,
            problems=jobs_pb2.ProblemList(problems=[convert.problem_to_proto(p) for p in problems]),
            parameters=convert.parameters_to_proto(parameters or SolveParameters()),
        )
        return self.submit_job(request)

    def submit_certify(
        self,
        items: list[tuple[Problem, Mask]],
        compare_with_optimum: bool = True,
        parameters: SolveParameters | None = None,
        request_id: str = "",
    ) -> Job:
        request = jobs_pb2.SubmitJobRequest(
            request_id=request_id,
            certify=jobs_pb2.CertifyList(
                items=[
                    jobs_pb2.CertifyItem(
                        problem=convert.problem_to_proto(p), mask=convert.mask_to_proto(m)
                    )
                    for p, m in items
                ],
                compare_with_optimum=compare_with_optimum,
            ),
            parameters=convert.parameters_to_proto(parameters or SolveParameters()),
        )
        return self.submit_job(request)

    def get_job(self, job_id: str) -> Job:
        return job_from_message(self._call(self._stub.GetJob, jobs_pb2.GetJobRequest(id=job_id)))

    def list_jobs(
        self, state: str | None = None, page_size: int = 50, page_token: str = ""
    ) -> tuple[list[Job], str]:
        """One page of the caller's jobs (newest first) and the next page's token ("" at end)."""
        request = jobs_pb2.ListJobsRequest(
            page_size=page_size,
            page_token=page_token,
            state=jobs_pb2.JobState.Value(state) if state else 0,
        )
        reply = self._call(self._stub.ListJobs, request)
        return [job_from_message(j) for j in reply.jobs], reply.next_page_token

    def cancel_job(self, job_id: str) -> Job:
        return job_from_message(
            self._call(self._stub.CancelJob, jobs_pb2.CancelJobRequest(id=job_id))
        )

    def watch_job(self, job_id: str, timeout: float | None = None) -> Iterator[JobEvent]:
        """Events until the job is final: the job after each change, and each finished item."""
        call = self._stub.WatchJob(
            jobs_pb2.WatchJobRequest(id=job_id), timeout=timeout, metadata=self._metadata
        )
        try:
            for event in call:
                item = (
                    job_item_from_message(event.item, with_problem=False)
                    if event.HasField("item")
                    else None
                )
                yield JobEvent(job_from_message(event.job), item)
        except grpc.RpcError as exc:
            raise self._error(exc) from exc
        finally:
            call.cancel()

    def job_results_messages(self, job_id: str, offset: int = 0, timeout: float | None = None):
        """The finished items as prunecert.v1.JobItemResult messages (for exports)."""
        call = self._stub.GetJobResults(
            jobs_pb2.GetJobResultsRequest(id=job_id, offset=offset),
            timeout=timeout,
            metadata=self._metadata,
        )
        try:
            yield from call
        except grpc.RpcError as exc:
            raise self._error(exc) from exc
        finally:
            call.cancel()

    def job_results(
        self, job_id: str, offset: int = 0, timeout: float | None = None
    ) -> Iterator[JobItem]:
        """The finished items in index order from ``offset`` (resume a download there)."""
        for msg in self.job_results_messages(job_id, offset, timeout):
            yield job_item_from_message(msg)
