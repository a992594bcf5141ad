"""Continuous-domain certificates: the exact error over the whole box, not only the grid.

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
1. Homogeneity (shared/DESIGN.md fact 4). e(a x) = a e(x) for a >= 0. If x is interior to the
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
o = 0, above both ends. So shared/DESIGN.md fact 5 (corners and kink-line crossings suffice)
holds for identity outputs only; with a relu output the zeros of the mask's own o are extra
maximiser candidates, and they depend on the whole mask (not on single units).

Exactness. Every weight and box end is a double, i.e. a dyadic rational; line points, crossings
and zeros are computed in Fractions and evaluated in integer arithmetic (a point X / D with
integer X, so e(X / D) = e(X) / D by homogeneity). error is exact; error_upper is the smallest
double >= error (solver.exact.round_up). Nothing is rounded except in breakpoint_points and in
the points solve_continuous adds: those are rounded to the nearest double and clipped into the
box, so they are still points of the box.

Lower bounds. Any finite set P of points of the box gives a rigorous lower bound: the optimal
error over the box is at least the optimal error over P, which the engine bounds from below.
breakpoint_points collects, for every candidate mask at once, the box corners and the crossings
of every candidate kink line (every unit; in weights mode every masked sub-vector of every unit;
the target's) and the target's own zeros (rounded to doubles). With identity output activation
that is every maximiser candidate of every mask, so the optimum on those points equals the
continuous optimum up to the rounding of the points; with a relu output the mask-dependent zeros
of o are missing, which solve_continuous repairs by adding each round's worst point (cutting
planes). The upper bound is always the exact continuous error of a mask.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from solver import exact
from solver.core.errors import UnrepresentableError
from solver.core.parameters import SolveParameters
from solver.core.problem import (
    Activation,
    BoxGrid,
    Mask,
    MinError,
    Network,
    Neuron,
    PointSet,
    Problem,
    PruningMode,
    Samples,
)
from solver.core.result import (
    ContinuousFigures,
    ContinuousRoundFigures,
    Solution,
    SolveResult,
    SolveStats,
    SolveStatus,
)
from solver.exact.certify import MaskCertificate, certify_mask

SolvePoints = Callable[..., SolveResult]  # (problem, parameters, *, stop) -> SolveResult

DEFAULT_MAX_VERTICES = 200_000

# A point with rational coordinates X / D: integer numerators and one positive denominator.
_Point = tuple[tuple[int, ...], int]


@dataclass(frozen=True)
class ContinuousError:
    """The exact maximum of |pruned - target| over the whole continuous box."""

    error: Fraction
    error_upper: float  # the smallest double >= error
    worst_point: tuple[Fraction, ...]  # a point of the box where the error is attained
    vertices: int  # distinct candidate points evaluated (segment ends and zeros)


@dataclass(frozen=True)
class ContinuousRound:
    """One cutting-plane round of solve_continuous (bounds are the best so far)."""

    points: int  # points the engine solved on
    lower: float  # rigorous lower bound on the continuous optimum
    upper: float  # exact continuous error of the best mask so far, rounded up
    seconds: float
    engine_status: SolveStatus


@dataclass
class ContinuousSolve:
    """The continuous optimum bracketed: lower_bound <= optimum <= continuous.error."""

    status: str  # "optimal" (upper - lower <= tolerance) or "not_converged"
    certificate: MaskCertificate | None  # the best mask on the problem's own grid, to compare
    continuous: ContinuousError | None  # the best mask's exact continuous error
    lower_bound: float
    rounds: list[ContinuousRound]
    tolerance: float  # the tolerance the status refers to
    points: np.ndarray  # the final point set (float64, every row in the box)
    detail: str = ""

    @property
    def mask(self) -> Mask | None:
        return None if self.certificate is None else self.certificate.mask

    @property
    def upper_bound(self) -> float:
        return math.inf if self.continuous is None else self.continuous.error_upper

    @property
    def gap(self) -> float:
        """upper - lower, rounded up (infinite without a mask)."""
        if self.continuous is None:
            return math.inf
        return exact.round_up(self.continuous.error - Fraction(self.lower_bound))


# -- checks ---------------------------------------------------------------------------------------


def _check_problem(problem: Problem) -> BoxGrid:
    """The box of a problem this module handles; ValueError naming the field otherwise."""
    target = problem.target
    if isinstance(target, Samples):
        raise ValueError("target: a samples target has no continuous domain (need neuron/network)")
    if not isinstance(target, Neuron | Network):
        raise ValueError("target: must be a neuron or a network")
    if not isinstance(problem.domain, BoxGrid):
        raise ValueError("domain: the continuous certificate needs a box_grid domain (a box)")
    net = problem.network
    if np.any(net.biases):
        raise ValueError("network.hidden_biases: must be zero (bias-free problems only)")
    if net.output_bias != 0.0:
        raise ValueError("network.output_bias: must be zero (bias-free problems only)")
    if isinstance(target, Neuron) and target.bias != 0.0:
        raise ValueError("target.neuron.bias: must be zero (bias-free problems only)")
    if isinstance(target, Network) and not target.is_bias_free:
        raise ValueError("target.network: must be bias-free (hidden_biases and output_bias zero)")
    if not problem.is_bias_free:  # the model's own definition, as a last guard
        raise ValueError("network: the problem is not bias-free")
    box = problem.domain
    if not (math.isfinite(box.low) and math.isfinite(box.high) and box.low < box.high):
        raise ValueError("domain.box_grid: needs finite low < high")
    d = net.d
    if d < 1:
        raise ValueError("network.hidden_weights: input dimension must be at least 1")
    return box


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
        raise ValueError(
            f"max_vertices: about {estimate} candidate points in d = {d} with {len(normals)} "
            f"kink hyperplanes exceed max_vertices = {max_vertices}"
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

    ValueError for a problem outside the scope (naming the field) or when the enumeration would
    exceed ``max_vertices`` candidate points (d >= 3).
    """
    box = _check_problem(problem)
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


