"""Single-weight search: a fast primal search for weights mode when the target is linear before
its activation (the paper's setting, issue 7).

For a bias-free network whose output activation equals that of a bias-free target neuron
``act(w . x)``, keep only units with exactly one hidden weight: unit i keeping u_ij alone
contributes ``v_i |u_ij| relu(s x_j)`` with s = sign(u_ij). Since
``w . x = sum_j w_j (relu(x_j) - relu(-x_j))``, the kept pre-activation minus ``w . x`` is
``sum_j delta_{j,+} relu(x_j) + delta_{j,-} relu(-x_j)`` where ``delta_{j,s}`` is the sum of the
kept contributions on (j, s) minus ``s w_j``. On points with every ``|x_j| <= r`` its absolute
value is at most ``r max(sum_j P_j, sum_j N_j)`` (P_j, N_j: the largest positive and negative
parts of delta_{j,+} and delta_{j,-}), and the activation is 1-Lipschitz, so that bounds the
error. Minimising it is a 2d-dimensional multiple-choice subset sum: CP-SAT on 2d sums instead of
one constraint per point. On the paper family the best masks the grid model's CP-SAT found at
n = 64 (errors 0.8-1.8e-6, five seeds, up to 60 s each) all kept units on a single hidden weight, and
it reached error 1e-6 in 2 of 5 seeds where this model does in seconds (bench/large.py).

This is only a search: the bound above steers it, and every mask it returns is judged by the
caller's exact error (``exact_error``), the only figure a certificate uses.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from fractions import Fraction

import numpy as np

from solver.backends.base import ACTIVITY_BUDGET
from solver.backends.cpsat import relay_stop
from solver.core.problem import Mask, Neuron, Problem, PruningMode


def applies(problem: Problem) -> bool:
    """Whether the single-weight decomposition describes ``problem``: weights mode, a bias-free
    network and a bias-free neuron target with the network's output activation."""
    return (
        problem.pruning == PruningMode.WEIGHTS
        and isinstance(problem.target, Neuron)
        and problem.is_bias_free
        and problem.target.activation == problem.network.output_activation
    )


def search(
    problem: Problem,
    exact_error: Callable[[Mask], Fraction],
    *,
    good_enough: Fraction,
    max_kept: int | None = None,
    time_limit: float | None = None,
    stop: threading.Event | None = None,
    threads: int | None = None,
    seed: int | None = None,
) -> tuple[Mask, Fraction] | None:
    """The best single-weight mask found (by ``exact_error``) and its error, or None when no
    mask was found. Stops at the first mask with exact error <= ``good_enough``, at the time
    limit, when ``stop`` is set, or when the model's optimum is proven (the model's optimum
    is not the problem's: its bound is not rigorous and is not reported)."""
    from ortools.sat.python import cp_model

    if not applies(problem):
        raise ValueError("the single-weight search needs a problem for which applies() holds")
    net = problem.network
    u = np.asarray(net.hidden_weights, dtype=float)
    v = np.asarray(net.output_weights, dtype=float)
    w = np.asarray(problem.target.weights, dtype=float)
    n, d = u.shape
    contribution = np.abs(u) * v[:, None]  # unit i keeping u_ij alone: c_ij relu(sign(u_ij) x_j)
    options = [(i, j) for i in range(n) for j in range(d) if u[i, j] != 0 and v[i] != 0]
    if not options or (max_kept is not None and max_kept < 2):
        return None
    # Every expression below has activity at most d * largest * scale <= ACTIVITY_BUDGET.
    largest = Fraction(float(np.abs(contribution).sum() + np.abs(w).sum()))
    # Exact arithmetic: with subnormal weights a float quotient overflows.
    scale = min(ACTIVITY_BUDGET, math.floor(ACTIVITY_BUDGET / (d * largest))) if largest else 1
    if scale < 1 or not np.all(np.isfinite(contribution)):
        return None
    bound = int(math.ceil(largest * scale))

    cp = cp_model.CpModel()
    keep = {option: cp.new_bool_var(f"x{option[0]}_{option[1]}") for option in options}
    for i in range(n):
        cp.add_at_most_one(keep[i, j] for j in range(d) if (i, j) in keep)
    positive, negative = [], []
    for j in range(d):
        upper = cp.new_int_var(0, bound, f"P{j}")
        lower = cp.new_int_var(0, bound, f"N{j}")
        for s in (1.0, -1.0):
            terms = [
                int(round(contribution[i, j] * scale)) * keep[i, j]
                for i in range(n)
                if (i, j) in keep and np.sign(u[i, j]) == s
            ]
            delta = cp.new_int_var(-bound, bound, f"d{j}{'+' if s > 0 else '-'}")
            cp.add(delta == sum(terms) - int(round(s * w[j] * scale)))
            cp.add(upper >= delta)
            cp.add(lower >= -delta)
        positive.append(upper)
        negative.append(lower)
    t = cp.new_int_var(0, d * bound, "t")
    cp.add(t >= sum(positive))
    cp.add(t >= sum(negative))
    if max_kept is not None:  # a unit with one hidden weight keeps two weights
        cp.add(sum(2 * x for x in keep.values()) <= max_kept)
    cp.minimize(t)

    solver = cp_model.CpSolver()
    params = solver.parameters
    params.catch_sigint_signal = False  # the caller handles Ctrl-C through ``stop``
    if time_limit is not None:
        params.max_time_in_seconds = max(0.0, float(time_limit))
    if threads:
        params.num_workers = int(threads)
    if seed is not None:
        params.random_seed = int(seed)

    best: list[tuple[Mask, Fraction]] = []

    class Callback(cp_model.CpSolverSolutionCallback):
        def on_solution_callback(self) -> None:
            hidden = np.zeros((n, d), dtype=bool)
            for (i, j), x in keep.items():
                hidden[i, j] = self.boolean_value(x)
            mask = Mask(hidden_weights=hidden, output_weights=hidden.any(axis=1))
            error = exact_error(mask)
            if not best or error < best[0][1]:
                best[:] = [(mask, error)]
            if error <= good_enough:
                self.stop_search()

    if stop is not None and stop.is_set():
        return None
    with relay_stop(solver, stop):
        solver.solve(cp, Callback())
    return best[0] if best else None
