"""CBC and HiGHS through PuLP, on the shared float64 model (solver/backends/floatmip.py).

Both backends build one PuLP problem from the same FloatMip and set the tolerances the safety
margin assumes (primal and dual feasibility and integrality 1e-9, relative and absolute gap 0).
floatmip.finish lowers each reported dual bound by the margin (floatmip's docstring)

    margin = delta * A + eps_int * (H + A) + (4 eps_feas + eps_gap) * (1 + A),

A the largest row activity and H the largest row sum of |coefficients|, and cross-checks it
against the exact error of the returned choice.

CBC (PuLP's COIN_CMD on the CBC binary PuLP bundles): PuLP writes an MPS file with 13
significant digits, so delta = 5.0002e-13 (decimal rounding plus two binary roundings); the
right-hand sides and bounds in that file move by as little relative to |y_k| + |c0| <= A (the
delta term) or to t's bounds (far inside the eps terms). CBC's
cutoff increment is set to eps_gap = 1e-9 for min_error (for min_kept CBC derives the
increment 1 of the integer objective itself). CBC reports only 8 significant digits of the
incumbent and 3 decimals of a stopped search's lower bound (its log); both are lowered by that
reporting precision before the margin applies. PuLP runs CBC as a child process it does not
expose, so a CBC solve cannot be stopped early: supports_early_stop is False, and options.stop
is only checked before the solve starts. Threads, seed (randomCbcSeed) and time limit are passed.
The hint is a MIP start; CBC 2.10.3 sometimes writes a corrupt solution file (values outside its
own bounds) when the start is already optimal, so a solution that fails the FloatMip screen
sends CBC back to solve once more without the start.

HiGHS (PuLP's HiGHS class on highspy): doubles in memory, delta = 2**-53; mip_dual_bound is the
dual bound. HiGHS is stopped through its MIP interrupt callback, reports incumbents and bounds
through its callbacks, and takes the seed (random_seed). The hint is a MIP start; HiGHS 1.16 can
lose presolve's objective offset with a feasible start (reporting a solution's objective, and its
bound, too low), so a result whose values do not match its reported objective sends HiGHS back to
solve once more without the start. Its thread pool is process-wide and fixed by its first solve
(changing ``threads`` later fails the solve), so options.threads is not passed to HiGHS; its
branch and bound runs on one thread.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from decimal import Decimal, InvalidOperation
from fractions import Fraction
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
)
from solver.formulation.columns import ColumnModel

_SEED_RANGE = 2**31 - 1
# PuLP writes MPS coefficients as "% .12e": 13 significant digits, relative error <= 5e-13,
# then CBC parses them into doubles (and they were doubles before).
_MPS_ROUNDING = 5.0002e-13
# CBC writes solution values with 8 significant digits ("%15.8g").
_CBC_VALUE_PRECISION = Fraction(51, 10**9)
CBC_TOLERANCES = floatmip.Tolerances(coefficient=_MPS_ROUNDING, gap=1e-9)
HIGHS_TOLERANCES = floatmip.Tolerances(gap=1e-9)


def _pulp_problem(mip: floatmip.FloatMip):
    """The PuLP problem of a FloatMip, and its variables in FloatMip order."""
    import pulp

    problem = pulp.LpProblem("prunecert", pulp.LpMinimize)
    variables = [
        problem.add_variable(
            name, lowBound=lo, upBound=hi, cat=pulp.LpInteger if integer else pulp.LpContinuous
        )
        for name, lo, hi, integer in zip(mip.names, mip.lower, mip.upper, mip.integer, strict=True)
    ]
    # Every variable enters the objective (most with 0) so that PuLP registers it even when it
    # appears in no row: PuLP only knows the variables of the objective and the rows.
    objective = dict.fromkeys(range(mip.num_vars), 0.0)
    objective.update(dict(mip.objective))
    problem.setObjective(pulp.LpAffineExpression([(variables[i], a) for i, a in objective.items()]))
    for n, row in enumerate(mip.rows):
        expr = pulp.LpAffineExpression(
            [(variables[i], a) for i, a in zip(row.index, row.coef, strict=True)]
        )
        problem.addConstraint(
            pulp.LpConstraint(expr, sense=pulp.LpConstraintLE, rhs=row.rhs), name=f"r{n}"
        )
    return problem, variables


# -- CBC ------------------------------------------------------------------------------------


def _cbc_path() -> str | None:
    try:
        from pulp.apis.coin_api import PULP_CBC_CMD
    except ImportError:
        return None
    bundled = PULP_CBC_CMD.pulp_cbc_path
    if os.path.isfile(bundled) and os.access(bundled, os.X_OK):
        return bundled
    return shutil.which("cbc")


@cache
def _cbc_version(path: str) -> str:
    try:
        banner = subprocess.run(
            [path, "-quit"],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    found = re.search(r"Version:\s*(\S+)", banner)
    return found.group(1) if found else "unknown"


_LOWER_BOUND = re.compile(r"^Lower bound:\s*(\S+)", re.MULTILINE)
_OBJECTIVE = re.compile(r"^Objective value:\s*(\S+)", re.MULTILINE)


def _cbc_logged_objective(log: str) -> float | None:
    """The incumbent's objective as CBC's log states it (8 decimals), for a consistency check."""
    found = _OBJECTIVE.search(log)
    if not found:
        return None
    try:
        value = float(found.group(1))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _cbc_logged_bound(log: str) -> Fraction | None:
    """A stopped search's lower bound from CBC's log (printed with 3 decimals), lowered by
    half a unit of its last printed digit."""
    found = _LOWER_BOUND.search(log)
    if not found:
        return None
    try:
        value = Decimal(found.group(1))
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    last_digit = Fraction(10) ** value.as_tuple().exponent
    return Fraction(value) - last_digit / 2


class CbcBackend(Backend):
    name = "cbc"
    supports_early_stop = False

    @classmethod
    def available(cls) -> bool:
        return _cbc_path() is not None

    @classmethod
    def version(cls) -> str:
        import pulp

        path = _cbc_path()
        return f"{_cbc_version(path) if path else 'unavailable'} (PuLP {pulp.__version__})"

    def solve(
        self, model: ColumnModel, rows: np.ndarray, task: Task, options: BackendOptions
    ) -> BackendOutcome:
        mip, skipped = floatmip.build_or_skip(model, rows, task, options, CBC_TOLERANCES, "CBC")
        if skipped is not None:
            return skipped
        path = _cbc_path()
        if path is None:
            raise RuntimeError("the CBC binary is missing")
        start = time.monotonic()
        raw = self._run(mip, task, options, options.time_limit, path, warm_start=True)
        if mip.hint is not None and not mip.consistent(raw):
            # CBC 2.10.3 can write a corrupt solution file after a MIP start that is already
            # optimal (it then finds the LP relaxation with the cutoff infeasible): once more,
            # without the start, in the time left.
            left = options.time_limit
            if left is not None:
                left -= time.monotonic() - start
            if left is None or left > 0:
                raw = self._run(mip, task, options, left, path, warm_start=False)
        return floatmip.finish(mip, model, rows, task, options, raw, CBC_TOLERANCES)

    @staticmethod
    def _run(
        mip: floatmip.FloatMip,
        task: Task,
        options: BackendOptions,
        time_limit: float | None,
        path: str,
        warm_start: bool,
    ) -> floatmip.RawResult:
        import pulp
        from pulp.apis.coin_api import COIN_CMD

        problem, variables = _pulp_problem(mip)
        warm_start = warm_start and mip.hint is not None
        if warm_start:
            for var, value in zip(variables, mip.hint, strict=True):
                var.setInitialValue(value)
        tol = CBC_TOLERANCES
        cbc_options = [
            f"integerTolerance {tol.integrality:g}",
            f"primalTolerance {tol.feasibility:g}",
            f"dualTolerance {tol.feasibility:g}",
        ]
        if isinstance(task, MinErrorTask):
            cbc_options.append(f"increment {tol.gap:g}")
        if options.seed is not None:
            cbc_options.append(f"randomCbcSeed {int(options.seed) % _SEED_RANGE}")
        with tempfile.TemporaryDirectory(prefix="prunecert-cbc-") as tmp:
            log_path = os.path.join(tmp, "cbc.log")
            solver = COIN_CMD(
                path=path,
                msg=False,
                logPath=log_path,
                gapRel=0,
                gapAbs=0,
                timeLimit=None if time_limit is None else float(time_limit),
                threads=int(options.threads) if options.threads else None,
                warmStart=warm_start,
                options=cbc_options,
            )
            solver.tmpDir = tmp
            problem.solve(solver)
            with open(log_path, encoding="utf-8", errors="replace") as handle:
                log = handle.read()

        raw = floatmip.RawResult(BackendStatus.NO_SOLUTION)
        sol_status = problem.sol_status
        if sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
            raw.values = [v.varValue if v.varValue is not None else 0.0 for v in variables]
            raw.objective = _cbc_logged_objective(log)
            if sol_status == pulp.LpSolutionOptimal:
                raw.status = BackendStatus.OPTIMAL
                # CBC stops when no open node's bound is below the incumbent's objective
                # less the cutoff increment (eps_gap, part of the margin). The objective is
                # recomputed from the printed values: lowered by their 8-digit precision.
                terms = [Fraction(raw.values[i]) * Fraction(a) for i, a in mip.objective]
                raw.dual_bound = sum(terms) - sum(map(abs, terms)) * _CBC_VALUE_PRECISION
            else:
                raw.status = BackendStatus.FEASIBLE
                raw.dual_bound = _cbc_logged_bound(log)
        elif sol_status == pulp.LpSolutionInfeasible:
            raw.status = BackendStatus.INFEASIBLE
        else:
            raw.dual_bound = _cbc_logged_bound(log)
        return raw


# -- HiGHS ----------------------------------------------------------------------------------

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
            self.watch(highs)
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
        }
        if options.seed is not None:
            params["random_seed"] = int(options.seed) % _SEED_RANGE
        min_error = isinstance(task, MinErrorTask)
        costs = [cand.cost for cand in model.candidates]

        def watch(highs, variables) -> None:
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
            problem, variables = _pulp_problem(mip)
            solver = _highs_solver_class()(
                list(zip(variables, mip.hint, strict=True)) if hint and mip.hint else None,
                lambda highs: watch(highs, variables),
                msg=False,
                gapRel=0,
                gapAbs=0,
                timeLimit=None if time_limit is None else float(time_limit),
                **params,
            )
            problem.solve(solver)
            return _highs_result(mip, solver.report, variables)

        start = time.monotonic()
        raw = run(options.time_limit, hint=True)
        if mip.hint is not None and not mip.consistent(raw):
            # HiGHS 1.16 can lose presolve's objective offset when the MIP start is feasible
            # (it then reports a solution with objective 3 as optimal at 0): once more,
            # without the start, in the time left.
            left = options.time_limit
            if left is not None:
                left -= time.monotonic() - start
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
