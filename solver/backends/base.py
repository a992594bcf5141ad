"""The one interface every solver backend implements.

A backend solves one exact column model (solver.formulation.columns) restricted to some of its
points, for one task, and returns which candidates it chose with a rigorous bound. Backends never
see protos or masks; the engine does the certification, row generation and frontier sweeps.

Each backend says which models and tasks it accepts (``accepts``); the registry
(solver.backends) asks them in preference order when the backend is "auto". The general (MIP)
backends accept every model and task; a special-purpose one (meet in the middle, docs/design.md
§9) accepts a narrow structure and answers it in one call.
"""

from __future__ import annotations

import abc
import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar

import numpy as np

from solver.core.errors import InvalidProblemError
from solver.core.problem import MinKept, Pareto, Problem
from solver.core.validate import parameter_violation
from solver.formulation.columns import ColumnModel

# Every linear expression handed to a solver keeps the sum of its |coefficients| (its activity
# bound) at or below this. CP-SAT 9.15 certified wrong optima when Boolean coefficient sums of
# one constraint wrapped a 32-bit int (google/or-tools#5293; docs/design.md §7).
ACTIVITY_BUDGET = 1 << 30


class BackendStatus(enum.Enum):
    OPTIMAL = "optimal"  # proved optimal for the (scaled) model
    FEASIBLE = "feasible"  # stopped with a solution
    INFEASIBLE = "infeasible"  # proved: no choice satisfies the constraints
    NO_SOLUTION = "no_solution"  # stopped without a solution


@dataclass(frozen=True)
class MinErrorTask:
    """Minimise the error, optionally with kept <= max_kept."""

    max_kept: int | None = None


@dataclass(frozen=True)
class MinKeptTask:
    """Minimise kept subject to error <= max_error.

    restrict False solves a relaxation (its bound is rigorous, its choice may exceed max_error
    by the rounding); True solves a restriction (every choice truly meets max_error).

    max_kept (None: no cap) adds the row sum_c cost_c x_c <= max_kept: only choices keeping at
    most that many are considered. A min_kept cube passes K - 1, K the best certified count
    (docs/design.md §16): the masks the cap removes keep >= K, so the relaxation's bound b
    says "every mask within max_error keeps >= min(b, max_kept + 1)" and its INFEASIBLE says
    "every such mask keeps >= max_kept + 1" (solver/engine/cube_task.py).
    """

    max_error: Fraction
    restrict: bool = False
    max_kept: int | None = None


Task = MinErrorTask | MinKeptTask


def task_for(problem: Problem) -> Task:
    """The first task the engine poses a backend for ``problem``'s objective (min_kept: the
    relaxation; pareto: the whole budget, the sweep's first solve); backends are chosen by it."""
    objective = problem.objective
    if isinstance(objective, MinKept):
        return MinKeptTask(max_error=Fraction(objective.max_error))
    if isinstance(objective, Pareto):
        budget = problem.max_kept_possible()
        if objective.max_kept is not None:
            budget = min(budget, objective.max_kept)
        return MinErrorTask(max_kept=budget)
    return MinErrorTask(max_kept=objective.max_kept)


@dataclass
class BackendOptions:
    time_limit: float | None = None  # seconds from when the options were made
    # The absolute deadline (time.monotonic()) the time limit stands for. Building a model
    # takes time too: a backend checks it while building and gives its solver what is left
    # (seconds_left), so that the solve as a whole keeps its limit (docs/design.md §14).
    deadline: float | None = None
    threads: int | None = None
    seed: int | None = None
    hint: list[int] | None = None  # candidate indices of a good starting choice
    # MinErrorTask: the exact error of some choice meeting the task's constraints (e.g. the
    # hint's). The optimum cannot exceed it, which lets a backend fix disjunctions up front.
    error_upper_bound: Fraction | None = None
    # MinErrorTask: a rigorous lower bound on the least error over the given points, from an
    # earlier solve that could not resolve the tolerance. A backend that ``refines`` then solves
    # a finer model within [error_lower_bound, error_upper_bound] (CP-SAT: docs/design.md §7).
    error_lower_bound: Fraction | None = None
    # The absolute tolerance the certificate must reach; a backend whose number
    # representation cannot resolve it raises UnrepresentableError instead of solving.
    tolerance: float | None = None
    stop: threading.Event | None = None  # set it to stop the search early
    # Called from the solver thread with (approximate error, kept) of each new incumbent.
    on_incumbent: Callable[[float, int], None] | None = None
    # Called from the solver thread with each improved (approximate) lower bound on the error.
    on_bound: Callable[[float], None] | None = None
    # MinErrorTask: called with each incumbent choice and the backend's rigorous lower bound at
    # that moment; True asks the backend to stop searching and return that incumbent: it is
    # already certifiable within the tolerance (proving the last units of the gap can take far
    # longer), or it violates points outside the active set, which the engine adds first.
    should_stop: Callable[[list[int], Fraction], bool] | None = None
    # Receives the solver's own search log, line by line (without the newline), from whichever
    # thread the solver logs on; None: the solver logs nothing (prunecert solve --log-solver).
    log: Callable[[str], None] | None = None
    # Decisions a cube fixes (solver/engine/cubes.py): unit -> True (live: one of its candidates
    # is chosen; in weights mode any non-empty pattern) or False (dead: none is). The backend's
    # choice and bound are then about the masks meeting them only. Only a backend whose
    # ``fixes_units`` is True accepts it (check_fixed_units).
    fixed_units: dict[int, bool] | None = None

    def seconds_left(self) -> float | None:
        """The time left for the solver now: until the deadline, else the time limit."""
        if self.deadline is not None:
            return max(0.0, self.deadline - time.monotonic())
        return None if self.time_limit is None else max(0.0, float(self.time_limit))

    def expired(self) -> bool:
        """Whether the deadline has passed or the stop event is set (checked while building)."""
        if self.stop is not None and self.stop.is_set():
            return True
        return self.deadline is not None and time.monotonic() >= self.deadline


