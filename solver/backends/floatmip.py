"""The floating-point MIP shared by the SCIP, CBC and HiGHS backends, and the safety margin that
turns a floating-point solver's claims into statements about the exact problem.

CP-SAT gets a fixed-point model that is rigorous by construction (solver/backends/cpsat.py).
SCIP, CBC and HiGHS compute in float64 with tolerances, so what they report is not a proof
(docs/design.md §2, §8: CBC once reported an "optimal" 4.6e-6 where the truth was 3.7e-8).
This module builds one solver-independent model that every float backend translates verbatim,
and converts the solver's dual bound into a bound that is only as good as its stated margin.

The model (the same constraints as CP-SAT's, on exact data rounded once to float64):
    minimise t  s.t.  sum_c h_kc x_c - t <= up(r_k)                  every point k
                      -sum_c h_kc x_c - t <= up(-r_k)                identity output; ReLU with
                                                                     y_k > 0 settled by the cap
                      -sum_c h_kc x_c - t + M_k b_k <= up(M_k - r_k)  ReLU, y_k > 0 (b_k = 1:
                      -t - dn(y_k) b_k <= -dn(y_k)                   y_k - o_k <= t; b_k = 0:
                                                                     t >= y_k)
                      sum_{c in g} x_c <= 1 per unit g,  sum_c cost_c x_c <= max_kept,
                      dn(t_low) <= t <= up(t_high)
with r_k = y_k - c0_k (target minus the row's output bias; a row is a (point, output) pair,
solver/formulation/columns.py), h_kc the float64 nearest the exact column
(model.float_data(), exact.Dyadic.to_float), and up/dn the outward roundings of an exact value
to float64, so every right-hand side and bound relaxes the exact constraint. The big-M is exact
from the data: when b_k = 0 the optimum has t >= y_k, so M_k = max(0, -min o_k) with
min o_k = c0_k + sum over units of min(0, min_c h_kc) suffices; a point with min o_k >= 0 has
relu(o_k) = o_k and needs no disjunction, and one with y_k above the cap on t never takes b_k = 0.
t_low = max(0, max over ReLU points with y_k < 0 of -y_k) is itself an exact lower bound.
MinKeptTask: minimise sum_c cost_c x_c with t replaced by max_error + margin (relaxation,
RHS rounded up) or max_error - margin (restriction, RHS rounded down).

The safety margin. On the given points let
    A = max_k ( sum over units g of max_{c in g} |h_kc| + |y_k| + |c0_k| )  (+ max_error, min_kept)
    H = max_k   sum over all candidates c of |h_kc|
(A bounds every row's activity at a choice with at most one candidate per unit, H the change of
a row when every x moves a little). Each backend states the tolerances it sets (Tolerances
below) and the margin, rounded up to a double, is
    margin = delta * A + eps_int * (H + A) + (4 eps_feas + eps_gap) * (1 + A) + D + 2**-1000
  * delta * A: coefficient rounding, a proof. Every h_kc reaches the solver within relative
    delta of the exact value (2**-53 for doubles handed over in memory; CBC reads PuLP's MPS file
    with 13 significant digits, delta = 5.0002e-13), right-hand sides and bounds are rounded
    outward exactly, so the exact optimum (x*, t*) is feasible in the float model with
    t = t* + delta * sum_c |h_kc| x*_c <= t* + delta * A. The 2**-1000 covers subnormals.
  * eps_int * (H + A): a node whose LP solution is integral within eps_int is fathomed at the
    value of the rounded solution, which can exceed that node's LP bound by eps_int times
    sum_c |h_kc| (the x's) plus M_k <= A (the b's). This explains the CBC figure of docs/design.md §2
    (CBC's default integer tolerance 1e-7 times H ~ 22 is 2e-6).
  * 4 eps_feas * (1 + A): primal rows are checked to eps_feas relative to max(1, |rhs|,
    |activity|) <= 1 + 3 A (the x part, t <= A and M_k <= A), and LP bounds are dual-feasible
    to eps_feas (one more 1 + A).
  * eps_gap * (1 + A): the solver's pruning epsilon and its reporting precision, relative to
    max(1, |objective|) with |objective| = t <= A. Gap tolerances are set to 0 (relative and
    absolute) so no other gap enters.
  * D: entries the solver treats as zero. SCIP ignores every value below numerics/epsilon,
    HiGHS drops matrix entries at or below small_matrix_value, presolves remove entries too
    small to matter to their tolerances. With theta = drop_below (1e-9 for every backend here),
    D = max_k sum over units g of max_{c in g, |h_kc| <= 2 theta} |h_kc|, plus 4 theta for
    right-hand sides and t's bounds rounded to 0: the exact optimum stays feasible in the
    solver's view of the model with t raised by at most D. Without it, twelve entries of 2^-30
    made SCIP and HiGHS claim a min_kept infeasible that the full network meets exactly.
The first and D terms are theorems; the others model the solver's floating-point arithmetic as correct
to its own stated tolerances (the standard and only available model of a float MIP solver:
a truly rigorous bound needs an exact LP solver). Every backend sets those tolerances
explicitly, so the margin states exactly what it assumes. The backend then reports
error_bound = max(t_low, dual_bound - margin), and cross-checks it against the exact error of
the choice it returns and the caller's error_upper_bound: a bound above either is a solver
claim demonstrably wrong by more than the margin, and the outcome drops to FEASIBLE with the
exact t_low bound. The engine certifies the chosen mask exactly and calls it OPTIMAL only when
exact_error - error_bound <= tolerance; a margin above the tolerance raises
UnrepresentableError up front (the values are too large for float64 solvers at that tolerance).

What each backend certifies. Within the margin model above, a float backend's bound is a
rigorous lower bound and its INFEASIBLE a claim the engine still checks against the full
network's exact error (solver/engine/objectives.py). Where the margin (dominated by D for data
with many entries near or below 1e-9, and by A for large values) exceeds the tolerance, build()
refuses with UnrepresentableError naming cpsat, whose fixed point has no such threshold. SCIP
and HiGHS get the hint as a MIP start; CBC does not (solver/backends/cbc.py: CBC 2.10.3 turned
starts into false optimality claims). Any bound refuted by a certified mask is withdrawn.

The module runs past the project's usual 400 lines because the derivation above is its first 75:
the model and the margin it proves are kept in one place (docs/design.md §8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from solver import exact
from solver.backends.base import (
    BackendOptions,
    BackendOutcome,
    BackendStatus,
    MinErrorTask,
    MinKeptTask,
    Task,
    fixed_unit_groups,
)
from solver.core.errors import UnrepresentableError
from solver.formulation.columns import ColumnModel
from solver.formulation.deadline import DeadlineReached

# The tolerances every float backend sets in its solver; the margin is computed from them.
FEASIBILITY_TOLERANCE = 1e-9
INTEGRALITY_TOLERANCE = 1e-9
DOUBLE_ROUNDING = 2.0**-53
_SUBNORMAL = Fraction(1, 2**1000)


@dataclass(frozen=True)
class Tolerances:
    """What one backend tells its solver, and therefore what its margin must cover."""

    coefficient: float = DOUBLE_ROUNDING  # delta: relative rounding of a coefficient in transit
    feasibility: float = FEASIBILITY_TOLERANCE  # eps_feas: primal and dual feasibility
    integrality: float = INTEGRALITY_TOLERANCE  # eps_int
    gap: float = 1e-9  # eps_gap: pruning epsilon and reporting precision, relative
    # theta: the solver treats a matrix entry or right-hand side of magnitude up to this as 0
    # (SCIP's numerics/epsilon, HiGHS's small_matrix_value, Clp presolve's zero tolerance).
    drop_below: float = 1e-9

    def margin(self, activity: Fraction, column_sum: Fraction, dropped: Fraction) -> Fraction:
        """The safety margin (see above) for rows whose activity is at most ``activity`` (A),
        whose coefficients sum in absolute value to at most ``column_sum`` (H) and whose
        entries the solver may drop add up to at most ``dropped`` (D) at any choice."""
        solver = 4 * Fraction(self.feasibility) + Fraction(self.gap)
        margin = (
            Fraction(self.coefficient) * activity
            + Fraction(self.integrality) * (column_sum + activity)
            + solver * (1 + activity)
            + dropped
            + _SUBNORMAL
        )
        return Fraction(exact.round_up(margin))  # a double >= the margin: short fractions

    def kept_slack(self, total_cost: int) -> Fraction:
        """How far a reported bound on an integer kept count may overshoot: near-integral x's
        and the dual and pruning tolerances, relative to the largest possible count."""
        eps = Fraction(self.integrality) + Fraction(self.feasibility) + Fraction(self.gap)
        return eps * (1 + total_cost)


@dataclass
class Row:
    """sum(coef * var) <= rhs."""

    index: list[int]
    coef: list[float]
    rhs: float


@dataclass
class FloatMip:
    """A minimisation over variables 0..n-1: candidates x first, then t, then the b's."""

    lower: list[float]
    upper: list[float]
    integer: list[bool]
    names: list[str]
    objective: list[tuple[int, float]]
    rows: list[Row]
    num_candidates: int
    t: int | None  # the error variable (MinErrorTask)
    margin: Fraction
    t_low: Fraction  # exact lower bound on the error (MinErrorTask)
    infeasible: bool = False  # decided exactly while building (MinKeptTask)
    hint: list[float] | None = None  # a value for every variable, or None

    @property
    def num_vars(self) -> int:
        return len(self.lower)

    @property
    def binary_variables(self) -> int:
        return sum(self.integer)

    def satisfied_by(self, values: list[float], tolerance: float = 1e-6) -> bool:
        """Whether ``values`` meet the bounds and rows up to ``tolerance`` relative to each
        row's size: a screen for corrupt solver output, not part of any certificate."""
        if len(values) != self.num_vars or not all(math.isfinite(v) for v in values):
            return False
        for v, lo, hi in zip(values, self.lower, self.upper, strict=True):
            if v < lo - tolerance * (1 + abs(lo)) or v > hi + tolerance * (1 + abs(hi)):
                return False
        for row in self.rows:
            terms = [a * values[i] for i, a in zip(row.index, row.coef, strict=True)]
            size = 1 + abs(row.rhs) + sum(abs(term) for term in terms)
            if sum(terms) - row.rhs > tolerance * size:
                return False
        return True

    def consistent(self, raw: RawResult) -> bool:
        """Whether a solver's values meet its model and match the objective it reports."""
        if raw.values is None:
            return True
        if not self.satisfied_by(raw.values):
            return False
        if raw.objective is None:
            return True
        terms = [a * raw.values[i] for i, a in self.objective]
        size = 1 + sum(abs(term) for term in terms)
        return abs(sum(terms) - raw.objective) <= 1e-7 * size

    def error_bound(self, dual_bound: float) -> float:
        """A progress figure: the rigorous counterpart of a solver's running dual bound."""
        return float(max(self.t_low, Fraction(dual_bound) - self.margin))


