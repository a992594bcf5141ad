"""The three objectives on a run: min_error (certified, from starting masks, with row generation),
min_kept (a relaxation, then a restriction) and pareto (a sweep of certified min_error solves).

Every figure a result states comes from the exact certificate of its mask (docs/design.md §2):
a backend's answer is a proposal and its bound is checked against that certificate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from solver import exact
from solver.backends.base import Backend, BackendOptions, BackendStatus, MinErrorTask
from solver.core.problem import Mask, MinError, MinKept, Pareto
from solver.core.result import FrontierPoint, SolveResult, SolveStatus
from solver.core.validate import PARAMETER_FLAGS
from solver.engine.kept import min_kept
from solver.engine.run import Run, rounded_gap
from solver.engine.sparsest import (
    add_frontier,
    join_details,
    sparsest_frontier,
    sparsest_min_error,
)
from solver.engine.starts import start_error, starting_choices
from solver.exact.certify import MaskCertificate


@dataclass(frozen=True)
class MinErrorOutcome:
    """A certified min-error solve on a run."""

    status: SolveStatus
    certificate: MaskCertificate | None
    choice: list[int] | None  # the model's candidates of the certified mask
    bound: Fraction  # rigorous lower bound on the optimum
    detail: str


def min_error(run: Run, max_kept: int | None, hint: list[int] | None = None) -> MinErrorOutcome:
    """Certified min-error solve with run.backend: starting masks (unless ``hint`` is given),
    then row generation, then the exact certificate of the best choice."""
    tol = Fraction(run.params.effective_tolerance)
    starts = starting_choices(run, max_kept, search=hint is None)
    start_hint = hint
    if start_hint is None:  # the best start on the model's points, exactly
        start_hint = min(starts, key=lambda c: start_error(run, c))
    if start_error(run, start_hint) <= tol and run.params.cross_check is None:
        # Every error is >= 0: a mask within the tolerance of 0 is optimal, no search needed
        # (not when a cross-check asks for two backends' own answers).
        cert = run.domain.certify(run.model.mask(start_hint))
        if cert.error <= tol:
            detail = "a starting mask's exact error is within the tolerance of 0, a lower bound"
            return MinErrorOutcome(SolveStatus.OPTIMAL, cert, start_hint, Fraction(0), detail)
    run.ensure_active([*starts, run.full_choice(max_kept)])
    run.reserve_certificates(len(start_hint))  # a choice has one candidate per live unit
    rows = run.solve_rows(MinErrorTask(max_kept=max_kept), start_hint)
    bound = rows.error_bound if rows.error_bound is not None else Fraction(0)
    if rows.chosen is None:
        status = SolveStatus.CANCELLED if run.cancelled() else SolveStatus.NO_SOLUTION
        if rows.status == BackendStatus.INFEASIBLE:
            status = SolveStatus.INFEASIBLE
        return MinErrorOutcome(status, None, None, bound, "no solution found within the time limit")
    cert = run.domain.certify(run.model.mask(rows.chosen))
    if bound > cert.error:
        return MinErrorOutcome(
            SolveStatus.FEASIBLE, cert, rows.chosen, Fraction(0), _refuted(run, bound, cert)
        )
    gap = cert.error - bound
    chosen = rows.chosen
    if gap > tol and rows.status == BackendStatus.OPTIMAL and rows.converged:
        if run.backend.refines and not run.out_of_time():
            # The model's resolution, not the search, left the gap: a finer model between the
            # bound and the certified error (docs/design.md §7). Its bound is rigorous for the
            # active points (a superset of those the first bound held for), hence everywhere.
            fine = run.solve_rows(MinErrorTask(max_kept=max_kept), chosen, lower=bound)
            if fine.error_bound is not None:
                bound = max(bound, fine.error_bound)
            if fine.chosen is not None:
                other = run.domain.certify(run.model.mask(fine.chosen))
                if other.error < cert.error:
                    cert, chosen = other, fine.chosen
            if bound > cert.error:
                detail = _refuted(run, bound, cert)
                return MinErrorOutcome(SolveStatus.FEASIBLE, cert, chosen, Fraction(0), detail)
            gap = cert.error - bound
            rows = fine
    if run.cancelled():
        return MinErrorOutcome(SolveStatus.CANCELLED, cert, chosen, bound, "cancelled")
    if gap <= tol:
        # The certificate alone decides: the optimum lies in [bound, error], whether or not
        # the backend finished its own proof (it stops once an incumbent is good enough).
        return MinErrorOutcome(SolveStatus.OPTIMAL, cert, chosen, bound, "")
    if rows.status == BackendStatus.OPTIMAL and rows.converged:
        resolution = f" (fixed-point scale {run.stats.scale:.3g})" if run.stats.scale else ""
        flag = PARAMETER_FLAGS["parameters.tolerance"]
        detail = _gap_too_wide(gap, tol) + resolution + f"; raise {flag} (parameters.tolerance)"
    else:
        detail = "time limit reached before optimality was proven"
    return MinErrorOutcome(SolveStatus.FEASIBLE, cert, chosen, bound, detail)


def _refuted(run: Run, bound: Fraction, cert: MaskCertificate) -> str:
    # A certified mask refutes the backend's proof: trust no bound from it.
    return (
        f"backend {run.backend.name} claimed a lower bound {float(bound):.12g} above the "
        f"certified error {float(cert.error):.12g} of a mask; its proof is refuted"
    )


def _gap_too_wide(gap: Fraction, tol: Fraction) -> str:
    return f"the certificate's gap {float(gap):.3g} exceeds the tolerance {float(tol):.3g}"


def direct_min_error(run: Run, backend: Backend) -> MinErrorOutcome:
    """A special-purpose backend's one answer on every point, certified: OPTIMAL when it
    certifies within the tolerance (the stated, rounded figures), else FEASIBLE (and "auto" asks
    the next backend)."""
    run.use(backend)
    task = MinErrorTask(max_kept=None)
    options = BackendOptions(
        tolerance=run.params.effective_tolerance,
        time_limit=run.time_left(),
        deadline=run.search_deadline.at,
        threads=run.params.threads or None,
        seed=run.params.seed,
        stop=run.stop,
        log=run.solver_log,
    )
    every_point = np.arange(run.model.num_points)
    outcome = backend.solve(run.model, every_point, task, options)
    run.stats.rounds = run.stats.solver_calls = 1
    if outcome.chosen is None:
        status = SolveStatus.CANCELLED if run.cancelled() else SolveStatus.NO_SOLUTION
        return MinErrorOutcome(status, None, None, Fraction(0), f"{backend.name} found no solution")
    bound = outcome.error_bound if outcome.error_bound is not None else Fraction(0)
    cert = run.domain.certify(run.model.mask(outcome.chosen))
    if bound > cert.error:  # impossible with a correct float error bound
        detail = _refuted(run, bound, cert)
        return MinErrorOutcome(SolveStatus.FEASIBLE, cert, outcome.chosen, Fraction(0), detail)
    tolerance = rounded_gap(cert.error_upper, exact.round_down(bound))
    if tolerance > run.params.effective_tolerance:
        detail = _gap_too_wide(cert.error - bound, Fraction(run.params.effective_tolerance))
        return MinErrorOutcome(SolveStatus.FEASIBLE, cert, outcome.chosen, bound, detail)
    return MinErrorOutcome(SolveStatus.OPTIMAL, cert, outcome.chosen, bound, "")


def solve_min_error(run: Run, objective: MinError, backends: list[Backend]) -> SolveResult:
    """The first of ``backends`` (the accepting ones, in preference order) whose answer
    certifies: a special-purpose backend is tried directly and passed over when its answer does
    not certify within the tolerance (unless it is the last); a general one answers. Then,
    unless parameters.sparsest is False, the fewest kept among masks within the tolerance of the
    optimum (solver.engine.sparsest; docs/design.md §2)."""
    for position, backend in enumerate(backends):
        if backend.special_purpose:
            outcome = direct_min_error(run, backend)
            if outcome.status != SolveStatus.OPTIMAL and position < len(backends) - 1:
                continue
        else:
            run.use(backend)
            outcome = min_error(run, objective.max_kept)
        bound_f = exact.round_down(outcome.bound)
        cert = outcome.certificate
        if cert is None:
            return run.result(outcome.status, None, bound_f, 0.0, outcome.detail)
        if run.params.sparsest is not False:
            outcome = sparsest_min_error(run, outcome)
            cert = outcome.certificate
        gap = rounded_gap(cert.error_upper, bound_f)
        return run.result(outcome.status, cert, bound_f, gap, outcome.detail)
    raise AssertionError("the registry returns at least one accepting backend")


def solve_min_kept(run: Run, objective: MinKept) -> SolveResult:
    """The fewest kept with exact error at most max_error (min_kept above), falling back on the
    full network when it meets max_error and nothing better was certified."""
    eps = Fraction(objective.max_error)
    outcome = min_kept(run, eps)
    if outcome.infeasible:
        return run.result(
            SolveStatus.INFEASIBLE,
            None,
            0.0,
            0.0,
            f"no mask reaches max_error {objective.max_error:g}, not even the full network",
        )
    cert, kept_bound, exact_count = outcome.certificate, outcome.kept_bound, outcome.exact_count
    if cert is None:
        full = run.domain.certify(Mask.full(run.problem))
        if full.error <= eps:
            cert, exact_count = full, False
    if run.cancelled():
        return run.result(SolveStatus.CANCELLED, cert, float(kept_bound), 0.0, "cancelled")
    if cert is None:
        detail = outcome.refuted or (
            "time limit reached before a mask within max_error was found"
            if run.out_of_time()
            else "max_error lies within the fixed-point rounding of the least achievable error; "
            "no mask was certified to reach it"
        )
        return run.result(SolveStatus.NO_SOLUTION, None, float(kept_bound), 0.0, detail)
    if exact_count and cert.kept == kept_bound:
        return run.result(SolveStatus.OPTIMAL, cert, float(kept_bound), 0.0, "")
    detail = outcome.refuted or f"kept {cert.kept}, proven lower bound {kept_bound}" + (
        "" if run.out_of_time() else " (the rounding gap of the model's number representation)"
    )
    return run.result(
        SolveStatus.FEASIBLE, cert, float(kept_bound), float(cert.kept - kept_bound), detail
    )


@dataclass(frozen=True)
class ParetoSteps:
    """How a pareto sweep solves each of its steps: the engine's own (solve_pareto) or the cube
    driver's, each min_error and min_kept distributed (solver/engine/cubes.py)."""

    min_error: Callable[[int | None, list[int] | None], MinErrorOutcome]  # (budget, hint)
    sparsest_best: Callable[[MinErrorOutcome], MinErrorOutcome]  # fewest kept at its error
    # Each frontier point replaced by the fewest kept at most as bad; appends the masks it
    # certified to the list given and returns the kept claim's detail.
    sparsest_frontier: Callable[
        [list[FrontierPoint], dict[int, list[int] | None], list[MaskCertificate]], str
    ]
    stopped: Callable[[], bool]  # cancelled