def _round_into_box(point, box: BoxGrid) -> np.ndarray:
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
    box = _check_problem(problem)
    d = problem.network.d
    if d > 2:
        raise ValueError(f"network.hidden_weights: breakpoint_points needs d <= 2, got d = {d}")
    empty = Mask(neurons=np.zeros(problem.network.n, dtype=bool))
    funcs = _Functions(problem, empty)  # o = 0: only the target's zeros are added
    points, _ = _candidates(
        funcs, box, d, max_vertices=10**12, extra_rows=_candidate_unit_rows(problem)
    )
    out = np.array([_round_into_box(_to_fractions(p), box) for p in points], dtype=float)
    return np.unique(out.reshape(len(points), d), axis=0)


def _boundary_grid_points(problem: Problem) -> np.ndarray:
    box = problem.domain
    assert isinstance(box, BoxGrid)
    pts = problem.points()
    on_face = np.any((pts == box.low) | (pts == box.high), axis=1)
    return pts[on_face]


def _engine_bound(result: SolveResult) -> Fraction | None:
    """The engine's lower bound on the error over the points, when it certifies one."""
    if result.status not in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
        return None
    if result.cross_check is not None and not result.cross_check.agrees:
        return None  # two backends disagree: trust neither proof
    return Fraction(result.objective_bound)


def solve_continuous(
    problem: Problem,
    parameters: SolveParameters | None = None,
    *,
    max_rounds: int = 20,
    stop: threading.Event | None = None,
    include_grid: bool = False,
    max_vertices: int = DEFAULT_MAX_VERTICES,
    solve_points: SolvePoints | None = None,
) -> ContinuousSolve:
    """Bracket the continuous min-error optimum by cutting planes over points of the box.

    Start points: breakpoint_points (d <= 2) or the grid's points on the box boundary (d >= 3);
    include_grid adds every grid point, which makes the lower bound at least the grid optimum
    (up to the engine's tolerance). Each round solves the min_error problem exactly on the points
    (solver.engine.solve), takes the engine's certified bound as a lower bound (every point is
    in the box), the chosen mask's exact continuous error as an upper bound, and adds that mask's
    worst point (rounded to doubles, clipped into the box). Stops when upper - lower <=
    parameters.effective_tolerance ("optimal"), after max_rounds, when the worst point is already
    present, on ``stop`` or at the time limit ("not_converged"). The engine is asked for half the
    tolerance so that its own gap leaves room for the rounding of the added points.
    ``solve_points(problem, parameters, stop=...)`` solves on the points; default
    solver.engine.solve, imported when called because the engine imports this module.
    """
    if solve_points is None:
        from solver.engine.dispatch import solve as solve_points
    box = _check_problem(problem)
    objective = problem.objective
    if not isinstance(objective, MinError):
        raise ValueError("objective: solve_continuous supports min_error only")
    if max_rounds < 1:
        raise ValueError("max_rounds: must be at least 1")
    params = parameters or SolveParameters()
    tol = params.effective_tolerance
    start = time.monotonic()
    deadline = None if not params.time_limit_seconds else start + params.time_limit_seconds
    d = problem.network.d
    pts = breakpoint_points(problem) if d <= 2 else _boundary_grid_points(problem)
    if include_grid:
        pts = np.vstack([pts, problem.points()])
    pts = np.unique(np.asarray(pts, dtype=float).reshape(-1, d), axis=0)
    known = {tuple(row) for row in pts.tolist()}

    best: ContinuousError | None = None
    best_mask: Mask | None = None
    lower = Fraction(0)
    rounds: list[ContinuousRound] = []
    status, detail = "not_converged", f"max_rounds = {max_rounds} reached"
    refuted = ""
    for _ in range(max_rounds):
        if stop is not None and stop.is_set():
            detail = "stopped"
            break
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            detail = "time limit reached"
            break
        round_start = time.monotonic()
        sub = dataclasses.replace(problem, domain=PointSet(points=pts.copy()))
        result = _solve_points(solve_points, sub, params, tol, left, stop)
        bound = _engine_bound(result)
        if bound is not None:
            lower = max(lower, bound)
        worst = None
        if result.solution is not None:
            mask = result.solution.mask
            ce = continuous_max_error(problem, mask, max_vertices=max_vertices)
            if best is None or ce.error < best.error:
                best, best_mask = ce, mask
            worst = _round_into_box(ce.worst_point, box)
        if best is not None and lower > best.error:
            # A mask's exact continuous error refutes a backend's proof (impossible for a
            # correct backend): keep no lower bound, so nothing is claimed from it.
            refuted = (
                f"a backend's lower bound {float(lower):.12g} exceeds the exact continuous error "
                f"{float(best.error):.12g} of a mask; its proof is refuted"
            )
            lower = Fraction(0)
        rounds.append(
            ContinuousRound(
                points=len(pts),
                lower=exact.round_down(lower),
                upper=math.inf if best is None else best.error_upper,
                seconds=time.monotonic() - round_start,
                engine_status=result.status,
            )
        )
        if refuted:
            detail = refuted
            break
        if best is not None and best.error - lower <= Fraction(tol):
            status, detail = "optimal", ""
            break
        if worst is None:
            detail = f"the engine returned no mask ({result.status.name}): {result.detail}"
            break
        if tuple(worst.tolist()) in known:
            detail = (
                "the worst point is already in the point set; the remaining gap is the "
                "engine's tolerance or the rounding of the points"
            )
            break
        known.add(tuple(worst.tolist()))
        pts = np.vstack([pts, worst[None, :]])
    certificate = certify_mask(problem, best_mask) if best_mask is not None else None
    return ContinuousSolve(
        status=status,
        certificate=certificate,
        continuous=best,
        lower_bound=exact.round_down(lower),
        rounds=rounds,
        tolerance=tol,
        points=pts,
        detail=detail,
    )