# Model building checks the deadline (BackendOptions.deadline) every this many rows.
CHECK_ROWS = 64


def _check(options: BackendOptions, row: int) -> None:
    """Raise DeadlineReached at every CHECK_ROWS-th row once the deadline has passed."""
    if row % CHECK_ROWS == 0 and options.expired():
        raise DeadlineReached("building the float model")


def _frac(value: int, exp: int) -> Fraction:
    return exact.to_fraction(int(value), exp)


def build(
    model: ColumnModel,
    rows: np.ndarray,
    task: Task,
    options: BackendOptions,
    tolerances: Tolerances,
    solver_name: str,
) -> FloatMip:
    """The float model of ``task`` on the model's points ``rows``."""
    rows = np.asarray(rows, dtype=np.int64)
    num = len(model.candidates)
    exp = model.exp
    ints = model.columns[rows].reshape(len(rows), num)
    y_ints = model.target[rows]
    c0 = [_frac(v, exp) for v in model.biases[rows].tolist()]  # each row's output bias
    y = [_frac(v, exp) for v in y_ints.tolist()]
    r = [v - c for v, c in zip(y, c0, strict=True)]
    magnitudes = np.abs(ints)
    column_sum = _frac(max(magnitudes.sum(axis=1).tolist(), default=0) if num else 0, exp)
    # The largest output of a choice with at most one candidate per unit, per point.
    reach = [0] * len(rows)
    for group in model.groups:
        reach = [a + b for a, b in zip(reach, magnitudes[:, group].max(axis=1).tolist())]
    eps = task.max_error if isinstance(task, MinKeptTask) else Fraction(0)
    activity = max(
        (_frac(o, exp) + abs(v) + abs(c) for o, v, c in zip(reach, y, c0, strict=True)),
        default=Fraction(0),
    )
    activity += eps
    floats = model.float_data()[0][rows].reshape(len(rows), num)
    if not np.all(np.isfinite(floats)):
        raise UnrepresentableError(f"a column value overflows float64 for {solver_name}")
    dropped = _droppable(model, magnitudes, floats, tolerances.drop_below)
    margin = tolerances.margin(activity, column_sum, dropped)
    if options.tolerance is not None and margin > Fraction(options.tolerance):
        raise UnrepresentableError(
            f"the network's values span too wide a range for {solver_name}'s float64 model: "
            f"its safety margin {float(margin):.3g} (solver tolerances times the row activity "
            f"{float(activity):.3g} and column sum {float(column_sum):.3g}, plus "
            f"{float(dropped):.3g} of coefficients at or below its zero threshold "
            f"{tolerances.drop_below:g}) exceeds the tolerance {options.tolerance:g}; use "
            "--backend cpsat (exact fixed point), raise --tolerance (parameters.tolerance), or "
            "rescale the network and target"
        )
    _check(options, 0)
    coefs = []
    for k in range(len(rows)):
        _check(options, k)
        idx = np.flatnonzero(ints[k] != 0)
        coefs.append((idx.tolist(), floats[k, idx].tolist()))

    lower = [0.0] * num
    upper = [1.0] * num
    integer = [True] * num
    names = [f"x{c}" for c in range(num)]
    out_rows: list[Row] = []
    for group in model.groups:
        if len(group) > 1:
            out_rows.append(Row(list(group), [1.0] * len(group), 1.0))
    # A cube's decisions (solver/engine/cubes.py): exact 0-1 bounds and integer rows, so no
    # tolerance enters (a live unit's candidates sum to at least 1).
    dead, live = fixed_unit_groups(model, options.fixed_units)
    for c in dead:
        upper[c] = 0.0
    for group in live:
        if len(group) == 1:
            lower[group[0]] = 1.0
        else:
            out_rows.append(Row(list(group), [-1.0] * len(group), -1.0))
    costs = [cand.cost for cand in model.candidates]
    mip = FloatMip(lower, upper, integer, names, [], out_rows, num, None, margin, Fraction(0))

    if isinstance(task, MinKeptTask):
        _min_kept_rows(mip, model, task, coefs, y, r, margin)
        mip.objective = [(c, float(costs[c])) for c in range(num)]
        if task.max_kept is not None and num:
            # The kept cap (MinKeptTask): integer costs and right-hand side, exact in float64,
            # so every choice keeping at most max_kept stays feasible and the margin is
            # unchanged; an INFEASIBLE claim still proves nothing (solver/engine/cube_task.py).
            out_rows.append(Row(list(range(num)), [float(c) for c in costs], float(task.max_kept)))
        if (
            options.hint is not None
            and _valid_choice(model, options.hint, task.max_kept)
            and meets_fixed_units(model, options.hint, options.fixed_units)
        ):
            hinted = set(options.hint)
            mip.hint = [1.0 if c in hinted else 0.0 for c in range(num)]
        return mip

    # MinErrorTask.
    t_low = Fraction(0)
    if model.output_relu:
        t_low = max([t_low] + [-v for v in y if v < 0])
    t_cap = activity  # no choice errs by more than the largest row activity
    if options.error_upper_bound is not None:
        t_cap = min(t_cap, options.error_upper_bound)
    t_cap = max(t_cap, t_low)
    t_high = t_cap + margin  # (x*, t* + margin) stays feasible
    t = mip.num_vars
    lower.append(exact.round_down(t_low))
    upper.append(exact.round_up(t_high))
    integer.append(False)
    names.append("t")
    mip.t, mip.t_low = t, t_low
    mip.objective = [(t, 1.0)]
    disjunctions: list[tuple[int, int]] = []  # (point, b variable)
    for k, (idx, vals) in enumerate(coefs):
        _check(options, k)
        out_rows.append(Row(idx + [t], vals + [-1.0], exact.round_up(r[k])))
        if model.output_relu and y[k] <= 0:
            continue  # y_k - relu(o_k) <= 0 <= t
        negated = [-v for v in vals]
        lowest = c0[k] + _frac(
            sum(min(0, min(ints[k, group].tolist())) for group in model.groups), exp
        )
        if not model.output_relu or lowest >= 0 or y[k] > t_cap:
            out_rows.append(Row(idx + [t], negated + [-1.0], exact.round_up(-r[k])))
            continue
        big_m = exact.round_up(-lowest)
        b = mip.num_vars
        lower.append(0.0)
        upper.append(1.0)
        integer.append(True)
        names.append(f"b{k}")
        out_rows.append(
            Row(idx + [t, b], negated + [-1.0, big_m], exact.round_up(Fraction(big_m) - r[k]))
        )
        y_down = exact.round_down(y[k])
        out_rows.append(Row([t, b], [-1.0, -y_down], -y_down))
        disjunctions.append((k, b))
    if task.max_kept is not None and num:
        out_rows.append(Row(list(range(num)), [float(c) for c in costs], float(task.max_kept)))
    if (
        options.hint is not None
        and _valid_choice(model, options.hint, task.max_kept)
        and meets_fixed_units(model, options.hint, options.fixed_units)
    ):
        hinted = set(options.hint)
        pre = ints[:, sorted(hinted)].sum(axis=1) if hinted else np.zeros(len(rows), dtype=object)
        errors = model.point_errors(sorted(hinted), rows)
        t_hint = max(
            [t_low] + [_frac(e, exp) for e in errors.tolist()]
        )  # the exact error of the hint on these points
        values = [1.0 if c in hinted else 0.0 for c in range(num)]
        values.append(exact.round_up(min(t_high, t_hint + margin / 2)))
        for k, _ in disjunctions:
            o_k = _frac(int(pre[k]), exp) + c0[k]
            values.append(1.0 if y[k] - o_k <= t_hint else 0.0)
        mip.hint = values
    return mip