def solve_pareto(run: Run, objective: Pareto) -> SolveResult:
    """The sweep below with this run's own min_error and sparsest steps."""

    def frontier_step(frontier, choices, solved) -> str:
        detail = sparsest_frontier(run, frontier, choices)
        solved.extend(run.domain.certify(p.mask) for p in frontier if id(p.mask) not in choices)
        return detail

    steps = ParetoSteps(
        min_error=lambda budget, hint: min_error(run, budget, hint),
        sparsest_best=lambda best: sparsest_min_error(run, best),
        sparsest_frontier=frontier_step,
        stopped=run.cancelled,
    )
    return sweep_pareto(run, objective, steps)


def sweep_pareto(run: Run, objective: Pareto, steps: ParetoSteps) -> SolveResult:
    """Sweep the budget k = 0, 1, ... with certified min-error solves until the unconstrained
    optimum is reached; keep the efficient points."""
    max_budget = run.problem.max_kept_possible()
    if objective.max_kept is not None:
        max_budget = min(max_budget, objective.max_kept)
    best = steps.min_error(max_budget, None)
    sparsest = run.params.sparsest is not False
    if sparsest and best.certificate is not None:
        best = steps.sparsest_best(best)  # fewer kept at the optimum also shortens the sweep
    best_cert = best.certificate
    if best_cert is None:
        return run.result(best.status, None, exact.round_down(best.bound), 0.0, best.detail)
    frontier: list[FrontierPoint] = []
    all_optimal = best.status == SolveStatus.OPTIMAL
    worst_tolerance = 0.0
    last_status, last_detail = best.status, best.detail
    hint: list[int] | None = []
    solved = [best_cert]
    choices: dict[int, list[int] | None] = {}  # id(mask) -> its model choice (a hint)
    for budget in range(0, best_cert.kept + 1):
        if run.out_of_time() or steps.stopped():
            all_optimal = False
            why = "cancelled" if steps.stopped() else "time limit reached"
            last_detail = f"{why} during the frontier sweep"
            break
        point = best if budget == best_cert.kept else steps.min_error(budget, hint)
        if point.certificate is None:
            all_optimal = False
            last_status, last_detail = point.status, point.detail
            continue
        hint = point.choice
        if point.status != SolveStatus.OPTIMAL:
            all_optimal = False
            last_status, last_detail = point.status, point.detail
        cert = point.certificate
        solved.append(cert)
        choices[id(cert.mask)] = point.choice
        bound_f = exact.round_down(point.bound)
        worst_tolerance = max(worst_tolerance, rounded_gap(cert.error_upper, bound_f))
        add_frontier(
            frontier,
            FrontierPoint(
                kept=cert.kept,
                error=cert.error_upper,
                mask=cert.mask,
                error_bound=bound_f,
                certified=point.status == SolveStatus.OPTIMAL,
            ),
        )
        if cert.error <= best_cert.error:
            break
    kept_detail = ""
    if sparsest and not steps.stopped():
        kept_detail = steps.sparsest_frontier(frontier, choices, solved)
    if withdraw_refuted(frontier, solved):
        all_optimal = False
        last_status = SolveStatus.FEASIBLE
        last_detail = "a certified mask refuted a frontier point's bound; that bound is withdrawn"
        worst_tolerance = max(rounded_gap(p.error, p.error_bound) for p in frontier)
    if steps.stopped():
        final_status = SolveStatus.CANCELLED
    elif all_optimal:
        final_status = SolveStatus.OPTIMAL
    else:
        final_status = SolveStatus.FEASIBLE if last_status != SolveStatus.CANCELLED else last_status
    best_found = min(solved, key=lambda c: (c.error, c.kept))
    return run.result(
        final_status,
        best_found,
        frontier[-1].error_bound,
        worst_tolerance,
        join_details("" if final_status == SolveStatus.OPTIMAL else last_detail, kept_detail),
        frontier,
    )


def withdraw_refuted(frontier: list[FrontierPoint], masks) -> bool:
    """Withdraw every frontier point's error_bound that a certified mask refutes: a mask (with
    ``kept`` and exact ``error``) keeping at most the point's count with an error below the
    point's bound (docs/design.md §2: a refuted proof gives no bound). The point keeps its
    mask and error; its bound becomes 0 (every error is >= 0) and it is no longer certified.
    Returns whether any bound was withdrawn."""
    withdrawn = False
    for i, point in enumerate(frontier):
        errors = [Fraction(m.error) for m in masks if m.kept <= point.kept]
        if errors and Fraction(point.error_bound) > min(errors):
            frontier[i] = dataclasses.replace(point, error_bound=0.0, certified=False)
            withdrawn = True
    return withdrawn
