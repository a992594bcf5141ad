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
            cols = Dyadic(self.columns, self.exp).to_float()
            target = Dyadic(self.target, self.exp).to_float()
            self._float_cache = (cols, target)
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


def build_column_model(problem: Problem, drop_dominated: bool = True) -> ColumnModel:
    """The exact column model of a validated problem."""
    net = problem.network
    all_points = problem.points()
    if drop_dominated and problem.is_bias_free:
        point_index = undominated_points(all_points)
    else:
        point_index = np.arange(all_points.shape[0])
    points = exact.from_floats(all_points[point_index].reshape(len(point_index), net.d))

    raw = _candidate_hidden_masks(problem)
    u = np.asarray(net.hidden_weights, dtype=float)
    if raw:
        weights = np.array(
            [u[i] if hidden is None else np.where(hidden, u[i], 0.0) for i, hidden, _ in raw]
        )
        units = np.array([i for i, _, _ in raw])
        pre = exact.add(
            exact.matmul(points, exact.from_floats(weights.T)),
            exact.from_floats(net.biases[units]),
        )
        cols = exact.mul(exact.relu(pre), exact.from_floats(np.asarray(net.output_weights)[units]))
    else:
        cols = exact.from_floats(np.zeros((len(point_index), 0)))
    if isinstance(problem.target, Samples):
        target = exact.from_floats(np.asarray(problem.target.values, dtype=float)[point_index])
    else:
        target = target_values(problem, points)
    bias = exact.constant(net.output_bias)
    e = min(cols.exp, target.exp, bias.exp)
    col_ints, target_ints, bias_int = cols.at(e), target.at(e), int(bias.at(e))

    candidates: list[Candidate] = []
    groups: dict[int, list[int]] = {}
    keep_cols: list[int] = []
    lookup: dict[tuple[int, tuple[bool, ...] | None], int | None] = {}
    seen: dict[tuple[int, tuple], int] = {}
    for r, (i, hidden, cost) in enumerate(raw):
        column = col_ints[:, r]
        if not np.any(column != 0):
            lookup[(i, hidden)] = None  # contributes nothing: same as removing the unit
            continue
        signature = (i, tuple(column.tolist()))
        if signature in seen:  # same column, cost at least as high (subsets come by size)
            lookup[(i, hidden)] = seen[signature]
            continue
        index = len(candidates)
        seen[signature] = index
        lookup[(i, hidden)] = index
        candidates.append(Candidate(unit=i, hidden=hidden, cost=cost))
        groups.setdefault(i, []).append(index)
        keep_cols.append(r)
    return ColumnModel(
        problem=problem,
        candidates=candidates,
        groups=list(groups.values()),
        point_index=point_index,
        columns=np.asarray(col_ints[:, keep_cols], dtype=object).reshape(
            len(point_index), len(keep_cols)
        ),
        target=np.asarray(target_ints, dtype=object),
        bias=bias_int,
        exp=e,
        output_relu=net.output_activation == Activation.RELU,
        total_points=int(all_points.shape[0]),
        lookup=lookup,
    )
