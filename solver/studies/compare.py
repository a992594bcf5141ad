"""`prunecert compare SPEC.json`: every built-in heuristic beside the certified optimum, instance
by instance, for heuristic developers who need ground truth.

The spec is a batch job's (a SubmitJobRequest in proto3 JSON: a family or a list of problems).
Each instance is solved exactly (solver.engine.dispatch.solve) and by each heuristic
(solver.search.heuristics.run_heuristic); both sides report exact errors of their masks. A heuristic
"matches" the optimum when its exact error is within the tolerance of the certified lower bound
(min_error), or when it keeps exactly the certified minimum (min_kept). Instances whose optimum
is not certified are listed but left out of the summary ratios.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from prunecert.v1 import jobs_pb2
from solver.core.errors import FieldViolation, InvalidProblemError
from solver.core.parameters import SolveParameters
from solver.core.problem import MinKept, Pareto, Problem, PruningMode
from solver.core.result import SolveResult, SolveStatus
from solver.engine import solve
from solver.io import convert
from solver.jobs.spec import JobSpec
from solver.search.heuristics import HEURISTICS, run_heuristic


@dataclass(frozen=True)
class CompareRow:
    index: int
    instance: str  # family coordinates (d, n, seed, mode) or "problems[i]"
    heuristic: str
    kept: int
    error: float  # the heuristic mask's exact error, rounded up
    feasible: bool  # min_kept: the mask reaches max_error
    seconds: float
    optimum_status: str
    optimum_kept: int | None
    optimum_error: float | None
    optimum_bound: float
    ratio: float | None  # error / optimum error (min_error) or kept / optimum kept (min_kept)
    matches_optimum: bool | None  # None when the optimum is not certified


def instance_label(spec: JobSpec, index: int) -> str:
    family = spec.family
    if family is None:
        return f"problems[{index}]"
    coords = family.coordinates(index)
    if family.generator == "paper":
        d, n, seed, mode = coords
        return f"d={d} n={n} seed={seed} {PruningMode(mode).name.lower()}"
    n, seed, j = coords
    return f"n={n} seed={seed} item={j}"


def _ratio(value: float, optimum: float) -> float:
    if optimum > 0:
        return value / optimum
    return 1.0 if value == 0 else math.inf


def compare_instance(
    problem: Problem,
    exact: SolveResult,
    heuristics: Sequence[str],
    params: SolveParameters,
    heuristic_time_limit: float | None,
) -> list[dict]:
    """One row (as a dict, without index and label) per heuristic."""
    certified = exact.status == SolveStatus.OPTIMAL and exact.solution is not None
    min_kept = isinstance(problem.objective, MinKept)
    rows = []
    for name in heuristics:
        found = run_heuristic(problem, name, seed=params.seed or 0, time_limit=heuristic_time_limit)
        cert = found.certificate
        ratio = matches = None
        if certified:
            if min_kept:
                ratio = _ratio(cert.kept, exact.solution.kept) if found.feasible else None
                matches = found.feasible and cert.kept <= exact.objective_bound
            else:
                ratio = _ratio(cert.error_upper, exact.solution.error)
                matches = cert.error_upper <= exact.objective_bound + params.effective_tolerance
        rows.append(
            dict(
                heuristic=name,
                kept=cert.kept,
                error=cert.error_upper,
                feasible=found.feasible,
                seconds=found.seconds,
                optimum_status=exact.status.name,
                optimum_kept=exact.solution.kept if exact.solution else None,
                optimum_error=exact.solution.error if exact.solution else None,
                optimum_bound=exact.objective_bound,
                ratio=ratio,
                matches_optimum=matches,
            )
        )
    return rows


def run_comparison(
    request: jobs_pb2.SubmitJobRequest,
    *,
    heuristics: Sequence[str] = HEURISTICS,
    time_limit: float | None = None,
    heuristic_time_limit: float | None = None,
    on_instance: Callable[[int], None] | None = None,
) -> list[CompareRow]:
    """Solve every instance of ``request`` exactly and with each heuristic."""
    spec = JobSpec(request, limits=None)
    if spec.kind != "solve":
        raise InvalidProblemError(
            FieldViolation(
                "spec", "compare takes a family or a list of problems, not certify items"
            )
        )
    params = convert.parse_parameters(request.parameters)
    if time_limit is not None:
        params = dataclasses.replace(params, time_limit_seconds=time_limit)
    for name in heuristics:
        if name not in HEURISTICS:
            raise InvalidProblemError(
                FieldViolation(
                    "heuristics",
                    f"unknown {name!r}; valid: {', '.join(HEURISTICS)}",
                    "--heuristics",
                )
            )
    out: list[CompareRow] = []
    for index in range(spec.size()):
        problem = convert.parse_problem(spec.problem(index))
        if isinstance(problem.objective, Pareto):
            raise InvalidProblemError(
                FieldViolation("objective", "compare supports min_error and min_kept, not pareto")
            )
        exact = solve(problem, params)
        label = instance_label(spec, index)
        for row in compare_instance(problem, exact, heuristics, params, heuristic_time_limit):
            out.append(CompareRow(index=index, instance=label, **row))
        if on_instance is not None:
            on_instance(index)
    return out


def write_csv(rows: Sequence[CompareRow], path) -> None:
    fields = list(CompareRow.__dataclass_fields__)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in asdict(row).items()})


def summary_table(rows: Sequence[CompareRow]) -> str:
    """Per heuristic: instances, mean and worst ratio to the optimum, share matching it."""
    names = list(dict.fromkeys(r.heuristic for r in rows))
    instances = len({r.index for r in rows})
    certified = len({r.index for r in rows if r.matches_optimum is not None})
    lines = [
        f"{instances} instance(s), {certified} with a certified optimum "
        "(ratio: heuristic / optimum, error for min_error, kept for min_kept)",
        f"{'heuristic':<16} {'mean ratio':>11} {'worst ratio':>12} {'optimal':>9} "
        f"{'failed':>7} {'mean s':>8}",
    ]
    for name in names:
        mine = [r for r in rows if r.heuristic == name]
        scored = [r for r in mine if r.matches_optimum is not None]
        ratios = [r.ratio for r in scored if r.ratio is not None and math.isfinite(r.ratio)]
        failed = sum(1 for r in scored if r.ratio is None or not math.isfinite(r.ratio))
        share = sum(1 for r in scored if r.matches_optimum) / len(scored) if scored else math.nan
        mean = statistics.fmean(ratios) if ratios else math.nan
        worst = max(ratios) if ratios else math.nan
        seconds = statistics.fmean(r.seconds for r in mine) if mine else math.nan
        lines.append(
            f"{name:<16} {mean:>11.4g} {worst:>12.4g} {share:>9.1%} {failed:>7d} {seconds:>8.3f}"
        )
    lines.append(
        "optimal: share of certified instances where the heuristic's exact figure equals the "
        "optimum (within the tolerance); failed: no feasible mask (min_kept) or a nonzero "
        "error where the optimum is 0"
    )
    return "\n".join(lines)
