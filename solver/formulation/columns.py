"""Problem -> exact 0-1 column model (+ the map back to masks).

Both pruning modes become the same structure (docs/design.md §3): a list of
candidates, each a constant column of contributions at the domain points, with at most one
candidate chosen per hidden unit and a kept-cost per candidate.
  * neurons mode: one candidate per unit, column v_i relu(u_i . x_k + b_i), cost 1;
  * weights mode: one candidate per hidden mask m of the unit, column
    v_i relu((m * u_i) . x_k + b_i), cost |m| + 1 (the output weight).
The pruned output at point k is act_out(sum of the chosen columns + c). All coefficients are
exact dyadic integers at one common exponent; backends scale them as they must.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from solver import exact
from solver.core.problem import Activation, Mask, Problem, PruningMode, Samples
from solver.exact import Dyadic
from solver.exact.evaluate import target_values
from solver.formulation.deadline import NO_DEADLINE, Deadline


@dataclass(frozen=True)
class Candidate:
    """One way of keeping hidden unit ``unit``: its hidden mask (weights mode) and kept cost."""

    unit: int
    hidden: tuple[bool, ...] | None
    cost: int


@dataclass(eq=False)
class ColumnModel:
    """The exact 0-1 model of a problem on a subset of its domain points."""

    problem: Problem
    candidates: list[Candidate]
    groups: list[list[int]]  # candidate indices per unit; at most one chosen from each
    point_index: np.ndarray  # rows of problem.points() that the model uses
    columns: np.ndarray  # object (m, C): exact contributions at the common exponent
    target: np.ndarray  # object (m,): exact target values
    bias: int  # exact output bias
    exp: int  # every integer above means value * 2**exp
    output_relu: bool
    total_points: int
    # (unit, hidden mask) -> candidate index, or None when that choice contributes nothing.
    lookup: dict[tuple[int, tuple[bool, ...] | None], int | None] = field(default_factory=dict)
    _float_cache: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def num_points(self) -> int:
        return int(self.columns.shape[0])

    @property
    def costs(self) -> np.ndarray:
        return np.array([c.cost for c in self.candidates], dtype=np.int64)

    def outputs(self, chosen: list[int], rows: np.ndarray | None = None) -> np.ndarray:
        """Exact pruned outputs (object ints) at the model's points (or ``rows`` of them)."""
        cols = self.columns if rows is None else self.columns[rows]
        total = (
            cols[:, list(chosen)].sum(axis=1) if chosen else np.zeros(cols.shape[0], dtype=object)
        )
        out = np.asarray(total, dtype=object) + self.bias
        if self.output_relu:
            out = np.where(out > 0, out, 0).astype(object)
        return out

    def point_errors(self, chosen: list[int], rows: np.ndarray | None = None) -> np.ndarray:
        """Exact |pruned - target| (object ints at ``exp``) at the model's points."""
        target = self.target if rows is None else self.target[rows]
        return np.abs(self.outputs(chosen, rows) - target).astype(object)

    def float_data(self) -> tuple[np.ndarray, np.ndarray]:
        """(columns, target) in float64, for heuristics (the bias is float_bias())."""
        if self._float_cache is None:
            self._float_cache = (
                nearest_floats(self.columns, self.exp),
                nearest_floats(self.target, self.exp),
            )
        return self._float_cache

    def float_bias(self) -> float:
        return float(exact.to_fraction(self.bias, self.exp))

    def mask(self, chosen: list[int]) -> Mask:
        """The canonical mask of a choice of candidates."""
        n, d = self.problem.network.n, self.problem.network.d
        if self.problem.pruning == PruningMode.NEURONS:
            neurons = np.zeros(n, dtype=bool)
            for c in chosen:
                neurons[self.candidates[c].unit] = True
            return Mask(neurons=neurons)
        hidden = np.zeros((n, d), dtype=bool)
        output = np.zeros(n, dtype=bool)
        for c in chosen:
            cand = self.candidates[c]
            output[cand.unit] = True
            hidden[cand.unit] = cand.hidden
        return Mask(hidden_weights=hidden, output_weights=output)

    def choice(self, mask: Mask) -> list[int]:
        """Candidates reproducing ``mask`` on the model's points (for solution hints)."""
        n, d = self.problem.network.n, self.problem.network.d
        live = mask.unit_vector(n)
        hidden = mask.hidden_matrix(n, d)
        u = np.asarray(self.problem.network.hidden_weights)
        chosen = []
        for i in np.flatnonzero(live):
            key = (
                None
                if self.problem.pruning == PruningMode.NEURONS
                else tuple(bool(h and u[i, j] != 0) for j, h in enumerate(hidden[i]))
            )
            c = self.lookup.get((int(i), key))
            if c is not None:
                chosen.append(c)
        return chosen

    def kept(self, chosen: list[int]) -> int:
        return int(sum(self.candidates[c].cost for c in chosen))


