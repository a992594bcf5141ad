"""The sparsest step (parameters.sparsest, on by default): error first, then kept.

Many masks share the optimal error (the error is a maximum over points, and units silent at the
worst point change nothing there), so which of them a backend returns is an accident of its
search: on the paper family (d = 2, n = 16, weights, seed 1) cpsat, highs and scip returned
masks of the same certified error keeping 16, 18 and 26 weights. After the certified min_error
solve (exact error E), this step solves min_kept with the threshold X = E (docs/design.md §2):

* the returned mask has exact error at most E, so the error claim (bound, status) stands
  unchanged, and the solution's error never grows;
* its kept count is proven the fewest among all masks whose exact error is at most X when the
  min_kept relaxation's rigorous lower bound on the count (solver.engine.kept) equals it.

A larger threshold (the bound plus the tolerance) would admit sparser masks that are still
within the tolerance of the optimum, at the price of a worse error than the solve found; X = E
keeps the error and makes the kept claim "no mask at least as good keeps fewer". When the count
is not proven (time, rounding), the certified mask with the fewest kept found is returned, the
status (the error claim's) is unchanged and ``detail`` says the count is not proven minimal.
SolveStats describe the error solve; the step's cost is in wall_time_seconds.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import TYPE_CHECKING

from solver import exact
from solver.core.result import FrontierPoint, SolveStatus
from solver.engine.kept import min_kept
from solver.engine.run import Run

if TYPE_CHECKING:
    from solver.engine.objectives import MinErrorOutcome


def add_frontier(frontier: list[FrontierPoint], point: FrontierPoint) -> None:
    """Insert keeping only efficient points: kept ascending, error strictly decreasing."""
    if any(p.kept <= point.kept and p.error <= point.error for p in frontier):
        return
    frontier[:] = [p for p in frontier if not (p.kept >= point.kept and p.error >= point.error)]
    frontier.append(point)
    frontier.sort(key=lambda p: p.kept)


def sparsest_min_error(run: Run, outcome: MinErrorOutcome) -> MinErrorOutcome:
    """``outcome`` with the certified mask of fewest kept under the threshold, and its detail
    extended by the kept claim."""
    cert = outcome.certificate
    if cert is None or outcome.status not in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
        return outcome
    limit = cert.error  # the threshold X (module docstring)
    if cert.kept == 0:
        return dataclasses.replace(
            outcome, detail=join_details(outcome.detail, kept_claim(0, limit))
        )
    if run.out_of_time():
        why = kept_unproven(cert.kept, None, limit, "time limit")
        return dataclasses.replace(outcome, detail=join_details(outcome.detail, why))
    if run.backend is None or run.backend.special_purpose:
        # Meet in the middle answers min_error only, in well under a millisecond where a
        # general backend's min_kept takes about 0.5 s (docs/design.md §9): not worth it.
        name = run.backend.name if run.backend is not None else "the backend"
        why = f"the kept count is not minimised: {name} answers min_error only"
        return dataclasses.replace(outcome, detail=join_details(outcome.detail, why))
    # SolveStats keep describing the error solve (its scale, rounds and calls are the figures
    # behind the certificate users read); this step's time shows in wall_time_seconds only.
    stats = dataclasses.replace(run.stats)
    found = min_kept(run, limit, hint=outcome.choice)
    run.stats = stats
    best, choice = cert, outcome.choice
    other = found.certificate
    better = other is not None and (other.kept, other.error) < (cert.kept, cert.error)
    if better and other.error <= limit:
        best, choice = other, found.choice
    if run.cancelled():
        why = kept_unproven(best.kept, None, limit, "cancelled")
    elif found.refuted or found.infeasible:
        # The min_error mask meets the threshold: a claim that nothing does is refuted.
        why = kept_unproven(best.kept, None, limit, f"{run.backend.name}'s count proof was refuted")
    elif best.kept <= found.kept_bound:
        why = kept_claim(best.kept, limit)
    else:
        reason = "time limit" if run.out_of_time() else "the rounding of the model's numbers"
        why = kept_unproven(best.kept, found.kept_bound, limit, reason)
    return dataclasses.replace(
        outcome, certificate=best, choice=choice, detail=join_details(outcome.detail, why)
    )


def sparsest_frontier(
    run: Run, frontier: list[FrontierPoint], choices: dict[int, list[int] | None]
) -> str:
    """Replace each frontier point by a certified mask with the fewest kept among masks whose
    exact error is at most the point's (and drop the points that then become inefficient).
    The point's error_bound stays valid: it bounds the least error with kept <= the point's
    budget, which fewer kept cannot beat. ``choices`` maps id(point.mask) to the model's
    candidates of that mask (a hint). Returns the claim for the result's detail."""
    unproven = []
    points = list(frontier)
    for i, point in enumerate(points):
        if point.kept == 0:
            continue
        if run.out_of_time():
            unproven.append(f"kept {point.kept} (time limit)")
            continue
        limit = Fraction(run.domain.certify(point.mask).error)
        found = min_kept(run, limit, hint=choices.get(id(point.mask)))
        other = found.certificate
        if other is not None and other.error <= limit and other.kept < point.kept:
            points[i] = dataclasses.replace(
                point, kept=other.kept, error=other.error_upper, mask=other.mask
            )
        if found.refuted or found.infeasible or points[i].kept > found.kept_bound:
            unproven.append(f"kept {points[i].kept}")
    return replace_frontier(frontier, points, unproven)


def replace_frontier(
    frontier: list[FrontierPoint], points: list[FrontierPoint], unproven: list[str]
) -> str:
    """Put ``points`` (each a frontier point replaced by its sparsest mask) in ``frontier``,
    dropping those that became inefficient; returns the claim for the result's detail
    (``unproven``: the points whose count is not proven the fewest)."""
    frontier.clear()
    for point in points:
        add_frontier(frontier, point)
    if not unproven:
        return (
            "each frontier point keeps the fewest among masks whose exact error is at most its own"
        )
    return "not proven the fewest kept for the point's error: " + ", ".join(unproven)


def kept_claim(kept: int, limit: Fraction) -> str:
    # The threshold as solution.error states it: the exact value rounded up to a double.
    return f"kept {kept} is the fewest among masks whose exact error is at most {_up(limit)}"


def kept_unproven(kept: int, bound: int | None, limit: Fraction, why: str) -> str:
    proven = "" if bound is None else f", proven lower bound {bound}"
    return (
        f"the error claim stands; kept {kept} is not proven the fewest among masks whose exact "
        f"error is at most {_up(limit)}{proven} ({why})"
    )


def _up(value: Fraction) -> str:
    return repr(exact.round_up(value))


def join_details(first: str, second: str) -> str:
    """Two parts of a result's detail, either of which may be empty."""
    return f"{first}; {second}" if first and second else first or second
