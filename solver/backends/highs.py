"""HiGHS (PuLP's HiGHS class on highspy): doubles in memory, delta = 2**-53; mip_dual_bound is the
dual bound. HiGHS is stopped through its MIP interrupt callback, reports incumbents and bounds
through its callbacks, and takes the seed (random_seed). The hint is a MIP start; HiGHS 1.16 can
lose presolve's objective offset with a feasible start (reporting a solution's objective, and its
bound, too low), so a result whose values do not match its reported objective sends HiGHS back to
solve once more without the start. Its thread pool is process-wide and fixed by its first solve
(changing ``threads`` later fails the solve), so options.threads is not passed to HiGHS; its
branch and bound runs on one thread.

The shared model and the safety margin: solver/backends/pulp_model.py, floatmip.py.
"""

from __future__ import annotations

import math
import os
import threading
from functools import cache

import numpy as np

from solver.backends import floatmip
from solver.backends.base import (
    Backend,
    BackendOptions,
    BackendOutcome,
    BackendStatus,
    MinErrorTask,
    Task,
    line_relay,
)
from solver.backends.pulp_model import SEED_RANGE, pulp_problem
from solver.formulation.columns import ColumnModel

HIGHS_TOLERANCES = floatmip.Tolerances(gap=1e-9)


_banner_lock = threading.Lock()
_banner_done = False


def _silence_highs_banner() -> None:
    """HiGHS prints its banner on stdout when the process's first Highs object is built,
    before any option can turn output off; that line would corrupt machine-readable output
    (e.g. `prunecert solve --json`). Build that first object with stdout pointed elsewhere."""
    global _banner_done
    with _banner_lock:
        if _banner_done:
            return
        import sys

        import highspy

        sys.stdout.flush()
        saved = os.dup(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)
        _banner_done = True


@cache
def _highs_solver_class():
    """pulp.HiGHS, extended to set a hint, observe the search and stop it (PuLP is imported
    lazily, so the subclass is made on first use)."""
    import pulp

    class Solver(pulp.HiGHS):
        def __init__(self, hint, watch, **kwargs):
            super().__init__(**kwargs)
            self.hint = hint  # [(PuLP variable, value)] or None
            self.watch = watch
            self.report: dict = {}

        def callSolver(self, lp):
            highs = lp.solverModel
            self.watch(highs)  # callbacks, and the time left after building (BackendOptions)
            if self.hint is not None:
                # buildSolverModel has numbered the columns (var.index).
                highs.setSolution(
                    len(self.hint),
                    np.array([var.index for var, _ in self.hint], dtype=np.int32),
                    np.array([value for _, value in self.hint], dtype=float),
                )
            highs.run()
            info = highs.getInfo()
            self.report = {
                "status": highs.getModelStatus(),
                "dual_bound": info.mip_dual_bound,
                "objective": info.objective_function_value,
                "has_solution": info.primal_solution_status == 2,  # kSolutionStatusFeasible
                "values": list(highs.getSolution().col_value),
            }

    return Solver


