"""One solve's run: the column model, the backend in use, the clock, progress events, and row
generation over a growing active set of points.

Row generation (docs/design.md §6): the backend sees a small active set of points; the chosen
mask is then evaluated exactly on every point of the model, and the worst violated points join
the active set until none is violated. Solving on fewer points is a relaxation, so every round's
bound is rigorous for the whole domain.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from solver import exact
from solver.backends.base import (
    Backend,
    BackendOptions,
    BackendOutcome,
    BackendStatus,
    MinErrorTask,
    MinKeptTask,
    Task,
)
from solver.core.parameters import SolveParameters
from solver.core.problem import Mask, Problem, PruningMode
from solver.core.result import Progress, Solution, SolveResult, SolveStats, SolveStatus
from solver.core.validate import validate_magnitudes
from solver.exact.certify import ExactDomain, MaskCertificate
from solver.exact.evaluate import network_outputs
from solver.formulation.columns import ColumnModel, build_column_model
from solver.formulation.deadline import Deadline
from solver.formulation.hints import initial_rows

ProgressCallback = Callable[[Progress], None]
SolverLog = Callable[[str], None]  # receives the backend's own log, line by line
ROWS_ADDED_PER_ROUND = 32
# Row generation restarts the solver each round; below this many points one full solve was
# faster on the paper family (bench/run.py), so "auto" uses it only above.
ROW_GENERATION_MIN_POINTS = 2048


# Certificates the search phases leave time for: the returned mask's and one more (a phase that
# ends at the search deadline may certify its answer before the engine certifies the best).
CERTIFICATES_RESERVED = 2


# Points on which CertifyCost times the certificate's arithmetic.
CERTIFY_SAMPLE_POINTS = 256


class CertifyCost:
    """The time a mask's certificate (solver.exact.certify) takes on a problem, measured on a
    sample of its points with no unit and with every unit kept: the exact evaluation computes
    only units with a non-zero output weight, so the time grows with the mask's live units.
    Measured only when the solve has a time limit (it matters for nothing else)."""

    def __init__(self, problem: Problem, empty: Mask):
        points = problem.points()
        self.n = problem.network.n
        sample = points[:CERTIFY_SAMPLE_POINTS]
        self.per_point_empty = self.per_point_full = 0.0
        if len(sample):
            exact_points = exact.from_floats(sample.reshape(len(sample), problem.network.d))
            self.per_point_empty = self._time(problem, exact_points, empty)
            self.per_point_full = self._time(problem, exact_points, None)
        self.points = len(points)

    @staticmethod
    def _time(problem: Problem, points: exact.Dyadic, mask: Mask | None) -> float:
        began = time.monotonic()
        network_outputs(problem.network, points, mask)
        return (time.monotonic() - began) / points.shape[0]

    def seconds(self, units: int) -> float:
        """The estimated time to certify a mask with ``units`` live units."""
        share = min(1.0, units / self.n) if self.n else 0.0
        extra = max(0.0, self.per_point_full - self.per_point_empty) * share
        return self.points * (self.per_point_empty + extra)


def stats_scale(scale: int) -> float:
    """A fixed-point scale as SolveStats reports it (a double in the proto). Subnormal data
    needs scales near 2^1100, past float64's range: those are reported as the largest double,
    a figure for display only (the certificate never reads it; docs/design.md §7)."""
    return float(scale) if scale.bit_length() <= 1023 else sys.float_info.max


def rounded_gap(error_upper: float, bound_lower: float) -> float:
    """error - bound, rounded up: the tolerance a result states."""
    return exact.round_up(Fraction(error_upper) - Fraction(bound_lower))


@dataclass
class RowsOutcome:
    """The best choice of a row-generated solve, with what is proven about it."""

    status: BackendStatus
    chosen: list[int] | None
    error_bound: Fraction | None  # min_error: the best rigorous bound over all rounds
    kept_bound: int | None
    converged: bool  # no point outside the active set is violated


class Run:
    """One solve: the model, the backend in use, the clock, and the growing active set."""

    def __init__(
        self,
        problem: Problem,
        params: SolveParameters,
        progress: ProgressCallback | None,
        stop: threading.Event | None,
        *,
        started: float | None = None,
        solver_log: SolverLog | None = None,
        lazy: bool = False,
    ):
        """Builds the model (``lazy``: the lazy column model of the per-weight route, which
        enumerates no patterns; docs/design.md §15); raises DeadlineReached when the time limit
        (counted from ``started``, time.monotonic() when solve() began; default now) or a stop
        ends it first."""
        validate_magnitudes(problem)  # before the column model computes in doubles
        self.problem = problem
        self.params = params
        self.progress = progress
        self.stop = stop
        self.solver_log = solver_log
        self.start = time.monotonic() if started is None else started
        limit = params.time_limit_seconds
        # The solve's deadline, fixed when solve() started (docs/design.md §14).
        self._deadline = Deadline(None if not limit else self.start + float(limit), stop)
        self._reserve = 0.0
        self.search_deadline = self._deadline
        drop = params.drop_dominated_points is not False
        self.model: ColumnModel = build_column_model(
            problem, drop_dominated=drop, deadline=self.deadline, lazy=lazy
        )
        self.deadline.check("building the model")
        # Certifying a mask must fit before the deadline, so every search phase ends early by
        # the time its certificates take (docs/design.md §14): reserve_certificates.
        self.certify_cost = (
            None if self._deadline.at is None else CertifyCost(problem, self.model.mask([]))
        )
        self.reserve_certificates(0)
        self.domain = ExactDomain(problem)
        if params.row_generation is None:
            self.row_generation = self.model.num_points > ROW_GENERATION_MIN_POINTS
        else:
            self.row_generation = params.row_generation
        self.active: np.ndarray | None = None
        self.backend: Backend | None = None
        self.stats = SolveStats()
        self._best_bound: float | None = None
        self._refine = False
        self._pending_rows = np.zeros(0, dtype=np.int64)
        self._stop_choice: list[int] | None = None
        # A cube of a distributed solve (solver/engine/cubes.py, docs/design.md §16): the units
        # its decisions fix live or dead, and the cutoff U (min_error): the backend looks only
        # for choices of exact error at most U (BackendOptions.error_upper_bound).
        self.fixed_units: dict[int, bool] | None = None
        self.cutoff: Fraction | None = None

    def use(self, backend: Backend) -> None:
        """Solve with ``backend`` from now on; the stats start afresh (they describe the backend
        whose answer is returned)."""
        self.backend = backend
        formulation = backend.formulation
        if formulation is None:
            formulation = "columns" if self.problem.pruning == PruningMode.NEURONS else "patterns"
        self.stats = SolveStats(
            backend=backend.name,
            formulation=formulation,
            points_used=len(self.model.point_index),  # points, not (point, output) rows
            points_total=self.model.total_points,
        )

    def reserve_certificates(self, units: int) -> None:
        """End the search phases early enough to certify, before the deadline, masks of about
        ``units`` live units (a start's: the masks a search returns from there are rarely much
        larger): CERTIFICATES_RESERVED of them."""
        self.certify_seconds = (
            0.0 if self.certify_cost is None else self.certify_cost.seconds(units)
        )
        self._reserve = CERTIFICATES_RESERVED * self.certify_seconds
        self.search_deadline = self._deadline.earlier(self._reserve)

    @property
    def deadline(self) -> Deadline:
        """The solve's deadline (the search phases end earlier: search_deadline)."""
        return self._deadline

    # -- clock and events -------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def time_left(self) -> float | None:
        """Seconds the search phases have left: until the deadline less the time reserved for
        certifying what they found (None: no limit)."""
        return self.search_deadline.left()

    def out_of_time(self) -> bool:
        return self.search_deadline.passed()

    def cancelled(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def report(self, **fields) -> None:
        if self.progress is not None:
            self.progress(Progress(elapsed_seconds=self.elapsed(), **fields))

    def _on_incumbent(self, error: float, kept: int) -> None:
        self.report(kept=kept, error=None if math.isnan(error) else error, bound=self._best_bound)

    def _on_bound(self, bound: float) -> None:
        if self._best_bound is None or bound > self._best_bound:
            self._best_bound = bound
            self.report(bound=bound)

    # -- row generation ----------------------------------------------------------------------
    def ensure_active(self, seeds: list[list[int]]) -> None:
        if self.active is not None:
            return
        if self.row_generation:
            self.active = initial_rows(self.model, seeds)
        else:
            self.active = np.arange(self.model.num_points)

    def full_choice(self, max_kept: int | None) -> list[int]:
        if max_kept is not None:
            return []
        # The full network (for the initial active set): each unit's full pattern, which the
        # lazy model holds from the start.
        return self.model.full_choice()

    def solve_rows(
        self, task: Task, hint: list[int] | None, lower: Fraction | None = None
    ) -> RowsOutcome:
        """Solve ``task`` with row generation; returns the best choice found over all rounds.
        ``lower`` (min_error, with a hint): a rigorous lower bound on the least error over the
        active points, for a backend that refines (BackendOptions.error_lower_bound)."""
        model = self.model
        assert self.active is not None and self.backend is not None
        best: list[int] | None = None
        best_value: int | None = None  # min_error: max exact error over all rows (ints)
        bound: Fraction | None = None
        eps_ints = None
        if isinstance(task, MinKeptTask):
            # Compare exact errors with max_error at the model's exponent.
            eps_ints = task.max_error / Fraction(2) ** model.exp
        status = BackendStatus.NO_SOLUTION
        kept_bound = None
        if isinstance(task, MinErrorTask) and hint is not None:
            # The hint meets the task's constraints: a solution even if the solver finds none.
            best, best_value = list(hint), int(model.point_errors(hint).max())
        while True:
            self._refine = False  # set by _should_stop: this round ends to add points
            upper = None
            if isinstance(task, MinErrorTask) and hint is not None:
                upper = exact.to_fraction(int(model.point_errors(hint).max()), model.exp)
            if isinstance(task, MinErrorTask) and self.cutoff is not None:
                upper = self.cutoff if upper is None else min(upper, self.cutoff)
            options = BackendOptions(
                error_upper_bound=upper,
                error_lower_bound=lower if upper is not None else None,
                tolerance=self.params.effective_tolerance,
                time_limit=self.time_left(),
                deadline=self.search_deadline.at,
                threads=self.params.threads or None,
                seed=self.params.seed,
                hint=hint,
                stop=self.stop,
                log=self.solver_log,
                on_incumbent=self._on_incumbent,
                on_bound=self._on_bound,
                should_stop=self._should_stop if isinstance(task, MinErrorTask) else None,
                fixed_units=self.fixed_units,
            )
            outcome: BackendOutcome = self.backend.solve(model, self.active, task, options)
            self.stats.rounds += 1
            self.stats.solver_calls += 1
            self.stats.scale = stats_scale(outcome.scale)
            self.stats.binary_variables = outcome.binary_variables
            # Points with at least one active (point, output) row (docs/design.md §3).
            self.stats.active_points = len(np.unique(self.active // self.model.num_outputs))
            status = outcome.status
            if outcome.error_bound is not None:
                bound = outcome.error_bound if bound is None else max(bound, outcome.error_bound)
                self._best_bound = float(bound)
            if outcome.kept_bound is not None:
                kept_bound = (
                    outcome.kept_bound
                    if kept_bound is None
                    else max(kept_bound, outcome.kept_bound)
                )
            if isinstance(task, MinErrorTask) and self._stop_choice is not None:
                # The incumbent _should_stop certified (a multi-worker backend may return a
                # later solution that is better on the active set only).
                value = int(model.point_errors(self._stop_choice).max())
                if best_value is None or value < best_value:
                    best, best_value = self._stop_choice, value
                self._stop_choice = None
            if outcome.chosen is None:
                return RowsOutcome(status, best, bound, kept_bound, converged=False)
            chosen = outcome.chosen
            errors = model.point_errors(chosen)
            if isinstance(task, MinErrorTask):
                value = int(errors.max()) if len(errors) else 0
                if best_value is None or value < best_value:
                    best, best_value = chosen, value
                threshold = int(errors[self.active].max()) if len(self.active) else 0
                violated = np.flatnonzero(errors > threshold)
            else:
                best = chosen
                violated = np.flatnonzero(np.array([Fraction(int(e)) > eps_ints for e in errors]))
            violated = np.setdiff1d(violated, self.active)
            # Points an incumbent violated when _should_stop ended the round (the backend may
            # have returned a later solution that violates none).
            pending = (
                np.setdiff1d(self._pending_rows, self.active) if self._refine else violated[:0]
            )
            if violated.size == 0 and pending.size == 0:
                return RowsOutcome(status, best, bound, kept_bound, converged=True)
            if (status != BackendStatus.OPTIMAL and not self._refine) or self.out_of_time():
                return RowsOutcome(status, best, bound, kept_bound, converged=False)
            worst = violated[np.argsort(-errors[violated].astype(float), kind="stable")]
            self.active = np.union1d(self.active, np.union1d(worst[:ROWS_ADDED_PER_ROUND], pending))
            self.report(
                bound=self._best_bound, message=f"row generation: {len(self.active)} active points"
            )
            # The next round starts from the best choice on every point (min_error; it also caps
            # the error variable), or from this round's choice (min_kept).
            hint = best if isinstance(task, MinErrorTask) else chosen

    def _should_stop(self, chosen: list[int], bound: Fraction) -> bool:
        """Whether the backend should stop at this incumbent (called from its thread): its exact
        error on every model point is within the tolerance of the backend's rigorous bound (the
        model's points cover the domain: dropped points are dominated), or, with row
        generation, it violates points outside the active set: the round ends there and those
        points join (a round would otherwise only end at the active set's optimum, which on
        hard instances never came within the time limit)."""
        errors = self.model.point_errors(chosen)
        if not len(errors):
            return True
        error = exact.to_fraction(int(errors.max()), self.model.exp)
        if error - bound <= Fraction(self.params.effective_tolerance):
            self._stop_choice = list(chosen)  # kept even if the backend returns a later one
            return True
        if self.row_generation and len(self.active) < len(errors):
            outside = np.setdiff1d(np.arange(len(errors)), self.active)
            violated = outside[errors[outside] > errors[self.active].max()]
            if violated.size:
                order = np.argsort(-errors[violated].astype(float), kind="stable")
                self._pending_rows = violated[order][:ROWS_ADDED_PER_ROUND]
                self._refine = True
                return True
        return False

    # -- the result --------------------------------------------------------------------------
    def result(
        self,
        status: SolveStatus,
        cert: MaskCertificate | None,
        bound: float,
        tolerance: float,
        detail: str,
        frontier=None,
    ) -> SolveResult:
        self.stats.wall_time_seconds = self.elapsed()
        solution = None
        if cert is not None:
            solution = Solution(mask=cert.mask, kept=cert.kept, error=cert.error_upper)
        return SolveResult(
            status=status,
            solution=solution,
            objective_bound=bound,
            tolerance=tolerance,
            frontier=frontier or [],
            stats=self.stats,
            detail=detail,
        )
