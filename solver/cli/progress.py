"""Progress on stderr: a live line on a terminal, plain periodic lines elsewhere.

On a terminal a line is redrawn in place (``\\r``); in a log file or a pipe that would leave one
endless line of carriage returns, so there a plain line is written at most once per
``--progress-every`` seconds, the first only after one interval (a quick command stays silent).
Two kinds: ``LiveLine`` for one solve (incumbent, bound, gap, elapsed: local and remote alike)
and ``Counter`` for many items (batch watch, compare, gap). Nothing here imports the engine or
the client: batch commands use it too.
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from solver.core.result import Progress

DEFAULT_EVERY = 5.0  # seconds between plain lines off a terminal
REDRAW_SECONDS = 0.25  # how often the waiting thread redraws a terminal line (its clock moves)
# At most one terminal redraw per this many seconds: CP-SAT can report hundreds of bounds a
# second, each a progress event.
MIN_REDRAW_SECONDS = 0.1
CLEAR_LINE = "\r\x1b[K"


def seconds_argument(text: str) -> float:
    """argparse type: a finite number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {text!r}")
    return value


def progress_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress-every",
        type=seconds_argument,
        default=DEFAULT_EVERY,
        metavar="SECONDS",
        help="progress on stderr: a live line on a terminal; otherwise a plain line at most "
        f"every SECONDS (default {DEFAULT_EVERY:g}; 0: no progress at all)",
    )


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


class _Display:
    """What both kinds share: the terminal test, the clock, the pacing and a lock (engine
    progress arrives from the solver's threads while the main thread redraws)."""

    def __init__(
        self,
        every: float,
        stream: TextIO | None = None,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every = every
        self.enabled = every > 0
        self.clock = clock
        self.start = clock()
        self.last_plain = self.start
        self.last_draw = -math.inf
        self.plain_lines = 0
        self.drawn = False
        self.lock = threading.Lock()

    def elapsed(self) -> float:
        return self.clock() - self.start

    def text(self) -> str:
        raise NotImplementedError

    def show(self, force: bool = False) -> None:
        """Redraw the terminal line, or write a plain line when one is due (or ``force``)."""
        if not self.enabled:
            return
        with self.lock:
            if self.tty:
                now = self.clock()
                if not force and now - self.last_draw < MIN_REDRAW_SECONDS:
                    return
                self.last_draw = now
                self.stream.write(CLEAR_LINE + self.text())
                self.drawn = True
            else:
                now = self.clock()
                if not force and now - self.last_plain < self.every:
                    return
                self.last_plain = now
                self.plain_lines += 1
                self.stream.write(self.text() + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Clear a terminal line (the result is printed next)."""
        with self.lock:
            if self.tty and self.drawn:
                self.stream.write(CLEAR_LINE)
                self.stream.flush()
                self.drawn = False


class LiveLine(_Display):
    """One solve: ``incumbent ~E (solver, kept K)  bound B  gap G  T s``. Incumbent and bound
    are the solver's figures on the points being solved, not certified: with row generation
    those are a subset of the domain, so the incumbent's error can be below the mask's exact
    error and below the final certified one (issue 13, item 9). Hence the ``~`` and the
    ``solver`` label; the certified figures are in the result printed at the end."""

    def __init__(self, every: float = DEFAULT_EVERY, **kw):
        super().__init__(every, **kw)
        self.error: float | None = None
        self.kept: int | None = None
        self.bound: float | None = None

    def update(self, error=None, kept=None, bound=None) -> None:
        with self.lock:
            if error is not None:
                self.error = error
            if kept is not None:
                self.kept = kept
            if bound is not None and (self.bound is None or bound > self.bound):
                self.bound = bound
        self.show()

    def on_progress(self, event: Progress) -> None:
        """The engine's progress callback."""
        self.update(event.error, event.kept, event.bound)

    def text(self) -> str:
        incumbent = "-"
        if self.error is not None:
            kept = f", kept {self.kept}" if self.kept is not None else ""
            incumbent = f"~{self.error:.6g} (solver{kept})"
        gap = None
        if self.error is not None and self.bound is not None:
            gap = max(0.0, self.error - self.bound)
        return (
            f"incumbent {incumbent}  bound {_number(self.bound, '.6g')}  "
            f"gap {_number(gap, '.3g')}  {self.elapsed():.1f}s"
        )


class Counter(_Display):
    """Many items: ``DESC N/TOTAL UNITs (P%)  key=value ...  T s``; on a terminal a tqdm bar."""

    def __init__(self, total: int, unit: str, desc: str = "", every: float = DEFAULT_EVERY, **kw):
        super().__init__(every, **kw)
        self.total, self.unit, self.desc = total, unit, desc
        self.n = 0
        self.postfix: dict[str, object] = {}
        self.bar = None
        if self.tty and self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, unit=unit, desc=desc or None, file=self.stream, dynamic_ncols=True
            )

    def set(self, done: int, /, **postfix) -> None:
        # Positional-only: a postfix may be called n (gap shows each solve's width).
        self.n, self.postfix = done, postfix
        if self.bar is not None:
            self.bar.n = done
            self.bar.set_postfix(**postfix, refresh=False)
            self.bar.refresh()
        else:
            self.show()

    def advance(self, **postfix) -> None:
        self.set(self.n + 1, **postfix)

    def text(self) -> str:
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        extra = "".join(f"  {key} {value}" for key, value in self.postfix.items())
        head = f"{self.desc} " if self.desc else ""
        return f"{head}{self.n}/{self.total} {self.unit}s{share}{extra}  {self.elapsed():.1f}s"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.plain_lines:  # a log that showed progress also shows the end
            self.show(force=True)

    def __enter__(self) -> Counter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
