"""Progress on stderr (issue 13, item 5): the live line (incumbent, bound, gap, elapsed) on a
terminal, plain paced lines elsewhere, never a carriage return outside a terminal. The pacing is
tested on a fake clock; the processes check what a real solve writes to a pipe and to a pty."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys
import threading

import pytest
from google.protobuf import json_format

from prunecert.v1 import solve_pb2
from solver.cli.app import main
from solver.cli.progress import CLEAR_LINE, Counter, LiveLine
from solver.core.problem import MinError, PruningMode
from solver.instances.generate import paper_problem
from solver.io import convert
from tests.support.servers import REPO

PLAIN_LINE = re.compile(
    r"^incumbent (-|~\S+ \(solver, kept \d+\))  bound (-|\S+)  gap (-|\S+)  \d+\.\ds$"
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_are_paced_and_the_first_waits_one_interval():
    clock, out = Clock(), io.StringIO()
    line = LiveLine(every=5.0, stream=out, tty=False, clock=clock)
    line.update(error=0.5, kept=3)
    line.show()
    assert out.getvalue() == ""  # a quick solve stays silent
    clock.now += 5.0
    line.update(bound=0.25)
    assert out.getvalue() == "incumbent ~0.5 (solver, kept 3)  bound 0.25  gap 0.25  5.0s\n"
    clock.now += 1.0
    line.update(error=0.4)  # within the interval: nothing
    line.show()
    assert out.getvalue().count("\n") == 1
    clock.now += 4.0
    line.show()  # the heartbeat: a line even without a new event
    assert (
        out.getvalue().splitlines()[-1]
        == "incumbent ~0.4 (solver, kept 3)  bound 0.25  gap 0.15  10.0s"
    )
    line.update(bound=0.1)  # a weaker bound never replaces a stronger one
    assert line.bound == 0.25
    line.close()
    assert "\r" not in out.getvalue()
    assert all(PLAIN_LINE.match(text) for text in out.getvalue().splitlines())


def test_a_terminal_gets_one_line_redrawn_in_place_then_cleared():
    clock, out = Clock(), io.StringIO()
    line = LiveLine(every=5.0, stream=out, tty=True, clock=clock)
    clock.now += 0.5
    line.update(error=0.5, kept=3)
    clock.now += 0.5
    line.update(bound=0.5)
    for _ in range(100):  # a burst of events within 0.1 s: no redraw
        line.update(bound=0.5)
    line.close()
    assert out.getvalue() == (
        f"{CLEAR_LINE}incumbent ~0.5 (solver, kept 3)  bound -  gap -  0.5s"
        f"{CLEAR_LINE}incumbent ~0.5 (solver, kept 3)  bound 0.5  gap 0  1.0s"
        f"{CLEAR_LINE}"
    )


def test_zero_turns_progress_off():
    clock = Clock()
    for tty in (True, False):
        out = io.StringIO()
        line = LiveLine(every=0, stream=out, tty=tty, clock=clock)
        clock.now += 100
        line.update(error=1.0, kept=1, bound=0.0)
        line.show()
        line.close()
        assert out.getvalue() == ""


def test_counter_plain_lines_end_with_a_final_line_only_after_progress_was_shown():
    clock, out = Clock(), io.StringIO()
    with Counter(10, "item", every=2.0, stream=out, tty=False, clock=clock) as counter:
        counter.set(1, failed=0, running=2)
    assert out.getvalue() == ""  # quick: silent, start to end
    with Counter(10, "item", every=2.0, stream=out, tty=False, clock=clock) as counter:
        clock.now += 2.0
        counter.set(4, failed=1, running=2)
        clock.now += 1.0
        counter.set(9, failed=1, running=0)
        clock.now += 2.0
        counter.advance(n=16, mode="weights")  # a postfix may be called n (gap's)
    assert out.getvalue().splitlines() == [
        "4/10 items (40%)  failed 1  running 2  2.0s",
        "10/10 items (100%)  n 16  mode weights  5.0s",
        "10/10 items (100%)  n 16  mode weights  5.0s",
    ]


def write_problem(tmp_path, n: int = 128):
    path = tmp_path / "p.json"
    problem = paper_problem(2, n, 1, PruningMode.NEURONS, MinError())
    path.write_text(convert.to_json(convert.problem_to_proto(problem)))
    return path


# Neurons n = 128: far from proven in 2 s, incumbents within it. The time limit makes it FEASIBLE.
SOLVE_2S = ("--json", "--time-limit", "2")


def test_a_local_solve_writes_plain_lines_to_a_pipe(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "solver.cli", "solve", str(write_problem(tmp_path)), *SOLVE_2S]
        + ["--progress-every", "0.3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3, proc.stderr  # FEASIBLE: the time limit
    assert json_format.Parse(proc.stdout, solve_pb2.SolveResult()).status == 2
    assert "\r" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines, "a 2 s solve paced at 0.3 s printed no progress"
    assert all(PLAIN_LINE.match(text) for text in lines), lines


def test_a_local_solve_draws_a_live_line_on_a_terminal(tmp_path):
    controller, terminal = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:  # read while the solve runs: a full pty would block its writes
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the terminal side is closed and drained
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    command = [sys.executable, "-m", "solver.cli", "solve", str(write_problem(tmp_path))]
    try:
        with subprocess.Popen(
            [*command, *SOLVE_2S], cwd=REPO, stdout=subprocess.PIPE, stderr=terminal, text=True
        ) as proc:
            os.close(terminal)
            terminal = -1
            reader.start()
            out, _ = proc.communicate(timeout=120)
        reader.join(30)
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    err = b"".join(chunks).decode()
    assert proc.returncode == 3, err
    assert json.loads(out)["status"] == "SOLVE_STATUS_FEASIBLE"  # stdout stays clean
    assert f"{CLEAR_LINE}incumbent " in err
    assert err.endswith(CLEAR_LINE)  # the line is gone before the result is printed
    assert "\n" not in err


def test_bad_progress_every_is_a_usage_error_naming_the_flag(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["solve", str(write_problem(tmp_path, n=3)), "--progress-every", "-1"])
    assert info.value.code == 2
    assert "argument --progress-every: must be a finite number of seconds >= 0" in (
        capsys.readouterr().err
    )


def test_compare_writes_no_carriage_return_off_a_terminal(tmp_path, capsys):
    problem = paper_problem(2, 3, 1, PruningMode.NEURONS, MinError(), 5)
    spec = tmp_path / "spec.json"
    problems = [json.loads(convert.to_json(convert.problem_to_proto(problem)))]
    spec.write_text(json.dumps({"problems": {"problems": problems}}))
    code = main(
        ["compare", str(spec), "--out", str(tmp_path / "c.csv"), "--progress-every", "0.001"]
        + ["--heuristics", "magnitude"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "\r" not in err
    assert err.splitlines()[-1].startswith("1/1 instances (100%)")
