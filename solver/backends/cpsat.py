"""CP-SAT (OR-Tools) on a fixed-point model that is rigorous by construction.

CP-SAT needs integers. With scale S, each coefficient is rounded *outward* (docs/design.md
§7) so that the integer model is a relaxation of the exact one: for every mask, its
integer error T <= S * (exact error), hence the integer optimum T* gives the rigorous lower
bound T*/S on the exact optimum, whatever the rounding. For min_kept the same rounding gives
a relaxation (a rigorous bound on the count), and the opposite rounding a restriction (every
choice truly meets the error bound).

Per row k (a (point, output) pair) with pruned output o_k = sum_c h_kc x_c + c_k (c_k: the
row's output bias) and target y_k, the error constraints are (docs/design.md §4 for a ReLU output):
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
    fixed_unit_groups,
    line_relay,
)
from solver.core.errors import UnrepresentableError
from solver.core.problem import PruningMode
from solver.core.validate import PARAMETER_FLAGS
from solver.formulation.columns import ColumnModel

SMALL_MODEL_CANDIDATES = 32
# The two-level model (_refined) resolves a tolerance down to 1/(S * REFINEMENT_FACTOR); a finer
# one is refused as before (an instance whose values dwarf the tolerance: rescale it).
REFINEMENT_FACTOR = 1 << 12
# Machines with at most this many usable cores get the lower-bound worker (CpSatBackend.solve).
SMALL_MACHINE_CORES = 2
# Model building checks the deadline (BackendOptions.deadline) every this many rows.
CHECK_ROWS = 64


def choose_scale(model: ColumnModel, rows: np.ndarray, extra: Fraction = Fraction(0)) -> int:
    """The largest integer S keeping every constraint's activity within ACTIVITY_BUDGET."""
    cols = model.columns[rows]
    row_sums = np.abs(cols).sum(axis=1) + np.abs(model.target[rows]) + np.abs(model.biases[rows])
    largest = int(max(row_sums.tolist(), default=0))
    largest_value = exact.to_fraction(largest, model.exp) + extra
    if largest_value == 0:
        return ACTIVITY_BUDGET
    return max(0, math.floor(Fraction(ACTIVITY_BUDGET) / largest_value))


def _sides(model: ColumnModel, rows: np.ndarray, scale: int, restrict: bool):
    """Per row, the integer coefficients and constants of the upper side o - y (``up``) and the
    lower side y - o (``lo``; its coefficients enter negated) at ``scale``: rounded outward for
    a relaxation (each side's integer value is at most scale times its exact value), inward
    for a restriction."""
    cols, y = model.columns[rows], model.target[rows]
    # Each row's own output bias (rows are (point, output) pairs: solver/formulation/columns.py).
    bias_floor = _floor(model.biases[rows], model, scale)
    bias_ceil = _ceil(model.biases[rows], model, scale)
    if restrict:
        up = (_ceil(cols, model, scale), bias_ceil - _floor(y, model, scale))
        lo = (_floor(cols, model, scale), _ceil(y, model, scale) - bias_floor)
    else:
        up = (_floor(cols, model, scale), bias_floor - _ceil(y, model, scale))
        lo = (_ceil(cols, model, scale), _floor(y, model, scale) - bias_ceil)
    return up[0], up[1], lo[0], lo[1]


