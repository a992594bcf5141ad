"""A bounded soak of a real `prunecert serve` process on loopback (issue 15): figures, never
assertions.

Phases, each bounded in calls and in time:
1. fuzz: random bytes, truncated and bit-flipped requests to every method (unary and streaming);
2. load: THREADS clients calling Solve on a small problem for LOAD_SECONDS, on 2 solver
   processes with the default queue (4 calls): most calls wait their turn, the rest are refused;
3. Watch storm: short grpc.health.v1 Watch calls from 8 threads;
4. cancel storm: SolveStream calls cancelled after their first event;
5. stream flood: more WatchJob streams than the budget, with health and info checked meanwhile;
6. slow loris: SLOW_CONNECTIONS connections each open SLOW_STREAMS unary calls (GetServerInfo
   and Solve, sent as request streams) and never send their request; meanwhile health Check,
   GetServerInfo and a small Solve are timed from a connection of their own (issue 15).

Prints the status-code histogram per phase, Solve p50/p99 and the queue waits the replies
report (SolveStats.queue_wait_seconds), GetServerInfo's queue figures, the server's own
Prometheus counts (--metrics-port) and its RSS before and after.
Run: .venv/bin/python bench/soak.py [--quick] [--only PHASE] [-- SERVE FLAGS...]
(e.g. `--only "slow loris"`; flags after `--` go to `prunecert serve`.)
"""

from __future__ import annotations

import collections
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from prunecert.v1 import jobs_pb2, service_pb2, service_pb2_grpc
from solver.core.problem import MinError, PruningMode
from solver.instances.generate import paper_problem
from solver.io import convert

REPO = Path(__file__).resolve().parents[1]
QUICK = "--quick" in sys.argv
THREADS = 8
LOAD_SECONDS = 3.0 if QUICK else 10.0
FUZZ_CALLS = 200 if QUICK else 1000
WATCH_CALLS = 400 if QUICK else 2000
CANCELS = 20 if QUICK else 60
SLOW_CONNECTIONS = 3
SLOW_STREAMS = 4  # per connection
SLOW_SECONDS = 12.0 if QUICK else 40.0  # how long the slow calls stay open at most
ADDRESS: list[str] = []  # the server's, set by soak()
ONLY = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
SERVE_FLAGS = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
METHODS = {
    "/prunecert.v1.PruningSolver/Solve": "unary",
    "/prunecert.v1.PruningSolver/Certify": "unary",
    "/prunecert.v1.PruningSolver/GetServerInfo": "unary",
    "/prunecert.v1.PruningSolver/SubmitJob": "unary",
    "/prunecert.v1.PruningSolver/GetJob": "unary",
    "/prunecert.v1.PruningSolver/ListJobs": "unary",
    "/prunecert.v1.PruningSolver/CancelJob": "unary",
    "/prunecert.v1.PruningSolver/SolveStream": "stream",
    "/prunecert.v1.PruningSolver/WatchJob": "stream",
    "/prunecert.v1.PruningSolver/GetJobResults": "stream",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": "bidi",
    "/grpc.health.v1.Health/Check": "unary",
}


def small_request() -> service_pb2.SolveRequest:
    problem = paper_problem(2, 6, 1, PruningMode.NEURONS, MinError(3), points_per_axis=9)
    return service_pb2.SolveRequest(problem=convert.problem_to_proto(problem))


