"""Continuous-domain certificates: the exact error over the whole box, not only the grid
(docs/design.md §11). Exact theory only: the cutting-plane optimisation over the box that uses
it runs in the engine (solver.engine.box_optimize). One module although over 400 lines: the
code follows the argument below step by step (lines, cuts, zeros), and they are read together.

Scope: bias-free problems (Problem.is_bias_free) on a BoxGrid domain [low, high]^d (one low and
one high for every axis), with a Neuron or Network target; the grid's points only name the box.

Notation. For a fixed mask, o(x) = sum_i v_i relu(u_i . x) is the pruned network before its
output activation act_o, and z(x) the target before its activation act_z (z = w . x for a
neuron, z = sum_j a_j relu(w_j . x) for a network target); the error is
e(x) = |act_o(o(x)) - act_z(z(x))|, act in {identity, relu}, relu(0) = 0.
H is the set of kink hyperplanes {x : a . x = 0}: a = u_i for every live unit with u_i != 0 and
v_i != 0 (u_i masked), plus the target's (w for a relu neuron; each w_j with a_j != 0 for a
network target). Off H every relu(u . x) has a fixed sign pattern, so o and z are linear on the
closure of each cell C of the arrangement of H.

The argument (continuous_max_error is exact):
1. Homogeneity (docs/design.md §5). e(a x) = a e(x) for a >= 0. If x is interior to the
   box and e(x) > 0, then (1 + delta) x is in the box for a small delta > 0 and has a larger
   error; so the maximum (it exists: e is continuous, the box compact) is attained on the
   boundary, i.e. on some facet F = box ∩ {x_j = c}, c in {low, high}.
2. Pieces. Q = closure(C) ∩ F is a polytope on which o and z are linear. Write
   act_o(o) = max of the set A_o ({o} for identity, {o, 0} for relu), likewise act_z. Then
   e = max(act_o(o) - act_z(z), act_z(z) - act_o(o)) = max over alpha in A_o of
   min over beta in A_z of (alpha - beta), and symmetrically: the maximum of finitely many
   functions g = min(l1, l2) with l1, l2 linear (one of them possibly repeated). Maximising g over
   Q is the linear programme max t s.t. t <= l1(x), t <= l2(x), x in Q, whose region is pointed
   (Q is bounded), so the maximum is at one of its vertices: d + 1 linearly independent active
   constraints in (x, t). At most two involve t, so either d constraints of Q are active (x is a
   vertex of Q) or d - 1 are (x lies on an edge of Q) and l1(x) = l2(x). The differences
   l1 - l2 that occur are +-o and +-z (alpha - z vs alpha - 0; beta - o vs beta - 0), so the
   extra points are where o = 0 or z = 0 on an edge of Q. This only arises with a relu act_o
   (zeros of o) or a relu act_z (zeros of z); for a relu neuron target z = w . x and w is in H,
   so its zeros on an edge are already vertices.
3. Edges. An edge of Q lies on a line where d - 1 linearly independent constraints from
   {x_j = low, x_j = high, a . x = 0 (a in H)} hold, at least one a box constraint (the facet's).
   Enumerating every such line, clipping it to the box and cutting it at every crossing with a
   hyperplane of H gives segments; each lies in the closure of one cell, so o and z are linear
   on it, every edge of every Q is a union of such segments, and every vertex of every Q is a
   segment end. On a segment with o(start) and o(end) of strictly opposite signs, the zero of o
   is start + o(start) / (o(start) - o(end)) * (end - start), exactly; likewise z.
   Hence: max e over the box = max of e over segment ends and those zeros, all rational.
   In d = 1 the boundary is {low, high} and nothing else is needed. In d = 2 the lines are the
   four box edges (k = 1 box constraint, no hyperplane), cut where kink lines cross them.

Why the zeros matter (a relu output): on a segment where o falls from + to - while y = relu(z)
stays positive, e = y - relu(o) = min(y, y - o) is concave and can peak strictly inside, at
o = 0, above both ends. So docs/design.md §11 (corners and kink-line crossings suffice)
holds for identity outputs only; with a relu output the zeros of the mask's own o are extra
maximiser candidates, and they depend on the whole mask (not on single units).

Exactness. Every weight and box end is a double, i.e. a dyadic rational; line points, crossings
and zeros are computed in Fractions and evaluated in integer arithmetic (a point X / D with
integer X, so e(X / D) = e(X) / D by homogeneity). error is exact; error_upper is the smallest
double >= error (solver.exact.round_up). Nothing is rounded except in breakpoint_points and in
the points the cutting planes add (round_into_box): those are rounded to the nearest double and clipped into the
box, so they are still points of the box.

Lower bounds. Any finite set P of points of the box gives a rigorous lower bound: the optimal
error over the box is at least the optimal error over P, which the engine bounds from below.
breakpoint_points collects, for every candidate mask at once, the box corners and the crossings
of every candidate kink line (every unit; in weights mode every masked sub-vector of every unit;
the target's) and the target's own zeros (rounded to doubles). With identity output activation
that is every maximiser candidate of every mask, so the optimum on those points equals the
continuous optimum up to the rounding of the points; with a relu output the mask-dependent zeros
of o are missing, which the engine's cutting planes (solver.engine.box_optimize) repair by
adding each round's worst point. The upper bound is always the exact continuous error of a mask.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from solver import exact
from solver.core.errors import FieldViolation, InvalidProblemError
from solver.core.problem import (
    Activation,
    BoxGrid,
    Mask,
    MinError,
    Network,
    Neuron,
    Problem,
    PruningMode,
    Samples,
)
from solver.core.result import ContinuousFigures

DEFAULT_MAX_VERTICES = 200_000
# The problems this module refuses are refused for what the user asked: parameters.continuous.
CONTINUOUS_FIELD = "parameters.continuous"

# A point with rational coordinates X / D: integer numerators and one positive denominator.
_Point = tuple[tuple[int, ...], int]


@dataclass(frozen=True)
class ContinuousError:
    """The exact maximum of |pruned - target| over the whole continuous box."""

    error: Fraction
    error_upper: float  # the smallest double >= error
    worst_point: tuple[Fraction, ...]  # a point of the box where the error is attained
    vertices: int  # distinct candidate points evaluated (segment ends and zeros)


# -- checks ---------------------------------------------------------------------------------------


def unsupported(problem: Problem) -> str | None:
    """Why ``problem`` is outside this module's scope, naming the field (None when inside)."""
    target = problem.target
    if isinstance(target, Samples):
        return "target: a samples target has no continuous domain (need neuron/network)"
    if not isinstance(target, Neuron | Network):
        return "target: must be a neuron or a network"
    if not isinstance(problem.domain, BoxGrid):
        return "domain: the continuous certificate needs a box_grid domain (a box)"
    net = problem.network
    if net.outputs != 1:
        # The cell enumeration follows one output's kinks and sign changes (docs/design.md §11).
        return f"network.outputs: the continuous box supports one output, not {net.outputs}"
    if np.any(net.biases):
        return "network.hidden_biases: must be zero (bias-free problems only)"
    if net.output_bias != 0.0:
        return "network.output_bias: must be zero (bias-free problems only)"
    if isinstance(target, Neuron) and target.bias != 0.0:
        return "target.neuron.bias: must be zero (bias-free problems only)"
    if isinstance(target, Network) and not target.is_bias_free:
        return "target.network: must be bias-free (hidden_biases and output_bias zero)"
    if not problem.is_bias_free:  # the model's own definition, as a last guard
        return "network: the problem is not bias-free"
    box = problem.domain
    if not (math.isfinite(box.low) and math.isfinite(box.high) and box.low < box.high):
        return "domain.box_grid: needs finite low < high"
    if net.d < 1:
        return "network.hidden_weights: input dimension must be at least 1"
    return None


