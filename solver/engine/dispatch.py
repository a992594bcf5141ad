"""solve(problem, parameters) -> SolveResult: formulation, row generation, backend calls and
exact certification, for the three objectives.

Row generation (shared/DESIGN.md fact 6): the backend sees a small active set of points; the
chosen mask is then evaluated exactly on every point of the model, and the worst violated
points join the active set until none is violated. Solving on fewer points is a relaxation,
so every round's bound is rigorous for the whole domain.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from solver import exact
from solver.backends import available_backends, get_backend
from solver.backends.base import (
    Backend,
    BackendOptions,
    BackendOutcome,
    BackendStatus,
    MinErrorTask,
    MinKeptTask,
    Task,
)
from solver.backends.separable import separable_points, solve_separable
from solver.core.errors import BackendUnavailableError, FieldViolation, InvalidProblemError
from solver.core.parameters import SolveParameters
from solver.core.problem import Mask, MinError, MinKept, Pareto, Problem, PruningMode
from solver.core.result import (
    CrossCheck,
    FrontierPoint,
    Progress,
    Solution,
    SolveResult,
    SolveStats,
    SolveStatus,
)
from solver.core.validate import DEFAULT_LIMITS, Limits, validate_parameters, validate_problem
from solver.exact import box as continuous
from solver.exact.certify import ExactDomain, MaskCertificate
from solver.formulation.columns import ColumnModel, build_column_model
from solver.formulation.hints import greedy_forward, initial_rows
from solver.search import single_weight
from solver.search.heuristics import best_heuristic, run_heuristic

ProgressCallback = Callable[[Progress], None]
ROWS_ADDED_PER_ROUND = 32
# Row generation restarts the solver each round; below this many points one full solve was
# faster on the paper family (bench/run.py), so "auto" uses it only above.
ROW_GENERATION_MIN_POINTS = 2048
# Solution hints from the heuristic baselines: the quick ones, capped (bench/heuristics.py
# measures whether they help).
HEURISTIC_START_NAMES = ("greedy_forward", "greedy_backward", "local_search")
HEURISTIC_START_SECONDS = 1.0
# Measured (3 seeds, threads=1): neurons n=64 0.82x the time with the hint, n=32 1.10x, weights
# n=16 1.40x (the heuristics' own ~0.08 s), n=32 1.03x: by default only for larger networks.
HEURISTIC_START_MIN_UNITS = 48
# The single-weight search (solver/single_weight.py) stops at a mask within the tolerance; it
# gets at most this long and at most half the time left.
SINGLE_WEIGHT_SECONDS = 30.0


def validate_for_problem(problem: Problem, params: SolveParameters) -> None:
    """The parameter checks that depend on the problem (cheap: run them before queueing)."""
    if params.continuous is not None:
        why = continuous.check_supported(problem, optimize=params.continuous == "optimize")
        if why is not None:
            raise InvalidProblemError([FieldViolation("parameters.continuous", why)])


@dataclass
class _RowsOutcome:
    """The best choice of a row-generated solve, with what is proven about it."""

    status: BackendStatus
    chosen: list[int] | None
    error_bound: Fraction | None  # min_error: the best rigorous bound over all rounds
    kept_bound: int | None
    converged: bool  # no point outside the active set is violated


class _Run:
    """One solve: the model, the backend, the clock, and the growing active set."""

    def __init__(
        self,
        problem: Problem,
        params: SolveParameters,
        backend: Backend,
        progress: ProgressCallback | None,
        stop: threading.Event | None,
    ):
        self.problem = problem
        self.params = params
        self.backend = backend
        self.progress = progress
        self.stop = stop
        self.start = time.monotonic()
        self.deadline = (
            None if not params.time_limit_seconds else self.start + float(params.time_limit_seconds)
        )
        drop = params.drop_dominated_points is not False
        self.model: ColumnModel = build_column_model(problem, drop_dominated=drop)
        self.domain = ExactDomain(problem)
        if params.row_generation is None:
            self.row_generation = self.model.num_points > ROW_GENERATION_MIN_POINTS
        else:
            self.row_generation = params.row_generation
        self.active: np.ndarray | None = None
        self.stats = SolveStats(
            backend=backend.name,
            formulation="columns" if problem.pruning == PruningMode.NEURONS else "patterns",
            points_used=self.model.num_points,
            points_total=self.model.total_points,
        )
        self._best_bound: float | None = None
        self._refine = False
        self._pending_rows = np.zeros(0, dtype=np.int64)
        self._stop_choice: list[int] | None = None

    # -- clock and events -------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def time_left(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def out_of_time(self) -> bool:
        left = self.time_left()
        return (left is not None and left <= 0) or (self.stop is not None and self.stop.is_set())

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

    def solve_rows(self, task: Task, hint: list[int] | None) -> _RowsOutcome:
        """Solve ``task`` with row generation; returns the best choice found over all rounds."""
        model = self.model
        assert self.active is not None
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
            options = BackendOptions(
                error_upper_bound=upper,
                tolerance=self.params.effective_tolerance,
                time_limit=self.time_left(),
                threads=self.params.threads or None,
                seed=self.params.seed,
                hint=hint,
                stop=self.stop,
                on_incumbent=self._on_incumbent,
                on_bound=self._on_bound,
                should_stop=self._should_stop if isinstance(task, MinErrorTask) else None,
            )
            outcome: BackendOutcome = self.backend.solve(model, self.active, task, options)
            self.stats.rounds += 1
            self.stats.solver_calls += 1
            self.stats.scale = float(outcome.scale)
            self.stats.binary_variables = outcome.binary_variables
            self.stats.active_points = len(self.active)
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
                return _RowsOutcome(status, best, bound, kept_bound, converged=False)
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
            pending = np.setdiff1d(self._pending_rows, self.active) if self._refine else violated[:0]
            if violated.size == 0 and pending.size == 0:
                return _RowsOutcome(status, best, bound, kept_bound, converged=True)
            if (status != BackendStatus.OPTIMAL and not self._refine) or self.out_of_time():
                return _RowsOutcome(status, best, bound, kept_bound, converged=False)
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

    def _starts_wanted(self) -> bool:
        """Whether min_error searches for starting masks (parameters.heuristic_start; unset:
        networks of HEURISTIC_START_MIN_UNITS units or more)."""
        wanted = self.params.heuristic_start
        if wanted is None:  # default: only where it paid off in bench/heuristics.py
            wanted = self.problem.network.n >= HEURISTIC_START_MIN_UNITS
        return wanted and not self.out_of_time()

    def start_error(self, chosen: list[int]) -> Fraction:
        """The exact error of a choice on the model's points (for bias-free problems the dropped
        points are dominated up to the rounding that groups rays; results re-certify on every
        point)."""
        errors = self.model.point_errors(chosen)
        return exact.to_fraction(int(max(errors.tolist(), default=0)), self.model.exp)

    def single_weight_choice(self, max_kept: int | None) -> list[int] | None:
        """A start from the single-weight search (solver.search.single_weight) where it applies, within
        SINGLE_WEIGHT_SECONDS and half the time left; it stops at a mask within the tolerance."""
        if not self._starts_wanted() or not single_weight.applies(self.problem):
            return None
        limit = SINGLE_WEIGHT_SECONDS
        left = self.time_left()
        if left is not None:
            limit = min(limit, 0.5 * left)
        self.report(message="single-weight search")
        found = single_weight.search(
            self.problem,
            lambda mask: self.start_error(self.model.choice(mask)),
            good_enough=Fraction(self.params.effective_tolerance),
            max_kept=max_kept,
            time_limit=limit,
            stop=self.stop,
            threads=self.params.threads or None,
            seed=self.params.seed,
        )
        return None if found is None else self.model.choice(found[0])

    def heuristic_choice(self, max_kept: int | None) -> list[int] | None:
        """The best of the quick heuristic baselines (solver.search.heuristics) as a solution hint,
        within HEURISTIC_START_SECONDS (and a tenth of the time limit); None when not wanted."""
        if not self._starts_wanted():
            return None
        limit = HEURISTIC_START_SECONDS
        left = self.time_left()
        if left is not None:
            limit = min(limit, 0.1 * left)
        budget = dataclasses.replace(self.problem, objective=MinError(max_kept=max_kept))
        found = best_heuristic(
            budget,
            names=HEURISTIC_START_NAMES,
            time_limit=limit,
            stop=self.stop,
            seed=self.params.seed or 0,
        )
        return self.model.choice(found.certificate.mask)

    # -- objectives -----------------------------------------------------------------------------
    def min_error(
        self, max_kept: int | None, hint: list[int] | None = None
    ) -> tuple[SolveStatus, MaskCertificate | None, list[int] | None, Fraction, str]:
        """Certified min-error solve: (status, certificate, choice, bound, detail)."""
        tol = Fraction(self.params.effective_tolerance)
        starts = [greedy_forward(self.model, max_kept=max_kept)]
        if hint is None:
            for search in (self.single_weight_choice, self.heuristic_choice):
                if min(self.start_error(c) for c in starts) <= tol:
                    break
                found = search(max_kept)
                if found is not None:
                    starts.append(found)
        start_hint = hint
        if start_hint is None:  # the best start on the model's points, exactly
            start_hint = min(starts, key=self.start_error)
        if self.start_error(start_hint) <= tol and self.params.cross_check is None:
            # Every error is >= 0: a mask within the tolerance of 0 is optimal, no search needed
            # (not when a cross-check asks for two backends' own answers).
            cert = self.domain.certify(self.model.mask(start_hint))
            if cert.error <= tol:
                detail = "a starting mask's exact error is within the tolerance of 0, a lower bound"
                return SolveStatus.OPTIMAL, cert, start_hint, Fraction(0), detail
        self.ensure_active([*starts, self.full_choice(max_kept)])
        rows = self.solve_rows(MinErrorTask(max_kept=max_kept), start_hint)
        bound = rows.error_bound if rows.error_bound is not None else Fraction(0)
        if rows.chosen is None:
            status = SolveStatus.CANCELLED if self._cancelled() else SolveStatus.NO_SOLUTION
            if rows.status == BackendStatus.INFEASIBLE:
                status = SolveStatus.INFEASIBLE
            return status, None, None, bound, "no solution found within the time limit"
        cert = self.domain.certify(self.model.mask(rows.chosen))
        if bound > cert.error:
            # A certified mask refutes the backend's proof: trust no bound from it.
            detail = (
                f"backend {self.backend.name} claimed a lower bound {float(bound):.12g} above the "
                f"certified error {float(cert.error):.12g} of a mask; its proof is refuted"
            )
            return SolveStatus.FEASIBLE, cert, rows.chosen, Fraction(0), detail
        gap = cert.error - bound
        if self._cancelled():
            return SolveStatus.CANCELLED, cert, rows.chosen, bound, "cancelled"
        if gap <= tol:
            # The certificate alone decides: the optimum lies in [bound, error], whether or not
            # the backend finished its own proof (it stops once an incumbent is good enough).
            return SolveStatus.OPTIMAL, cert, rows.chosen, bound, ""
        if rows.status == BackendStatus.OPTIMAL and rows.converged:
            resolution = f" (fixed-point scale {self.stats.scale:.3g})" if self.stats.scale else ""
            detail = (
                f"the certificate's gap {float(gap):.3g} exceeds the tolerance {float(tol):.3g}"
                f"{resolution}; raise parameters.tolerance"
            )
        else:
            detail = "time limit reached before optimality was proven"
        return SolveStatus.FEASIBLE, cert, rows.chosen, bound, detail

    def full_choice(self, max_kept: int | None) -> list[int]:
        if max_kept is not None:
            return []
        # The full network's best representative per unit (for the initial active set).
        return [group[-1] for group in self.model.groups]

    def _cancelled(self) -> bool:
        return self.stop is not None and self.stop.is_set()

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


def _tolerance(error_upper: float, bound_lower: float) -> float:
    return exact.round_up(Fraction(error_upper) - Fraction(bound_lower))


def solve(
    problem: Problem,
    parameters: SolveParameters | None = None,
    *,
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> SolveResult:
    """Solve ``problem`` exactly; see SolveResult for what each status certifies."""
    validate_problem(problem, limits)
    params = parameters or SolveParameters()
    validate_parameters(params)
    validate_for_problem(problem, params)
    if params.heuristic is not None:
        result = _solve_heuristic(problem, params, stop)
    elif params.continuous == "optimize":
        inner = dataclasses.replace(params, continuous=None)
        grid_solve = functools.partial(solve, progress=progress, limits=limits)
        try:
            return continuous.optimize_result(problem, inner, stop, grid_solve)
        except ValueError as exc:  # too many candidate points (checked up front; a backstop)
            raise InvalidProblemError([FieldViolation("parameters.continuous", str(exc))]) from exc
    else:
        result = _solve_grid(problem, params, progress, stop, limits)
    if params.continuous == "evaluate" and result.solution is not None:
        try:
            result.continuous = continuous.evaluate_figures(problem, result.solution.mask)
        except ValueError as exc:  # too many candidate points (d >= 3)
            raise InvalidProblemError([FieldViolation("parameters.continuous", str(exc))]) from exc
    return result


def _solve_grid(
    problem: Problem,
    params: SolveParameters,
    progress: ProgressCallback | None,
    stop: threading.Event | None,
    limits: Limits,
) -> SolveResult:
    backend = get_backend(params.backend)
    second = _cross_check_backend(params, backend.name)
    run = _Run(problem, params, backend, progress, stop)
    objective = problem.objective
    if isinstance(objective, MinError):
        result = _solve_min_error(run, objective)
    elif isinstance(objective, MinKept):
        result = _solve_min_kept(run, objective)
    else:
        assert isinstance(objective, Pareto)
        result = _solve_pareto(run, objective)
    if second is not None and not isinstance(objective, Pareto):
        _cross_check(problem, params, result, second, run, stop, limits)
    return result


def _solve_heuristic(
    problem: Problem, params: SolveParameters, stop: threading.Event | None
) -> SolveResult:
    """A heuristic's mask with its exact figures: never OPTIMAL, no bound (objective_bound 0)."""
    started = time.monotonic()
    options = dict(seed=params.seed or 0, time_limit=params.time_limit_seconds, stop=stop)
    if params.heuristic == "best":
        found = best_heuristic(problem, **options)
    else:
        found = run_heuristic(problem, params.heuristic, **options)
    cert = found.certificate
    stats = SolveStats(
        wall_time_seconds=time.monotonic() - started,
        backend=f"heuristic:{found.name}" if found.name else "heuristic:best",
        formulation="heuristic",
        points_used=len(problem.points()),
        points_total=len(problem.points()),
    )
    frontier = [
        FrontierPoint(kept=c.kept, error=c.error_upper, mask=c.mask, error_bound=0.0, certified=False)
        for c in found.frontier
    ]
    cancelled = stop is not None and stop.is_set()
    if not found.feasible:
        return SolveResult(
            status=SolveStatus.CANCELLED if cancelled else SolveStatus.NO_SOLUTION,
            stats=stats,
            detail=f"heuristic {found.name} found no mask within max_error (best error "
            f"{cert.error_upper:.6g} with {cert.kept} kept); this proves nothing",
        )
    # No bound: objective_bound 0, so the stated gap is the whole figure (error or kept).
    gap = float(cert.kept) if isinstance(problem.objective, MinKept) else cert.error_upper
    return SolveResult(
        status=SolveStatus.CANCELLED if cancelled else SolveStatus.FEASIBLE,
        solution=Solution(mask=cert.mask, kept=cert.kept, error=cert.error_upper),
        objective_bound=0.0,
        tolerance=gap,
        frontier=frontier,
        stats=stats,
        detail=f"heuristic {found.name or 'best'}: exact error of its mask, not certified optimal",
    )


