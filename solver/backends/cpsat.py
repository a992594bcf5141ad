"""CP-SAT (OR-Tools) on a fixed-point model that is rigorous by construction.

CP-SAT needs integers. With scale S, each coefficient is rounded *outward* (docs/design.md
§7) so that the integer model is a relaxation of the exact one: for every mask, its
integer error T <= S * (exact error), hence the integer optimum T* gives the rigorous lower
bound T*/S on the exact optimum, whatever the rounding. For min_kept the same rounding gives
a relaxation (a rigorous bound on the count), and the opposite rounding a restriction (every
choice truly meets the error bound).

Per point k with pruned output o_k = sum_c h_kc x_c + c0 and target y_k, the error constraints
are (docs/design.md §4 for a ReLU output):
    identity:  o_k - y_k <= t   and   y_k - o_k <= t
    relu:      o_k - y_k <= t;   y_k < 0: t >= -y_k;   y_k > 0: (b_k => y_k - o_k <= t) and
               (not b_k => t >= y_k)
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from fractions import Fraction

import numpy as np

from solver import exact
from solver.backends.base import (
    ACTIVITY_BUDGET,
    Backend,
    BackendOptions,
    BackendOutcome,
    BackendStatus,
    MinErrorTask,
    MinKeptTask,
    Task,
)
from solver.core.errors import UnrepresentableError
from solver.core.problem import PruningMode
from solver.formulation.columns import ColumnModel

SMALL_MODEL_CANDIDATES = 32
# Machines with at most this many usable cores get the lower-bound worker (CpSatBackend.solve).
SMALL_MACHINE_CORES = 2


def choose_scale(model: ColumnModel, rows: np.ndarray, extra: Fraction = Fraction(0)) -> int:
    """The largest integer S keeping every constraint's activity within ACTIVITY_BUDGET."""
    cols = model.columns[rows]
    row_sums = np.abs(cols).sum(axis=1) + np.abs(model.target[rows]) + abs(model.bias)
    largest = int(max(row_sums.tolist(), default=0))
    largest_value = exact.to_fraction(largest, model.exp) + extra
    if largest_value == 0:
        return ACTIVITY_BUDGET
    return max(0, math.floor(Fraction(ACTIVITY_BUDGET) / largest_value))


def _floor(values, model: ColumnModel, scale: int):
    return exact.floor_scaled(np.asarray(values, dtype=object), model.exp, scale)


def _ceil(values, model: ColumnModel, scale: int):
    return exact.ceil_scaled(np.asarray(values, dtype=object), model.exp, scale)


