"""Cross-checked certificates: the same problem solved again by a second backend, and whether
the two certified answers agree (a disagreement is reported, never resolved)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

from solver.backends import general_backends, get_backend
from solver.core.errors import BackendUnavailableError
from solver.core.parameters import SolveParameters
from solver.core.problem import MinError, MinKept, Pareto, Problem
from solver.core.result import CrossCheck, SolveResult, SolveStatus
from solver.engine.objectives import withdraw_refuted
from solver.engine.run import rounded_gap

SolveFunction = Callable[..., SolveResult]  # (problem, parameters, *, stop) -> SolveResult


def cross_check_backend(params: SolveParameters, first: str) -> str | None:
    """The second backend's name (None without a cross-check). "auto": the next installed
    general backend after ``first``; a special-purpose one may not accept the problem."""
    if not params.cross_check:
        return None
    if params.cross_check != "auto":
        get_backend(params.cross_check)  # unknown or missing: BackendUnavailableError now
        return params.cross_check
    others = [name for name in general_backends() if name != first]
    if not others:
        raise BackendUnavailableError("cross_check=auto needs a second installed backend")
    return others[0]


def cross_check(
    problem: Problem,
    params: SolveParameters,
    result: SolveResult,
    backend: str,
    time_left: float | None,
    stop: threading.Event | None,
    solve: SolveFunction,
) -> None:
    """Solve again with ``backend`` (through ``solve``, the engine's) and record in ``result``
    whether the two certified answers agree. It runs in what is left of the solve's time limit
    (``time_left``, seconds); with none left it is not run, and does not agree (docs/design.md
    §14: the limit is a deadline for the whole solve)."""
    if time_left is not None and time_left <= 0:
        result.cross_check = CrossCheck(
            backend=backend,
            status=SolveStatus.NO_SOLUTION,
            solution=None,
            objective_bound=0.0,
            agrees=False,
            detail=f"not run: the time limit was reached before the cross-check with {backend}",
        )
        if result.status == SolveStatus.OPTIMAL:
            result.status = SolveStatus.FEASIBLE
            result.detail = f"cross-check not run: time limit reached before {backend} ran"
        return
    other = solve(
        problem,
        dataclasses.replace(
            params, backend=backend, cross_check=None, time_limit_seconds=time_left, continuous=None
        ),
        stop=stop,
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
            result.tolerance = rounded_gap(mine.error, result.objective_bound)
    detail = (
        f"{result.stats.backend} {result.status.name} vs {backend} {other.status.name}: {compared}"
    )
    # A bound refuted by the other backend's certified mask is withdrawn from the result, not
    # only its status (docs/design.md §2); likewise the other's bound refuted by ours.
    mine_bound, their_bound = _unrefuted(problem, result, other), _unrefuted(problem, other, result)
    if mine_bound != result.objective_bound:
        agrees = False
        result.objective_bound = mine_bound
        if mine is not None and not isinstance(problem.objective, MinKept):
            result.tolerance = rounded_gap(mine.error, mine_bound)
        elif mine is not None:
            result.tolerance = float(mine.kept - mine_bound)
        detail += "; a certified mask of the other refutes this backend's bound: withdrawn"
    if isinstance(problem.objective, Pareto):
        masks = [p for p in other.frontier] + ([theirs] if theirs is not None else [])
        if withdraw_refuted(result.frontier, masks):
            agrees = False
            detail += "; frontier bounds refuted by the other's masks are withdrawn"
    result.cross_check = CrossCheck(
        backend=backend,
        status=other.status,
        solution=theirs,
        objective_bound=their_bound,
        agrees=agrees,
        detail=detail,
    )
    if not agrees and result.status == SolveStatus.OPTIMAL:
        result.status = SolveStatus.FEASIBLE
        result.detail = f"cross-check disagrees: {detail}"


def _unrefuted(problem: Problem, result: SolveResult, other: SolveResult) -> float:
    """``result``'s bound, or a bound that still holds when a certified mask of ``other``
    refutes it: ``other``'s bound if that one is not refuted too, else the trivial 0."""
    theirs, mine = other.solution, result.solution
    if theirs is None:
        return result.objective_bound
    if isinstance(problem.objective, MinKept):
        # A certified solution of min_kept meets max_error exactly: its count bounds the optimum.
        best = min(theirs.kept, mine.kept if mine is not None else theirs.kept)
        if result.objective_bound <= theirs.kept:
            return result.objective_bound
        return other.objective_bound if other.objective_bound <= best else 0.0
    best = min(theirs.error, mine.error if mine is not None else theirs.error)
    if isinstance(problem.objective, MinError | Pareto) and not _budget_fits(problem, theirs):
        return result.objective_bound
    if result.objective_bound <= theirs.error:
        return result.objective_bound
    return other.objective_bound if other.objective_bound <= best else 0.0


def _budget_fits(problem: Problem, solution) -> bool:
    budget = getattr(problem.objective, "max_kept", None)
    return budget is None or solution.kept <= budget
