"""Waiting out a busy server: a call refused with RESOURCE_EXHAUSTED for the server's load is
sent again with exponential backoff and jitter, up to a total wait (Client's ``wait_seconds``,
the CLI's ``--wait``).

Only refusals for load are retried (``ResourceExhausted.busy``: every solver slot busy, the
queue full); one naming a field is about the request and would fail again. Only calls that are
safe to send twice use it: Solve, Certify, SolveStream before its first event, and SubmitJob
(with a request_id, so that a second submission can only return the same job).

tenacity does the schedule. grpc's own retry policy (the service config) could retry
RESOURCE_EXHAUSTED too, but caps a call at 5 attempts, cannot bound the total wait, and says
nothing while it waits; and a stream is no longer retried once the server has answered.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

import tenacity

from prunecert_client._exceptions import Cancelled, ResourceExhausted

# The backoff: 1, 2, 4, ... seconds, at most 30, each plus up to 1 s of jitter (so that callers
# turned away together do not come back together).
FIRST_WAIT_SECONDS = 1.0
LONGEST_WAIT_SECONDS = 30.0
JITTER_SECONDS = 1.0

OnWait = Callable[[float, ResourceExhausted], None]
T = TypeVar("T")

_log = logging.getLogger("prunecert_client")


def log_wait(seconds: float, refusal: ResourceExhausted) -> None:
    """The default ``on_wait``: a log record (the CLI prints a line instead)."""
    _log.info("server busy (%s), retrying in %.1f s", refusal, seconds)


def is_busy(exc: BaseException) -> bool:
    return isinstance(exc, ResourceExhausted) and exc.busy


class BusyWait:
    """Runs a call, sending it again while the server is busy, for up to ``seconds`` in all
    (0: once). ``closed`` set (the client closed) ends a wait at once with Cancelled."""

    def __init__(self, seconds: float, on_wait: OnWait | None, closed: threading.Event):
        if not seconds >= 0:  # also refuses NaN
            raise ValueError(f"wait_seconds must be >= 0, not {seconds}")
        self.seconds = seconds
        self.on_wait = on_wait or log_wait
        self.closed = closed
        self._backoff = tenacity.wait_exponential_jitter(
            initial=FIRST_WAIT_SECONDS, max=LONGEST_WAIT_SECONDS, jitter=JITTER_SECONDS
        )

    def _wait(self, state: tenacity.RetryCallState) -> float:
        # The last wait is cut to what is left of the budget: the final attempt comes at its end.
        left = self.seconds - (state.seconds_since_start or 0.0)
        return max(0.0, min(self._backoff(state), left))

    def _sleep(self, seconds: float) -> None:
        if self.closed.wait(seconds):
            raise Cancelled("the client was closed while waiting for a busy server")

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        refusal = state.outcome.exception() if state.outcome else None
        if isinstance(refusal, ResourceExhausted):  # always: only those are retried
            self.on_wait(state.upcoming_sleep, refusal)

    def run(self, call: Callable[[], T]) -> T:
        if self.seconds == 0:
            return call()
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(is_busy),
            stop=tenacity.stop_after_delay(self.seconds),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,  # the server's last refusal, not tenacity's RetryError
        )
        return retrying(call)
