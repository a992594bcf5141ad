"""The numbers a result's figure shows (`prunecert plot`), computed apart from any drawing so that
they can be checked without images (solver/io/figures.py draws them).

The values on the domain come from the exact evaluation (solver/exact, docs/design.md §2), not
from float64: each point's error is its exact error rounded up to the next double, so the largest
of them is the certified ``solution.error`` bit for bit, and the worst points are the points
where the exact maximum is attained (exact equality, not a float tolerance). A result whose
recorded error is not its mask's exact error on the problem belongs to another problem and is
refused, naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from solver import exact
from solver.core.errors import FieldViolation, InvalidProblemError
from solver.core.problem import BoxGrid, Mask, MinKept, Pareto, Problem, PruningMode
from solver.core.result import FrontierPoint, SolveResult
from solver.exact.certify import ExactDomain
from solver.exact.evaluate import network_outputs

# Domain panels (values over the inputs) are drawn up to this input dimension, for one output;
# above it, or with several outputs, the figure shows the kept panel and a histogram of the
# errors over the points (each point's error the largest over the outputs) instead.
MAX_DOMAIN_DIM = 2


@dataclass(frozen=True)
class KinkLine:
    """A live unit's kink ``weights . x + bias = 0`` (its pruned hidden weights are zero); a unit
    whose kept hidden weights are all zero has none (it is constant) and gets no KinkLine."""

    unit: int
    weights: np.ndarray  # (d,)
    bias: float


@dataclass(frozen=True, eq=False)
class FigureData:
    """Everything a result's figure draws, per domain point and per unit."""

    problem: Problem
    result: SolveResult
    mask: Mask  # the drawn mask: the result's solution (for pareto, its best point)
    points: np.ndarray  # (m, d) the domain points
    grid_shape: tuple[int, ...] | None  # (K,) * d for a box grid (points in numpy "ij" order)
    target: np.ndarray  # (m,) or (m, k) target values (exact values to nearest double)
    pruned: np.ndarray  # (m,) or (m, k) the pruned network's values (exact, to nearest double)
    errors: np.ndarray  # (m,) each point's exact error (max over outputs) rounded up:
    # max(errors) == error_max
    worst: np.ndarray  # (m,) bool: where the exact maximum error is attained
    error_exact: Fraction  # the exact maximum error over the points
    error_max: float  # error_exact rounded up: the certified error on the points
    live_units: np.ndarray  # (n,) bool: units the mask keeps (neurons) or keeps alive (weights)
    kept_matrix: np.ndarray  # (n, d + k) bool: kept hidden weights, then the output weights
    kinks: tuple[KinkLine, ...]  # the live units' kinks, for the domain panels
    frontier: tuple[FrontierPoint, ...]  # a Pareto result's points (else empty)

    @property
    def d(self) -> int:
        return self.problem.network.d

    @property
    def outputs(self) -> int:
        return self.problem.network.outputs

    @property
    def draws_domain(self) -> bool:
        return self.d <= MAX_DOMAIN_DIM and self.outputs == 1

    @property
    def kept(self) -> int:
        return self.mask.kept()

    @property
    def total(self) -> int:
        return self.problem.max_kept_possible()

    @property
    def unit_word(self) -> str:
        return "units" if self.problem.pruning == PruningMode.NEURONS else "weights"

    @property
    def domain_word(self) -> str:
        return "grid" if isinstance(self.problem.domain, BoxGrid) else "given points"

    @property
    def is_pareto(self) -> bool:
        return isinstance(self.problem.objective, Pareto)

    def title(self) -> str:
        """status, error (on what), bound, kept of total: the figure's first line."""
        r = self.result
        parts = [r.status.name, f"error {self.error_max:.6g} on the {self.domain_word}"]
        if isinstance(self.problem.objective, MinKept):
            parts.append(f"bound kept >= {int(r.objective_bound)}")
        elif r.stats.formulation == "heuristic":
            parts.append("no bound (heuristic)")
        else:
            parts.append(f"bound {r.objective_bound:.6g}")
        if r.continuous is not None:
            parts.append(f"box error {r.continuous.error:.6g}")
        parts.append(f"kept {self.kept} of {self.total} {self.unit_word}")
        return ", ".join(parts)


