"""`make bench` (issue 11, realistic instances): certified pruning of one-hidden-layer ReLU MLPs
that scikit-learn trains on datasets it ships (nothing is downloaded), against issue 11's
targets. Figures, never assertions.

Models: ``MLPClassifier`` / ``MLPRegressor`` (one hidden layer of 8, 16 or 32 ReLU units, a fixed
``random_state``) on standardised inputs (``StandardScaler``):

  * iris           d = 4,  k = 3 (classifier: the 3 logits before the softmax)
  * diabetes       d = 10, k = 1 (regressor, targets / 100 as in the README)
  * wine           d = 13, k = 3 (classifier, 3 logits)
  * breast_cancer  d = 30, k = 1 (binary classifier: ONE output, the logit before the logistic)

imported with ``solver.import_model`` (solver/io/model_import.py: a classifier's outputs are its
logits, docs/design.md §1). Domain: up to ``--max-points`` (200) of the standardised training
points (all of them when there are fewer, else a seeded sample); target: the unpruned network
itself.

Solves, per model and mode (neurons, weights), through the public engine (``solver.solve``,
backend auto, ``time_limit_seconds``):

  * min_error at half: at most n // 2 units (neurons), or half the prunable weights, n (d + k) // 2
    (weights: kept counts the hidden weights of live units plus the kept output weights, §1);
  * min_kept at the error magnitude pruning reaches at half: magnitude's mask at the min_error
    budget, re-certified exactly with ``solver.certify`` (§2), its exact error rounded up to a
    double as ``max_error`` (so that mask is feasible, and the optimum keeps at most as many).

Per row: status, seconds (wall, the whole ``solve`` call), the certified error (min_error) or
kept count (min_kept), the rigorous bound, the relative gap at the time limit ((error - bound) /
error; min_kept: (kept - kept bound) / kept; no solution counts as 100 %), stats.formulation, and
the ratios of magnitude pruning's and the best heuristic's (``heuristic="best"``, all built-in
heuristics in ``--heuristic-time`` seconds, by default the time limit up to 10) result to the
solve's: their exact errors over the certified error (min_error), their kept counts over the
certified kept (min_kept). That is the ratio to the optimum when the status is OPTIMAL, else to
the best certified mask found (then below the ratio to the optimum; under 1 when the heuristic
beat the solve). The heuristics run under relaxed size limits, so an instance the engine refuses
still shows its heuristic figures ("refused" rows); an unexpected exception prints an "error"
row, and the sweep goes on either way.

The summary checks issue 11's targets on the rows that ran: no instance refused or failing;
every neurons-mode instance OPTIMAL; weights mode: every n = 8 instance OPTIMAL, and a median
relative gap of at most 5 % at n = 16 (over both objectives; a refused or unsolved row counts as
100 %). Each target line prints met / NOT met with its figure, and the rows that miss it.

    python bench/real.py [--time-limit 60] [--datasets iris diabetes wine breast_cancer]
                         [--widths 8 16 32] [--modes neurons weights]
                         [--objectives min_error min_kept] [--max-points 200] [--seed 0]
                         [--heuristic-time S] [--quick]

``--quick`` (smoke): iris and diabetes, width 8, 5 s per solve.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from solver import (
    MinError,
    MinKept,
    Problem,
    PruneCertError,
    PruningMode,
    SolveParameters,
    SolveResult,
    certify,
    import_model,
    solve,
)
from solver.core.validate import DEFAULT_LIMITS

# name -> (scikit-learn loader, classifier?, label scale). The diabetes targets (25..346) are
# divided by 100 as in the README's example, so the regressor's outputs are of order 1.
DATASETS: dict[str, tuple[str, bool, float]] = {
    "iris": ("load_iris", True, 1.0),
    "diabetes": ("load_diabetes", False, 100.0),
    "wine": ("load_wine", True, 1.0),
    "breast_cancer": ("load_breast_cancer", True, 1.0),
}
WIDTHS = (8, 16, 32)
MODES = {"neurons": PruningMode.NEURONS, "weights": PruningMode.WEIGHTS}
OBJECTIVES = ("min_error", "min_kept")
MAX_ITER = 3000  # every model here converges well within it (checked: at most 1,101 iterations)
# Heuristics prove nothing and only evaluate masks, so they run on every instance, including
# those over the engine's weights-mode pattern cap (Limits.max_weight_candidates).
HEURISTIC_LIMITS = dataclasses.replace(DEFAULT_LIMITS, max_weight_candidates=2**62)
GAP_TARGET = 0.05
QUICK = {"datasets": ["iris", "diabetes"], "widths": [8], "time_limit": 5.0}


# -- instances (imported by tests/io/test_real_models.py) --------------------------------------


@functools.cache
def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The dataset's standardised inputs (m x d, float64) and labels, as the model is trained."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    from sklearn import datasets
    from sklearn.preprocessing import StandardScaler

    loader, _, scale = DATASETS[name]
    features, labels = getattr(datasets, loader)(return_X_y=True)
    features = StandardScaler().fit_transform(np.asarray(features, dtype=np.float64))
    return features, labels / scale if scale != 1.0 else labels


@functools.cache
def train_model(name: str, width: int, seed: int = 0) -> Any:
    """A fitted one-hidden-layer ReLU MLPClassifier / MLPRegressor (random_state ``seed``)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    features, labels = load_dataset(name)
    kind = MLPClassifier if DATASETS[name][1] else MLPRegressor
    model = kind(hidden_layer_sizes=(width,), max_iter=MAX_ITER, random_state=seed)
    with warnings.catch_warnings():
        # An unconverged fit is still a trained network to prune; the benchmark reports it.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(features, labels)
    return model


