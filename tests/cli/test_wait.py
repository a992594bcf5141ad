"""`--wait` and Client(wait_seconds=...) against a real server whose one solver slot a long solve
holds (issue 13 item 6, the client's part): without waiting the call is refused at once with
RESOURCE_EXHAUSTED; with it the call is sent again until the slot is free, one stderr line per
wait. A refusal that is about the request (over the worker memory budget) is not retried.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from prunecert_client import Cancelled, Client, Finished, ResourceExhausted
from solver.core.problem import Mask, MinError, PruningMode
from solver.core.result import SolveStatus
from solver.instances.generate import paper_problem
from solver.io import convert
from solver.service.sizing import estimated_bytes
from tests.support.servers import REPO, Served, cli, serving

pytestmark = pytest.mark.timeout(240)


def small():
    return paper_problem(2, 6, 1, PruningMode.NEURONS, MinError(max_kept=3), points_per_axis=5)


def long_problem():
    return paper_problem(2, 48, 2, PruningMode.WEIGHTS)


def huge():
    return paper_problem(2, 8, 1, PruningMode.WEIGHTS, points_per_axis=401)


def refusal_flags() -> tuple[str, ...]:
    """A busy server refuses at once: with a server-side queue (when `serve` has one), none."""
    return ("--queue-limit", "0") if "--queue-limit" in cli("serve", "--help").stdout else ()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("wait")


@pytest.fixture(scope="module")
def server(workdir) -> Iterator[Served]:
    # A worker memory budget that the long and the small problem fit and the huge one does not.
    sizes = [estimated_bytes(convert.problem_to_proto(p)) for p in (long_problem(), small())]
    budget = max(sizes)
    assert estimated_bytes(convert.problem_to_proto(huge())) > budget
    flags = ("--max-concurrent", "1", "--worker-memory", str(budget), *refusal_flags())
    with serving(workdir, *flags) as served:
        yield served


@pytest.fixture(scope="module")
def files(workdir) -> dict[str, Path]:
    out = {}
    for name, problem in (("small", small()), ("huge", huge())):
        out[name] = workdir / f"{name}.json"
        out[name].write_text(convert.to_json(convert.problem_to_proto(problem)))
    return out


class Occupant:
    """A long solve holding the server's one slot until ``leave``."""

    def __init__(self, server: Served):
        # It waits too: the previous test's occupant may still be leaving (the server frees a
        # cancelled solve's slot within a second).
        self.client = Client(server.remote, wait_seconds=60)
        self.events = self.client.solve_stream(long_problem(), time_limit=120, timeout=180)
        next(self.events)  # an event: the solve is running in the slot

    def leave(self) -> None:
        self.client.close()  # cancels the call: the server stops the solve, frees the slot


@contextmanager
def occupied(server: Served) -> Iterator[Occupant]:
    occupant = Occupant(server)
    try:
        yield occupant
    finally:
        occupant.leave()


# -- the CLI -----------------------------------------------------------------------------------


def test_without_wait_a_busy_server_refuses_at_once(server, files):
    with occupied(server):
        run = cli("solve", str(files["small"]), "--remote", server.remote)
    assert run.returncode == 1, run.stderr
    assert "busy" in run.stderr
    assert "retrying" not in run.stderr


def busy_line(proc: subprocess.Popen) -> str:
    """The CLI's first "server busy" line (stderr read up to it: progress lines may come
    first on a slow machine)."""
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("server busy, retrying in "):
            return line
    raise AssertionError(f"no busy line; exit {proc.wait()}")


