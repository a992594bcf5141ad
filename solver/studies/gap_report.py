"""The gap study's outputs (solver.studies.gap), written from a StudyResult: points.csv,
widths.csv, fits.json, gap.png (one panel per d) and summary.md; with several d also gap_dD.png
per d and rates.png (the fitted rates against d), and box.csv with --box-sample.

Unproven solves are brackets: drawn as whiskers from the rigorous bound to the certified error,
never as optima, and fits use proven optima only (solver.studies.gap.fit_rates).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from solver.core.problem import PruningMode
from solver.studies.gap import (
    MODE_NAMES,
    MODES,
    BoxCheck,
    Instance,
    Point,
    Study,
    StudyResult,
    Width,
    compute_widths,
    fit_rates,
    monotonicity_violations,
    stopped_series,
)

# -- outputs -------------------------------------------------------------------------------------


def _num(value: float | None) -> str:
    return "" if value is None else repr(float(value))


POINT_COLUMNS = [
    "d",
    "mode",
    "n",
    "seed",
    "status",
    "error",
    "bound",
    "tolerance",
    "kept",
    "seconds",
    "backend",
    "source",
    "detail",
]
WIDTH_COLUMNS = [
    "d",
    "mode",
    "seed",
    "eps",
    "min_n",
    "lower",
    "upper",
    "exact_width",
    "decided",
    "reason",
]


def write_points(path: Path, points: Sequence[Point]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(POINT_COLUMNS)
        for p in points:
            i = p.instance
            writer.writerow(
                [
                    i.d,
                    MODE_NAMES[i.mode],
                    i.n,
                    i.seed,
                    p.status,
                    _num(p.error),
                    _num(p.bound),
                    _num(p.tolerance),
                    "" if p.kept is None else p.kept,
                    _num(p.seconds),
                    p.backend,
                    p.source,
                    p.detail,
                ]
            )


def write_widths(path: Path, widths: Sequence[Width]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(WIDTH_COLUMNS)
        for w in widths:
            writer.writerow(
                [
                    w.d,
                    MODE_NAMES[w.mode],
                    w.seed,
                    repr(w.eps),
                    "" if w.min_n is None else w.min_n,
                    "" if w.lower is None else w.lower,
                    "" if w.upper is None else w.upper,
                    "" if w.exact is None else w.exact,
                    "yes" if w.decided else "no",
                    w.reason,
                ]
            )


@dataclass
class _Cell:
    """The seeds' figures at one (d, mode, n) of the grid."""

    points: list[Point] = field(default_factory=list)

    @property
    def errors(self) -> list[float]:
        return [p.error for p in self.points if p.error is not None]

    def median_upper(self) -> float:
        """Median of the certified errors (an absent one counts as +inf): an upper bound on the
        median of the optima, since the median is monotone in each argument."""
        return statistics.median([math.inf if p.error is None else p.error for p in self.points])

    def median_lower(self) -> float:
        """Median of the rigorous bounds (absent: 0): a lower bound on the median optimum."""
        return statistics.median([p.bound or 0.0 for p in self.points])

    def optimal(self) -> int:
        return sum(p.optimal for p in self.points)


def _cells(study: Study, points: Sequence[Point]) -> dict[tuple, _Cell]:
    cells: dict[tuple, _Cell] = defaultdict(_Cell)
    for p in points:
        if p.source == "grid":
            cells[(p.instance.d, p.instance.mode, p.instance.n)].points.append(p)
    return cells


def _fmt(value: float | None, spec: str = ".4g") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if math.isinf(value):
        return "-"
    return format(value + 0.0, spec)  # + 0.0: no "-0.000"