def domain_points(name: str, max_points: int = 200, seed: int = 0) -> np.ndarray:
    """Up to ``max_points`` standardised training points: all of them when there are that few,
    else a seeded sample in dataset order (the datasets are sorted by class, so the first rows
    would miss classes)."""
    features, _ = load_dataset(name)
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    if len(features) <= max_points:
        return features
    chosen = np.random.default_rng(seed).choice(len(features), max_points, replace=False)
    return features[np.sort(chosen)]


def half_budget(n: int, d: int, k: int, mode: PruningMode) -> int:
    """Half the units (neurons) or half the prunable weights n (d + k) (weights; biases are not
    counted, docs/design.md §1), rounded down."""
    return n // 2 if mode == PruningMode.NEURONS else n * (d + k) // 2


def build_problem(
    name: str,
    width: int,
    mode: PruningMode,
    objective: MinError | MinKept | None = None,
    *,
    max_points: int = 200,
    seed: int = 0,
) -> Problem:
    """The instance: the trained model imported with its domain points and the unpruned network
    as target; ``objective`` defaults to min_error at half. Built under HEURISTIC_LIMITS, so a
    weights-mode instance over the engine's pattern cap still builds (solve then refuses it)."""
    model = train_model(name, width, seed)
    points = domain_points(name, max_points, seed)
    if objective is None:
        d, k = points.shape[1], np.shape(model.coefs_[1])[1]
        objective = MinError(max_kept=half_budget(width, d, k, mode))
    return import_model(
        model,
        samples=points,
        target="network",
        pruning=mode,
        objective=objective,
        limits=HEURISTIC_LIMITS,
    )


# -- one solve per row -------------------------------------------------------------------------


@dataclass
class Row:
    dataset: str
    d: int
    k: int
    n: int
    mode: str
    objective: str
    status: str = "-"
    seconds: float = 0.0
    value: float | None = None  # certified error (min_error) or kept (min_kept)
    bound: float | None = None  # rigorous lower bound on the error, or the kept count
    gap: float = 1.0  # relative; 100 % when there is no solution
    formulation: str = "-"
    magnitude_ratio: float | None = None
    best_ratio: float | None = None
    refused: str = ""  # why there is no solve: the engine's refusal, or an unexpected error
    heuristics: str = ""  # the heuristics' own figures, printed on a refused row

    @property
    def failed(self) -> bool:
        return self.status not in ("OPTIMAL", "FEASIBLE")


def relative_gap(value: float, bound: float) -> float:
    """(value - bound) / value, 0 when the value is 0 (then the bound is 0 too)."""
    return 0.0 if value <= 0 else max(0.0, (value - bound) / value)


def ratio(heuristic: float, certified: float | None) -> float | None:
    if certified is None:
        return None
    if certified <= 0:
        return 1.0 if heuristic <= 0 else math.inf
    return heuristic / certified


def run_heuristic(problem: Problem, name: str, seconds: float, seed: int) -> SolveResult:
    """A built-in heuristic's mask with its exact figures (parameters.heuristic, §10)."""
    params = SolveParameters(heuristic=name, time_limit_seconds=seconds, seed=seed)
    return solve(problem, params, limits=HEURISTIC_LIMITS)


