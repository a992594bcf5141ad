"""A generic client: the service through server reflection and the stock health client only.

Nothing here imports PruneCert's generated code (prunecert.v1): the request and response classes
are built at run time from the descriptors the server sends, in a fresh descriptor pool, the
problem is written as proto3 JSON by hand, and errors are read as plain google.rpc statuses. This
is what grpcurl or any other language's dynamic client does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import descriptor_pool, json_format, message_factory
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_status import rpc_status

from solver.core.problem import MinError, PruningMode
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.instances.generate import paper_problem
from solver.service.server import ServerConfig, create_server

pytestmark = pytest.mark.timeout(120)

SERVICE = "prunecert.v1.PruningSolver"


@pytest.fixture(scope="module")
def channel() -> Iterator[grpc.Channel]:
    server = create_server(ServerConfig(port=0, max_concurrent=1))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
            yield ch
    finally:
        server.stop(0)


class Dynamic:
    """PruningSolver's methods and messages, learnt from the server alone."""

    def __init__(self, channel: grpc.Channel):
        self.database = ProtoReflectionDescriptorDatabase(channel)
        self.pool = descriptor_pool.DescriptorPool(self.database)
        self.service = self.pool.FindServiceByName(SERVICE)
        self.channel = channel

    def message(self, full_name: str):
        return message_factory.GetMessageClass(self.pool.FindMessageTypeByName(full_name))

    def unary(self, method_name: str):
        method = self.service.methods_by_name[method_name]
        request = message_factory.GetMessageClass(method.input_type)
        response = message_factory.GetMessageClass(method.output_type)
        call = self.channel.unary_unary(
            f"/{SERVICE}/{method_name}",
            request_serializer=request.SerializeToString,
            response_deserializer=response.FromString,
        )
        return request, call


@pytest.fixture(scope="module")
def dynamic(channel) -> Dynamic:
    return Dynamic(channel)


def problem_json(max_kept: int = 3) -> tuple[str, object]:
    """The problem as a user would write it: proto3 JSON, built from plain numbers."""
    problem = paper_problem(2, 8, 2, PruningMode.NEURONS, MinError(max_kept), points_per_axis=9)
    net = problem.network
    doc = {
        "network": {
            "hiddenWeights": {
                "rows": net.n,
                "cols": net.d,
                "values": net.hidden_weights.ravel().tolist(),
            },
            "outputWeights": net.output_weights.tolist(),
            "outputActivation": "ACTIVATION_RELU",
        },
        "target": {
            "neuron": {"weights": problem.target.weights.tolist(), "activation": "ACTIVATION_RELU"}
        },
        "domain": {"boxGrid": {"low": -1.0, "high": 1.0, "pointsPerAxis": 9}},
        "pruning": "PRUNING_MODE_NEURONS",
        "objective": {"minError": {"maxKept": max_kept}},
    }
    return json.dumps(doc), problem


def test_reflection_lists_the_services(dynamic):
    services = set(dynamic.database.get_services())
    assert {SERVICE, "grpc.health.v1.Health"} <= services
    assert any("ServerReflection" in name for name in services)
    methods = {m.name: m for m in dynamic.service.methods}
    assert {"Solve", "SolveStream", "Certify", "GetServerInfo"} <= set(methods)
    assert methods["SolveStream"].server_streaming and not methods["Solve"].server_streaming
    # The classes come from the reflected descriptors, not from an imported module.
    assert dynamic.pool is not descriptor_pool.Default()
    assert methods["Solve"].input_type.file.pool is dynamic.pool


def test_get_server_info_through_reflection(dynamic):
    request, call = dynamic.unary("GetServerInfo")
    reply = call(request(), timeout=10)
    info = json_format.MessageToDict(reply, preserving_proto_field_name=True)
    assert "cpsat" in [b["name"] for b in info["backends"]]
    assert info["max_concurrent_solves"] == 1
    assert info["max_time_limit_seconds"] == 300.0
    assert "requires_token" not in info  # false is the proto3 default, omitted in JSON


def test_solve_through_reflection(dynamic):
    request_cls, call = dynamic.unary("Solve")
    text, problem = problem_json()
    request = request_cls(request_id="reflection")
    json_format.Parse(text, request.problem)
    request.parameters.CopyFrom(dynamic.message("prunecert.v1.SolveParameters")(seed=1))
    reply = call(request, timeout=60)
    result = json_format.MessageToDict(reply, preserving_proto_field_name=True)
    local = solve(problem)
    assert result["status"] == "SOLVE_STATUS_OPTIMAL"
    assert local.status == SolveStatus.OPTIMAL
    assert abs(result["solution"]["error"] - local.solution.error) <= 1e-9
    assert result["solution"]["kept"] == local.solution.kept
    assert len(result["solution"]["mask"]["neurons"]) == 8


def test_solve_stream_through_reflection(dynamic, channel):
    method = dynamic.service.methods_by_name["SolveStream"]
    request_cls = message_factory.GetMessageClass(method.input_type)
    event_cls = message_factory.GetMessageClass(method.output_type)
    stream = channel.unary_stream(
        f"/{SERVICE}/SolveStream",
        request_serializer=request_cls.SerializeToString,
        response_deserializer=event_cls.FromString,
    )
    request = request_cls()
    json_format.Parse(problem_json()[0], request.problem)
    events = list(stream(request, timeout=60))
    kinds = [e.WhichOneof("kind") for e in events]
    assert kinds[-1] == "result" and kinds.count("result") == 1 and len(kinds) >= 2
    assert events[-1].result.status == 1  # SOLVE_STATUS_OPTIMAL


def test_bad_problem_through_reflection_has_field_violations(dynamic):
    request_cls, call = dynamic.unary("Solve")
    doc = json.loads(problem_json()[0])
    doc["network"]["hiddenWeights"]["values"].pop()
    request = request_cls()
    json_format.Parse(json.dumps(doc), request.problem)
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(info.value)
    assert status is not None
    bad = error_details_pb2.BadRequest()
    assert status.details and status.details[0].Unpack(bad)
    assert [v.field for v in bad.field_violations] == ["network.hidden_weights"]


def test_stock_health_client(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", SERVICE):
        reply = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as info:
        health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    watch = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE), timeout=10)
    try:
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    finally:
        watch.cancel()