class CpSatBackend(Backend):
    name = "cpsat"

    @classmethod
    def available(cls) -> bool:
        try:
            import ortools.sat.python.cp_model  # noqa: F401
        except ImportError:
            return False
        return True

    @classmethod
    def version(cls) -> str:
        import ortools

        return ortools.__version__

    def solve(
        self, model: ColumnModel, rows: np.ndarray, task: Task, options: BackendOptions
    ) -> BackendOutcome:
        from ortools.sat.python import cp_model

        rows = np.asarray(rows, dtype=np.int64)
        num = len(model.candidates)
        max_error = task.max_error if isinstance(task, MinKeptTask) else Fraction(0)
        scale = choose_scale(
            model, rows, max_error if isinstance(task, MinKeptTask) else Fraction(0)
        )
        if scale < 1:
            raise UnrepresentableError(
                "the network's values are too large for CP-SAT's fixed-point model: no integer "
                f"scale keeps every activity under {ACTIVITY_BUDGET}; rescale the network and target"
            )
        if options.tolerance is not None and Fraction(1, scale) > Fraction(options.tolerance):
            raise UnrepresentableError(
                "the network's values are too large for CP-SAT's fixed-point model: with every "
                f"activity under {ACTIVITY_BUDGET}, coefficients are multiples of 1/{scale}, "
                f"coarser than the tolerance {options.tolerance:g}; raise parameters.tolerance "
                "or rescale the network and target"
            )
        cp = cp_model.CpModel()
        x = [cp.new_bool_var(f"x{c}") for c in range(num)]
        for group in model.groups:
            if len(group) > 1:
                cp.add_at_most_one(x[c] for c in group)
        costs = [cand.cost for cand in model.candidates]

        cols = model.columns[rows]
        y = model.target[rows]
        y_values = [exact.to_fraction(int(v), model.exp) for v in y.tolist()]
        restrict = isinstance(task, MinKeptTask) and task.restrict
        # Upper side o - y: round down for a relaxation, up for a restriction.
        up_coefs = _ceil(cols, model, scale) if restrict else _floor(cols, model, scale)
        up_const = (
            int(_ceil([model.bias], model, scale)[0]) - _floor(y, model, scale)
            if restrict
            else int(_floor([model.bias], model, scale)[0]) - _ceil(y, model, scale)
        )
        # Lower side y - o: the opposite roundings.
        lo_coefs = _floor(cols, model, scale) if restrict else _ceil(cols, model, scale)
        lo_const = (
            _ceil(y, model, scale) - int(_floor([model.bias], model, scale)[0])
            if restrict
            else _floor(y, model, scale) - int(_ceil([model.bias], model, scale)[0])
        )
        floor_sy = _floor(y, model, scale)

        def expr(coefs, const, sign):
            terms = [(int(a), x[c]) for c, a in enumerate(coefs.tolist()) if a != 0]
            return sum(sign * a * v for a, v in terms) + int(const)

        enforced = False
        if isinstance(task, MinErrorTask):
            t_low = 0
            if model.output_relu:
                # relu(o) >= 0 forces t >= -y_k, so floor(S t) >= floor(-S y_k) = -ceil(S y_k).
                t_low = max([0] + [-int(v) for v in _ceil(y, model, scale).tolist()])
            # floor(S t*) <= floor(S * upper bound): capping t keeps the optimum feasible and
            # settles every ReLU disjunction whose alternative t >= y_k exceeds the cap.
            t_high = ACTIVITY_BUDGET
            if options.error_upper_bound is not None:
                t_high = max(t_low, min(t_high, math.floor(options.error_upper_bound * scale)))
            t = cp.new_int_var(t_low, t_high, "t")
            for k in range(len(rows)):
                cp.add(expr(up_coefs[k], up_const[k], 1) <= t)
                lower = expr(lo_coefs[k], lo_const[k], -1) <= t
                if not model.output_relu or int(floor_sy[k]) > t_high:
                    cp.add(lower)
                elif y_values[k] > 0:
                    active = cp.new_bool_var(f"b{k}")
                    cp.add(lower).only_enforce_if(active)
                    cp.add(t >= int(floor_sy[k])).only_enforce_if(~active)
                    enforced = True
            if task.max_kept is not None:
                cp.add(sum(costs[c] * x[c] for c in range(num)) <= task.max_kept)
            cp.minimize(t)
        else:
            eps = task.max_error
            bound = math.floor(eps * scale)
            for k in range(len(rows)):
                if model.output_relu and y_values[k] < -eps:
                    return BackendOutcome(
                        BackendStatus.INFEASIBLE, scale=scale, binary_variables=num
                    )
                cp.add(expr(up_coefs[k], up_const[k], 1) <= bound)
                if not model.output_relu or y_values[k] > eps:
                    cp.add(expr(lo_coefs[k], lo_const[k], -1) <= bound)
            cp.minimize(sum(costs[c] * x[c] for c in range(num)))

        if options.hint:
            hinted = set(options.hint)
            for c in range(num):
                cp.add_hint(x[c], c in hinted)

        solver = cp_model.CpSolver()
        params = solver.parameters
        # Ctrl-C is the caller's to handle (the CLI stops through options.stop): CP-SAT's own
        # SIGINT handler aborted the process (std::bad_function_call) when it solved in a thread.
        params.catch_sigint_signal = False
        if options.time_limit is not None:
            params.max_time_in_seconds = max(0.0, float(options.time_limit))
        if options.threads:
            params.num_workers = int(options.threads)
        elif num <= SMALL_MODEL_CANDIDATES:
            # Starting the parallel portfolio costs ~5 ms; one worker solves these in well
            # under a millisecond (bench/service.py measures the round trip).
            params.num_workers = 1
        elif (
            isinstance(task, MinErrorTask)
            and model.problem.pruning == PruningMode.NEURONS
            and usable_cores() <= SMALL_MACHINE_CORES
        ):
            # On two cores CP-SAT's default portfolio runs one full-problem worker
            # (default_lp); a second one searching for lower bounds tightened the 60-s brackets
            # of neurons n = 128 (bench/large.py, same run: median bound/error 0.66 vs 0.36)
            # and left neurons n = 32/64 unchanged (medians within noise); its masks were
            # sometimes worse. Only measured on two cores (with 3-4 CP-SAT already runs
            # no_lp/max_lp beside default_lp). Not in weights mode: it took CPU from the primal
            # search there (the grid model reaching 1e-6 on weights n = 64 fell from 4/5 to 1/5
            # seeds in 60 s).
            params.num_workers = 3
            params.subsolvers.extend(["default_lp", "objective_lb_search"])
        if options.seed is not None:
            params.random_seed = int(options.seed)
        if enforced:
            # Belt and braces for google/or-tools#5293 (enforced linear + at-most-one presolve).
            params.presolve_inclusion_work_limit = 0

        callback = _Incumbents(x, costs, scale, isinstance(task, MinErrorTask), options)
        if options.on_bound is not None and isinstance(task, MinErrorTask):
            on_bound = options.on_bound
            solver.best_bound_callback = lambda bound: on_bound(bound / scale)
        if options.stop is not None and options.stop.is_set():
            return BackendOutcome(BackendStatus.NO_SOLUTION, scale=scale, binary_variables=len(x))
        with relay_stop(solver, options.stop):
            status = solver.solve(cp, callback)

        outcome = BackendOutcome(BackendStatus.NO_SOLUTION, scale=scale, binary_variables=len(x))
        if status == cp_model.MODEL_INVALID:
            raise RuntimeError(f"CP-SAT rejected the model: {cp.validate()}")
        if status == cp_model.INFEASIBLE:
            outcome.status = BackendStatus.INFEASIBLE
            return outcome
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            outcome.status = (
                BackendStatus.OPTIMAL if status == cp_model.OPTIMAL else BackendStatus.FEASIBLE
            )
            outcome.chosen = [c for c in range(num) if solver.boolean_value(x[c])]
        bound = _rigorous_bound(solver.best_objective_bound, scale)
        if isinstance(task, MinErrorTask):
            outcome.error_bound = bound
        elif not task.restrict:
            outcome.kept_bound = int(bound * scale)
        return outcome


