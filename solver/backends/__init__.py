"""Backend registry: the only module that knows every adapter, in preference order.

"auto" is a choice, not a name (cvxpy style): each registered backend is asked, in this order,
whether it accepts the model and task (Backend.accepts). Meet in the middle comes first: it
accepts only separable min_error tasks and answers them in one call; the general MIP backends
after it accept every complete model, CP-SAT first. The per-weight backend comes last: it
accepts weights mode only (docs/design.md §15), and it is the one backend that accepts the lazy
column model, which the engine builds when the pattern model would be too large
(``per_weight_route``).
"""

from __future__ import annotations

from solver.backends.base import Backend, Task
from solver.backends.cbc import CbcBackend
from solver.backends.cpsat import CpSatBackend
from solver.backends.highs import HighsBackend
from solver.backends.mitm import MeetInTheMiddleBackend
from solver.backends.perweight import PerWeightCpSatBackend
from solver.backends.scip import ScipBackend
from solver.core.errors import BackendUnavailableError
from solver.core.problem import Problem, PruningMode
from solver.core.validate import Limits, weight_patterns
from solver.formulation.columns import ColumnModel

REGISTRY: dict[str, type[Backend]] = {
    cls.name: cls
    for cls in (
        MeetInTheMiddleBackend,
        CpSatBackend,
        ScipBackend,
        HighsBackend,
        CbcBackend,
        PerWeightCpSatBackend,
    )
}

AUTO = (None, "", "auto")  # the values of SolveParameters.backend that ask the registry to choose

# Weights mode: above this many patterns n 2^d (2^k - 1) "auto" takes the per-weight route (the
# lazy column model and the per-weight backend) instead of enumerating the pattern model
# (docs/design.md §3, §15). Measured by `bench/formulations.py --time-limit 20` (issue 11's gauss
# instances, min_error at a third of the weights, seed 0; a loaded 2-core machine): the pattern
# model did better (lower gap) at every case of 128-512 patterns (4:8 OPTIMAL 0% vs 41%; 4:16
# 59% vs 100%; 5:16 28% vs 58%; 6:8 35% vs 63%), the per-weight model at 8 of the 9 cases of
# 1,024-16,384 (6:16 87% vs 100%; 7:8 60% vs 100%; 8:8 14% vs 100%; 8:12 49% vs 100%; 9:8 65%
# vs 100%; 10:8 31% vs 100%; at 7:16, 9:16 and 10:16 both bounds were 0 and its error lower),
# the exception 8:16 (4,096: both bounds 0, error 2.45 patterns vs 3.32).
PATTERNS_THRESHOLD = 512


def per_weight_route(n: int, d: int, k: int, pruning: PruningMode, limits: Limits) -> bool:
    """Whether "auto" solves a problem of n units, input dimension d and k outputs on the
    per-weight route: weights mode with more patterns than PATTERNS_THRESHOLD, or more than the
    pattern model may enumerate (``limits.max_weight_candidates``). Reads sizes only, so the
    service's admission (solver/service/sizing.py) asks it of a message before converting it."""
    if pruning != PruningMode.WEIGHTS:
        return False
    patterns = weight_patterns(n, d, k)
    return patterns > PATTERNS_THRESHOLD or patterns > limits.max_weight_candidates


def prefer_per_weight(problem: Problem, limits: Limits) -> bool:
    """per_weight_route for ``problem``."""
    net = problem.network
    return per_weight_route(net.n, net.d, net.outputs, problem.pruning, limits)


def available_backends() -> dict[str, str]:
    """Installed backends and their solver versions."""
    return {name: cls.version() for name, cls in REGISTRY.items() if cls.available()}


def general_backends() -> list[str]:
    """The installed backends that accept every complete model and task, in preference order
    (not meet in the middle, not the per-weight backend, which takes weights mode only)."""
    return [
        name
        for name, cls in REGISTRY.items()
        if not cls.special_purpose and cls.solves_columns() and cls.available()
    ]


def get_backend(name: str | None) -> Backend:
    """The backend called ``name``; None, "" or "auto" (without a model to ask about) picks the
    preferred installed general backend, the one "auto" falls back to."""
    if name in AUTO:
        general = general_backends()
        if not general:
            raise BackendUnavailableError("no solver backend is installed")
        return REGISTRY[general[0]]()
    cls = REGISTRY.get(name)
    if cls is None:
        raise BackendUnavailableError(
            f"unknown backend {name!r}; known: {', '.join(sorted(REGISTRY))}"
        )
    if not cls.available():
        raise BackendUnavailableError(f"backend {name!r} is not installed")
    return cls()


def choose_backends(model: ColumnModel, task: Task) -> list[Backend]:
    """Every installed backend that accepts ``task`` on ``model``, in preference order: what
    "auto" tries, the first whose answer certifies winning. Ends with a backend that is not
    special-purpose (a general one, or the per-weight backend on a lazy model);
    BackendUnavailableError when none is installed or none accepts."""
    chosen = [cls() for cls in REGISTRY.values() if cls.available() and cls.accepts(model, task)]
    if not any(not backend.special_purpose for backend in chosen):
        if not model.complete:
            raise BackendUnavailableError(
                "no installed backend accepts the per-weight route (the lazy column model) for "
                "this problem and objective"
            )
        raise BackendUnavailableError("no solver backend is installed")
    return chosen
