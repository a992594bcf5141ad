"""The health service under a storm of short-lived Watch calls (issue 15, item 1).

grpcio-health-checking 1.81's servicer sends Watch's first reply while holding its lock, and the
server's polling thread takes the same lock in another call's close callback: a few hundred
short Watch calls from a handful of threads froze every RPC and SIGTERM. The storm here is
bounded in calls and in time, on loopback, against a real `prunecert serve` process.
"""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from prunecert.v1 import service_pb2, service_pb2_grpc
from solver.service.health import HealthServicer
from tests.support.server_groups import TOKENS, serving_group

pytestmark = pytest.mark.timeout(180)

THREADS = 8
CALLS_PER_THREAD = 250  # 2,000 calls: the old servicer froze after about 585
STORM_SECONDS = 60.0


def watch_storm(target: str) -> tuple[int, int]:
    """(calls completed, calls that failed other than by our own cancel); every call has a
    deadline so a frozen server cannot hang the storm."""
    done, failed = [0], [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + STORM_SECONDS

    def storm() -> None:
        with grpc.insecure_channel(target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for _ in range(CALLS_PER_THREAD):
                if time.monotonic() > stop_at:
                    return
                call = stub.Watch(health_pb2.HealthCheckRequest(), timeout=3.0)
                try:
                    reply = next(call)
                    ok = reply.status == health_pb2.HealthCheckResponse.SERVING
                except grpc.RpcError:
                    ok = False
                call.cancel()
                with lock:
                    done[0] += 1
                    failed[0] += not ok

    threads = [threading.Thread(target=storm) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(STORM_SECONDS + 30)
    return done[0], failed[0]


def test_watch_storm_leaves_the_server_answering_and_stoppable(tmp_path):
    with serving_group(tmp_path, "--max-concurrent", "1") as served:
        done, failed = watch_storm(served.remote)
        with grpc.insecure_channel(served.remote) as channel:
            check = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5.0
            )
            info = service_pb2_grpc.PruningSolverStub(channel).GetServerInfo(
                service_pb2.GetServerInfoRequest(),
                metadata=[("authorization", f"Bearer {TOKENS[0]}")],
                timeout=5.0,
            )
        assert check.status == health_pb2.HealthCheckResponse.SERVING
        assert info.requires_token
        assert failed == 0, f"{failed} of {done} Watch calls failed"
        assert done == THREADS * CALLS_PER_THREAD, done
        code, _ = served.stop(timeout=30)
        assert code == 0


# -- the servicer itself, in process --------------------------------------------------------------


class _Context:
    def __init__(self):
        self.callbacks = []
        self.aborted = None

    def add_callback(self, callback) -> bool:
        self.callbacks.append(callback)
        return True

    def abort(self, code, details):
        self.aborted = (code, details)
        raise grpc.RpcError(details)


def test_watch_sends_the_current_status_then_every_change_in_order():
    servicer = HealthServicer()
    servicer.set("svc", health_pb2.HealthCheckResponse.NOT_SERVING)
    sent = []
    context = _Context()
    servicer.Watch(health_pb2.HealthCheckRequest(service="svc"), context, sent.append)
    servicer.set("svc", health_pb2.HealthCheckResponse.SERVING)
    servicer.set("other", health_pb2.HealthCheckResponse.NOT_SERVING)
    servicer.enter_graceful_shutdown()
    servicer.set("svc", health_pb2.HealthCheckResponse.SERVING)  # ignored after shutdown
    servicer.flush()
    assert [r.status for r in sent] == [
        health_pb2.HealthCheckResponse.NOT_SERVING,
        health_pb2.HealthCheckResponse.SERVING,
        health_pb2.HealthCheckResponse.NOT_SERVING,
    ]
    for callback in context.callbacks:  # the call ends: no more sends to it
        callback()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    servicer.flush()
    assert len(sent) == 3


def test_watch_of_an_unknown_service_says_so_and_check_is_not_found():
    servicer = HealthServicer()
    sent = []
    servicer.Watch(health_pb2.HealthCheckRequest(service="nope"), _Context(), sent.append)
    assert [r.status for r in sent] == [health_pb2.HealthCheckResponse.SERVICE_UNKNOWN]
    context = _Context()
    with pytest.raises(grpc.RpcError):
        servicer.Check(health_pb2.HealthCheckRequest(service="nope"), context)
    assert context.aborted[0] == grpc.StatusCode.NOT_FOUND
    ok = servicer.Check(health_pb2.HealthCheckRequest(), _Context())
    assert ok.status == health_pb2.HealthCheckResponse.SERVING
