"""Magnitude pruning and the greedy baselines (forward selection, backward elimination), and
the walker that applies one move at a time."""

from __future__ import annotations

import numpy as np

from solver.core.problem import MinError
from solver.search.context import Clock, Context
from solver.search.state_space import BLOCK, DEAD, Archive, Moves, SearchSpace

# -- magnitude ---------------------------------------------------------------------------------


def _magnitude_order(space: SearchSpace) -> np.ndarray:
    """Parameters by decreasing magnitude (stable). Neurons mode: units by max_o |v_oi| *
    ||u_i||; weights mode: parameter i * (d + k) + j is u_ij for j < d and v_(j-d),i after."""
    if space.neurons:
        scores = np.abs(space.v) * np.linalg.norm(space.u, axis=1)
    else:
        scores = np.abs(np.hstack([space.u, space.v_matrix.T])).ravel()
    return np.argsort(-scores, kind="stable")


def magnitude_steps(space: SearchSpace, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unit, new state) as each parameter of ``order`` joins; state i+1 is prefix i+1."""
    if space.neurons:
        return order.astype(np.int64), np.zeros(order.size, dtype=np.int64)
    width = space.d + space.k
    units, states = np.empty(order.size, dtype=np.int64), np.empty(order.size, dtype=np.int64)
    pattern = np.zeros(space.n, dtype=np.int64)
    sets = np.zeros(space.n, dtype=np.int64)  # kept output weights as bits
    for t, p in enumerate(order.tolist()):
        i, j = divmod(p, width)
        if j >= space.d:
            sets[i] |= 1 << (j - space.d)
        else:
            pattern[i] |= 1 << j  # a dead unit's hidden weights wait for an output weight
        live = sets[i] > 0
        units[t] = i
        states[t] = pattern[i] + ((sets[i] - 1) << space.d) if live else DEAD
    return units, states


def magnitude(ctx: Context) -> Archive:
    """Keep the largest parameters: every prefix of the magnitude order is a candidate. With a
    budget k the chosen mask is the longest prefix whose kept count fits (the top k in neurons
    mode); without one, the best prefix by error; MinKept / Pareto choose among all prefixes."""
    space = ctx.space
    units, states = magnitude_steps(space, _magnitude_order(space))
    prefix_states = np.empty((units.size + 1, space.n), dtype=np.int64)
    prefix_states[0] = space.empty()
    for t in range(units.size):
        prefix_states[t + 1] = prefix_states[t]
        prefix_states[t + 1, units[t]] = states[t]
    kepts = space.cost(prefix_states.ravel()).reshape(prefix_states.shape).sum(axis=1)
    budgeted = (
        isinstance(ctx.problem.objective, MinError) and ctx.problem.objective.max_kept is not None
    )
    archive = Archive(ctx.cap, "magnitude")
    if budgeted:
        last = int(np.flatnonzero(kepts <= ctx.cap)[-1])  # kept grows with the prefix
        state = prefix_states[last]
        archive.offer(int(kepts[last]), space.error(space.output_sum(state)), state)
        return archive
    errors = _prefix_errors(space, units, prefix_states)
    archive.offer_batch(kepts, errors, lambda i: prefix_states[i].copy())
    return archive


def _prefix_errors(space: SearchSpace, units: np.ndarray, prefix_states: np.ndarray) -> np.ndarray:
    """Errors of all prefixes by running sums: prefix t+1 changes unit ``units[t]`` only."""
    errors = np.empty(units.size + 1)
    total = np.zeros(space.m)
    errors[0] = space.error(total)
    step = max(1, BLOCK // max(space.m, 1))
    for t0 in range(0, units.size, step):
        t = np.arange(t0, min(t0 + step, units.size))
        old, new = prefix_states[t, units[t]], prefix_states[t + 1, units[t]]
        moves = Moves(units[t], old, new, np.zeros(t.size, dtype=np.int64))
        sums = total[:, None] + np.cumsum(space.changes(moves), axis=1)
        total = sums[:, -1].copy()
        errors[t + 1] = space._errors(sums, space.target)
    return errors


# -- greedy --------------------------------------------------------------------------------------


def best_move(errors: np.ndarray, delta: np.ndarray) -> int:
    """Lowest error; ties: smallest kept change (fewer additions, larger removals), then first."""
    return int(np.lexsort((np.arange(errors.size), delta, errors))[0])


class Walker:
    """A state with its output sum, kept count and error, changed one move at a time."""

    def __init__(self, ctx: Context, archive: Archive, state: np.ndarray):
        self.ctx, self.space, self.archive = ctx, ctx.space, archive
        self.state = state.copy()
        self._refresh()

    def _refresh(self) -> None:
        # Recomputed from the columns after every move: no drift from running float sums.
        self.total = self.space.output_sum(self.state)
        self.kept = self.space.kept(self.state)
        self.error = self.space.error(self.total)
        self.archive.offer(self.kept, self.error, self.state)

    def scan(self, cap: int, direction: int = 0) -> tuple[Moves, np.ndarray]:
        """All single moves within ``cap`` and their errors (fed to the archive)."""
        moves = self.space.moves(self.state, self.kept, cap, direction)
        errors = self.space.move_errors(self.total, moves)
        self.archive.offer_moves(self.state, self.kept, moves, errors)
        return moves, errors

    def apply(self, moves: Moves, *index: int) -> None:
        for i in index:
            self.state[moves.units[i]] = moves.targets[i]
        self._refresh()

    def step(self, cap: int, direction: int) -> bool:
        """One greedy step: the best move in ``direction``, even if it raises the error."""
        moves, errors = self.scan(cap, direction)
        if moves.size == 0:
            return False
        self.apply(moves, best_move(errors, moves.delta))
        return True


def greedy(
    ctx: Context, name: str, clock: Clock, direction: int, start: np.ndarray | None
) -> Archive:
    """Forward (+1): from empty add the unit / parameter that lowers the error most; backward
    (-1): from full remove the one whose removal hurts least. The whole path is walked and the
    archive keeps the best mask of each size met (including every candidate evaluated)."""
    archive = ctx.archive(name)
    space = ctx.space
    if start is None:
        start = space.empty() if direction > 0 else space.full()
    walker = Walker(ctx, archive, start)
    if direction > 0:
        repair(walker, ctx.cap, clock)
    while not clock.expired():
        if direction > 0 and ctx.goal is not None and walker.error <= ctx.goal:
            break  # MinKept: larger masks on this path cannot be better
        if not walker.step(ctx.cap, direction):
            break
    return archive


def repair(walker: Walker, cap: int, clock: Clock) -> None:
    """Greedy removals until the state fits ``cap`` (a start mask may be over the budget)."""
    while walker.kept > cap and not clock.expired():
        walker.step(cap, -1)
    while walker.kept > cap:  # out of time: the cheapest way down is dropping whole units
        live = np.flatnonzero(walker.state >= 0)
        walker.state[live[-1]] = DEAD
        walker._refresh()


def greedy_archive(ctx: Context, name: str, clock: Clock) -> Archive:
    """The greedy archives, computed once per context (local_search starts from them)."""
    if name not in ctx.greedy_archives:
        direction = +1 if name == "greedy_forward" else -1
        ctx.greedy_archives[name] = greedy(ctx, name, clock, direction, None)
    return ctx.greedy_archives[name]
