"""Problem -> exact 0-1 column model (+ the map back to masks).

Both pruning modes become the same structure (docs/design.md §3): a list of
candidates, each a constant column of contributions at the model's rows, with at most one
candidate chosen per hidden unit and a kept-cost per candidate. A row is a (point, output)
pair, point-major (row j * k + o is output o at point j): with one output the rows are the
points, and every backend, written over generic rows, covers k outputs unchanged.
  * neurons mode: one candidate per unit, column v_oi relu(u_i . x_j + b_i), cost 1;
  * weights mode: one candidate per hidden mask m of the unit and non-empty set S of its
    output weights, column [o in S] v_oi relu((m * u_i) . x_j + b_i), cost |m| + |S| (one
    output: S = {1}, cost |m| + 1). No kept output weight is no candidate: the unit is dead.
The pruned output at row (j, o) is act_out(sum of the chosen columns + c_o). All coefficients
are exact dyadic integers at one common exponent; backends scale them as they must.

The lazy model (``build_column_model(..., lazy=True)``, weights mode; docs/design.md §15) does
not enumerate the n 2^d (2^k - 1) patterns: it starts with each unit's full pattern (every
non-zero hidden and output weight kept) and ``choice`` adds a pattern, with its exact column over
every row of the model, the first time a mask needs it. ``complete`` tells the two apart: a
backend that solves over the candidates needs them all (solver/backends/base.py), the per-weight
backend builds its own formulation from the problem and maps its answers back through ``choice``.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field

import numpy as np

from solver import exact
from solver.core.problem import Activation, Mask, Problem, PruningMode, Samples
from solver.exact import Dyadic
from solver.exact.evaluate import target_values
from solver.formulation.deadline import NO_DEADLINE, Deadline


@dataclass(frozen=True)
class Candidate:
    """One way of keeping hidden unit ``unit``: its hidden mask and kept output weights (weights
    mode; None in neurons mode) and kept cost."""

    unit: int
    hidden: tuple[bool, ...] | None
    cost: int
    outputs: tuple[bool, ...] | None = None


# A candidate's key in ColumnModel.lookup: (unit, hidden mask, kept output weights).
PatternKey = tuple[int, tuple[bool, ...] | None, tuple[bool, ...] | None]


@dataclass(eq=False)
class ColumnModel:
    """The exact 0-1 model of a problem on a subset of its domain points."""

    problem: Problem
    candidates: list[Candidate]
    groups: list[list[int]]  # candidate indices per unit; at most one chosen from each
    point_index: np.ndarray  # the points of problem.points() that the model uses
    columns: np.ndarray  # object (rows, C): exact contributions at the common exponent
    target: np.ndarray  # object (rows,): exact target values
    biases: np.ndarray  # object (rows,): the exact output bias of each row's output
    exp: int  # every integer above means value * 2**exp
    output_relu: bool
    total_points: int  # the domain's points (rows: times outputs)
    # (unit, hidden mask, output set) -> candidate index, or None when it contributes nothing.
    lookup: dict[PatternKey, int | None] = field(default_factory=dict)
    num_outputs: int = 1  # k: rows are (point, output) pairs, point-major
    # Whether every candidate is enumerated. False: the lazy model, whose ``choice`` adds the
    # patterns a mask needs (module docstring); only backends that do not solve over the
    # candidates accept it (Backend.accepts).
    complete: bool = True
    # The lazy model's exact points, from which choice() computes a new pattern's column.
    exact_points: exact.Dyadic | None = None
    _float_cache: tuple[np.ndarray, np.ndarray] | None = None
    # The lazy model's column storage (columns is a view of its first len(candidates) columns:
    # adding a column copies only when the capacity doubles) and its lock: choice() may run on a
    # solver's callback thread.
    _buffer: np.ndarray | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def num_points(self) -> int:
        """The model's rows: its points times the outputs ((point, output) pairs)."""
        return int(self.columns.shape[0])

    @property
    def bias(self) -> int:
        """The exact output bias of a one-output model (every row's)."""
        if self.num_outputs != 1:
            raise ValueError("a model of several outputs has one bias per output: use biases")
        return int(self.biases[0]) if len(self.biases) else 0

    @property
    def costs(self) -> np.ndarray:
        return np.array([c.cost for c in self.candidates], dtype=np.int64)

    def outputs(self, chosen: list[int], rows: np.ndarray | None = None) -> np.ndarray:
        """Exact pruned outputs (object ints) at the model's points (or ``rows`` of them)."""
        cols = self.columns if rows is None else self.columns[rows]
        total = (
            cols[:, list(chosen)].sum(axis=1) if chosen else np.zeros(cols.shape[0], dtype=object)
        )
        biases = self.biases if rows is None else self.biases[rows]
        out = np.asarray(total, dtype=object) + biases
        if self.output_relu:
            out = np.where(out > 0, out, 0).astype(object)
        return out

    def point_errors(self, chosen: list[int], rows: np.ndarray | None = None) -> np.ndarray:
        """Exact |pruned - target| (object ints at ``exp``) at the model's points."""
        target = self.target if rows is None else self.target[rows]
        return np.abs(self.outputs(chosen, rows) - target).astype(object)

    def float_data(self) -> tuple[np.ndarray, np.ndarray]:
        """(columns, target) in float64, for heuristics (the bias is float_bias())."""
        # Under the lock: the lazy model's choice() may add a column from a solver's callback
        # thread, and a cache built meanwhile would miss it.
        with self._lock:
            if self._float_cache is None:
                self._float_cache = (
                    nearest_floats(self.columns, self.exp),
                    nearest_floats(self.target, self.exp),
                )
            return self._float_cache

    def float_bias(self) -> np.ndarray:
        """Each row's output bias in float64 (rows,)."""
        return nearest_floats(self.biases, self.exp)

    def mask(self, chosen: list[int]) -> Mask:
        """The canonical mask of a choice of candidates."""
        net = self.problem.network
        n, d, k = net.n, net.d, net.outputs
        if self.problem.pruning == PruningMode.NEURONS:
            neurons = np.zeros(n, dtype=bool)
            for c in chosen:
                neurons[self.candidates[c].unit] = True
            return Mask(neurons=neurons)
        hidden = np.zeros((n, d), dtype=bool)
        output = np.zeros((k, n), dtype=bool)
        for c in chosen:
            cand = self.candidates[c]
            output[:, cand.unit] = cand.outputs
            hidden[cand.unit] = cand.hidden
        return Mask(hidden_weights=hidden, output_weights=output[0] if k == 1 else output)

    def full_choice(self) -> list[int]:
        """The candidates of the full network (each unit's full pattern, or its representative
        when an identical column stands for it)."""
        return self.choice(Mask.full(self.problem))

    def choice(self, mask: Mask) -> list[int]:
        """Candidates reproducing ``mask`` on the model's points (for solution hints). The lazy
        model adds the patterns it does not hold yet (their exact columns: _add_pattern)."""
        net = self.problem.network
        n, d, k = net.n, net.d, net.outputs
        live = mask.unit_vector(n)
        hidden = mask.hidden_matrix(n, d)
        kept_out = mask.output_matrix(n, k)
        u = np.asarray(net.hidden_weights)
        v = net.output_matrix
        chosen = []
        for i in np.flatnonzero(live):
            key: PatternKey = (int(i), None, None)
            if self.problem.pruning == PruningMode.WEIGHTS:
                # Keeping a zero weight changes nothing: the key is over the non-zero ones.
                key = (
                    int(i),
                    tuple(bool(h and u[i, j] != 0) for j, h in enumerate(hidden[i])),
                    tuple(bool(kept_out[o, i] and v[o, i] != 0) for o in range(k)),
                )
            if key in self.lookup:
                c = self.lookup[key]
            elif not self.complete:
                c = self._add_pattern(key)
            else:
                c = None  # a complete model holds every key: not reached
            if c is not None:
                chosen.append(c)
        return chosen

    def _add_pattern(self, key: PatternKey) -> int | None:
        """The lazy model's candidate for ``key`` (a new one, its column computed exactly as
        build_column_model computes every column), or None when it contributes nothing on the
        model's points (the unit is then dead, as in the complete model).

        Identical columns are not merged here, unlike build_column_model: merging there keeps
        2^d enumerated patterns from crowding a backend's model with copies, and nothing
        enumerates the lazy model's patterns: each comes from a mask someone asked about, and
        a copy costs one column. Its exponent never falls below the model's (asserted): the
        model's was computed over every live unit's full pattern, and a pattern's masked hidden
        and output weights are a subset of those, whose dyadic exponents (the largest
        denominator) can only be coarser; likewise one unit's bias against all of them."""
        with self._lock:
            if key in self.lookup:  # another thread added it meanwhile
                return self.lookup[key]
            i, hidden, kept = key
            if not any(kept or ()):  # no non-zero output weight kept: the unit is dead
                return None
            assert self.exact_points is not None
            cost = sum(hidden or ()) + sum(kept or ())
            column, exp = _exact_columns(
                self.exact_points, [(i, hidden, kept, cost)], self.problem, NO_DEADLINE
            )
            if exp < self.exp:
                raise AssertionError("a pattern's exponent below the lazy model's")
            column = np.asarray(column[:, 0] * (1 << (exp - self.exp)), dtype=object)
            if not any(v != 0 for v in column.tolist()):
                self.lookup[key] = None
                return None
            index = len(self.candidates)
            self._store_column(column)
            self.candidates.append(Candidate(unit=i, hidden=hidden, cost=cost, outputs=kept))
            group = next((g for g in self.groups if self.candidates[g[0]].unit == i), None)
            if group is None:
                self.groups.append([index])
            else:
                group.append(index)
            if self._float_cache is not None:
                cols, target = self._float_cache
                new = nearest_floats(column[:, None], self.exp)
                self._float_cache = (np.hstack([cols, new]), target)
            self.lookup[key] = index
            return index

    def _store_column(self, column: np.ndarray) -> None:
        rows, count = self.columns.shape
        if self._buffer is None or self._buffer.shape[1] <= count:
            buffer = np.empty((rows, max(8, 2 * (count + 1))), dtype=object)
            buffer[:, :count] = self.columns
            self._buffer = buffer
        self._buffer[:, count] = column
        self.columns = self._buffer[:, : count + 1]

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


