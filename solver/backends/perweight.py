"""CP-SAT on the per-weight formulation of weights mode (docs/design.md §15), rigorous by
construction like the column model's fixed point (docs/design.md §7).

Why CP-SAT and not a float MIP with big-M. The per-weight model has one ReLU per (live unit,
point). With enforcement literals (``only_enforce_if``) CP-SAT states each ReLU and the
output-weight product exactly on integers, with no integrality tolerance to carry into a margin
(the one big-M, M z in a lower row of a unit with several output weights, is an integer row
like any other); a float MIP would need big-M rows whose near-integral indicators (1e-9 times M
per unit) and dropped coefficients (§8) all enter the margin. The bound below is a theorem, not
a model of a solver's tolerances.

Notation (solver/formulation/perweight.py). Rows are (point, output) pairs q = (p, o), as in
every formulation (docs/design.md §3); with one output they are the points. Unit a has kept
hidden weights w_aj, a literal live_a, and one literal z_oa per non-zero output weight v_oa:
    w_aj => live_a,   z_oa => live_a,   live_a => OR_o z_oa,
so a unit keeping no output weight is dead and keeps no hidden weight, and the kept count
sum_o,a z_oa + sum_a,j w_aj is the mask's (docs/design.md §1). A unit with one non-zero output
weight (every unit when k = 1) has z_oa = live_a itself, and the model below is then exactly the
one-output model. At row q the unit contributes z_oa s_oa relu(r_aq), r_aq = sum_j c_ajq w_aj +
beta_aq live_a (c, beta carry |v_oa|): the pre-activation times |v_oa| when live, exactly 0
when dead. Over masks min(0, low_aq) <= r_aq <= max(0, high_aq) exactly. S is the row scale,
F_aq >= 1 a finer scale per (unit, row); floor/ceil act on exact values. Per (a, q) with
high_aq > 0 (else the unit adds nothing at q):
    Qlo = sum_j floor(S F c_ajq) w_aj + floor(S F beta_aq) live_a,   Qhi = the same with ceil,
so Qlo <= S F r_aq <= Qhi at every mask; g_aq in [0, floor((max Qhi + F - 1) / F)] an integer;
    F g >= Qlo - F + 1                        (z_oa = live_a: always, g >= relu(r) >= r)
    F g >= Qlo - F + 1 - M (1 - z_oa), not z_oa => g = 0     (otherwise; M = max(0, max Qlo -
                                              F + 1) over masks, so the row is void at z = 0)
    F g <= Qhi + F - 1                        (low_aq >= 0: always, no ReLU literal needed)
    act => F g <= Qhi + F - 1, act => Qhi >= 0, not act => g = 0, not act => Qlo <= 0
                                              (otherwise, with the literal act_ap)
where act_ap is one literal per (unit, point p), shared by the point's rows: r_aq is |v_oa|
times the unit's pre-activation at x_p, whose sign does not depend on o (low_aq < 0 for one o
iff for every o with v_oa != 0). All of these are linear with enforcement literals, so the LP
sees the unconditional rows, and no tolerance enters.
The output at row q is O_q = sum_a s_oa g_aq (at scale S, before the output bias c_o); Cf/Cc and
Yf/Yc are the floors/ceils of S c_o and S y_q.

min_error rows: O + Cf - Yc <= t; identity output: Yf - Cc - O <= t; ReLU output (§4):
t >= ceil(-S y_q), and for y_q > 0 a literal b_q with b_q => Yf - Cc - O <= t and
not b_q => t >= ceil(S y_q) (b_q fixed to 1 when ceil(S y_q) exceeds t's cap). Minimise t.

Theorem (relaxation). For every mask m with exact error e(m), t = ceil(S e(m)) is feasible. Proof:
set live, w, z from m (its canonical form: a dead unit keeps nothing) and act_ap = [r_aq > 0]
(the same for every row q of point p, as said above); live <=> OR z and w => live then hold. Fix
a row q = (p, o) and a unit a with high_aq > 0. If z_oa = 0 (the unit is dead, or live without
keeping v_oa), set g_aq = 0, the exact contribution: not z => g = 0 holds, the lower row holds
(the M row since Qlo - F + 1 - M <= 0; the unconditional one where z_oa = live_a, since the unit
is then dead and Qlo = 0), and the upper rows hold since Qhi >= 0 wherever they are enforced
(act, or low_aq >= 0 and so Qhi >= S F r >= 0). If z_oa = 1 and r_aq > 0 (or low_aq >= 0), both floor(S r) and ceil(S
r) satisfy the rows: F floor(S r) > F S r - F >= Qlo - F, an integer, so >= Qlo - F + 1; F
ceil(S r) < F S r + F <= Qhi + F, so <= Qhi + F - 1; Qhi >= S F r > 0. If z_oa = 1 and r_aq <= 0,
g = 0 = S relu(r_aq) exactly, Qlo <= 0 and so 0 >= Qlo - F + 1. Each g_aq appears in row q only,
so the rounding is chosen row by row: choose each g_aq with z_oa = 1 and r_aq > 0 among floor and
ceil of S relu(r_aq) keeping the running signed rounding error sum_a s_oa (g_aq - S z_oa
relu(r_aq)) in (-1, 1) (add an error of the opposite sign to the current one: each is in (-1, 0]
or [0, 1); the others add none). Then |O_q - G_q| < 1 with G_q = S (o_q - c_o) exact, and O + Cf
- Yc < S (o_q - y_q) + 1 <= S e(m) + 1, an integer, so <= ceil(S e(m)); Yf - Cc - O < S (y_q -
o_q) + 1 likewise. With a ReLU output, relu(o) - y <= e gives -y_q <= e(m), so ceil(S e) >=
ceil(-S y_q); if o_q >= 0 set b_q = 1 (the row above holds with relu(o) = o), else e(m) >= y_q
and b_q = 0 holds: ceil(S e) >= ceil(S y_q). The cap on t is ceil(S U) with U the caller's
error_upper_bound (the optimum is at most it) or the largest |y_q| + |c_o| + sum_a relu(high_aq)
over rows, which bounds every mask's error.
Hence the integer optimum T* <= ceil(S e(m)) < S e(m) + 1 for every mask, and
    (T* - 1) / S < the least exact error:   error_bound = max(0, floor(CP-SAT's bound) - 1) / S.
Resolution: the relaxation can pick each g_aq anywhere within about one unit of S r_aq, so its
optimum can lie up to about (live units + 1) / S below the exact optimum; the engine then states
FEASIBLE with that gap (never OPTIMAL on trust) when it exceeds the tolerance.

min_kept relaxation (a rigorous bound on the count): rows <= ceil(S eps) in place of t (a mask
with e(m) <= eps has rows < S eps + 1, by the proof above). ReLU output: y_q < -eps is exactly
infeasible; the lower row is only needed for y_q > eps, where every mask with e <= eps has o_q > 0.

min_kept restriction (every choice truly within eps): take any solution. Where z_oa = 0, g_aq = 0
is the exact contribution. Where z_oa = 1, the lower row is F g >= Qlo - F + 1, and where F g <=
Qhi + F - 1 holds, |g - S r| <= W/F + 1 - 1/F with W = Qhi - Qlo (at most the number of
non-integral scaled coefficients plus one), and Qhi >= 0 (or low >= 0) gives S r >= -W/F, so
|g - S relu(r)| <= 2W/F + 1; where not act, g = 0 and Qlo <= 0 gives S relu(r) <= W/F. So |O_q -
G_q| <= R_q = sum over the row's pairs of (1 + 2 W_aq/F_aq), and the rows O + Cc - Yf + ceil(R_q)
<= floor(S eps) and Yc - Cf - O + ceil(R_q) <= floor(S eps) imply the exact |o_q - y_q| <= eps
(ReLU output as for the relaxation, exactly), row by row, so the mask's error is at most eps.

Cuts (docs/design.md §15; solver/formulation/perweight_cuts.py, after Anderson et al. 2020). The
ReLU rows above reach the LP only through the enforcement literals, which CP-SAT's LP sees
weakly if at all: its first LP bound was 0.0025 at an error of 1.4 (iris, d = 4, n = 8, k = 3,
150 points; HiGHS on the LP below: 0.52). So at each
(a, q) with low_aq < 0 the model also has act_ap => live_a and, for subsets I of the unit's
weights (always I = {} and I = all, the two big-M rows; with min_error also the subsets that LP
separation picks), the unconditional row, at a scale F' >= 1 (F halved, rounding down, until
the row's activity, computed exactly, is within ACTIVITY_BUDGET; a cut that fits at no F' >= 1 is
left out):
    F' g <= sum_{j in I} ceil(S F' c_ajq) w_aj + L (live_a - act_ap) + A act_ap + F' - 1,
    L = sum_{j in I, c_ajq < 0} ceil(-S F' c_ajq),
    A = ceil(S F' beta_aq) + sum_{j not in I, c_ajq > 0} ceil(S F' c_ajq).
They hold at the point the theorem sets for every mask, so the theorem, its bound and the
min_kept relaxation stand (and the restriction holds for any solution of a model with more
rows). Proof: there act_ap = [r_aq > 0] and a dead unit has r = 0, so act => live holds and
live - act, act and w are 0 or 1; rounding each coefficient of a non-negative quantity up only
raises the right side, which is therefore at least S F' rho + F' - 1 with
    rho = sum_{j in I} c_j w_j + sum_{j in I, c_j < 0} |c_j| (live - act)
          + (beta + sum_{j not in I, c_j > 0} c_j) act.
If act = 1 (so live = 1), rho >= r (each j outside I adds max(0, c_j) >= c_j w_j), and g is 0 or
at most ceil(S r) < S r + 1, so F' g < S F' rho + F'; both sides are integers, so F' g <= the
right side. If act = 0, g = 0 and rho = sum_{I, c > 0} c_j w_j + sum_{I, c < 0} |c_j| (live -
w_j) >= 0 since w_j <= live, so the right side is at least F' - 1 >= 0. (With several outputs
g is 0 when z_oa = 0, which the same two cases cover.) Which subsets are chosen, by the float
LP or otherwise, does not matter for soundness; tests check every subset's rounded row at every
mask's point by brute force (tests/backends/test_perweight.py). The separation LP also gives a
rigorous bound of its own (exact arithmetic on its duals, proven in perweight_cuts.py), with t
capped by the cap on t above; error_bound is the larger of it and (T* - 1) / S. Measured
(scikit-learn MLPs imported as bench/real.py does, and bench/formulations.py's gauss; 60 s
through the engine's route, one process, a loaded 2-core machine; min_error at half the
weights, gauss at a third), bound before ->
after: iris d = 4, n = 8, k = 3, 150 points 0.58 -> 0.69 (error 1.37); iris n = 16 0 -> 0.28;
gauss 4:16 0 -> 0.50 (the LP's bound; CP-SAT's was still 0); gauss 8:12 1.57 -> 2.04 (gap 30 %
-> 9 %); diabetes n = 8 and 16 (d = 10, 200 points) 0 -> 0: there the LP fits the target.

Scale. S keeps every constraint's activity (sum of |coefficient| times the variable's largest
magnitude) within ACTIVITY_BUDGET (google/or-tools#5293, docs/design.md §7), up to the outward
roundings, each under one unit of the finer scale: a row's activity is at most S P_q + S P_max +
units (d + 1) + 4 with P_q = sum_a relu(high_aq) + |c_o| + |y_q| (+ eps), since a g reaches at
most S relu(high) + 1 + d/F and t's cap is at most S P_max + 1, and 2 S P_max <=
ACTIVITY_BUDGET - 2 units - 8; a (unit, row) constraint's is at most F S (relu(high) + sum_j
|c_ajq| + |beta_aq|) + 2 d + F + 1, with the M z term (a unit of several output weights; M <=
S F relu(high) + d + 1) F S (2 relu(high) + sum_j |c_ajq| + |beta_aq|) + 3 d + F + 2, and F is
chosen so that F (S (...) + d + 4), resp. F (S (...) + 2 d + 6), is within the budget. So the
roundings exceed the budget by at most units (d + 1) (a row) or 3 d (a pair, when F is 1): far
inside the 2^30 between the budget and the 2^31 that wraps.
S is the largest integer allowed by both; when values are so large that it would be below 1, S is
the power of two 2^-p that fits (no scaling refusal; the error is linear in the data). F_aq is the
largest integer keeping its rows within the budget. Unlike the column model, whose rows sum
2^d (2^k - 1) pattern columns per unit, a row here sums one bound per unit: d = 10 is no harder
to scale.
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
from solver.core.problem import PruningMode
from solver.formulation.columns import ColumnModel
from solver.formulation.perweight import PerWeightData, per_weight_data
from solver.formulation.perweight_cuts import separate

# Model building checks the deadline (BackendOptions.deadline) every this many points.
CHECK_POINTS = 16


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
    per_row = relu_high.sum(axis=0) if len(data.units) else np.zeros(data.num_points, dtype=object)
    per_row = np.abs(data.target).astype(object) + np.abs(data.biases) + per_row
    largest_row = _value(max(per_row.tolist(), default=0), e) + extra
    units = len(data.units)
    d = data.coef.shape[2]
    budget_row = Fraction(ACTIVITY_BUDGET - 2 * units - 8)
    limits = []
    if largest_row > 0:
        limits.append(budget_row / (2 * largest_row))
    if units and data.num_points:
        # A unit with several output weights carries M z_oa (at most S relu(high) + d + 1 at
        # scale F) in its lower rows: one more relu(high), and more room for the roundings.
        shared = np.array([len(outs) > 1 for outs in data.outputs], dtype=bool)
        pair = relu_high + np.abs(data.coef).sum(axis=2) + np.abs(data.beta)
        limit = Fraction(ACTIVITY_BUDGET - d - 4)
        if shared.any():
            pair = pair + np.where(shared[:, None], relu_high, 0).astype(object)
            limit = Fraction(ACTIVITY_BUDGET - 2 * d - 6)
        largest_pair = _value(max(pair.ravel().tolist()), e)
        if largest_pair > 0:
            limits.append(limit / largest_pair)
    allowed = min(limits, default=Fraction(ACTIVITY_BUDGET))
    if allowed >= 1:
        return _Scale(math.floor(allowed))
    shift = 0
    while Fraction(2) ** shift > allowed:
        shift -= 1
    return _Scale(1, shift)


class PerWeightCpSatBackend(Backend):
    """The per-weight formulation on CP-SAT: weights mode, k >= 1 outputs (see the module)."""

    name = "perweight-cpsat"
    formulation = "perweight"
    # Rounds of LP separation of the cuts (*) of solver/formulation/perweight_cuts.py before a
    # min_error solve (0: none), and the share of the time left they may take. Measured on
    # iris n = 8, one solve on every row: 5 rounds within 25 % lost to the big-M rows alone at
    # 30 s (bound 0.49 vs 0.62: the search missed the LP's time); 1 round within 10 % beat them
    # at 60 s (0.82 vs 0.73).
    cut_rounds = 2
    cut_share = 0.1
    # The two big-M members of (*) (I = {} and I = all) as unconditional rows at every ReLU.
    static_cuts = True
    # Extra CP-SAT parameters (name -> value), none by default: for measurements (e.g.
    # linearization_level 2, which measured no better than the default: iris n = 8, 30 s, bound
    # 0.56 vs 0.56; gauss 8:12 1.60 vs 1.57).
    extra_parameters: dict = {}

    @classmethod
    def available(cls) -> bool:
        return CpSatBackend.available()

    @classmethod
    def version(cls) -> str:
        return CpSatBackend.version()

    @classmethod
    def accepts(cls, model: ColumnModel, task: Task) -> bool:
        # Any k: the per-weight data and model read only the problem, the rows' data and
        # ColumnModel.choice, never the enumerated candidates, so a lazy model serves too.
        return model.problem.pruning == PruningMode.WEIGHTS

    def solve(
        self, model: ColumnModel, rows: np.ndarray, task: Task, options: BackendOptions
    ) -> BackendOutcome:
        from ortools.sat.python import cp_model

        self.check_fixed_units(options)  # a cube's bound must be about the cube's masks
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
        # The output weights' literals z_oa, per unit over data.outputs[a]. A unit with one
        # non-zero output weight (every unit when k = 1) is live exactly when it keeps it: z is
        # live itself. Otherwise live <=> some z_oa (a unit keeping no output weight is dead,
        # and w => live then keeps none of its hidden weights, as the kept count says).
        out_lits: list[list] = []
        for a in range(units):
            if len(data.outputs[a]) == 1:
                out_lits.append([live[a]])
                continue
            zs = [cp.new_bool_var(f"z{a}_{o}") for o in data.outputs[a]]
            for z in zs:
                cp.add_implication(z, live[a])
            cp.add_bool_or(zs).only_enforce_if(live[a])
            out_lits.append(zs)
        cost_vars = [z for zs in out_lits for z in zs] + [w for ws in kept for w in ws]
        kept_count = sum(cost_vars)
        binaries = len(cost_vars)  # one per weight; the ReLUs' literals come on top

        y = data.target
        y_values = [_value(v, e) for v in y.tolist()]
        c_floor, c_ceil = scale.floor(data.biases, e), scale.ceil(data.biases, e)
        y_floor, y_ceil = scale.floor(y, e), scale.ceil(y, e)
        restrict = isinstance(task, MinKeptTask) and task.restrict
        # t's cap from the active rows' data, which choose_scale budgeted for (t <= S P_max + 1);
        # a known error of some mask (over every row) can only lower it.
        relu_high = np.where(data.high > 0, data.high, 0).astype(object)
        sums = relu_high.sum(axis=0) if units else np.zeros(len(y), dtype=object)
        cap = _value(
            max(
                (
                    abs(int(a)) + abs(int(c)) + int(b)
                    for a, c, b in zip(y, data.biases, sums, strict=True)
                ),
                default=0,
            ),
            e,
        )
        if options.error_upper_bound is not None:
            cap = min(cap, options.error_upper_bound)
        cuts: dict = {"static": self.static_cuts}
        lp_bound = Fraction(0)  # the separation LP's rigorous bound (module docstring, "Cuts")
        if isinstance(task, MinErrorTask) and self.cut_rounds > 0:
            left = options.seconds_left()
            found = separate(
                data,
                task.max_kept,
                self.cut_rounds,
                cap,
                None if left is None else self.cut_share * left,
            )
            cuts |= found.cuts
            lp_bound = found.bound
        outputs: list = []  # per row: (the linear expression O_q, R_q)
        acts: dict[tuple[int, int], object] = {}  # (unit, point) -> its shared ReLU literal
        for q in range(data.num_points):
            if q % CHECK_POINTS == 0 and options.expired():
                return stopped
            outputs.append(self._row(cp, data, scale, q, live, kept, out_lits, acts, cuts))

        if isinstance(task, MinErrorTask):
            t_low = 0
            if data.output_relu:
                t_low = max([0] + [-int(v) for v in y_floor.tolist()])  # ceil(-S y) = -floor(S y)
            t_high = max(t_low, math.ceil(cap * S))
            t = cp.new_int_var(t_low, t_high, "t")
            for q, (out, _) in enumerate(outputs):
                cp.add(out + int(c_floor[q]) - int(y_ceil[q]) <= t)
                lower = int(y_floor[q]) - int(c_ceil[q]) - out <= t
                if not data.output_relu or int(y_ceil[q]) > t_high:
                    if not data.output_relu or y_values[q] > 0:
                        cp.add(lower)
                elif y_values[q] > 0:
                    active = cp.new_bool_var(f"b{q}")
                    cp.add(lower).only_enforce_if(active)
                    cp.add(t >= int(y_ceil[q])).only_enforce_if(~active)
            if task.max_kept is not None:
                cp.add(kept_count <= task.max_kept)
            cp.minimize(t)
        else:
            bound = math.floor(eps * S) if restrict else math.ceil(eps * S)
            for q, (out, slack) in enumerate(outputs):
                if data.output_relu and y_values[q] < -eps:
                    return BackendOutcome(BackendStatus.INFEASIBLE, scale=max(1, math.floor(S)))
                pad = math.ceil(slack) if restrict else 0
                if restrict:
                    cp.add(out + int(c_ceil[q]) - int(y_floor[q]) + pad <= bound)
                else:
                    cp.add(out + int(c_floor[q]) - int(y_ceil[q]) <= bound)
                if not data.output_relu or y_values[q] > eps:
                    if restrict:
                        cp.add(int(y_ceil[q]) - int(c_floor[q]) - out + pad <= bound)
                    else:
                        cp.add(int(y_floor[q]) - int(c_ceil[q]) - out <= bound)
            if task.max_kept is not None:  # the kept cap (MinKeptTask): one exact row
                cp.add(kept_count <= task.max_kept)
            cp.minimize(kept_count)

        if options.hint is not None:
            hint_out, hint_kept = data.assignment(options.hint)
            for a in range(units):
                cp.add_hint(live[a], any(hint_out[a]))
                if len(data.outputs[a]) > 1:
                    for z, on in zip(out_lits[a], hint_out[a], strict=True):
                        cp.add_hint(z, on)
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
        for key, value in self.extra_parameters.items():
            setattr(params, key, value)

        min_error = isinstance(task, MinErrorTask)
        decode = _Decoder(data, out_lits, kept)
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
            outcome.error_bound = max(_error_bound(solver.best_objective_bound, S), lp_bound)
        elif not restrict:
            raw = solver.best_objective_bound
            outcome.kept_bound = max(0, math.floor(raw + 1e-6)) if math.isfinite(raw) else 0
        return outcome

    @staticmethod
    def _row(cp, data: PerWeightData, scale: _Scale, q: int, live, kept, out_lits, acts, cuts):
        """The output O_q at row q (a linear expression at scale S) and R_q (module docstring),
        adding each (unit, row)'s g and rows, and each (unit, point)'s activity literal the
        first time one of the point's rows needs it, to ``cp``."""
        e = data.exp
        d = data.coef.shape[2]
        o, p = int(data.rows[q]) % data.num_outputs, int(data.row_point[q])
        terms, signs = [], []
        slack = Fraction(0)
        for a in range(len(data.units)):
            high, low = int(data.high[a, q]), int(data.low[a, q])
            if high <= 0:
                continue  # r_aq <= 0 under every mask (or v_oa = 0): the unit adds nothing here
            shared = len(data.outputs[a]) > 1  # z_oa is not live_a: the big-M row below
            js = data.weights[a]
            coefs = data.coef[a, q, js] if js else np.zeros(0, dtype=object)
            relu_high = _value(high, e)
            pair = relu_high + _value(
                sum(abs(int(c)) for c in coefs.tolist()) + abs(int(data.beta[a, q])), e
            )
            room = scale.value * pair + d + 4
            if shared:
                room += scale.value * relu_high + d + 2  # M z in the lower row (docstring)
            fine = max(1, math.floor(Fraction(ACTIVITY_BUDGET) / room))
            lo_c, hi_c = scale.floor(coefs, e, fine), scale.ceil(coefs, e, fine)
            lo_0 = int(scale.floor([data.beta[a, q]], e, fine)[0])
            hi_0 = int(scale.ceil([data.beta[a, q]], e, fine)[0])
            # r''_aq = c . w + beta live_a: the unit's pre-activation times |v_oa| when live,
            # exactly 0 when dead (its weights are then off), so relu(r'') is the contribution
            # either way, when z_oa is kept.
            q_low = sum(int(c) * w for c, w in zip(lo_c.tolist(), kept[a], strict=True))
            q_low += lo_0 * live[a]
            q_high = sum(int(c) * w for c, w in zip(hi_c.tolist(), kept[a], strict=True))
            q_high += hi_0 * live[a]
            # The largest r'' over masks: a kept weight implies a live unit, so the bias comes
            # with it (S relu(high), as choose_scale budgets; 0 for a dead unit).
            q_high_max = sum(max(0, int(c)) for c in hi_c.tolist()) + hi_0
            g = cp.new_int_var(0, max(0, (q_high_max + fine - 1) // fine), f"g{a}_{q}")
            if not shared:
                # g >= relu(r'') >= r'' holds at every mask: unconditional, so the LP sees it.
                cp.add(fine * g - q_low >= 1 - fine)
            else:
                # With z_oa off, g = 0 while r'' may be positive: the row holds when z_oa is
                # kept, and M (1 - z) lifts it otherwise (M: the largest Qlo - F + 1 over
                # masks, 0 for a dead unit), still linear, so the LP sees it.
                z = out_lits[a][data.outputs[a].index(o)]
                q_low_max = max(0, sum(max(0, int(c)) for c in lo_c.tolist()) + lo_0)
                big_m = max(0, q_low_max - fine + 1)
                cp.add(fine * g - q_low - big_m * z >= 1 - fine - big_m)
                cp.add(g == 0).only_enforce_if(~z)
            if low >= 0:
                cp.add(fine * g - q_high <= fine - 1)  # r'' >= 0 at every mask: no ReLU here
            else:
                # The pre-activation's sign does not depend on the output: one literal per
                # (unit, point), whichever of the point's rows comes first.
                act = acts.get((a, p))
                if act is None:
                    act = cp.new_bool_var(f"a{a}_{q}" if not shared else f"a{a}_p{p}")
                    acts[(a, p)] = act
                    if len(cuts) > 1 or cuts["static"]:
                        cp.add_implication(act, live[a])  # r > 0 only at a live unit
                g_max = max(0, (q_high_max + fine - 1) // fine)
                chosen = list(cuts.get((a, q), ()))
                if cuts["static"]:
                    chosen += [np.zeros(d, dtype=bool), np.ones(d, dtype=bool)]
                for inside in chosen:
                    _add_cut(cp, data, scale, a, q, inside, fine, g, g_max, kept[a], live[a], act)
                cp.add(q_high >= 0).only_enforce_if(act)
                cp.add(q_low <= 0).only_enforce_if(~act)
                cp.add(fine * g - q_high <= fine - 1).only_enforce_if(act)
                cp.add(g == 0).only_enforce_if(~act)
            width = sum(
                int(h) - int(lw) for h, lw in zip(hi_c.tolist(), lo_c.tolist(), strict=True)
            )
            slack += 1 + Fraction(2 * (width + hi_0 - lo_0), fine)
            terms.append(g)
            signs.append(int(data.sign[a, q]))
        return sum(s * g for s, g in zip(signs, terms, strict=True)), slack


def cut_row(data: PerWeightData, scale: _Scale, a: int, q: int, inside, fine: int, g_max: int):
    """The cut (*) of solver/formulation/perweight_cuts.py for the subset ``inside`` (booleans
    over the d inputs) at (a, q), rounded outward at F' (F halved, rounding down, until within the
    activity budget (module docstring, "Cuts"), as the row
        F' g - sum_j C_j w_j - L live - (A - L) act <= F' - 1
    in the form (F', [C_j over data.weights[a]], L, A - L, F' - 1), where
        F' g <= sum_{j in I} ceil(S F' c_j) w_j + L (live - act) + A act + F' - 1,
        L = sum_{j in I, c_j < 0} ceil(-S F' c_j),
        A = ceil(S F' beta) + sum_{j not in I, c_j > 0} ceil(S F' c_j);
    None when no F' >= 1 fits (a cut is optional)."""
    e = data.exp
    js = data.weights[a]
    coefs = data.coef[a, q, js] if js else np.zeros(0, dtype=object)
    member = [bool(inside[j]) for j in js]
    sign = [(int(c) > 0) - (int(c) < 0) for c in coefs.tolist()]
    f = fine
    while True:
        hi = [int(v) for v in scale.ceil(coefs, e, f).tolist()]
        lo = [int(v) for v in scale.floor(coefs, e, f).tolist()]
        weight = [h if m else 0 for h, m in zip(hi, member, strict=True)]
        minus = sum(-v for v, m, sg in zip(lo, member, sign, strict=True) if m and sg < 0)
        plus = sum(h for h, m, sg in zip(hi, member, sign, strict=True) if sg > 0 and not m)
        on = int(scale.ceil([data.beta[a, q]], e, f)[0]) + plus
        # live carries L, act A - L: the activity of the row as CP-SAT sees it.
        activity = f * g_max + sum(abs(v) for v in weight) + minus + abs(on - minus)
        if activity <= ACTIVITY_BUDGET:
            return f, weight, minus, on - minus, f - 1
        if f == 1:
            return None
        f = max(1, f // 2)


def _add_cut(cp, data, scale, a, q, inside, fine, g, g_max, kept, live, act) -> None:
    row = cut_row(data, scale, a, q, inside, fine, g_max)
    if row is None:
        return
    f, weight, on_live, on_act, right = row
    expr = f * g - sum(v * w for v, w in zip(weight, kept, strict=True) if v)
    cp.add(expr - on_live * live - on_act * act <= right)


def _error_bound(raw: float, scale: Fraction) -> Fraction:
    """(T* - 1) / S with T* CP-SAT's bound on the integer objective (module docstring). A bound
    on an integer objective may be reported just below the integer: the 1e-6 guards that."""
    if not math.isfinite(raw):
        return Fraction(0)
    return Fraction(max(0, math.floor(raw + 1e-6) - 1)) / scale


class _Decoder:
    """Turns a CP-SAT assignment of the weights' literals into the column model's candidates."""

    def __init__(self, data: PerWeightData, out_lits, kept):
        self.data, self.out_lits, self.kept = data, out_lits, kept

    def __call__(self, value) -> list[int]:
        kept_out = [[bool(value(z)) for z in zs] for zs in self.out_lits]
        kept = [[bool(value(w)) for w in ws] for ws in self.kept]
        return self.data.candidates(kept_out, kept)


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
