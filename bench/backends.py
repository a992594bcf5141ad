"""`make bench` (backends part): median time to a proven optimum per backend on the paper
family (d = 2, K = 41, seeds 1-5), and what `auto` picks. Figures, never assertions.

    python bench/backends.py [--seeds 5] [--time-limit 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from solver.backends import REGISTRY, available_backends
from solver.core.parameters import SolveParameters
from solver.core.problem import PruningMode
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.instances.generate import paper_problem

CASES = [
    (PruningMode.NEURONS, 32),
    (PruningMode.NEURONS, 48),
    (PruningMode.WEIGHTS, 16),
    (PruningMode.WEIGHTS, 24),
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=60.0)
    args = parser.parse_args()
    # The general backends (meet in the middle only takes separable problems, none of these).
    names = [n for n, cls in REGISTRY.items() if not cls.special_purpose and n in available_backends()]
    print(
        f"Median seconds to a proven optimum (max in brackets; unproven solves count as the {args.time_limit:g}s limit)"
    )
    header = f"{'instance':14s}" + "".join(f"{n:>18s}" for n in names) + f"{'auto picks':>20s}"
    print(header)
    print("-" * len(header))
    for mode, n in CASES:
        row = f"{mode.name.lower()} n={n:<4d}"
        for name in names:
            times, proven = [], 0
            for seed in range(1, args.seeds + 1):
                problem = paper_problem(2, n, seed, mode)
                start = time.perf_counter()
                result = solve(
                    problem, SolveParameters(backend=name, time_limit_seconds=args.time_limit)
                )
                elapsed = time.perf_counter() - start
                ok = result.status == SolveStatus.OPTIMAL
                proven += ok
                times.append(elapsed if ok else args.time_limit)
            row += f"{statistics.median(times):8.2f} [{max(times):5.1f}] {proven}/{args.seeds}"
        auto = solve(
            paper_problem(2, n, 1, mode), SolveParameters(time_limit_seconds=args.time_limit)
        )
        print(row + f"{auto.stats.backend:>20s}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
