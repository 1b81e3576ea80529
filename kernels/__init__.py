"""fastnn's CPU backends behind one kernel contract (``contract.py``).

Installed as ``fastnn.kernels``. Backends are imported lazily by name, so an unused one
costs nothing at import time:

- ``numpy``: the plain-numpy reference that defines every op's semantics;
- ``numba``: fused, compiled kernels (the default);
- ``check``: runs both on every call and raises if they disagree.
"""

from __future__ import annotations

import importlib

from ..errors import BackendError

BACKENDS = {
    "numpy": "fastnn.kernels.numpy_backend",
    "numba": "fastnn.kernels.numba_backend",
    "check": "fastnn.kernels.check_backend",
}

_loaded: dict[str, object] = {}


def load_backend(name: str):
    """The backend module called ``name``, imported on first use.

    Raises BackendError for an unknown name (listing the valid ones) or a backend that
    cannot be imported here (saying why and how to pick another).
    """
    if not isinstance(name, str) or name not in BACKENDS:
        raise BackendError(
            f"unknown backend {name!r}; valid backends are {', '.join(sorted(BACKENDS))}")
    if name not in _loaded:
        try:
            _loaded[name] = importlib.import_module(BACKENDS[name])
        except ImportError as exc:
            raise BackendError(
                f"backend {name!r} cannot be loaded: {exc}. Install what it needs, or pick "
                f"another backend with FASTNN_BACKEND=numpy or fastnn.set_backend('numpy')"
            ) from exc
    return _loaded[name]
