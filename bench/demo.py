"""`make demo`: the paper's showcase, certified. One random network (d = 2, n = 24, seed 1),
one target ReLU neuron; the best subnetwork by neuron pruning and by weight pruning."""

from __future__ import annotations

import sys
import time

from solver.engine import solve
from solver.generate import paper_problem
from solver.model import PruningMode
from solver.parameters import SolveParameters


def main() -> int:
    d, n, seed = 2, 24, 1
    print("PruneCert demo: approximate relu(w* . x) on a 41 x 41 grid of [-1, 1]^2 by pruning one")
    print(f"random bias-free ReLU network (d={d}, n={n}, seed={seed}); min_error, certified.\n")
    header = f"{'mode':8s} {'kept':>10s} {'certified error':>16s} {'lower bound':>16s} {'status':>8s} {'time':>7s}"
    print(header)
    print("-" * len(header))
    errors = {}
    for mode, name, total in (
        (PruningMode.NEURONS, "neurons", n),
        (PruningMode.WEIGHTS, "weights", n * (d + 1)),
    ):
        problem = paper_problem(d, n, seed, mode)
        start = time.perf_counter()
        result = solve(problem, SolveParameters(time_limit_seconds=120))
        elapsed = time.perf_counter() - start
        sol = result.solution
        errors[name] = sol.error
        print(
            f"{name:8s} {f'{sol.kept}/{total}':>10s} {sol.error:16.9g} {result.objective_bound:16.9g} "
            f"{result.status.name:>8s} {elapsed:6.2f}s"
        )
    print(
        f"\nWeight pruning reaches an error {errors['neurons'] / errors['weights']:.0f}x smaller than "
        "neuron pruning from the same network: the gap of arXiv 2603.02234."
    )
    print(
        "Each error is the chosen mask's exact error (rational arithmetic, rounded up); each bound"
    )
    print("is a rigorous lower bound on the true optimum over all masks.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
