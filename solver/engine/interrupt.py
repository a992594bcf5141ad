"""Ctrl-C for local solves: the solve runs in a thread so that a KeyboardInterrupt in the main
thread can stop the native solver through the engine's stop event instead of killing it."""

from __future__ import annotations

import threading

from solver.core.parameters import SolveParameters
from solver.core.problem import Problem
from solver.core.result import SolveResult
from solver.engine.dispatch import solve


def solve_interruptibly(
    problem: Problem, params: SolveParameters, *, reraise: bool = False
) -> SolveResult:
    """The engine's solve; on Ctrl-C the solve is stopped and its (CANCELLED) result returned,
    or, with ``reraise``, the KeyboardInterrupt propagates once the solver has stopped."""
    stop, finished = threading.Event(), threading.Event()
    box: dict = {}

    def work() -> None:
        try:
            box["result"] = solve(problem, params, stop=stop)
        except BaseException as exc:  # re-raised in the calling thread
            box["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=work, daemon=True).start()
    # Waits on an Event, not Thread.join: a KeyboardInterrupt inside join() can leave the thread
    # looking finished while it still runs (CPython gh-90882), which lost the result.
    try:
        while not finished.wait(0.2):
            pass
    except KeyboardInterrupt:
        stop.set()
        while not finished.wait(0.2):
            pass
        if reraise:
            raise
    if "error" in box:
        raise box["error"]
    return box["result"]
