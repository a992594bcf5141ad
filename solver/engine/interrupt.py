"""Ctrl-C for local solves: the solve runs in a thread so that a KeyboardInterrupt in the main
thread can stop the native solver through the engine's stop event instead of killing it."""

from __future__ import annotations

import threading
from collections.abc import Callable

from solver.core.parameters import SolveParameters
from solver.core.problem import Problem
from solver.core.result import SolveResult
from solver.engine.dispatch import solve
from solver.engine.run import ProgressCallback, SolverLog

TICK_SECONDS = 0.2


def solve_interruptibly(
    problem: Problem,
    params: SolveParameters,
    *,
    reraise: bool = False,
    progress: ProgressCallback | None = None,
    tick: Callable[[], None] | None = None,
    solver_log: SolverLog | None = None,
) -> SolveResult:
    """The engine's solve; on Ctrl-C the solve is stopped and its (CANCELLED) result returned,
    or, with ``reraise``, the KeyboardInterrupt propagates once the solver has stopped.

    ``progress`` receives the engine's events (from the solver's thread); ``tick`` is called from
    the calling thread every TICK_SECONDS while the solve runs (a progress line redraws its clock
    there); ``solver_log`` gets the backend's own log lines (from the solver's thread)."""
    stop, finished = threading.Event(), threading.Event()
    box: dict = {}

    def work() -> None:
        try:
            box["result"] = solve(
                problem, params, progress=progress, stop=stop, solver_log=solver_log
            )
        except BaseException as exc:  # re-raised in the calling thread
            box["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=work, daemon=True).start()
    # Waits on an Event, not Thread.join: a KeyboardInterrupt inside join() can leave the thread
    # looking finished while it still runs (CPython gh-90882), which lost the result.
    try:
        while not finished.wait(TICK_SECONDS):
            if tick is not None:
                tick()
    except KeyboardInterrupt:
        stop.set()
        while not finished.wait(TICK_SECONDS):
            pass
        if reraise:
            raise
    if "error" in box:
        raise box["error"]
    return box["result"]
