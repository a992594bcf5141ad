"""The naive baseline: the first MIP a user would write from the problem statement.

Full grid, and for every (unit, point) a ReLU modelled with one indicator (big-M style):
    pre_ik = (masked u_i) . x_k,  a_ik = relu(pre_ik) via delta_ik,
    contribution = v_i * a_ik for kept units, output relu via one more indicator per point.
Solved by CP-SAT on a fixed-point scaling. It is only timed (never certified): its figures are
printed beside the engine's for the ratio in bench/run.py.
"""

from __future__ import annotations

import math
import time

import numpy as np
from ortools.sat.python import cp_model

from solver.core.problem import Activation, Problem, PruningMode


def solve_naive(
    problem: Problem, time_limit: float, threads: int | None = None
) -> tuple[bool, float, float]:
    """(proved optimal, approximate optimal error, seconds)."""
    net = problem.network
    n, d = net.n, net.d
    points = problem.points()
    y = problem.target_values(points)
    u = np.asarray(net.hidden_weights)
    v = np.asarray(net.output_weights)
    # Scales keeping every activity within 2^30, as the engine does.
    s1 = max(1, int(math.sqrt(2**30 / (n * max(d, 1) * 2))))
    s2 = s1
    m = cp_model.CpModel()
    if problem.pruning == PruningMode.NEURONS:
        keep = [m.new_bool_var(f"s{i}") for i in range(n)]
        hidden = [[keep[i]] * d for i in range(n)]
        live = keep
    else:
        hidden = [[m.new_bool_var(f"m{i}_{j}") for j in range(d)] for i in range(n)]
        live = [m.new_bool_var(f"o{i}") for i in range(n)]
    big = s1 * d
    t = m.new_int_var(0, 2**30, "t")
    scale_out = s1 * s2
    for k, x in enumerate(points):
        terms = []
        for i in range(n):
            coefs = [int(round(u[i, j] * x[j] * s1)) for j in range(d)]
            pre = sum(c * hidden[i][j] for j, c in enumerate(coefs) if c)
            a = m.new_int_var(0, big, f"a{i}_{k}")
            delta = m.new_bool_var(f"delta{i}_{k}")
            m.add(a >= pre)
            m.add(a <= pre).only_enforce_if(delta)
            m.add(a == 0).only_enforce_if(~delta)
            if problem.pruning == PruningMode.WEIGHTS:
                c = m.new_int_var(0, big, f"c{i}_{k}")  # c = live_i * a
                m.add(c == a).only_enforce_if(live[i])
                m.add(c == 0).only_enforce_if(~live[i])
                a = c
            terms.append(int(round(v[i] * s2)) * a)
        out = sum(terms)
        if net.output_activation == Activation.RELU:
            r = m.new_int_var(0, 2**30, f"r{k}")
            on = m.new_bool_var(f"on{k}")
            m.add(r >= out)
            m.add(r <= out).only_enforce_if(on)
            m.add(r == 0).only_enforce_if(~on)
            out = r
        target = int(round(y[k] * scale_out))
        m.add(out - target <= t)
        m.add(target - out <= t)
    m.minimize(t)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    if threads:
        solver.parameters.num_workers = threads
    start = time.perf_counter()
    status = solver.solve(m)
    elapsed = time.perf_counter() - start
    value = (
        solver.objective_value / scale_out
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
        else math.nan
    )
    return status == cp_model.OPTIMAL, value, elapsed
