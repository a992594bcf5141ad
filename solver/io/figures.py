"""A result's figure (`prunecert plot`): the target, the pruned network and the error over the
domain with the worst points marked (d <= 2), the kept units or weights, and for a Pareto result
the frontier. The numbers are solver/io/figure_data.py's (exact evaluation); this module only
draws them.

matplotlib is imported inside the functions and used through ``Figure`` directly (no pyplot, so
no display backend and no global state, as the gap study's plot): commands that draw nothing
never load it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from solver.core.errors import FieldViolation, InvalidProblemError
from solver.core.problem import BoxGrid, PruningMode
from solver.io.figure_data import MAX_DOMAIN_DIM, FigureData

FORMATS = ("png", "pdf", "svg")
COLUMNS = 3  # panels per row
WORST = {"marker": "X", "color": "#00d5ff", "edgecolors": "black", "linewidths": 0.8, "zorder": 5}


def figure_format(
    path: str | Path, fmt: str | None = None, flag: str = "-o", format_flag: str | None = "--format"
) -> str:
    """The format to write: ``fmt`` if given, else the file's suffix; one of FORMATS. An unknown
    one is an error naming ``flag`` (the option that gave the path) and, as the way out,
    ``format_flag`` when the command has one."""
    chosen = fmt or Path(path).suffix.lstrip(".").lower()
    if chosen not in FORMATS:
        hint = f" (or {format_flag})" if format_flag else ""
        raise InvalidProblemError(
            FieldViolation(
                flag,
                f"cannot tell the format of {str(path)!r} from its suffix: use .png, .pdf or "
                f".svg{hint}",
                flag,
            )
        )
    return chosen


# -- panels ------------------------------------------------------------------------------------


def _box(data: FigureData) -> tuple[float, float, float, float]:
    """The panels' extent in the first two coordinates: the box (or the points' hull) and a
    margin of half a grid step, so that points on the boundary (often the worst) show whole."""
    dom = data.problem.domain
    if isinstance(dom, BoxGrid):
        margin = (dom.high - dom.low) / max(1, dom.points_per_axis - 1) / 2
        return dom.low - margin, dom.high + margin, dom.low - margin, dom.high + margin
    x = data.points[:, 0]
    y = data.points[:, 1] if data.d > 1 else x
    mx = (float(x.max()) - float(x.min())) * 0.04 or 0.5
    my = (float(y.max()) - float(y.min())) * 0.04 or 0.5
    return float(x.min()) - mx, float(x.max()) + mx, float(y.min()) - my, float(y.max()) + my


def _kink_segments(data: FigureData, ax) -> None:
    """The live units' kinks w . x + b = 0 as lines across the domain (d = 2)."""
    x0, x1, y0, y1 = _box(data)
    for k, kink in enumerate(data.kinks):
        w, b = kink.weights, kink.bias
        if abs(w[1]) >= abs(w[0]):
            xs = np.array([x0, x1])
            ys = -(b + w[0] * xs) / w[1]
        else:
            ys = np.array([y0, y1])
            xs = -(b + w[1] * ys) / w[0]
        ax.plot(
            xs,
            ys,
            color="white",
            linewidth=1.0,
            linestyle="--",
            alpha=0.9,
            label="kinks of kept units" if k == 0 else None,
        )
    ax.set_xlim(x0, x1)  # the lines run past the box: cut them at its edge
    ax.set_ylim(y0, y1)


def _heat(data: FigureData, ax, values: np.ndarray, title: str, cmap: str, vmin, vmax, fig):
    """A d = 2 panel: a heat map on a box grid, coloured points otherwise."""
    if data.grid_shape is not None:
        dom = data.problem.domain
        axis = np.linspace(dom.low, dom.high, dom.points_per_axis)
        # Points are in numpy's "ij" order: values[i, j] is at (axis[i], axis[j]); pcolormesh
        # wants rows along y, hence the transpose.
        image = ax.pcolormesh(
            axis,
            axis,
            values.reshape(data.grid_shape).T,
            shading="nearest",
            cmap=cmap,
            vmin=vmin,
            vmax=vmax,
            rasterized=True,  # a few KB in a PDF or SVG, not one vector cell per point
        )
    else:
        image = ax.scatter(
            data.points[:, 0],
            data.points[:, 1],
            c=values,
            s=18,
            cmap=cmap,
            vmin=vmin,
            vmax=vmax,
            rasterized=True,
        )
    fig.colorbar(image, ax=ax, shrink=0.85)
    x0, x1, y0, y1 = _box(data)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_title(title)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_aspect("equal", adjustable="box")