def _droppable(
    model: ColumnModel, magnitudes: np.ndarray, floats: np.ndarray, drop_below: float
) -> Fraction:
    """D: how much the entries a solver may treat as zero change any row at any choice (at
    most one candidate per unit), plus the right-hand sides and t's bounds it may likewise
    round to 0 (4 theta). Entries are picked by their doubles against twice the threshold, so
    every entry the solver can drop is counted (counting more only enlarges the margin); the
    sum is exact."""
    theta = Fraction(drop_below)
    small = (np.abs(floats) <= 2 * drop_below) & (magnitudes != 0)
    worst = 0
    if small.any():
        picked = np.where(small, magnitudes, 0)
        reach = np.zeros(small.shape[0], dtype=object)
        for group in model.groups:
            reach = reach + picked[:, group].max(axis=1)
        worst = int(max(reach.tolist(), default=0))
    return _frac(worst, model.exp) + 4 * theta


def _min_kept_rows(
    mip: FloatMip,
    model: ColumnModel,
    task: MinKeptTask,
    coefs: list[tuple[list[int], list[float]]],
    y: list[Fraction],
    r: list[Fraction],
    margin: Fraction,
) -> None:
    eps = task.max_error
    if task.restrict:
        bound, rounding = eps - margin, exact.round_down
    else:
        bound, rounding = eps + margin, exact.round_up
    for k, (idx, vals) in enumerate(coefs):
        if model.output_relu and y[k] < -eps:
            mip.infeasible = True  # relu(o_k) - y_k >= -y_k > max_error for every choice
            return
        sides = [(vals, r[k])]
        if not model.output_relu or y[k] > eps:
            sides.append(([-v for v in vals], -r[k]))
        for side, offset in sides:
            rhs = offset + bound
            if not idx:
                if rhs < 0:  # 0 <= rhs fails whatever the choice
                    mip.infeasible = True
                    return
                continue
            mip.rows.append(Row(list(idx), side, rounding(rhs)))


