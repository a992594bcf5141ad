"""Backend registry: the only module that knows every adapter, in preference order.

"auto" is a choice, not a name (cvxpy style): each registered backend is asked, in this order,
whether it accepts the model and task (Backend.accepts). Meet in the middle comes first: it
accepts only separable min_error tasks and answers them in one call; the general MIP backends
after it accept everything, CP-SAT first.
"""

from __future__ import annotations

from solver.backends.base import Backend, Task
from solver.backends.cbc import CbcBackend
from solver.backends.cpsat import CpSatBackend
from solver.backends.highs import HighsBackend
from solver.backends.mitm import MeetInTheMiddleBackend
from solver.backends.scip import ScipBackend
from solver.core.errors import BackendUnavailableError
from solver.formulation.columns import ColumnModel

REGISTRY: dict[str, type[Backend]] = {
    cls.name: cls
    for cls in (MeetInTheMiddleBackend, CpSatBackend, ScipBackend, HighsBackend, CbcBackend)
}

AUTO = (None, "", "auto")  # the values of SolveParameters.backend that ask the registry to choose


def available_backends() -> dict[str, str]:
    """Installed backends and their solver versions."""
    return {name: cls.version() for name, cls in REGISTRY.items() if cls.available()}


def general_backends() -> list[str]:
    """The installed backends that accept every model and task, in preference order."""
    return [name for name, cls in REGISTRY.items() if not cls.special_purpose and cls.available()]


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
    "auto" tries, the first whose answer certifies winning. Ends with a general backend (they
    accept everything); BackendUnavailableError when none is installed."""
    chosen = [cls() for cls in REGISTRY.values() if cls.available() and cls.accepts(model, task)]
    if not any(not backend.special_purpose for backend in chosen):
        raise BackendUnavailableError("no solver backend is installed")
    return chosen