def _subsets(items: list[int], width: int, least: int = 0):
    """Every subset of ``items`` with at least ``least`` members as a width-long flag tuple and
    its size, smaller subsets first."""
    for size in range(least, len(items) + 1):
        for subset in itertools.combinations(items, size):
            yield tuple(j in subset for j in range(width)), size


def _candidate_patterns(problem: Problem) -> list[tuple[int, tuple | None, tuple | None, int]]:
    """(unit, hidden mask, output set, cost) of every candidate, before deduplication."""
    net = problem.network
    u = np.asarray(net.hidden_weights, dtype=float)
    v = net.output_matrix
    out: list[tuple[int, tuple | None, tuple | None, int]] = []
    for i in range(net.n):
        live_outputs = [o for o in range(net.outputs) if v[o, i] != 0]
        if not live_outputs:
            continue  # zero output weights contribute nothing under any mask
        if problem.pruning == PruningMode.NEURONS:
            out.append((i, None, None, 1))
            continue
        # Keeping a zero weight changes nothing and costs one: only subsets of nonzero weights.
        nonzero = [j for j in range(net.d) if u[i, j] != 0]
        for hidden, size in _subsets(nonzero, net.d):
            for kept, count in _subsets(live_outputs, net.outputs, least=1):
                out.append((i, hidden, kept, size + count))
    return out


