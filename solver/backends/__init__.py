"""Backend registry: the only module that knows every adapter, in preference order."""

from __future__ import annotations

from solver.backends.base import Backend
from solver.backends.cpsat import CpSatBackend
from solver.backends.pulp_backends import CbcBackend, HighsBackend
from solver.backends.scip import ScipBackend
from solver.core.errors import BackendUnavailableError

REGISTRY: dict[str, type[Backend]] = {
    cls.name: cls for cls in (CpSatBackend, ScipBackend, HighsBackend, CbcBackend)
}


def available_backends() -> dict[str, str]:
    """Installed backends and their solver versions."""
    return {name: cls.version() for name, cls in REGISTRY.items() if cls.available()}


def get_backend(name: str | None) -> Backend:
    """The backend called ``name``; None, "" or "auto" picks the preferred installed one."""
    if not name or name == "auto":
        for cls in REGISTRY.values():
            if cls.available():
                return cls()
        raise BackendUnavailableError("no solver backend is installed")
    cls = REGISTRY.get(name)
    if cls is None:
        raise BackendUnavailableError(
            f"unknown backend {name!r}; known: {', '.join(sorted(REGISTRY))}"
        )
    if not cls.available():
        raise BackendUnavailableError(f"backend {name!r} is not installed")
    return cls()
