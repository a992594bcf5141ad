"""One cube of a distributed solve (docs/design.md §16): the min_error solve of the masks that
meet the cube's decisions, with the best certified error so far as a cutoff.

What a cube proves, with U = cutoff - tolerance:
- its backend's rigorous bound b (capped at U by the model, so b <= U): every mask of the cube
  has exact error >= b (masks above U have error > U >= b);
- an INFEASIBLE answer under the cap, from a backend that ``proves_cutoff`` (CP-SAT): every mask
  of the cube has exact error > U, so U is the cube's bound;
- its best choice, certified exactly on every point by the engine's own ExactDomain.

Float backends get no cap (their infeasibility claims prove nothing, floatmip.py): they solve the
cube with only its hint as upper bound.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from fractions import Fraction

from solver.backends import get_backend
from solver.backends.base import BackendStatus, MinErrorTask
from solver.core.parameters import SolveParameters
from solver.core.problem import MinError, Problem
from solver.engine.run import Run
from solver.formulation.columns import ColumnModel
from solver.formulation.deadline import DeadlineReached


class CubeState:
    """CubeAnswer.state values."""

    OPTIMAL = "optimal"  # its best mask is within the tolerance of its bound
    CLOSED = "closed"  # no mask of the cube beats the cutoff by more than the tolerance
    OPEN = "open"  # stopped by its time slice (or a stop) with a gap
    REFUTED = "refuted"  # a certified mask lies below the backend's bound: the bound is dropped


@dataclass
class CubeAnswer:
    """What a cube sends back: exact Fractions (pickled as such), so nothing is rounded on the
    way to the global certificate."""

    state: str
    bound: Fraction  # every mask of the cube has exact error >= bound
    chosen: list[int] | None  # the model's candidates of the cube's best mask
    error: Fraction | None  # its exact error on every point
    cutoff: Fraction | None  # U, the cap the cube was solved under
    seconds: float
    cpu_seconds: float


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
    cutoff_error: Fraction | None,
    stop: threading.Event | None = None,
) -> CubeAnswer:
    """The cube's min_error solve within params.time_limit_seconds (its slice). ``incumbent``:
    the best certified choice so far (repaired into the cube as its hint); ``cutoff_error``: its
    exact error (the cube looks for masks below it by more than the tolerance)."""
    began, cpu = time.monotonic(), time.process_time()
    objective = problem.objective
    assert isinstance(objective, MinError)
    tol = Fraction(params.effective_tolerance)
    cube_params = dataclasses.replace(params, sparsest=False, cross_check=None)
    backend = get_backend(params.backend)
    cutoff = None
    if cutoff_error is not None and backend.proves_cutoff:
        cutoff = cutoff_error - tol

    def answer(state, bound, chosen=None, error=None) -> CubeAnswer:
        return CubeAnswer(
            state,
            bound,
            chosen,
            error,
            cutoff,
            time.monotonic() - began,
            time.process_time() - cpu,
        )

    try:
        run = Run(problem, cube_params, None, stop)
    except DeadlineReached:
        return answer(CubeState.OPEN, Fraction(0))
    run.use(backend)
    run.fixed_units = dict(fixed)
    run.cutoff = cutoff
    model = run.model
    hint = None
    if incumbent is not None:
        hint = repair(model, incumbent, fixed)
        if objective.max_kept is not None and model.kept(hint) > objective.max_kept:
            hint = None
    run.ensure_active([hint or [], run.full_choice(objective.max_kept)])
    task = MinErrorTask(max_kept=objective.max_kept)
    rows = run.solve_rows(task, hint)
    if rows.status == BackendStatus.INFEASIBLE and cutoff is not None:
        # Proven: every mask of the cube errs by more than the cutoff (docstring).
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
        and backend.refines
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
