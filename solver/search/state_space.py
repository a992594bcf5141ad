"""The heuristics' float search space: the state encoding (one entry per hidden unit: -1
removed, else its hidden mask as a bit pattern; with k > 1 outputs, plus (set of kept output
weights - 1) << d), per-unit columns over (point, output) rows, vectorised error evaluation of
single and paired moves, and the archive of the best state per kept count.

Floats only steer the search (docs/design.md §10); returned masks are certified exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from solver.core.problem import Activation, Mask, Problem, PruningMode

DEAD = -1  # the state of a removed unit
_ALL_STATES_MAX_D = 4
_TABLE_MAX_BYTES = 64 * 2**20  # the (unit, hidden mask) column cache
BLOCK = 2**21  # float64 elements per temporary array (16 MB): bounds the vectorised scans


# -- float data and the state encoding ---------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Moves:
    """Candidate single-unit moves from one state: unit ``units[i]`` goes to ``targets[i]``."""

    units: np.ndarray
    old: np.ndarray
    targets: np.ndarray
    delta: np.ndarray  # kept-count change

    @property
    def size(self) -> int:
        return int(self.units.size)

    def take(self, index: np.ndarray) -> Moves:
        return Moves(self.units[index], self.old[index], self.targets[index], self.delta[index])


class SearchSpace:
    """A problem's float64 data, the state encoding, columns and vectorised error evaluation."""

    def __init__(self, problem: Problem):
        net = problem.network
        self.neurons = problem.pruning == PruningMode.NEURONS
        self.n, self.d, self.k = net.n, net.d, net.outputs
        if not self.neurons and self.d + self.k > 62:
            raise ValueError(f"weights-mode heuristics support d + k <= 62, got {self.d + self.k}")
        self.points = np.asarray(problem.points(), dtype=float).reshape(-1, self.d)
        points = int(self.points.shape[0])
        # Rows are (point, output) pairs, point-major, as in the column model.
        self.m = points * self.k
        self._row_point = np.repeat(np.arange(points), self.k)
        self._row_output = np.tile(np.arange(self.k), points)
        self.target = np.asarray(problem.target_values(self.points), dtype=float).reshape(self.m)
        self.u = np.asarray(net.hidden_weights, dtype=float).reshape(self.n, self.d)
        self.v_matrix = net.output_matrix  # (k, n)
        self.v = np.abs(self.v_matrix).max(axis=0)  # per unit, for magnitude scores
        self.b = np.asarray(net.biases, dtype=float).reshape(self.n)
        self.c = np.tile(net.output_biases, points)  # each row's output bias
        self.relu = net.output_activation == Activation.RELU
        self._out_sets = 1 if self.neurons else (1 << self.k) - 1  # non-empty output sets
        self.full_pattern = (
            0 if self.neurons else (1 << self.d) - 1 + ((self._out_sets - 1) << self.d)
        )
        self.patterns = 1 if self.neurons else (1 << self.d) * self._out_sets
        self._shifts = np.arange(self.d, dtype=np.int64)
        self.scale = self._scale()
        self._table = self._build_table()

    # -- states ------------------------------------------------------------------------------
    def empty(self) -> np.ndarray:
        return np.full(self.n, DEAD, dtype=np.int64)

    def full(self) -> np.ndarray:
        return np.full(self.n, self.full_pattern, dtype=np.int64)

    def bits(self, states: np.ndarray) -> np.ndarray:
        """(len, d) bool: which hidden weights each pattern keeps (meaningless for -1)."""
        return ((np.asarray(states, dtype=np.int64)[:, None] >> self._shifts) & 1).astype(bool)

    def output_bits(self, states: np.ndarray) -> np.ndarray:
        """(len, k) bool: which output weights each pattern keeps (meaningless for -1)."""
        states = np.asarray(states, dtype=np.int64)
        if self.neurons:
            return np.ones((states.size, self.k), dtype=bool)
        sets = (np.maximum(states, 0) >> self.d) + 1
        return ((sets[:, None] >> np.arange(self.k, dtype=np.int64)) & 1).astype(bool)

    def cost(self, states: np.ndarray) -> np.ndarray:
        """Kept count of each unit state (Mask.kept: hidden weights of live units + outputs)."""
        states = np.asarray(states, dtype=np.int64)
        live = states >= 0
        if self.neurons:
            return live.astype(np.int64)
        kept = self.bits(states).sum(axis=1) + self.output_bits(states).sum(axis=1)
        return np.where(live, kept, 0).astype(np.int64)

    def kept(self, state: np.ndarray) -> int:
        return int(self.cost(state).sum())

    def mask(self, state: np.ndarray) -> Mask:
        live = state >= 0
        if self.neurons:
            return Mask(neurons=live.copy())
        hidden = self.bits(state) & live[:, None]
        if self.k == 1:
            return Mask(hidden_weights=hidden, output_weights=live.copy())
        output = (self.output_bits(state) & live[:, None]).T
        return Mask(hidden_weights=hidden, output_weights=output)

    def state_of(self, mask: Mask) -> np.ndarray:
        """The search state of a user's mask (ValueError when it does not fit the problem)."""
        if self.neurons:
            if mask.neurons is None or np.shape(mask.neurons) != (self.n,):
                raise ValueError(f"start must be a neurons-mode mask of {self.n} units")
            return np.where(np.asarray(mask.neurons, dtype=bool), 0, DEAD).astype(np.int64)
        if (
            mask.neurons is not None
            or np.shape(mask.hidden_weights) != (self.n, self.d)
            or np.size(mask.output_weights) != self.k * self.n
        ):
            raise ValueError(f"start must be a weights-mode mask of shape ({self.n}, {self.d})")
        hidden = np.asarray(mask.hidden_weights, dtype=bool).astype(np.int64)
        patterns = (hidden << self._shifts).sum(axis=1)
        kept = np.asarray(mask.output_weights, dtype=bool).reshape(self.k, self.n)
        sets = (kept.astype(np.int64) << np.arange(self.k, dtype=np.int64)[:, None]).sum(axis=0)
        patterns = patterns + ((np.maximum(sets, 1) - 1) << self.d)
        return np.where(sets > 0, patterns, DEAD)

    def targets(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(units, new states) of every single-unit move considered from ``state``."""
        n = self.n
        if self.neurons:
            return np.arange(n), np.where(state >= 0, DEAD, 0).astype(np.int64)
        if self.d <= _ALL_STATES_MAX_D:
            # Every state of a unit is one move: covers one-parameter flips, in-unit swaps and
            # reviving a unit with any hidden mask (needed bias-free, where v_i alone adds 0).
            all_states = np.arange(-1, self.patterns, dtype=np.int64)
            units = np.repeat(np.arange(n), all_states.size)
            targets = np.tile(all_states, n)
            keep = targets != state[units]
            return units[keep], targets[keep]
        # Larger d: flip one parameter of a live unit; revive a dead one bare, with one hidden
        # weight, or whole.
        live = np.flatnonzero(state >= 0)
        dead = np.flatnonzero(state < 0)
        one_bit = np.int64(1) << self._shifts
        live_targets = np.hstack([np.full((live.size, 1), DEAD), state[live, None] ^ one_bit])
        revive = np.concatenate([[0], one_bit, [self.full_pattern]]).astype(np.int64)
        if self.k > 1:
            # And flip one output weight of a live unit (removing its last one kills it).
            sets = (state[live, None] >> self.d) + 1
            flipped = sets ^ (np.int64(1) << np.arange(self.k, dtype=np.int64))
            hidden = state[live, None] & ((np.int64(1) << self.d) - 1)
            moved = np.where(flipped > 0, hidden + ((np.maximum(flipped, 1) - 1) << self.d), DEAD)
            live_targets = np.hstack([live_targets, moved])
        per_live = live_targets.shape[1]
        units = np.concatenate([np.repeat(live, per_live), np.repeat(dead, revive.size)])
        targets = np.concatenate([live_targets.ravel(), np.tile(revive, dead.size)])
        order = np.lexsort((targets, units))
        units, targets = units[order], targets[order]
        keep = np.r_[True, (units[1:] != units[:-1]) | (targets[1:] != targets[:-1])]
        return units[keep], targets[keep]

    def moves(self, state: np.ndarray, kept: int, cap: int, direction: int = 0) -> Moves:
        """Single-unit moves that keep kept <= cap (removals always allowed); ``direction``
        +1 / -1 keeps only additions / removals."""
        units, targets = self.targets(state)
        old = state[units]
        delta = self.cost(targets) - self.cost(old)
        keep = (delta <= 0) | (kept + delta <= cap)
        if direction > 0:
            keep &= delta > 0
        elif direction < 0:
            keep &= delta < 0
        return Moves(units[keep], old[keep], targets[keep], delta[keep])

    # -- columns -----------------------------------------------------------------------------
    def _scale(self) -> float:
        """A bound on |output| + |target|: the unit of the search's float tolerances."""
        reach = np.abs(self.points) @ np.abs(self.u).T + np.abs(self.b)  # (points, n)
        bound = float(np.abs(self.v) @ reach.max(axis=0)) if self.m else 0.0
        bound += float(np.abs(self.c).max(initial=0.0))
        bound += float(np.abs(self.target).max()) if self.m else 0.0
        return bound if bound > 0 else 1.0

    def _compute(self, units: np.ndarray, states: np.ndarray, rows=None) -> np.ndarray:
        """Columns [o in S] v_oi relu((m * u_i) . x_j + b_i) at rows (j, o) computed directly;
        removed units give 0."""
        w = self.u[units]
        if not self.neurons:
            w = w * self.bits(states)
        if self.k == 1:
            points = self.points if rows is None else self.points[rows]
            pre = points @ w.T + self.b[units]
            return np.maximum(pre, 0.0) * np.where(states >= 0, self.v_matrix[0, units], 0.0)
        rows = np.arange(self.m) if rows is None else np.asarray(rows)
        pre = self.points[self._row_point[rows]] @ w.T + self.b[units]
        weights = self.v_matrix[:, units] * self.output_bits(states).T  # (k, C)
        weights = np.where(states >= 0, weights, 0.0)
        return np.maximum(pre, 0.0) * weights[self._row_output[rows]]

    def _build_table(self) -> np.ndarray | None:
        """Every (unit, state) column, plus a zero column for removed units, when it is small."""
        count = self.n * self.patterns + 1
        if count * self.m * 8 > _TABLE_MAX_BYTES:
            return None
        units = np.repeat(np.arange(self.n), self.patterns)
        states = np.tile(np.arange(self.patterns, dtype=np.int64), self.n)
        table = np.zeros((self.m, count))
        step = max(1, BLOCK // max(self.m, 1))
        for c0 in range(0, units.size, step):
            c1 = min(c0 + step, units.size)
            table[:, c0:c1] = self._compute(units[c0:c1], states[c0:c1])
        return table

    def columns(self, units: np.ndarray, states: np.ndarray, rows=None) -> np.ndarray:
        """(m or len(rows), C) contributions of ``units`` in ``states``."""
        if self._table is None:
            return self._compute(units, states, rows)
        index = np.where(states >= 0, units * self.patterns + states, self.n * self.patterns)
        return self._table[:, index] if rows is None else self._table[np.ix_(rows, index)]

    def changes(self, moves: Moves, index=None, rows=None) -> np.ndarray:
        """Change of the output sum made by each move (selected by ``index``)."""
        sel = moves if index is None else moves.take(index)
        return self.columns(sel.units, sel.targets, rows) - self.columns(sel.units, sel.old, rows)

    def output_sum(self, state: np.ndarray) -> np.ndarray:
        live = np.flatnonzero(state >= 0)
        if live.size == 0:
            return np.zeros(self.m)
        return self.columns(live, state[live]).sum(axis=1)

    # -- errors ------------------------------------------------------------------------------
    def _errors(self, sums: np.ndarray, target: np.ndarray, rows=None) -> np.ndarray:
        """max_k |act(sum_k + c_k) - y_k| per column of ``sums`` (overwritten), over every row
        or ``rows`` (those of ``sums`` and ``target``)."""
        if sums.shape[0] == 0:
            return np.zeros(sums.shape[1])
        sums += (self.c if rows is None else self.c[rows])[:, None]
        if self.relu:
            np.maximum(sums, 0.0, out=sums)
        sums -= target[:, None]
        np.abs(sums, out=sums)
        return sums.max(axis=0)

    def error(self, total: np.ndarray) -> float:
        return float(self._errors(total[:, None].copy(), self.target)[0])

    def residuals(self, total: np.ndarray) -> np.ndarray:
        out = total + self.c
        if self.relu:
            out = np.maximum(out, 0.0)
        return np.abs(out - self.target)

    def move_errors(self, total: np.ndarray, moves: Moves) -> np.ndarray:
        """The error after each move, in blocks that bound memory."""
        out = np.empty(moves.size)
        step = max(1, BLOCK // max(self.m, 1))
        for c0 in range(0, moves.size, step):
            index = np.arange(c0, min(c0 + step, moves.size))
            sums = total[:, None] + self.changes(moves, index)
            out[index] = self._errors(sums, self.target)
        return out

    def pair_errors(self, total: np.ndarray, moves: Moves, a: np.ndarray, b: np.ndarray):
        """The error after moves ``a[i]`` and ``b[i]`` together (on different units)."""
        sums = total[:, None] + self.changes(moves, a) + self.changes(moves, b)
        return self._errors(sums, self.target)

    def pair_lower_bounds(
        self, total: np.ndarray, moves: Moves, a: np.ndarray, b: np.ndarray, rows: np.ndarray
    ) -> np.ndarray:
        """(len(a), len(b)) errors of every pair on ``rows`` only: lower bounds of the errors."""
        da, db = self.changes(moves, a, rows), self.changes(moves, b, rows)
        base, target = total[rows], self.target[rows]
        out = np.empty((a.size, b.size))
        step = max(1, BLOCK // max(rows.size * b.size, 1))
        for a0 in range(0, a.size, step):
            block = base[:, None, None] + da[:, a0 : a0 + step, None] + db[:, None, :]
            out[a0 : a0 + step] = self._errors(block.reshape(rows.size, -1), target, rows).reshape(
                -1, b.size
            )
        return out


# -- the archive of best states per kept count -------------------------------------------------


@dataclass
class Entry:
    kept: int
    error: float  # float64 estimate; the certificate has the exact figure
    state: np.ndarray
    source: str  # the heuristic that found it


class Archive:
    """The lowest-error state found for each kept count up to ``cap``."""

    def __init__(self, cap: int, source: str):
        self.cap = cap
        self.source = source
        self.entries: dict[int, Entry] = {}

    def offer(self, kept: int, error: float, state: np.ndarray) -> None:
        if kept <= self.cap and (kept not in self.entries or error < self.entries[kept].error):
            self.entries[kept] = Entry(kept, error, state.copy(), self.source)

    def offer_batch(
        self, kepts: np.ndarray, errors: np.ndarray, build: Callable[[int], np.ndarray]
    ) -> None:
        """Offer many candidates; ``build(i)`` makes candidate i's state only when it wins."""
        ok = np.flatnonzero(kepts <= self.cap)
        if ok.size == 0:
            return
        order = ok[np.lexsort((ok, errors[ok], kepts[ok]))]
        ks = kepts[order]
        for i in order[np.r_[True, ks[1:] != ks[:-1]]]:
            kept, error = int(kepts[i]), float(errors[i])
            if kept not in self.entries or error < self.entries[kept].error:
                self.entries[kept] = Entry(kept, error, build(int(i)), self.source)

    def offer_moves(self, state: np.ndarray, kept: int, moves: Moves, errors: np.ndarray) -> None:
        def build(i: int) -> np.ndarray:
            out = state.copy()
            out[moves.units[i]] = moves.targets[i]
            return out

        self.offer_batch(kept + moves.delta, errors, build)

    def merge(self, other: Archive) -> None:
        """Take the other archive's better entries as this archive's own finds."""
        for kept, entry in sorted(other.entries.items()):
            self.offer(kept, entry.error, entry.state)

    def best(self) -> tuple[int, Entry]:
        """The lowest error, fewest kept on ties."""
        return min(self.entries.items(), key=lambda item: (item[1].error, item[0]))
