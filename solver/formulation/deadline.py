"""A solve's deadline: an absolute point on the monotonic clock, fixed when solve() starts, and
the stop event that cancels it, checked between the blocks of every long phase (docs/design.md
§14: building the column model, a backend's model, the starts, the sparsest step, the
cross-check).

Long phases check it between blocks of work rather than once before they start: building the
model of neurons n = 1024 on 19,881 points took 12 s before its first check, with a 2 s limit.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


class DeadlineReached(Exception):
    """A phase stopped at the deadline (or a stop). Internal control flow: the engine catches it
    and returns what it has; it never reaches a caller of solve()."""

    def __init__(self, phase: str):
        super().__init__(f"time limit reached while {phase}")
        self.phase = phase


@dataclass(frozen=True)
class Deadline:
    """``at``: a time.monotonic() value (None: no limit); ``stop``: set it to stop now."""

    at: float | None = None
    stop: threading.Event | None = None

    @classmethod
    def after(cls, seconds: float | None, stop: threading.Event | None = None) -> Deadline:
        """The deadline ``seconds`` from now (None or 0: none, as SolveParameters.time_limit)."""
        return cls(None if not seconds else time.monotonic() + float(seconds), stop)

    def left(self) -> float | None:
        """Seconds until the deadline (at least 0), None without one."""
        return None if self.at is None else max(0.0, self.at - time.monotonic())

    def passed(self) -> bool:
        """Whether the deadline has passed or the stop event is set."""
        if self.stop is not None and self.stop.is_set():
            return True
        return self.at is not None and time.monotonic() >= self.at

    def check(self, phase: str) -> None:
        """Raise DeadlineReached(``phase``) once the deadline has passed (or a stop is set)."""
        if self.passed():
            raise DeadlineReached(phase)

    def earlier(self, seconds: float) -> Deadline:
        """The same deadline ``seconds`` earlier (a reserve for work that must follow)."""
        return self if self.at is None else Deadline(self.at - seconds, self.stop)


NO_DEADLINE = Deadline()