def _refined(cp, x, model: ColumnModel, rows: np.ndarray, scale: int, options, expr):
    """The two-level min-error relaxation (docs/design.md §7): its optimum u* gives the
    rigorous bound (u* + fine * theta) / (scale * fine) on the least error over ``rows``, with
    a resolution of 1/(scale * fine) although no constraint's Boolean coefficients sum past
    ACTIVITY_BUDGET. Returns (scale * fine, fine * theta, whether enforced constraints exist),
    or None when options' deadline passes while it builds.

    Notation: S = scale, F = fine, L = options.error_lower_bound (a rigorous lower bound on the
    least error over ``rows``: every mask's error e(m) >= L), E = options.error_upper_bound
    (the exact error of a choice; masks worse than it cannot be optimal), g = the number of
    groups (at most one candidate per group is chosen). For each row and side, A(m) is the
    side's integer value at scale S (A <= S * side, _sides) and B(m) the same at scale S*F
    (B <= S*F * side). B = F*A + R with R(m) = sum_c rho_c x_c + rho_0, where each
    rho_c = b_c - F*a_c lies in [0, F) (floor(F*v) - F*floor(v) for an outward floor) and
    rho_0 in [0, 2F) (two rounded constants), so 0 <= R(m) < F * (g + 2).

    Model: theta = floor(S*L) - (g + 2); per row and side an integer z in [0, floor(S*E) -
    theta] with A - z <= theta, and F*z + R <= u; u in [floor(S*F*L) - F*theta,
    floor(S*F*E) - F*theta]; minimise u.

    Relaxation: for every mask m with e(m) <= E, u(m) = floor(S*F*e(m)) - F*theta and
    z = max(A - theta, 0) satisfy every constraint. If A >= theta: F*z + R = B - F*theta <=
    S*F*side - F*theta, an integer, so <= u(m). If A < theta: F*z + R = R < F*(g + 2) <=
    S*F*L - F*theta <= u(m) (as F*theta <= F*floor(S*L) - F*(g+2) and e(m) >= L). z's range
    holds since A <= S*side <= S*E. So u* <= u(m) for every such mask, and masks with
    e(m) > E do not matter (the choice with error E exists): (u* + F*theta)/(S*F) <= the least
    error. The ReLU disjunctions (docs/design.md §4) carry over: when relu(o) = 0 the error is
    y_k, and u(m) >= floor(S*F*y_k) - F*theta; when y_k < 0, e(m) >= -y_k likewise.

    Activity: z and u span at most F*(floor(S*E) - theta + 1), and the Booleans' coefficients
    sum to at most F * (number of candidates) + 2F, so F = ACTIVITY_BUDGET // (2 * z range +
    candidates + 4) keeps each constraint within the budget; the linking constraints have the
    first level's coefficients."""
    lower, upper = options.error_lower_bound, options.error_upper_bound
    num = len(x)
    groups = len(model.groups)
    theta = math.floor(lower * scale) - (groups + 2)
    z_high = max(0, math.floor(upper * scale) - theta)
    fine = max(1, ACTIVITY_BUDGET // (2 * z_high + num + 4))
    total = scale * fine
    offset = fine * theta
    level1 = _sides(model, rows, scale, restrict=False)
    level2 = _sides(model, rows, total, restrict=False)
    # The residues R per side, as (coefficients, constant) with the sign they enter with.
    rho_up = (level2[0] - fine * level1[0], level2[1] - fine * level1[1])
    rho_lo = (fine * level1[2] - level2[2], level2[3] - fine * level1[3])
    for rho, rho0 in (rho_up, rho_lo):  # the ranges the relaxation argument rests on
        coefs, consts = rho.ravel().tolist(), rho0.ravel().tolist()
        if not (all(0 <= r < fine for r in coefs) and all(0 <= r < 2 * fine for r in consts)):
            raise AssertionError("a second-level residue is out of its proven range")
    y_values = [exact.to_fraction(int(v), model.exp) for v in model.target[rows].tolist()]
    u_low = math.floor(lower * total) - offset
    if model.output_relu:
        u_low = max([u_low] + [math.floor(-v * total) - offset for v in y_values if v < 0])
    u_high = max(u_low, math.floor(upper * total) - offset)
    u = cp.new_int_var(u_low, u_high, "u")
    enforced = False
    for k in range(len(rows)):
        if k % CHECK_ROWS == 0 and options.expired():
            return None
        sides = [((level1[0][k], level1[1][k], 1), rho_up, None)]
        floor_y = math.floor(y_values[k] * total) - offset
        if not model.output_relu or floor_y > u_high:
            sides.append(((level1[2][k], level1[3][k], -1), rho_lo, None))
        elif y_values[k] > 0:
            active = cp.new_bool_var(f"b{k}")
            cp.add(u >= floor_y).only_enforce_if(~active)
            sides.append(((level1[2][k], level1[3][k], -1), rho_lo, active))
            enforced = True
        for (coefs, const, sign), (rho, rho0), active in sides:
            z = cp.new_int_var(0, z_high, f"z{k}")
            terms = [(int(r), x[c]) for c, r in enumerate(rho[k].tolist()) if r != 0]
            constraints = [
                cp.add(expr(coefs, const, sign) - z <= theta),
                cp.add(fine * z + sum(r * v for r, v in terms) + int(rho0[k]) <= u),
            ]
            if active is not None:
                for constraint in constraints:
                    constraint.only_enforce_if(active)
    cp.minimize(u)
    return total, offset, enforced


def _floor(values, model: ColumnModel, scale: int):
    return exact.floor_scaled(np.asarray(values, dtype=object), model.exp, scale)


def _ceil(values, model: ColumnModel, scale: int):
    return exact.ceil_scaled(np.asarray(values, dtype=object), model.exp, scale)


class CpSatBackend(Backend):
    name = "cpsat"
    refines = True
    fixes_units = True
    # An INFEASIBLE answer with t capped at floor(S U) proves that no choice has exact error
    # <= U: such a choice has integer error <= S e <= S U (outward rounding), an integer, so
    # it would meet the cap (docs/design.md §7, §16).
    proves_cutoff = True

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
        finest = scale * REFINEMENT_FACTOR
        if options.tolerance is not None and Fraction(1, finest) > Fraction(options.tolerance):
            raise UnrepresentableError(
                "the network's values are too large for CP-SAT's fixed-point model: with every "
                f"activity under {ACTIVITY_BUDGET}, coefficients are multiples of 1/{scale} "
                f"(refined at most to 1/{finest}), coarser than the tolerance "
                f"{options.tolerance:g}; raise {PARAMETER_FLAGS['parameters.tolerance']} "
                "(parameters.tolerance) or rescale the network and target"
            )
        # Returned when the deadline passes (or a stop comes) while the model is being built.
        stopped = BackendOutcome(BackendStatus.NO_SOLUTION, scale=scale, binary_variables=num)
        if options.expired():
            return stopped
        self.check_fixed_units(options)
        dead, live = fixed_unit_groups(model, options.fixed_units)
        cp = cp_model.CpModel()
        x = [cp.new_bool_var(f"x{c}") for c in range(num)]
        for group in model.groups:
            if len(group) > 1:
                cp.add_at_most_one(x[c] for c in group)
        for c in dead:  # a cube's decisions (solver/engine/cubes.py)
            cp.add(x[c] == 0)
        for group in live:
            cp.add_bool_or(x[c] for c in group)
        costs = [cand.cost for cand in model.candidates]

        y = model.target[rows]
        y_values = [exact.to_fraction(int(v), model.exp) for v in y.tolist()]
        restrict = isinstance(task, MinKeptTask) and task.restrict
        up_coefs, up_const, lo_coefs, lo_const = _sides(model, rows, scale, restrict)
        floor_sy = _floor(y, model, scale)
        if options.expired():
            return stopped

        def expr(coefs, const, sign):
            terms = [(int(a), x[c]) for c, a in enumerate(coefs.tolist()) if a != 0]
            return sum(sign * a * v for a, v in terms) + int(const)

        enforced = False
        offset = 0  # the objective's value plus offset, over scale, is the error (refined: §7)
        if isinstance(task, MinErrorTask) and options.error_lower_bound is not None:
            assert options.error_upper_bound is not None  # the refinement's window
            refined = _refined(cp, x, model, rows, scale, options, expr)
            if refined is None:
                return stopped
            scale, offset, enforced = refined
            if task.max_kept is not None:
                cp.add(sum(costs[c] * x[c] for c in range(num)) <= task.max_kept)
        elif isinstance(task, MinErrorTask):
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
                if k % CHECK_ROWS == 0 and options.expired():
                    return stopped
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
                if k % CHECK_ROWS == 0 and options.expired():
                    return stopped
                if model.output_relu and y_values[k] < -eps:
                    return BackendOutcome(
                        BackendStatus.INFEASIBLE, scale=scale, binary_variables=num
                    )
                cp.add(expr(up_coefs[k], up_const[k], 1) <= bound)
                if not model.output_relu or y_values[k] > eps:
                    cp.add(expr(lo_coefs[k], lo_const[k], -1) <= bound)
            kept_count = sum(costs[c] * x[c] for c in range(num))
            if task.max_kept is not None:
                # The kept cap (MinKeptTask): integer costs, an exact row. It removes only
                # choices keeping more than max_kept, so an INFEASIBLE answer of the relaxation
                # proves that every choice within max_error keeps more (docs/design.md §16).
                cp.add(kept_count <= task.max_kept)
            cp.minimize(kept_count)

        if options.hint:
            hinted = set(options.hint)
            for c in range(num):
                cp.add_hint(x[c], c in hinted)

        solver = cp_model.CpSolver()
        params = solver.parameters
        # Ctrl-C is the caller's to handle (the CLI stops through options.stop): CP-SAT's own
        # SIGINT handler aborted the process (std::bad_function_call) when it solved in a thread.
        params.catch_sigint_signal = False
        if options.expired():
            return stopped
        left = options.seconds_left()  # what building the model left of the time limit
        if left is not None:
            params.max_time_in_seconds = left
        if options.log is not None:
            # The search log to options.log instead of stdout (prunecert solve --log-solver).
            params.log_search_progress = True
            params.log_to_stdout = False
            solver.log_callback = line_relay(options.log)
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

        callback = _Incumbents(x, costs, scale, offset, isinstance(task, MinErrorTask), options)
        if options.on_bound is not None and isinstance(task, MinErrorTask):
            on_bound = options.on_bound
            solver.best_bound_callback = lambda bound: on_bound((bound + offset) / scale)
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
        bound = _rigorous_bound(solver.best_objective_bound, scale, offset)
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


def _rigorous_bound(raw_bound: float, scale: int, offset: int = 0) -> Fraction:
    """CP-SAT's objective bound as a rigorous error bound. A bound on an integer objective may
    be rounded up to the next integer; the slack guards against a float just above one."""
    if not math.isfinite(raw_bound):
        return Fraction(max(0, offset), scale)  # the objective's domain starts at 0
    return Fraction(max(0, math.floor(raw_bound + 1e-6) + offset), scale)


class _Incumbents:
    """Forwards each new CP-SAT solution to options.on_incumbent, and stops the search once
    options.should_stop asks for it (see BackendOptions)."""

    def __new__(cls, x, costs, scale, offset, min_error, options):
        from ortools.sat.python import cp_model

        class Callback(cp_model.CpSolverSolutionCallback):
            def on_solution_callback(self) -> None:
                if options.on_incumbent is not None:
                    kept = sum(c for v, c in zip(x, costs, strict=False) if self.boolean_value(v))
                    error = (self.objective_value + offset) / scale if min_error else math.nan
                    options.on_incumbent(error, kept)
                if min_error and options.should_stop is not None:
                    chosen = [c for c, v in enumerate(x) if self.boolean_value(v)]
                    bound = _rigorous_bound(self.best_objective_bound, scale, offset)
                    if options.should_stop(chosen, bound):
                        self.stop_search()

        return Callback()
