"""min_kept on a run: the fewest kept among masks whose exact error is at most a threshold, with
a rigorous lower bound on that count (docs/design.md §7: a relaxation, then a restriction).

Used by the min_kept objective and by the sparsest step of min_error (solver.engine.sparsest).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from solver.backends.base import BackendStatus, MinErrorTask, MinKeptTask
from solver.core.problem import Mask, PruningMode
from solver.engine.run import RowsOutcome, Run
from solver.engine.starts import heuristic_choice, magnitude_mask, start_error
from solver.exact.certify import MaskCertificate
from solver.formulation.hints import greedy_forward


@dataclass(frozen=True)
class MinKeptOutcome:
    """A min_kept solve on a run: the best mask certified to meet max_error (None: none found)
    and a rigorous lower bound on the fewest kept among masks whose exact error is at most
    max_error."""

    certificate: MaskCertificate | None
    choice: list[int] | None  # the model's candidates of the certified mask (None: full network)
    kept_bound: int
    exact_count: bool  # the backend proved its count optimal on every point
    refuted: str  # why a backend's proof was refuted ("" if none was)
    infeasible: bool = False  # proven: no mask meets max_error, not even the full network


def min_kept(run: Run, eps: Fraction, hint: list[int] | None = None) -> MinKeptOutcome:
    """Relaxation first (rigorous count bound); if its mask misses ``eps`` by the rounding, a
    restriction (every mask truly within eps) with the relaxation's mask as hint. ``hint``: a
    choice meeting eps (default: greedy forward selection)."""
    model = run.model
    start = hint if hint is not None else kept_start(run, eps)
    run.ensure_active([start, run.full_choice(None)])
    run.reserve_certificates(len(start))  # a choice has one candidate per live unit
    relaxed = run.solve_rows(MinKeptTask(max_error=eps, restrict=False), start)
    kept_bound = relaxed.kept_bound or 0
    cert = None
    refuted = ""
    if relaxed.status == BackendStatus.INFEASIBLE:
        # A backend's infeasibility claim is checked exactly before it is believed (docs/design.md
        # §2): a mask meeting max_error refutes it, the full network or the start (pruning can
        # lower the error where the target is not the network itself); a float solver that
        # dropped small coefficients claimed this. Unrefuted, only CP-SAT's claim is a proof
        # (proves_cutoff); a float backend's must be confirmed by a rigorous min_error bound
        # above max_error (solver.engine.cube_task says the same of a cube).
        witnesses = [("the full network", run.domain.certify(Mask.full(run.problem)))]
        witnesses.append(("the starting mask", run.domain.certify(model.mask(start))))
        meets = [(name, w) for name, w in witnesses if w.error <= eps]
        if not meets:
            if run.backend.proves_cutoff or error_above(run, eps):
                return MinKeptOutcome(None, None, 0, True, "", infeasible=True)
            unconfirmed = (
                f"backend {run.backend.name} claimed no mask reaches max_error {float(eps):g}, "
                "and no rigorous min_error bound confirmed it: nothing is proven"
            )
            return MinKeptOutcome(None, None, 0, False, unconfirmed)
        name, cert = min(meets, key=lambda item: item[1].kept)
        kept_bound = 0
        refuted = (
            f"backend {run.backend.name} claimed no mask reaches max_error "
            f"{float(eps):g}, but {name} does (exact error "
            f"{float(cert.error):.12g}); its proof is refuted"
        )
        relaxed = RowsOutcome(BackendStatus.FEASIBLE, None, None, None, converged=False)
    choice = None
    if relaxed.chosen is not None:
        cert, choice = run.domain.certify(model.mask(relaxed.chosen)), relaxed.chosen
        if cert.error > eps:
            cert = choice = None
    exact_count = relaxed.status == BackendStatus.OPTIMAL and relaxed.converged
    if cert is None and not run.out_of_time():
        restart = relaxed.chosen if relaxed.chosen is not None else start
        restricted = run.solve_rows(MinKeptTask(max_error=eps, restrict=True), restart)
        if restricted.chosen is not None:
            candidate = run.domain.certify(model.mask(restricted.chosen))
            if candidate.error <= eps:
                cert, choice = candidate, restricted.chosen
        exact_count = exact_count and restricted.status == BackendStatus.OPTIMAL
    if cert is None and not refuted:
        # Nothing certified (time ran out): the start, when it meets eps, beats the caller's
        # fallback, the full network (bench/real.py: min_kept at n = 32 returned all 224
        # weights where a start within max_error kept far fewer).
        fallback = run.domain.certify(model.mask(start))
        if fallback.error <= eps:
            cert, choice, exact_count = fallback, list(start), False
    return MinKeptOutcome(cert, choice, kept_bound, exact_count, refuted)


def kept_start(run: Run, eps: Fraction) -> list[int]:
    """min_kept's start: the sparsest, among those that meet eps exactly on the model's points,
    of greedy forward selection within eps, magnitude pruning's shortest prefix found within eps
    (weights mode) and the quick heuristics' mask (where starts are wanted,
    solver.engine.starts)."""
    model = run.model
    starts = [greedy_forward(model, max_error=float(eps), deadline=run.search_deadline)]
    if run.problem.pruning == PruningMode.WEIGHTS:
        starts.append(_magnitude_within(run, eps))
    found = heuristic_choice(run, None, max_error=eps)
    if found is not None:
        starts.append(found)
    within = [c for c in starts if start_error(run, c) <= eps]
    return min(within, key=model.kept) if within else starts[0]


def _magnitude_within(run: Run, eps: Fraction) -> list[int]:
    """Magnitude pruning (solver.engine.starts.magnitude_mask) at the least budget a bisection
    finds within eps: a few exact evaluations (the error need not fall monotonically with the
    budget, so this is a good start, not the least such budget)."""
    low, high = 0, run.problem.max_kept_possible()  # the full network: the caller's fallback
    best = run.model.choice(magnitude_mask(run.problem, high))
    while low < high:
        middle = (low + high) // 2
        choice = run.model.choice(magnitude_mask(run.problem, middle))
        if start_error(run, choice) <= eps:
            best, high = choice, middle
        else:
            low = middle + 1
    return best


def error_above(run: Run, eps: Fraction, max_kept: int | None = None) -> bool:
    """Whether the least error of the run's masks keeping at most ``max_kept`` (None: all) is
    proven above ``eps`` by a min_error solve with the run's backend (a float backend's rigorous
    bound, docs/design.md §8): the check behind a float backend's min_kept infeasibility claim.
    Its mask, certified, must not refute the bound."""
    if run.out_of_time():
        return False
    rows = run.solve_rows(MinErrorTask(max_kept=max_kept), None)
    if rows.error_bound is None or rows.error_bound <= eps:
        return False
    if rows.chosen is not None:
        cert = run.domain.certify(run.model.mask(rows.chosen))
        if cert.error < rows.error_bound:
            return False  # refuted: its bound proves nothing
    return True
