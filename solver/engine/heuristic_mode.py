"""parameters.heuristic: a heuristic's mask instead of an exact solve, with its exact figures
but no bound (docs/design.md §10). Never OPTIMAL: it proves nothing about the optimum."""

from __future__ import annotations

import threading
import time

from solver.core.parameters import Heuristic, SolveParameters
from solver.core.problem import MinKept, Problem
from solver.core.result import FrontierPoint, Solution, SolveResult, SolveStats, SolveStatus
from solver.search.heuristics import best_heuristic, run_heuristic


def solve_heuristic(
    problem: Problem, params: SolveParameters, stop: threading.Event | None
) -> SolveResult:
    """The heuristic's (or, for Heuristic.BEST, the best heuristic's) mask: objective_bound 0."""
    started = time.monotonic()
    options = dict(seed=params.seed or 0, time_limit=params.time_limit_seconds, stop=stop)
    if params.heuristic is Heuristic.BEST:
        found = best_heuristic(problem, **options)
    else:
        found = run_heuristic(problem, params.heuristic, **options)
    cert = found.certificate
    stats = SolveStats(
        wall_time_seconds=time.monotonic() - started,
        # The reported name stays "heuristic:NAME" (an output, read by clients).
        backend=f"heuristic:{found.name}" if found.name else "heuristic:best",
        formulation="heuristic",
        points_used=len(problem.points()),
        points_total=len(problem.points()),
    )
    frontier = [
        FrontierPoint(
            kept=c.kept, error=c.error_upper, mask=c.mask, error_bound=0.0, certified=False
        )
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