def _median_width(widths: Sequence[Width], grid: Sequence[int]) -> str:
    """The median over seeds of min_n, as a range when some seeds are undecided: an undecided
    seed's min_n lies among its open grid points or its upper grid point; not reached counts as
    beyond the grid."""
    lows, highs = [], []
    for w in widths:
        if w.decided:
            value = w.min_n if w.min_n is not None else math.inf
            lows.append(value)
            highs.append(value)
        else:
            lows.append(min(w.open_grid) if w.open_grid else math.inf)
            highs.append(
                min((n for n in grid if n >= w.upper), default=math.inf)
                if w.upper is not None
                else math.inf
            )
    lo, hi = statistics.median(lows), statistics.median(highs)

    def show(v: float) -> str:
        return f"> {max(grid)}" if math.isinf(v) else f"{v:g}"

    return show(lo) if lo == hi else f"{show(lo)} .. {show(hi)}"


def _median_exact_width(widths: Sequence[Width], grid: Sequence[int]) -> str:
    """The median over seeds of the exact minimum width; "-" unless every seed's is known
    (exact, or certified not reached within the grid)."""
    values = []
    for w in widths:
        if w.exact is not None:
            values.append(w.exact)
        elif w.decided and w.upper is None:
            values.append(math.inf)
        else:
            return "-"
    median = statistics.median(values)
    return f"> {max(grid)}" if math.isinf(median) else f"{median:g}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.2f} h"


def rates_against_d(result: StudyResult) -> list[dict]:
    """Per d: the neurons power-law slope and the weights exponential rate (from the fits), with
    the theory's shape for the weights rate, K / d (O(d log 1/eps) units: error ~ exp(-n / (C d))),
    K fitted by least squares to the measured rates."""
    by = {(f["d"], f["mode"]): f for f in result.fits}
    rows = []
    for d in result.study.dims:
        neurons = (by.get((d, "neurons")) or {}).get("power") or {}
        weights = (by.get((d, "weights")) or {}).get("exponential") or {}
        rows.append(
            {"d": d, "neurons_slope": neurons.get("slope"), "weights_rate": weights.get("rate")}
        )
    measured = [(r["d"], r["weights_rate"]) for r in rows if r["weights_rate"] is not None]
    k = None
    if measured:
        k = sum(c / d for d, c in measured) / sum(1 / d**2 for d, _ in measured)
    for r in rows:
        r["weights_rate_k_over_d"] = None if k is None else k / r["d"]
    return rows


def _against_d(result: StudyResult) -> list[str]:
    """The rates and the minimum widths as functions of d: the form of the paper's statements."""
    study = result.study
    if len(study.dims) < 2:
        return []
    lines = [
        "",
        "## Rates versus d",
        "",
        "Neurons: the fitted slope b of log error against log n (the paper: Omega(d/eps) units, "
        "Omega(1/eps) in v3, i.e. b = -1 at every d). Weights: the fitted rate c of error = "
        "C exp(-c n); the paper's O(d log 1/eps) units means c ~ K / d, with K fitted to the "
        "measured rates.",
        "",
        "| d | neurons slope b | weights rate c | K / d |",
        "|---|-----------------|----------------|-------|",
    ]
    for r in rates_against_d(result):
        lines.append(
            f"| {r['d']} | {_fmt(r['neurons_slope'], '.3f')} | {_fmt(r['weights_rate'], '.3f')} | "
            f"{_fmt(r['weights_rate_k_over_d'], '.3f')} |"
        )
    lines += [
        "",
        "## Minimum width reaching eps, against d",
        "",
        "The median over seeds of the smallest grid n reaching eps (as above; a range where seeds "
        "are undecided, `> N` when not reached within the grid).",
        "",
        "| mode | eps | " + " | ".join(f"d = {d}" for d in study.dims) + " |",
        "|------|-----|" + "|".join("-------" for _ in study.dims) + "|",
    ]
    for mode in MODES:
        for eps in study.eps:
            cells = []
            for d in study.dims:
                group = [w for w in result.widths if (w.d, w.mode, w.eps) == (d, mode, eps)]
                cells.append(_median_width(group, study.widths(mode)) if group else "-")
            lines.append(f"| {MODE_NAMES[mode]} | {eps:g} | " + " | ".join(cells) + " |")
    return lines


