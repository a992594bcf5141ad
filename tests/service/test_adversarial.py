"""Bad and ambiguous requests against a real `prunecert serve` process (issue 15, items 8, 10).

* One parsed identity: authentication and tenancy read the same header with the same parse, so
  two ``authorization`` headers identify nobody, and "Bearer  tokA" (two spaces) is tokA for
  both.
* Every malformed request gets INVALID_ARGUMENT (or RESOURCE_EXHAUSTED over a size limit) with
  a field violation naming the field, and no internal text: no job is accepted whose every
  item would fail.
"""

from __future__ import annotations

import base64

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from prunecert.v1 import jobs_pb2, service_pb2, service_pb2_grpc
from solver.core.problem import MinError, PruningMode
from solver.instances.generate import paper_problem
from solver.io import convert
from tests.support.server_groups import TOKENS, serving_group

pytestmark = pytest.mark.timeout(180)

TOK_A, TOK_B = TOKENS
INTERNAL_WORDS = ("Traceback", "Error(", "Exception", "int32", "TypeError", "overflow", "digits")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with serving_group(tmp_path_factory.mktemp("adversarial"), "--max-concurrent", "1") as srv:
        yield srv


@pytest.fixture(scope="module")
def stub(served):
    with grpc.insecure_channel(served.remote) as channel:
        yield service_pb2_grpc.PruningSolverStub(channel)


def bearer(*headers: str) -> list[tuple[str, str]]:
    return [("authorization", h) for h in headers]


A = bearer(f"Bearer {TOK_A}")


def tiny_request(**params) -> jobs_pb2.SubmitJobRequest:
    problem = paper_problem(2, 4, 1, PruningMode.NEURONS, MinError(), points_per_axis=5)
    request = jobs_pb2.SubmitJobRequest()
    request.problems.problems.append(convert.problem_to_proto(problem))
    for key, value in params.items():
        setattr(request.parameters, key, value)
    return request


def refused(call) -> tuple[grpc.StatusCode, list[str], str]:
    """(code, violated fields, details) of a call that must fail; its text must be ours."""
    with pytest.raises(grpc.RpcError) as info:
        result = call()
        if hasattr(result, "__iter__") and not hasattr(result, "ByteSize"):
            list(result)  # a stream fails on its first read
    err = info.value
    details = err.details() or ""
    for word in INTERNAL_WORDS:
        assert word not in details, details
    fields = []
    status = rpc_status.from_call(err)
    for detail in status.details if status else ():
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            fields += [v.field for v in bad.field_violations]
    return err.code(), fields, details


# -- item 10: one parsed identity ---------------------------------------------------------------


def test_two_authorization_headers_identify_nobody(stub):
    for headers in ([TOK_B, TOK_A], [TOK_A, TOK_A]):
        code, _, details = refused(
            lambda h=headers: stub.SubmitJob(
                tiny_request(), metadata=bearer(*(f"Bearer {t}" for t in h)), timeout=30
            )
        )
        assert code == grpc.StatusCode.UNAUTHENTICATED
        assert "more than one authorization header" in details


def test_the_same_token_spelt_with_extra_spaces_is_the_same_tenant(stub):
    job = stub.SubmitJob(tiny_request(), metadata=bearer(f"Bearer  {TOK_A} "), timeout=30)
    seen = stub.GetJob(jobs_pb2.GetJobRequest(id=job.id), metadata=A, timeout=30)
    assert seen.id == job.id
    listed = stub.ListJobs(jobs_pb2.ListJobsRequest(), metadata=A, timeout=30)
    assert job.id in [j.id for j in listed.jobs]
    code, _, _ = refused(
        lambda: stub.GetJob(
            jobs_pb2.GetJobRequest(id=job.id), metadata=bearer(f"Bearer {TOK_B}"), timeout=30
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND


# -- item 8: status codes and field violations ---------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"threads": 2**31}, "parameters.threads"),
        ({"threads": 100_000}, "parameters.threads"),
        ({"cross_check": "nope"}, "parameters.cross_check"),
        ({"backend": "nope"}, "parameters.backend"),
    ],
)
def test_submit_job_checks_parameters_up_front(stub, params, field):
    code, fields, _ = refused(
        lambda: stub.SubmitJob(tiny_request(**params), metadata=A, timeout=30)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in fields


def test_solve_with_threads_over_int32_is_invalid_argument(stub):
    problem = paper_problem(2, 4, 1, PruningMode.NEURONS, MinError(), points_per_axis=5)
    request = service_pb2.SolveRequest(problem=convert.problem_to_proto(problem))
    request.parameters.threads = 2**31
    code, fields, _ = refused(lambda: stub.Solve(request, metadata=A, timeout=30))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert fields == ["parameters.threads"]


@pytest.mark.parametrize(
    ("d", "n", "points_per_axis", "field"),
    [
        ([2**20], 4, 0, "family.d"),
        ([2**32 - 1], 4, 3, "family.d"),
        ([16], 4, 2**32 - 1, "family.points_per_axis"),
        ([2], 2**32 - 1, 3, "family.n"),
    ],
)
def test_oversized_family_is_refused_by_name(stub, d, n, points_per_axis, field):
    request = jobs_pb2.SubmitJobRequest()
    family = request.family
    family.generator = "paper"
    family.d.extend(d)
    family.n.append(n)
    family.seeds.append(1)
    family.pruning.append(PruningMode.NEURONS.value)
    family.points_per_axis = points_per_axis
    code, fields, _ = refused(lambda: stub.SubmitJob(request, metadata=A, timeout=30))
    # Over a configured size limit: RESOURCE_EXHAUSTED, with the field, like any other size.
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert fields == [field]


@pytest.mark.parametrize("offset", [2**63, 2**64 - 1])
def test_results_offset_beyond_any_index_is_invalid_argument(stub, offset):
    job = stub.SubmitJob(tiny_request(), metadata=A, timeout=30)
    request = jobs_pb2.GetJobResultsRequest(id=job.id, offset=offset)
    code, fields, _ = refused(lambda: stub.GetJobResults(request, metadata=A, timeout=30))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert fields == ["offset"]


def test_results_offset_past_the_end_reads_nothing(stub):
    job = stub.SubmitJob(tiny_request(), metadata=A, timeout=30)  # one item
    for offset in (1, 2**63 - 1):
        request = jobs_pb2.GetJobResultsRequest(id=job.id, offset=offset)
        assert list(stub.GetJobResults(request, metadata=A, timeout=30)) == []


def _token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        _token(str(2**63)),
        _token(str(2**64 + 5)),
        _token("9" * 5000),
        _token("-3"),
        _token("0"),
        "not base64!",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_list_jobs_page_token_not_ours_is_invalid_argument(stub, token):
    request = jobs_pb2.ListJobsRequest(page_token=token)
    code, fields, _ = refused(lambda: stub.ListJobs(request, metadata=A, timeout=30))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert fields == ["page_token"]