def _cross_check_backend(params: SolveParameters, first: str) -> str | None:
    if not params.cross_check:
        return None
    if params.cross_check != "auto":
        get_backend(params.cross_check)  # unknown or missing: BackendUnavailableError now
        return params.cross_check
    others = [name for name in available_backends() if name != first]
    if not others:
        raise BackendUnavailableError("cross_check=auto needs a second installed backend")
    return others[0]


def _cross_check(
    problem: Problem,
    params: SolveParameters,
    result: SolveResult,
    backend: str,
    run: _Run,
    stop: threading.Event | None,
    limits: Limits,
) -> None:
    """Solve again with ``backend`` and record whether the two certified answers agree."""
    left = run.time_left()
    if left is not None and left <= 0:
        left = 1.0  # the check still gets a short chance; its status says if it ran out
    other = solve(
        problem,
        dataclasses.replace(
            params, backend=backend, cross_check=None, time_limit_seconds=left, continuous=None
        ),
        stop=stop,
        limits=limits,
    )
    tol = params.effective_tolerance
    mine, theirs = result.solution, other.solution
    if isinstance(problem.objective, MinKept):
        agrees = result.status == other.status and (
            result.status == SolveStatus.INFEASIBLE
            or (
                result.status == SolveStatus.OPTIMAL
                and mine is not None
                and theirs is not None
                and mine.kept == theirs.kept
            )
        )
        compared = f"kept {mine.kept if mine else '-'} vs {theirs.kept if theirs else '-'}"
    else:
        agrees = (
            result.status == other.status == SolveStatus.OPTIMAL
            and mine is not None
            and theirs is not None
            and abs(mine.error - theirs.error) <= tol
            and result.objective_bound <= theirs.error
            and other.objective_bound <= mine.error
        )
        compared = (
            f"error {mine.error if mine else '-'} (bound {result.objective_bound}) vs "
            f"{theirs.error if theirs else '-'} (bound {other.objective_bound})"
        )
        if agrees:
            # Both bounds are rigorous: keep the better one.
            result.objective_bound = max(result.objective_bound, other.objective_bound)
            result.tolerance = _tolerance(mine.error, result.objective_bound)
    detail = (
        f"{result.stats.backend} {result.status.name} vs {backend} {other.status.name}: {compared}"
    )
    result.cross_check = CrossCheck(
        backend=backend,
        status=other.status,
        solution=theirs,
        objective_bound=other.objective_bound,
        agrees=agrees,
        detail=detail,
    )
    if not agrees and result.status == SolveStatus.OPTIMAL:
        result.status = SolveStatus.FEASIBLE
        result.detail = f"cross-check disagrees: {detail}"


