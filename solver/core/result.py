"""Typed results: a status enum and exact figures, never raw solver objects."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from solver.core.problem import Mask


class SolveStatus(enum.IntEnum):
    """Mirrors prunecert.v1.SolveStatus."""

    UNSPECIFIED = 0
    OPTIMAL = 1
    FEASIBLE = 2
    INFEASIBLE = 3
    NO_SOLUTION = 4
    CANCELLED = 5


@dataclass(frozen=True)
class Solution:
    mask: Mask
    kept: int
    error: float  # exact error rounded up to a double


@dataclass(frozen=True)
class FrontierPoint:
    kept: int
    error: float
    mask: Mask
    error_bound: float
    certified: bool


@dataclass
class SolveStats:
    wall_time_seconds: float = 0.0
    backend: str = ""
    formulation: str = ""
    points_used: int = 0
    points_total: int = 0
    active_points: int = 0
    rounds: int = 0
    binary_variables: int = 0
    scale: float = 0.0
    solver_calls: int = 0
    queue_wait_seconds: float = 0.0  # a server's: how long the call waited for a solver process


@dataclass(frozen=True)
class CrossCheck:
    """A second backend's answer and whether it agrees with the first."""

    backend: str
    status: SolveStatus
    solution: Solution | None
    objective_bound: float
    agrees: bool
    detail: str


@dataclass(frozen=True)
class ContinuousRoundFigures:
    points: int
    lower_bound: float
    upper_bound: float
    seconds: float


@dataclass(frozen=True)
class ContinuousFigures:
    """Figures over the whole continuous box, apart from the grid figures of Solution."""

    error: float  # the returned mask's exact max error over the box, rounded up
    worst_point: tuple[float, ...]
    lower_bound: float = 0.0  # optimize mode: rigorous lower bound on the continuous optimum
    optimal: bool = False  # optimize mode: error - lower_bound <= tolerance
    rounds: tuple[ContinuousRoundFigures, ...] = ()
    detail: str = ""
    grid_error: float | None = None  # optimize mode: the same mask's error on the grid points


@dataclass
class SolveResult:
    status: SolveStatus
    solution: Solution | None = None
    objective_bound: float = 0.0
    tolerance: float = 0.0
    frontier: list[FrontierPoint] = field(default_factory=list)
    stats: SolveStats = field(default_factory=SolveStats)
    detail: str = ""
    cross_check: CrossCheck | None = None
    continuous: ContinuousFigures | None = None


@dataclass(frozen=True)
class Progress:
    """A solve's progress, for live displays and streaming: the best certified-so-far figures."""

    elapsed_seconds: float
    kept: int | None = None  # of the incumbent
    error: float | None = None  # incumbent error on the points being solved (approximate)
    bound: float | None = None  # lower bound on the error (approximate)
    message: str = ""
