"""Where data files are looked for, and the digests they must match.

Places, in the loaders' search order: the ``FASTNN_DATA`` directory, the copy bundled in
the ``fastnn._data`` package, and the user cache (``$XDG_CACHE_HOME/fastnn``, default
``~/.cache/fastnn``). Published digests are keyed by a path relative to the bundle
(``mnist/train-images-idx3-ubyte.gz``): the bundled ``SHA256SUMS`` lists every bundled
file, :data:`NOT_BUNDLED` the files fastnn may download but does not ship. A file that
passed its check is remembered by (path, size, mtime) for the rest of the process.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import os
from pathlib import Path

from fastnn.errors import ChecksumError, DataFileError

__all__ = ["bundled", "env_root", "cache_dir", "expected_sha256", "known_as", "sha256_file",
           "verify", "NOT_BUNDLED"]

# Fashion-MNIST (Zalando Research, MIT licence), as published in its README.
NOT_BUNDLED = {
    "fashion-mnist/train-images-idx3-ubyte.gz":
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "fashion-mnist/train-labels-idx1-ubyte.gz":
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "fashion-mnist/t10k-images-idx3-ubyte.gz":
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "fashion-mnist/t10k-labels-idx1-ubyte.gz":
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
_BLOCK = 1 << 20
_verified: set[tuple[str, int, int]] = set()


def bundled(relpath: str) -> Path | None:
    """The bundled file or directory ``relpath`` (e.g. ``"mnist"``), or None if absent."""
    try:
        root = importlib.resources.files("fastnn._data")
    except ModuleNotFoundError:
        return None
    path = Path(str(root.joinpath(relpath)))
    return path if path.exists() else None


def env_root() -> Path | None:
    """The ``FASTNN_DATA`` directory, or None if the variable is unset or empty;
    DataFileError if it is set but names no directory (a typo must not go unnoticed)."""
    root = os.environ.get("FASTNN_DATA")
    if not root:
        return None
    if not os.path.isdir(root):
        raise DataFileError(f"FASTNN_DATA={root!r} is not a directory: point it at the "
                            "directory holding your data files, or unset it")
    return Path(root)


def cache_dir(subdir: str) -> Path:
    """``$XDG_CACHE_HOME/fastnn/<subdir>``, with ``~/.cache`` when the variable is unset."""
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "fastnn" / subdir


@functools.cache
def _published() -> dict[str, str]:
    """Parse the bundled SHA256SUMS into ``{relative path: lowercase hex digest}``."""
    sums = bundled("SHA256SUMS")
    if sums is None:
        raise DataFileError("fastnn._data/SHA256SUMS: expected the bundled digest list, found none")
    digests = {}
    for number, line in enumerate(sums.read_text(encoding="ascii").splitlines(), start=1):
        digest, sep, name = line.partition(" ")
        if len(digest) != 64 or not sep or not name.strip():
            raise DataFileError(
                f"{sums}: line {number}: expected '<sha256>  <path>', found {line!r}"
            )
        digests[name.strip().lstrip("*")] = digest.lower()
    return digests


def expected_sha256(relpath: str) -> str | None:
    """The published digest for ``relpath`` (relative to the bundle), or None if unlisted."""
    return _published().get(relpath) or NOT_BUNDLED.get(relpath)


def known_as(digest: str) -> str | None:
    """The relative path of the published file whose digest is ``digest``, or None."""
    return next((relpath for table in (_published(), NOT_BUNDLED)
                 for relpath, listed in table.items() if listed == digest), None)


def sha256_file(path: Path) -> str:
    """Hex sha256 of the file at ``path``, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, relpath: str) -> None:
    """Raise ChecksumError unless ``path`` matches the digest published for ``relpath``;
    the error keeps both digests as ``expected`` and ``found``."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _verified:
        return
    expected = expected_sha256(relpath)
    if expected is None:
        raise DataFileError(f"{path}: expected {relpath} to have a published digest, it has "
                            "none")
    actual = sha256_file(path)
    if actual != expected:
        err = ChecksumError(
            f"{path}: sha256 mismatch for {relpath}: expected {expected}, found {actual}"
            " (the file is corrupt or not the published one; delete it or replace it)"
        )
        err.expected, err.found = expected, actual
        raise err
    _verified.add(key)