def _full_patterns(problem: Problem) -> list[tuple[int, tuple, tuple, int]]:
    """(unit, hidden mask, output set, cost) of each unit's full pattern: every non-zero hidden
    and output weight kept (the lazy model's first candidates; units without a non-zero output
    weight contribute nothing under any mask)."""
    net = problem.network
    u = np.asarray(net.hidden_weights, dtype=float)
    v = net.output_matrix
    out = []
    for i in range(net.n):
        kept = tuple(bool(v[o, i] != 0) for o in range(net.outputs))
        if any(kept):
            hidden = tuple(bool(u[i, j] != 0) for j in range(net.d))
            out.append((i, hidden, kept, sum(hidden) + sum(kept)))
    return out


# Rows of the column model computed per block: the exact temporaries (object arrays of Python
# ints, ~40 bytes an entry) then live for one block only, and the deadline is checked between
# blocks (docs/design.md §14). A block of this many entries took 0.03-0.1 s here (2^18: up to
# 0.4 s on a loaded machine, the overrun past a limit).
BLOCK_ENTRIES = 1 << 16


def _exact_columns(
    points: exact.Dyadic, raw: list, problem: Problem, deadline: Deadline
) -> tuple[np.ndarray, int]:
    """The exact contributions (object ints, rows x len(raw)) of every raw candidate at every
    (point, output) row, and their exponent: [o in S] v_oi relu((m * u_i) . x_j + b_i),
    computed per block of points. The hidden activation is computed once per (unit, hidden
    mask) and shared by the candidates that differ only in their output set."""
    net = problem.network
    m, k = points.shape[0], net.outputs
    u = np.asarray(net.hidden_weights, dtype=float)
    hidden_keys: dict[tuple[int, tuple | None], int] = {}
    for i, hidden, _, _ in raw:
        hidden_keys.setdefault((i, hidden), len(hidden_keys))
    activation_of = np.array([hidden_keys[(i, hidden)] for i, hidden, _, _ in raw], np.int64)
    pattern_units = np.array([i for i, _ in hidden_keys], dtype=np.int64)
    weights = exact.from_floats(
        np.array([u[i] if h is None else np.where(h, u[i], 0.0) for i, h in hidden_keys])
        .reshape(len(hidden_keys), net.d)
        .T
    )
    biases = exact.from_floats(np.asarray(net.biases, dtype=float)[pattern_units])
    units = np.array([i for i, _, _, _ in raw], dtype=np.int64)
    # (k, len(raw)): each candidate's output weight per output, zero outside its output set.
    kept = np.array([[True] * k if s is None else list(s) for _, _, s, _ in raw], dtype=bool).T
    outputs = exact.from_floats(np.where(kept, net.output_matrix[:, units], 0.0).reshape(k, -1))
    with_bias = bool(np.any(biases.ints != 0))  # bias-free (the paper's): no add, no shift
    exp = points.exp + weights.exp + outputs.exp
    if with_bias:
        exp = min(exp, biases.exp + outputs.exp)
    out = np.empty((m * k, len(raw)), dtype=object)
    step = max(1, BLOCK_ENTRIES // max(1, len(raw) * k))
    for begin in range(0, m, step):
        deadline.check(f"building the column model ({begin} of {m} points done)")
        block = points[begin : begin + step]
        pre = exact.matmul(block, weights)
        if with_bias:
            pre = exact.add(pre, biases)
        active = exact.relu(pre)[:, activation_of]
        for o in range(k):
            cols = exact.mul(active, outputs[o])
            rows = slice(begin * k + o, (begin + len(block.ints)) * k, k)
            out[rows] = cols.ints if cols.exp == exp else cols.at(exp)
    return out, exp


def build_column_model(
    problem: Problem,
    drop_dominated: bool = True,
    deadline: Deadline = NO_DEADLINE,
    lazy: bool = False,
) -> ColumnModel:
    """The exact column model of a validated problem. Raises DeadlineReached once ``deadline``
    passes (checked between blocks of rows). ``lazy`` (weights mode): the lazy model, holding
    each unit's full pattern only (module docstring)."""
    if lazy and problem.pruning != PruningMode.WEIGHTS:
        raise ValueError("the lazy column model is for weights mode")
    net = problem.network
    all_points = problem.points()
    if drop_dominated and problem.is_bias_free:
        point_index = undominated_points(all_points)
    else:
        point_index = np.arange(all_points.shape[0])
    points = exact.from_floats(all_points[point_index].reshape(len(point_index), net.d))

    k = net.outputs
    rows = len(point_index) * k
    raw = _full_patterns(problem) if lazy else _candidate_patterns(problem)
    if raw:
        col_ints, cols_exp = _exact_columns(points, raw, problem, deadline)
    else:
        col_ints, cols_exp = np.empty((rows, 0), dtype=object), 0
    deadline.check("building the column model (the target)")
    if isinstance(problem.target, Samples):
        target = exact.from_floats(np.asarray(problem.target.values, dtype=float)[point_index])
    else:
        target = target_values(problem, points)
    bias = exact.from_floats(np.tile(net.output_biases, len(point_index)))  # per row
    e = min(cols_exp, target.exp, bias.exp)
    if e != cols_exp:
        col_ints = col_ints * (1 << (cols_exp - e))
    target_ints = np.asarray(target.at(e), dtype=object).reshape(rows)
    bias_ints = np.asarray(bias.at(e), dtype=object).reshape(rows)

    candidates: list[Candidate] = []
    groups: dict[int, list[int]] = {}
    keep_cols: list[int] = []
    lookup: dict[PatternKey, int | None] = {}
    # Identical columns of one unit (weights mode): the first (cheapest, subsets come by size)
    # stands for the others. Found by a hash of the column, confirmed entry by entry.
    seen: dict[tuple[int, int], list[int]] = {}
    nonzero = (col_ints != 0).any(axis=0) if raw else np.zeros(0, dtype=bool)
    for r, (i, hidden, kept, cost) in enumerate(raw):
        if not nonzero[r]:
            lookup[(i, hidden, kept)] = None  # contributes nothing: same as removing the unit
            continue
        column = col_ints[:, r]
        if problem.pruning == PruningMode.WEIGHTS and not lazy:
            key = (i, hash(tuple(column.tolist())))
            same = next(
                (c for c in seen.get(key, []) if np.array_equal(col_ints[:, keep_cols[c]], column)),
                None,
            )
            if same is not None:
                lookup[(i, hidden, kept)] = same
                continue
            seen.setdefault(key, []).append(len(candidates))
        index = len(candidates)
        lookup[(i, hidden, kept)] = index
        candidates.append(Candidate(unit=i, hidden=hidden, cost=cost, outputs=kept))
        groups.setdefault(i, []).append(index)
        keep_cols.append(r)
    columns = col_ints if len(keep_cols) == len(raw) else col_ints[:, keep_cols]
    return ColumnModel(
        problem=problem,
        candidates=candidates,
        groups=list(groups.values()),
        point_index=point_index,
        columns=np.asarray(columns, dtype=object).reshape(rows, len(keep_cols)),
        target=target_ints,
        biases=bias_ints,
        exp=e,
        output_relu=net.output_activation == Activation.RELU,
        total_points=int(all_points.shape[0]),
        lookup=lookup,
        num_outputs=k,
        complete=not lazy,
        exact_points=points if lazy else None,
    )