def _box_section(result: StudyResult) -> list[str]:
    if not result.box_checks:
        return []
    lines = [
        "",
        "## The grid versus the box",
        "",
        "Optimal masks of the grid problem evaluated exactly over the continuous box "
        "(docs/design.md §11): the grid error is a lower bound on the box error; the ratio says "
        "how good the grid is as a proxy for the domain.",
        "",
        "| d | mode | n | seed | grid error | box error | box / grid |",
        "|---|------|---|------|------------|-----------|------------|",
    ]
    for c in result.box_checks:
        i = c.instance
        ratio = c.box_error / c.grid_error if c.box_error is not None and c.grid_error else None
        box_cell = _fmt(c.box_error, ".6g") if c.box_error is not None else f"- ({c.detail})"
        lines.append(
            f"| {i.d} | {MODE_NAMES[i.mode]} | {i.n} | {i.seed} | {_fmt(c.grid_error, '.6g')} | "
            f"{box_cell} | {_fmt(ratio, '.4f')} |"
        )
    return lines


def summary_markdown(result: StudyResult) -> str:
    study = result.study
    cells = _cells(study, result.points)
    seeds = study.seeds
    lines = [
        "# Gap study: certified optimal error versus width",
        "",
        f"Paper family (arXiv 2603.02234), MinError without budget; "
        f"d = {', '.join(map(str, study.dims))}; n = {', '.join(map(str, study.ns))}; "
        f"seeds 1..{seeds}; "
        f"time limit {study.time_limit or 'none'} s per solve; points per axis "
        + ", ".join(f"{study.points(d)} (d={d})" for d in study.dims)
        + "."
        + (
            f" Per-mode caps: {', '.join(f'{m} n <= {c}' for m, c in study.max_n)}."
            if study.max_n
            else ""
        )
        + f" Wall time {_duration(result.wall_seconds)}.",
        "",
        "## Error versus n",
        "",
        "Errors are the exact errors of the certified masks (upper bounds on the optimum, equal to "
        "it within the tolerance when proven optimal); `median bound` is the median of the "
        "rigorous lower bounds, so the median optimum lies in [median bound, median error].",
        "",
        "| d | mode | n | median error | min | max | median bound | optimal | median s |",
        "|---|------|---|--------------|-----|-----|--------------|---------|----------|",
    ]
    for d in study.dims:
        for mode in MODES:
            for n in study.widths(mode):
                cell = cells.get((d, mode, n), _Cell())
                if not cell.points:
                    continue  # not solved (--until-unproven stopped the series): in the notes
                errors = cell.errors
                secs = [p.seconds for p in cell.points if p.seconds is not None]
                lines.append(
                    f"| {d} | {MODE_NAMES[mode]} | {n} | {_fmt(cell.median_upper())} | "
                    f"{_fmt(min(errors) if errors else None)} | "
                    f"{_fmt(max(errors) if errors else None)} | {_fmt(cell.median_lower())} | "
                    f"{cell.optimal()}/{len(cell.points)} | "
                    f"{_fmt(statistics.median(secs) if secs else None, '.3g')} |"
                )
    lines += [
        "",
        "## Fitted rates",
        "",
        "On resolved optima: OPTIMAL points with error > 0 whose bracket [bound, error] is within "
        "1 % of the error (every seed, grid n); an optimum proven only to the absolute tolerance "
        "(1e-6), e.g. 1e-8 with bound 0, is excluded as unresolved. Power: log error = a + b log n "
        "(the paper: neurons need Omega(1/eps) units, b = -1), with C of the fixed-slope model "
        "C/n. Exponential: error = C exp(-c n) (weights: O(log 1/eps) units).",
        "",
        "| d | mode | points | excluded (zero / not optimal / unresolved) | slope b | R² | C (C/n) | "
        "R² (C/n) | rate c | C (exp) | R² (exp) |",
        "|---|------|--------|------------------|---------|----|---------|----------|--------|"
        "---------|----------|",
    ]
    for f in result.fits:
        power, expo = f["power"] or {}, f["exponential"] or {}
        lines.append(
            f"| {f['d']} | {f['mode']} | {f['points']} | {f['excluded_zero_error']} / "
            f"{f['excluded_not_optimal']} / {f.get('excluded_unresolved', 0)} | "
            f"{_fmt(power.get('slope'), '.3f')} | "
            f"{_fmt(power.get('r2'), '.3f')} | {_fmt(power.get('fixed_slope_C'), '.3g')} | "
            f"{_fmt(power.get('fixed_slope_r2'), '.3f')} | {_fmt(expo.get('rate'), '.3f')} | "
            f"{_fmt(expo.get('C'), '.3g')} | {_fmt(expo.get('r2'), '.3f')} |"
        )
    lines += [
        "",
        "## Minimum width reaching eps",
        "",
        "Per seed, the smallest grid n whose certified optimum is <= eps (monotone in n for nested "
        "networks). A range means some seeds are undecided (time limit); `> N`: not reached "
        "within the grid. `exact widths`: seeds whose minimum width over all integers is known "
        "(the bracket lower < w <= upper has closed: a contiguous grid, or --refine)."
        + (f" Refinement: {result.rounds} binary-search round(s)." if study.refine else ""),
        "",
        "| d | mode | eps | median min width | decided | not reached | exact widths | "
        "median exact width |",
        "|---|------|-----|------------------|---------|-------------|--------------|"
        "--------------------|",
    ]
    for d in study.dims:
        for mode in MODES:
            for eps in study.eps:
                group = [w for w in result.widths if (w.d, w.mode, w.eps) == (d, mode, eps)]
                decided = sum(w.decided for w in group)
                not_reached = sum(w.decided and w.min_n is None for w in group)
                exact = sum(w.exact is not None for w in group)
                grid = study.widths(mode)
                lines.append(
                    f"| {d} | {MODE_NAMES[mode]} | {eps:g} | {_median_width(group, grid)} | "
                    f"{decided}/{len(group)} | {not_reached} | {exact} | "
                    f"{_median_exact_width(group, grid)} |"
                )
    lines += _against_d(result)
    lines += _box_section(result)
    notes = list(result.stopped)
    undecided = [p for p in result.points if not p.optimal]
    if undecided:
        counts: dict[str, int] = defaultdict(int)
        for p in undecided:
            counts[p.status] += 1
        notes.append(
            f"{len(undecided)} of {len(result.points)} solves not proven optimal ("
            + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            + "); they enter decisions only through their certified error and bound."
        )
    if result.violations:
        notes.append(
            f"MONOTONICITY VIOLATED ({len(result.violations)}): " + "; ".join(result.violations)
        )
    else:
        notes.append("Monotonicity check passed: bound(m) <= error(n) for every n < m per seed.")
    if 1 in study.dims:
        notes.append(
            "In d = 1 the two modes coincide: removing a unit's only hidden weight (bias-free) "
            "removes the unit."
        )
    lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


