"""parameters.continuous = optimize: the certified min-error optimum over the whole box, by
cutting planes over points of the box (docs/design.md §11).

Each round solves the grid problem exactly on a finite point set of the box (the engine's own
solve, passed in: this module sits beside it and the exact box theory, solver.exact.box, never
imports the engine); its certified bound is a lower bound on the box optimum and the chosen
mask's exact box error an upper bound; the mask's worst point joins the set.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from solver import exact
from solver.core.errors import FieldViolation, InvalidProblemError, UnrepresentableError
from solver.core.parameters import SolveParameters
from solver.core.problem import BoxGrid, Mask, MinError, PointSet, Problem
from solver.core.result import (
    ContinuousFigures,
    ContinuousRoundFigures,
    Solution,
    SolveResult,
    SolveStats,
    SolveStatus,
)
from solver.exact.box import (
    CONTINUOUS_FIELD,
    DEFAULT_MAX_VERTICES,
    ContinuousError,
    breakpoint_points,
    check_problem,
    continuous_max_error,
    round_into_box,
)
from solver.exact.certify import MaskCertificate, certify_mask

SolvePoints = Callable[..., SolveResult]  # (problem, parameters, *, stop) -> SolveResult


@dataclass(frozen=True)
class ContinuousRound:
    """One cutting-plane round of solve_continuous (bounds are the best so far)."""

    points: int  # points the engine solved on
    lower: float  # rigorous lower bound on the continuous optimum
    upper: float  # exact continuous error of the best mask so far, rounded up
    seconds: float
    engine_status: SolveStatus


@dataclass
class ContinuousSolve:
    """The continuous optimum bracketed: lower_bound <= optimum <= continuous.error."""

    status: str  # "optimal" (upper - lower <= tolerance) or "not_converged"
    certificate: MaskCertificate | None  # the best mask on the problem's own grid, to compare
    continuous: ContinuousError | None  # the best mask's exact continuous error
    lower_bound: float
    rounds: list[ContinuousRound]
    tolerance: float  # the tolerance the status refers to
    points: np.ndarray  # the final point set (float64, every row in the box)
    detail: str = ""

    @property
    def mask(self) -> Mask | None:
        return None if self.certificate is None else self.certificate.mask

    @property
    def upper_bound(self) -> float:
        return math.inf if self.continuous is None else self.continuous.error_upper

    @property
    def gap(self) -> float:
        """upper - lower, rounded up (infinite without a mask)."""
        if self.continuous is None:
            return math.inf
        return exact.round_up(self.continuous.error - Fraction(self.lower_bound))


def _boundary_grid_points(problem: Problem) -> np.ndarray:
    box = problem.domain
    assert isinstance(box, BoxGrid)
    pts = problem.points()
    on_face = np.any((pts == box.low) | (pts == box.high), axis=1)
    return pts[on_face]


def _engine_bound(result: SolveResult) -> Fraction | None:
    """The engine's lower bound on the error over the points, when it certifies one."""
    if result.status not in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
        return None
    if result.cross_check is not None and not result.cross_check.agrees:
        return None  # two backends disagree: trust neither proof
    return Fraction(result.objective_bound)


