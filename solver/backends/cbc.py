"""CBC (PuLP's COIN_CMD on the CBC binary PuLP bundles): PuLP writes an MPS file with 13
significant digits, so delta = 5.0002e-13 (decimal rounding plus two binary roundings); the
right-hand sides and bounds in that file move by as little relative to |y_k| + |c0| <= A (the
delta term) or to t's bounds (far inside the eps terms). CBC's
cutoff increment is set to eps_gap = 1e-9 for min_error (for min_kept CBC derives the
increment 1 of the integer objective itself). CBC reports only 8 significant digits of the
incumbent and 3 decimals of a stopped search's lower bound (its log); both are lowered by that
reporting precision before the margin applies. PuLP runs CBC as a child process it does not
expose, so a CBC solve cannot be stopped early: supports_early_stop is False, and options.stop
is only checked before the solve starts. Threads, seed (randomCbcSeed) and time limit are passed.
Its log (options.log) is read from the log file PuLP has it write, once the solve ends.
CBC gets no MIP start: started from a feasible choice, CBC 2.10.3 returned suboptimal choices as
optimal (a Pareto sweep's kept = 1 point at error 1.05 with "optimal" bound 1.0499999 where the
optimum is 1.04, started from the kept = 0 mask), and it wrote corrupt solution files when the
start was already optimal. The hint still caps t through options.error_upper_bound (an exact
value: the optimum is at most the hint's error), so it cannot turn into a claim.

The shared model and the safety margin: solver/backends/pulp_model.py, floatmip.py.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
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
    line_relay,
)
from solver.backends.pulp_model import SEED_RANGE, pulp_problem
from solver.formulation.columns import ColumnModel

# PuLP writes MPS coefficients as "% .12e": 13 significant digits, relative error <= 5e-13,
# then CBC parses them into doubles (and they were doubles before).
_MPS_ROUNDING = 5.0002e-13
# CBC writes solution values with 8 significant digits ("%15.8g").
_CBC_VALUE_PRECISION = Fraction(51, 10**9)
CBC_TOLERANCES = floatmip.Tolerances(coefficient=_MPS_ROUNDING, gap=1e-9)


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
    fixes_units = True  # floatmip.build fixes them (solver/engine/cubes.py)
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
        raw = self._run(mip, task, options, options.seconds_left(), path)
        return floatmip.finish(mip, model, rows, task, options, raw, CBC_TOLERANCES)

    @staticmethod
    def _run(
        mip: floatmip.FloatMip,
        task: Task,
        options: BackendOptions,
        time_limit: float | None,
        path: str,
    ) -> floatmip.RawResult:
        import pulp
        from pulp.apis.coin_api import COIN_CMD

        problem, variables = pulp_problem(mip)  # no MIP start (see the module docstring)
        tol = CBC_TOLERANCES
        cbc_options = [
            f"integerTolerance {tol.integrality:g}",
            f"primalTolerance {tol.feasibility:g}",
            f"dualTolerance {tol.feasibility:g}",
        ]
        if isinstance(task, MinErrorTask):
            cbc_options.append(f"increment {tol.gap:g}")
        if options.seed is not None:
            cbc_options.append(f"randomCbcSeed {int(options.seed) % SEED_RANGE}")
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
                warmStart=False,
                options=cbc_options,
            )
            solver.tmpDir = tmp
            problem.solve(solver)
            with open(log_path, encoding="utf-8", errors="replace") as handle:
                log = handle.read()
        if options.log is not None:
            # PuLP runs CBC as a child process writing this file: its log arrives at the end.
            line_relay(options.log)(log)

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
