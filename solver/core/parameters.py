"""Solve parameters; None means the engine default."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TOLERANCE = 1e-6
CONTINUOUS_MODES = ("evaluate", "optimize")


@dataclass(frozen=True)
class SolveParameters:
    time_limit_seconds: float | None = None  # None: no limit
    backend: str | None = None  # None or "auto": the engine chooses
    threads: int | None = None  # None: the backend default
    seed: int | None = None
    tolerance: float | None = None  # None: DEFAULT_TOLERANCE (absolute, on the error)
    row_generation: bool | None = None  # None: on for large point sets
    drop_dominated_points: bool | None = None  # None: on (only applies when bias-free)
    cross_check: str | None = None  # a second backend ("auto": another installed one)
    continuous: str | None = None  # None: grid only; "evaluate" or "optimize" (see solve.proto)
    heuristic: str | None = None  # run this heuristic (or "best") instead of an exact solve
    heuristic_start: bool | None = None  # None: for n >= 48; start from the best heuristic mask

    @property
    def effective_tolerance(self) -> float:
        return DEFAULT_TOLERANCE if not self.tolerance else float(self.tolerance)