def nearest_floats(ints: np.ndarray, exp: int) -> np.ndarray:
    """The float64 values of ``ints * 2**exp``, as Dyadic.to_float computes them (float(v)
    rounds to nearest, ldexp is exact outside the subnormal range), vectorised: the float MIP's
    margin (solver/backends/floatmip.py) rests on every coefficient being the nearest double.
    Converting 12 million entries one by one took 6 s (neurons n = 1024 on 19,881 points)."""
    try:
        floats = np.asarray(ints, dtype=object).astype(np.float64)
    except OverflowError:  # an integer past float64's range: the exact, slow path
        return Dyadic(np.asarray(ints, dtype=object), exp).to_float()
    out = np.ldexp(floats, exp)
    huge = np.abs(floats) >= 2.0**1000  # where to_float takes the Fraction path
    if huge.any():
        out[huge] = Dyadic(np.asarray(ints, dtype=object)[huge], exp).to_float()
    return out


def undominated_points(points: np.ndarray) -> np.ndarray:
    """Indices of the points not dominated under positive homogeneity (docs/design.md §5).

    For bias-free problems the error at a*x is a times the error at x (a >= 0), so on each ray
    from the origin only the farthest point matters, and the origin has error 0. Grouping rays
    by rounded direction only chooses which points the solver sees: dropping points relaxes the
    problem, so bounds stay valid, and certificates re-evaluate masks on every point.
    """
    scale = np.max(np.abs(points), axis=1)
    keep: dict[tuple, tuple[float, int]] = {}
    for k in np.flatnonzero(scale > 0):
        key = tuple(np.round(points[k] / scale[k], 12).tolist())
        if key not in keep or scale[k] > keep[key][0]:
            keep[key] = (float(scale[k]), int(k))
    return np.array(sorted(k for _, k in keep.values()), dtype=np.int64)


def _candidate_hidden_masks(problem: Problem) -> list[tuple[int, tuple[bool, ...] | None, int]]:
    net = problem.network
    u = np.asarray(net.hidden_weights, dtype=float)
    out: list[tuple[int, tuple[bool, ...] | None, int]] = []
    for i in range(net.n):
        if net.output_weights[i] == 0:
            continue  # a zero output weight contributes nothing under any mask
        if problem.pruning == PruningMode.NEURONS:
            out.append((i, None, 1))
            continue
        # Keeping a zero weight changes nothing and costs one: only subsets of nonzero weights.
        nonzero = [j for j in range(net.d) if u[i, j] != 0]
        for size in range(len(nonzero) + 1):
            for subset in itertools.combinations(nonzero, size):
                hidden = tuple(j in subset for j in range(net.d))
                out.append((i, hidden, size + 1))
    return out


# Rows of the column model computed per block: the exact temporaries (object arrays of Python
# ints, ~40 bytes an entry) then live for one block only, and the deadline is checked between
# blocks (docs/design.md §14). A block of this many entries took 0.03-0.1 s here (2^18: up to
# 0.4 s on a loaded machine, the overrun past a limit).
BLOCK_ENTRIES = 1 << 16