COLORS = {PruningMode.NEURONS: "tab:blue", PruningMode.WEIGHTS: "tab:red"}


def brackets(result: StudyResult, d: int, mode: PruningMode) -> list[Point]:
    """The grid solves of (d, mode) not resolved (not proven optimal, or proven only to the
    absolute tolerance: Point.resolved) that have a certified error: each is a bracket [bound,
    error] on its optimum, never drawn as an optimum."""
    return [
        p
        for p in result.points
        if p.instance.d == d
        and p.instance.mode == mode
        and p.source == "grid"
        and not p.resolved
        and p.error is not None
        and p.error > 0
    ]


def _panel(ax, result: StudyResult, d: int) -> None:
    """Certified error vs n for one d: per mode the median over seeds of the resolved optima
    (Point.resolved; line) and their min-max band; every other solve with a certified error as a
    whisker from its rigorous bound to that error (a bound of 0 is drawn down to error * 1e-3)."""
    study = result.study
    cells = _cells(study, result.points)
    positive = False
    for mode in MODES:
        color = COLORS[mode]
        ns, med, lo, hi = [], [], [], []
        for n in study.widths(mode):
            cell = cells.get((d, mode, n), _Cell())
            errors = [p.error for p in cell.points if p.resolved]
            if errors:
                ns.append(n)
                med.append(statistics.median(errors))
                lo.append(min(errors))
                hi.append(max(errors))
        if ns:
            positive = True
            style = "o-" if mode == PruningMode.NEURONS else "s--"  # d = 1: the modes coincide
            ax.plot(ns, med, style, color=color, label=f"{MODE_NAMES[mode]}: median optimum")
            ax.fill_between(ns, lo, hi, color=color, alpha=0.2, linewidth=0)
        open_points = brackets(result, d, mode)
        if open_points:
            positive = True
            xs = [p.instance.n for p in open_points]
            tops = [p.error for p in open_points]
            bottoms = [p.bound if p.bound and p.bound > 0 else p.error * 1e-3 for p in open_points]
            ax.vlines(xs, bottoms, tops, color=color, linewidth=1.5, alpha=0.8)
            ax.plot(
                xs,
                tops,
                "v",
                color=color,
                markersize=5,
                label=f"{MODE_NAMES[mode]}: bracket [bound, certified error]",
            )
            ax.plot(xs, bottoms, "^", color=color, markersize=5)
    for eps in study.eps:
        ax.axhline(eps, color="gray", linestyle=":", linewidth=0.8)
    if positive:
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    ax.set_xlabel("hidden units n")
    ax.set_ylabel("certified optimal error (sup norm)")
    ax.set_title(f"d = {d} ({study.points(d)} points per axis)")
    ax.grid(True, which="major", alpha=0.3)