def solve_continuous(
    problem: Problem,
    parameters: SolveParameters | None = None,
    *,
    max_rounds: int = 20,
    stop: threading.Event | None = None,
    include_grid: bool = False,
    max_vertices: int = DEFAULT_MAX_VERTICES,
    solve_points: SolvePoints,
) -> ContinuousSolve:
    """Bracket the continuous min-error optimum by cutting planes over points of the box.

    ``solve_points(problem, parameters, stop=...)`` solves on the points: the engine's solve.
    Start points: breakpoint_points (d <= 2) or the grid's points on the box boundary (d >= 3);
    include_grid adds every grid point, which makes the lower bound at least the grid optimum
    (up to the engine's tolerance). Each round solves the min_error problem exactly on the points
    (solve_points), takes the engine's certified bound as a lower bound (every point is
    in the box), the chosen mask's exact continuous error as an upper bound, and adds that mask's
    worst point (rounded to doubles, clipped into the box). Stops when upper - lower <=
    parameters.effective_tolerance ("optimal"), after max_rounds, when the worst point is already
    present, on ``stop`` or at the time limit ("not_converged"). The engine is asked for half the
    tolerance so that its own gap leaves room for the rounding of the added points.
    """
    box = check_problem(problem)
    if not isinstance(problem.objective, MinError):
        raise InvalidProblemError(
            FieldViolation(CONTINUOUS_FIELD, "optimize supports the min_error objective only")
        )
    if max_rounds < 1:
        raise ValueError("max_rounds: must be at least 1")
    params = parameters or SolveParameters()
    tol = params.effective_tolerance
    start = time.monotonic()
    deadline = None if not params.time_limit_seconds else start + params.time_limit_seconds
    d = problem.network.d
    pts = breakpoint_points(problem) if d <= 2 else _boundary_grid_points(problem)
    if include_grid:
        pts = np.vstack([pts, problem.points()])
    pts = np.unique(np.asarray(pts, dtype=float).reshape(-1, d), axis=0)
    known = {tuple(row) for row in pts.tolist()}

    best: ContinuousError | None = None
    best_mask: Mask | None = None
    lower = Fraction(0)
    rounds: list[ContinuousRound] = []
    status, detail = "not_converged", f"max_rounds = {max_rounds} reached"
    refuted = ""
    for _ in range(max_rounds):
        if stop is not None and stop.is_set():
            detail = "stopped"
            break
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            detail = "time limit reached"
            break
        round_start = time.monotonic()
        sub = dataclasses.replace(problem, domain=PointSet(points=pts.copy()))
        result = _solve_points(solve_points, sub, params, tol, left, stop)
        bound = _engine_bound(result)
        if bound is not None:
            lower = max(lower, bound)
        worst = None
        if result.solution is not None:
            mask = result.solution.mask
            ce = continuous_max_error(problem, mask, max_vertices=max_vertices)
            if best is None or ce.error < best.error:
                best, best_mask = ce, mask
            worst = round_into_box(ce.worst_point, box)
        if best is not None and lower > best.error:
            # A mask's exact continuous error refutes a backend's proof (impossible for a
            # correct backend): keep no lower bound, so nothing is claimed from it.
            refuted = (
                f"a backend's lower bound {float(lower):.12g} exceeds the exact continuous error "
                f"{float(best.error):.12g} of a mask; its proof is refuted"
            )
            lower = Fraction(0)
        rounds.append(
            ContinuousRound(
                points=len(pts),
                lower=exact.round_down(lower),
                upper=math.inf if best is None else best.error_upper,
                seconds=time.monotonic() - round_start,
                engine_status=result.status,
            )
        )
        if refuted:
            detail = refuted
            break
        if best is not None and best.error - lower <= Fraction(tol):
            status, detail = "optimal", ""
            break
        if worst is None:
            detail = f"the engine returned no mask ({result.status.name}): {result.detail}"
            break
        if tuple(worst.tolist()) in known:
            detail = (
                "the worst point is already in the point set; the remaining gap is the "
                "engine's tolerance or the rounding of the points"
            )
            break
        known.add(tuple(worst.tolist()))
        pts = np.vstack([pts, worst[None, :]])
    certificate = certify_mask(problem, best_mask) if best_mask is not None else None
    return ContinuousSolve(
        status=status,
        certificate=certificate,
        continuous=best,
        lower_bound=exact.round_down(lower),
        rounds=rounds,
        tolerance=tol,
        points=pts,
        detail=detail,
    )


def _solve_points(
    solve: SolvePoints,
    sub: Problem,
    params: SolveParameters,
    tol: float,
    time_left: float | None,
    stop: threading.Event | None,
) -> SolveResult:
    engine_params = dataclasses.replace(
        params, tolerance=tol / 2, time_limit_seconds=time_left, continuous=None
    )
    try:
        return solve(sub, engine_params, stop=stop)
    except UnrepresentableError:
        # The backend cannot resolve half the tolerance: ask for the tolerance itself.
        return solve(sub, dataclasses.replace(engine_params, tolerance=tol), stop=stop)


def optimize_result(
    problem: Problem,
    parameters: SolveParameters,
    stop: threading.Event | None,
    solve_points: SolvePoints,
) -> SolveResult:
    """The continuous optimum as a SolveResult: status, objective_bound and tolerance refer to
    the box; solution holds the mask's grid figures; continuous its box figures and rounds."""
    started = time.monotonic()
    cs = solve_continuous(problem, parameters, stop=stop, solve_points=solve_points)
    rounds = tuple(ContinuousRoundFigures(r.points, r.lower, r.upper, r.seconds) for r in cs.rounds)
    stats = SolveStats(
        wall_time_seconds=time.monotonic() - started,
        backend=parameters.backend or "auto",
        formulation="continuous cutting planes",
        points_used=len(cs.points),
        points_total=len(cs.points),
        rounds=len(cs.rounds),
        solver_calls=len(cs.rounds),
    )
    cancelled = stop is not None and stop.is_set()
    if cs.certificate is None or cs.continuous is None:
        status = SolveStatus.CANCELLED if cancelled else SolveStatus.NO_SOLUTION
        return SolveResult(status=status, stats=stats, detail=cs.detail)
    cert = cs.certificate
    optimal = cs.status == "optimal"
    figures = ContinuousFigures(
        error=cs.continuous.error_upper,
        worst_point=tuple(float(x) for x in cs.continuous.worst_point),
        lower_bound=cs.lower_bound,
        optimal=optimal,
        rounds=rounds,
        detail=cs.detail or "the continuous optimum is certified within the tolerance",
        grid_error=cert.error_upper,
    )
    status = SolveStatus.OPTIMAL if optimal else SolveStatus.FEASIBLE
    if cancelled and not optimal:
        status = SolveStatus.CANCELLED
    # The problem solved is the box: solution.error is the mask's box error, so the optimum
    # lies in [objective_bound, solution.error] as for every min_error result.
    return SolveResult(
        status=status,
        solution=Solution(mask=cert.mask, kept=cert.kept, error=cs.continuous.error_upper),
        objective_bound=cs.lower_bound,
        tolerance=exact.round_up(cs.continuous.error - Fraction(cs.lower_bound)),
        stats=stats,
        detail="" if optimal else f"continuous optimum not certified: {cs.detail}",
        continuous=figures,
    )
