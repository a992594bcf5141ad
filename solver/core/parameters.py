"""Solve parameters: typed values where None means the engine default."""

from __future__ import annotations

import enum
from dataclasses import dataclass

DEFAULT_TOLERANCE = 1e-6


class ContinuousMode(enum.StrEnum):
    """SolveParameters.continuous: what to certify over the whole input box (solve.proto)."""

    EVALUATE = "evaluate"  # the returned mask's exact maximum error over the box
    OPTIMIZE = "optimize"  # the certified optimum over the box (cutting planes)


class Heuristic(enum.StrEnum):
    """SolveParameters.heuristic: a baseline to run instead of an exact solve."""

    MAGNITUDE = "magnitude"
    GREEDY_FORWARD = "greedy_forward"
    GREEDY_BACKWARD = "greedy_backward"
    LOCAL_SEARCH = "local_search"
    RANDOM_RESTARTS = "random_restarts"
    BEST = "best"  # every heuristic above, the best result by the objective


CONTINUOUS_MODES: tuple[str, ...] = tuple(mode.value for mode in ContinuousMode)
# The heuristics themselves, in the order they run and report.
HEURISTICS: tuple[str, ...] = tuple(h.value for h in Heuristic if h is not Heuristic.BEST)
# What SolveParameters.heuristic accepts: one heuristic, or "best" of them all.
HEURISTIC_CHOICES: tuple[str, ...] = tuple(h.value for h in Heuristic)


def _as_enum(enum_type: type[enum.StrEnum], value):
    """A known string as its enum member; anything else unchanged, for validation to name."""
    if value is None or isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        return value


@dataclass(frozen=True)
class SolveParameters:
    time_limit_seconds: float | None = None  # None: no limit
    # None or "auto": the registry chooses (solver.backends). Backend names stay strings: the
    # registry, not the core, knows which adapters exist.
    backend: str | None = None
    threads: int | None = None  # None: the backend default
    seed: int | None = None
    tolerance: float | None = None  # None: DEFAULT_TOLERANCE (absolute, on the error)
    row_generation: bool | None = None  # None: on for large point sets
    drop_dominated_points: bool | None = None  # None: on (only applies when bias-free)
    cross_check: str | None = None  # a second backend ("auto": another installed one)
    continuous: ContinuousMode | None = None  # None: grid only (see solve.proto)
    heuristic: Heuristic | None = None  # run this heuristic (or best) instead of an exact solve
    heuristic_start: bool | None = None  # None: for n >= 48; start from the best heuristic mask
    # min_error: the fewest kept among masks at most as bad as the one found (None: on)
    sparsest: bool | None = None

    def __post_init__(self) -> None:
        # Strings are accepted for the enum fields (they are StrEnums: "optimize" and
        # ContinuousMode.OPTIMIZE compare equal); unknown ones stay for validate_parameters.
        object.__setattr__(self, "continuous", _as_enum(ContinuousMode, self.continuous))
        object.__setattr__(self, "heuristic", _as_enum(Heuristic, self.heuristic))

    @property
    def effective_tolerance(self) -> float:
        return DEFAULT_TOLERANCE if not self.tolerance else float(self.tolerance)