def _mark_worst(data: FigureData, ax, ys: np.ndarray | None = None) -> None:
    worst = data.worst
    x = data.points[worst, 0]
    y = ys[worst] if ys is not None else data.points[worst, 1]
    ax.scatter(x, y, s=60, label=f"worst ({int(worst.sum())}): error {data.error_max:.6g}", **WORST)


def _domain_panels_2d(data: FigureData, axes, fig) -> None:
    low = float(min(data.target.min(), data.pruned.min()))
    high = float(max(data.target.max(), data.pruned.max()))
    _heat(data, axes[0], data.target, "target", "viridis", low, high, fig)
    _heat(data, axes[1], data.pruned, "pruned network", "viridis", low, high, fig)
    _kink_segments(data, axes[1])
    _heat(data, axes[2], data.errors, "|pruned - target|", "magma", 0.0, data.error_max, fig)
    _kink_segments(data, axes[2])
    _mark_worst(data, axes[2])
    # Below the panel: inside, it would hide part of the map (often the worst corner).
    # Grey behind the legend: the kinks are white, to show on both colour maps.
    axes[2].legend(
        fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2, facecolor="0.75"
    )


def _domain_panels_1d(data: FigureData, axes) -> None:
    x = data.points[:, 0]
    order = np.argsort(x, kind="stable")
    style = "-" if data.grid_shape is not None else ".-"
    values, errors = axes
    values.plot(x[order], data.target[order], style, color="black", label="target")
    values.plot(x[order], data.pruned[order], style, color="tab:blue", label="pruned network")
    errors.plot(x[order], data.errors[order], style, color="tab:red", label="|pruned - target|")
    errors.axhline(data.error_max, color="gray", linestyle=":", linewidth=0.8)
    _mark_worst(data, errors, data.errors)
    x0, x1, _, _ = _box(data)
    for k, kink in enumerate(data.kinks):
        at = -kink.bias / kink.weights[0]
        if x0 <= at <= x1:
            for ax in axes:
                ax.axvline(
                    at,
                    color="gray",
                    linestyle="--",
                    linewidth=0.8,
                    label="kinks of kept units" if k == 0 and ax is values else None,
                )
    values.set_title("target and pruned network")
    errors.set_title("|pruned - target|")
    for ax in axes:
        ax.set_xlabel("x")
        ax.legend(fontsize=7)


def _histogram(data: FigureData, ax) -> None:
    ax.hist(data.errors, bins=min(50, max(5, int(math.sqrt(data.errors.size)))), color="tab:red")
    ax.axvline(
        data.error_max,
        color="black",
        linestyle=":",
        label=f"max {data.error_max:.6g} ({int(data.worst.sum())} worst point(s))",
    )
    ax.set_xlabel("|pruned - target| at a domain point")
    ax.set_ylabel("points")
    ax.set_title(f"errors over the {data.errors.size} points")
    ax.legend(fontsize=7)


def _kept_panel(data: FigureData, ax) -> None:
    n = data.problem.network.n
    if data.problem.pruning == PruningMode.NEURONS:
        v = data.problem.network.output_matrix
        # One output: its signed weights; several: each unit's largest in magnitude.
        v = v[0] if data.outputs == 1 else np.abs(v).max(axis=0)
        colors = np.where(data.live_units, "tab:blue", "lightgray")
        from matplotlib.ticker import MaxNLocator

        ax.bar(np.arange(n), v, color=colors)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.axhline(0.0, color="black", linewidth=0.5)
        ax.set_xlabel("hidden unit")
        ax.set_ylabel("output weight" if data.outputs == 1 else "largest |output weight|")
        ax.set_title(f"kept units (blue): {data.kept} of {n}")
        return
    from matplotlib.colors import ListedColormap

    d = data.d
    ax.imshow(
        data.kept_matrix.astype(int),
        cmap=ListedColormap(["lightgray", "tab:blue"]),
        vmin=0,
        vmax=1,
        aspect="auto",
        interpolation="nearest",
    )
    k = data.outputs
    outs = ["out"] if k == 1 else [f"out{o + 1}" for o in range(k)]
    ax.set_xticks(range(d + k), [f"x{j + 1}" for j in range(d)] + outs)
    ax.set_xlabel(
        "hidden weights from each input, then the output weight"
        + ("" if k == 1 else "s (a unit keeping none is dead)")
    )
    ax.set_ylabel("hidden unit")
    ax.set_title(f"kept weights (blue): {data.kept} of {data.total}")


