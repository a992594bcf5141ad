"""`make bench` (issue 11, realistic instances in weights mode): the per-weight formulation
(solver/backends/perweight.py, docs/design.md §15) against the pattern model (cpsat on the column
model, docs/design.md §3) in the same process, on the instances the issue reported. Figures,
never assertions.

Instances (min_error at a third of the weights, n (d + 1) // 3 kept at most):
  * gauss: random features (hidden weights N(0, 1/d), biases N(0, 1)), output weights and bias by
    least squares on 150 Gaussian inputs, fitted to a random teacher network (8 units); the
    samples target is the teacher's values at the inputs; d:n = 4:16, 8:12 and 10:16;
  * diabetes: the README's "Prune your own network" model (scikit-learn MLPRegressor, 12 units,
    d = 10, random_state 0) in weights mode on its first 100 standardised samples, target the
    unpruned network.

Per instance and formulation it prints status, certified error, rigorous bound, relative gap
(error - bound) / error, seconds, the fixed-point scale and the number of binaries; "refused"
when the backend declined the instance (the message follows).

    python bench/real.py [--time-limit 60] [--cases gauss:4:16 gauss:8:12 gauss:10:16 diabetes]
                         [--formulations patterns perweight] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from solver.backends import REGISTRY, prefer_per_weight
from solver.backends.perweight import PerWeightCpSatBackend
from solver.core.errors import PruneCertError
from solver.core.parameters import SolveParameters
from solver.core.problem import MinError, Network, Problem, PruningMode, Samples
from solver.core.validate import DEFAULT_LIMITS
from solver.engine import solve

BACKENDS = {"patterns": "cpsat", "perweight": PerWeightCpSatBackend.name}
SAMPLES = 150
TEACHER_UNITS = 8


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


def diabetes_problem() -> Problem:
    """The README's diabetes model ("Prune your own network"), in weights mode at a third."""
    from sklearn.datasets import load_diabetes
    from sklearn.neural_network import MLPRegressor
    from sklearn.preprocessing import StandardScaler

    from solver.io.model_import import import_model

    features, labels = load_diabetes(return_X_y=True)
    features = StandardScaler().fit_transform(features)
    model = MLPRegressor(hidden_layer_sizes=(12,), max_iter=3000, random_state=0)
    model.fit(features, labels / 100)
    budget = 12 * (10 + 1) // 3
    return import_model(
        model,
        samples=features[:100],
        pruning=PruningMode.WEIGHTS,
        objective=MinError(max_kept=budget),
    )


def problem_for(case: str, seed: int) -> Problem:
    if case == "diabetes":
        return diabetes_problem()
    kind, d, n = case.split(":")
    if kind != "gauss":
        raise SystemExit(f"unknown case {case!r}")
    return gauss_problem(int(d), int(n), seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument(
        "--cases", nargs="+", default=["gauss:4:16", "gauss:8:12", "gauss:10:16", "diabetes"]
    )
    parser.add_argument("--formulations", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    # The per-weight backend, registered in this process (the engine's registry may not list it).
    REGISTRY.setdefault(PerWeightCpSatBackend.name, PerWeightCpSatBackend)
    print(f"time limit {args.time_limit:g} s per solve; min_error at a third of the weights")
    header = (
        f"{'case':<12} {'formulation':<10} {'status':<11} {'error':>10} {'bound':>10} "
        f"{'gap':>8} {'seconds':>8} {'scale':>9} {'binaries':>8}  prefer_per_weight"
    )
    print(header)
    for case in args.cases:
        problem = problem_for(case, args.seed)
        prefer = prefer_per_weight(problem, DEFAULT_LIMITS)
        for formulation in args.formulations:
            params = SolveParameters(
                backend=BACKENDS[formulation], time_limit_seconds=args.time_limit
            )
            began = time.monotonic()
            try:
                result = solve(problem, params)
            except PruneCertError as refused:
                seconds = time.monotonic() - began
                print(f"{case:<12} {formulation:<10} refused after {seconds:.1f} s: {refused}")
                continue
            seconds = time.monotonic() - began
            error = result.solution.error if result.solution is not None else float("nan")
            bound = result.objective_bound
            gap = (error - bound) / error if error > 0 else 0.0
            print(
                f"{case:<12} {formulation:<10} {result.status.name:<11} {error:>10.6g} "
                f"{bound:>10.6g} {gap:>8.2%} {seconds:>8.1f} {result.stats.scale:>9.3g} "
                f"{result.stats.binary_variables:>8}  {prefer}",
                flush=True,
            )


if __name__ == "__main__":
    main()
