"""The structured-vs-unstructured gap study (`prunecert gap`): certified optimal error versus
width n for neuron and weight pruning on the paper family, and the certified minimum width that
reaches given errors eps.

Why: arXiv 2603.02234 proves that pruning whole neurons needs Omega(1/eps) hidden units to
eps-approximate one bias-free ReLU neuron, while pruning weights needs only O(log 1/eps). A
lower-bound experiment cannot rest on heuristics that merely failed: every figure here comes
from the engine's certificates (the exact error of a mask, a rigorous lower bound on the
optimum), and whatever the certificates do not settle is reported as undecided, never guessed.

The family. ``solver.instances.generate.paper_problem(d, n, seed, mode)`` with MinError and no
budget: for one seed the networks are nested, the network of width n being the first n units of
the network of any larger width (docs/design.md §1; solver/instances/generate.py).

Monotonicity, and why a search over n is valid. Write opt(n) for the optimal pruned error of the
width-n network of one seed. For m > n, the width-m network contains the width-n one, and any
mask of the smaller network extended by "remove units n+1..m" is a mask of the larger one with
the same function, hence the same error. So opt(m) <= opt(n): the optimum is non-increasing in
n. Therefore "opt(n) <= eps" holds for all n from some threshold on (the minimum width w(eps))
and for none below, and a certified answer at one n settles every n on one side of it:

- n **reaches** eps when a certified mask of width n has exact error <= eps (``solution.error``
  is the mask's exact error rounded up, whatever the status, so a FEASIBLE mask below eps
  proves opt(n) <= eps just as an OPTIMAL one does); then every m >= n reaches eps too;
- n **fails** when the rigorous lower bound ``objective_bound`` exceeds eps; then every m <= n
  fails too;
- otherwise n is **undecided** (a time limit between bound and error, or an item that failed).

With ``lower`` the largest n certified to fail and ``upper`` the smallest certified to reach,
lower < w(eps) <= upper. ``run_study`` checks the data against the same argument: for n < m,
bound(m) <= opt(m) <= opt(n) <= error(n); any violation is reported (it would mean a wrong
certificate or a family that is not nested).

The width search is defined over the --n grid: ``min_n`` is the smallest grid n reaching eps,
decided when every grid n between ``lower`` and ``upper`` is settled (grid points below a
failing n fail, above a reaching n reach, by monotonicity). With a contiguous grid (``A..B``)
that is the exact minimum width in the range. With ``refine=True`` the study also binary-searches
the integers between ``lower`` and ``upper`` (valid by monotonicity), one batch of midpoints per
round, until lower + 1 == upper (the exact width) or a midpoint is undecided (the bracket is then
reported as it stands).

Everything runs through a ``SolveMany`` callable (problems, parameters, batch key) -> results,
so the local runner (the engine in-process, one solve at a time) and a remote one (one server job
per batch, its request_id derived from the batch key so that a re-run after a crash resumes the
same job), both in solver/cli/gap.py with their progress bars, share the plan, the decisions, the
fits and the outputs (solver.studies.gap_report). This module imports no grpc, client or tqdm.

Fits (only OPTIMAL points with error > 0; zero errors cannot be logged and are counted):
log error = a + b log n (the paper's neuron rate is b = -1; also the fixed-slope C in C/n) and
log error = a - c n (the weight rate C exp(-c n)), each with its R^2, for both modes.

Over the ~400-line guide: the argument above is what the decisions rest on and stays beside them;
the code itself is about 420 lines of one piece (plan, decisions, refinement, checks, fits).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from solver.core.errors import FieldViolation, InvalidProblemError, PruneCertError
from solver.core.parameters import SolveParameters
from solver.core.problem import Mask, MinError, Problem, PruningMode
from solver.core.result import SolveResult, SolveStatus
from solver.core.validate import validate_problem
from solver.exact import box
from solver.instances.generate import default_points_per_axis, paper_problem

FORMAT = "prunecert-gap/1"  # part of every batch key: change it when the plan's meaning changes
MODES = (PruningMode.NEURONS, PruningMode.WEIGHTS)
MODE_NAMES = {PruningMode.NEURONS: "neurons", PruningMode.WEIGHTS: "weights"}
ERROR_STATUS = "ERROR"  # an item with no result (remote item failed, or job ended without it)

REACHES, FAILS, UNDECIDED = "reaches", "fails", "undecided"
# A proven optimum enters the fits (and the median lines) when its bracket is this tight relative
# to it (Point.resolved).
RESOLUTION = 0.01

# (problems, parameters, batch key) -> one SolveResult per problem, in order. A result with
# status UNSPECIFIED and a ``detail`` stands for an item that produced no result.
SolveMany = Callable[[list[Problem], SolveParameters, str], list[SolveResult]]


# -- the study and its plan ---------------------------------------------------------------------


@dataclass(frozen=True)
class Study:
    dims: tuple[int, ...]
    ns: tuple[int, ...]  # the --n grid, ascending, distinct
    seeds: int  # seeds 1..seeds
    eps: tuple[float, ...]
    time_limit: float | None = 60.0  # per solve; None or 0: no limit
    points_per_axis: int | None = None  # None: study_points_per_axis(d)
    refine: bool = False
    # Per-mode width caps, e.g. (("weights", 64),): widths above a mode's cap are not planned.
    max_n: tuple[tuple[str, int], ...] = ()
    # Solve width by width and stop growing a (d, mode) after a width at which no seed was
    # proven optimal: wider instances would only add brackets at the full time limit each.
    until_unproven: bool = False
    # Per (d, mode), how many optimal masks get the exact error over the continuous box too.
    box_sample: int = 0

    @property
    def seed_list(self) -> list[int]:
        return list(range(1, self.seeds + 1))

    def points(self, d: int) -> int:
        if self.points_per_axis is not None:
            return self.points_per_axis
        return study_points_per_axis(d)

    def widths(self, mode: PruningMode) -> tuple[int, ...]:
        """The --n grid of one mode, capped by --max-n."""
        cap = dict(self.max_n).get(MODE_NAMES[mode])
        return tuple(n for n in self.ns if cap is None or n <= cap)

    def parameters(self) -> SolveParameters:
        return SolveParameters(time_limit_seconds=self.time_limit or None)

    def violations(self) -> list[FieldViolation]:
        """What is wrong with the study's settings, named by command-line flag."""
        bad = []
        if not self.dims:
            bad.append(FieldViolation("--d", "give at least one dimension"))
        for d in self.dims:
            if d < 1:
                bad.append(FieldViolation("--d", f"must be at least 1, got {d}"))
        if not self.ns:
            bad.append(FieldViolation("--n", "give at least one width"))
        for n in self.ns:
            if n < 1:
                bad.append(FieldViolation("--n", f"widths must be at least 1, got {n}"))
        if self.seeds < 1:
            bad.append(FieldViolation("--seeds", f"must be at least 1, got {self.seeds}"))
        if not self.eps:
            bad.append(FieldViolation("--eps", "give at least one error"))
        for e in self.eps:
            if not (math.isfinite(e) and e > 0):
                bad.append(FieldViolation("--eps", f"must be finite and > 0, got {e:g}"))
        if self.time_limit is not None and not (
            math.isfinite(self.time_limit) and self.time_limit >= 0
        ):
            bad.append(
                FieldViolation("--time-limit", f"must be >= 0 (0: none), got {self.time_limit:g}")
            )
        for name, cap in self.max_n:
            if name not in MODE_NAMES.values():
                bad.append(FieldViolation("--max-n", f"unknown mode {name!r}: neurons or weights"))
            elif cap < 1:
                bad.append(FieldViolation("--max-n", f"{name}: must be at least 1, got {cap}"))
        if self.box_sample < 0:
            bad.append(FieldViolation("--box-sample", f"must be >= 0, got {self.box_sample}"))
        if self.points_per_axis is not None and self.points_per_axis < 2:
            bad.append(
                FieldViolation(
                    "--points-per-axis", f"must be at least 2, got {self.points_per_axis}"
                )
            )
        if bad:
            return bad
        # The engine's size limits, checked once per (d, mode) at the largest width.
        for d in self.dims:
            for mode in MODES:
                widths = self.widths(mode)
                if not widths:
                    continue
                try:
                    validate_problem(Instance(d, mode, max(widths), 1).problem(self))
                except InvalidProblemError as exc:  # including ProblemTooLargeError
                    bad.append(
                        FieldViolation(
                            "--d/--n", f"d={d}, n={max(widths)}, {MODE_NAMES[mode]}: {exc}"
                        )
                    )
        return bad

    def plan(self) -> list[Instance]:
        """The error-vs-n grid, ordered by (d, mode, n, seed)."""
        return [
            Instance(d, mode, n, seed)
            for d in self.dims
            for mode in MODES
            for n in self.widths(mode)
            for seed in self.seed_list
        ]


