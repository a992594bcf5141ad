"""Ctrl-C on `prunecert solve --remote` (issue 13, item 4): a real CLI process against a real
server, SIGINT once the stream has delivered an incumbent. The CLI prints a CANCELLED result (as
a local solve does), exits 130, shows no traceback, and the server stops the solve."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from google.protobuf import json_format

from prunecert.v1 import solve_pb2
from solver.core.problem import MinError, PruningMode
from solver.instances.generate import paper_problem
from solver.io import convert
from tests.support.servers import REPO, Served, serving

pytestmark = pytest.mark.timeout(240)

INCUMBENT_LINE = re.compile(r"^incumbent \d")  # a plain progress line after an Incumbent event


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("interrupt"), "--max-concurrent", "1") as served:
        yield served


def lines_of(stream) -> queue.Queue:
    """The stream's lines, read in a thread (a blocking readline would hang the test)."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_ctrl_c_on_a_remote_solve_prints_cancelled(server, tmp_path):
    # Neurons n = 128 on the paper grid: minutes to prove, incumbents within seconds.
    problem = tmp_path / "p.json"
    problem.write_text(
        convert.to_json(
            convert.problem_to_proto(paper_problem(2, 128, 1, PruningMode.NEURONS, MinError()))
        )
    )
    command = [sys.executable, "-m", "solver.cli", "solve", str(problem), "--json"]
    command += ["--remote", server.remote, "--time-limit", "200", "--progress-every", "0.2"]
    seen: list[str] = []
    with subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            lines = lines_of(proc.stderr)
            while True:  # until the stream has delivered an incumbent
                line = lines.get(timeout=120)
                assert line is not None, "".join(seen)
                seen.append(line)
                assert "\r" not in line  # plain lines: stderr is a pipe
                if INCUMBENT_LINE.match(line):
                    break
            proc.send_signal(signal.SIGINT)
            out = proc.stdout.read()
            proc.wait(60)
            while (line := lines.get(timeout=60)) is not None:
                seen.append(line)
        finally:
            if proc.poll() is None:
                proc.kill()
    err = "".join(seen)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    result = json_format.Parse(out, solve_pb2.SolveResult())
    assert result.status == solve_pb2.SOLVE_STATUS_CANCELLED
    assert result.detail.startswith("interrupted (Ctrl-C)")
    assert "the last incumbent had error" in result.detail
    assert result.objective_bound == 0.0  # the stream's bounds are not rigorous: none is claimed
    # The server saw the call cancelled (its log line per RPC), so it stopped the solve.
    deadline = time.monotonic() + 60
    while '"method": "SolveStream"' not in server.log.read_text():
        assert time.monotonic() < deadline, server.log.read_text()
        time.sleep(0.2)
    [record] = [r for r in server.log.read_text().splitlines() if '"method": "SolveStream"' in r]
    assert '"code": "CANCELLED"' in record


def test_the_text_report_of_an_interrupted_remote_solve():
    """The text report of an interrupted remote solve: status, detail and the time, no mask."""
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
