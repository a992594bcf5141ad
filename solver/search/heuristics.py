"""Built-in pruning heuristics: baselines for users, and starting solutions for the exact engine
(the engine's own float helpers on its column model are in solver.formulation.hints).

Why: heuristic developers score their methods against certified optima (shared/DESIGN.md, "Who
uses it"). The classic baselines - magnitude pruning, greedy forward selection, greedy backward
elimination, local search and random restarts - live next to the exact engine so that a baseline
and the optimum are one call apart, on the same problem and under the same exact error.

How: every search runs in float64 numpy on precomputed per-unit columns (shared/DESIGN.md facts
1-2). A search state holds one entry per hidden unit: -1 when the unit is removed, otherwise its
hidden mask as a bit pattern (bit j set: u_ij kept; neurons mode uses only 0 for "kept"). The
pruned output sum is the sum of the live units' columns, so a move that changes one or two units
is evaluated as ``sum + column changes``, for all candidate moves in one numpy operation. Every
search feeds an archive of the best state found for each kept count, and the objective picks
from that archive. Floats only steer the search: every mask that is returned is re-evaluated
exactly by solver.exact.certify, and its certificate is what the caller sees.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from solver.core.parameters import HEURISTICS
from solver.core.problem import Activation, Mask, MinError, MinKept, Pareto, Problem, PruningMode
from solver.core.validate import NO_LIMITS, validate_problem
from solver.exact.certify import ExactDomain, MaskCertificate

# Local search and random restarts stop here unless told otherwise; the others run to the end.
DEFAULT_TIME_LIMIT = 3.0
DEFAULT_RESTARTS = 32
_TIMED = ("local_search", "random_restarts")

_DEAD = -1
# Up to 2^4 hidden masks per unit, a move may set a unit to any state; above, only to the
# states one parameter away (plus reviving a unit with one hidden weight or all of them).
_ALL_STATES_MAX_D = 4
_TABLE_MAX_BYTES = 64 * 2**20  # the (unit, hidden mask) column cache
_BLOCK = 2**21  # float64 elements per temporary array (16 MB): bounds the vectorised scans
_MAX_PAIRS = 2**20  # swap candidates screened per local-search step
_SCREEN_ROWS = 48  # worst points of the current state used to screen swap candidates
_TIE_CANDIDATES = 8  # float near-ties certified exactly before choosing
_SEARCH_RTOL = 1e-12  # an accepted move must lower the error by this much (x scale): no cycling
_CERTIFY_RTOL = 1e-9  # float errors this close (x scale) may order either way exactly


# -- public API ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeuristicResult:
    """A heuristic's chosen mask with its exact figures."""

    name: str
    certificate: MaskCertificate  # the chosen mask's exact figures (mask, kept, error, ...)
    feasible: bool  # meets the objective's constraint (always True for MinError and Pareto)
    frontier: tuple[MaskCertificate, ...]  # Pareto: one per kept count found, increasing kept
    seconds: float


def run_heuristic(
    problem: Problem,
    name: str,
    *,
    seed: int = 0,
    time_limit: float | None = None,
    stop: threading.Event | None = None,
    start: Mask | None = None,
    restarts: int | None = None,
) -> HeuristicResult:
    """Run the heuristic ``name`` (one of HEURISTICS) on ``problem`` for its objective.

    ``time_limit`` bounds the search (default: none for magnitude and the greedy ones,
    DEFAULT_TIME_LIMIT for local_search and random_restarts); the exact certification of the
    returned masks follows it. ``stop`` cancels the search, which then returns the best found.
    ``start`` is the initial mask of greedy_forward, greedy_backward and local_search and the
    first start of random_restarts. ``restarts`` (default DEFAULT_RESTARTS) caps random_restarts.
    Results are deterministic for a fixed ``seed`` unless the time limit or ``stop`` cuts a run.
    """
    _check_name(name)
    if name == "magnitude" and start is not None:
        raise ValueError("heuristic 'magnitude' takes no start mask")
    began = time.monotonic()
    ctx = _Context(problem)
    start_state = None if start is None else ctx.space.state_of(start)
    clock = _Clock(_limit_for(name, time_limit), stop)
    archive = _search(ctx, name, clock, seed, start_state, restarts)
    return _finish(ctx, name, [archive], began)