def _violation(where: str, field: str, description: str) -> InvalidProblemError:
    return InvalidProblemError(FieldViolation(f"{where}: {field}" if where else field, description))


def _grid_error(result: SolveResult) -> tuple[str, float]:
    """The field and value of the error the result records for its mask on the domain's points:
    ``solution.error``, except after a continuous optimisation, where that is the box's and the
    points' is ``continuous.grid_error`` (docs/design.md §11)."""
    assert result.solution is not None
    cont = result.continuous
    if cont is not None and cont.grid_error is not None:
        return "continuous.grid_error", cont.grid_error
    return "solution.error", result.solution.error


def _rounded_up(values: exact.Dyadic) -> np.ndarray:
    """Each exact value as the smallest double >= it (monotone, so maxima are preserved)."""
    flat = [exact.round_up(Fraction(v) * Fraction(2) ** values.exp) for v in values.ints.ravel()]
    return np.array(flat, dtype=float).reshape(values.shape)


def _kinks(problem: Problem, mask: Mask) -> tuple[KinkLine, ...]:
    net = problem.network
    weights = np.where(mask.hidden_matrix(net.n, net.d), net.hidden_weights, 0.0)
    out = []
    for i in np.flatnonzero(mask.unit_vector(net.n)):
        if np.any(weights[i]):
            out.append(KinkLine(int(i), weights[i].astype(float), float(net.biases[i])))
    return tuple(out)


def figure_data(problem: Problem, result: SolveResult, where: str = "") -> FigureData:
    """The figure's numbers for ``result`` on ``problem``; ``where`` names the result (its file)
    in errors. Refuses a result without a mask, and one whose recorded errors are not its masks'
    exact errors on this problem (it was solved for another problem)."""
    if result.solution is None:
        raise _violation(
            where,
            "solution",
            f"the result ({result.status.name}) has no mask to draw"
            + (f": {result.detail}" if result.detail else ""),
        )
    domain = ExactDomain(problem)
    mask = result.solution.mask
    errors = domain.errors(mask)
    worst_index = int(np.argmax(errors.ints)) if errors.ints.size else 0
    error_exact = errors.fraction(worst_index) if errors.ints.size else Fraction(0)
    error_max = exact.round_up(error_exact)
    field, recorded = _grid_error(result)
    if error_max != recorded:
        raise _violation(
            where,
            field,
            f"{recorded!r} is not its mask's exact error on this problem ({error_max!r}): "
            "the result belongs to another problem",
        )
    if result.solution.kept != mask.kept():
        raise _violation(
            where,
            "solution.kept",
            f"{result.solution.kept} is not its mask's kept count ({mask.kept()})",
        )
    for i, point in enumerate(result.frontier):
        cert = domain.certify(point.mask)
        if cert.error_upper != point.error or cert.kept != point.kept:
            raise _violation(
                where,
                f"frontier[{i}]",
                f"kept {point.kept}, error {point.error!r} are not its mask's exact figures on "
                f"this problem (kept {cert.kept}, error {cert.error_upper!r})",
            )
    net = problem.network
    live = mask.unit_vector(net.n).copy()
    kept_matrix = np.concatenate(
        [
            mask.hidden_matrix(net.n, net.d) & live[:, None],
            mask.output_matrix(net.n, net.outputs).T,
        ],
        axis=1,
    )
    grid_shape = None
    if isinstance(problem.domain, BoxGrid):
        grid_shape = (problem.domain.points_per_axis,) * net.d
    pruned = network_outputs(net, domain.points, mask)
    return FigureData(
        problem=problem,
        result=result,
        mask=mask,
        points=problem.points(),
        grid_shape=grid_shape,
        target=domain.target.to_float(),
        pruned=pruned.to_float(),
        errors=_rounded_up(errors),
        worst=np.array([v == errors.ints[worst_index] for v in errors.ints], dtype=bool),
        error_exact=error_exact,
        error_max=error_max,
        live_units=live,
        kept_matrix=kept_matrix,
        kinks=_kinks(problem, mask),
        frontier=tuple(result.frontier),
    )
