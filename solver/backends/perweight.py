"""CP-SAT on the per-weight formulation of weights mode (docs/design.md §15), rigorous by
construction like the column model's fixed point (docs/design.md §7).

Why CP-SAT and not a float MIP with big-M. The per-weight model has one ReLU per (live unit,
point). With enforcement literals (``only_enforce_if``) CP-SAT states each ReLU and the
output-weight product exactly on integers, with no big-M and no integrality tolerance to carry
into a margin; a float MIP would need big-M rows whose near-integral indicators (1e-9 times M per
unit) and dropped coefficients (§8) all enter the margin. The bound below is a theorem, not a
model of a solver's tolerances.

Notation (solver/formulation/perweight.py): unit a (literal ``live_a``) with kept weights w_aj
(w_aj => live_a: a dead unit keeps no weight, and the kept count is sum live + sum w) contributes
s_a relu(r_ak) at point k with r_ak = sum_j c_ajk w_aj + beta_a live_a: the pre-activation when
live, exactly 0 when dead, so relu(r_ak) is the contribution either way. Over masks
min(0, low_ak) <= r_ak <= max(0, high_ak) exactly. S is the row scale, F_ak >= 1 a finer scale
per (unit, point); floor/ceil act on exact values. Per (a, k) with high_ak > 0 (else the unit
adds nothing at k):
    Qlo = sum_j floor(S F c_ajk) w_aj + floor(S F beta_a) live_a,   Qhi = the same with ceil,
so Qlo <= S F r_ak <= Qhi at every mask; g_ak in [0, floor((max Qhi + F - 1) / F)] an integer;
    F g >= Qlo - F + 1                        (always: g >= relu(r) >= r; the LP sees it)
    F g <= Qhi + F - 1                        (low_ak >= 0: always, no ReLU literal needed)
    act => F g <= Qhi + F - 1, act => Qhi >= 0, not act => g = 0, not act => Qlo <= 0
                                              (otherwise, with a new literal act).
The output at point k is O_k = sum_a s_a g_ak (at scale S, before the output bias c); Cf/Cc and
Yf/Yc are the floors/ceils of S c and S y_k.

min_error rows: O + Cf - Yc <= t; identity output: Yf - Cc - O <= t; ReLU output (§4):
t >= ceil(-S y_k), and for y_k > 0 a literal b_k with b_k => Yf - Cc - O <= t and
not b_k => t >= ceil(S y_k) (b_k fixed to 1 when ceil(S y_k) exceeds t's cap). Minimise t.

Theorem (relaxation). For every mask m with exact error e(m), t = ceil(S e(m)) is feasible. Proof:
set live, w from m and act = [r_ak > 0]. If r_ak > 0 (or low_ak >= 0), both floor(S r) and ceil(S r)
satisfy the rows: F floor(S r) > F S r - F >= Qlo - F, an integer, so >= Qlo - F + 1; F ceil(S r) <
F S r + F <= Qhi + F, so <= Qhi + F - 1; Qhi >= S F r > 0. If r_ak <= 0, g = 0 = S relu(r_ak)
exactly, Qlo <= 0 and so 0 >= Qlo - F + 1. Choose each active g among floor and ceil of S relu(r_ak)
keeping the running signed rounding error sum_a s_a (g_ak - S relu(r_ak)) in (-1, 1) (add an error
of the opposite sign to the current one: each is in (-1, 0] or [0, 1)). Then |O_k - G_k| < 1 with
G_k = S (o_k - c) exact, and O + Cf - Yc < S (o_k - y_k) + 1 <= S e(m) + 1, an integer, so <= ceil(S
e(m)); Yf - Cc - O < S (y_k - o_k) + 1 likewise. With a ReLU output, relu(o) - y <= e gives -y_k <=
e(m), so ceil(S e) >= ceil(-S y_k); if o_k >= 0 set b_k = 1 (the row above holds with relu(o) = o),
else e(m) >= y_k and b_k = 0 holds: ceil(S e) >= ceil(S y_k). The cap on t is ceil(S U) with U the
caller's error_upper_bound (the optimum is at most it) or the largest |y_k| + |c| + sum_a
relu(high_ak), which bounds every mask's error.
Hence the integer optimum T* <= ceil(S e(m)) < S e(m) + 1 for every mask, and
    (T* - 1) / S < the least exact error:   error_bound = max(0, floor(CP-SAT's bound) - 1) / S.
Resolution: the relaxation can pick each g_ak anywhere within about one unit of S r_ak, so its
optimum can lie up to about (live units + 1) / S below the exact optimum; the engine then states
FEASIBLE with that gap (never OPTIMAL on trust) when it exceeds the tolerance.

min_kept relaxation (a rigorous bound on the count): rows <= ceil(S eps) in place of t (a mask
with e(m) <= eps has rows < S eps + 1). ReLU output: y_k < -eps is exactly infeasible; the lower
row is only needed for y_k > eps, where every mask with e <= eps has o_k > 0.

min_kept restriction (every choice truly within eps): where F g <= Qhi + F - 1 holds, |g - S r| <=
W/F + 1 - 1/F with W = Qhi - Qlo (at most the number of non-integral scaled coefficients plus one),
and Qhi >= 0 (or low >= 0) gives S r >= -W/F, so |g - S relu(r)| <= 2W/F + 1; where not act, g = 0
and Qlo <= 0 gives S relu(r) <= W/F. So |O_k - G_k| <= R_k = sum over the point's pairs of (1 + 2
W_ak/F_ak), and the rows O + Cc - Yf + ceil(R_k) <= floor(S eps) and Yc - Cf - O + ceil(R_k) <=
floor(S eps) imply the exact |o_k - y_k| <= eps (ReLU output as for the relaxation, exactly).

Scale. S keeps every constraint's activity (sum of |coefficient| times the variable's largest
magnitude) within ACTIVITY_BUDGET (google/or-tools#5293, docs/design.md §7): a row's is at most
2 S P_k + 2 units + 8 with P_k = sum_a relu(high_ak) + |c| + |y_k| (+ eps), since t's cap is at
most S P_max + 1; a (unit, point) row's is F (S (relu(high) + sum_j |c_ajk| + |beta_a|) + d + 4).
S is the largest integer allowed by both; when values are so large that it would be below 1, S is
the power of two 2^-p that fits (no scaling refusal; the error is linear in the data). F_ak is the
largest integer keeping its rows within the budget. Unlike the column model, whose rows sum
2^d pattern columns per unit, a row here sums one bound per unit: d = 10 is no harder to scale.
"""

