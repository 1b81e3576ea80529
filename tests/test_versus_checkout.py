"""bench/versus_checkout.py loads another checkout as its own package and trains both."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_checkout_against_itself_trains_both_copies_in_turns():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "versus_checkout.py"), str(ROOT),
         "--backend", "numpy", "--batch", "64", "--rounds", "2", "--samples", "256"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "numpy, batch 64, 2 rounds of one epoch each" in done.stdout
    for name in ("this", "other"):
        assert re.search(rf"^  {name} +median \d+\.\d{{3}} s per epoch", done.stdout, re.M)
    assert re.search(r"this / other, round by round: median \d+\.\d{3} .* of 2$", done.stdout,
                     re.M)


def test_the_other_package_imports_nothing_of_this_one(tmp_path):
    """Every import of ``fastnn`` in the copy is renamed: training through it loads only
    ``fastnn_other`` modules for its own code."""
    code = f"""
import sys
sys.path.insert(0, {str(ROOT / "bench")!r})
from pathlib import Path
import numpy as np
import fastnn, versus_checkout
other = versus_checkout.load_other(Path({str(ROOT)!r}), Path({str(tmp_path)!r}))
model = other.MLP([4, 8, 2], seed=0)
with other.use_backend("numpy"):
    model.fit(np.random.default_rng(0).random((32, 4)), np.arange(32) % 2, epochs=1,
              verbose=0)
assert other.Sequential is not fastnn.Sequential
theirs = {{name for name in sys.modules if name.startswith("fastnn_other.")}}
assert {{"fastnn_other.kernels.numpy_backend", "fastnn_other.training"}} <= theirs, theirs
for name in theirs:
    path = getattr(sys.modules[name], "__file__", None) or ""
    assert path.startswith({str(tmp_path)!r}), (name, path)
print(len(theirs))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) > 10