def plot(result: StudyResult, path: Path, dims: Sequence[int] | None = None) -> None:
    """Certified error vs n, log y, one panel per d (all of the study's by default)."""
    from matplotlib.figure import Figure

    dims = list(dims or result.study.dims)
    fig = Figure(figsize=(max(6.4, 5.0 * len(dims)), 4.6), layout="constrained")
    for ax, d in zip(fig.subplots(1, len(dims), squeeze=False)[0], dims):
        _panel(ax, result, d)
    fig.suptitle("Neuron vs weight pruning: certified optimal error vs width (dotted: eps)")
    fig.savefig(path, dpi=120, format="png")


def plot_rates(result: StudyResult, path: Path) -> None:
    """rates.png: the neurons slope and the weights rate against d, the latter beside K / d."""
    from matplotlib.figure import Figure

    rows = rates_against_d(result)
    fig = Figure(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    pts = [(r["d"], r["neurons_slope"]) for r in rows if r["neurons_slope"] is not None]
    if pts:
        left.plot(*zip(*pts), "o-", color=COLORS[PruningMode.NEURONS], label="measured slope b")
    left.axhline(-1.0, color="gray", linestyle=":", label="theory: b = -1")
    left.set_xlabel("input dimension d")
    left.set_ylabel("slope of log error vs log n")
    left.set_title("neurons: error ~ C n^b")
    left.legend(fontsize=8)
    pts = [(r["d"], r["weights_rate"]) for r in rows if r["weights_rate"] is not None]
    if pts:
        right.plot(*zip(*pts), "s-", color=COLORS[PruningMode.WEIGHTS], label="measured rate c")
        ref = [(r["d"], r["weights_rate_k_over_d"]) for r in rows]
        right.plot(*zip(*ref), ":", color="gray", label="theory's shape K / d (K fitted)")
    right.set_xlabel("input dimension d")
    right.set_ylabel("rate c")
    right.set_title("weights: error ~ C exp(-c n)")
    if pts:
        right.legend(fontsize=8)
    else:
        right.text(0.5, 0.5, "no fitted rate (too few proven optima)", ha="center",
                   transform=right.transAxes)  # fmt: skip
    for ax in (left, right):
        ax.set_xticks(list(result.study.dims))
        ax.grid(True, alpha=0.3)
    fig.savefig(path, dpi=120, format="png")


BOX_COLUMNS = ["d", "mode", "n", "seed", "grid_error", "box_error", "worst_point", "detail"]


def _maybe(text: str, kind=float):
    return kind(text) if text != "" else None


def read_points(path: Path) -> list[Point]:
    """points.csv back into Points (write_points' inverse; floats are written with repr)."""
    modes = {name: mode for mode, name in MODE_NAMES.items()}
    with path.open(newline="", encoding="utf-8") as f:
        return [
            Point(
                instance=Instance(int(r["d"]), modes[r["mode"]], int(r["n"]), int(r["seed"])),
                status=r["status"],
                error=_maybe(r["error"]),
                bound=_maybe(r["bound"]),
                tolerance=_maybe(r["tolerance"]),
                kept=_maybe(r["kept"], int),
                seconds=_maybe(r["seconds"]),
                backend=r["backend"],
                source=r["source"],
                detail=r["detail"],
            )
            for r in csv.DictReader(f)
        ]


def read_box(path: Path) -> list[BoxCheck]:
    """box.csv back into BoxChecks (write_box's inverse)."""
    modes = {name: mode for mode, name in MODE_NAMES.items()}
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return [
            BoxCheck(
                instance=Instance(int(r["d"]), modes[r["mode"]], int(r["n"]), int(r["seed"])),
                grid_error=float(r["grid_error"]),
                box_error=_maybe(r["box_error"]),
                worst_point=tuple(float(x) for x in r["worst_point"].split())
                if r["worst_point"]
                else None,
                detail=r["detail"],
            )
            for r in csv.DictReader(f)
        ]


def load_result(study: Study, out: Path) -> StudyResult:
    """The StudyResult a finished run of ``study`` wrote to ``out`` (points.csv, box.csv,
    fits.json), for rebuilding its report without solving again (`gap --report-only`).
    ValueError when ``out`` holds another study's results."""
    recorded = json.loads((out / "fits.json").read_text(encoding="utf-8"))
    if recorded["study"] != json.loads(json.dumps(dataclasses.asdict(study))):
        raise ValueError(f"{out} holds the results of another study (see its fits.json)")
    points = read_points(out / "points.csv")
    return StudyResult(
        study=study,
        points=points,
        widths=compute_widths(study, points),
        fits=fit_rates(study, points),
        violations=monotonicity_violations(points),
        rounds=recorded.get("rounds", 0),
        box_checks=read_box(out / "box.csv"),
        stopped=stopped_series(study, points),
        wall_seconds=float(recorded.get("wall_seconds", 0.0)),
    )


def write_box(path: Path, result: StudyResult) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(BOX_COLUMNS)
        for c in result.box_checks:
            i = c.instance
            writer.writerow(
                [
                    i.d,
                    MODE_NAMES[i.mode],
                    i.n,
                    i.seed,
                    _num(c.grid_error),
                    _num(c.box_error),
                    "" if c.worst_point is None else " ".join(repr(x) for x in c.worst_point),
                    c.detail,
                ]
            )


def write_outputs(result: StudyResult, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "points": out / "points.csv",
        "widths": out / "widths.csv",
        "fits": out / "fits.json",
        "plot": out / "gap.png",
        "summary": out / "summary.md",
    }
    write_points(files["points"], result.points)
    write_widths(files["widths"], result.widths)
    study = dataclasses.asdict(result.study)
    files["fits"].write_text(
        json.dumps(
            {
                "study": study,
                "fits": result.fits,
                "rates_against_d": rates_against_d(result),
                "monotonicity_violations": result.violations,
                "wall_seconds": result.wall_seconds,
                "rounds": result.rounds,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    plot(result, files["plot"])
    if len(result.study.dims) > 1:
        for d in result.study.dims:
            files[f"plot_d{d}"] = out / f"gap_d{d}.png"
            plot(result, files[f"plot_d{d}"], [d])
        files["rates"] = out / "rates.png"
        plot_rates(result, files["rates"])
    if result.box_checks:
        files["box"] = out / "box.csv"
        write_box(files["box"], result)
    files["summary"].write_text(summary_markdown(result), encoding="utf-8")
    return files