def best_heuristic(
    problem: Problem,
    *,
    seed: int = 0,
    time_limit: float | None = None,
    stop: threading.Event | None = None,
    names: Sequence[str] | None = None,
    restarts: int | None = None,
) -> HeuristicResult:
    """Run several heuristics (default: all) and return the best by the objective.

    MinError: lowest exact error (then fewest kept); MinKept: feasible with fewest kept, then
    error; Pareto: the frontiers merged keeping the best exact error per kept count, the
    certificate and name being those of the lowest-error point. ``time_limit`` bounds the whole
    run: the untimed heuristics run first, the timed ones share what is left equally.
    """
    chosen = tuple(HEURISTICS if names is None else names)
    if not chosen:
        raise ValueError(f"no heuristic given; valid heuristics: {', '.join(HEURISTICS)}")
    for name in chosen:
        _check_name(name)
    began = time.monotonic()
    ctx = _Context(problem)
    deadline = None if time_limit is None else began + _checked_limit(time_limit)
    timed_left = sum(1 for name in chosen if name in _TIMED)
    archives = []
    for name in sorted(chosen, key=lambda n: n in _TIMED):  # untimed first (stable)
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        limit = left
        if name in _TIMED:
            limit = DEFAULT_TIME_LIMIT if left is None else left / timed_left
            timed_left -= 1
        archives.append((name, _search(ctx, name, _Clock(limit, stop), seed, None, restarts)))
    order = {name: i for i, name in enumerate(chosen)}
    archives.sort(key=lambda item: order[item[0]])  # ties go to the earlier name
    if isinstance(problem.objective, Pareto):
        return _finish(ctx, None, [archive for _, archive in archives], began)
    results = [_finish(ctx, name, [archive], began) for name, archive in archives]
    best = min(results, key=lambda r: _rank(problem.objective, r))
    return replace(best, seconds=time.monotonic() - began)


# -- dispatch and bookkeeping ------------------------------------------------------------------


def _check_name(name: str) -> None:
    if name not in HEURISTICS:
        raise ValueError(f"unknown heuristic {name!r}; valid heuristics: {', '.join(HEURISTICS)}")


def _checked_limit(limit: float) -> float:
    if not (math.isfinite(limit) and limit >= 0):
        raise ValueError(f"time_limit must be a finite number >= 0, got {limit}")
    return float(limit)


def _limit_for(name: str, time_limit: float | None) -> float | None:
    if time_limit is not None:
        return _checked_limit(time_limit)
    return DEFAULT_TIME_LIMIT if name in _TIMED else None


def _rank(objective, result: HeuristicResult) -> tuple:
    """Sort key, best first: feasible before infeasible, then the objective's order."""
    cert = result.certificate
    if not result.feasible:
        return (1, cert.error, cert.kept)
    if isinstance(objective, MinKept):
        return (0, cert.kept, cert.error)
    return (0, cert.error, cert.kept)


class _Clock:
    """A deadline and a cancellation event, checked between search steps."""

    def __init__(self, limit: float | None, stop: threading.Event | None):
        self.deadline = None if limit is None else time.monotonic() + limit
        self.stop = stop

    def expired(self) -> bool:
        if self.stop is not None and self.stop.is_set():
            return True
        return self.deadline is not None and time.monotonic() >= self.deadline


def _search(
    ctx: _Context,
    name: str,
    clock: _Clock,
    seed: int,
    start: np.ndarray | None,
    restarts: int | None,
) -> _Archive:
    if name == "magnitude":
        return _magnitude(ctx)
    if name in ("greedy_forward", "greedy_backward"):
        if start is None:
            return ctx.greedy(name, clock)
        return _greedy(ctx, name, clock, +1 if name == "greedy_forward" else -1, start)
    if name == "local_search":
        return _local_search(ctx, clock, start)
    count = DEFAULT_RESTARTS if restarts is None else int(restarts)
    if count < 1:
        raise ValueError(f"restarts must be at least 1, got {restarts}")
    return _random_restarts(ctx, clock, np.random.default_rng(seed), count, start)


# -- float data and the state encoding ---------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Moves:
    """Candidate single-unit moves from one state: unit ``units[i]`` goes to ``targets[i]``."""

    units: np.ndarray
    old: np.ndarray
    targets: np.ndarray
    delta: np.ndarray  # kept-count change

    @property
    def size(self) -> int:
        return int(self.units.size)

    def take(self, index: np.ndarray) -> _Moves:
        return _Moves(self.units[index], self.old[index], self.targets[index], self.delta[index])