def usable_cores() -> int:
    """The cores this process may run on (affinity and cgroup cpusets included where known)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


@contextlib.contextmanager
def relay_stop(solver, stop: threading.Event | None):
    """Relays ``stop`` to ``solver.stop_search()`` while the block solves. Check ``stop`` before
    entering: a stop set before the search starts is the caller's to honour."""
    if stop is None:
        yield
        return
    done = threading.Event()

    def watch() -> None:
        # CP-SAT clears a stop_search() that arrives before its solve starts (found by the job
        # cancel tests: a cancel during model building went unheard until the time limit):
        # repeat it until the solve returns.
        while not done.is_set():
            if stop.wait(0.05):
                solver.stop_search()
                done.wait(0.05)

    threading.Thread(target=watch, daemon=True).start()
    try:
        yield
    finally:
        # Not joined: the watcher notices `done` within one tick and exits; joining would add
        # that tick to every solve.
        done.set()


def _rigorous_bound(raw_bound: float, scale: int) -> Fraction:
    """CP-SAT's objective bound as a rigorous error bound. A bound on an integer objective may
    be rounded up to the next integer; the slack guards against a float just above one."""
    if not math.isfinite(raw_bound):
        raw_bound = 0.0
    return Fraction(max(0, math.floor(raw_bound + 1e-6)), scale)


class _Incumbents:
    """Forwards each new CP-SAT solution to options.on_incumbent, and stops the search once
    options.should_stop asks for it (see BackendOptions)."""

    def __new__(cls, x, costs, scale, min_error, options):
        from ortools.sat.python import cp_model

        class Callback(cp_model.CpSolverSolutionCallback):
            def on_solution_callback(self) -> None:
                if options.on_incumbent is not None:
                    kept = sum(c for v, c in zip(x, costs, strict=False) if self.boolean_value(v))
                    error = self.objective_value / scale if min_error else math.nan
                    options.on_incumbent(error, kept)
                if min_error and options.should_stop is not None:
                    chosen = [c for c, v in enumerate(x) if self.boolean_value(v)]
                    bound = _rigorous_bound(self.best_objective_bound, scale)
                    if options.should_stop(chosen, bound):
                        self.stop_search()

        return Callback()