def test_with_wait_the_solve_runs_once_the_slot_is_free(server, files):
    argv = ["solve", str(files["small"]), "--remote", server.remote, "--wait", "120"]
    with occupied(server) as occupant:
        proc = subprocess.Popen(
            [sys.executable, "-m", "solver.cli", *argv],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        first = busy_line(proc)  # the CLI has been refused once
        assert " s (" in first and "busy" in first.split(" s (", 1)[1]
        occupant.leave()
        out, rest = proc.communicate(timeout=180)
    assert proc.returncode == 0, first + rest
    assert out.startswith("status      OPTIMAL")
    assert "Traceback" not in rest and "error" not in rest


def test_a_refusal_about_the_request_is_not_retried(server, files):
    run = cli("solve", str(files["huge"]), "--remote", server.remote, "--wait", "120")
    assert run.returncode == 1, run.stderr
    assert "worker memory budget" in run.stderr
    assert "retrying" not in run.stderr


@pytest.mark.parametrize("value", ["-1", "nan", "soon"])
def test_wait_must_be_seconds(files, value):
    run = cli("solve", str(files["small"]), "--remote", "127.0.0.1:1", f"--wait={value}")
    assert run.returncode == 2
    assert "--wait" in run.stderr and "seconds >= 0" in run.stderr


# -- the client package ------------------------------------------------------------------------


class FreeOnFirstWait:
    """``on_wait`` that records each wait and frees the slot at the first."""

    def __init__(self, occupant: Occupant):
        self.occupant = occupant
        self.waits: list[tuple[float, ResourceExhausted]] = []

    def __call__(self, seconds: float, refusal: ResourceExhausted) -> None:
        self.waits.append((seconds, refusal))
        if len(self.waits) == 1:
            self.occupant.leave()


@pytest.mark.parametrize("call", ["solve", "solve_stream", "certify"])
def test_client_waits_for_the_slot(server, call):
    problem = small()
    with occupied(server) as occupant:
        on_wait = FreeOnFirstWait(occupant)
        with Client(server.remote, wait_seconds=120, on_wait=on_wait) as client:
            if call == "solve":
                status = client.solve(problem, time_limit=60).status
            elif call == "solve_stream":
                events = list(client.solve_stream(problem, time_limit=60))
                assert isinstance(events[-1], Finished)
                status = events[-1].result.status
            else:
                mask = Mask(neurons=[True] * 3 + [False] * 3)
                status = client.certify(problem, mask, compare_with_optimum=True).optimum.status
    assert status == SolveStatus.OPTIMAL
    assert on_wait.waits, "the call was never refused: the slot was not held"
    assert all(refusal.busy for _, refusal in on_wait.waits)


def test_client_gives_up_after_its_budget(server):
    waits: list[float] = []
    with occupied(server):
        with Client(server.remote, wait_seconds=2.0, on_wait=lambda s, _: waits.append(s)) as c:
            with pytest.raises(ResourceExhausted) as info:
                c.solve(small(), time_limit=60)
    assert info.value.busy
    assert waits  # it did wait before giving up
    assert sum(waits) <= 2.0  # the waits fit the budget (the last is cut to what is left)


def test_client_without_wait_refuses_at_once(server):
    with occupied(server), Client(server.remote) as client:
        with pytest.raises(ResourceExhausted) as info:
            client.solve(small(), time_limit=60)
    assert info.value.busy


def test_closing_the_client_ends_its_wait(server):
    """Ctrl-C on `solve --remote --wait` closes the client: the wait ends there, Cancelled."""
    clients: list[Client] = []
    with occupied(server):
        client = Client(server.remote, wait_seconds=120, on_wait=lambda s, _: clients[0].close())
        clients.append(client)
        with pytest.raises(Cancelled):  # closed as it was about to wait
            client.solve(small(), time_limit=60)


def test_ctrl_c_while_waiting_prints_cancelled(server, files):
    argv = ["solve", str(files["small"]), "--remote", server.remote, "--wait", "120"]
    with occupied(server):
        proc = subprocess.Popen(
            [sys.executable, "-m", "solver.cli", *argv],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        first = busy_line(proc)
        proc.send_signal(signal.SIGINT)
        out, rest = proc.communicate(timeout=60)
    assert proc.returncode == 130, first + rest
    assert out.startswith("status      CANCELLED")
    assert "Traceback" not in rest
