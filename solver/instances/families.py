"""Generated problem families, expanded lazily: a family has a size and its i-th problem can be
built alone (a 397,000-item family is never materialised).

* ``paper``: the cartesian product d x n x seeds x pruning (in that order) of
  solver.generate.paper_problem.
* ``subset_sum``: for each (n, seed), ``count`` instances; instance j draws, from
  numpy.random.default_rng([seed, j]), a target w and then n candidates, all U[low, high]. It is
  the d = 1 neurons-mode problem with unit hidden weights, output weights the candidates,
  identity output, and target value w at the single point x = 1 (docs/design.md §5 and §9).
  Family.subset_sum_draw is the one definition of those draws (the job batch path reads them
  without building the problem).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from solver.core.errors import FieldViolation, InvalidProblemError, ProblemTooLargeError
from solver.core.problem import (
    Activation,
    MinError,
    Network,
    Neuron,
    Objective,
    PointSet,
    Problem,
    PruningMode,
)
from solver.instances.generate import paper_problem

GENERATORS = ("paper", "subset_sum")
MAX_FAMILY_ITEMS = 10_000_000


@dataclass(frozen=True)
class SubsetSumDraw:
    """One subset_sum instance: keep a subset of ``candidates`` whose sum is nearest ``target``."""

    target: float
    candidates: np.ndarray  # (n,)


@dataclass(frozen=True)
class Family:
    generator: str
    d: tuple[int, ...] = ()
    n: tuple[int, ...] = ()
    seeds: tuple[int, ...] = ()
    pruning: tuple[PruningMode, ...] = ()
    objective: Objective | None = None
    points_per_axis: int = 0  # 0: the paper default for each d
    count: int = 0
    low: float = 0.0
    high: float = 0.0

    def _axes(self) -> list:
        if self.generator == "paper":
            return [self.d, self.n, self.seeds, self.pruning]
        return [self.n, self.seeds, range(self.count)]  # a range: O(1) length and indexing

    def size(self) -> int:
        return math.prod(len(axis) for axis in self._axes())

    def coordinates(self, index: int) -> tuple:
        """The index-th combination, last axis fastest."""
        out = []
        for axis in reversed(self._axes()):
            index, r = divmod(index, len(axis))
            out.append(axis[r])
        return tuple(reversed(out))

    def problem(self, index: int) -> Problem:
        objective = self.objective if self.objective is not None else MinError()
        if self.generator == "paper":
            d, n, seed, mode = self.coordinates(index)
            return paper_problem(d, n, seed, mode, objective, self.points_per_axis or None)
        draw = self.subset_sum_draw(index)
        n = len(draw.candidates)
        return Problem(
            network=Network(
                hidden_weights=np.ones((n, 1)),
                output_weights=draw.candidates,
                output_activation=Activation.IDENTITY,
            ),
            target=Neuron(weights=np.array([draw.target]), activation=Activation.IDENTITY),
            domain=PointSet(points=np.array([[1.0]])),
            pruning=PruningMode.NEURONS,
            objective=objective,
        )

    def subset_sum_draw(self, index: int) -> SubsetSumDraw:
        """The index-th subset_sum instance's random draws: from default_rng([seed, j]) the
        target first, then the n candidates, all U[low, high]."""
        if self.generator != "subset_sum":
            raise ValueError(f"subset_sum_draw: a {self.generator!r} family has no such draws")
        n, seed, j = self.coordinates(index)
        rng = np.random.default_rng([seed, j])
        target = rng.uniform(self.low, self.high)
        candidates = rng.uniform(self.low, self.high, size=n)
        return SubsetSumDraw(target=float(target), candidates=candidates)


def largest_problems(family: Family) -> list[Problem]:
    """The family's largest instances (max d and n, each pruning mode): checking these against
    the size limits covers every item."""
    if family.generator == "paper":
        objective = family.objective if family.objective is not None else MinError()
        return [
            paper_problem(
                max(family.d),
                max(family.n),
                family.seeds[0],
                mode,
                objective,
                family.points_per_axis or None,
            )
            for mode in family.pruning
        ]
    largest = Family(**{**family.__dict__, "n": (max(family.n),), "count": 1})
    return [largest.problem(0)]


def validate_family(family: Family, field: str = "family") -> None:
    bad: list[FieldViolation] = []

    def need(name: str, values, low: int = 1) -> None:
        if not values:
            bad.append(FieldViolation(f"{field}.{name}", "must not be empty"))
        elif any(v < low for v in values):
            bad.append(FieldViolation(f"{field}.{name}", f"every value must be at least {low}"))

    if family.generator not in GENERATORS:
        bad.append(
            FieldViolation(
                f"{field}.generator",
                f"must be one of {', '.join(GENERATORS)}, got {family.generator!r}",
            )
        )
        raise InvalidProblemError(bad)
    need("n", family.n)
    need("seeds", family.seeds, low=0)
    if family.generator == "paper":
        need("d", family.d)
        if not family.pruning:
            bad.append(FieldViolation(f"{field}.pruning", "must not be empty"))
        elif any(m not in (PruningMode.NEURONS, PruningMode.WEIGHTS) for m in family.pruning):
            bad.append(
                FieldViolation(f"{field}.pruning", "must hold PRUNING_MODE_NEURONS or _WEIGHTS")
            )
        if family.points_per_axis == 1:
            bad.append(
                FieldViolation(
                    f"{field}.points_per_axis", "must be at least 2 (or 0 for the default)"
                )
            )
    else:
        if family.count < 1:
            bad.append(FieldViolation(f"{field}.count", "must be at least 1"))
        if not (
            math.isfinite(family.low) and math.isfinite(family.high) and family.low < family.high
        ):
            bad.append(
                FieldViolation(f"{field}.high", "low and high must be finite with low < high")
            )
    if bad:
        raise InvalidProblemError(bad)
    if family.size() > MAX_FAMILY_ITEMS:
        raise ProblemTooLargeError(
            FieldViolation(field, f"{family.size()} items exceed the limit of {MAX_FAMILY_ITEMS}")
        )