from __future__ import annotations

import math
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
    line_relay,
)
from solver.backends.cpsat import CpSatBackend, relay_stop
from solver.core.problem import Problem, PruningMode
from solver.formulation.columns import ColumnModel
from solver.formulation.perweight import PerWeightData, per_weight_data

# Model building checks the deadline (BackendOptions.deadline) every this many points.
CHECK_POINTS = 16

# prefer_per_weight: the column model's size, n * 2^d pattern columns per point, above which the
# per-weight model is the better choice (measured in bench/real.py; docs/design.md §15).
PATTERNS_PER_POINT_THRESHOLD = 16 * 2**6


def prefer_per_weight(problem: Problem) -> bool:
    """Whether "auto" should solve ``problem`` with the per-weight formulation rather than the
    pattern model: weights mode, one output, and more than PATTERNS_PER_POINT_THRESHOLD
    pattern columns (n * 2^d) per point."""
    net = problem.network
    if problem.pruning != PruningMode.WEIGHTS or _outputs(problem) != 1:
        return False
    return net.n * 2**net.d > PATTERNS_PER_POINT_THRESHOLD


def _outputs(problem: Problem) -> int:
    return int(getattr(problem.network, "outputs", 1))


class _Scale:
    """A positive scale num * 2**shift (shift <= 0): an integer, or a power of two below 1."""

    def __init__(self, num: int, shift: int = 0):
        self.num, self.shift = num, shift

    @property
    def value(self) -> Fraction:
        return Fraction(self.num) * Fraction(2) ** self.shift

    def floor(self, ints, exp: int, fine: int = 1):
        return exact.floor_scaled(np.asarray(ints, dtype=object), exp + self.shift, self.num * fine)

    def ceil(self, ints, exp: int, fine: int = 1):
        return exact.ceil_scaled(np.asarray(ints, dtype=object), exp + self.shift, self.num * fine)


def _value(ints: int, exp: int) -> Fraction:
    return exact.to_fraction(int(ints), exp)


