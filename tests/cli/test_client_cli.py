"""`prunecert serve` as a real process, and `solve`/`certify --remote` as real processes against it.

Each server is started on a port picked here (the server does not print the port it binds), and
is ready once the standard health check answers SERVING.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from google.protobuf import json_format

from prunecert.v1 import solve_pb2
from prunecert_client import Client, ClientError, Finished, ResourceExhausted
from solver.core.problem import Mask, MinError, PruningMode
from solver.instances.generate import paper_problem
from solver.io import convert
from tests.support.servers import Served, cli, free_port, serving
from tests.support.tls import self_signed

pytestmark = pytest.mark.timeout(180)

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("client_cli")


@pytest.fixture(scope="module")
def server(workdir) -> Iterator[Served]:
    with serving(workdir, "--max-concurrent", "2") as served:
        yield served


def small(mode: PruningMode):
    return paper_problem(2, 8, 2, mode, MinError(max_kept=3), points_per_axis=9)


def write_problem(directory: Path, mode: PruningMode) -> Path:
    path = directory / f"problem-{mode.name.lower()}.json"
    path.write_text(convert.to_json(convert.problem_to_proto(small(mode))))
    return path


def write_mask(directory: Path, mode: PruningMode) -> Path:
    n, d = 8, 2
    if mode == PruningMode.NEURONS:
        mask = Mask(neurons=np.arange(n) % 2 == 0)
    else:
        mask = Mask(
            hidden_weights=(np.arange(n * d).reshape(n, d) % 3) != 1,
            output_weights=np.arange(n) < n // 2,
        )
    path = directory / f"mask-{mode.name.lower()}.json"
    path.write_text(convert.to_json(convert.mask_to_proto(mask)))
    return path


MODES = [PruningMode.NEURONS, PruningMode.WEIGHTS]
IDS = ["neurons", "weights"]


def without_time(text: str) -> list[str]:
    """The report minus its wall-time line, which differs run to run."""
    return [line for line in text.splitlines() if not line.startswith("time ")]


# -- solve and certify --remote ----------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES, ids=IDS)
def test_solve_remote_prints_the_local_report(server, workdir, mode):
    problem = write_problem(workdir, mode)
    local = cli("solve", str(problem))
    remote = cli("solve", str(problem), "--remote", server.remote)
    assert local.returncode == 0, local.stderr
    assert remote.returncode == 0, remote.stderr
    assert remote.stderr == ""  # no progress line when stderr is not a terminal
    assert without_time(remote.stdout) == without_time(local.stdout)
    assert remote.stdout.startswith("status      OPTIMAL")


@pytest.mark.parametrize("mode", MODES, ids=IDS)
def test_solve_remote_json_matches_local(server, workdir, mode):
    problem = write_problem(workdir, mode)
    runs = [
        cli("solve", str(problem), "--json"),
        cli("solve", str(problem), "--json", "--remote", server.remote),
    ]
    results = []
    for run in runs:
        assert run.returncode == 0, run.stderr
        msg = solve_pb2.SolveResult()
        json_format.Parse(run.stdout, msg)
        results.append(msg)
    local, remote = results
    assert remote.status == local.status == solve_pb2.SOLVE_STATUS_OPTIMAL
    assert abs(remote.solution.error - local.solution.error) <= 1e-9
    assert remote.solution.kept == local.solution.kept
    assert remote.stats.backend == local.stats.backend == "cpsat"
    assert remote.stats.points_total == local.stats.points_total


def certify_fields(stdout: str) -> dict[str, str]:
    return {line.split()[0]: line.split()[1] for line in stdout.splitlines() if line.strip()}


@pytest.mark.parametrize("mode", MODES, ids=IDS)
def test_certify_remote_compare_matches_local(server, workdir, mode):
    problem, mask = write_problem(workdir, mode), write_mask(workdir, mode)
    local = cli("certify", str(problem), str(mask), "--compare")
    remote = cli("certify", str(problem), str(mask), "--compare", "--remote", server.remote)
    assert local.returncode == 0, local.stderr
    assert remote.returncode == 0, remote.stderr
    got, want = certify_fields(remote.stdout), certify_fields(local.stdout)
    assert set(got) == set(want) == {"kept", "error", "optimum", "gap"}
    assert got == want
    assert "(OPTIMAL, same budget" in remote.stdout
    assert float(got["gap"]) >= 0


def test_certify_remote_without_compare(server, workdir):
    problem = write_problem(workdir, PruningMode.NEURONS)
    mask = write_mask(workdir, PruningMode.NEURONS)
    remote = cli("certify", str(problem), str(mask), "--remote", server.remote)
    local = cli("certify", str(problem), str(mask))
    assert remote.returncode == local.returncode == 0, remote.stderr
    assert remote.stdout == local.stdout
    assert certify_fields(remote.stdout)["kept"] == "4"


def test_bad_problem_file_remote_names_the_field(server, workdir):
    doc = json.loads(write_problem(workdir, PruningMode.NEURONS).read_text())
    doc["network"]["hiddenWeights"]["values"].pop()
    bad = workdir / "bad.json"
    bad.write_text(json.dumps(doc))
    run = cli("solve", str(bad), "--remote", server.remote)
    assert run.returncode == 2
    assert run.stdout == ""
    assert "network.hidden_weights" in run.stderr
    assert run.stderr.startswith("prunecert: error: ")


def test_bad_parameters_are_refused_naming_the_field(server, workdir):
    # Parameters are checked before sending (the server applies the same check; see
    # tests/test_service.py): the same message and exit code as a local solve.
    problem = write_problem(workdir, PruningMode.NEURONS)
    run = cli("solve", str(problem), "--time-limit", "-1", "--remote", server.remote)
    assert run.returncode == 2
    assert run.stdout == ""
    assert "parameters.time_limit_seconds" in run.stderr
    # A bad problem file: the same field-named refusal (the file is checked before sending;
    # tests/test_service.py covers the server's own refusal and its log line).
    bad = workdir / "bad.json"
    doc = json.loads(problem.read_text())
    doc["network"]["hiddenWeights"]["values"].append(1.0)
    bad.write_text(json.dumps(doc))
    run = cli("solve", str(bad), "--remote", server.remote)
    assert run.returncode == 2
    assert "network.hidden_weights" in run.stderr


def test_unknown_backend_exits_like_local(server, workdir):
    problem = write_problem(workdir, PruningMode.NEURONS)
    local = cli("solve", str(problem), "--backend", "gurobi")
    remote = cli("solve", str(problem), "--backend", "gurobi", "--remote", server.remote)
    assert local.returncode == 2
    assert "gurobi" in remote.stderr
    assert remote.returncode == local.returncode


def test_negative_threads_remote_names_the_field(server, workdir):
    problem = write_problem(workdir, PruningMode.NEURONS)
    local = cli("solve", str(problem), "--threads", "-1")
    remote = cli("solve", str(problem), "--threads", "-1", "--remote", server.remote)
    assert local.returncode == 2 and "parameters.threads" in local.stderr
    assert remote.returncode == 2
    assert "parameters.threads" in remote.stderr


def test_remote_without_a_server_fails_cleanly(workdir):
    problem = write_problem(workdir, PruningMode.NEURONS)
    run = cli("solve", str(problem), "--remote", f"127.0.0.1:{free_port()}", timeout=60)
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr.startswith("prunecert: error: ")
    assert "Traceback" not in run.stderr


# -- serve ------------------------------------------------------------------------------------------


def test_serve_refuses_a_public_address_without_tokens():
    port = free_port()
    run = cli("serve", "--host", "0.0.0.0", "--port", str(port), timeout=30)
    assert run.returncode == 2
    assert "--insecure" in run.stderr
    assert "--host" in run.stderr
    assert run.stdout == ""
    with socket.socket() as sock:  # it never bound the port
        sock.bind(("0.0.0.0", port))


def test_serve_with_tokens(workdir):
    tokens = workdir / "tokens.txt"
    tokens.write_text(f"# one per line\n\n{TOKEN}\nanother-token\n")
    good, wrong = workdir / "token.txt", workdir / "wrong-token.txt"
    good.write_text(f"{TOKEN}\n")
    wrong.write_text("not-the-token\n")
    problem = write_problem(workdir, PruningMode.NEURONS)
    with serving(workdir, "--tokens-file", str(tokens), "--max-concurrent", "1") as served:
        ok = cli("solve", str(problem), "--remote", served.remote, "--token-file", str(good))
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.startswith("status      OPTIMAL")
        for extra in ([], ["--token-file", str(wrong)]):
            denied = cli("solve", str(problem), "--remote", served.remote, *extra)
            assert denied.returncode != 0
            assert denied.stdout == ""
            message = denied.stderr.lower()
            assert "unauthenticated" in message or "token" in message, denied.stderr
        mask = write_mask(workdir, PruningMode.NEURONS)
        denied = cli("certify", str(problem), str(mask), "--remote", served.remote)
        assert denied.returncode != 0 and "token" in denied.stderr.lower()
        # SIGINT (Ctrl-C) stops an idle server cleanly too.
        code, took = served.stop(signal.SIGINT)
    assert code == 0
    assert took < 5.0
    assert "stopped" in served.log.read_text()


def test_serve_with_tls(workdir):
    cert, key = self_signed()
    cert_file, key_file = workdir / "cert.pem", workdir / "key.pem"
    cert_file.write_bytes(cert)
    key_file.write_bytes(key)
    problem = write_problem(workdir, PruningMode.WEIGHTS)
    credentials = grpc.ssl_channel_credentials(root_certificates=cert)
    flags = ("--tls-cert", str(cert_file), "--tls-key", str(key_file), "--max-concurrent", "1")
    with serving(workdir, *flags, credentials=credentials) as served:
        address = f"localhost:{served.port}"
        ok = cli("solve", str(problem), "--remote", address, "--tls-ca", str(cert_file))
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.startswith("status      OPTIMAL")
        assert "tls" in served.log.read_text()


def test_sigterm_mid_solve_exits_0_within_the_grace_period(workdir):
    grace = 1.0
    flags = ("--grace", str(grace), "--max-concurrent", "1")
    with serving(workdir, *flags) as served:
        with Client(served.remote) as client:
            events = client.solve_stream(paper_problem(2, 48, 2, PruningMode.WEIGHTS), timeout=60)
            try:
                next(events)  # the long solve is running on the server
                code, took = served.stop(signal.SIGTERM)
                assert code == 0
                # It waited the grace period for the solve, then cancelled it and exited.
                assert grace - 0.2 <= took < grace + 4.0
                # The client learns the solve is over instead of hanging.
                start = time.monotonic()
                try:
                    rest = list(events)
                    assert rest and isinstance(rest[-1], Finished)
                except ClientError:
                    pass
                assert time.monotonic() - start < 10.0
            finally:
                events.close()
    log = served.log.read_text()
    assert "signal 15" in log and "stopped" in log
    with socket.socket() as sock:  # nothing listens any more
        assert sock.connect_ex(("127.0.0.1", served.port)) != 0


# -- serve: a crashed or hung solver process ------------------------------------------------------
# These run against a server process so that a wedged server cannot wedge the test session.


def solver_processes(served: Served) -> list[int]:
    """The pids of the server's solver processes (multiprocessing spawn children)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == served.proc.pid and b"spawn_main" in cmdline:
            pids.append(int(stat.parent.name))
    return pids