def _solve_points(
    solve: SolvePoints,
    sub: Problem,
    params: SolveParameters,
    tol: float,
    time_left: float | None,
    stop: threading.Event | None,
) -> SolveResult:
    engine_params = dataclasses.replace(
        params, tolerance=tol / 2, time_limit_seconds=time_left, continuous=None
    )
    try:
        return solve(sub, engine_params, stop=stop)
    except UnrepresentableError:
        # The backend cannot resolve half the tolerance: ask for the tolerance itself.
        return solve(sub, dataclasses.replace(engine_params, tolerance=tol), stop=stop)


# -- results for the engine (SolveParameters.continuous) -------------------------------------------


def check_supported(problem: Problem, optimize: bool) -> str | None:
    """Why parameters.continuous cannot apply to ``problem`` (None when it can)."""
    try:
        _check_problem(problem)
    except ValueError as exc:
        return str(exc)
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


def optimize_result(
    problem: Problem,
    parameters: SolveParameters,
    stop: threading.Event | None,
    solve_points: SolvePoints,
) -> SolveResult:
    """The continuous optimum as a SolveResult: status, objective_bound and tolerance refer to
    the box; solution holds the mask's grid figures; continuous its box figures and rounds."""
    started = time.monotonic()
    cs = solve_continuous(problem, parameters, stop=stop, solve_points=solve_points)
    rounds = tuple(
        ContinuousRoundFigures(r.points, r.lower, r.upper, r.seconds) for r in cs.rounds
    )
    stats = SolveStats(
        wall_time_seconds=time.monotonic() - started,
        backend=parameters.backend or "auto",
        formulation="continuous cutting planes",
        points_used=len(cs.points),
        points_total=len(cs.points),
        rounds=len(cs.rounds),
        solver_calls=len(cs.rounds),
    )
    cancelled = stop is not None and stop.is_set()
    if cs.certificate is None or cs.continuous is None:
        status = SolveStatus.CANCELLED if cancelled else SolveStatus.NO_SOLUTION
        return SolveResult(status=status, stats=stats, detail=cs.detail)
    cert = cs.certificate
    optimal = cs.status == "optimal"
    figures = ContinuousFigures(
        error=cs.continuous.error_upper,
        worst_point=tuple(float(x) for x in cs.continuous.worst_point),
        lower_bound=cs.lower_bound,
        optimal=optimal,
        rounds=rounds,
        detail=cs.detail or "the continuous optimum is certified within the tolerance",
        grid_error=cert.error_upper,
    )
    status = SolveStatus.OPTIMAL if optimal else SolveStatus.FEASIBLE
    if cancelled and not optimal:
        status = SolveStatus.CANCELLED
    # The problem solved is the box: solution.error is the mask's box error, so the optimum
    # lies in [objective_bound, solution.error] as for every min_error result.
    return SolveResult(
        status=status,
        solution=Solution(mask=cert.mask, kept=cert.kept, error=cs.continuous.error_upper),
        objective_bound=cs.lower_bound,
        tolerance=exact.round_up(cs.continuous.error - Fraction(cs.lower_bound)),
        stats=stats,
        detail="" if optimal else f"continuous optimum not certified: {cs.detail}",
        continuous=figures,
    )
