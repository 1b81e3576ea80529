"""fastnn's CPU backends behind one kernel contract (``contract.py``).

Installed as ``fastnn.kernels``. Backends are imported lazily by name, so an unused one
costs nothing at import time:

- ``numpy``: the plain-numpy reference that defines every op's semantics;
- ``numba``: fused, compiled kernels (the default);
- ``check``: runs both on every call and raises if they disagree.

A backend implements the ops it speeds up and names them in its ``OPS``; the reference
provides the rest.
"""

from __future__ import annotations

import importlib

from .contract import Ops
from .errors import BackendError

REFERENCE = "numpy"
BACKENDS = {
    "numpy": "fastnn.kernels.numpy_backend",
    "numba": "fastnn.kernels.numba_backend",
    "check": "fastnn.kernels.check_backend",
}

_loaded: dict[str, object] = {}


def load_backend(name: str) -> Ops:
    """The backend called ``name``, imported and assembled on first use: its own ops, the
    reference's for the ops it leaves out (see ``contract.Ops``).

    Raises BackendError for an unknown name (listing the valid ones), a backend that
    cannot be imported here (saying why and how to pick another) or one that lists an
    op it does not define (naming it).
    """
    if not isinstance(name, str) or name not in BACKENDS:
        raise BackendError(
            f"unknown backend {name!r}; valid backends are {', '.join(sorted(BACKENDS))}")
    if name not in _loaded:
        try:
            module = importlib.import_module(BACKENDS[name])
        except ImportError as exc:
            raise BackendError(
                f"backend {name!r} cannot be loaded: {exc}. Install what it needs, or pick "
                f"another backend with FASTNN_BACKEND=numpy or fastnn.set_backend('numpy')"
            ) from exc
        reference = None if name == REFERENCE else load_backend(REFERENCE)
        try:
            _loaded[name] = Ops(module, reference)
        except LookupError as exc:
            raise BackendError(str(exc)) from None
    return _loaded[name]