def heuristic_value(result: SolveResult, objective: str) -> float | None:
    """The heuristic's exact error (min_error) or kept count (min_kept); None without a mask."""
    if result.solution is None:
        return None
    return result.solution.error if objective == "min_error" else float(result.solution.kept)


def exact_row(row: Row, problem: Problem, time_limit: float) -> SolveResult | None:
    """Solve exactly under the engine's own limits; fill the row's solver figures."""
    began = time.monotonic()
    try:
        result = solve(problem, SolveParameters(time_limit_seconds=time_limit))
    except PruneCertError as refused:
        row.seconds, row.status, row.refused = time.monotonic() - began, "refused", str(refused)
        return None
    except Exception as crash:  # a bench keeps going; the row and the summary show the failure
        row.seconds, row.status = time.monotonic() - began, "error"
        row.refused = f"{type(crash).__name__}: {crash}"
        return None
    row.seconds = time.monotonic() - began
    row.status = result.status.name
    row.formulation = result.stats.formulation or "-"
    row.bound = result.objective_bound
    if result.solution is not None:
        if row.objective == "min_error":
            row.value = result.solution.error
        else:
            row.value = float(result.solution.kept)
        row.gap = relative_gap(row.value, row.bound)
    return result


def instance_rows(
    name: str, width: int, mode_name: str, objectives: list[str], args: argparse.Namespace
) -> list[Row]:
    mode = MODES[mode_name]
    problem = build_problem(name, width, mode, max_points=args.max_points, seed=args.seed)
    net = problem.network
    d, k, n = net.d, net.outputs, net.n
    # Magnitude pruning at half, re-certified exactly here (never trust the search's floats).
    magnitude = run_heuristic(problem, "magnitude", args.heuristic_time, args.seed)
    assert magnitude.solution is not None  # the min_error budget always admits a mask
    magnitude_cert = certify(problem, magnitude.solution.mask)
    rows = []
    for objective in objectives:
        row = Row(name, d, k, n, mode_name, objective)
        if objective == "min_error":
            target = problem
            mag_value = magnitude_cert.error_upper
        else:
            target = dataclasses.replace(
                problem, objective=MinKept(max_error=magnitude_cert.error_upper)
            )
            # Magnitude's fewest kept within that error (any prefix of its order may do).
            mag_value = heuristic_value(
                run_heuristic(target, "magnitude", args.heuristic_time, args.seed), objective
            )
        best_value = heuristic_value(
            run_heuristic(target, "best", args.heuristic_time, args.seed), objective
        )
        result = exact_row(row, target, args.time_limit)
        if result is None:
            row.heuristics = ", ".join(
                f"{label} {value:.6g}"
                for label, value in (("magnitude", mag_value), ("best heuristic", best_value))
                if value is not None
            )
        else:
            row.magnitude_ratio = None if mag_value is None else ratio(mag_value, row.value)
            row.best_ratio = None if best_value is None else ratio(best_value, row.value)
        print(format_row(row), flush=True)
        rows.append(row)
    return rows


# -- printing ----------------------------------------------------------------------------------

HEADER = (
    f"{'dataset':<14}{'d':>3}{'k':>3}{'n':>4} {'mode':<8}{'objective':<10}{'status':<10}"
    f"{'seconds':>8}{'error/kept':>12}{'bound':>12}{'gap':>8}  {'formulation':<12}"
    f"{'mag/opt':>8}{'best/opt':>9}"
)


def _number(value: float | None, width: int, spec: str = ".6g") -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{spec}}"


def format_row(row: Row) -> str:
    head = f"{row.dataset:<14}{row.d:>3}{row.k:>3}{row.n:>4} {row.mode:<8}{row.objective:<10}"
    if row.refused:
        return f"{head}{row.status} after {row.seconds:.1f} s: {row.refused} ({row.heuristics})"
    return (
        f"{head}{row.status:<10}{row.seconds:>8.1f}{_number(row.value, 12)}"
        f"{_number(row.bound, 12)}{row.gap:>8.1%}  {row.formulation:<12}"
        f"{_number(row.magnitude_ratio, 8, '.3f')}{_number(row.best_ratio, 9, '.3f')}"
    )


def _names(rows: list[Row]) -> str:
    return "; ".join(
        f"{r.dataset} n={r.n} {r.mode} {r.objective}: "
        + (f"{r.status} ({r.refused})" if r.refused else f"{r.status}, gap {r.gap:.1%}")
        for r in rows
    )


