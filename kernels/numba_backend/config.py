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
- OpenMP threads wait passively (``OMP_WAIT_POLICY=PASSIVE`` unless the user set it):
  spinning numba threads starve OpenBLAS's threads; the same epoch took 19 s with
  OpenMP's default spinning.
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
    """Point numba's cache at :func:`cache_dir` and make OpenMP threads wait passively;
    must run before any kernel is defined. OpenMP reads the policy when numba starts its
    threads: if other code already started them with the default (spinning) wait, a
    RuntimeWarning says how to fix it."""
    numba.config.CACHE_DIR = str(cache_dir())
    if "OMP_WAIT_POLICY" not in os.environ and _openmp_started():
        warnings.warn(
            "numba's OpenMP threads were started before fastnn loaded, with the default "
            "spinning wait, which slows BLAS on large networks; set OMP_WAIT_POLICY=PASSIVE "
            "in the environment, or load fastnn's numba backend first",
            RuntimeWarning, stacklevel=2)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _openmp_started() -> bool:
    try:
        return numba.threading_layer() == "omp"
    except ValueError:  # numba has not started its threads
        return False
