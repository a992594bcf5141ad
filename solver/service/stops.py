"""The SolveStreams that StopSolve can stop (issue 13, item 4): a stop keeps the stream open.

Cancelling a call stops its solve too, but then its result has no stream to come back on.
StopSolve instead sets the solve's stop flag: the worker pool passes it on to the solver
process as a cancel does, keeps reading, and the engine's CANCELLED result (the best certified
mask so far and a rigorous bound) is the stream's last event, as after a local Ctrl-C.

A solve is named by an unguessable id (sent in the stream's first event) and owned by the
caller's tenant (solver.service.auth.owner_of, the same identity as jobs): a stop from anyone
else, or for an id that is unknown or has ended, finds nothing, so ids of other tenants'
solves cannot even be confirmed to exist.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class StoppableSolve:
    id: str
    owner: str
    requested: threading.Event = field(default_factory=threading.Event)

    def stop_requested(self) -> bool:
        return self.requested.is_set()


class StoppableSolves:
    """Running SolveStreams by id; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._solves: dict[str, StoppableSolve] = {}

    @contextmanager
    def running(self, owner: str) -> Iterator[StoppableSolve]:
        """A new solve of ``owner``'s, stoppable until the block ends."""
        solve = StoppableSolve(secrets.token_urlsafe(18), owner)
        with self._lock:
            self._solves[solve.id] = solve
        try:
            yield solve
        finally:
            with self._lock:
                self._solves.pop(solve.id, None)

    def stop(self, owner: str, solve_id: str) -> bool:
        """Ask ``owner``'s running solve ``solve_id`` to stop; False if there is none."""
        with self._lock:
            solve = self._solves.get(solve_id)
        if solve is None or not secrets.compare_digest(solve.owner, owner):
            return False
        solve.requested.set()
        return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._solves)