def meets_fixed_units(model: ColumnModel, chosen: list[int], fixed: dict[int, bool] | None) -> bool:
    """Whether a choice makes every fixed unit live or dead as fixed (a screen of a solver's
    answer, like _valid_choice)."""
    units = {model.candidates[c].unit for c in chosen}
    return all((unit in units) == alive for unit, alive in (fixed or {}).items())


def _valid_choice(model: ColumnModel, chosen: list[int], max_kept: int | None) -> bool:
    """At most one candidate per unit, within the budget."""
    units = [model.candidates[c].unit for c in chosen]
    if len(set(units)) != len(units) or len(set(chosen)) != len(chosen):
        return False
    return max_kept is None or model.kept(chosen) <= max_kept


@dataclass
class RawResult:
    """What a float solver reported, before any of it is trusted."""

    status: BackendStatus
    values: list[float] | None = None  # every variable's value, in FloatMip order
    # A lower bound on the objective as the solver claims it, already lowered by the
    # precision with which the solver reports it (e.g. CBC's log digits); None if none.
    dual_bound: float | Fraction | None = None
    objective: float | None = None  # the objective the solver reports for ``values``


def finish(
    mip: FloatMip,
    model: ColumnModel,
    rows: np.ndarray,
    task: Task,
    options: BackendOptions,
    raw: RawResult,
    tolerances: Tolerances,
) -> BackendOutcome:
    """The rigorous outcome of a float solve: the choice as the solver made it, bounds lowered
    by the margin and cross-checked against exact evaluation."""
    outcome = BackendOutcome(BackendStatus.NO_SOLUTION, binary_variables=mip.binary_variables)
    status = raw.status
    chosen = None
    claimed = None
    if raw.dual_bound is not None and math.isfinite(raw.dual_bound):
        claimed = Fraction(raw.dual_bound)
    if raw.values is not None and not mip.satisfied_by(raw.values):
        # The solver returned values outside its own model: nothing it reports is used.
        status, claimed = BackendStatus.NO_SOLUTION, None
    elif not mip.consistent(raw):
        # Valid values, but not the objective the solver reports: its bound and its claim of
        # optimality are not used.
        claimed = None
        if status == BackendStatus.OPTIMAL:
            status = BackendStatus.FEASIBLE
    if raw.values is not None and status in (BackendStatus.OPTIMAL, BackendStatus.FEASIBLE):
        chosen = [c for c in range(mip.num_candidates) if raw.values[c] > 0.5]
        budget = task.max_kept  # MinErrorTask's budget, MinKeptTask's cap
        if not _valid_choice(model, chosen, budget) or not meets_fixed_units(
            model, chosen, options.fixed_units
        ):
            chosen, status = None, BackendStatus.NO_SOLUTION  # not a solution of the model
    elif status in (BackendStatus.OPTIMAL, BackendStatus.FEASIBLE):
        status = BackendStatus.NO_SOLUTION

    if isinstance(task, MinErrorTask):
        if status == BackendStatus.INFEASIBLE:
            # The empty choice (or the hint) always fits: a solver claim of infeasibility is
            # wrong, and nothing it says can be trusted. (With fixed units or a cap below every
            # error it may be right, but a float solver's claim proves nothing: proves_cutoff.)
            status, claimed = BackendStatus.NO_SOLUTION, None
        bound = mip.t_low
        if claimed is not None:
            candidate = claimed - mip.margin
            known = []
            if chosen is not None:
                errors = model.point_errors(chosen, np.asarray(rows, dtype=np.int64))
                known.append(_frac(max(errors.tolist(), default=0), model.exp))
            if options.error_upper_bound is not None:
                known.append(options.error_upper_bound)
            if known and candidate > min(known):
                # The solver's bound exceeds an exactly evaluated error by more than the
                # margin: its tolerances did not hold, so none of its bound is used.
                if status == BackendStatus.OPTIMAL:
                    status = BackendStatus.FEASIBLE
            else:
                bound = max(bound, candidate)
        outcome.error_bound = bound
    elif status != BackendStatus.INFEASIBLE and not task.restrict and claimed is not None:
        slack = tolerances.kept_slack(int(sum(c.cost for c in model.candidates)))
        kept_bound = max(0, math.ceil(claimed - slack))
        if chosen is not None and kept_bound > model.kept(chosen):
            errors = model.point_errors(chosen, np.asarray(rows, dtype=np.int64))
            if _frac(max(errors.tolist(), default=0), model.exp) <= task.max_error:
                # An exactly feasible choice keeps fewer than the claimed bound.
                kept_bound = 0
                if status == BackendStatus.OPTIMAL:
                    status = BackendStatus.FEASIBLE
        outcome.kept_bound = kept_bound
    outcome.status = status
    outcome.chosen = chosen
    return outcome


def trivial(mip: FloatMip | None, task: Task, status: BackendStatus) -> BackendOutcome:
    """The outcome of a solve that did not run (out of time, stopped, decided up front)."""
    outcome = BackendOutcome(status, binary_variables=mip.binary_variables if mip else 0)
    if isinstance(task, MinErrorTask) and mip is not None:
        outcome.error_bound = mip.t_low
    return outcome


def build_or_skip(
    model: ColumnModel,
    rows: np.ndarray,
    task: Task,
    options: BackendOptions,
    tolerances: Tolerances,
    solver_name: str,
) -> tuple[FloatMip | None, BackendOutcome | None]:
    """build(), and the outcome when the solver need not run: the task is infeasible as
    built, or the solve is stopped or out of time before it starts (or while it builds)."""
    try:
        mip = build(model, rows, task, options, tolerances, solver_name)
    except DeadlineReached:
        return None, trivial(None, task, BackendStatus.NO_SOLUTION)
    if mip.infeasible:
        return mip, trivial(mip, task, BackendStatus.INFEASIBLE)
    left = options.seconds_left()
    if options.expired() or (left is not None and left <= 0):
        return mip, trivial(mip, task, BackendStatus.NO_SOLUTION)
    return mip, None
