"""Ctrl-C on `prunecert solve --remote` (issue 13, item 4): real CLI processes against a real
server. The first Ctrl-C stops the server's solve (StopSolve) and prints its CANCELLED result
with the best certified mask and a rigorous bound, as a local Ctrl-C does; exit 130, no
traceback, and the server frees the solver slot. A Ctrl-C before the solve has a solver process
(still queued) cancels the call: CANCELLED without a mask."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf import json_format

from prunecert.v1 import service_pb2, service_pb2_grpc, solve_pb2
from prunecert_client import Client, Started
from solver.core.problem import MinError, PruningMode
from solver.exact.certify import certify_mask
from solver.instances.generate import paper_problem
from solver.io import convert
from tests.support.servers import REPO, Served, serving

pytestmark = pytest.mark.timeout(240)

INCUMBENT_LINE = re.compile(r"^incumbent ~\d")  # a plain progress line after an Incumbent event
WAITING_LINE = re.compile(r"^incumbent -  bound -")  # a plain progress line before any event
STOPPING_LINE = "interrupted: stopping the server's solve"

# Weights pruning, n = 32 on the paper grid (1,681 points): about 20 s to prove on one core,
# incumbents within a second or two.
PROBLEM = paper_problem(2, 32, 1, PruningMode.WEIGHTS, MinError())


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("interrupt"), "--max-concurrent", "1") as served:
        yield served


@pytest.fixture(scope="module")
def problem_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("problem") / "p.json"
    path.write_text(convert.to_json(convert.problem_to_proto(PROBLEM)))
    return path


def lines_of(stream) -> queue.Queue:
    """The stream's lines, read in a thread (a blocking readline would hang the test)."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def interrupt_after(command: list[str], pattern: re.Pattern) -> tuple[int, str, str]:
    """Run the CLI, SIGINT it once a stderr line matches ``pattern``; (exit code, stdout,
    stderr)."""
    seen: list[str] = []
    with subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            lines = lines_of(proc.stderr)
            while True:
                line = lines.get(timeout=120)
                assert line is not None, "".join(seen)
                seen.append(line)
                assert "\r" not in line  # plain lines: stderr is a pipe
                if pattern.match(line):
                    break
            proc.send_signal(signal.SIGINT)
            out = proc.stdout.read()
            proc.wait(60)
            while (line := lines.get(timeout=60)) is not None:
                seen.append(line)
        finally:
            if proc.poll() is None:
                proc.kill()
    return proc.returncode, out, "".join(seen)


def solve_command(problem_file: Path, server: Served, *flags: str) -> list[str]:
    command = [sys.executable, "-m", "solver.cli", "solve", str(problem_file), *flags]
    return command + ["--remote", server.remote, "--time-limit", "200", "--progress-every", "0.2"]


def rpc_records(server: Served, method: str, count: int) -> list[str]:
    """The server's log lines for ``method`` once there are ``count`` of them."""
    deadline = time.monotonic() + 60
    while True:
        records = [r for r in server.log.read_text().splitlines() if f'"method": "{method}"' in r]
        if len(records) >= count:
            return records
        assert time.monotonic() < deadline, server.log.read_text()
        time.sleep(0.2)


def wait_until_idle(server: Served) -> None:
    """Until GetServerInfo shows no busy solver process (the slot was freed)."""
    with Client(server.remote) as client:
        stub = service_pb2_grpc.PruningSolverStub(client._channel)
        deadline = time.monotonic() + 60
        while stub.GetServerInfo(service_pb2.GetServerInfoRequest(), timeout=10).busy_solves:
            assert time.monotonic() < deadline, "the solver slot was never freed"
            time.sleep(0.1)


def test_ctrl_c_on_a_remote_solve_prints_the_best_certified_mask(server, problem_file):
    code, out, err = interrupt_after(solve_command(problem_file, server, "--json"), INCUMBENT_LINE)
    assert code == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert STOPPING_LINE in err
    result = convert.parse_result(json_format.Parse(out, solve_pb2.SolveResult()))
    assert result.status.name == "CANCELLED", result.detail
    assert result.solution is not None, result.detail
    # The mask's exact error, recomputed here, is the printed one; the bound is rigorous.
    certificate = certify_mask(PROBLEM, result.solution.mask)
    assert certificate.error_upper == result.solution.error
    assert certificate.kept == result.solution.kept
    assert 0 <= result.objective_bound <= result.solution.error
    # The server answered the stream (OK, stopped), and its solver slot is free again.
    [record] = rpc_records(server, "SolveStream", 1)[-1:]
    assert '"code": "OK"' in record and '"stopped": true' in record, record
    assert '"status": "SOLVE_STATUS_CANCELLED"' in record
    [stop] = rpc_records(server, "StopSolve", 1)[-1:]
    assert '"code": "OK"' in stop
    wait_until_idle(server)


def test_the_text_report_of_a_stopped_remote_solve(server, problem_file):
    code, out, err = interrupt_after(solve_command(problem_file, server), INCUMBENT_LINE)
    assert code == 130, err
    assert out.splitlines()[0] == "status      CANCELLED", out
    assert re.search(r"^kept        \d+ of 96 weights$", out, re.M), out
    error = float(re.search(r"^error       (\S+)", out, re.M).group(1))
    bound = float(re.search(r"^bound       (\S+)", out, re.M).group(1))
    assert 0 <= bound <= error
    wait_until_idle(server)


def test_ctrl_c_while_queued_cancels_the_call_without_a_mask(server, problem_file):
    """With the one solver process busy, the CLI's call waits in the queue: no solve to stop
    yet, so Ctrl-C cancels the call and prints CANCELLED without a mask."""
    solves_before = len(rpc_records(server, "SolveStream", 0))
    with Client(server.remote) as client:
        busy = client.solve_stream(PROBLEM, time_limit=200)
        started = next(busy)  # the one solver process is ours now
        assert isinstance(started, Started)
        try:
            code, out, err = interrupt_after(
                solve_command(problem_file, server, "--json"), WAITING_LINE
            )
        finally:
            busy.close()  # cancels that solve
    assert code == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert STOPPING_LINE not in err  # nothing to stop: the call was cancelled
    result = json_format.Parse(out, solve_pb2.SolveResult())
    assert result.status == solve_pb2.SOLVE_STATUS_CANCELLED
    assert not result.HasField("solution")
    assert result.detail.startswith("interrupted (Ctrl-C): the call was cancelled")
    assert "no incumbent had been reported" in result.detail
    assert result.objective_bound == 0.0  # the stream's bounds are not rigorous: none is claimed
    records = rpc_records(server, "SolveStream", solves_before + 2)[solves_before:]
    assert all('"code": "CANCELLED"' in r for r in records), records
    wait_until_idle(server)


def test_the_text_report_of_a_cancelled_remote_solve():
    """The text report of a cancelled remote solve: status, detail and the time, no mask."""
    from solver.cli.progress import LiveLine
    from solver.cli.solve import _interrupted_remotely
    from solver.io.report import format_result

    line = LiveLine(every=0)
    line.update(error=0.25, kept=7, bound=0.1)
    result = _interrupted_remotely(line)
    problem = paper_problem(2, 4, 1, PruningMode.NEURONS, MinError(), points_per_axis=5)
    text = format_result(problem, result)
    assert text.splitlines()[0] == "status      CANCELLED"
    assert "the last incumbent had error 0.25, kept 7 (the solver's, not certified)" in text
    assert "bound       0   (rigorous lower bound on the optimum)" in text
    assert re.search(r"^time        \d+\.\d\d s$", text, re.M)
