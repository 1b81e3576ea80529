"""Every numba option of the backend, in one place.

- ``fastmath`` uses an explicit flag set WITHOUT ``nnan``/``ninf``: with them LLVM may
  assume no NaN or inf exists and compile finiteness checks away. ``reassoc`` lets
  reductions vectorise; their order is still fixed by the code, so results are
  deterministic for a given build.
- ``cache=True`` writes compiled kernels to a directory keyed by a hash of the kernels'
  sources, the units this backend compiles included (numba's own cache only notices
  edits to the file a kernel is defined in, and the package directory may be read-only).
  ``NUMBA_CACHE_DIR``, if the user set it, wins.
- No kernel runs in parallel: fastnn's passes sit between BLAS calls, which already use
  every core (measured on the 2-core machine, one MNIST epoch at batch 128 took 0.69 s
  with these passes serial and 0.88 to 1.07 s with them parallel: thread wake-ups, and
  contention with OpenBLAS's pool), and a parallel kernel costs seconds more to compile.
  Reductions over many samples still run over fixed chunks (``CHUNK`` elements), added in
  order, so a result does not depend on how the caller splits its data.
- OpenMP's settings are left alone. numba's OpenMP threads, spinning after a parallel
  region, used to starve OpenBLAS's threads when parallel passes ran between the
  products of every step (an epoch took 19 s instead of 0.26 s), and the backend set
  ``OMP_WAIT_POLICY=PASSIVE``. But the OpenMP runtime is shared: PyTorch's wheel links
  ``libgomp.so.1`` by name, so it runs on the one numba loaded, and a passive policy set
  for numba made PyTorch's epochs 1.55x slower in the same process. Instead, fastnn never
  enters a numba parallel region (the driver runs each epoch in one thread beside BLAS).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba

FASTMATH = {"nsz", "arcp", "contract", "reassoc"}
JIT = dict(nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")
CHUNK = 1 << 18  # elements per chunk of a reduction
inline = numba.njit(inline="always", **JIT)  # for helpers inlined into the kernels


def sources_digest() -> str:
    """Short sha256 of the kernels' Python sources (this backend's and the units' it
    compiles: activations, optimizer rules, scalar math): the cache key."""
    digest = hashlib.sha256(numba.__version__.encode())
    kernels = Path(__file__).parent.parent
    for path in sorted(kernels.rglob("*.py")):
        digest.update(str(path.relative_to(kernels)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    """Where compiled kernels are cached: $NUMBA_CACHE_DIR, else a per-user folder."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "fastnn" / "numba" / sources_digest()


def configure() -> None:
    """Point numba's cache at :func:`cache_dir`; must run before any kernel is defined."""
    numba.config.CACHE_DIR = str(cache_dir())
