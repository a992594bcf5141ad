"""Exact certificates: a mask's error re-evaluated in rational arithmetic on every domain point.

This path is independent of the formulation: it applies the mask to the network's weights and
evaluates the pruned network directly, so a formulation bug cannot certify itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from solver import exact
from solver.core.problem import Mask, Problem
from solver.core.validate import validate_magnitudes
from solver.exact import Dyadic
from solver.exact.evaluate import network_outputs, target_values


@dataclass(frozen=True)
class MaskCertificate:
    """A mask's exact figures on the whole domain."""

    mask: Mask
    kept: int
    error: Fraction  # exact max over points k and outputs o of |pruned_o(x_k) - target_o(x_k)|
    error_upper: float  # the smallest double >= error
    worst_point: int  # a domain point where the error is attained


class ExactDomain:
    """A problem's domain points and target values in exact form, computed once."""

    def __init__(self, problem: Problem):
        validate_magnitudes(problem)  # products past float64's range: one clear error
        self.problem = problem
        self.points: Dyadic = exact.from_floats(problem.points())
        self.target: Dyadic = target_values(problem, self.points)

    def errors(self, mask: Mask) -> Dyadic:
        """Exact |pruned - target| at every domain point (m,): with several outputs, the
        largest over the outputs (the error is the max over outputs and points, §1)."""
        out = network_outputs(self.problem.network, self.points, mask)
        errors = exact.absolute(exact.sub(out, self.target))
        if errors.ints.ndim == 2:
            width = errors.ints.shape[1]
            ints = errors.ints.max(axis=1) if width else np.zeros(errors.ints.shape[0], object)
            return exact.Dyadic(np.asarray(ints, dtype=object), errors.exp)
        return errors

    def certify(self, mask: Mask) -> MaskCertificate:
        errors = self.errors(mask)
        worst = int(np.argmax(errors.ints)) if errors.ints.size else 0
        value = errors.fraction(worst) if errors.ints.size else Fraction(0)
        return MaskCertificate(
            mask=mask.canonical(),
            kept=mask.kept(),
            error=value,
            error_upper=exact.round_up(value),
            worst_point=worst,
        )


def certify_mask(problem: Problem, mask: Mask) -> MaskCertificate:
    """The exact error and kept count of ``mask`` on ``problem``'s whole domain."""
    return ExactDomain(problem).certify(mask)
