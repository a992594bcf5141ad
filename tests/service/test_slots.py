"""The solve queue's own rules (solver.service.slots), with real threads: first come first
served, bounded, cancellable, and every call reported to the observer.

tests/service/test_queue.py runs the same queue in a real server; the order in which waiting
calls are served is checked here, where it does not depend on when replies reach a client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from solver.core.errors import PoolBusyError
from solver.service import slots
from solver.service.slots import QueueRefusal, SlotQueue

pytestmark = pytest.mark.timeout(60)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, "condition not met"
        time.sleep(0.005)


class Caller(threading.Thread):
    """A call asking for a slot: what it got (worker, or None when cancelled) or its refusal."""

    def __init__(self, queue: SlotQueue, limit: float = 60.0):
        super().__init__(daemon=True)
        self.queue = queue
        self.limit = limit
        self.gone = threading.Event()
        self.got: tuple | None = None
        self.refusal: QueueRefusal | None = None
        self.returned = threading.Event()

    def run(self) -> None:
        try:
            self.got = self.queue.take(self.limit, self.gone.is_set)
        except QueueRefusal as exc:
            self.refusal = exc
        self.returned.set()


def enqueue(queue: SlotQueue, count: int, limit: float = 60.0) -> list[Caller]:
    """``count`` callers, each started once the one before it waits."""
    callers = []
    for _ in range(count):
        before = queue.queued()
        caller = Caller(queue, limit)
        caller.start()
        wait_until(lambda b=before: queue.queued() == b + 1)
        callers.append(caller)
    return callers


def test_a_free_worker_is_taken_at_once_without_waiting():
    seen = []
    queue = SlotQueue(2, lambda outcome, waited: seen.append((outcome, waited)))
    queue.put("w")
    assert queue.take(10.0, lambda: False) == ("w", 0.0)
    assert seen == [(slots.SERVED, 0.0)]
    assert queue.figures().mean_wait_seconds == 0.0


def test_waiting_calls_are_served_first_come_first_served():
    queue = SlotQueue(8)
    callers = enqueue(queue, 5)
    for worker in range(5):
        queue.put(worker)  # each freed worker goes to the call that has waited longest
    for caller in callers:
        assert caller.returned.wait(10)
    assert [c.got[0] for c in callers] == [0, 1, 2, 3, 4]
    assert all(c.got[1] > 0 for c in callers)
    assert queue.queued() == 0 and queue.free() == 0


def test_a_newcomer_never_overtakes_a_waiting_call():
    queue = SlotQueue(8)
    [first] = enqueue(queue, 1)
    queue.put("freed")  # handed to the waiting call, not left for the next take
    assert first.returned.wait(10)
    assert first.got[0] == "freed"
    with pytest.raises(QueueRefusal):
        queue.take(0.0, lambda: False)  # nothing free now, and this call may not wait


def test_past_the_limit_a_call_is_refused_at_once():
    seen = []
    queue = SlotQueue(2, lambda outcome, waited: seen.append(outcome))
    callers = enqueue(queue, 2)
    with pytest.raises(PoolBusyError) as refused:  # QueueRefusal is the service's busy error
        queue.take(60.0, lambda: False)
    assert refused.value.reason == slots.FULL and refused.value.waited == 0.0
    assert seen == [slots.FULL]
    assert queue.figures().refusals == 1
    for worker in range(2):
        queue.put(worker)
    for caller in callers:
        assert caller.returned.wait(10)


def test_no_queue_refuses_at_once():
    queue = SlotQueue(0)
    with pytest.raises(QueueRefusal):
        queue.take(60.0, lambda: False)


def test_a_wait_that_runs_out_is_refused_and_leaves_the_queue():
    seen = []
    queue = SlotQueue(4, lambda outcome, waited: seen.append(outcome))
    caller = Caller(queue, limit=0.2)
    caller.start()
    assert caller.returned.wait(10)
    assert caller.refusal is not None and caller.refusal.reason == slots.TIMED_OUT
    assert caller.refusal.waited >= 0.2
    assert queue.queued() == 0
    assert seen == [slots.TIMED_OUT]
    queue.put("w")  # nobody waits for it any more: it stays free
    assert queue.free() == 1


def test_a_cancelled_call_leaves_its_place_and_the_next_call_gets_the_worker():
    seen = []
    queue = SlotQueue(2, lambda outcome, waited: seen.append(outcome))
    first, second = enqueue(queue, 2)
    first.gone.set()
    assert first.returned.wait(10)
    assert first.got is None and first.refusal is None
    assert queue.queued() == 1
    [third] = enqueue(queue, 1)  # the freed place takes a new call
    queue.put("a")
    queue.put("b")
    assert second.returned.wait(10) and third.returned.wait(10)
    assert (second.got[0], third.got[0]) == ("a", "b")
    assert seen.count(slots.CANCELLED) == 1 and seen.count(slots.SERVED) == 2


def test_a_worker_handed_to_a_call_whose_client_left_goes_to_the_next():
    queue = SlotQueue(2)
    first, second = enqueue(queue, 2)
    first.gone.set()
    queue.put("w")  # may reach the leaving call first: it must pass it on
    assert first.returned.wait(10) and first.got is None
    assert second.returned.wait(10) and second.got[0] == "w"


def test_figures_report_the_mean_and_recent_waits():
    queue = SlotQueue(4)
    queue.put("x")
    queue.take(1.0, lambda: False)  # served at once: a wait of 0
    [caller] = enqueue(queue, 1)
    time.sleep(0.05)
    queue.put("y")
    assert caller.returned.wait(10)
    waited = caller.got[1]
    figures = queue.figures()
    assert figures.mean_wait_seconds == pytest.approx(waited / 2)
    assert figures.recent_wait_seconds == pytest.approx(waited / 2)
    assert (figures.queued, figures.free, figures.refusals) == (0, 0, 0)
