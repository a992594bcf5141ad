"""The PruneCert client: typed calls over gRPC, the core's dataclasses in and out."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc

from prunecert.v1 import jobs_pb2, service_pb2, service_pb2_grpc
from prunecert_client._exceptions import from_rpc_error
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
    Tls,
    certify_result_from_message,
    job_from_message,
    job_item_from_message,
)
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


class Client:
    """A connection to a PruneCert server.

    >>> with Client("127.0.0.1:50051") as client:
    ...     result = client.solve(problem, time_limit=30)
    """

    def __init__(self, address: str, token: str | None = None, tls: Tls | bool | None = None):
        options = [
            ("grpc.enable_retries", 1),
            ("grpc.service_config", _SERVICE_CONFIG),
            *MESSAGE_SIZE_OPTIONS,  # the server's limit, so large problems and results pass
        ]
        if tls:
            settings = tls if isinstance(tls, Tls) else Tls()
            if settings.server_name:
                options.append(("grpc.ssl_target_name_override", settings.server_name))
            credentials = grpc.ssl_channel_credentials(root_certificates=settings.root_certificate)
            self._channel = grpc.secure_channel(address, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(address, options=options)
        self._stub = service_pb2_grpc.PruningSolverStub(self._channel)
        self._metadata = ((AUTHORIZATION_KEY, f"{BEARER_PREFIX}{token}"),) if token else ()

    def close(self) -> None:
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
        try:
            reply = self._stub.Solve(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from exc
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
        """Solve remotely, yielding progress events and finally ``Finished``. Leaving the loop
        early cancels the solve on the server."""
        request = self._request(problem, self._parameters(parameters, params), request_id)
        call = self._stub.SolveStream(request, timeout=timeout, metadata=self._metadata)
        try:
            for event in call:
                kind = event.WhichOneof("kind")
                t = event.elapsed_seconds
                if kind == "incumbent":
                    yield Incumbent(t, event.incumbent.kept, event.incumbent.error)
                elif kind == "bound":
                    yield BoundUpdate(t, event.bound)
                elif kind == "log":
                    yield LogLine(t, event.log)
                elif kind == "result":
                    yield Finished(t, convert.parse_result(event.result))
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from exc
        finally:
            call.cancel()

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
        try:
            reply = self._stub.Certify(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from exc
        return certify_result_from_message(reply)

    def server_info(self, *, timeout: float | None = 10.0) -> ServerInfo:
        try:
            reply = self._stub.GetServerInfo(
                service_pb2.GetServerInfoRequest(), timeout=timeout, metadata=self._metadata
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from exc
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
        try:
            return method(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from exc

    def submit_job(self, request: jobs_pb2.SubmitJobRequest | str) -> Job:
        """Submit a job from a SubmitJobRequest or its proto3 JSON (a spec file's text)."""
        if isinstance(request, str):
            request = convert.parse_json(request, jobs_pb2.SubmitJobRequest, what="spec")
        return job_from_message(self._call(self._stub.SubmitJob, request))

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
            raise from_rpc_error(exc) from exc
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
            raise from_rpc_error(exc) from exc
        finally:
            call.cancel()

    def job_results(
        self, job_id: str, offset: int = 0, timeout: float | None = None
    ) -> Iterator[JobItem]:
        """The finished items in index order from ``offset`` (resume a download there)."""
        for msg in self.job_results_messages(job_id, offset, timeout):
            yield job_item_from_message(msg)