def _frontier_panel(data: FigureData, ax) -> None:
    from matplotlib.ticker import MaxNLocator

    points = data.frontier
    kept = np.array([p.kept for p in points])
    error = np.array([p.error for p in points])
    bound = np.array([p.error_bound for p in points])
    certified = np.array([p.certified for p in points], dtype=bool)
    positive = np.concatenate([error, bound])
    positive = positive[positive > 0]
    # Log scale when the errors span decades (the weights mode's exponential decay), else linear.
    log = bool(error.size and np.all(error > 0) and error.max() > 20 * error.min())
    floor = float(positive.min()) / 2 if log else 0.0
    ax.step(kept, error, where="post", color="gray", linewidth=0.8)
    ax.plot(kept[certified], error[certified], "o", color="tab:blue", label="certified optimal")
    open_points = ~certified
    if open_points.any():
        low = np.maximum(bound[open_points], floor)
        ax.errorbar(
            kept[open_points],
            error[open_points],
            yerr=[error[open_points] - low, np.zeros(int(open_points.sum()))],
            fmt="o",
            mfc="white",
            color="tab:orange",
            capsize=3,
            label="not proven: [bound, error]",
        )
    ax.plot(
        [data.kept],
        [data.error_max],
        "o",
        mfc="none",
        color="tab:red",
        markersize=13,
        markeredgewidth=1.5,
        label="the mask drawn",
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(f"kept {data.unit_word}")
    ax.set_ylabel("certified error")
    ax.set_title(f"Pareto frontier ({len(points)} points)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)


# -- the figure --------------------------------------------------------------------------------


def draw(data: FigureData):
    """The figure (a matplotlib ``Figure``) for ``data``."""
    from matplotlib.figure import Figure

    domain = 0
    if data.draws_domain:
        domain = 3 if data.d == 2 else 2
    panels = domain + (0 if data.draws_domain else 1) + 1 + (1 if data.frontier else 0)
    columns = 2 if panels == 4 else min(COLUMNS, panels)  # 2 x 2 rather than 3 + 1
    rows = math.ceil(panels / columns)
    fig = Figure(figsize=(4.6 * columns, 4.1 * rows + 0.6), layout="constrained")
    axes = list(fig.subplots(rows, columns, squeeze=False).ravel())
    for ax in axes[panels:]:
        ax.set_axis_off()
    if data.draws_domain and data.d == 2:
        _domain_panels_2d(data, axes[:3], fig)
    elif data.draws_domain:
        _domain_panels_1d(data, axes[:2])
    else:
        _histogram(data, axes[0])
    at = max(domain, 1)
    _kept_panel(data, axes[at])
    if data.frontier:
        _frontier_panel(data, axes[at + 1])
    p = data.problem
    mode = "neurons" if p.pruning == PruningMode.NEURONS else "weights"
    second = (
        f"{mode} pruning, {type(p.objective).__name__}, n = {p.network.n}, d = {data.d}, "
        f"{data.points.shape[0]} {data.domain_word} points; errors exact, rounded up"
    )
    if not data.draws_domain and data.outputs > 1:
        second += (
            f"\n{data.outputs} outputs: each point's error is the largest over the outputs, "
            "shown as a histogram (the domain panels draw one output)"
        )
    elif not data.draws_domain:
        second += (
            f"\nthe domain panels need d <= {MAX_DOMAIN_DIM} (here d = {data.d}): the errors "
            "over the points are shown as a histogram"
        )
    fig.suptitle(f"{data.title()}\n{second}", fontsize=10)
    return fig


def write_figure(
    data: FigureData,
    path: str | Path,
    fmt: str | None = None,
    flag: str = "-o",
    format_flag: str | None = "--format",
) -> None:
    """Draw ``data`` into ``path`` (format: ``fmt`` or the suffix); a path whose format is
    unknown or that cannot be written is an error naming ``flag``, the option that gave it
    (`prunecert solve --plot FILE` passes ``flag="--plot", format_flag=None``)."""
    chosen = figure_format(path, fmt, flag, format_flag)
    fig = draw(data)
    try:
        fig.savefig(path, format=chosen, dpi=120)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InvalidProblemError(
            FieldViolation(flag, f"cannot write {path}: {reason}", flag)
        ) from exc
