"""Errors become RPC statuses by their class's ``grpc_status``, never by their class name: in the
RPC thread (status.code_of) and across a worker's pipe (a structured WorkerError).

The worker tests run the worker's loop (workers._worker_main) in a thread on real pipes, so what
crosses is exactly what a worker process sends: pickled WorkerErrors.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2

from prunecert.v1 import service_pb2, solve_pb2
from solver.core.errors import (
    BackendUnavailableError,
    FieldViolation,
    InvalidProblemError,
    JobNotFoundError,
    ProblemTooLargeError,
    PruneCertError,
    UnrepresentableError,
)
from solver.core.problem import MinError, PruningMode
from solver.core.validate import DEFAULT_LIMITS
from solver.instances.generate import paper_problem
from solver.io import convert
from solver.service import jobs as worker_jobs
from solver.service.servicer import PruningSolverServicer
from solver.service.status import RpcError, code_of, to_status
from solver.service.workers import WorkerError, _worker_main
from tests.core.test_errors import EXPECTED_STATUS, TREE, make


def rich_status(error: RpcError) -> tuple[int, str, list[tuple[str, str]]]:
    """The google.rpc.Status an RpcError ends its call with: code, message, field violations."""
    status = status_pb2.Status.FromString(to_status(error).trailing_metadata[0][1])
    violations = []
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        assert detail.Unpack(bad)
        violations += [(v.field, v.description) for v in bad.field_violations]
    return status.code, status.message, violations


# -- in the RPC thread ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", TREE, ids=lambda c: c.__name__)
def test_every_error_maps_to_the_status_its_class_names(cls):
    assert code_of(make(cls)) == grpc.StatusCode[EXPECTED_STATUS[cls]]
    assert RpcError.from_exception(make(cls)).code == grpc.StatusCode[EXPECTED_STATUS[cls]]


@pytest.mark.parametrize("parent", TREE, ids=lambda c: c.__name__)
def test_a_renamed_error_keeps_its_status(parent):
    renamed = type("NotInAnyTable", (parent,), {})
    assert code_of(make(renamed)) == grpc.StatusCode[EXPECTED_STATUS[parent]]


def test_a_bug_is_internal():
    assert code_of(ValueError("oops")) == grpc.StatusCode.INTERNAL
    assert RpcError.from_exception(KeyError("k")).code == grpc.StatusCode.INTERNAL


def test_invalid_argument_carries_its_field_violations():
    exc = InvalidProblemError(
        [
            FieldViolation("parameters.threads", "must be >= 0", "--threads"),
            FieldViolation("network.hidden_weights", "must not be empty"),
        ]
    )
    code, message, violations = rich_status(RpcError.from_exception(exc))
    assert code == code_pb2.INVALID_ARGUMENT
    assert message == str(exc)
    assert violations == [
        ("parameters.threads", "must be >= 0"),
        ("network.hidden_weights", "must not be empty"),
    ]


def test_resource_exhausted_keeps_its_violations_too():
    exc = ProblemTooLargeError(FieldViolation("domain", "too many points"))
    code, _, violations = rich_status(RpcError.from_exception(exc))
    assert code == code_pb2.RESOURCE_EXHAUSTED
    assert violations == [("domain", "too many points")]


@pytest.mark.parametrize(
    "exc, code",
    [
        (UnrepresentableError("too large"), code_pb2.INVALID_ARGUMENT),
        (BackendUnavailableError("no gurobi"), code_pb2.NOT_FOUND),
        (JobNotFoundError("no job 'x'"), code_pb2.NOT_FOUND),
        (PruneCertError("on purpose"), code_pb2.INTERNAL),
    ],
)
def test_errors_without_violations_have_no_details(exc, code):
    assert rich_status(RpcError.from_exception(exc)) == (code, str(exc), [])


def test_an_unknown_status_name_is_refused_loudly():
    with pytest.raises(KeyError):
        _ = RpcError("NOT_A_STATUS", "x").code


# -- across the worker's pipe ---------------------------------------------------------------------


@contextmanager
def worker_loop() -> Iterator:
    """The server's end of a worker loop running in a thread."""
    server_end, worker_end = mp.Pipe()
    control_receive, control_send = mp.Pipe(duplex=False)
    thread = threading.Thread(
        target=_worker_main, args=(worker_end, control_receive, DEFAULT_LIMITS), daemon=True
    )
    thread.start()
    try:
        assert server_end.poll(60) and server_end.recv() == ("ready",)
        yield server_end
    finally:
        server_end.send(("exit",))
        thread.join(10)
        control_send.close()
        server_end.close()
    assert not thread.is_alive()