def choose_scale(data: PerWeightData, extra: Fraction) -> _Scale:
    """The largest scale keeping every constraint within ACTIVITY_BUDGET (see the docstring);
    ``extra``: eps for min_kept (its right-hand side), 0 for min_error."""
    e = data.exp
    relu_high = np.where(data.high > 0, data.high, 0).astype(object)
    per_point = (
        relu_high.sum(axis=0) if len(data.units) else np.zeros(data.num_points, dtype=object)
    )
    per_point = np.abs(data.target).astype(object) + abs(data.bias) + per_point
    largest_row = _value(max(per_point.tolist(), default=0), e) + extra
    units = len(data.units)
    budget_row = Fraction(ACTIVITY_BUDGET - 2 * units - 8)
    limits = []
    if largest_row > 0:
        limits.append(budget_row / (2 * largest_row))
    if units and data.num_points:
        pair = relu_high + np.abs(data.coef).sum(axis=2) + np.abs(data.beta)[:, None]
        largest_pair = _value(max(pair.ravel().tolist()), e)
        if largest_pair > 0:
            limits.append(Fraction(ACTIVITY_BUDGET - data.coef.shape[2] - 4) / largest_pair)
    allowed = min(limits, default=Fraction(ACTIVITY_BUDGET))
    if allowed >= 1:
        return _Scale(math.floor(allowed))
    shift = 0
    while Fraction(2) ** shift > allowed:
        shift -= 1
    return _Scale(1, shift)


