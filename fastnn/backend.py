"""Which kernel backend fastnn calls: ``FASTNN_BACKEND``, ``set_backend``, ``use_backend``.

The process default comes from the environment variable ``FASTNN_BACKEND`` (``numba`` if
unset), read on first use. ``set_backend`` changes the process default; ``use_backend``
overrides it for a ``with`` block (per thread and per asyncio task, via a ContextVar).
Names are case-insensitive everywhere (``NumPy`` is ``numpy``); the name in force is
always reported in lower case.
"""

from __future__ import annotations

import contextlib
import contextvars
import os

from . import threads
from .kernels import BACKENDS, load_backend

DEFAULT_BACKEND = "numba"

_default: str | None = None
_override: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "fastnn_backend", default=None)


def _checked(name) -> str:
    """``name`` in lower case, after loading that backend (BackendError naming the
    problem, with the name as given)."""
    if isinstance(name, str) and name.lower() in BACKENDS:
        name = name.lower()
    threads.apply_env()
    load_backend(name)
    return name


def set_backend(name: str) -> None:
    """Make ``name`` (numpy, numba or check, any case) the process-wide backend."""
    global _default
    _default = _checked(name)


def backend_name() -> str:
    """The name of the backend in force here."""
    global _default
    override = _override.get()
    if override is not None:
        return override
    if _default is None:
        _default = _checked(os.environ.get("FASTNN_BACKEND", "").strip() or DEFAULT_BACKEND)
    return _default


def get_backend():
    """The backend module in force here (see ``fastnn.kernels.contract.Backend``)."""
    return load_backend(backend_name())


@contextlib.contextmanager
def use_backend(name: str):
    """``with use_backend("numpy"): ...`` runs the block on that backend (any case)."""
    name = _checked(name)
    token = _override.set(name)
    try:
        yield load_backend(name)
    finally:
        _override.reset(token)


__all__ = ["BACKENDS", "DEFAULT_BACKEND", "set_backend", "get_backend", "backend_name",
           "use_backend"]