def _exact_columns(
    points: exact.Dyadic, raw: list, problem: Problem, deadline: Deadline
) -> tuple[np.ndarray, int]:
    """The exact contributions (object ints, m x len(raw)) of every raw candidate at every
    point, and their exponent: v_i relu((m * u_i) . x_k + b_i), computed per block of rows."""
    net = problem.network
    m = points.shape[0]
    u = np.asarray(net.hidden_weights, dtype=float)
    weights = exact.from_floats(
        np.array([u[i] if hidden is None else np.where(hidden, u[i], 0.0) for i, hidden, _ in raw])
        .reshape(len(raw), net.d)
        .T
    )
    units = np.array([i for i, _, _ in raw], dtype=np.int64)
    biases = exact.from_floats(np.asarray(net.biases, dtype=float)[units])
    outputs = exact.from_floats(np.asarray(net.output_weights, dtype=float)[units])
    with_bias = bool(np.any(biases.ints != 0))  # bias-free (the paper's): no add, no shift
    exp = points.exp + weights.exp + outputs.exp
    if with_bias:
        exp = min(exp, biases.exp + outputs.exp)
    out = np.empty((m, len(raw)), dtype=object)
    step = max(1, BLOCK_ENTRIES // max(1, len(raw)))
    for begin in range(0, m, step):
        deadline.check(f"building the column model ({begin} of {m} points done)")
        block = points[begin : begin + step]
        pre = exact.matmul(block, weights)
        if with_bias:
            pre = exact.add(pre, biases)
        cols = exact.mul(exact.relu(pre), outputs)
        out[begin : begin + step] = cols.ints if cols.exp == exp else cols.at(exp)
    return out, exp


def build_column_model(
    problem: Problem, drop_dominated: bool = True, deadline: Deadline = NO_DEADLINE
) -> ColumnModel:
    """The exact column model of a validated problem. Raises DeadlineReached once ``deadline``
    passes (checked between blocks of rows)."""
    net = problem.network
    all_points = problem.points()
    if drop_dominated and problem.is_bias_free:
        point_index = undominated_points(all_points)
    else:
        point_index = np.arange(all_points.shape[0])
    points = exact.from_floats(all_points[point_index].reshape(len(point_index), net.d))

    raw = _candidate_hidden_masks(problem)
    if raw:
        col_ints, cols_exp = _exact_columns(points, raw, problem, deadline)
    else:
        col_ints, cols_exp = np.empty((len(point_index), 0), dtype=object), 0
    deadline.check("building the column model (the target)")
    if isinstance(problem.target, Samples):
        target = exact.from_floats(np.asarray(problem.target.values, dtype=float)[point_index])
    else:
        target = target_values(problem, points)
    bias = exact.constant(net.output_bias)
    e = min(cols_exp, target.exp, bias.exp)
    if e != cols_exp:
        col_ints = col_ints * (1 << (cols_exp - e))
    target_ints, bias_int = target.at(e), int(bias.at(e))

    candidates: list[Candidate] = []
    groups: dict[int, list[int]] = {}
    keep_cols: list[int] = []
    lookup: dict[tuple[int, tuple[bool, ...] | None], int | None] = {}
    # Identical columns of one unit (weights mode): the first (cheapest, subsets come by size)
    # stands for the others. Found by a hash of the column, confirmed entry by entry.
    seen: dict[tuple[int, int], list[int]] = {}
    nonzero = (col_ints != 0).any(axis=0) if raw else np.zeros(0, dtype=bool)
    for r, (i, hidden, cost) in enumerate(raw):
        if not nonzero[r]:
            lookup[(i, hidden)] = None  # contributes nothing: same as removing the unit
            continue
        column = col_ints[:, r]
        if problem.pruning == PruningMode.WEIGHTS:
            key = (i, hash(tuple(column.tolist())))
            same = next(
                (c for c in seen.get(key, []) if np.array_equal(col_ints[:, keep_cols[c]], column)),
                None,
            )
            if same is not None:
                lookup[(i, hidden)] = same
                continue
            seen.setdefault(key, []).append(len(candidates))
        index = len(candidates)
        lookup[(i, hidden)] = index
        candidates.append(Candidate(unit=i, hidden=hidden, cost=cost))
        groups.setdefault(i, []).append(index)
        keep_cols.append(r)
    columns = col_ints if len(keep_cols) == len(raw) else col_ints[:, keep_cols]
    return ColumnModel(
        problem=problem,
        candidates=candidates,
        groups=list(groups.values()),
        point_index=point_index,
        columns=np.asarray(columns, dtype=object).reshape(len(point_index), len(keep_cols)),
        target=np.asarray(target_ints, dtype=object),
        bias=bias_int,
        exp=e,
        output_relu=net.output_activation == Activation.RELU,
        total_points=int(all_points.shape[0]),
        lookup=lookup,
    )