def check_problem(problem: Problem) -> BoxGrid:
    """The box of a problem this module handles. Outside the scope: InvalidProblemError on
    parameters.continuous (asking for the box is the user's choice), naming the field."""
    why = unsupported(problem)
    if why is not None:
        raise InvalidProblemError(FieldViolation(CONTINUOUS_FIELD, why))
    return problem.domain


# -- exact evaluation -----------------------------------------------------------------------------


def _primitive(row: np.ndarray) -> tuple[int, ...] | None:
    """The hyperplane {x : row . x = 0} as a primitive integer normal (first nonzero > 0)."""
    ints = [int(v) for v in exact.from_floats(row).ints.tolist()]
    g = math.gcd(*ints)
    if g == 0:
        return None
    ints = [v // g for v in ints]
    sign = next(1 if v > 0 else -1 for v in ints if v != 0)
    return tuple(sign * v for v in ints)


def _object_matrix(rows: list[tuple[int, ...]], d: int) -> np.ndarray:
    out = np.empty((len(rows), d), dtype=object)
    for r, row in enumerate(rows):
        out[r, :] = row
    return out


def _relu_ints(values: np.ndarray) -> np.ndarray:
    return np.where(values > 0, values, 0).astype(object)


class _Functions:
    """o and z of one mask as integer data: o(X / D) = o_int(X) * 2**exp / D, likewise z."""

    def __init__(self, problem: Problem, mask: Mask | None):
        net = problem.network
        n, d = net.n, net.d
        self.d = d
        u = np.asarray(net.hidden_weights, dtype=float).reshape(n, d)
        v = np.asarray(net.output_weights, dtype=float).reshape(n)
        if mask is not None:
            u = np.where(mask.hidden_matrix(n, d), u, 0.0)
            v = np.where(mask.unit_vector(n), v, 0.0)
        live = (v != 0.0) & np.any(u != 0.0, axis=1)
        self.units = u[live]
        self.u = exact.from_floats(self.units) if live.any() else None
        self.v = exact.from_floats(v[live]) if live.any() else None
        self.relu_o = net.output_activation == Activation.RELU
        target = problem.target
        if isinstance(target, Neuron):
            w = np.asarray(target.weights, dtype=float).reshape(1, d)
            self.target_units = w if (target.activation == Activation.RELU and w.any()) else None
            self.tw = exact.from_floats(w)
            self.ta = None  # z = w . x, no hidden relu
            self.relu_z = target.activation == Activation.RELU
        else:
            tw = np.asarray(target.hidden_weights, dtype=float).reshape(target.n, d)
            ta = np.asarray(target.output_weights, dtype=float).reshape(target.n)
            keep = (ta != 0.0) & np.any(tw != 0.0, axis=1)
            self.target_units = tw[keep] if keep.any() else None
            self.tw = exact.from_floats(tw[keep]) if keep.any() else None
            self.ta = exact.from_floats(ta[keep]) if keep.any() else None
            self.relu_z = target.output_activation == Activation.RELU
        o_exp = (self.u.exp + self.v.exp) if self.u is not None else 0
        if self.tw is None:
            z_exp = 0
        else:
            z_exp = self.tw.exp + (self.ta.exp if self.ta is not None else 0)
        self.exp = min(o_exp, z_exp)
        self._o_shift, self._z_shift = o_exp - self.exp, z_exp - self.exp

    def kink_rows(self) -> list[np.ndarray]:
        rows = list(self.units)
        if self.target_units is not None:
            rows.extend(self.target_units)
        return rows

    def values(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(o_int, z_int) at integer points ``xs`` (object, m x d), both at exponent ``exp``."""
        m = xs.shape[0]
        if self.u is None or m == 0:
            o = np.zeros(m, dtype=object)
        else:
            hidden = _relu_ints(np.asarray(xs.dot(self.u.ints.T), dtype=object))
            o = np.asarray(hidden.dot(self.v.ints), dtype=object) * (1 << self._o_shift)
        if self.tw is None or m == 0:
            z = np.zeros(m, dtype=object)
        elif self.ta is None:
            z = np.asarray(xs.dot(self.tw.ints[0]), dtype=object) * (1 << self._z_shift)
        else:
            hidden = _relu_ints(np.asarray(xs.dot(self.tw.ints.T), dtype=object))
            z = np.asarray(hidden.dot(self.ta.ints), dtype=object) * (1 << self._z_shift)
        return np.asarray(o, dtype=object).reshape(m), np.asarray(z, dtype=object).reshape(m)

    def error_ints(self, o: np.ndarray, z: np.ndarray) -> list[int]:
        """|act_o(o) - act_z(z)| per point, at exponent ``exp`` (divide by D for the value)."""
        out = []
        for a, b in zip(o.tolist(), z.tolist()):
            if self.relu_o and a < 0:
                a = 0
            if self.relu_z and b < 0:
                b = 0
            out.append(abs(a - b))
        return out


def _as_point(x: list[Fraction]) -> _Point:
    """Canonical integer form (X, D) of a rational point, gcd(X, D) = 1."""
    den = math.lcm(*(v.denominator for v in x))
    nums = [v.numerator * (den // v.denominator) for v in x]
    g = math.gcd(den, *nums)
    return tuple(v // g for v in nums), den // g


def _to_fractions(point: _Point) -> tuple[Fraction, ...]:
    nums, den = point
    return tuple(Fraction(v, den) for v in nums)


def _matrix(points: list[_Point], d: int) -> tuple[np.ndarray, list[int]]:
    return _object_matrix([p[0] for p in points], d), [p[1] for p in points]


# -- boundary lines -------------------------------------------------------------------------------


@dataclass
class _Line:
    """x(t) = p + t q for t in the sorted breakpoints ``ts`` (its ends included)."""

    p: list[Fraction]
    q: list[Fraction]
    ts: list[Fraction]

    def at(self, t: Fraction) -> list[Fraction]:
        return [a + t * b for a, b in zip(self.p, self.q)]


def _solve_line(rows: list[list[Fraction]], rhs: list[Fraction], d: int):
    """The line {x : rows x = rhs} (d - 1 rows) as (p, q), or None if the rows are dependent."""
    a = [list(r) + [b] for r, b in zip(rows, rhs)]
    pivots: list[int] = []
    r = 0
    for col in range(d):
        if r == len(a):
            break
        piv = next((i for i in range(r, len(a)) if a[i][col] != 0), None)
        if piv is None:
            continue
        a[r], a[piv] = a[piv], a[r]
        inv = 1 / a[r][col]
        a[r] = [v * inv for v in a[r]]
        for i in range(len(a)):
            if i != r and a[i][col] != 0:
                f = a[i][col]
                a[i] = [vi - f * vr for vi, vr in zip(a[i], a[r])]
        pivots.append(col)
        r += 1
    if r < d - 1:
        return None
    free = next(c for c in range(d) if c not in pivots)
    p = [Fraction(0)] * d
    q = [Fraction(0)] * d
    q[free] = Fraction(1)
    for i, col in enumerate(pivots):
        p[col] = a[i][d]
        q[col] = -a[i][free]
    return p, q


def _line_count(d: int, h: int) -> int:
    return sum(math.comb(d, k) * 2**k * math.comb(h, d - 1 - k) for k in range(1, d))


def _boundary_lines(
    d: int, low: Fraction, high: Fraction, normals: list[tuple[int, ...]]
) -> list[_Line]:
    """Every line of d - 1 independent constraints (>= 1 box face) clipped to the box and cut at
    every hyperplane crossing (argument, step 3)."""
    lines: list[_Line] = []
    normal_rows = [[Fraction(v) for v in a] for a in normals]
    seen: set[tuple] = set()
    for k in range(1, d):
        for coords in itertools.combinations(range(d), k):
            for values in itertools.product((low, high), repeat=k):
                for hyper in itertools.combinations(range(len(normals)), d - 1 - k):
                    rows = []
                    for j in coords:
                        e = [Fraction(0)] * d
                        e[j] = Fraction(1)
                        rows.append(e)
                    rows.extend(normal_rows[i] for i in hyper)
                    rhs = list(values) + [Fraction(0)] * len(hyper)
                    solved = _solve_line(rows, rhs, d)
                    if solved is None:
                        continue
                    line = _clip(solved[0], solved[1], low, high)
                    if line is None:
                        continue
                    key = _line_key(line)
                    if key in seen:
                        continue
                    seen.add(key)
                    _cut(line, normal_rows)
                    lines.append(line)
    return lines


def _line_key(line: _Line) -> tuple:
    """The segment's two ends (so equal segments from different constraint sets count once)."""
    a, b = line.at(line.ts[0]), line.at(line.ts[-1])
    return tuple(sorted([tuple(a), tuple(b)]))


def _clip(p: list[Fraction], q: list[Fraction], low: Fraction, high: Fraction) -> _Line | None:
    t0: Fraction | None = None
    t1: Fraction | None = None
    for pi, qi in zip(p, q):
        if qi == 0:
            if not low <= pi <= high:
                return None
            continue
        lo, hi = (low - pi) / qi, (high - pi) / qi
        if lo > hi:
            lo, hi = hi, lo
        t0 = lo if t0 is None else max(t0, lo)
        t1 = hi if t1 is None else min(t1, hi)
    if t0 is None or t1 is None or t0 > t1:
        return None
    return _Line(p=p, q=q, ts=[t0] if t0 == t1 else [t0, t1])


def _cut(line: _Line, normal_rows: list[list[Fraction]]) -> None:
    t0, t1 = line.ts[0], line.ts[-1]
    ts = set(line.ts)
    for a in normal_rows:
        aq = sum((x * y for x, y in zip(a, line.q)), Fraction(0))
        if aq == 0:
            continue  # parallel to the hyperplane, or inside it: no crossing
        t = -sum((x * y for x, y in zip(a, line.p)), Fraction(0)) / aq
        if t0 < t < t1:
            ts.add(t)
    line.ts = sorted(ts)


def _kink_normals(rows) -> list[tuple[int, ...]]:
    out: dict[tuple[int, ...], None] = {}
    for row in rows:
        normal = _primitive(np.asarray(row, dtype=float))
        if normal is not None:
            out[normal] = None
    return list(out)


def _zero_crossings(
    lines: list[_Line], keys: list[list[_Point]], values: dict[_Point, tuple[int, int]], which: int
) -> list[_Point]:
    """Points strictly inside segments where o (which=0) or z (which=1) changes sign."""
    out = []
    for line, pts in zip(lines, keys):
        for (ta, pa), (tb, pb) in itertools.pairwise(zip(line.ts, pts)):
            va = Fraction(values[pa][which], pa[1])
            vb = Fraction(values[pb][which], pb[1])
            if (va > 0 and vb < 0) or (va < 0 and vb > 0):
                t = ta + va / (va - vb) * (tb - ta)
                out.append(_as_point(line.at(t)))
    return out


def _candidates(
    funcs: _Functions, box: BoxGrid, d: int, max_vertices: int, extra_rows=None
) -> tuple[list[_Point], dict[_Point, tuple[int, int]]]:
    """Every maximiser candidate (argument) with its (o_int, z_int)."""
    low, high = Fraction(box.low), Fraction(box.high)
    if d == 1:
        pts = [_as_point([low]), _as_point([high])]
        xs, _ = _matrix(pts, d)
        o, z = funcs.values(xs)
        return pts, {p: (a, b) for p, a, b in zip(pts, o.tolist(), z.tolist())}
    rows = funcs.kink_rows() + (list(extra_rows) if extra_rows is not None else [])
    normals = _kink_normals(rows)
    estimate = _line_count(d, len(normals)) * (len(normals) + 2)
    if estimate > max_vertices:
        raise InvalidProblemError(
            FieldViolation(
                CONTINUOUS_FIELD,
                f"max_vertices: about {estimate} candidate points in d = {d} with "
                f"{len(normals)} kink hyperplanes exceed max_vertices = {max_vertices}",
            )
        )
    lines = _boundary_lines(d, low, high, normals)
    keys = [[_as_point(line.at(t)) for t in line.ts] for line in lines]
    values: dict[_Point, tuple[int, int]] = {}
    _evaluate_into(funcs, [p for pts in keys for p in pts], values, d)
    extra: list[_Point] = []
    if funcs.relu_o:
        extra += _zero_crossings(lines, keys, values, 0)
    if funcs.relu_z:
        extra += _zero_crossings(lines, keys, values, 1)
    _evaluate_into(funcs, extra, values, d)
    return list(values), values


def _evaluate_into(
    funcs: _Functions, points: list[_Point], values: dict[_Point, tuple[int, int]], d: int
) -> None:
    new = list(dict.fromkeys(p for p in points if p not in values))
    if not new:
        return
    xs, _ = _matrix(new, d)
    o, z = funcs.values(xs)
    for p, a, b in zip(new, o.tolist(), z.tolist()):
        values[p] = (a, b)


# -- public API -----------------------------------------------------------------------------------


def continuous_max_error(
    problem: Problem, mask: Mask, *, max_vertices: int = DEFAULT_MAX_VERTICES
) -> ContinuousError:
    """The exact max over the continuous box of |pruned(x) - target(x)| for ``mask``.

    InvalidProblemError (on parameters.continuous) for a problem outside the scope, naming the
    field, or when the enumeration would exceed ``max_vertices`` candidate points (d >= 3).
    """
    box = check_problem(problem)
    d = problem.network.d
    funcs = _Functions(problem, mask)
    points, values = _candidates(funcs, box, d, max_vertices)
    o = np.array([values[p][0] for p in points], dtype=object)
    z = np.array([values[p][1] for p in points], dtype=object)
    best, best_point = Fraction(-1), points[0]
    for p, num in zip(points, funcs.error_ints(o, z)):
        if num * best.denominator > best.numerator * p[1]:  # num / D > best, D > 0
            best, best_point = Fraction(num, p[1]), p
    error = best * Fraction(2) ** funcs.exp
    return ContinuousError(
        error=error,
        error_upper=exact.round_up(error),
        worst_point=_to_fractions(best_point),
        vertices=len(points),
    )


def round_into_box(point, box: BoxGrid) -> np.ndarray:
    """The nearest double of each coordinate (Fraction -> float rounds correctly), clipped."""
    return np.clip(np.array([float(v) for v in point], dtype=float), box.low, box.high)


def _candidate_unit_rows(problem: Problem) -> list[np.ndarray]:
    """Every kink normal any mask can produce: each unit (neurons) or each masked sub-vector of
    each unit (weights), for units with a nonzero output weight."""
    net = problem.network
    u = np.asarray(net.hidden_weights, dtype=float).reshape(net.n, net.d)
    v = np.asarray(net.output_weights, dtype=float).reshape(net.n)
    rows: list[np.ndarray] = []
    for i in range(net.n):
        if v[i] == 0.0:
            continue
        if problem.pruning == PruningMode.NEURONS:
            rows.append(u[i])
            continue
        for pattern in itertools.product((False, True), repeat=net.d):
            rows.append(np.where(pattern, u[i], 0.0))
    return rows


def breakpoint_points(problem: Problem) -> np.ndarray:
    """Float64 points of the box (d = 1, 2) approximating every candidate mask's breakpoints.

    The box corners, every crossing of a candidate kink line (see _candidate_unit_rows, plus the
    target's) with the box boundary, and the zeros of a relu target network's pre-activation on
    the boundary; each coordinate rounded to the nearest double and clipped into the box. Solving
    on them bounds the continuous optimum from below (they are points of the box). The zeros of
    a relu-output network's own pre-activation depend on the whole mask and are not included.
    """
    box = check_problem(problem)
    d = problem.network.d
    if d > 2:
        raise ValueError(f"network.hidden_weights: breakpoint_points needs d <= 2, got d = {d}")
    empty = Mask(neurons=np.zeros(problem.network.n, dtype=bool))
    funcs = _Functions(problem, empty)  # o = 0: only the target's zeros are added
    points, _ = _candidates(
        funcs, box, d, max_vertices=10**12, extra_rows=_candidate_unit_rows(problem)
    )
    out = np.array([round_into_box(_to_fractions(p), box) for p in points], dtype=float)
    return np.unique(out.reshape(len(points), d), axis=0)


# -- results for the engine (SolveParameters.continuous) -------------------------------------------


def check_supported(problem: Problem, optimize: bool) -> str | None:
    """Why parameters.continuous cannot apply to ``problem`` (None when it can)."""
    why = unsupported(problem)
    if why is not None:
        return why
    if optimize and not isinstance(problem.objective, MinError):
        return "optimize supports the min_error objective only"
    d = problem.network.d
    if d >= 3:
        # Worst case over masks: one kink hyperplane per unit (its kept hidden weights), the
        # axis hyperplanes a partial mask can produce, and the target's.
        funcs = _Functions(problem, Mask.full(problem))
        target_rows = 0 if funcs.target_units is None else len(funcs.target_units)
        h = problem.network.n + d + target_rows
        estimate = _line_count(d, h) * (h + 2)
        if estimate > DEFAULT_MAX_VERTICES:
            return (
                f"about {estimate} candidate points in d = {d} with up to {h} kink hyperplanes "
                f"exceed {DEFAULT_MAX_VERTICES}: too large for an exact maximum over the box"
            )
    return None


def evaluate_figures(
    problem: Problem, mask: Mask, max_vertices: int = DEFAULT_MAX_VERTICES
) -> ContinuousFigures:
    """The mask's exact maximum error over the box, for SolveResult.continuous."""
    ce = continuous_max_error(problem, mask, max_vertices=max_vertices)
    return ContinuousFigures(
        error=ce.error_upper,
        worst_point=tuple(float(x) for x in ce.worst_point),
        detail=f"exact maximum over the box ({ce.vertices} candidate points evaluated exactly)",
    )