def _target(line: str, met: bool | None, missed: list[Row]) -> None:
    verdict = "not run" if met is None else ("met" if met else "NOT met")
    print(f"  [{verdict}] {line}")
    if met is False and missed:
        print(f"      missed by: {_names(missed)}")


def summary(rows: list[Row], time_limit: float) -> None:
    """Issue 11's targets, computed from the rows (only the rows that ran)."""
    print()
    print(f"Targets (issue 11, {time_limit:g} s per solve), on the {len(rows)} rows above:")
    failed = [r for r in rows if r.failed]
    _target(f"no instance refused or failing: {len(failed)} refused/failed", not failed, failed)
    neurons = [r for r in rows if r.mode == "neurons"]
    not_optimal = [r for r in neurons if r.status != "OPTIMAL"]
    _target(
        f"every neurons-mode instance OPTIMAL: {len(neurons) - len(not_optimal)} of {len(neurons)}",
        not not_optimal if neurons else None,
        not_optimal,
    )
    small = [r for r in rows if r.mode == "weights" and r.n == 8]
    small_missed = [r for r in small if r.status != "OPTIMAL"]
    _target(
        f"weights mode, every n = 8 instance OPTIMAL: {len(small) - len(small_missed)} of "
        f"{len(small)}",
        not small_missed if small else None,
        small_missed,
    )
    middle = [r for r in rows if r.mode == "weights" and r.n == 16]
    if middle:
        median = statistics.median(r.gap for r in middle)
        by_objective = ", ".join(
            f"{o} {statistics.median(r.gap for r in middle if r.objective == o):.1%}"
            for o in OBJECTIVES
            if any(r.objective == o for r in middle)
        )
        _target(
            f"weights mode, median relative gap at n = 16 <= {GAP_TARGET:.0%}: {median:.1%} "
            f"over {len(middle)} rows ({by_objective})",
            median <= GAP_TARGET,
            [r for r in middle if r.gap > GAP_TARGET],
        )
    else:
        _target(f"weights mode, median relative gap at n = 16 <= {GAP_TARGET:.0%}", None, [])


# -- command line --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--time-limit", type=float, default=None, help="seconds per solve (60)")
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=None)
    parser.add_argument(
        "--widths", nargs="+", type=int, default=None, help="hidden units (8 16 32)"
    )
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--objectives", nargs="+", choices=OBJECTIVES, default=list(OBJECTIVES))
    parser.add_argument("--max-points", type=int, default=200, help="domain points at most")
    parser.add_argument("--seed", type=int, default=0, help="training random_state and sample")
    parser.add_argument(
        "--heuristic-time",
        type=float,
        default=None,
        help="seconds for the best heuristic (the time limit, at most 10)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke: iris and diabetes, width 8, 5 s per solve"
    )
    args = parser.parse_args(argv)
    # --quick fills only what was not given, so `--quick --modes neurons` still works.
    defaults = QUICK if args.quick else {"datasets": list(DATASETS), "widths": list(WIDTHS)}
    defaults = {"time_limit": 60.0, **defaults}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.time_limit <= 0 or not math.isfinite(args.time_limit):
        parser.error(f"--time-limit must be a positive number of seconds, got {args.time_limit}")
    if args.heuristic_time is None:
        args.heuristic_time = min(10.0, args.time_limit)
    if args.heuristic_time <= 0 or not math.isfinite(args.heuristic_time):
        parser.error(f"--heuristic-time must be positive, got {args.heuristic_time}")
    if args.max_points < 1:
        parser.error(f"--max-points must be at least 1, got {args.max_points}")
    if any(w < 2 for w in args.widths):
        parser.error(f"--widths must be at least 2 units each, got {args.widths}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        f"Realistic instances (issue 11): scikit-learn MLPs, random_state {args.seed}, up to "
        f"{args.max_points} standardised training points, target the unpruned network; "
        f"{args.time_limit:g} s per solve, backend auto; min_error at half, min_kept at "
        "magnitude's exact error at half"
    )
    print(HEADER, flush=True)
    rows: list[Row] = []
    for name in args.datasets:
        for width in args.widths:
            for mode_name in args.modes:
                try:
                    rows += instance_rows(name, width, mode_name, args.objectives, args)
                except Exception as crash:  # building or a heuristic failed: report, go on
                    for objective in args.objectives:
                        row = Row(name, 0, 0, width, mode_name, objective, status="error")
                        row.refused = f"{type(crash).__name__}: {crash}"
                        print(format_row(row), flush=True)
                        rows.append(row)
    summary(rows, args.time_limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
