"""Every numba option of the backend, in one place.

- ``fastmath`` uses an explicit flag set WITHOUT ``nnan``/``ninf``: with them LLVM may
  assume no NaN or inf exists and compile finiteness checks away. ``reassoc`` lets
  reductions vectorise; their order is still fixed by the code, so results are
  deterministic for a given build.
- ``cache=True`` writes compiled kernels to a directory keyed by a hash of this backend's
  sources (numba's own cache only notices edits to the file a kernel is defined in, and
  the package directory may be read-only). ``NUMBA_CACHE_DIR``, if the user set it, wins.
- Parallel loops run over fixed-size chunks of work (``CHUNK``), never "one chunk per
  thread", so results do not depend on the thread count; work smaller than ``CHUNK``
  runs serially in the calling thread, because waking the pool costs more than it saves.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba

FASTMATH = {"nsz", "arcp", "contract", "reassoc"}
JIT = dict(nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")
CHUNK = 1 << 14  # elements per parallel work item


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


def configure_cache() -> None:
    """Point numba's cache at :func:`cache_dir`; must run before any kernel is defined."""
    numba.config.CACHE_DIR = str(cache_dir())