def _solve_separable(run: _Run) -> SolveResult | None:
    """Meet in the middle when the structure allows (solver.backends.separable); None otherwise."""
    by_point = separable_points(run.model)
    if by_point is None:
        return None
    chosen, bound = solve_separable(run.model, by_point)
    cert = run.domain.certify(run.model.mask(chosen))
    if bound > cert.error:
        return None  # impossible with a correct float error bound; let the MIP decide
    run.stats.backend, run.stats.formulation = "meet-in-the-middle", "separable"
    run.stats.rounds = run.stats.solver_calls = 1
    bound_f = exact.round_down(bound)
    tolerance = _tolerance(cert.error_upper, bound_f)
    if tolerance > run.params.effective_tolerance:
        return None  # not certifiable this way: let the MIP decide
    return run.result(SolveStatus.OPTIMAL, cert, bound_f, tolerance, "")


def _solve_min_error(run: _Run, objective: MinError) -> SolveResult:
    if objective.max_kept is None and run.params.backend in (None, "", "auto"):
        result = _solve_separable(run)
        if result is not None:
            return result
    status, cert, _, bound, detail = run.min_error(objective.max_kept)
    bound_f = exact.round_down(bound)
    if cert is None:
        return run.result(status, None, bound_f, 0.0, detail)
    return run.result(status, cert, bound_f, _tolerance(cert.error_upper, bound_f), detail)