def line_relay(log: Callable[[str], None]) -> Callable[[str], None]:
    """A callback for solver messages that may hold several lines or end in a newline: ``log``
    gets one call per line."""

    def relay(message: str) -> None:
        for line in message.rstrip("\n").split("\n"):
            log(line)

    return relay


@dataclass
class BackendOutcome:
    status: BackendStatus
    chosen: list[int] | None = None
    # MinErrorTask: a rigorous lower bound on the least error over the given points.
    error_bound: Fraction | None = None
    # MinKeptTask: a rigorous lower bound on the least kept count (relaxation only).
    kept_bound: int | None = None
    scale: int = 0
    binary_variables: int = 0


class Backend(abc.ABC):
    """A solver adapter. Subclasses import their solver library inside methods only."""

    name: ClassVar[str]
    supports_early_stop: ClassVar[bool] = True  # options.stop can end a solve in progress
    # A special-purpose backend accepts only what its ``accepts`` admits (min_error tasks) and
    # answers on every point in one call: the engine gives it no row generation, hint or starting
    # masks, and when its answer does not certify within the tolerance "auto" asks the next
    # accepting backend. It is never an automatic cross-check (that needs any problem solved).
    special_purpose: ClassVar[bool] = False
    # What SolveStats.formulation reports for its answers; None: the engine's column model
    # ("columns" in neurons mode, "patterns" in weights mode).
    formulation: ClassVar[str | None] = None
    # Whether solve() honours options.error_lower_bound with a finer model (see BackendOptions).
    refines: ClassVar[bool] = False
    # Whether solve() honours options.fixed_units (the others refuse it: check_fixed_units).
    fixes_units: ClassVar[bool] = False
    # MinErrorTask: whether an INFEASIBLE answer with options.error_upper_bound = U proves that
    # every choice (meeting the fixed units) has an exact error above U. CP-SAT's outward
    # rounding does (docs/design.md §7); a float solver's infeasibility claim is not a proof.
    proves_cutoff: ClassVar[bool] = False

    @classmethod
    @abc.abstractmethod
    def available(cls) -> bool:
        """Whether the solver library is installed."""

    @classmethod
    @abc.abstractmethod
    def version(cls) -> str:
        """The solver library's version."""

    # Whether solve() reads the column model's candidates as the set of choices (see
    # solves_columns); None: a backend does exactly when ``formulation`` is None.
    over_candidates: ClassVar[bool | None] = None

    @classmethod
    def solves_columns(cls) -> bool:
        """Whether this backend solves over the column model's candidates (every MIP backend on
        the engine's model, and meet in the middle, which says so with ``over_candidates``), so
        that it needs every candidate enumerated. A backend with a formulation of its own (the
        per-weight model, docs/design.md §15) builds it from the problem and maps its answers
        back through ColumnModel.choice, which the lazy model serves without enumerating."""
        if cls.over_candidates is not None:
            return cls.over_candidates
        return cls.formulation is None

    @classmethod
    def accepts(cls, model: ColumnModel, task: Task) -> bool:
        """Whether this backend can solve ``task`` on ``model``. The general backends: every
        complete model. The one check on a lazy model (ColumnModel.complete False): a backend
        that solves over the candidates would see only those enumerated so far, so its optimum
        and bound would be about a subset of the masks; an override calls this first."""
        return model.complete or not cls.solves_columns()

    @abc.abstractmethod
    def solve(
        self, model: ColumnModel, rows: np.ndarray, task: Task, options: BackendOptions
    ) -> BackendOutcome:
        """Solve ``task`` on the model's points ``rows``."""

    def check_fixed_units(self, options: BackendOptions) -> None:
        """Refuse options.fixed_units unless this backend honours them (a cube's bound must be
        about the cube's masks: a backend that ignored them would state a bound about others)."""
        if options.fixed_units and not self.fixes_units:
            raise InvalidProblemError(
                parameter_violation(
                    "parameters.backend",
                    f"backend {self.name!r} cannot fix units live or dead (a cube of a "
                    "distributed solve); use cpsat, scip, highs or cbc",
                )
            )


def fixed_unit_groups(
    model: ColumnModel, fixed: dict[int, bool] | None
) -> tuple[list[int], list[list[int]]]:
    """The candidates fixed to 0 (those of units fixed dead) and, per unit fixed live, its
    candidates (exactly one of them is chosen): what every backend that fixes units adds.
    Live means a candidate with a non-zero column (weights mode: a pattern that changes the
    output); a kept pattern that contributes nothing is the dead unit's choice, so the two
    decisions still split the model's choices in two."""
    dead: list[int] = []
    live: list[list[int]] = []
    by_unit = {model.candidates[group[0]].unit: group for group in model.groups if group}
    for unit, alive in sorted((fixed or {}).items()):
        # A unit without candidates contributes nothing on these points: the model cannot
        # tell it live from dead, so only units with candidates are split on (cubes.py).
        if unit not in by_unit:
            raise ValueError(f"fixed unit {unit} has no candidate in the model")
        group = list(by_unit[unit])
        if alive:
            live.append(group)
        else:
            dead.extend(group)
    return dead, live