def small_solve_works(served: Served, within: float) -> bool:
    """Whether a small Solve gets a worker (no RESOURCE_EXHAUSTED) within ``within`` seconds."""
    problem = small(PruningMode.NEURONS)
    start = time.monotonic()
    with Client(served.remote) as client:
        while time.monotonic() - start < within:
            try:
                return client.solve(problem, timeout=30).status.name == "OPTIMAL"
            except ResourceExhausted:
                time.sleep(0.05)
    return False


def test_a_killed_solver_process_is_aborted_and_replaced(workdir):
    # Whether the bug bites depends on a race (about 2 kills in 3 wedge on this machine), so four
    # solves are killed at once: all four come back ABORTED only without the bug.
    slots = 4
    with serving(workdir, "--max-concurrent", str(slots), "--grace", "1") as served:
        try:
            victims = solver_processes(served)
            assert len(victims) == slots
            problem = paper_problem(2, 48, 2, PruningMode.WEIGHTS)
            with contextlib.ExitStack() as stack:
                clients = [stack.enter_context(Client(served.remote)) for _ in range(slots)]
                # A generous deadline: four model builds share two cores (under CI load an 8 s
                # deadline expired before the kill); a wedged server still fails the check.
                streams = [c.solve_stream(problem, timeout=60) for c in clients]
                for stream in streams:
                    stack.callback(stream.close)
                    next(stream)  # CP-SAT is running
                for victim in victims:
                    os.kill(victim, signal.SIGKILL)
                outcomes = []
                for stream in streams:
                    try:
                        list(stream)
                        outcomes.append("OK")
                    except ClientError as exc:
                        outcomes.append(exc.code.name)
            assert outcomes == ["ABORTED"] * slots
            assert small_solve_works(served, within=10.0)
            assert not set(solver_processes(served)) & set(victims)
            code, _ = served.stop(timeout=10)
            assert code == 0
        finally:
            if served.proc.poll() is None:
                served.proc.kill()  # a wedged server does not exit on SIGTERM


def test_cancelling_a_hung_solve_frees_the_slot(workdir):
    with serving(workdir, "--max-concurrent", "1") as served:
        (victim,) = solver_processes(served)
        frozen = False
        try:
            with Client(served.remote) as client:
                events = client.solve_stream(
                    paper_problem(2, 48, 2, PruningMode.WEIGHTS), timeout=60
                )
                next(events)  # CP-SAT is running; its stop watcher polls the stop event
                os.kill(victim, signal.SIGSTOP)  # the whole process hangs
                frozen = True
                events.close()  # cancel
            # The pool gives a worker CANCEL_GRACE_SECONDS (1 s) to stop, then replaces it.
            assert small_solve_works(served, within=5.0)
        finally:
            if frozen:
                with contextlib.suppress(ProcessLookupError):  # replaced: already gone
                    os.kill(victim, signal.SIGCONT)
