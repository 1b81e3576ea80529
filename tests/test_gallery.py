"""The gallery scripts (examples/gallery_*.py) each write the PNG the guides show.

Each runs in a fresh process into tmp_path (a few seconds each with a warm numba cache;
the MNIST ones train on a 10,000-image slice). Regenerate the pictures in docs/images/
with ``for f in examples/gallery_*.py; do python "$f"; done`` from the repository root.
"""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "examples").glob("gallery_*.py"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_BYTES = 200_000  # the committed pictures stay small


def default_path(script: Path) -> Path:
    """The picture a script writes by default: its ``default="docs/images/NAME.png"``."""
    text = script.read_text(encoding="utf-8")
    start = text.index('default="docs/images/') + len('default="')
    return ROOT / text[start:text.index('"', start)]


def test_there_is_a_gallery():
    assert len(SCRIPTS) >= 6, [script.name for script in SCRIPTS]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda script: script.stem)
def test_script_writes_its_png(script, tmp_path):
    out = tmp_path / f"{script.stem}.png"
    result = subprocess.run([sys.executable, str(script), str(out)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    assert 5_000 < out.stat().st_size < MAX_BYTES
    assert f"wrote {out}" in result.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda script: script.stem)
def test_committed_picture_exists_and_is_shown(script):
    """The default output is in docs/images/, under 200 KB, and some guide shows it."""
    picture = default_path(script)
    assert picture.is_file(), f"run python {script.relative_to(ROOT)}"
    assert picture.stat().st_size < MAX_BYTES
    guides = "".join(page.read_text(encoding="utf-8") for page in (ROOT / "docs").glob("*.md"))
    assert f"images/{picture.name}" in guides, f"no guide shows {picture.name}"