def _solve_min_kept(run: _Run, objective: MinKept) -> SolveResult:
    """Relaxation first (rigorous count bound); if its mask misses max_error by the rounding,
    a restriction (every mask truly within max_error) with the relaxation's mask as hint."""
    eps = Fraction(objective.max_error)
    model = run.model
    greedy = greedy_forward(model, max_error=float(objective.max_error))
    run.ensure_active([greedy, run.full_choice(None)])
    relaxed = run.solve_rows(MinKeptTask(max_error=eps, restrict=False), greedy)
    kept_bound = relaxed.kept_bound or 0
    if relaxed.status == BackendStatus.INFEASIBLE:
        return run.result(
            SolveStatus.INFEASIBLE,
            None,
            0.0,
            0.0,
            f"no mask reaches max_error {objective.max_error:g}, not even the full network",
        )
    cert = None
    if relaxed.chosen is not None:
        cert = run.domain.certify(model.mask(relaxed.chosen))
        if cert.error > eps:
            cert = None
    exact_count = relaxed.status == BackendStatus.OPTIMAL and relaxed.converged
    if cert is None and not run.out_of_time():
        hint = relaxed.chosen if relaxed.chosen is not None else greedy
        restricted = run.solve_rows(MinKeptTask(max_error=eps, restrict=True), hint)
        if restricted.chosen is not None:
            candidate = run.domain.certify(model.mask(restricted.chosen))
            if candidate.error <= eps:
                cert = candidate
        exact_count = exact_count and restricted.status == BackendStatus.OPTIMAL
    if cert is None:
        full = run.domain.certify(Mask.full(run.problem))
        if full.error <= eps:
            cert, exact_count = full, False
    if run._cancelled():
        return run.result(SolveStatus.CANCELLED, cert, float(kept_bound), 0.0, "cancelled")
    if cert is None:
        detail = (
            "time limit reached before a mask within max_error was found"
            if run.out_of_time()
            else "max_error lies within the fixed-point rounding of the least achievable error; "
            "no mask was certified to reach it"
        )
        return run.result(SolveStatus.NO_SOLUTION, None, float(kept_bound), 0.0, detail)
    if exact_count and cert.kept == kept_bound:
        return run.result(SolveStatus.OPTIMAL, cert, float(kept_bound), 0.0, "")
    detail = f"kept {cert.kept}, proven lower bound {kept_bound}" + (
        "" if run.out_of_time() else " (the rounding gap of the fixed-point model)"
    )
    return run.result(
        SolveStatus.FEASIBLE, cert, float(kept_bound), float(cert.kept - kept_bound), detail
    )