class _Space:
    """A problem's float64 data, the state encoding, columns and vectorised error evaluation."""

    def __init__(self, problem: Problem):
        net = problem.network
        self.neurons = problem.pruning == PruningMode.NEURONS
        self.n, self.d = net.n, net.d
        if not self.neurons and self.d > 62:
            raise ValueError(f"weights-mode heuristics support d <= 62, got {self.d}")
        self.points = np.asarray(problem.points(), dtype=float).reshape(-1, self.d)
        self.m = int(self.points.shape[0])
        self.target = np.asarray(problem.target_values(self.points), dtype=float).reshape(self.m)
        self.u = np.asarray(net.hidden_weights, dtype=float).reshape(self.n, self.d)
        self.v = np.asarray(net.output_weights, dtype=float).reshape(self.n)
        self.b = np.asarray(net.biases, dtype=float).reshape(self.n)
        self.c = float(net.output_bias)
        self.relu = net.output_activation == Activation.RELU
        self.full_pattern = 0 if self.neurons else (1 << self.d) - 1
        self.patterns = 1 if self.neurons else 1 << self.d
        self._shifts = np.arange(self.d, dtype=np.int64)
        self.scale = self._scale()
        self._table = self._build_table()

    # -- states ------------------------------------------------------------------------------
    def empty(self) -> np.ndarray:
        return np.full(self.n, _DEAD, dtype=np.int64)

    def full(self) -> np.ndarray:
        return np.full(self.n, self.full_pattern, dtype=np.int64)

    def bits(self, states: np.ndarray) -> np.ndarray:
        """(len, d) bool: which hidden weights each pattern keeps (meaningless for -1)."""
        return ((np.asarray(states, dtype=np.int64)[:, None] >> self._shifts) & 1).astype(bool)

    def cost(self, states: np.ndarray) -> np.ndarray:
        """Kept count of each unit state (Mask.kept: hidden weights of live units + output)."""
        states = np.asarray(states, dtype=np.int64)
        live = states >= 0
        if self.neurons:
            return live.astype(np.int64)
        return np.where(live, self.bits(states).sum(axis=1) + 1, 0).astype(np.int64)

    def kept(self, state: np.ndarray) -> int:
        return int(self.cost(state).sum())

    def mask(self, state: np.ndarray) -> Mask:
        live = state >= 0
        if self.neurons:
            return Mask(neurons=live.copy())
        hidden = self.bits(state) & live[:, None]
        return Mask(hidden_weights=hidden, output_weights=live.copy())

    def state_of(self, mask: Mask) -> np.ndarray:
        """The search state of a user's mask (ValueError when it does not fit the problem)."""
        if self.neurons:
            if mask.neurons is None or np.shape(mask.neurons) != (self.n,):
                raise ValueError(f"start must be a neurons-mode mask of {self.n} units")
            return np.where(np.asarray(mask.neurons, dtype=bool), 0, _DEAD).astype(np.int64)
        if (
            mask.neurons is not None
            or np.shape(mask.hidden_weights) != (self.n, self.d)
            or np.shape(mask.output_weights) != (self.n,)
        ):
            raise ValueError(f"start must be a weights-mode mask of shape ({self.n}, {self.d})")
        hidden = np.asarray(mask.hidden_weights, dtype=bool).astype(np.int64)
        patterns = (hidden << self._shifts).sum(axis=1)
        return np.where(np.asarray(mask.output_weights, dtype=bool), patterns, _DEAD)

    def targets(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(units, new states) of every single-unit move considered from ``state``."""
        n = self.n
        if self.neurons:
            return np.arange(n), np.where(state >= 0, _DEAD, 0).astype(np.int64)
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
        live_targets = np.hstack([np.full((live.size, 1), _DEAD), state[live, None] ^ one_bit])
        revive = np.concatenate([[0], one_bit, [self.full_pattern]]).astype(np.int64)
        units = np.concatenate([np.repeat(live, self.d + 1), np.repeat(dead, revive.size)])
        targets = np.concatenate([live_targets.ravel(), np.tile(revive, dead.size)])
        order = np.lexsort((targets, units))
        units, targets = units[order], targets[order]
        keep = np.r_[True, (units[1:] != units[:-1]) | (targets[1:] != targets[:-1])]
        return units[keep], targets[keep]

    def moves(self, state: np.ndarray, kept: int, cap: int, direction: int = 0) -> _Moves:
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
        return _Moves(units[keep], old[keep], targets[keep], delta[keep])

    # -- columns -----------------------------------------------------------------------------
    def _scale(self) -> float:
        """A bound on |output| + |target|: the unit of the search's float tolerances."""
        reach = np.abs(self.points) @ np.abs(self.u).T + np.abs(self.b)  # (m, n)
        bound = float(np.abs(self.v) @ reach.max(axis=0)) if self.m else 0.0
        bound += abs(self.c) + (float(np.abs(self.target).max()) if self.m else 0.0)
        return bound if bound > 0 else 1.0

    def _compute(self, units: np.ndarray, states: np.ndarray, rows=None) -> np.ndarray:
        """Columns v_i relu((m * u_i) . x_k + b_i) computed directly; removed units give 0."""
        points = self.points if rows is None else self.points[rows]
        w = self.u[units]
        if not self.neurons:
            w = w * self.bits(states)
        pre = points @ w.T + self.b[units]
        return np.maximum(pre, 0.0) * np.where(states >= 0, self.v[units], 0.0)

    def _build_table(self) -> np.ndarray | None:
        """Every (unit, state) column, plus a zero column for removed units, when it is small."""
        count = self.n * self.patterns + 1
        if count * self.m * 8 > _TABLE_MAX_BYTES:
            return None
        units = np.repeat(np.arange(self.n), self.patterns)
        states = np.tile(np.arange(self.patterns, dtype=np.int64), self.n)
        table = np.zeros((self.m, count))
        step = max(1, _BLOCK // max(self.m, 1))
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

    def changes(self, moves: _Moves, index=None, rows=None) -> np.ndarray:
        """Change of the output sum made by each move (selected by ``index``)."""
        sel = moves if index is None else moves.take(index)
        return self.columns(sel.units, sel.targets, rows) - self.columns(sel.units, sel.old, rows)

    def output_sum(self, state: np.ndarray) -> np.ndarray:
        live = np.flatnonzero(state >= 0)
        if live.size == 0:
            return np.zeros(self.m)
        return self.columns(live, state[live]).sum(axis=1)

    # -- errors ------------------------------------------------------------------------------
    def _errors(self, sums: np.ndarray, target: np.ndarray) -> np.ndarray:
        """max_k |act(sum_k + c) - y_k| per column of ``sums`` (overwritten)."""
        if sums.shape[0] == 0:
            return np.zeros(sums.shape[1])
        sums += self.c
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

    def move_errors(self, total: np.ndarray, moves: _Moves) -> np.ndarray:
        """The error after each move, in blocks that bound memory."""
        out = np.empty(moves.size)
        step = max(1, _BLOCK // max(self.m, 1))
        for c0 in range(0, moves.size, step):
            index = np.arange(c0, min(c0 + step, moves.size))
            sums = total[:, None] + self.changes(moves, index)
            out[index] = self._errors(sums, self.target)
        return out

    def pair_errors(self, total: np.ndarray, moves: _Moves, a: np.ndarray, b: np.ndarray):
        """The error after moves ``a[i]`` and ``b[i]`` together (on different units)."""
        sums = total[:, None] + self.changes(moves, a) + self.changes(moves, b)
        return self._errors(sums, self.target)

    def pair_lower_bounds(
        self, total: np.ndarray, moves: _Moves, a: np.ndarray, b: np.ndarray, rows: np.ndarray
    ) -> np.ndarray:
        """(len(a), len(b)) errors of every pair on ``rows`` only: lower bounds of the errors."""
        da, db = self.changes(moves, a, rows), self.changes(moves, b, rows)
        base, target = total[rows], self.target[rows]
        out = np.empty((a.size, b.size))
        step = max(1, _BLOCK // max(rows.size * b.size, 1))
        for a0 in range(0, a.size, step):
            block = base[:, None, None] + da[:, a0 : a0 + step, None] + db[:, None, :]
            out[a0 : a0 + step] = self._errors(block.reshape(rows.size, -1), target).reshape(
                -1, b.size
            )
        return out


# -- the archive of best states per kept count -------------------------------------------------


@dataclass
class _Entry:
    kept: int
    error: float  # float64 estimate; the certificate has the exact figure
    state: np.ndarray
    source: str  # the heuristic that found it


class _Archive:
    """The lowest-error state found for each kept count up to ``cap``."""

    def __init__(self, cap: int, source: str):
        self.cap = cap
        self.source = source
        self.entries: dict[int, _Entry] = {}

    def offer(self, kept: int, error: float, state: np.ndarray) -> None:
        if kept <= self.cap and (kept not in self.entries or error < self.entries[kept].error):
            self.entries[kept] = _Entry(kept, error, state.copy(), self.source)

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
                self.entries[kept] = _Entry(kept, error, build(int(i)), self.source)

    def offer_moves(self, state: np.ndarray, kept: int, moves: _Moves, errors: np.ndarray) -> None:
        def build(i: int) -> np.ndarray:
            out = state.copy()
            out[moves.units[i]] = moves.targets[i]
            return out

        self.offer_batch(kept + moves.delta, errors, build)

    def merge(self, other: _Archive) -> None:
        """Take the other archive's better entries as this archive's own finds."""
        for kept, entry in sorted(other.entries.items()):
            self.offer(kept, entry.error, entry.state)

    def best(self) -> tuple[int, _Entry]:
        """The lowest error, fewest kept on ties."""
        return min(self.entries.items(), key=lambda item: (item[1].error, item[0]))


# -- the search context ------------------------------------------------------------------------


class _Context:
    """One problem's float data, objective figures and exact certification (cached)."""

    def __init__(self, problem: Problem):
        validate_problem(problem, NO_LIMITS)
        self.problem = problem
        self.space = _Space(problem)
        objective = problem.objective
        full = problem.max_kept_possible()
        limit = getattr(objective, "max_kept", None)
        self.cap = full if limit is None else min(int(limit), full)
        self.min_kept = isinstance(objective, MinKept)
        self.pareto = isinstance(objective, Pareto)
        self.tol = _SEARCH_RTOL * self.space.scale
        self.margin = _CERTIFY_RTOL * self.space.scale
        self.max_error: Fraction | None = None
        self.goal: float | None = None  # MinKept: float errors up to here may be feasible
        if isinstance(objective, MinKept):
            self.max_error = Fraction(objective.max_error)
            self.goal = float(objective.max_error) + self.margin
        self._domain: ExactDomain | None = None
        self._certificates: dict[bytes, MaskCertificate] = {}
        self._greedy: dict[str, _Archive] = {}

    def archive(self, source: str) -> _Archive:
        """A new archive, holding the empty mask (always within any budget) from the start."""
        archive = _Archive(self.cap, source)
        empty = self.space.empty()
        archive.offer(0, self.space.error(self.space.output_sum(empty)), empty)
        return archive

    def certify(self, state: np.ndarray) -> MaskCertificate:
        key = state.tobytes()
        if key not in self._certificates:
            if self._domain is None:
                self._domain = ExactDomain(self.problem)
            self._certificates[key] = self._domain.certify(self.space.mask(state))
        return self._certificates[key]

    def greedy(self, name: str, clock: _Clock) -> _Archive:
        """The greedy archives, computed once per context (local_search starts from them)."""
        if name not in self._greedy:
            direction = +1 if name == "greedy_forward" else -1
            self._greedy[name] = _greedy(self, name, clock, direction, None)
        return self._greedy[name]


# -- magnitude ---------------------------------------------------------------------------------


def _magnitude_order(space: _Space) -> np.ndarray:
    """Parameters by decreasing magnitude (stable). Neurons mode: units by |v_i| * ||u_i||;
    weights mode: parameter i * (d + 1) + j is u_ij for j < d and v_i for j = d."""
    if space.neurons:
        scores = np.abs(space.v) * np.linalg.norm(space.u, axis=1)
    else:
        scores = np.abs(np.hstack([space.u, space.v[:, None]])).ravel()
    return np.argsort(-scores, kind="stable")


def _magnitude_steps(space: _Space, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unit, new state) as each parameter of ``order`` joins; state i+1 is prefix i+1."""
    if space.neurons:
        return order.astype(np.int64), np.zeros(order.size, dtype=np.int64)
    width = space.d + 1
    units, states = np.empty(order.size, dtype=np.int64), np.empty(order.size, dtype=np.int64)
    pattern = np.zeros(space.n, dtype=np.int64)
    live = np.zeros(space.n, dtype=bool)
    for t, p in enumerate(order.tolist()):
        i, j = divmod(p, width)
        if j == space.d:
            live[i] = True
        else:
            pattern[i] |= 1 << j  # a dead unit's hidden weights wait for its output weight
        units[t], states[t] = i, pattern[i] if live[i] else _DEAD
    return units, states


def _magnitude(ctx: _Context) -> _Archive:
    """Keep the largest parameters: every prefix of the magnitude order is a candidate. With a
    budget k the chosen mask is the longest prefix whose kept count fits (the top k in neurons
    mode); without one, the best prefix by error; MinKept / Pareto choose among all prefixes."""
    space = ctx.space
    units, states = _magnitude_steps(space, _magnitude_order(space))
    prefix_states = np.empty((units.size + 1, space.n), dtype=np.int64)
    prefix_states[0] = space.empty()
    for t in range(units.size):
        prefix_states[t + 1] = prefix_states[t]
        prefix_states[t + 1, units[t]] = states[t]
    kepts = space.cost(prefix_states.ravel()).reshape(prefix_states.shape).sum(axis=1)
    budgeted = (
        isinstance(ctx.problem.objective, MinError) and ctx.problem.objective.max_kept is not None
    )
    archive = _Archive(ctx.cap, "magnitude")
    if budgeted:
        last = int(np.flatnonzero(kepts <= ctx.cap)[-1])  # kept grows with the prefix
        state = prefix_states[last]
        archive.offer(int(kepts[last]), space.error(space.output_sum(state)), state)
        return archive
    errors = _prefix_errors(space, units, prefix_states)
    archive.offer_batch(kepts, errors, lambda i: prefix_states[i].copy())
    return archive


def _prefix_errors(space: _Space, units: np.ndarray, prefix_states: np.ndarray) -> np.ndarray:
    """Errors of all prefixes by running sums: prefix t+1 changes unit ``units[t]`` only."""
    errors = np.empty(units.size + 1)
    total = np.zeros(space.m)
    errors[0] = space.error(total)
    step = max(1, _BLOCK // max(space.m, 1))
    for t0 in range(0, units.size, step):
        t = np.arange(t0, min(t0 + step, units.size))
        old, new = prefix_states[t, units[t]], prefix_states[t + 1, units[t]]
        moves = _Moves(units[t], old, new, np.zeros(t.size, dtype=np.int64))
        sums = total[:, None] + np.cumsum(space.changes(moves), axis=1)
        total = sums[:, -1].copy()
        errors[t + 1] = space._errors(sums, space.target)
    return errors


# -- greedy --------------------------------------------------------------------------------------


def _best_move(errors: np.ndarray, delta: np.ndarray) -> int:
    """Lowest error; ties: smallest kept change (fewer additions, larger removals), then first."""
    return int(np.lexsort((np.arange(errors.size), delta, errors))[0])


class _Walker:
    """A state with its output sum, kept count and error, changed one move at a time."""

    def __init__(self, ctx: _Context, archive: _Archive, state: np.ndarray):
        self.ctx, self.space, self.archive = ctx, ctx.space, archive
        self.state = state.copy()
        self._refresh()

    def _refresh(self) -> None:
        # Recomputed from the columns after every move: no drift from running float sums.
        self.total = self.space.output_sum(self.state)
        self.kept = self.space.kept(self.state)
        self.error = self.space.error(self.total)
        self.archive.offer(self.kept, self.error, self.state)

    def scan(self, cap: int, direction: int = 0) -> tuple[_Moves, np.ndarray]:
        """All single moves within ``cap`` and their errors (fed to the archive)."""
        moves = self.space.moves(self.state, self.kept, cap, direction)
        errors = self.space.move_errors(self.total, moves)
        self.archive.offer_moves(self.state, self.kept, moves, errors)
        return moves, errors

    def apply(self, moves: _Moves, *index: int) -> None:
        for i in index:
            self.state[moves.units[i]] = moves.targets[i]
        self._refresh()

    def step(self, cap: int, direction: int) -> bool:
        """One greedy step: the best move in ``direction``, even if it raises the error."""
        moves, errors = self.scan(cap, direction)
        if moves.size == 0:
            return False
        self.apply(moves, _best_move(errors, moves.delta))
        return True


def _greedy(
    ctx: _Context, name: str, clock: _Clock, direction: int, start: np.ndarray | None
) -> _Archive:
    """Forward (+1): from empty add the unit / parameter that lowers the error most; backward
    (-1): from full remove the one whose removal hurts least. The whole path is walked and the
    archive keeps the best mask of each size met (including every candidate evaluated)."""
    archive = ctx.archive(name)
    space = ctx.space
    if start is None:
        start = space.empty() if direction > 0 else space.full()
    walker = _Walker(ctx, archive, start)
    if direction > 0:
        _repair(walker, ctx.cap, clock)
    while not clock.expired():
        if direction > 0 and ctx.goal is not None and walker.error <= ctx.goal:
            break  # MinKept: larger masks on this path cannot be better
        if not walker.step(ctx.cap, direction):
            break
    return archive


def _repair(walker: _Walker, cap: int, clock: _Clock) -> None:
    """Greedy removals until the state fits ``cap`` (a start mask may be over the budget)."""
    while walker.kept > cap and not clock.expired():
        walker.step(cap, -1)
    while walker.kept > cap:  # out of time: the cheapest way down is dropping whole units
        live = np.flatnonzero(walker.state >= 0)
        walker.state[live[-1]] = _DEAD
        walker._refresh()


# -- local search --------------------------------------------------------------------------------


def _descend(
    ctx: _Context, walker: _Walker, cap: int, clock: _Clock, goal: float | None = None
) -> None:
    """Local search under kept <= ``cap`` until a local optimum, the time limit, or (MinKept)
    an error <= ``goal``. Flip and in-unit moves: best improvement; swaps (one unit's kept
    count down, another's up): screened on the current worst points, then first improving
    block of the most promising candidates, best within it."""
    _repair(walker, cap, clock)
    while not clock.expired() and not (goal is not None and walker.error <= goal):
        moves, errors = walker.scan(cap)
        if moves.size == 0:
            return
        # Accept a clear improvement, else dropping parameters without raising the error:
        # each lowers (error, kept) lexicographically beyond the tolerance, so the search ends.
        i = _best_move(errors, moves.delta)
        if errors[i] < walker.error - ctx.tol:
            walker.apply(moves, i)
            continue
        drops = np.flatnonzero((moves.delta < 0) & (errors <= walker.error))
        if drops.size:
            walker.apply(moves, int(drops[_best_move(errors[drops], moves.delta[drops])]))
            continue
        pair = _improving_swap(ctx, walker, moves, errors, cap, clock)
        if pair is None:
            return
        walker.apply(moves, *pair)


def _improving_swap(
    ctx: _Context, walker: _Walker, moves: _Moves, errors: np.ndarray, cap: int, clock: _Clock
) -> tuple[int, int] | None:
    space = ctx.space
    down = np.flatnonzero(moves.delta < 0)
    up = np.flatnonzero(moves.delta > 0)
    if down.size == 0 or up.size == 0:
        return None
    if down.size * up.size > _MAX_PAIRS:
        # Too many pairs: pair the least harmful removals with the most helpful additions.
        side = int(math.isqrt(_MAX_PAIRS))
        down = down[np.argsort(errors[down], kind="stable")[: max(side, _MAX_PAIRS // up.size)]]
        up = up[np.argsort(errors[up], kind="stable")[: max(1, _MAX_PAIRS // down.size)]]
    threshold = walker.error - ctx.tol
    residuals = space.residuals(walker.total)
    rows = np.sort(np.argsort(-residuals, kind="stable")[:_SCREEN_ROWS])
    bounds = space.pair_lower_bounds(walker.total, moves, down, up, rows)
    valid = (moves.units[down][:, None] != moves.units[up][None, :]) & (
        walker.kept + moves.delta[down][:, None] + moves.delta[up][None, :] <= cap
    )
    flat = np.flatnonzero(valid.ravel() & (bounds.ravel() < threshold))
    flat = flat[np.argsort(bounds.ravel()[flat], kind="stable")]
    step = max(1, _BLOCK // (2 * max(space.m, 1)))
    for c0 in range(0, flat.size, step):
        if clock.expired():
            return None
        chunk = flat[c0 : c0 + step]
        a, b = down[chunk // up.size], up[chunk % up.size]
        pair_errors = space.pair_errors(walker.total, moves, a, b)
        kepts = walker.kept + moves.delta[a] + moves.delta[b]

        def build(i: int, a=a, b=b) -> np.ndarray:
            out = walker.state.copy()
            out[moves.units[a[i]]] = moves.targets[a[i]]
            out[moves.units[b[i]]] = moves.targets[b[i]]
            return out

        walker.archive.offer_batch(kepts, pair_errors, build)
        best = int(np.argmin(pair_errors))
        if pair_errors[best] < threshold:
            return int(a[best]), int(b[best])
    return None


def _shrink(ctx: _Context, walker: _Walker, clock: _Clock) -> None:
    """MinKept: reach max_error, then repeatedly lower the budget by one and search for a mask
    within max_error under it, until none is found."""
    _descend(ctx, walker, ctx.cap, clock, ctx.goal)
    while walker.error <= ctx.goal and walker.kept > 0 and not clock.expired():
        trial = _Walker(ctx, walker.archive, walker.state)
        _descend(ctx, trial, walker.kept - 1, clock, ctx.goal)
        if trial.error > ctx.goal:
            return
        walker.state = trial.state
        walker._refresh()


def _start_of(ctx: _Context, archive: _Archive) -> np.ndarray:
    """The best archived state for the objective: MinKept, the fewest kept within max_error
    (else the lowest error); otherwise the lowest error."""
    if ctx.goal is not None:
        within = [k for k, e in archive.entries.items() if e.error <= ctx.goal]
        if within:
            return archive.entries[min(within)].state
    return archive.best()[1].state


def _local_search(ctx: _Context, clock: _Clock, start: np.ndarray | None) -> _Archive:
    """Local search from ``start`` (default: the best greedy mask); Pareto then improves the
    best mask of every kept count found, in increasing order."""
    archive = ctx.archive("local_search")
    if start is None:
        for name in ("greedy_forward", "greedy_backward"):
            archive.merge(ctx.greedy(name, clock))
        start = _start_of(ctx, archive)
    walker = _Walker(ctx, archive, start)
    if ctx.goal is not None:
        _shrink(ctx, walker, clock)
        return archive
    _descend(ctx, walker, ctx.cap, clock)
    if ctx.pareto:
        for kept in sorted(archive.entries):
            if clock.expired():
                break
            _descend(ctx, _Walker(ctx, archive, archive.entries[kept].state), kept, clock)
    return archive


def _random_state(space: _Space, rng: np.random.Generator, size: int) -> np.ndarray:
    """The longest prefix of a random parameter order whose kept count is at most ``size``."""
    count = space.n if space.neurons else space.n * (space.d + 1)
    units, states = _magnitude_steps(space, rng.permutation(count))
    state, kept = space.empty(), 0
    for unit, new in zip(units.tolist(), states.tolist()):
        delta = int(space.cost(np.array([new]))[0] - space.cost(state[unit : unit + 1])[0])
        if kept + delta > size:
            break  # kept only grows along the order
        state[unit], kept = new, kept + delta
    return state


def _random_restarts(
    ctx: _Context, clock: _Clock, rng: np.random.Generator, restarts: int, start
) -> _Archive:
    """Local search from random starts (the first from ``start`` when given), of a size drawn
    uniformly in 0..cap: sizes spread where random subsets would cluster around half the
    parameters. Pareto: each restart searches under its drawn size as the budget."""
    archive = ctx.archive("random_restarts")
    for r in range(restarts):
        if clock.expired():
            break
        size = int(rng.integers(0, ctx.cap + 1))
        state = start if (r == 0 and start is not None) else _random_state(ctx.space, rng, size)
        walker = _Walker(ctx, archive, state)
        if ctx.goal is not None:
            _shrink(ctx, walker, clock)
        else:
            _descend(ctx, walker, size if ctx.pareto else ctx.cap, clock)
    return archive


# -- exact selection -----------------------------------------------------------------------------


def _near_best(ctx: _Context, entries: list[_Entry]) -> list[_Entry]:
    """The entries whose float error is within the certification margin of the lowest."""
    ordered = sorted(entries, key=lambda e: (e.error, e.kept))
    return [e for e in ordered if e.error <= ordered[0].error + ctx.margin][:_TIE_CANDIDATES]


def _certified_best(ctx: _Context, entries: list[_Entry]) -> tuple[MaskCertificate, _Entry]:
    """Certify the float near-ties and return the exact best (fewest kept on ties)."""
    candidates = [(ctx.certify(e.state), e) for e in _near_best(ctx, entries)]
    return min(candidates, key=lambda ce: (ce[0].error, ce[0].kept))


def _finish(
    ctx: _Context, name: str | None, archives: list[_Archive], began: float
) -> HeuristicResult:
    """Certify the objective's choice from the archives (several: best_heuristic's merge)."""
    by_kept: dict[int, list[_Entry]] = {}
    for archive in archives:
        for kept, entry in archive.entries.items():
            by_kept.setdefault(kept, []).append(entry)
    feasible, frontier = True, ()
    if ctx.pareto:
        points = [_certified_best(ctx, by_kept[k]) for k in sorted(by_kept)]
        frontier = tuple(cert for cert, _ in points)
        cert, entry = min(points, key=lambda ce: (ce[0].error, ce[0].kept))
    elif ctx.goal is not None:
        cert, entry, feasible = _pick_min_kept(ctx, by_kept)
    else:
        best = min(min(e.error for e in entries) for entries in by_kept.values())
        near = [e for entries in by_kept.values() for e in entries if e.error <= best + ctx.margin]
        cert, entry = _certified_best(ctx, near)
    return HeuristicResult(
        name=entry.source if name is None else name,
        certificate=cert,
        feasible=feasible,
        frontier=frontier,
        seconds=time.monotonic() - began,
    )


def _pick_min_kept(
    ctx: _Context, by_kept: dict[int, list[_Entry]]
) -> tuple[MaskCertificate, _Entry, bool]:
    """The fewest kept whose exact error is within max_error; else the lowest error found."""
    assert ctx.max_error is not None and ctx.goal is not None
    for kept in sorted(by_kept):
        for entry in sorted(by_kept[kept], key=lambda e: e.error):
            if entry.error > ctx.goal:
                break
            cert = ctx.certify(entry.state)
            if cert.error <= ctx.max_error:
                return cert, entry, True
    every = [e for entries in by_kept.values() for e in entries]
    cert, entry = _certified_best(ctx, every)
    return cert, entry, False
