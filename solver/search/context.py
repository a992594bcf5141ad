"""One heuristic run's shared state: the problem's search space, the objective's figures, a
clock, and cached exact certificates."""

from __future__ import annotations

import threading
import time
from fractions import Fraction

import numpy as np

from solver.core.problem import MinKept, Pareto, Problem
from solver.core.validate import NO_LIMITS, validate_problem
from solver.exact.certify import ExactDomain, MaskCertificate
from solver.search.state_space import Archive, SearchSpace

_SEARCH_RTOL = 1e-12  # an accepted move must lower the error by this much (x scale): no cycling
_CERTIFY_RTOL = 1e-9  # float errors this close (x scale) may order either way exactly


class Clock:
    """A deadline and a cancellation event, checked between search steps."""

    def __init__(self, limit: float | None, stop: threading.Event | None):
        self.deadline = None if limit is None else time.monotonic() + limit
        self.stop = stop

    def expired(self) -> bool:
        if self.stop is not None and self.stop.is_set():
            return True
        return self.deadline is not None and time.monotonic() >= self.deadline


# -- the search context ------------------------------------------------------------------------


class Context:
    """One problem's float data, objective figures and exact certification (cached)."""

    def __init__(self, problem: Problem):
        validate_problem(problem, NO_LIMITS)
        self.problem = problem
        self.space = SearchSpace(problem)
        objective = problem.objective
        full = problem.max_kept_possible()
        limit = getattr(objective, "max_kept", None)
        self.cap = full if limit is None else min(int(limit), full)
        self.min_kept = isinstance(objective, MinKept)
        self.pareto = isinstance(objective, Pareto)
        self.tol = _SEARCH_RTOL * self.space.scale
        self.margin = _CERTIFY_RTOL * self.space.scale
        self.max_error: Fraction | None = None
        self.goal: float | None = None  # MinKept: float errors up to here may be feasible
        if isinstance(objective, MinKept):
            self.max_error = Fraction(objective.max_error)
            self.goal = float(objective.max_error) + self.margin
        self._domain: ExactDomain | None = None
        self._certificates: dict[bytes, MaskCertificate] = {}
        # greedy_archive's cache (solver.search.greedy): local search starts from them
        self.greedy_archives: dict[str, Archive] = {}

    def archive(self, source: str) -> Archive:
        """A new archive, holding the empty mask (always within any budget) from the start."""
        archive = Archive(self.cap, source)
        empty = self.space.empty()
        archive.offer(0, self.space.error(self.space.output_sum(empty)), empty)
        return archive

    def certify(self, state: np.ndarray) -> MaskCertificate:
        key = state.tobytes()
        if key not in self._certificates:
            if self._domain is None:
                self._domain = ExactDomain(self.problem)
            self._certificates[key] = self._domain.certify(self.space.mask(state))
        return self._certificates[key]