def study_points_per_axis(d: int) -> int:
    """The study's grid per axis: 41 for d <= 2 (as generate), 11 for d = 3, 7 from d = 4 (7^4 =
    2,401 points; 11^4 = 14,641 would make every weights solve at d = 4 a bracket)."""
    return default_points_per_axis(d) if d <= 3 else 7


@dataclass(frozen=True, order=True)
class Instance:
    d: int
    mode: PruningMode
    n: int
    seed: int

    def problem(self, study: Study) -> Problem:
        return paper_problem(self.d, self.n, self.seed, self.mode, MinError(), study.points(self.d))

    @property
    def series(self) -> tuple[int, PruningMode, int]:
        """The nested family this instance belongs to: (d, mode, seed)."""
        return (self.d, self.mode, self.seed)


def batch_key(study: Study, instances: Sequence[Instance]) -> str:
    """A deterministic description of one batch of solves: a function of the study's parameters
    only (the remote runner hashes it into the job's request_id, so a re-run resumes the job)."""
    return json.dumps(
        {
            "format": FORMAT,
            "time_limit": study.time_limit or 0.0,
            "points_per_axis": {str(d): study.points(d) for d in sorted({i.d for i in instances})},
            "instances": [[i.d, MODE_NAMES[i.mode], i.n, i.seed] for i in instances],
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def request_id(key: str) -> str:
    return "gap-" + hashlib.sha256(key.encode()).hexdigest()[:40]


# -- points and decisions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One certified solve of the study."""

    instance: Instance
    status: str  # a SolveStatus name, or ERROR
    error: float | None  # exact error of the best mask, rounded up (None: no mask)
    bound: float | None  # rigorous lower bound on the optimum (None: no result)
    tolerance: float | None
    kept: int | None
    seconds: float | None
    backend: str
    source: str  # "grid" or "refine"
    detail: str = ""

    @property
    def optimal(self) -> bool:
        return self.status == SolveStatus.OPTIMAL.name

    @property
    def resolved(self) -> bool:
        """Proven optimal with a bracket [bound, error] within RESOLUTION of the error, so that
        log(optimum) is known to about 1 %. An OPTIMAL status is absolute (error - bound <=
        tolerance, 1e-6 by default): an optimum of 1e-8 proven with bound 0 is OPTIMAL but says
        nothing about its logarithm, and fitting it would invent a rate."""
        return (
            self.optimal
            and self.error is not None
            and self.error > 0
            and self.bound is not None
            and self.error - self.bound <= RESOLUTION * self.error
        )

    @staticmethod
    def from_result(instance: Instance, result: SolveResult, source: str) -> Point:
        if result.status == SolveStatus.UNSPECIFIED:
            return Point(
                instance, ERROR_STATUS, None, None, None, None, None, "", source, result.detail
            )
        sol = result.solution
        return Point(
            instance=instance,
            status=result.status.name,
            error=sol.error if sol is not None else None,
            bound=result.objective_bound,
            tolerance=result.tolerance if sol is not None else None,
            kept=sol.kept if sol is not None else None,
            seconds=result.stats.wall_time_seconds,
            backend=result.stats.backend,
            source=source,
            detail=result.detail,
        )

    def verdict(self, eps: float) -> str:
        """Certified answer to "opt(n) <= eps?" (see the module docstring)."""
        if self.error is not None and self.error <= eps:
            return REACHES
        if self.bound is not None and self.bound > eps:
            return FAILS
        return UNDECIDED


@dataclass(frozen=True)
class Width:
    """The certified minimum width reaching ``eps`` for one nested family (d, mode, seed)."""

    d: int
    mode: PruningMode
    seed: int
    eps: float
    min_n: int | None  # smallest grid n reaching eps (when decided and reached)
    lower: int | None  # largest n certified not to reach: w(eps) > lower
    upper: int | None  # smallest n certified to reach: w(eps) <= upper
    decided: bool  # min_n is settled (or "not reached in the grid" is)
    reason: str
    open_grid: tuple[int, ...] = ()  # undecided grid n in (lower, upper)

    @property
    def exact(self) -> int | None:
        """The exact minimum width over all integers, when the bracket has closed."""
        if self.upper is not None and self.upper == (self.lower or 0) + 1:
            return self.upper
        return None


def compute_widths(study: Study, points: Sequence[Point]) -> list[Width]:
    by_series: dict[tuple, dict[int, Point]] = defaultdict(dict)
    for p in points:
        by_series[p.instance.series][p.instance.n] = p
    widths = []
    for d in study.dims:
        for mode in MODES:
            grid = study.widths(mode)
            for seed in study.seed_list:
                series = by_series.get((d, mode, seed), {})
                for eps in study.eps:
                    widths.append(_width(d, mode, seed, eps, series, grid))
    return widths


def _width(d, mode, seed, eps, series: dict[int, Point], grid: Sequence[int]) -> Width:
    verdicts = {n: p.verdict(eps) for n, p in series.items()}
    reach = [n for n, v in verdicts.items() if v == REACHES]
    fail = [n for n, v in verdicts.items() if v == FAILS]
    upper = min(reach) if reach else None
    lower = max(fail) if fail else None
    common = dict(d=d, mode=mode, seed=seed, eps=eps, lower=lower, upper=upper)
    if upper is not None and lower is not None and lower >= upper:
        return Width(
            **common,
            min_n=None,
            decided=False,
            reason=(
                f"inconsistent: n={lower} certified above eps but n={upper} certified to reach "
                "it (contradicts monotonicity)"
            ),
        )
    low = lower if lower is not None else 0
    high = upper if upper is not None else math.inf
    # Grid n in (low, high) are neither certified to reach nor to fail.
    open_grid = tuple(n for n in grid if low < n < high)
    if open_grid:
        names = ", ".join(
            f"{n} ({series[n].status if n in series else 'not solved'})" for n in open_grid
        )
        return Width(
            **common,
            min_n=None,
            decided=False,
            reason=f"undecided: n = {names} certified neither way",
            open_grid=open_grid,
        )
    if upper is None:
        return Width(
            **common,
            min_n=None,
            decided=True,
            reason=f"not reached: every n <= {lower} certified above eps",
        )
    min_n = min(n for n in grid if n >= upper)  # exists: upper is a grid n or below one
    if upper == low + 1:
        reason = f"exact: minimum width {upper}"
    else:
        reason = f"minimum width in ({low}, {upper}]"
    return Width(**common, min_n=min_n, decided=True, reason=reason)


def _probe(width: Width, series: dict[int, Point]) -> int | None:
    """The next binary-search midpoint for a decided, not yet exact bracket (None: stop)."""
    if not width.decided or width.upper is None or width.exact is not None:
        return None
    low = width.lower or 0
    if any(low < n < width.upper for n in series):
        return None  # an undecided midpoint: the bracket stays as it is
    return (low + width.upper) // 2


# -- running -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoxCheck:
    """How far one optimal mask's error over the continuous box is from its grid error."""

    instance: Instance
    grid_error: float  # the certified (grid) error of the mask
    box_error: float | None  # its exact maximum over the box, rounded up (None: not computed)
    worst_point: tuple[float, ...] | None
    detail: str  # how it was computed, or why not


@dataclass
class StudyResult:
    study: Study
    points: list[Point]
    widths: list[Width]
    fits: list[dict]
    violations: list[str]  # monotonicity contradictions (none expected)
    rounds: int = 0  # refinement rounds
    box_checks: list[BoxCheck] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)  # (d, mode) series --until-unproven ended
    wall_seconds: float = 0.0


def run_study(study: Study, solve_many: SolveMany) -> StudyResult:
    started = time.monotonic()
    params = study.parameters()
    masks: dict[Instance, Mask] = {}

    def solve_batch(batch: list[Instance], source: str) -> list[Point]:
        results = solve_many([i.problem(study) for i in batch], params, batch_key(study, batch))
        for i, r in zip(batch, results, strict=True):
            if r.status == SolveStatus.OPTIMAL and r.solution is not None:
                masks[i] = r.solution.mask
        return [Point.from_result(i, r, source) for i, r in zip(batch, results, strict=True)]

    if study.until_unproven:
        points = _grow(study, solve_batch)
    else:
        points = solve_batch(study.plan(), "grid")
    rounds = 0
    while study.refine:
        by_series: dict[tuple, dict[int, Point]] = defaultdict(dict)
        for p in points:
            by_series[p.instance.series][p.instance.n] = p
        todo = set()
        for w in compute_widths(study, points):
            n = _probe(w, by_series[(w.d, w.mode, w.seed)])
            if n is not None and n not in by_series[(w.d, w.mode, w.seed)]:
                todo.add(Instance(w.d, w.mode, n, w.seed))
        if not todo:
            break
        rounds += 1
        points += solve_batch(sorted(todo), "refine")
    points.sort(key=lambda p: p.instance)
    return StudyResult(
        study=study,
        points=points,
        widths=compute_widths(study, points),
        fits=fit_rates(study, points),
        violations=monotonicity_violations(points),
        rounds=rounds,
        box_checks=box_checks(study, points, masks),
        stopped=stopped_series(study, points),
        wall_seconds=time.monotonic() - started,
    )


def _grow(study: Study, solve_batch) -> list[Point]:
    """--until-unproven: one batch per width (every active (d, mode), every seed); a (d, mode)
    stops after a width at which no seed was proven optimal."""
    active = {(d, mode) for d in study.dims for mode in MODES}
    points: list[Point] = []
    for n in study.ns:
        batch = [
            Instance(d, mode, n, seed)
            for d in study.dims
            for mode in MODES
            if (d, mode) in active and n in study.widths(mode)
            for seed in study.seed_list
        ]
        if not batch:
            continue
        solved = solve_batch(batch, "grid")
        points += solved
        for d, mode in sorted(active):
            group = [p for p in solved if (p.instance.d, p.instance.mode) == (d, mode)]
            if group and not any(p.optimal for p in group):
                active.discard((d, mode))
    return points


def stopped_series(study: Study, points: Sequence[Point]) -> list[str]:
    """The (d, mode) series --until-unproven ended early: after the first width with solves but
    no seed proven optimal, wider planned widths were not solved (read from the points, so a
    report rebuilt from points.csv says the same)."""
    if not study.until_unproven:
        return []
    notes = []
    for d in study.dims:
        for mode in MODES:
            solved = {p.instance.n for p in points if (p.instance.d, p.instance.mode) == (d, mode)}
            for n in study.widths(mode):
                group = [
                    p
                    for p in points
                    if (p.instance.d, p.instance.mode, p.instance.n) == (d, mode, n)
                    and p.source == "grid"
                ]
                wider = [m for m in study.widths(mode) if m > n]
                if group and not any(p.optimal for p in group) and wider:
                    if not solved.intersection(wider):
                        notes.append(
                            f"d={d} {MODE_NAMES[mode]}: no seed proven optimal at n={n}; "
                            f"wider n ({', '.join(map(str, wider))}) not solved"
                        )
                    break
    return notes


def box_checks(
    study: Study, points: Sequence[Point], masks: dict[Instance, Mask]
) -> list[BoxCheck]:
    """--box-sample K: per (d, mode), K optimal masks (distinct seeds, the widest n whose exact
    box maximum is within solver.exact.box's size limit) evaluated over the continuous box
    (docs/design.md §11): how good the grid is as a proxy for the domain."""
    if study.box_sample <= 0:
        return []
    checks = []
    for d in study.dims:
        for mode in MODES:
            candidates = sorted(
                (
                    p
                    for p in points
                    if (p.instance.d, p.instance.mode) == (d, mode)
                    and p.instance in masks
                    and p.error is not None
                ),
                key=lambda p: (-p.instance.n, p.instance.seed),
            )
            seeds_done: set[int] = set()
            for p in candidates:
                if len(seeds_done) >= study.box_sample:
                    break
                if p.instance.seed in seeds_done:
                    continue
                problem = p.instance.problem(study)
                if box.check_supported(problem, optimize=False) is not None:
                    continue  # too many kink hyperplanes at this width: try a narrower one
                seeds_done.add(p.instance.seed)
                try:
                    figures = box.evaluate_figures(problem, masks[p.instance])
                except PruneCertError as exc:
                    checks.append(BoxCheck(p.instance, p.error, None, None, str(exc)))
                    continue
                checks.append(
                    BoxCheck(
                        p.instance, p.error, figures.error, figures.worst_point, figures.detail
                    )
                )
    return checks


# -- checks and fits -----------------------------------------------------------------------------


def monotonicity_violations(points: Sequence[Point]) -> list[str]:
    """Pairs n < m of one nested family with bound(m) > error(n): impossible for correct
    certificates, since bound(m) <= opt(m) <= opt(n) <= error(n)."""
    by_series: dict[tuple, list[Point]] = defaultdict(list)
    for p in points:
        by_series[p.instance.series].append(p)
    bad = []
    for (d, mode, seed), series in sorted(by_series.items()):
        series.sort(key=lambda p: p.instance.n)
        for i, small in enumerate(series):
            if small.error is None:
                continue
            for large in series[i + 1 :]:
                if large.bound is not None and large.bound > small.error:
                    bad.append(
                        f"d={d} {MODE_NAMES[mode]} seed={seed}: bound {large.bound:.12g} at "
                        f"n={large.instance.n} exceeds error {small.error:.12g} at "
                        f"n={small.instance.n}"
                    )
    return bad


def fit_line(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, float | None]:
    """Least squares y = a + b x: (a, b, R^2); R^2 None when y is constant."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    b, a = np.polyfit(xs, ys, 1)
    return float(a), float(b), _r2(ys, a + b * xs)


def _r2(y: np.ndarray, predicted: np.ndarray) -> float | None:
    total = float(np.sum((y - y.mean()) ** 2))
    if total == 0:
        return None
    return 1.0 - float(np.sum((y - predicted) ** 2)) / total


def fit_power(n: Sequence[float], error: Sequence[float]) -> dict:
    """log error = a + b log n, and the fixed-slope model error = C / n (b = -1)."""
    x, y = np.log(np.asarray(n, dtype=float)), np.log(np.asarray(error, dtype=float))
    out: dict = {"slope": None, "C": None, "r2": None}
    if len(set(x.tolist())) >= 2:
        a, b, r2 = fit_line(x, y)
        out.update(slope=b, C=math.exp(a), r2=r2)
    log_c = float(np.mean(y + x))
    out["fixed_slope_C"] = math.exp(log_c)
    out["fixed_slope_r2"] = _r2(y, log_c - x) if len(y) >= 2 else None
    return out


def fit_exponential(n: Sequence[float], error: Sequence[float]) -> dict:
    """log error = a - c n: error = C exp(-c n)."""
    x, y = np.asarray(n, dtype=float), np.log(np.asarray(error, dtype=float))
    if len(set(x.tolist())) < 2:
        return {"rate": None, "C": None, "r2": None}
    a, b, r2 = fit_line(x, y)
    return {"rate": -b, "C": math.exp(a), "r2": r2}


def fit_rates(study: Study, points: Sequence[Point]) -> list[dict]:
    """Both rate models for each (d, mode), on the grid's resolved optima (Point.resolved: proven,
    error > 0, bracket within 1 % of the error)."""
    fits = []
    for d in study.dims:
        for mode in MODES:
            group = [
                p
                for p in points
                if p.instance.d == d and p.instance.mode == mode and p.source == "grid"
            ]
            used = [p for p in group if p.resolved]
            ns = [p.instance.n for p in used]
            errors = [p.error for p in used]
            fits.append(
                {
                    "d": d,
                    "mode": MODE_NAMES[mode],
                    "points": len(used),
                    "excluded_zero_error": sum(1 for p in group if p.optimal and p.error == 0),
                    "excluded_not_optimal": sum(1 for p in group if not p.optimal),
                    "excluded_unresolved": sum(
                        1 for p in group if p.optimal and p.error != 0 and not p.resolved
                    ),
                    "paper_model": "power" if mode == PruningMode.NEURONS else "exponential",
                    "power": fit_power(ns, errors) if used else None,
                    "exponential": fit_exponential(ns, errors) if used else None,
                }
            )
    return fits
