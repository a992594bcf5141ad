"""Built-in pruning heuristics: baselines for users, and starting solutions for the exact engine
(the engine's own float helpers on its column model are in solver.formulation.hints).

Why: heuristic developers score their methods against certified optima (docs/design.md §1,
§10). The classic baselines - magnitude pruning, greedy forward selection, greedy backward
elimination, local search and random restarts - live next to the exact engine so that a baseline
and the optimum are one call apart, on the same problem and under the same exact error.

How: every search runs in float64 numpy on precomputed per-unit columns (docs/design.md
§3). A search state holds one entry per hidden unit: -1 when the unit is removed, otherwise its
hidden mask as a bit pattern (bit j set: u_ij kept; neurons mode uses only 0 for "kept"). The
pruned output sum is the sum of the live units' columns, so a move that changes one or two units
is evaluated as ``sum + column changes``, for all candidate moves in one numpy operation. Every
search feeds an archive of the best state found for each kept count, and the objective picks
from that archive. Floats only steer the search: every mask that is returned is re-evaluated
exactly by solver.exact.certify, and its certificate is what the caller sees.

This module is the entry point (run_heuristic, best_heuristic) and the exact choice among what the
searches found; the searches live beside it: state_space (the encoding, columns and vectorised
errors, the archive), context (one run's shared state and clock), greedy (magnitude and the greedy
baselines) and local_search (local search and random restarts).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from solver.core.parameters import HEURISTICS
from solver.core.problem import Mask, MinKept, Pareto, Problem
from solver.exact.certify import MaskCertificate
from solver.search.context import Clock, Context
from solver.search.greedy import greedy, greedy_archive, magnitude
from solver.search.local_search import local_search, random_restarts
from solver.search.state_space import Archive, Entry

DEFAULT_TIME_LIMIT = 3.0
DEFAULT_RESTARTS = 32
_TIMED = ("local_search", "random_restarts")
_TIE_CANDIDATES = 8  # float near-ties certified exactly before choosing


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
    ctx = Context(problem)
    start_state = None if start is None else ctx.space.state_of(start)
    clock = Clock(_limit_for(name, time_limit), stop)
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
    ctx = Context(problem)
    deadline = None if time_limit is None else began + _checked_limit(time_limit)
    timed_left = sum(1 for name in chosen if name in _TIMED)
    archives = []
    for name in sorted(chosen, key=lambda n: n in _TIMED):  # untimed first (stable)
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        limit = left
        if name in _TIMED:
            limit = DEFAULT_TIME_LIMIT if left is None else left / timed_left
            timed_left -= 1
        archives.append((name, _search(ctx, name, Clock(limit, stop), seed, None, restarts)))
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


def _search(
    ctx: Context,
    name: str,
    clock: Clock,
    seed: int,
    start: np.ndarray | None,
    restarts: int | None,
) -> Archive:
    if name == "magnitude":
        return magnitude(ctx)
    if name in ("greedy_forward", "greedy_backward"):
        if start is None:
            return greedy_archive(ctx, name, clock)
        return greedy(ctx, name, clock, +1 if name == "greedy_forward" else -1, start)
    if name == "local_search":
        return local_search(ctx, clock, start)
    count = DEFAULT_RESTARTS if restarts is None else int(restarts)
    if count < 1:
        raise ValueError(f"restarts must be at least 1, got {restarts}")
    return random_restarts(ctx, clock, np.random.default_rng(seed), count, start)


# -- exact selection -----------------------------------------------------------------------------


def _near_best(ctx: Context, entries: list[Entry]) -> list[Entry]:
    """The entries whose float error is within the certification margin of the lowest."""
    ordered = sorted(entries, key=lambda e: (e.error, e.kept))
    return [e for e in ordered if e.error <= ordered[0].error + ctx.margin][:_TIE_CANDIDATES]


def _certified_best(ctx: Context, entries: list[Entry]) -> tuple[MaskCertificate, Entry]:
    """Certify the float near-ties and return the exact best (fewest kept on ties)."""
    candidates = [(ctx.certify(e.state), e) for e in _near_best(ctx, entries)]
    return min(candidates, key=lambda ce: (ce[0].error, ce[0].kept))


def _finish(
    ctx: Context, name: str | None, archives: list[Archive], began: float
) -> HeuristicResult:
    """Certify the objective's choice from the archives (several: best_heuristic's merge)."""
    by_kept: dict[int, list[Entry]] = {}
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
    ctx: Context, by_kept: dict[int, list[Entry]]
) -> tuple[MaskCertificate, Entry, bool]:
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
