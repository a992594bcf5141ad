"""solve(problem, parameters) -> SolveResult: validate, then dispatch to the heuristic mode, the
continuous box optimisation or the grid solve; and certify_and_compare for a given mask.

The grid solve builds the run (solver.engine.run), lets the backend registry choose among the
backends that accept the model and task (solver.backends.choose_backends), solves the objective
(solver.engine.objectives) and, if asked, cross-checks with a second backend.

Weights mode has two routes (docs/design.md §15): the pattern model (every pattern enumerated,
any backend) and the per-weight route (the lazy column model, the per-weight backend). "auto"
takes the per-weight route above the measured pattern count (solver.backends.per_weight_route)
or where the pattern model is over its limit; an explicit backend takes its own route, and one
that needs the patterns on an instance over their limit is refused naming --backend.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time

from solver.backends import AUTO, choose_backends, get_backend, prefer_per_weight
from solver.backends.base import Backend, task_for
from solver.backends.perweight import PerWeightCpSatBackend
from solver.core.errors import InvalidProblemError, ProblemTooLargeError
from solver.core.parameters import ContinuousMode, SolveParameters
from solver.core.problem import Mask, MinError, MinKept, Pareto, Problem, PruningMode
from solver.core.result import SolveResult, SolveStats, SolveStatus
from solver.core.validate import (
    DEFAULT_LIMITS,
    Limits,
    parameter_violation,
    per_weight_violations,
    validate_parameters,
    validate_problem,
    weight_patterns,
)
from solver.engine.box_optimize import optimize_result
from solver.engine.cross_check import cross_check, cross_check_backend
from solver.engine.heuristic_mode import solve_heuristic
from solver.engine.objectives import solve_min_error, solve_min_kept, solve_pareto
from solver.engine.run import ProgressCallback, Run, SolverLog
from solver.exact import box
from solver.exact.certify import ExactDomain, MaskCertificate
from solver.formulation.deadline import DeadlineReached


def validate_for_problem(problem: Problem, params: SolveParameters) -> None:
    """The parameter checks that depend on the problem (cheap: run them before queueing)."""
    if params.continuous is not None:
        why = box.check_supported(problem, optimize=params.continuous is ContinuousMode.OPTIMIZE)
        if why is not None:
            raise InvalidProblemError([parameter_violation("parameters.continuous", why)])


def solve(
    problem: Problem,
    parameters: SolveParameters | None = None,
    *,
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
    limits: Limits = DEFAULT_LIMITS,
    solver_log: SolverLog | None = None,
) -> SolveResult:
    """Solve ``problem`` exactly; see SolveResult for what each status certifies.

    The time limit is a deadline fixed now: every phase, building the model included, stops at
    it (docs/design.md §14). ``solver_log`` receives the backend's own search log, line by line
    (prunecert solve --log-solver)."""
    started = time.monotonic()
    validate_problem(problem, limits)
    params = parameters or SolveParameters()
    validate_parameters(params)
    validate_for_problem(problem, params)
    if params.heuristic is not None:
        result = solve_heuristic(problem, params, stop)
    elif params.continuous is ContinuousMode.OPTIMIZE:
        # The box loop's masks matter for their box error; a grid-sparsest swap between rounds
        # would only cost time (the sparsest step is a grid claim, docs/design.md §2).
        inner = dataclasses.replace(params, continuous=None, sparsest=False)
        grid_solve = functools.partial(solve, progress=progress, limits=limits)
        return optimize_result(problem, inner, stop, grid_solve)
    else:
        result = _solve_grid(problem, params, progress, stop, limits, started, solver_log)
    if params.continuous is ContinuousMode.EVALUATE and result.solution is not None:
        result.continuous = box.evaluate_figures(problem, result.solution.mask)
    return result


def _solve_grid(
    problem: Problem,
    params: SolveParameters,
    progress: ProgressCallback | None,
    stop: threading.Event | None,
    limits: Limits,
    started: float,
    solver_log: SolverLog | None,
) -> SolveResult:
    # Unknown or missing backends are refused before any work; for "auto" this is the general
    # backend the choice ends with, or the per-weight backend on its route (and the one a
    # cross-check must differ from).
    preferred = get_backend(params.backend)
    lazy = weights_route(problem, params, limits, preferred)
    if lazy and params.backend in AUTO:
        preferred = get_backend(PerWeightCpSatBackend.name)
    second = cross_check_backend(params, preferred.name)
    if second is not None:
        _check_cross_check(problem, limits, get_backend(second))
    try:
        run = Run(
            problem, params, progress, stop, started=started, solver_log=solver_log, lazy=lazy
        )
    except DeadlineReached as reached:
        return _unbuilt(reached, started, stop)
    if run.out_of_time():
        # What is left after building cannot pay for certifying a mask: no search is started.
        return run.result(
            SolveStatus.CANCELLED if run.cancelled() else SolveStatus.NO_SOLUTION,
            None,
            0.0,
            0.0,
            "time limit reached after building the model: too little time left to search and "
            f"certify a mask (certifying one takes about {run.certify_seconds:.2g} s here)",
        )
    task = task_for(problem)
    if params.backend in AUTO:
        backends = choose_backends(run.model, task)
    elif preferred.accepts(run.model, task):
        backends = [preferred]
    else:
        raise InvalidProblemError(
            parameter_violation(
                "parameters.backend",
                f"backend {preferred.name!r} does not accept this problem and objective",
            )
        )
    objective = problem.objective
    if isinstance(objective, MinError):
        result = solve_min_error(run, objective, backends)
    else:
        # min_kept and pareto pose many tasks: a general backend answers them.
        run.use(next(b for b in backends if not b.special_purpose))
        if isinstance(objective, MinKept):
            result = solve_min_kept(run, objective)
        else:
            assert isinstance(objective, Pareto)
            result = solve_pareto(run, objective)
    if second is not None and not isinstance(objective, Pareto):
        engine = functools.partial(solve, limits=limits, solver_log=solver_log)
        cross_check(problem, params, result, second, run.deadline.left(), stop, engine)
    return result


def weights_route(problem: Problem, params: SolveParameters, limits: Limits, backend: Backend):
    """Whether the solve takes the per-weight route (the lazy column model): "auto" where
    solver.backends.prefer_per_weight says so, an explicit backend that does not solve over the
    candidates (perweight-cpsat) always. An explicit backend that needs every pattern on an
    instance over limits.max_weight_candidates is refused (InvalidProblemError naming
    parameters.backend and --backend), and the per-weight route over its own limits too."""
    if problem.pruning != PruningMode.WEIGHTS:
        return False
    net = problem.network
    patterns = weight_patterns(net.n, net.d, net.outputs)
    if params.backend in AUTO:
        lazy = prefer_per_weight(problem, limits)
    else:
        lazy = not backend.solves_columns()
        if not lazy and patterns > limits.max_weight_candidates:
            raise InvalidProblemError(
                parameter_violation(
                    "parameters.backend",
                    f"backend {backend.name!r} solves weights mode's pattern model, which "
                    f"enumerates n * 2^d * (2^k - 1) = {patterns} patterns here, over the limit "
                    f"of {limits.max_weight_candidates}; use --backend "
                    f"{PerWeightCpSatBackend.name} or --backend auto (the per-weight "
                    "formulation, docs/design.md §15)",
                )
            )
    if lazy:
        bad = per_weight_violations(net.n, net.d, len(problem.points()), limits)
        if bad:
            if params.backend in AUTO and patterns <= limits.max_weight_candidates:
                return False  # "auto": the pattern model, within its limit, takes it
            if patterns <= limits.max_weight_candidates:
                bad.append(
                    parameter_violation(
                        "parameters.backend",
                        f"backend {backend.name!r} takes the per-weight route; the pattern "
                        f"model ({patterns} patterns) is within its limit: use --backend auto "
                        "or cpsat",
                    )
                )
            raise ProblemTooLargeError(bad)
    return lazy


def _check_cross_check(problem: Problem, limits: Limits, second: Backend) -> None:
    """Refuse a cross-check by a backend that needs every pattern on an instance whose patterns
    are over their limit (only the per-weight backend solves it: nothing to check it with)."""
    net = problem.network
    patterns = weight_patterns(net.n, net.d, net.outputs)
    if (
        problem.pruning == PruningMode.WEIGHTS
        and second.solves_columns()
        and patterns > limits.max_weight_candidates
    ):
        raise InvalidProblemError(
            parameter_violation(
                "parameters.cross_check",
                f"backend {second.name!r} solves weights mode's pattern model, which enumerates "
                f"n * 2^d * (2^k - 1) = {patterns} patterns here, over the limit of "
                f"{limits.max_weight_candidates}: no second backend can cross-check the "
                "per-weight formulation on this instance",
            )
        )


def _unbuilt(reached: DeadlineReached, started: float, stop: threading.Event | None):
    """The result of a solve whose time ran out (or that was stopped) while its model was being
    built: no mask, no bound but the trivial 0."""
    cancelled = stop is not None and stop.is_set()
    return SolveResult(
        status=SolveStatus.CANCELLED if cancelled else SolveStatus.NO_SOLUTION,
        stats=SolveStats(wall_time_seconds=time.monotonic() - started),
        detail=("cancelled" if cancelled else "time limit reached")
        + f" while {reached.phase}"
        + "; no mask was found",
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
        parameter_violation(
            f"parameters.{name}", "not with a certify comparison (grid optimum only)"
        )
        for name, value in (("heuristic", params.heuristic), ("continuous", params.continuous))
        if value is not None
    ]
    if refused:
        raise InvalidProblemError(refused)
    budget = dataclasses.replace(problem, objective=MinError(max_kept=cert.kept))
    return cert, solve(budget, parameters, stop=stop, limits=limits)