class HighsBackend(Backend):
    name = "highs"
    fixes_units = True  # floatmip.build fixes them (solver/engine/cubes.py)
    supports_early_stop = True

    @classmethod
    def available(cls) -> bool:
        try:
            import highspy  # noqa: F401
            import pulp
        except ImportError:
            return False
        return bool(pulp.HiGHS(msg=False).available())

    @classmethod
    def version(cls) -> str:
        import highspy
        import pulp

        _silence_highs_banner()
        return f"{highspy.Highs().version()} (PuLP {pulp.__version__})"

    def solve(
        self, model: ColumnModel, rows: np.ndarray, task: Task, options: BackendOptions
    ) -> BackendOutcome:
        mip, skipped = floatmip.build_or_skip(model, rows, task, options, HIGHS_TOLERANCES, "HiGHS")
        if skipped is not None:
            return skipped
        _silence_highs_banner()
        tol = HIGHS_TOLERANCES
        params = {
            "mip_feasibility_tolerance": tol.integrality,
            "primal_feasibility_tolerance": tol.feasibility,
            "dual_feasibility_tolerance": tol.feasibility,
            # Entries at or below small_matrix_value are dropped (default 1e-9); 1e-12 is its
            # least value. The margin counts every entry up to drop_below = 1e-9 as droppable,
            # which also covers presolve removing entries too small to change a row beyond
            # the feasibility tolerance.
            "small_matrix_value": 1e-12,
        }
        if options.seed is not None:
            params["random_seed"] = int(options.seed) % SEED_RANGE
        if options.log is not None:
            params["log_to_console"] = False  # the log goes to options.log (watch, below)
        min_error = isinstance(task, MinErrorTask)
        costs = [cand.cost for cand in model.candidates]

        def watch(highs, variables) -> None:
            if options.deadline is not None:
                # What PuLP's model building left of the time limit.
                highs.setOptionValue("time_limit", options.seconds_left())
            if options.log is not None:
                # The log to options.log instead of the console (prunecert solve --log-solver).
                relay = line_relay(options.log)
                highs.cbLogging.subscribe(lambda event: relay(event.message))
            stop = options.stop
            if stop is not None:

                def interrupt(event) -> None:
                    if stop.is_set():
                        event.interrupt()

                highs.cbMipInterrupt.subscribe(interrupt)
            if options.on_incumbent is not None:
                on_incumbent = options.on_incumbent

                def incumbent(event) -> None:
                    x = event.data_out.mip_solution  # by HiGHS column (PuLP's var.index)
                    kept = sum(
                        costs[c] for c in range(mip.num_candidates) if x[variables[c].index] > 0.5
                    )
                    error = event.data_out.objective_function_value if min_error else math.nan
                    on_incumbent(error, kept)

                highs.cbMipImprovingSolution.subscribe(incumbent)
            if options.on_bound is not None and min_error:
                on_bound = options.on_bound
                best = [-math.inf]

                def bound(event) -> None:
                    value = event.data_out.mip_dual_bound
                    if math.isfinite(value) and value > best[0]:
                        best[0] = value
                        on_bound(mip.error_bound(value))

                highs.cbMipInterrupt.subscribe(bound)

        def run(time_limit: float | None, hint: bool) -> floatmip.RawResult:
            problem, variables = pulp_problem(mip)
            solver = _highs_solver_class()(
                list(zip(variables, mip.hint, strict=True)) if hint and mip.hint else None,
                lambda highs: watch(highs, variables),
                msg=options.log is not None,  # False also turns HiGHS's log callback off
                gapRel=0,
                gapAbs=0,
                timeLimit=None if time_limit is None else float(time_limit),
                **params,
            )
            problem.solve(solver)
            return _highs_result(mip, solver.report, variables)

        raw = run(options.seconds_left(), hint=True)
        if mip.hint is not None and not mip.consistent(raw):
            # HiGHS 1.16 can lose presolve's objective offset when the MIP start is feasible
            # (it then reports a solution with objective 3 as optimal at 0): once more,
            # without the start, in the time left.
            left = options.seconds_left()
            if left is None or left > 0:
                raw = run(left, hint=False)
        return floatmip.finish(mip, model, rows, task, options, raw, HIGHS_TOLERANCES)


def _highs_result(mip: floatmip.FloatMip, report: dict, variables: list) -> floatmip.RawResult:
    import highspy

    values_by_column = report.get("values", [])
    raw = floatmip.RawResult(BackendStatus.NO_SOLUTION)
    status = report.get("status")
    model_status = highspy.HighsModelStatus
    integer_model = mip.binary_variables > 0
    dual_bound = report.get("dual_bound") if integer_model else None
    if report.get("has_solution") and values_by_column:
        raw.values = [values_by_column[v.index] for v in variables]
        raw.objective = report["objective"]
        if status == model_status.kOptimal:
            raw.status = BackendStatus.OPTIMAL
            # An LP (no integer variable) has no MIP dual bound: its optimum is the bound.
            objective = report["objective"]
            dual_bound = objective if dual_bound is None else min(dual_bound, objective)
        else:
            raw.status = BackendStatus.FEASIBLE
    elif status == model_status.kInfeasible:
        raw.status = BackendStatus.INFEASIBLE
    raw.dual_bound = dual_bound
    return raw