class PerWeightCpSatBackend(Backend):
    """The per-weight formulation on CP-SAT: weights mode with one output (see the module)."""

    name = "perweight-cpsat"
    formulation = "perweight"

    @classmethod
    def available(cls) -> bool:
        return CpSatBackend.available()

    @classmethod
    def version(cls) -> str:
        return CpSatBackend.version()

    @classmethod
    def accepts(cls, model: ColumnModel, task: Task) -> bool:
        problem = model.problem
        return problem.pruning == PruningMode.WEIGHTS and _outputs(problem) == 1

    def solve(
        self, model: ColumnModel, rows: np.ndarray, task: Task, options: BackendOptions
    ) -> BackendOutcome:
        from ortools.sat.python import cp_model

        data = per_weight_data(model, np.asarray(rows, dtype=np.int64))
        eps = task.max_error if isinstance(task, MinKeptTask) else Fraction(0)
        scale = choose_scale(data, eps)
        S = scale.value
        e = data.exp
        units = len(data.units)
        stopped = BackendOutcome(BackendStatus.NO_SOLUTION, scale=max(1, math.floor(S)))
        if options.expired():
            return stopped
        cp = cp_model.CpModel()
        live = [cp.new_bool_var(f"v{a}") for a in range(units)]
        kept = [[cp.new_bool_var(f"w{a}_{j}") for j in data.weights[a]] for a in range(units)]
        for a in range(units):
            for w in kept[a]:
                cp.add_implication(w, live[a])
        cost_vars = live + [w for ws in kept for w in ws]
        kept_count = sum(cost_vars)
        binaries = len(cost_vars)  # one per weight; the ReLUs' literals come on top

        y = data.target
        y_values = [_value(v, e) for v in y.tolist()]
        c_floor, c_ceil = int(scale.floor([data.bias], e)[0]), int(scale.ceil([data.bias], e)[0])
        y_floor, y_ceil = scale.floor(y, e), scale.ceil(y, e)
        restrict = isinstance(task, MinKeptTask) and task.restrict
        outputs: list = []  # per point: (the linear expression O_k, R_k)
        for k in range(data.num_points):
            if k % CHECK_POINTS == 0 and options.expired():
                return stopped
            outputs.append(self._point(cp, data, scale, k, live, kept))

        if isinstance(task, MinErrorTask):
            t_low = 0
            if data.output_relu:
                t_low = max([0] + [-int(v) for v in y_floor.tolist()])  # ceil(-S y) = -floor(S y)
            # t's cap from the active rows' data, which choose_scale budgeted for (t <= S P_max
            # + 1); a known error of some mask (over every row) can only lower it.
            relu_high = np.where(data.high > 0, data.high, 0).astype(object)
            sums = relu_high.sum(axis=0) if units else np.zeros(len(y), dtype=object)
            cap = _value(
                max((abs(int(a)) + abs(data.bias) + int(b) for a, b in zip(y, sums)), default=0),
                e,
            )
            if options.error_upper_bound is not None:
                cap = min(cap, options.error_upper_bound)
            t_high = max(t_low, math.ceil(cap * S))
            t = cp.new_int_var(t_low, t_high, "t")
            for k, (out, _) in enumerate(outputs):
                cp.add(out + c_floor - int(y_ceil[k]) <= t)
                lower = int(y_floor[k]) - c_ceil - out <= t
                if not data.output_relu or int(y_ceil[k]) > t_high:
                    if not data.output_relu or y_values[k] > 0:
                        cp.add(lower)
                elif y_values[k] > 0:
                    active = cp.new_bool_var(f"b{k}")
                    cp.add(lower).only_enforce_if(active)
                    cp.add(t >= int(y_ceil[k])).only_enforce_if(~active)
            if task.max_kept is not None:
                cp.add(kept_count <= task.max_kept)
            cp.minimize(t)
        else:
            bound = math.floor(eps * S) if restrict else math.ceil(eps * S)
            for k, (out, slack) in enumerate(outputs):
                if data.output_relu and y_values[k] < -eps:
                    return BackendOutcome(BackendStatus.INFEASIBLE, scale=max(1, math.floor(S)))
                pad = math.ceil(slack) if restrict else 0
                if restrict:
                    cp.add(out + c_ceil - int(y_floor[k]) + pad <= bound)
                else:
                    cp.add(out + c_floor - int(y_ceil[k]) <= bound)
                if not data.output_relu or y_values[k] > eps:
                    if restrict:
                        cp.add(int(y_ceil[k]) - c_floor - out + pad <= bound)
                    else:
                        cp.add(int(y_floor[k]) - c_ceil - out <= bound)
            cp.minimize(kept_count)

        if options.hint is not None:
            hint_live, hint_kept = data.assignment(options.hint)
            for a in range(units):
                cp.add_hint(live[a], hint_live[a])
                for w, on in zip(kept[a], hint_kept[a], strict=True):
                    cp.add_hint(w, on)

        solver = cp_model.CpSolver()
        params = solver.parameters
        params.catch_sigint_signal = False  # the caller stops through options.stop (cpsat.py)
        # Belt and braces for google/or-tools#5293 (enforced linear constraints in presolve).
        params.presolve_inclusion_work_limit = 0
        if options.expired():
            return stopped
        left = options.seconds_left()
        if left is not None:
            params.max_time_in_seconds = left
        if options.log is not None:
            params.log_search_progress = True
            params.log_to_stdout = False
            solver.log_callback = line_relay(options.log)
        if options.threads:
            params.num_workers = int(options.threads)
        if options.seed is not None:
            params.random_seed = int(options.seed)

        min_error = isinstance(task, MinErrorTask)
        decode = _Decoder(data, live, kept)
        callback = _incumbents(decode, cost_vars, S, min_error, options)
        if options.on_bound is not None and min_error:
            on_bound = options.on_bound
            solver.best_bound_callback = lambda raw: on_bound(float(_error_bound(raw, S)))
        if options.stop is not None and options.stop.is_set():
            return stopped
        with relay_stop(solver, options.stop):
            status = solver.solve(cp, callback)

        outcome = BackendOutcome(
            BackendStatus.NO_SOLUTION, scale=max(1, math.floor(S)), binary_variables=binaries
        )
        if status == cp_model.MODEL_INVALID:
            raise RuntimeError(f"CP-SAT rejected the per-weight model: {cp.validate()}")
        if status == cp_model.INFEASIBLE:
            outcome.status = BackendStatus.INFEASIBLE
            return outcome
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            outcome.status = (
                BackendStatus.OPTIMAL if status == cp_model.OPTIMAL else BackendStatus.FEASIBLE
            )
            outcome.chosen = decode(solver.boolean_value)
        if min_error:
            outcome.error_bound = _error_bound(solver.best_objective_bound, S)
        elif not restrict:
            raw = solver.best_objective_bound
            outcome.kept_bound = max(0, math.floor(raw + 1e-6)) if math.isfinite(raw) else 0
        return outcome

    @staticmethod
    def _point(cp, data: PerWeightData, scale: _Scale, k: int, live, kept):
        """The output O_k at point k (a linear expression at scale S) and R_k (module docstring),
        adding each (unit, point)'s g, activity literal and rows to ``cp``."""
        e = data.exp
        d = data.coef.shape[2]
        terms, signs = [], []
        slack = Fraction(0)
        for a in range(len(data.units)):
            high, low = int(data.high[a, k]), int(data.low[a, k])
            if high <= 0:
                continue  # r_ak <= 0 under every mask: the unit adds nothing here
            js = data.weights[a]
            coefs = data.coef[a, k, js] if js else np.zeros(0, dtype=object)
            relu_high = _value(high, e)
            pair = relu_high + _value(
                sum(abs(int(c)) for c in coefs.tolist()) + abs(int(data.beta[a])), e
            )
            fine = max(1, math.floor(Fraction(ACTIVITY_BUDGET) / (scale.value * pair + d + 4)))
            lo_c, hi_c = scale.floor(coefs, e, fine), scale.ceil(coefs, e, fine)
            lo_0 = int(scale.floor([data.beta[a]], e, fine)[0])
            hi_0 = int(scale.ceil([data.beta[a]], e, fine)[0])
            # r''_ak = c . w + beta live_a: the unit's pre-activation when live, exactly 0 when
            # dead (its weights are then off), so relu(r'') is the contribution either way.
            q_low = sum(int(c) * w for c, w in zip(lo_c.tolist(), kept[a], strict=True))
            q_low += lo_0 * live[a]
            q_high = sum(int(c) * w for c, w in zip(hi_c.tolist(), kept[a], strict=True))
            q_high += hi_0 * live[a]
            # The largest r'' over masks: a kept weight implies a live unit, so the bias comes
            # with it (S relu(high), as choose_scale budgets; 0 for a dead unit).
            q_high_max = sum(max(0, int(c)) for c in hi_c.tolist()) + hi_0
            g = cp.new_int_var(0, max(0, (q_high_max + fine - 1) // fine), f"g{a}_{k}")
            # g >= relu(r'') >= r'' holds at every mask: unconditional, so the LP sees it.
            cp.add(fine * g - q_low >= 1 - fine)
            if low >= 0:
                cp.add(fine * g - q_high <= fine - 1)  # r'' >= 0 at every mask: no ReLU here
            else:
                act = cp.new_bool_var(f"a{a}_{k}")
                cp.add(q_high >= 0).only_enforce_if(act)
                cp.add(q_low <= 0).only_enforce_if(~act)
                cp.add(fine * g - q_high <= fine - 1).only_enforce_if(act)
                cp.add(g == 0).only_enforce_if(~act)
            width = sum(
                int(h) - int(lw) for h, lw in zip(hi_c.tolist(), lo_c.tolist(), strict=True)
            )
            slack += 1 + Fraction(2 * (width + hi_0 - lo_0), fine)
            terms.append(g)
            signs.append(data.sign[a])
        return sum(s * g for s, g in zip(signs, terms, strict=True)), slack


def _error_bound(raw: float, scale: Fraction) -> Fraction:
    """(T* - 1) / S with T* CP-SAT's bound on the integer objective (module docstring). A bound
    on an integer objective may be reported just below the integer: the 1e-6 guards that."""
    if not math.isfinite(raw):
        return Fraction(0)
    return Fraction(max(0, math.floor(raw + 1e-6) - 1)) / scale


class _Decoder:
    """Turns a CP-SAT assignment of the weights' literals into the column model's candidates."""

    def __init__(self, data: PerWeightData, live, kept):
        self.data, self.live, self.kept = data, live, kept

    def __call__(self, value) -> list[int]:
        live = [bool(value(v)) for v in self.live]
        kept = [[bool(value(w)) for w in ws] for ws in self.kept]
        return self.data.candidates(live, kept)


def _incumbents(decode: _Decoder, cost_vars, scale: Fraction, min_error: bool, options):
    """A CP-SAT solution callback relaying incumbents to options.on_incumbent and stopping the
    search when options.should_stop asks for it (see BackendOptions)."""
    from ortools.sat.python import cp_model

    class Callback(cp_model.CpSolverSolutionCallback):
        def on_solution_callback(self) -> None:
            if options.on_incumbent is not None:
                kept = sum(1 for v in cost_vars if self.boolean_value(v))
                error = (
                    float(Fraction(int(self.objective_value)) / scale) if min_error else math.nan
                )
                options.on_incumbent(error, kept)
            if min_error and options.should_stop is not None:
                chosen = decode(self.boolean_value)
                if options.should_stop(chosen, _error_bound(self.best_objective_bound, scale)):
                    self.stop_search()

    return Callback()
