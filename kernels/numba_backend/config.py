"""Every numba option of the backend, in one place.

- ``fastmath`` uses an explicit flag set WITHOUT ``nnan``/``ninf``: with them LLVM may
  assume no NaN or inf exists and compile finiteness checks away. ``reassoc`` lets
  reductions vectorise; their order is still fixed by the code, so results are
  deterministic for a given build.
- ``cache=True`` writes compiled kernels to a directory keyed by a hash of this backend's
  sources (numba's own cache only notices edits to the file a kernel is defined in, and
  the package directory may be read-only). ``NUMBA_CACHE_DIR``, if the user set it, wins.
- Parallel loops run over fixed-size chunks of work (``CHUNK``), never "one chunk per
  thread", so results do not depend on the thread count; work of one chunk or less runs
  serially in the calling thread. The chunk is large (2^18 elements) because fastnn's
  passes sit between BLAS calls, which already use every core: measured on the 2-core
  machine, one MNIST epoch at batch 128 took 0.69 s with these passes serial and 0.88 to
  1.07 s with them parallel (thread wake-ups, and contention with OpenBLAS's pool).
- numba's OpenMP threads wait passively: spinning ones starve OpenBLAS's threads (the
  same epoch took 19 s with OpenMP's default spinning). OpenMP reads
  ``OMP_WAIT_POLICY`` once, when numba's threading layer loads it, so the backend starts
  numba's pool at load with ``OMP_WAIT_POLICY=PASSIVE`` set for that moment only and
  then restores the environment exactly: an OpenMP library that starts later in the
  process (PyTorch's, scikit-learn's) reads the user's environment, not fastnn's. A
  policy the user set is left alone.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numba

FASTMATH = {"nsz", "arcp", "contract", "reassoc"}
JIT = dict(nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")
CHUNK = 1 << 18  # elements per parallel work item
inline = numba.njit(inline="always", **JIT)  # for helpers inlined into the kernels


def sources_digest() -> str:
    """Short sha256 of this backend's Python sources: the cache key."""
    digest = hashlib.sha256(numba.__version__.encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    """Where compiled kernels are cached: $NUMBA_CACHE_DIR, else a per-user folder."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "fastnn" / "numba" / sources_digest()


def configure() -> None:
    """Point numba's cache at :func:`cache_dir` and start numba's threads waiting
    passively; must run before any kernel is defined."""
    numba.config.CACHE_DIR = str(cache_dir())
    start_threads()


_pool_started = False


def start_threads() -> int:
    """Start numba's thread pool (if not yet started) with OpenMP's passive wait, leaving
    the environment as it was; returns the pool's size. If other code already started it
    with the default (spinning) wait, a RuntimeWarning says how to fix it."""
    global _pool_started
    if _pool_started or "OMP_WAIT_POLICY" in os.environ:  # ours, or the user's choice
        numba.get_num_threads()
        _pool_started = True
        return numba.config.NUMBA_NUM_THREADS
    _pool_started = True
    if _openmp_started():
        warnings.warn(
            "numba's OpenMP threads were started before fastnn loaded, with the default "
            "spinning wait, which slows BLAS on large networks; set OMP_WAIT_POLICY=PASSIVE "
            "in the environment, or load fastnn's numba backend first",
            RuntimeWarning, stacklevel=3)
        return numba.config.NUMBA_NUM_THREADS
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        numba.get_num_threads()  # loads the threading layer and starts the pool
    finally:
        del os.environ["OMP_WAIT_POLICY"]
    return numba.config.NUMBA_NUM_THREADS


def _openmp_started() -> bool:
    try:
        return numba.threading_layer() == "omp"
    except ValueError:  # numba has not started its threads
        return False
