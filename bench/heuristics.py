"""`make bench` (heuristics part): (1) does starting the exact search from the best heuristic
mask (SolveParameters.heuristic_start) shorten the time to a proven optimum, and (2) how far the
built-in heuristics are from the certified optimum. Both sides run in this process, one after
the other per instance, so machine noise hits both. Figures, never assertions.

    python bench/heuristics.py [--seeds 3] [--time-limit 60]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

from solver.core.parameters import SolveParameters
from solver.core.problem import PruningMode
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.instances.generate import paper_problem
from solver.search.heuristics import HEURISTICS, run_heuristic

CASES = [
    (PruningMode.NEURONS, 32),
    (PruningMode.NEURONS, 64),
    (PruningMode.WEIGHTS, 16),
    (PruningMode.WEIGHTS, 32),
]


def timed(problem, params, limit: float) -> tuple[float, SolveStatus, float]:
    start = time.perf_counter()
    result = solve(problem, params)
    seconds = time.perf_counter() - start
    if result.status != SolveStatus.OPTIMAL:
        seconds = limit  # unproven: counts as the limit
    return seconds, result.status, result.solution.error if result.solution else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=60.0)
    args = parser.parse_args()
    limit = args.time_limit

    print(
        "Heuristic start: median seconds to a proven optimum, paper family d=2 K=41, threads=1 "
        f"seed=1 (unproven = the {limit:g}s limit)"
    )
    print(f"{'instance':14s}{'greedy hint':>14s}{'heuristic hint':>16s}{'ratio':>8s}")
    for mode, n in CASES:
        off, on = [], []
        for seed in range(1, args.seeds + 1):
            problem = paper_problem(2, n, seed, mode)
            base = SolveParameters(time_limit_seconds=limit, threads=1, seed=1)
            off.append(timed(problem, replace(base, heuristic_start=False), limit)[0])
            on.append(timed(problem, replace(base, heuristic_start=True), limit)[0])
        a, b = statistics.median(off), statistics.median(on)
        print(f"{mode.name.lower()[:7]} n={n:<4d}{a:>14.2f}{b:>16.2f}{b / a:>8.2f}")

    print()
    print("Heuristics vs the certified optimum (min_error, no budget): mean error ratio, share "
          "optimal, mean seconds")
    print(f"{'instance':14s}" + "".join(f"{h:>18s}" for h in HEURISTICS))
    for mode, n in CASES:
        ratios: dict[str, list[float]] = {h: [] for h in HEURISTICS}
        hits: dict[str, int] = {h: 0 for h in HEURISTICS}
        secs: dict[str, list[float]] = {h: [] for h in HEURISTICS}
        proven = 0
        for seed in range(1, args.seeds + 1):
            problem = paper_problem(2, n, seed, mode)
            exact = solve(problem, SolveParameters(time_limit_seconds=limit))
            if exact.status != SolveStatus.OPTIMAL or exact.solution.error <= 0:
                continue
            proven += 1
            for h in HEURISTICS:
                found = run_heuristic(problem, h, seed=seed)
                ratios[h].append(found.certificate.error_upper / exact.solution.error)
                hits[h] += found.certificate.error_upper <= exact.objective_bound + 1e-6
                secs[h].append(found.seconds)
        cells = "".join(
            f"{statistics.fmean(ratios[h]):>8.2f}x {hits[h]}/{proven} {statistics.fmean(secs[h]):>4.1f}s"
            if ratios[h]
            else f"{'-':>18s}"
            for h in HEURISTICS
        )
        print(f"{mode.name.lower()[:7]} n={n:<4d}{cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
