"""Solve parameters: typed values where None means the engine default."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from solver.core.errors import FieldViolation

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


# Cube and conquer (docs/design.md §16). The rules are named here, in the contract, so that a
# request is checked before anything is solved; solver.engine.cube_split implements them (a test
# keeps the two lists equal).
CUBE_RULES: tuple[str, ...] = ("magnitude", "kink", "lp")
DEFAULT_CUBES = 8
DEFAULT_CUBE_RULE = "magnitude"
MIN_CUBES, MAX_CUBES = 2, 1024
# Solver threads per cube: 1 by default (a worker per core, one cube each); 0 lets the backend
# choose (CP-SAT's portfolio: on a two-core worker a lower-bound search beside the full one).
DEFAULT_CUBE_THREADS, MAX_CUBE_THREADS = 1, 64
# The fields of SolveParameters.distributed and the `prunecert solve` flags that set them.
DISTRIBUTED_FLAGS: dict[str, str] = {
    "parameters.distributed": "--distributed",
    "parameters.distributed.cubes": "--cubes",
    "parameters.distributed.cube_rule": "--cube-rule",
    "parameters.distributed.cube_threads": "--cube-threads",
}


@dataclass(frozen=True)
class DistributedParameters:
    """SolveParameters.distributed: split the instance into cubes (solve.proto)."""

    cubes: int = DEFAULT_CUBES  # root cubes, rounded up to a power of two
    cube_rule: str = DEFAULT_CUBE_RULE  # one of CUBE_RULES
    cube_threads: int = DEFAULT_CUBE_THREADS  # 0: the backend's own choice

    def violations(self) -> list[FieldViolation]:
        """What is wrong with these values alone, each naming its field and flag (the checks
        that need the problem, e.g. the objective, are solver.engine.cubes.validate_distributed's)."""
        bad = []
        cubes = self.cubes
        if (
            isinstance(cubes, bool)
            or not isinstance(cubes, int)
            or not (MIN_CUBES <= cubes <= MAX_CUBES)
        ):
            field = "parameters.distributed.cubes"
            message = f"must be an integer between {MIN_CUBES} and {MAX_CUBES}, got {cubes!r}"
            bad.append(FieldViolation(field, message, DISTRIBUTED_FLAGS[field]))
        if self.cube_rule not in CUBE_RULES:
            field = "parameters.distributed.cube_rule"
            message = f"unknown rule {self.cube_rule!r}; known: {', '.join(CUBE_RULES)}"
            bad.append(FieldViolation(field, message, DISTRIBUTED_FLAGS[field]))
        threads = self.cube_threads
        if (
            isinstance(threads, bool)
            or not isinstance(threads, int)
            or not (0 <= threads <= MAX_CUBE_THREADS)
        ):
            field = "parameters.distributed.cube_threads"
            message = (
                f"must be an integer between 0 (the backend's own choice) and "
                f"{MAX_CUBE_THREADS}, got {threads!r}"
            )
            bad.append(FieldViolation(field, message, DISTRIBUTED_FLAGS[field]))
        return bad


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
    # Cube and conquer on a Dask cluster (None: one solve; docs/design.md §16).
    distributed: DistributedParameters | None = None

    def __post_init__(self) -> None:
        # Strings are accepted for the enum fields (they are StrEnums: "optimize" and
        # ContinuousMode.OPTIMIZE compare equal); unknown ones stay for validate_parameters.
        object.__setattr__(self, "continuous", _as_enum(ContinuousMode, self.continuous))
        object.__setattr__(self, "heuristic", _as_enum(Heuristic, self.heuristic))

    def distributed_violations(self) -> list[FieldViolation]:
        """``distributed``'s violations (none when it is unset); see DistributedParameters."""
        return [] if self.distributed is None else self.distributed.violations()

    @property
    def effective_tolerance(self) -> float:
        return DEFAULT_TOLERANCE if not self.tolerance else float(self.tolerance)
