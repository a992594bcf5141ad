"""`make bench` (issue 11): weights mode's two formulations on the same instances, to measure where
"auto" should leave the pattern model (docs/design.md §3: cpsat on every pattern enumerated) for
the per-weight route (docs/design.md §15: the lazy column model and perweight-cpsat). The
threshold it measures is solver.backends.PATTERNS_THRESHOLD. Figures, never assertions.

Instances ("gauss", as issue 11 reported them): random features (hidden weights N(0, 1/d), biases
N(0, 1)), output weights and bias by least squares on 150 Gaussian inputs fitted to a random
teacher network (8 units); the samples target is the teacher's values at the inputs; min_error
at a third of the weights (n (d + 1) // 3 kept at most). Cases d:n span n 2^d = 128 .. 16,384
patterns.

Per case and formulation it prints status, certified error, rigorous bound, relative gap
(error - bound) / error and seconds; "refused" when the engine declined (the message follows).
The last column says which formulation did better: the lower gap, then the lower error, then the
shorter time.

    python bench/formulations.py [--time-limit 20] [--cases 4:8 6:16 ...] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from solver.backends.perweight import PerWeightCpSatBackend
from solver.core.errors import PruneCertError
from solver.core.parameters import SolveParameters
from solver.core.problem import MinError, Network, Problem, PruningMode, Samples
from solver.engine import solve

BACKENDS = {"patterns": "cpsat", "perweight": PerWeightCpSatBackend.name}
SAMPLES = 150
TEACHER_UNITS = 8
# d:n, by n 2^d: 128, 256, 512, 512, 1024, 1024, 2048, 2048, 3072, 4096, 4096, 8192, 8192, 16384.
CASES = "4:8 4:16 5:16 6:8 6:16 7:8 7:16 8:8 8:12 8:16 9:8 9:16 10:8 10:16".split()


def gauss_problem(d: int, n: int, seed: int) -> Problem:
    """Random features with least-squares output weights, biases, a samples target on Gaussian
    inputs (issue 11's instances)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((SAMPLES, d))
    teacher_u = rng.standard_normal((TEACHER_UNITS, d)) / np.sqrt(d)
    teacher_b = rng.standard_normal(TEACHER_UNITS) * 0.5
    teacher_v = rng.standard_normal(TEACHER_UNITS)
    y = np.maximum(x @ teacher_u.T + teacher_b, 0.0) @ teacher_v
    u = rng.standard_normal((n, d)) / np.sqrt(d)
    b = rng.standard_normal(n)
    features = np.hstack([np.maximum(x @ u.T + b, 0.0), np.ones((SAMPLES, 1))])
    solution, *_ = np.linalg.lstsq(features, y, rcond=None)
    network = Network(
        hidden_weights=u, output_weights=solution[:n], hidden_biases=b, output_bias=solution[n]
    )
    budget = n * (d + 1) // 3
    return Problem(network, Samples(x, y), None, PruningMode.WEIGHTS, MinError(max_kept=budget))


def _score(row: tuple) -> tuple:
    """Lower is better: gap, error, seconds (a refused or unsolved run is worst)."""
    _, error, _, gap, seconds = row
    if error is None:
        return (float("inf"),) * 3
    return (round(gap, 4), error, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=20.0)
    parser.add_argument("--cases", nargs="+", default=list(CASES), help="d:n pairs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"time limit {args.time_limit:g} s per solve; min_error at a third of the weights")
    print(
        f"{'d:n':<6} {'n 2^d':>6} {'formulation':<10} {'status':<11} {'error':>10} "
        f"{'bound':>10} {'gap':>8} {'seconds':>8}  better"
    )
    for case in args.cases:
        d, n = (int(v) for v in case.split(":"))
        problem = gauss_problem(d, n, args.seed)
        rows = {}
        for formulation, backend in BACKENDS.items():
            params = SolveParameters(backend=backend, time_limit_seconds=args.time_limit)
            began = time.monotonic()
            try:
                result = solve(problem, params)
            except PruneCertError as refused:
                seconds = time.monotonic() - began
                rows[formulation] = ("refused", None, None, float("inf"), seconds)
                print(f"{case:<6} {n * 2**d:>6} {formulation:<10} refused: {refused}")
                continue
            seconds = time.monotonic() - began
            error = result.solution.error if result.solution is not None else None
            bound = result.objective_bound
            gap = (error - bound) / error if error else 0.0
            rows[formulation] = (result.status.name, error, bound, gap, seconds)
            shown = f"{error:>10.6g}" if error is not None else f"{'-':>10}"
            print(
                f"{case:<6} {n * 2**d:>6} {formulation:<10} {result.status.name:<11} {shown} "
                f"{bound:>10.6g} {gap:>8.2%} {seconds:>8.1f}",
                flush=True,
            )
        better = min(rows, key=lambda name: _score(rows[name]))
        print(
            f"{case:<6} {n * 2**d:>6} {'':<10} {'':<11} {'':>10} {'':>10} {'':>8} {'':>8}  {better}"
        )


if __name__ == "__main__":
    main()