def mutate(rng: random.Random, good: bytes) -> bytes:
    choice = rng.randrange(3)
    if choice == 0:
        return rng.randbytes(rng.randrange(1, 512))
    if choice == 1:
        return good[: rng.randrange(len(good))]
    data = bytearray(good)
    for _ in range(rng.randrange(1, 8)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


def code_of(call) -> str:
    try:
        result = call()
        if hasattr(result, "__next__"):  # a stream: read it to its end
            for _ in result:
                pass
        return "OK"
    except grpc.RpcError as err:
        return err.code().name


def fuzz(channel: grpc.Channel) -> collections.Counter:
    rng = random.Random(15)
    good = small_request().SerializeToString()
    codes: collections.Counter = collections.Counter()
    for i in range(FUZZ_CALLS):
        method, kind = list(METHODS.items())[i % len(METHODS)]
        data = mutate(rng, good)
        if kind == "unary":
            call = channel.unary_unary(method)
            codes[code_of(lambda c=call, d=data: c(d, timeout=10))] += 1
        elif kind == "stream":
            call = channel.unary_stream(method)
            codes[code_of(lambda c=call, d=data: c(d, timeout=10))] += 1
        else:
            call = channel.stream_stream(method)
            codes[code_of(lambda c=call, d=data: c(iter([d]), timeout=10))] += 1
    return codes


QUEUE_WAITS: list[float] = []  # ms, from the load phase's replies


def load(channel: grpc.Channel) -> tuple[collections.Counter, list[float]]:
    stub = service_pb2_grpc.PruningSolverStub(channel)
    request = small_request()
    codes: collections.Counter = collections.Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + LOAD_SECONDS

    def client() -> None:
        while time.monotonic() < stop_at:
            start = time.perf_counter()
            try:
                reply = stub.Solve(request, timeout=30)
                code = "OK"
            except grpc.RpcError as err:
                reply, code = None, err.code().name
            with lock:
                codes[code] += 1
                if reply is not None:
                    latencies.append((time.perf_counter() - start) * 1000)
                    QUEUE_WAITS.append(reply.stats.queue_wait_seconds * 1000)

    threads = [threading.Thread(target=client) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes, sorted(latencies)


def watch_storm(channel: grpc.Channel) -> collections.Counter:
    codes: collections.Counter = collections.Counter()
    lock = threading.Lock()
    health = health_pb2_grpc.HealthStub(channel)

    def storm() -> None:
        for _ in range(WATCH_CALLS // 8):
            call = health.Watch(health_pb2.HealthCheckRequest(), timeout=5)
            try:
                next(call)
                code = "OK"
            except grpc.RpcError as err:
                code = err.code().name
            call.cancel()
            with lock:
                codes[code] += 1

    threads = [threading.Thread(target=storm) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


def cancel_storm(channel: grpc.Channel) -> collections.Counter:
    stub = service_pb2_grpc.PruningSolverStub(channel)
    hard = paper_problem(2, 32, 3, PruningMode.WEIGHTS)
    request = service_pb2.SolveRequest(problem=convert.problem_to_proto(hard))
    request.parameters.time_limit_seconds = 30
    codes: collections.Counter = collections.Counter()
    for _ in range(CANCELS):
        call = stub.SolveStream(request, timeout=60)
        try:
            next(call)
            codes["OK then cancelled"] += 1
        except grpc.RpcError as err:
            codes[err.code().name] += 1
        call.cancel()
        time.sleep(0.05)
    return codes


def stream_flood(channel: grpc.Channel) -> collections.Counter:
    stub = service_pb2_grpc.PruningSolverStub(channel)
    request = jobs_pb2.SubmitJobRequest()
    request.problems.problems.append(small_request().problem)
    job = stub.SubmitJob(request, timeout=30)
    codes: collections.Counter = collections.Counter()
    calls = []
    for _ in range(24):  # over the default budget (8 per tenant, 16 in all)
        call = stub.WatchJob(jobs_pb2.WatchJobRequest(id=job.id))
        calls.append(call)
        try:
            next(call)
            codes["WatchJob OK"] += 1
        except grpc.RpcError as err:
            codes[f"WatchJob {err.code().name}"] += 1
        except StopIteration:
            codes["WatchJob ended"] += 1
    health = health_pb2_grpc.HealthStub(channel)
    codes[f"health {code_of(lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=5))}"] += 1
    info = code_of(lambda: stub.GetServerInfo(service_pb2.GetServerInfoRequest(), timeout=5))
    codes[f"GetServerInfo {info}"] += 1
    for call in calls:
        call.cancel()
    return codes


def _never_sends(release: threading.Event):
    """A request iterator that sends nothing until ``release`` is set, then ends."""
    release.wait(SLOW_SECONDS + 5)
    return
    yield  # pragma: no cover (a generator that yields nothing)


def _slow_connection(address: str, index: int, release: threading.Event, ended) -> None:
    """One attacking connection: SLOW_STREAMS unary calls that never send their request, each
    opened again as soon as the server ends it, until ``release``."""
    # A channel option of its own: a connection of its own (no shared subchannel).
    with grpc.insecure_channel(address, options=[("prunecert.bench.slow", index)]) as slow:
        calls: list = [None] * SLOW_STREAMS
        while not release.is_set():
            for number, future in enumerate(calls):
                if future is not None and not future.done():
                    continue
                if future is not None:
                    try:
                        future.result()
                        ended["OK"] += 1
                    except grpc.RpcError as err:
                        ended[err.code().name] += 1
                method = "GetServerInfo" if number % 2 else "Solve"
                call = slow.stream_unary(f"/prunecert.v1.PruningSolver/{method}")
                calls[number] = call.future(_never_sends(release), timeout=SLOW_SECONDS + 30)
            release.wait(0.05)
        for future in calls:
            future.cancel()


def slow_loris(channel: grpc.Channel) -> collections.Counter:
    """SLOW_CONNECTIONS connections keep SLOW_STREAMS calls each open that never send their
    request (reopened as soon as the server ends one) for SLOW_SECONDS, while health,
    GetServerInfo and a small Solve are tried from another connection every half second."""
    address = ADDRESS[0]
    release = threading.Event()
    ended: collections.Counter = collections.Counter()
    attackers = [
        threading.Thread(target=_slow_connection, args=(address, i, release, ended), daemon=True)
        for i in range(SLOW_CONNECTIONS)
    ]
    for attacker in attackers:
        attacker.start()
    time.sleep(1.0)  # every slow call is open on the server
    codes: collections.Counter = collections.Counter()
    timings: dict[str, list[float]] = collections.defaultdict(list)
    with grpc.insecure_channel(address, options=[("prunecert.bench.probe", 1)]) as probe:
        stub = service_pb2_grpc.PruningSolverStub(probe)
        health = health_pb2_grpc.HealthStub(probe)
        request = small_request()
        end = time.monotonic() + SLOW_SECONDS
        while time.monotonic() < end:
            for name, call in (
                ("health", lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=10)),
                ("GetServerInfo", lambda: stub.GetServerInfo(service_pb2.GetServerInfoRequest(),
                                                             timeout=10)),
                ("Solve", lambda: stub.Solve(request, timeout=10)),
            ):  # fmt: skip
                code, ms = _timed(call)
                codes[f"{name} {code}"] += 1
                timings[name].append(ms)
            time.sleep(0.5)
    release.set()
    for attacker in attackers:
        attacker.join(SLOW_SECONDS + 30)
    for name, values in timings.items():
        print(
            f"    {name} while slow calls are open: p50 {percentile(values, 0.5):.0f} ms, "
            f"max {max(values):.0f} ms"
        )
    print(
        f"    slow calls ({SLOW_CONNECTIONS} connections x {SLOW_STREAMS}) ended by the "
        f"server: {dict(sorted(ended.items()))}"
    )
    return codes


def _timed(call) -> tuple[str, float]:
    start = time.monotonic()
    code = code_of(call)
    return code, (time.monotonic() - start) * 1000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def print_queue(channel: grpc.Channel) -> None:
    waited = [w for w in QUEUE_WAITS if w > 0]
    if QUEUE_WAITS:
        print(
            f"    queue: {len(waited)} of {len(QUEUE_WAITS)} answered Solves waited; "
            f"wait p50 {percentile(QUEUE_WAITS, 0.5):.1f} ms, "
            f"p99 {percentile(QUEUE_WAITS, 0.99):.1f} ms, max {max(QUEUE_WAITS):.1f} ms"
        )
    stub = service_pb2_grpc.PruningSolverStub(channel)
    info = stub.GetServerInfo(service_pb2.GetServerInfoRequest(), timeout=10)
    print(
        f"    GetServerInfo: queue limit {info.queue_limit}, max wait "
        f"{info.max_queue_wait_seconds:g} s, mean wait {info.mean_queue_wait_seconds * 1000:.1f} "
        f"ms, recent {info.recent_queue_wait_seconds * 1000:.1f} ms, refusals "
        f"{info.queue_refusals}"
    )


def print_metrics(url: str) -> None:
    """The server's own counts: RPCs by code, and calls by what the queue did with them."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    codes: collections.Counter = collections.Counter()
    queue: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "grpc_server_handled_total":
                codes[sample.labels["grpc_code"]] += int(sample.value)
            if sample.name == "prunecert_solve_queue_wait_seconds_count":
                queue[sample.labels["outcome"]] = sample.value
    print(f"  metrics: RPCs by code {dict(sorted(codes.items()))}")
    print(f"  metrics: solver-process requests by outcome {queue}")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        port, metrics_port = free_port(), free_port()
        log = Path(tmp) / "serve.log"
        with log.open("w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "solver.cli", "serve", "--port", str(port),
                 "--data-dir", str(Path(tmp) / "data"), "--max-concurrent", "2",
                 "--metrics-port", str(metrics_port), *SERVE_FLAGS],
                cwd=REPO, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
            )  # fmt: skip
        try:
            return soak(proc, f"127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics")
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


def soak(proc: subprocess.Popen, address: str, metrics_url: str) -> int:
    ADDRESS.append(address)
    with grpc.insecure_channel(address) as channel:
        grpc.channel_ready_future(channel).result(timeout=60)
        health = health_pb2_grpc.HealthStub(channel)
        while code_of(lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=2)) != "OK":
            time.sleep(0.2)
        server = psutil.Process(proc.pid)
        mib = 1024 * 1024
        before = server.memory_info().rss / mib
        print(f"soak of prunecert serve on {address} ({'quick' if QUICK else 'full'})")
        print(f"  server RSS before: {before:.0f} MiB")
        for name, phase in (
            ("fuzz", fuzz),
            ("load", load),
            ("Watch storm", watch_storm),
            ("cancel storm", cancel_storm),
            ("stream flood", stream_flood),
            ("slow loris", slow_loris),
        ):
            if ONLY is not None and name != ONLY:
                continue
            start = time.monotonic()
            out = phase(channel)
            codes, latencies = out if isinstance(out, tuple) else (out, None)
            took = time.monotonic() - start
            print(f"  {name} ({took:.1f} s): {dict(sorted(codes.items()))}")
            if latencies:
                p50 = latencies[len(latencies) // 2]
                p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
                rate = len(latencies) / LOAD_SECONDS
                print(f"    Solve: {rate:.0f}/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms")
                print_queue(channel)
        time.sleep(2)
        print(f"  server RSS after: {server.memory_info().rss / mib:.0f} MiB")
        print_metrics(metrics_url)
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(30)
        print(f"  SIGTERM: exit {code} after {time.monotonic() - start:.1f} s")
    except subprocess.TimeoutExpired:
        print("  SIGTERM: no exit within 30 s")
    return 0


def free_port() -> int:
    """A free loopback port (closed again before the server binds it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
