"""The gap study's outputs (solver.studies.gap): points.csv, widths.csv, fits.json, gap.png and
summary.md, written from a StudyResult.
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
    Point,
    Study,
    StudyResult,
    Width,
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
        + ".",
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
            for n in study.ns:
                cell = cells.get((d, mode, n), _Cell())
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
        "On OPTIMAL points with error > 0 (every seed, grid n). Power: log error = a + b log n "
        "(the paper: neurons need Omega(1/eps) units, b = -1), with C of the fixed-slope model "
        "C/n. Exponential: error = C exp(-c n) (weights: O(log 1/eps) units).",
        "",
        "| d | mode | points | excluded (zero / not optimal) | slope b | R² | C (C/n) | "
        "R² (C/n) | rate c | C (exp) | R² (exp) |",
        "|---|------|--------|------------------|---------|----|---------|----------|--------|"
        "---------|----------|",
    ]
    for f in result.fits:
        power, expo = f["power"] or {}, f["exponential"] or {}
        lines.append(
            f"| {f['d']} | {f['mode']} | {f['points']} | {f['excluded_zero_error']} / "
            f"{f['excluded_not_optimal']} | {_fmt(power.get('slope'), '.3f')} | "
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
                lines.append(
                    f"| {d} | {MODE_NAMES[mode]} | {eps:g} | {_median_width(group, study.ns)} | "
                    f"{decided}/{len(group)} | {not_reached} | {exact} | "
                    f"{_median_exact_width(group, study.ns)} |"
                )
    notes = []
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


def plot(result: StudyResult, path: Path) -> None:
    """gap.png: certified error vs n, log y, one panel per d; median line and min-max band over
    seeds per mode; solves not proven optimal marked with x at their certified error."""
    from matplotlib.figure import Figure

    study = result.study
    cells = _cells(study, result.points)
    fig = Figure(figsize=(max(6.4, 5.0 * len(study.dims)), 4.4), layout="constrained")
    axes = fig.subplots(1, len(study.dims), squeeze=False)[0]
    colors = {PruningMode.NEURONS: "tab:blue", PruningMode.WEIGHTS: "tab:red"}
    for ax, d in zip(axes, study.dims):
        positive = False
        for mode in MODES:
            ns, med, lo, hi = [], [], [], []
            for n in study.ns:
                errors = [e for e in cells.get((d, mode, n), _Cell()).errors if e > 0]
                if errors:
                    ns.append(n)
                    med.append(statistics.median(errors))
                    lo.append(min(errors))
                    hi.append(max(errors))
            if not ns:
                continue
            positive = True
            color = colors[mode]
            style = "o-" if mode == PruningMode.NEURONS else "s--"  # d = 1: the modes coincide
            ax.plot(ns, med, style, color=color, label=f"{MODE_NAMES[mode]} (median)")
            ax.fill_between(
                ns,
                lo,
                hi,
                color=color,
                alpha=0.2,
                linewidth=0,
                label=f"{MODE_NAMES[mode]} (min-max)",
            )
            odd = [
                p
                for p in result.points
                if p.instance.d == d
                and p.instance.mode == mode
                and p.source == "grid"
                and not p.optimal
                and p.error is not None
                and p.error > 0
            ]
            if odd:
                ax.plot(
                    [p.instance.n for p in odd],
                    [p.error for p in odd],
                    "x",
                    color="black",
                    markersize=8,
                    label=f"{MODE_NAMES[mode]}: not proven optimal",
                )
        for eps in study.eps:
            ax.axhline(eps, color="gray", linestyle=":", linewidth=0.8)
        if positive:
            ax.set_yscale("log")
        ax.set_xlabel("hidden units n")
        ax.set_ylabel("certified optimal error (sup norm)")
        ax.set_title(f"d = {d} ({study.points(d)} points per axis)")
        ax.grid(True, which="major", alpha=0.3)
        if positive:
            ax.legend(fontsize=8)
    fig.suptitle("Neuron vs weight pruning: certified optimal error vs width (dotted: eps)")
    fig.savefig(path, dpi=120, format="png")


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
            {"study": study, "fits": result.fits, "monotonicity_violations": result.violations},
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    plot(result, files["plot"])
    files["summary"].write_text(summary_markdown(result), encoding="utf-8")
    return files
