"""The linter, with the rule set chosen in pyproject.toml ([tool.ruff]), passes on the tree."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_passes():
    if shutil.which("ruff") is None and subprocess.run(
            [sys.executable, "-m", "ruff", "--version"], capture_output=True).returncode:
        pytest.fail("ruff is not installed: it is part of the dev extra (pip install -e '.[dev]')")
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", str(ROOT)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_merge_conflict_markers_are_left():
    """Lines a merge leaves around a conflict, in any tracked text file (ruff sees only
    Python; a changelog once kept them)."""
    files = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=ROOT)
    if files.returncode:
        pytest.skip("not a git checkout: no list of tracked files")
    left = []
    for name in files.stdout.split():
        path = ROOT / name
        if path.suffix not in {".py", ".md", ".toml", ".txt", ".cfg", ".yml", ".yaml", ""}:
            continue
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        left += [f"{name}:{i}" for i, line in enumerate(lines, 1)
                 if line.startswith(("<<<<<<< ", ">>>>>>> ")) or line == "======="]
    assert not left, f"merge conflict markers left in {', '.join(left)}"
