"""Starting masks for a min_error solve (docs/design.md §10): the greedy choice, then the
single-weight search and the quick heuristic baselines, until one is within the tolerance of 0.
On the lazy column model (the per-weight route, docs/design.md §15) greedy forward selection sees
only each unit's full pattern, so with a budget it degenerates to whole units; magnitude pruning
(the largest |weights| within the budget) joins the starts there: it needs no enumeration.

A start is only a hint and an upper bound: the backend's proof and the exact certificate decide.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np

from solver import exact
from solver.core.problem import Mask, MinError, MinKept, Problem, PruningMode
from solver.engine.run import Run
from solver.formulation.hints import greedy_forward
from solver.search import single_weight
from solver.search.heuristics import best_heuristic

# Solution hints from the heuristic baselines: the quick ones, capped (bench/heuristics.py
# measures whether they help).
HEURISTIC_START_NAMES = ("greedy_forward", "greedy_backward", "local_search")
HEURISTIC_START_SECONDS = 1.0
# Measured (3 seeds, threads=1): neurons n=64 0.82x the time with the hint, n=32 1.10x, weights
# n=16 1.40x (the heuristics' own ~0.08 s), n=32 1.03x: by default only for larger networks.
HEURISTIC_START_MIN_UNITS = 48
# The heuristics certify each mask they return (a few near-ties each) after their search: the
# start runs only when this many certificates fit in the time left (docs/design.md §14).
HEURISTIC_START_CERTIFICATES = 10
# The single-weight search (solver.search.single_weight) stops at a mask within the tolerance;
# it gets at most this long and at most half the time left.
SINGLE_WEIGHT_SECONDS = 30.0


def start_error(run: Run, chosen: list[int]) -> Fraction:
    """The exact error of a choice on the model's points (for bias-free problems the dropped
    points are dominated up to the rounding that groups rays; results re-certify on every
    point)."""
    errors = run.model.point_errors(chosen)
    return exact.to_fraction(int(max(errors.tolist(), default=0)), run.model.exp)


def starting_choices(run: Run, max_kept: int | None, search: bool = True) -> list[list[int]]:
    """The greedy choice, then (``search``) each search's mask while none is within the
    tolerance of 0."""
    tol = Fraction(run.params.effective_tolerance)
    starts = [greedy_forward(run.model, max_kept=max_kept, deadline=run.search_deadline)]
    if not run.model.complete and max_kept is not None:
        starts.append(run.model.choice(magnitude_mask(run.problem, max_kept)))
    if not search:
        return starts
    for search_for in (single_weight_choice, heuristic_choice):
        if min(start_error(run, c) for c in starts) <= tol:
            break
        found = search_for(run, max_kept)
        if found is not None:
            starts.append(found)
    return starts


def _starts_wanted(run: Run) -> bool:
    """Whether a solve searches for starting masks (parameters.heuristic_start; unset:
    networks of HEURISTIC_START_MIN_UNITS units or more, and weights mode on networks with
    biases)."""
    wanted = run.params.heuristic_start
    if wanted is None:  # default: only where it paid off
        problem = run.problem
        # bench/heuristics.py measured the paper family (bias-free): from 48 units. On trained
        # networks in weights mode (bench/real.py, 60 s) the 1 s start turned the exact solve's
        # answer from worse than the heuristics' into better: diabetes n = 8 error 0.681 ->
        # 0.368, n = 16 0.632 -> 0.324; iris n = 8 1.674 -> 1.393 (bound 0.024 -> 0.584);
        # min_kept diabetes n = 8 8 FEASIBLE -> 6 OPTIMAL.
        wanted = problem.network.n >= HEURISTIC_START_MIN_UNITS or (
            problem.pruning == PruningMode.WEIGHTS and not problem.is_bias_free
        )
    return wanted and not run.out_of_time()


def single_weight_choice(run: Run, max_kept: int | None) -> list[int] | None:
    """A start from the single-weight search where it applies, within SINGLE_WEIGHT_SECONDS and
    half the time left; it stops at a mask within the tolerance."""
    if not _starts_wanted(run) or not single_weight.applies(run.problem):
        return None
    limit = SINGLE_WEIGHT_SECONDS
    left = run.time_left()
    if left is not None:
        limit = min(limit, 0.5 * left)
    run.report(message="single-weight search")
    found = single_weight.search(
        run.problem,
        lambda mask: start_error(run, run.model.choice(mask)),
        good_enough=Fraction(run.params.effective_tolerance),
        max_kept=max_kept,
        time_limit=limit,
        stop=run.stop,
        threads=run.params.threads or None,
        seed=run.params.seed,
    )
    return None if found is None else run.model.choice(found[0])


def heuristic_choice(
    run: Run, max_kept: int | None, max_error: Fraction | None = None
) -> list[int] | None:
    """The best of the quick heuristic baselines (solver.search.heuristics) as a solution hint,
    within HEURISTIC_START_SECONDS (and a tenth of the time limit); None when not wanted.
    min_error within ``max_kept``, or (``max_error`` given) min_kept: the fewest kept the
    heuristics find within max_error (the caller checks it exactly: the heuristics read the
    threshold as a double)."""
    if not _starts_wanted(run):
        return None
    limit = HEURISTIC_START_SECONDS
    left = run.time_left()
    if left is not None:
        if left < HEURISTIC_START_CERTIFICATES * run.certify_seconds:
            return None  # its certificates, which follow its search, would not fit
        limit = min(limit, 0.1 * left)
    goal = MinError(max_kept=max_kept) if max_error is None else MinKept(float(max_error))
    budget = dataclasses.replace(run.problem, objective=goal)
    found = best_heuristic(
        budget,
        names=HEURISTIC_START_NAMES,
        time_limit=limit,
        stop=run.stop,
        seed=run.params.seed or 0,
    )
    return run.model.choice(found.certificate.mask)


def magnitude_mask(problem: Problem, max_kept: int) -> Mask:
    """Weights mode's magnitude pruning within a budget: the non-zero hidden and output weights
    by decreasing |value| (stable: hidden before output weights of a unit on ties), the longest
    prefix whose kept count (Mask.kept: a unit's hidden weights count once one of its output
    weights is kept) is at most ``max_kept``."""
    net = problem.network
    n, d, k = net.n, net.d, net.outputs
    u = np.abs(np.asarray(net.hidden_weights, dtype=float)).reshape(n, d)
    v = np.abs(net.output_matrix)  # (k, n)
    # Parameter p < n d is u[p // d, p % d]; p = n d + o n + i is v[o, i].
    values = np.concatenate([u.ravel(), v.ravel()])
    order = [int(p) for p in np.argsort(-values, kind="stable") if values[p] != 0]
    hidden = np.zeros((n, d), dtype=bool)
    output = np.zeros((k, n), dtype=bool)
    kept = 0
    for p in order:
        if p < n * d:
            i, j = divmod(p, d)
            live = bool(output[:, i].any())
            cost = 1 if live else 0  # a dead unit's hidden weights wait for an output weight
        else:
            o, i = divmod(p - n * d, n)
            live = bool(output[:, i].any())
            cost = 1 if live else 1 + int(hidden[i].sum())
        if kept + cost > max_kept:
            break
        kept += cost
        if p < n * d:
            hidden[i, j] = True
        else:
            output[o, i] = True
    return Mask(hidden_weights=hidden, output_weights=output[0] if k == 1 else output)
