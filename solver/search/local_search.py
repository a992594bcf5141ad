"""Local search (flips, in-unit moves and screened swaps) and random restarts."""

from __future__ import annotations

import math

import numpy as np

from solver.search.context import Clock, Context
from solver.search.greedy import Walker, best_move, greedy_archive, magnitude_steps, repair
from solver.search.state_space import BLOCK, Archive, Moves, SearchSpace

_MAX_PAIRS = 2**20  # swap candidates screened per local-search step
_SCREEN_ROWS = 48  # worst points of the current state used to screen swap candidates


# -- local search --------------------------------------------------------------------------------


def _descend(
    ctx: Context, walker: Walker, cap: int, clock: Clock, goal: float | None = None
) -> None:
    """Local search under kept <= ``cap`` until a local optimum, the time limit, or (MinKept)
    an error <= ``goal``. Flip and in-unit moves: best improvement; swaps (one unit's kept
    count down, another's up): screened on the current worst points, then first improving
    block of the most promising candidates, best within it."""
    repair(walker, cap, clock)
    while not clock.expired() and not (goal is not None and walker.error <= goal):
        moves, errors = walker.scan(cap)
        if moves.size == 0:
            return
        # Accept a clear improvement, else dropping parameters without raising the error:
        # each lowers (error, kept) lexicographically beyond the tolerance, so the search ends.
        i = best_move(errors, moves.delta)
        if errors[i] < walker.error - ctx.tol:
            walker.apply(moves, i)
            continue
        drops = np.flatnonzero((moves.delta < 0) & (errors <= walker.error))
        if drops.size:
            walker.apply(moves, int(drops[best_move(errors[drops], moves.delta[drops])]))
            continue
        pair = _improving_swap(ctx, walker, moves, errors, cap, clock)
        if pair is None:
            return
        walker.apply(moves, *pair)


def _improving_swap(
    ctx: Context, walker: Walker, moves: Moves, errors: np.ndarray, cap: int, clock: Clock
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
    step = max(1, BLOCK // (2 * max(space.m, 1)))
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


def _shrink(ctx: Context, walker: Walker, clock: Clock) -> None:
    """MinKept: reach max_error, then repeatedly lower the budget by one and search for a mask
    within max_error under it, until none is found."""
    _descend(ctx, walker, ctx.cap, clock, ctx.goal)
    while walker.error <= ctx.goal and walker.kept > 0 and not clock.expired():
        trial = Walker(ctx, walker.archive, walker.state)
        _descend(ctx, trial, walker.kept - 1, clock, ctx.goal)
        if trial.error > ctx.goal:
            return
        walker.state = trial.state
        walker._refresh()


def _start_of(ctx: Context, archive: Archive) -> np.ndarray:
    """The best archived state for the objective: MinKept, the fewest kept within max_error
    (else the lowest error); otherwise the lowest error."""
    if ctx.goal is not None:
        within = [k for k, e in archive.entries.items() if e.error <= ctx.goal]
        if within:
            return archive.entries[min(within)].state
    return archive.best()[1].state


def local_search(ctx: Context, clock: Clock, start: np.ndarray | None) -> Archive:
    """Local search from ``start`` (default: the best greedy mask); Pareto then improves the
    best mask of every kept count found, in increasing order."""
    archive = ctx.archive("local_search")
    if start is None:
        for name in ("greedy_forward", "greedy_backward"):
            archive.merge(greedy_archive(ctx, name, clock))
        start = _start_of(ctx, archive)
    walker = Walker(ctx, archive, start)
    if ctx.goal is not None:
        _shrink(ctx, walker, clock)
        return archive
    _descend(ctx, walker, ctx.cap, clock)
    if ctx.pareto:
        for kept in sorted(archive.entries):
            if clock.expired():
                break
            _descend(ctx, Walker(ctx, archive, archive.entries[kept].state), kept, clock)
    return archive


def _random_state(space: SearchSpace, rng: np.random.Generator, size: int) -> np.ndarray:
    """The longest prefix of a random parameter order whose kept count is at most ``size``."""
    count = space.n if space.neurons else space.n * (space.d + 1)
    units, states = magnitude_steps(space, rng.permutation(count))
    state, kept = space.empty(), 0
    for unit, new in zip(units.tolist(), states.tolist()):
        delta = int(space.cost(np.array([new]))[0] - space.cost(state[unit : unit + 1])[0])
        if kept + delta > size:
            break  # kept only grows along the order
        state[unit], kept = new, kept + delta
    return state


def random_restarts(
    ctx: Context, clock: Clock, rng: np.random.Generator, restarts: int, start
) -> Archive:
    """Local search from random starts (the first from ``start`` when given), of a size drawn
    uniformly in 0..cap: sizes spread where random subsets would cluster around half the
    parameters. Pareto: each restart searches under its drawn size as the budget."""
    archive = ctx.archive("random_restarts")
    for r in range(restarts):
        if clock.expired():
            break
        size = int(rng.integers(0, ctx.cap + 1))
        state = start if (r == 0 and start is not None) else _random_state(ctx.space, rng, size)
        walker = Walker(ctx, archive, state)
        if ctx.goal is not None:
            _shrink(ctx, walker, clock)
        else:
            _descend(ctx, walker, size if ctx.pareto else ctx.cap, clock)
    return archive
