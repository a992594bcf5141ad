"""Valid inequalities for the per-weight formulation (docs/design.md §15), in the style of
Anderson, Huchette, Ma, Tjandraatmadja and Vielma 2020 ("Strong mixed-integer programming
formulations for trained neural networks"), chosen by separating an LP relaxation.

At a (unit a, row q) pair (solver/formulation/perweight.py) the contribution is g = relu(r) with
r = sum_j c_j w_j + beta live, w_j <= live, and act = [r > 0] (a dead unit has r = 0, so act
implies live). The per-weight model bounds g from above only through its ReLU literal (big-M:
g <= high act and g <= r - low (live - act)), which is what makes its LP weak. For every subset
I of the unit's weights,
    g <= sum_{j in I} c_j w_j + sum_{j in I, c_j < 0} |c_j| (live - act)
         + (beta + sum_{j not in I, c_j > 0} c_j) act                              (*)
holds at every mask with act = [r > 0] and g = relu(r) (times z_oa, the output weight's literal,
with several outputs): if act = 1 the right side is at least r (each j outside I adds
max(0, c_j) >= c_j w_j) and r = g (or g = 0 <= r when z_oa = 0); if act = 0 then g = 0 and the
right side is sum_{I, c > 0} c_j w_j + sum_{I, c < 0} |c_j| (live - w_j) >= 0 (w_j <= live).
I = all weights and I = {} are the two big-M rows; Anderson et al. show that the family (*),
over the box of the inputs, describes the convex hull of the ReLU with its indicator, and that
the most violated member at a point is found in linear time: j joins I iff its term is smaller
inside than outside, that is c_j > 0 and w_j < act, or c_j < 0 and w_j > live - act.

CP-SAT has no user-cut callback, so the backend (solver/backends/perweight.py) adds them
statically: ``separate`` solves the LP relaxation of the min_error model on the given rows
(scipy's HiGHS, in float64), separates the most violated subset per pair, adds those cuts, and
repeats for a few rounds. Which subsets are chosen does not matter for soundness: the backend
states each chosen subset's row in exact integer arithmetic, rounded outward, and its docstring
proves the rounded row valid at the point of its relaxation theorem.

The LP's own bound, made rigorous. The LP's rows are stated exactly (integers at one exponent)
and each holds at every mask's exact point x(m) = (live, w, z, act = [r > 0], g = z relu(r),
t = e(m)) with e(m) <= cap: the logical rows (w <= live, z <= live, live <= sum z, act <= live)
by the mask's canonical form; g >= r (g >= r - high (1 - z) with several outputs, since r <=
high), g <= high z, g <= r where low >= 0 (r >= 0 then), and (*) for I = {}, I = all and every
separated I, as proven above; sum_a s g + c - y <= t and (identity output) y - c - sum_a s g
<= t, since sum_a s g is o - c exactly (with a ReLU output o - y <= relu(o) - y <= e(m)); the
budget; 0 <= x <= its bounds (g <= relu(high), t <= cap). So min t over the LP is at most the
least error among masks with e(m) <= cap, which is the least error when cap is at least it.
The float LP only supplies multipliers: for any y >= 0, t >= sum_j min(0, (e_t + A^T y)_j
upper_j) - y . b over the box (Neumaier and Shcherbina 2004), evaluated in exact arithmetic
with HiGHS's duals rounded down onto a dyadic grid (``_safe_bound``). The backend reports the
larger of this bound and CP-SAT's: where CP-SAT's LP worker has no bound yet (measured: gauss
d = 4, n = 16, 0 after 60 s) the LP's is already there.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from solver.formulation.perweight import PerWeightData

# A cut is added when it cuts the LP point by more than this share of the pair's range of r.
VIOLATION = 1e-4


def most_violated(c, beta, w, live, act):
    """The subset I minimising the right side of (*) at a point, and that least right side, for
    arrays of pairs: ``c`` (pairs, d), the others (pairs,) except ``w`` (pairs, d). Linear time
    (Anderson et al. 2020): each j sits where its own term is smaller."""
    c, w = np.asarray(c, dtype=float), np.asarray(w, dtype=float)
    live, act = np.asarray(live, dtype=float), np.asarray(act, dtype=float)
    slack = (live - act)[:, None]
    inside = np.where(c > 0, w < act[:, None], np.where(c < 0, w > slack, False))
    bound = (
        (inside * c * w).sum(axis=1)
        + (inside * (c < 0) * -c).sum(axis=1) * (live - act)
        + (np.asarray(beta, dtype=float) + (~inside * (c > 0) * c).sum(axis=1)) * act
    )
    return inside, bound


@dataclass
class Separation:
    """What ``separate`` found: the subsets to add per (unit index a, row index q), each a
    boolean array over the d inputs, and a rigorous lower bound on the least error over masks
    on the rows (module docstring), 0 when none was proven."""

    cuts: dict[tuple[int, int], list[np.ndarray]] = field(default_factory=dict)
    bound: Fraction = Fraction(0)


def separate(
    data: PerWeightData,
    max_kept: int | None,
    rounds: int,
    cap: Fraction,
    seconds: float | None = None,
) -> Separation:
    """Up to ``rounds`` rounds of LP and separation on the min_error model with at most
    ``max_kept`` weights, within ``seconds``; ``cap`` bounds every mask's error (or at least
    the least one), so t <= cap is a valid row."""
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    began = time.monotonic()
    units, rows = len(data.units), data.num_points
    result = Separation()
    if not units or not rows or rounds <= 0:
        return result
    d, e, k = data.coef.shape[2], data.exp, data.num_outputs
    # Exact rows are integers at 2**E (E <= 0, so 1 is the integer ONE); the float LP divides
    # them by 2**u, about the data's largest value, to keep HiGHS well scaled.
    E = min(e, 0)
    one = 1 << -E
    shift = e - E

    def ints(values) -> np.ndarray:
        arr = np.asarray(values, dtype=object)
        return np.asarray([int(v) << shift for v in arr.ravel().tolist()], dtype=object).reshape(
            arr.shape
        )

    coef, beta, high, low = ints(data.coef), ints(data.beta), ints(data.high), ints(data.low)
    target, bias = ints(data.target), ints(data.biases)
    largest = max(
        [abs(int(v)) for v in np.concatenate([high.ravel(), low.ravel(), target.ravel()])] + [1]
    )
    u = math.frexp(math.ldexp(float(largest), E))[1]
    to_float = 2.0 ** (E - u)
    points = sorted(set(int(p) for p in data.row_point.tolist()))
    point_of = {p: i for i, p in enumerate(points)}
    row_pt = np.array([point_of[int(p)] for p in data.row_point.tolist()], dtype=np.int64)
    npts = len(points)

    # Variables: live (units), w (units x d), z (units x k), act (units x points), g (units x
    # rows), t. Unused ones (w on a zero weight, z on a zero output weight, act or g where the
    # pair needs none) have the upper bound 0. g and t are in true units.
    o_live, o_w = 0, units
    o_z = o_w + units * d
    o_act = o_z + units * k
    o_g = o_act + units * npts
    o_t = o_g + units * rows
    nvar = o_t + 1
    upper: list[Fraction] = [Fraction(0)] * nvar
    for a in range(units):
        upper[o_live + a] = Fraction(1)
        for j in data.weights[a]:
            upper[o_w + a * d + j] = Fraction(1)
        for o in data.outputs[a]:
            upper[o_z + a * k + o] = Fraction(1)
    shared = [len(outs) > 1 for outs in data.outputs]
    row_out = np.asarray(data.rows, dtype=np.int64) % k
    for a in range(units):
        for q in range(rows):
            if int(high[a, q]) > 0:
                upper[o_g + a * rows + q] = Fraction(int(high[a, q])) * Fraction(2) ** E
                if int(low[a, q]) < 0:
                    upper[o_act + a * npts + int(row_pt[q])] = Fraction(1)
    upper[o_t] = cap

    ri: list[int] = []
    ci: list[int] = []
    vals: list[int] = []  # exact, at 2**E
    rhs: list[int] = []

    def add_row(cols, coefs, bound) -> None:
        r = len(rhs)
        ri.extend([r] * len(cols))
        ci.extend(cols)
        vals.extend(int(v) for v in coefs)
        rhs.append(int(bound))

    def zlit(a: int, o: int) -> int:
        return o_z + a * k + o if shared[a] else o_live + a

    # Every row holds at every mask's exact point (live, w, z, act = [r > 0], g = z relu(r),
    # t = its error): see the module docstring.
    for a in range(units):
        for j in data.weights[a]:
            add_row([o_w + a * d + j, o_live + a], [one, -one], 0)
        if shared[a]:
            zs = [o_z + a * k + o for o in data.outputs[a]]
            for z in zs:
                add_row([z, o_live + a], [one, -one], 0)
            add_row([o_live + a, *zs], [one] + [-one] * len(zs), 0)
        for pi in range(npts):
            if upper[o_act + a * npts + pi]:
                add_row([o_act + a * npts + pi, o_live + a], [one, -one], 0)
    ws = [[o_w + a * d + j for j in data.weights[a]] for a in range(units)]
    for a in range(units):
        for q in range(rows):
            h, lo, b = int(high[a, q]), int(low[a, q]), int(beta[a, q])
            if h <= 0:
                continue
            g = o_g + a * rows + q
            cw = [int(coef[a, q, j]) for j in data.weights[a]]
            z = zlit(a, int(row_out[q]))
            if shared[a]:  # g >= r - high (1 - z), g <= high z
                add_row([*ws[a], o_live + a, g, z], [*cw, b, -one, h], h)
                add_row([g, z], [one, -h], 0)
            else:  # g >= r
                add_row([*ws[a], o_live + a, g], [*cw, b, -one], 0)
            if lo >= 0:  # g <= r (r >= 0 at every mask)
                add_row([*ws[a], o_live + a, g], [-v for v in cw] + [-b, one], 0)
                continue
            act = o_act + a * npts + int(row_pt[q])
            add_row([g, act], [one, -h], 0)  # I = {}
            add_row([*ws[a], o_live + a, act, g], [-v for v in cw] + [-b + lo, -lo, one], 0)
    for q in range(rows):
        gs = [o_g + a * rows + q for a in range(units) if int(high[a, q]) > 0]
        ss = [int(data.sign[a, q]) * one for a in range(units) if int(high[a, q]) > 0]
        add_row([*gs, o_t], [*ss, -one], int(target[q]) - int(bias[q]))
        if not data.output_relu:  # with a ReLU output o - y <= relu(o) - y still holds
            add_row([*gs, o_t], [-v for v in ss] + [-one], int(bias[q]) - int(target[q]))
    if max_kept is not None:
        cost = [zlit(a, o) for a in range(units) for o in data.outputs[a]]
        cost += [w for wa in ws for w in wa]
        add_row(cost, [one] * len(cost), one * int(max_kept))

    objective = np.zeros(nvar)
    objective[o_t] = 1.0
    cap_float = float(cap) * (1 + 1e-9) + 1e-12
    bounds = np.array(
        [(0.0, min(float(v), cap_float) if j == o_t else float(v)) for j, v in enumerate(upper)]
    )
    c_float = np.asarray([math.ldexp(float(int(v)), 0) for v in coef.ravel().tolist()])
    c_float = (c_float * to_float).reshape(units, rows, d)
    beta_float = np.asarray([float(int(v)) for v in beta.ravel().tolist()]) * to_float
    beta_float = beta_float.reshape(units, rows)
    pairs = np.argwhere((high > 0) & (low < 0))
    pa, pq = (pairs[:, 0], pairs[:, 1]) if len(pairs) else (pairs[:0, 0], pairs[:0, 0])
    cp = c_float[pa, pq, :]
    span = np.asarray([float(int(high[a, q]) - int(low[a, q])) for a, q in pairs]) * to_float
    for _ in range(rounds):
        if seconds is not None and time.monotonic() - began > seconds:
            break
        fvals = np.asarray([float(v) for v in vals]) * to_float
        matrix = coo_matrix((fvals, (ri, ci)), shape=(len(rhs), nvar)).tocsr()
        frhs = np.asarray([float(v) for v in rhs]) * to_float
        left = None if seconds is None else max(0.1, seconds - (time.monotonic() - began))
        options = {"time_limit": left} if left is not None else {}
        lp = linprog(
            objective, A_ub=matrix, b_ub=frhs, bounds=bounds, method="highs", options=options
        )
        if lp.status != 0:
            break
        result.bound = max(result.bound, _safe_bound(lp, ri, ci, vals, rhs, upper, o_t, E - u))
        if len(pairs) == 0:
            break
        x = lp.x
        live = x[o_live + pa]
        w = x[o_w : o_w + units * d].reshape(units, d)[pa]
        act = x[o_act + pa * npts + row_pt[pq]]
        gv = x[o_g + pa * rows + pq] * 2.0**-u  # the LP's g, in the units of c_float
        inside, bound = most_violated(cp, beta_float[pa, pq], w, live, act)
        cut = gv - bound > VIOLATION * span
        if not cut.any():
            break
        for idx in np.flatnonzero(cut):
            a, q = int(pa[idx]), int(pq[idx])
            mask = inside[idx]
            result.cuts.setdefault((a, q), []).append(mask.copy())
            js = data.weights[a]
            cw = [int(coef[a, q, j]) for j in js]
            neg = sum(-v for v, j in zip(cw, js, strict=True) if mask[j] and v < 0)
            on = int(beta[a, q]) + sum(
                v for v, j in zip(cw, js, strict=True) if v > 0 and not mask[j]
            )
            cols = [o_w + a * d + j for j in js if mask[j]]
            coefs = [-v for v, j in zip(cw, js, strict=True) if mask[j]]
            add_row(
                [*cols, o_live + a, o_act + a * npts + int(row_pt[q]), o_g + a * rows + q],
                [*coefs, -neg, neg - on, one],
                0,
            )
    return result


def _safe_bound(lp, ri, ci, vals, rhs, upper, o_t: int, exp: int) -> Fraction:
    """A rigorous lower bound on min t over the exact LP {A x <= b, 0 <= x <= upper} (integers
    A, b at a common exponent) from the float LP's duals (Neumaier and Shcherbina 2004): for any
    y >= 0, t >= (e_t + A^T y) . x - y . b >= sum_j min(0, (e_t + A^T y)_j upper_j) - y . b.
    The float row i is the exact one times 2**exp; its dual y'_i >= 0 (scipy reports -y') is
    rounded down onto a grid 2**-P, so y_i = Y_i 2**(exp - P) exactly and y >= 0."""
    duals = np.maximum(0.0, -np.asarray(lp.ineqlin.marginals, dtype=float))
    if not len(duals) or not np.isfinite(duals).all() or duals.max() <= 0:
        return Fraction(0)
    p = 60 - math.frexp(float(duals.max()))[1]
    y = [math.floor(math.ldexp(float(v), p)) for v in duals.tolist()]
    reduced = [0] * len(upper)
    for r, c, v in zip(ri, ci, vals, strict=True):
        if y[r]:
            reduced[c] += y[r] * v
    factor = Fraction(2) ** (exp - p)
    total = -factor * sum(yi * b for yi, b in zip(y, rhs, strict=True) if yi)
    for j, (red, up) in enumerate(zip(reduced, upper, strict=True)):
        coefficient = factor * red + (1 if j == o_t else 0)
        if coefficient < 0:
            total += coefficient * up
    return max(Fraction(0), total)
