"""Atomic file writes: a file is either the old one or the complete new one, never half."""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_write(path) -> Iterator[BinaryIO]:
    """Yield a new binary file beside ``path``; when the block ends without an error it is
    flushed, fsynced and renamed over ``path``, otherwise removed.

    A replaced file keeps its permission bits; a new one gets those of any new file (0o666
    less the umask). A symlink at ``path`` is followed, so the file it points to is
    replaced, not the link. Errors name ``path``, never the temporary file; a directory at
    ``path`` is refused before anything is written.
    """
    path = Path(os.path.realpath(path))
    _refuse_directory(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        try:
            f = open(tmp, "xb")
        except OSError as exc:
            reason = (f"directory {path.parent} does not exist" if not path.parent.exists()
                      else exc.strerror)
            raise type(exc)(f"cannot write to {path}: {reason}") from exc
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def check_writable(path) -> None:
    """Raise OSError naming ``path`` unless a file could be written there: its directory
    exists and is writable, and ``path`` is not a directory (for checks before long work)."""
    path = Path(os.path.realpath(path))
    _refuse_directory(path)
    if not path.parent.exists():
        raise FileNotFoundError(f"cannot write to {path}: directory {path.parent} does not "
                                "exist")
    if not path.parent.is_dir():
        raise NotADirectoryError(f"cannot write to {path}: {path.parent} is not a directory")
    if not os.access(path.parent, os.W_OK):
        raise PermissionError(f"cannot write to {path}: {path.parent} is not writable")


def _refuse_directory(path: Path) -> None:
    if path.is_dir():
        raise IsADirectoryError(f"cannot write to {path}: it is a directory")


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable; skipped where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