def solve_in_worker(request: service_pb2.SolveRequest):
    with worker_loop() as conn:
        conn.send((1, "solve", request.SerializeToString(), 10.0, False))
        assert conn.poll(60)
        return conn.recv()


def small_request(**params) -> service_pb2.SolveRequest:
    problem = paper_problem(1, 3, 1, PruningMode.NEURONS, MinError(max_kept=1), 5)
    request = service_pb2.SolveRequest(problem=convert.problem_to_proto(problem))
    for name, value in params.items():
        setattr(request.parameters, name, value)
    return request


def test_worker_sends_invalid_argument_with_its_violations():
    request = service_pb2.SolveRequest()  # no problem at all
    with pytest.raises(InvalidProblemError) as local:
        convert.parse_problem(request.problem, DEFAULT_LIMITS)
    tag, error = solve_in_worker(request)
    assert tag == "error"
    assert error == WorkerError("INVALID_ARGUMENT", str(local.value), tuple(local.value.violations))


def test_worker_sends_not_found_for_an_unknown_backend():
    tag, error = solve_in_worker(small_request(backend="gurobi"))
    assert tag == "error"
    assert (error.status, error.violations) == ("NOT_FOUND", ())
    assert "gurobi" in error.message


def test_worker_still_solves():
    tag, payload, _recycle = solve_in_worker(small_request())
    assert tag == "reply"
    assert solve_pb2.SolveResult.FromString(payload).status == solve_pb2.SOLVE_STATUS_OPTIMAL


def raising(exc: BaseException):
    def run_solve(*args, **kwargs):
        raise exc

    return run_solve


def test_a_renamed_error_keeps_its_status_across_the_pipe(monkeypatch):
    # Under the old scheme the class name crossed and an unknown name became INTERNAL.
    renamed = type("SizeComplaintNobodyMapped", (ProblemTooLargeError,), {})
    exc = renamed(FieldViolation("domain", "400000 points exceed the limit of 200000"))
    monkeypatch.setattr(worker_jobs, "run_solve", raising(exc))
    tag, error = solve_in_worker(small_request())
    assert tag == "error"
    assert error.status == "RESOURCE_EXHAUSTED"
    assert "SizeComplaintNobodyMapped" not in repr(error)
    with pytest.raises(RpcError) as info:
        PruningSolverServicer._raise(error)
    assert info.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert rich_status(info.value) == (
        code_pb2.RESOURCE_EXHAUSTED,
        "domain: 400000 points exceed the limit of 200000",
        [("domain", "400000 points exceed the limit of 200000")],
    )


def test_a_bug_in_a_worker_is_internal_and_the_worker_survives(monkeypatch):
    monkeypatch.setattr(worker_jobs, "run_solve", raising(RuntimeError("a bug")))
    with worker_loop() as conn:
        for number in (1, 2):
            conn.send((number, "solve", small_request().SerializeToString(), 10.0, False))
            assert conn.poll(60)
            assert conn.recv() == ("error", WorkerError("INTERNAL", "a bug"))


@pytest.mark.parametrize("cls", TREE, ids=lambda c: c.__name__)
def test_worker_error_from_every_error(cls):
    exc = make(cls)
    error = WorkerError.from_exception(exc)
    assert error.status == EXPECTED_STATUS[cls]
    assert error.message == str(exc)
    assert list(error.violations) == getattr(exc, "violations", [])