def _add_frontier(frontier: list[FrontierPoint], point: FrontierPoint) -> None:
    """Insert keeping only efficient points: kept ascending, error strictly decreasing."""
    if any(p.kept <= point.kept and p.error <= point.error for p in frontier):
        return
    frontier[:] = [p for p in frontier if not (p.kept >= point.kept and p.error >= point.error)]
    frontier.append(point)
    frontier.sort(key=lambda p: p.kept)


def _solve_pareto(run: _Run, objective: Pareto) -> SolveResult:
    """Sweep the budget k = 0, 1, ... with certified min-error solves until the unconstrained
    optimum is reached; keep the efficient points."""
    max_budget = run.problem.max_kept_possible()
    if objective.max_kept is not None:
        max_budget = min(max_budget, objective.max_kept)
    status, best_cert, best_choice, best_bound, detail = run.min_error(max_budget)
    if best_cert is None:
        return run.result(status, None, exact.round_down(best_bound), 0.0, detail)
    frontier: list[FrontierPoint] = []
    all_optimal = status == SolveStatus.OPTIMAL
    worst_tolerance = 0.0
    last_status, last_detail = status, detail
    hint: list[int] | None = []
    solved = [best_cert]
    for budget in range(0, best_cert.kept + 1):
        if run.out_of_time():
            all_optimal = False
            last_detail = "time limit reached during the frontier sweep"
            break
        if budget == best_cert.kept:
            cert, bound, point_status = best_cert, best_bound, status
        else:
            point_status, cert, choice, bound, point_detail = run.min_error(budget, hint)
            if cert is None:
                all_optimal = False
                last_status, last_detail = point_status, point_detail
                continue
            hint = choice
            if point_status != SolveStatus.OPTIMAL:
                all_optimal = False
                last_status, last_detail = point_status, point_detail
        solved.append(cert)
        bound_f = exact.round_down(bound)
        tolerance = _tolerance(cert.error_upper, bound_f)
        certified = point_status == SolveStatus.OPTIMAL
        worst_tolerance = max(worst_tolerance, tolerance)
        _add_frontier(
            frontier,
            FrontierPoint(
                kept=cert.kept,
                error=cert.error_upper,
                mask=cert.mask,
                error_bound=bound_f,
                certified=certified,
            ),
        )
        if cert.error <= best_cert.error:
            break
    if run._cancelled():
        final_status = SolveStatus.CANCELLED
    elif all_optimal:
        final_status = SolveStatus.OPTIMAL
    else:
        final_status = SolveStatus.FEASIBLE if last_status != SolveStatus.CANCELLED else last_status
    last = frontier[-1]
    best = min(solved, key=lambda c: (c.error, c.kept))
    return run.result(
        final_status,
        best,
        last.error_bound,
        worst_tolerance,
        "" if final_status == SolveStatus.OPTIMAL else last_detail,
        frontier,
    )


def certify_and_compare(
    problem: Problem,
    mask: Mask,
    parameters: SolveParameters | None = None,
    *,
    compare_with_optimum: bool = True,
    stop: threading.Event | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[MaskCertificate, SolveResult | None]:
    """A mask's exact certificate and, optionally, the certified min_error optimum with the
    mask's kept count as budget (the comparison users certifying heuristics ask for)."""
    cert = ExactDomain(problem).certify(mask)
    if not compare_with_optimum:
        return cert, None
    params = parameters or SolveParameters()
    refused = [
        FieldViolation(f"parameters.{name}", "not with a certify comparison (grid optimum only)")
        for name, value in (("heuristic", params.heuristic), ("continuous", params.continuous))
        if value is not None
    ]
    if refused:
        raise InvalidProblemError(refused)
    budget = dataclasses.replace(problem, objective=MinError(max_kept=cert.kept))
    return cert, solve(budget, parameters, stop=stop, limits=limits)
