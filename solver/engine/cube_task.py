"""One cube of a distributed solve (docs/design.md §16): the masks that meet the cube's decisions
(units fixed live or dead), solved for one goal (CubeGoal): min_error under a budget, with the
best certified error so far as a cutoff, or min_kept under a threshold.

min_error, with U = cutoff - tolerance:
- its backend's rigorous bound b (capped at U by the model, so b <= U): every mask of the cube
  has exact error >= b (masks above U have error > U >= b);
- an INFEASIBLE answer under the cap, from a backend that ``proves_cutoff`` (CP-SAT): every mask
  of the cube has exact error > U, so U is the cube's bound;
- its best choice, certified exactly on every point by the engine's own ExactDomain.
Float backends get no cap (their infeasibility claims prove nothing, floatmip.py): they solve the
cube with only its hint as upper bound.

min_kept, with threshold X (the masks of interest have exact error <= X), as the monolithic
engine solves it (solver.engine.kept, docs/design.md §7): a relaxation, then a restriction.
- The relaxation's kept bound b: every mask of the cube with exact error <= X keeps >= b. Its
  model is the relaxation of §7 (each side rounded outward, so a mask with exact error <= X
  meets every row at the cap floor(S X)) on the active points only (row generation, §6: fewer
  rows, a further relaxation) with the cube's decisions as exact 0-1 fixings; each round's bound
  holds for the whole domain and the largest is kept (Run.solve_rows).
- Its INFEASIBLE, from a backend that ``proves_cutoff`` (CP-SAT): the same relaxation has no
  choice, so no mask of the cube has exact error <= X; the cube's bound is infinite (it holds
  nothing of interest). This is a proof about the relaxed rows, and the relaxed rows contain
  every mask that matters, which is all it needs. It is still checked: a certified mask of the
  cube within X (the incumbent moved into the cube) refutes it. The monolithic engine checks
  the claim against the full network instead (solver.engine.kept), which a cube need not
  contain. A float backend's INFEASIBLE proves nothing (its margin model, floatmip.py): the
  cube then solves min_error with the same backend, whose bound is rigorous within that model,
  and is closed only when that bound exceeds X.
- The restriction (every choice truly within X) only finds masks; its INFEASIBLE proves nothing
  and is never read. Every mask the cube returns is certified exactly against X.
- The cutoff K (the best certified kept count when the cube starts) becomes the kept cap
  K - 1 of both tasks (MinKeptTask.max_kept): only masks keeping fewer than the incumbent are
  looked for. The cap removes only masks keeping >= K, so the capped relaxation's rows still
  contain every mask of the cube within X that keeps < K: its bound b gives "every mask of the
  cube within X keeps >= min(b, K)", and its INFEASIBLE (CP-SAT) "every one keeps >= K": the
  cube is closed with bound K. A certified mask of the cube within X refutes that only if it
  keeps < K (the incumbent itself, moved into the cube, keeps K and is consistent with it). A
  float backend's INFEASIBLE goes through the same min_error confirmation, with budget K - 1: a
  rigorous bound above X on the least error of the cube's masks keeping <= K - 1 closes it with
  bound K. A cube whose forced-live units alone cost >= K is closed with bound K without a
  solve (every mask of it keeps at least their cheapest candidates).

A cutoff published after the cube started (min_error; docs/design.md §16): the worker's watcher
reads the phase's Variable every POLL_SECONDS and hands each better certified error E' to the
cube's LiveCutoff, which also receives every bound the search reports (Run's progress callback:
the backend's on_bound, e.g. CP-SAT's best_bound_callback). Once the search's bound reaches
U' = E' - tolerance the LiveCutoff sets the cube's stop event and the backend returns its
incumbent and rigorous bound b. If b >= U' the cube is CLOSED by U': every mask of it has exact
error >= b >= U' = E' - tolerance (b is the backend's rigorous bound, which holds whatever made
the search stop), so none beats E' by more than the tolerance, and since the best only improves
(the final E <= E') b >= E - tolerance: it never holds the global bound more than the tolerance
below the final error. (The reported bound is b itself, not U', so the global certificate's
minimum over leaves is sound as before.) The stop is triggered by the reported float bound; the
state is decided on the exact b, so a float just above U' leaves the cube OPEN with its true
bound, never a false closure. A cube whose bound stays below U' keeps running under the cap it
started with: CP-SAT fixes a model's domains when its solve starts (the error cap t <= floor(S U)
is part of the model) and has no call to tighten one during a solve; a restart with the new cap
would discard the search's tree and learnt clauses. min_kept cubes get no such signal: their
backends report no running bound on the count, and their cap is fixed at the start.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from dataclasses import dataclass
from fractions import Fraction

from solver.backends import get_backend
from solver.backends.base import BackendStatus, MinErrorTask, MinKeptTask
from solver.core.parameters import SolveParameters
from solver.core.problem import MinError, Problem
from solver.core.result import Progress
from solver.engine.kept import error_above
from solver.engine.run import Run
from solver.exact.certify import MaskCertificate
from solver.formulation.columns import ColumnModel
from solver.formulation.deadline import DeadlineReached


class CubeState:
    """CubeAnswer.state values."""

    OPTIMAL = "optimal"  # its best mask is within the tolerance of its bound (min_kept: equal)
    CLOSED = "closed"  # no mask of the cube beats the cutoff (min_error: by the tolerance)
    OPEN = "open"  # stopped by its time slice (or a stop) with a gap
    REFUTED = "refuted"  # a certified mask lies below the backend's bound: the bound is dropped


@dataclass(frozen=True)
class CubeGoal:
    """What every cube of one distributed phase solves: min_error with at most ``max_kept``
    kept, or (``max_error`` set) min_kept among masks of exact error at most ``max_error``."""

    max_kept: int | None = None
    max_error: Fraction | None = None

    @property
    def min_kept(self) -> bool:
        return self.max_error is not None


class LiveCutoff:
    """What a running min_error cube learns after it started: the best certified error
    published since (``offer``, from the worker's watcher thread) and the search's latest
    reported bound (``observe``, Run's progress callback, from the solver's thread). When the
    bound reaches U' = E' - tolerance it sets ``stop`` (the cube's own event: the backend then
    returns its incumbent and rigorous bound). ``closing`` is the least U' seen (None: no better
    cutoff came); ``fired`` whether it stopped the search (module docstring: why a cube whose
    rigorous bound reaches U' is closed)."""

    def __init__(self, tolerance: Fraction, stop: threading.Event, started: Fraction | None):
        self.tolerance = tolerance
        self.stop = stop
        self.closing: Fraction | None = None
        self.fired = False
        self._bound: float | None = None
        self._started = started  # the error the cube started with (its cutoff): not news
        self._lock = threading.Lock()

    def offer(self, error: Fraction) -> None:
        """A certified error published on the phase's Variable."""
        with self._lock:
            if self._started is not None and error >= self._started:
                return
            closing = error - self.tolerance
            if self.closing is None or closing < self.closing:
                self.closing = closing
            self._check()

    def observe(self, progress: Progress) -> None:
        """Run's progress callback: every bound the search reports (approximate floats)."""
        if progress.bound is None:
            return
        with self._lock:
            if self._bound is None or progress.bound > self._bound:
                self._bound = progress.bound
            self._check()

    def _check(self) -> None:
        # Floats only trigger the stop; the cube's state is decided on its exact bound.
        if self.closing is not None and self._bound is not None and not self.fired:
            if self._bound >= float(self.closing):
                self.fired = True
                self.stop.set()


@dataclass
class CubeAnswer:
    """What a cube sends back: exact Fractions and integers (pickled as such), so nothing is
    rounded on the way to the global certificate."""

    state: str
    # min_error: every mask of the cube has exact error >= bound. min_kept: every mask of the
    # cube with exact error <= max_error keeps >= bound (math.inf: the cube has none).
    bound: Fraction | int | float
    chosen: list[int] | None  # the model's candidates of the cube's best mask
    error: Fraction | None  # its exact error on every point
    cutoff: Fraction | int | None  # min_error: U, the cap it was solved under; min_kept: K
    seconds: float
    cpu_seconds: float
    kept: int | None = None  # its best mask's kept count
    # Closed by a cutoff published after it started (LiveCutoff): ``cutoff`` is then that U'.
    late_cutoff: bool = False


def repair(model: ColumnModel, choice: list[int], fixed: dict[int, bool]) -> list[int]:
    """``choice`` moved into the cube: fixed-dead units removed, fixed-live units that it lacks
    added with their last candidate (weights mode: the unit's full pattern)."""
    dead = {unit for unit, alive in fixed.items() if not alive}
    repaired = [c for c in choice if model.candidates[c].unit not in dead]
    present = {model.candidates[c].unit for c in repaired}
    by_unit = {model.candidates[g[0]].unit: g for g in model.groups if g}
    for unit, alive in fixed.items():
        if alive and unit not in present:
            repaired.append(by_unit[unit][-1])
    return sorted(repaired)


def min_live_cost(model: ColumnModel, fixed: dict[int, bool]) -> int:
    """The least kept count of a mask meeting the decisions: a budget below it empties the cube."""
    by_unit = {model.candidates[g[0]].unit: g for g in model.groups if g}
    return sum(
        min(model.candidates[c].cost for c in by_unit[unit])
        for unit, alive in fixed.items()
        if alive
    )


def solve_cube(
    problem: Problem,
    params: SolveParameters,
    fixed: dict[int, bool],
    incumbent: list[int] | None,
    cutoff: Fraction | int | None,
    stop: threading.Event | None = None,
    goal: CubeGoal | None = None,
    live: LiveCutoff | None = None,
) -> CubeAnswer:
    """The cube's solve within params.time_limit_seconds (its slice). ``incumbent``: the best
    certified choice so far (repaired into the cube as its hint); ``cutoff``: its exact error
    (min_error: the cube looks for masks below it by more than the tolerance) or its kept count
    (min_kept). ``goal``: None for the problem's own min_error objective. ``live`` (min_error):
    where later cutoffs arrive while the cube runs; its ``stop`` must be ``stop``."""
    if goal is None:
        objective = problem.objective
        assert isinstance(objective, MinError)
        goal = CubeGoal(max_kept=objective.max_kept)
    clock = (time.monotonic(), time.process_time())
    cube_params = dataclasses.replace(params, sparsest=False, cross_check=None)
    backend = get_backend(params.backend)
    if goal.min_kept:
        live = None  # module docstring: min_kept cubes get no running bound to compare
    if live is not None:
        assert live.stop is stop, "the live cutoff stops the cube through its own event"
    try:
        run = Run(problem, cube_params, None if live is None else live.observe, stop)
    except DeadlineReached:
        return _answer(clock, CubeState.OPEN, Fraction(0) if not goal.min_kept else 0, cutoff)
    run.use(backend)
    run.fixed_units = dict(fixed)
    if goal.min_kept:
        return _kept_cube(run, goal.max_error, fixed, incumbent, cutoff, clock)
    return _error_cube(run, goal.max_kept, fixed, incumbent, cutoff, clock, live)


def _answer(
    clock, state, bound, cutoff, chosen=None, error=None, kept=None, late=False
) -> CubeAnswer:
    began, cpu = clock
    return CubeAnswer(
        state,
        bound,
        chosen,
        error,
        cutoff,
        time.monotonic() - began,
        time.process_time() - cpu,
        kept,
        late,
    )


def _error_cube(
    run: Run,
    max_kept: int | None,
    fixed: dict[int, bool],
    incumbent: list[int] | None,
    cutoff_error: Fraction | None,
    clock,
    live: LiveCutoff | None = None,
) -> CubeAnswer:
    tol = Fraction(run.params.effective_tolerance)
    cutoff = None
    if cutoff_error is not None and run.backend.proves_cutoff:
        cutoff = cutoff_error - tol
    run.cutoff = cutoff
    model = run.model

    def answer(state, bound, chosen=None, error=None) -> CubeAnswer:
        kept = None if chosen is None else model.kept(chosen)
        late = live is not None and live.closing is not None
        if state == CubeState.OPEN and late and bound >= live.closing:
            # Its rigorous bound reached a cutoff published after it started (module
            # docstring): no mask of the cube beats that error by more than the tolerance.
            return _answer(clock, CubeState.CLOSED, bound, live.closing, chosen, error, kept, True)
        return _answer(clock, state, bound, cutoff, chosen, error, kept)

    hint = None
    if incumbent is not None:
        hint = repair(model, incumbent, fixed)
        if max_kept is not None and model.kept(hint) > max_kept:
            hint = None
    run.ensure_active([hint or [], run.full_choice(max_kept)])
    task = MinErrorTask(max_kept=max_kept)
    rows = run.solve_rows(task, hint)
    if rows.status == BackendStatus.INFEASIBLE and cutoff is not None:
        # Proven: every mask of the cube errs by more than the cutoff (module docstring).
        return answer(CubeState.CLOSED, max(cutoff, Fraction(0)))
    bound = rows.error_bound if rows.error_bound is not None else Fraction(0)
    if rows.chosen is None:
        return answer(CubeState.OPEN, bound)
    cert = run.domain.certify(model.mask(rows.chosen))
    chosen, error = rows.chosen, cert.error
    if bound > error:
        return answer(CubeState.REFUTED, Fraction(0), chosen, error)
    if (
        error - bound > tol
        and rows.status == BackendStatus.OPTIMAL
        and rows.converged
        and run.backend.refines
        and not run.out_of_time()
    ):
        # The first level's resolution left the gap: the finer model (docs/design.md §7).
        fine = run.solve_rows(task, chosen, lower=bound)
        if fine.status == BackendStatus.INFEASIBLE and cutoff is not None:
            bound = max(bound, cutoff)
        elif fine.error_bound is not None:
            bound = max(bound, fine.error_bound)
        if fine.chosen is not None:
            other = run.domain.certify(model.mask(fine.chosen))
            if other.error < error:
                chosen, error = fine.chosen, other.error
        if bound > error:
            return answer(CubeState.REFUTED, Fraction(0), chosen, error)
    if error - bound <= tol:
        state = CubeState.OPTIMAL
    elif cutoff is not None and bound >= cutoff:
        state = CubeState.CLOSED
    else:
        state = CubeState.OPEN
    return answer(state, bound, chosen, error)


def _kept_cube(
    run: Run,
    eps: Fraction,
    fixed: dict[int, bool],
    incumbent: list[int] | None,
    cutoff: int | None,
    clock,
) -> CubeAnswer:
    """min_kept in the cube (module docstring: what each answer proves)."""
    model = run.model
    best: tuple[MaskCertificate, list[int]] | None = None
    # The kept cap K - 1 (module docstring): masks keeping >= K cannot improve on the incumbent.
    cap = cutoff - 1 if cutoff is not None else None
    if cap is not None and min_live_cost(model, fixed) > cap:
        # Every mask of the cube keeps at least its forced-live units' cheapest candidates.
        return _answer(clock, CubeState.CLOSED, cutoff, cutoff)

    def consider(choice: list[int] | None) -> None:
        nonlocal best
        if choice is None:
            return
        cert = run.domain.certify(model.mask(choice))
        if cert.error <= eps and (
            best is None or (cert.kept, cert.error) < (best[0].kept, best[0].error)
        ):
            best = (cert, list(choice))

    # The incumbent moved into the cube, else the full network moved into it: a hint, and, if
    # it certifies within eps, a mask of the cube that any infeasibility claim must respect.
    hint = repair(model, incumbent if incumbent is not None else run.full_choice(None), fixed)
    consider(hint)
    run.ensure_active([hint, run.full_choice(None)])
    run.reserve_certificates(len(hint))
    relaxed = run.solve_rows(MinKeptTask(max_error=eps, restrict=False, max_kept=cap), hint)
    bound: int | float = relaxed.kept_bound or 0
    # What the capped relaxation proves: masks it excludes keep >= K = cap + 1.
    closed_bound: int | float = math.inf if cap is None else cap + 1
    bound = min(bound, closed_bound)
    if relaxed.status == BackendStatus.INFEASIBLE:
        if best is not None and (cap is None or best[0].kept <= cap):
            # A certified mask of the cube within eps that the capped relaxation should have
            # held: the claim is refuted.
            return _kept_answer(clock, CubeState.REFUTED, 0, cutoff, best)
        run.cutoff = None  # a min_error solve over the whole cube, with no error cap
        if run.backend.proves_cutoff or error_above(run, eps, cap):
            return _kept_answer(clock, CubeState.CLOSED, closed_bound, cutoff, best)
        return _kept_answer(clock, CubeState.OPEN, 0, cutoff, best)
    consider(relaxed.chosen)
    if (best is None or best[0].kept > bound) and not run.out_of_time():
        # The relaxation's mask misses eps by the rounding (or is not the cube's fewest yet):
        # the restriction's masks meet eps truly (solver.engine.kept).
        restart = relaxed.chosen if relaxed.chosen is not None else hint
        restricted = run.solve_rows(
            MinKeptTask(max_error=eps, restrict=True, max_kept=cap), restart
        )
        consider(restricted.chosen)
    if best is not None and bound > best[0].kept:
        return _kept_answer(clock, CubeState.REFUTED, 0, cutoff, best)
    if best is not None and best[0].kept == bound:
        state = CubeState.OPTIMAL
    elif cutoff is not None and bound >= cutoff:
        state = CubeState.CLOSED
    else:
        state = CubeState.OPEN
    return _kept_answer(clock, state, bound, cutoff, best)


def _kept_answer(clock, state, bound, cutoff, best) -> CubeAnswer:
    if best is None:
        return _answer(clock, state, bound, cutoff)
    cert, choice = best
    return _answer(clock, state, bound, cutoff, choice, cert.error, cert.kept)
