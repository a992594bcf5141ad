"""SCIP (through OR-Tools' pywraplp) on the shared float64 model (solver/backends/floatmip.py).

SCIP is told the tolerances the safety margin assumes: numerics/feastol (primal feasibility
and integrality) and numerics/dualfeastol 1e-9, numerics/epsilon (its pruning and comparison
epsilon) 1e-9, numerics/sumepsilon 1e-9, limits/gap and limits/absgap 0. SCIP treats every value
below numerics/epsilon as zero, so matrix entries of at most 1e-9 may vanish: the margin's term
D (floatmip) adds, per row, the largest sum of such entries over a choice. Coefficients reach
SCIP as doubles in memory, so
delta = 2**-53. The dual bound is SCIP's best bound; floatmip.finish lowers it by the margin

    margin = 2**-53 * A + 1e-9 * (H + A) + (4e-9 + 1e-9) * (1 + A) + D,

A the largest row activity and H the largest row sum of |coefficients| (floatmip's docstring
derives it), and cross-checks it against the exact error of SCIP's choice. SCIP can be
interrupted from another thread (InterruptSolve), so options.stop stops it early; seeds shift
SCIP's random seeds (randomization/randomseedshift). OR-Tools runs SCIP single-threaded whatever
options.threads says. SCIP reports no incumbents through pywraplp, so on_incumbent and on_bound
are not called. Its log (options.log) is read from stdout, the only place SCIP writes it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading
from functools import cache

import numpy as np

from solver.backends import floatmip
from solver.backends.base import (
    Backend,
    BackendOptions,
    BackendOutcome,
    BackendStatus,
    Task,
)
from solver.formulation.columns import ColumnModel

TOLERANCES = floatmip.Tolerances(
    coefficient=floatmip.DOUBLE_ROUNDING,
    feasibility=floatmip.FEASIBILITY_TOLERANCE,
    integrality=floatmip.FEASIBILITY_TOLERANCE,  # SCIP checks integrality with feastol
    gap=1e-9,  # numerics/epsilon
    drop_below=1e-9,  # numerics/epsilon: SCIP treats |values| below it as 0 (drops entries)
)
_SEED_RANGE = 2**31 - 1


def _parameters(options: BackendOptions) -> str:
    params = {
        "numerics/feastol": f"{TOLERANCES.feasibility:.17g}",
        "numerics/dualfeastol": f"{TOLERANCES.feasibility:.17g}",
        "numerics/epsilon": f"{TOLERANCES.drop_below:.17g}",
        # Sums below sumepsilon count as 0 (default 1e-6): at epsilon, within D's 4 theta.
        "numerics/sumepsilon": f"{TOLERANCES.drop_below:.17g}",
        "limits/gap": "0",
        "limits/absgap": "0",
    }
    if options.seed is not None:
        params["randomization/randomseedshift"] = str(int(options.seed) % _SEED_RANGE)
    return "".join(f"{key} = {value}\n" for key, value in params.items())


@cache
def _scip_available() -> bool:
    # Creating a SCIP solver takes ~5 ms: checked once per process.
    try:
        from ortools.linear_solver import pywraplp
    except ImportError:
        return False
    return pywraplp.Solver.CreateSolver("SCIP") is not None


@cache
def _scip_version() -> str:
    from ortools.linear_solver import pywraplp

    solver = pywraplp.Solver.CreateSolver("SCIP")
    if solver is None:
        return "unavailable"
    # e.g. "SCIP 10.0.0 [LP solver: SoPlex 8.0.0]" -> "10.0.0 [LP solver: SoPlex 8.0.0]"
    return solver.SolverVersion().removeprefix("SCIP ").strip()


@contextlib.contextmanager
def stdout_lines_to(log):
    """File descriptor 1 into a pipe whose lines go to ``log`` while the block runs: SCIP writes
    its log to the C library's stdout and pywraplp offers no other place for it. Only with
    --log-solver (BackendOptions.log): whatever else the process writes to stdout meanwhile
    goes to ``log`` too, and nothing is lost or left in stdout."""
    sys.stdout.flush()
    libc = ctypes.CDLL(None)
    saved = os.dup(1)
    read_end, write_end = os.pipe()

    def relay() -> None:
        with os.fdopen(read_end, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                log(line.rstrip("\n"))

    reader = threading.Thread(target=relay, daemon=True)
    reader.start()
    os.dup2(write_end, 1)
    os.close(write_end)
    try:
        yield
    finally:
        libc.fflush(None)  # SCIP's buffered lines into the pipe, not into the real stdout
        os.dup2(saved, 1)  # closes the pipe's last write end: the reader reaches its end
        os.close(saved)
        reader.join()


class ScipBackend(Backend):
    name = "scip"
    fixes_units = True  # floatmip.build fixes them (solver/engine/cubes.py)
    supports_early_stop = True

    @classmethod
    def available(cls) -> bool:
        return _scip_available()

    @classmethod
    def version(cls) -> str:
        import ortools

        return f"{_scip_version()} (OR-Tools {ortools.__version__})"

    def solve(
        self, model: ColumnModel, rows: np.ndarray, task: Task, options: BackendOptions
    ) -> BackendOutcome:
        from ortools.linear_solver import pywraplp

        mip, skipped = floatmip.build_or_skip(model, rows, task, options, TOLERANCES, "SCIP")
        if skipped is not None:
            return skipped

        solver = pywraplp.Solver.CreateSolver("SCIP")
        if solver is None:
            raise RuntimeError("OR-Tools was built without SCIP")
        infinity = solver.infinity()
        stopped = floatmip.trivial(mip, task, BackendStatus.NO_SOLUTION)
        variables = [
            solver.IntVar(lo, hi, name) if integer else solver.NumVar(lo, hi, name)
            for lo, hi, integer, name in zip(
                mip.lower, mip.upper, mip.integer, mip.names, strict=True
            )
        ]
        for n, row in enumerate(mip.rows):
            if n % floatmip.CHECK_ROWS == 0 and options.expired():
                return stopped
            constraint = solver.Constraint(-infinity, row.rhs)
            for i, a in zip(row.index, row.coef, strict=True):
                constraint.SetCoefficient(variables[i], a)
        objective = solver.Objective()
        for i, a in mip.objective:
            objective.SetCoefficient(variables[i], a)
        objective.SetMinimization()

        if not solver.SetSolverSpecificParametersAsString(_parameters(options)):
            raise RuntimeError("SCIP rejected its parameters")
        params = pywraplp.MPSolverParameters()
        params.SetDoubleParam(params.RELATIVE_MIP_GAP, 0.0)
        params.SetDoubleParam(params.PRIMAL_TOLERANCE, TOLERANCES.feasibility)
        params.SetDoubleParam(params.DUAL_TOLERANCE, TOLERANCES.feasibility)
        if options.expired():
            return stopped
        left = options.seconds_left()  # what building the model left of the time limit
        if left is not None:
            solver.SetTimeLimit(max(1, int(left * 1000)))
        if options.threads:
            solver.SetNumThreads(int(options.threads))
        if mip.hint is not None:
            solver.SetHint(variables, mip.hint)

        done = threading.Event()
        if options.stop is not None:
            stop = options.stop

            def watch() -> None:
                # SCIP forgets an interrupt that arrives before its solve starts: repeat it
                # until the solve returns.
                while not done.is_set():
                    if stop.wait(0.05):
                        solver.InterruptSolve()
                        done.wait(0.05)

            threading.Thread(target=watch, daemon=True).start()
        try:
            if options.log is None:
                status = solver.Solve(params)
            else:
                solver.EnableOutput()
                with stdout_lines_to(options.log):
                    status = solver.Solve(params)
        finally:
            done.set()

        raw = floatmip.RawResult(BackendStatus.NO_SOLUTION)
        if status in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
            raw.status = (
                BackendStatus.OPTIMAL
                if status == pywraplp.Solver.OPTIMAL
                else BackendStatus.FEASIBLE
            )
            raw.values = [v.solution_value() for v in variables]
            raw.objective = objective.Value()
            raw.dual_bound = objective.BestBound()
        elif status == pywraplp.Solver.INFEASIBLE:
            raw.status = BackendStatus.INFEASIBLE
        elif status == pywraplp.Solver.MODEL_INVALID:
            raise RuntimeError("SCIP rejected the model as invalid")
        else:
            bound = objective.BestBound()
            raw.dual_bound = bound if abs(bound) < infinity else None
        return floatmip.finish(mip, model, rows, task, options, raw, TOLERANCES)
