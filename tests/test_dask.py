"""fastnn estimators on a dask cluster (two local worker processes, loopback only): a grid
search through joblib's dask backend equals the same search run in this process, and each
worker runs fastnn on the thread count it was given."""

import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
pytest.importorskip("sklearn", minversion="1.6")

import joblib  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

import fastnn as fnn  # noqa: E402
from fastnn.distributed import set_worker_threads, worker_env  # noqa: E402
from fastnn.sklearn import MLPClassifier  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        set_worker_threads(client, 1)
        yield client


def test_each_worker_runs_fastnn_on_one_thread(client):
    workers = list(client.scheduler_info()["workers"])
    assert len(workers) == 2
    for address in workers:  # thread_info in a task thread, where the training runs
        info = client.submit(fnn.thread_info, workers=[address], pure=False).result()
        assert info["requested"] == 1 and info["numba_threads"] == 1
        assert all(pool["num_threads"] == 1 for pool in info["blas"])


def test_grid_search_on_dask_equals_local(client):
    X, y = make_classification(300, 10, n_informative=5, n_classes=3, random_state=0)
    est = MLPClassifier(max_iter=10, learning_rate_init=0.01, random_state=0)
    grid = {"hidden_layer_sizes": [(4,), (16,)], "alpha": [1e-4, 1.0]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        local = GridSearchCV(est, grid, cv=3, n_jobs=1).fit(X, y)
        with joblib.parallel_backend("dask"):
            remote = GridSearchCV(est, grid, cv=3, n_jobs=-1).fit(X, y)
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(remote.cv_results_["mean_test_score"],
                                  local.cv_results_["mean_test_score"])
    assert len(set(local.cv_results_["mean_test_score"])) > 1  # the grid matters


def test_worker_env_and_bad_counts():
    assert worker_env(2)["NUMBA_NUM_THREADS"] == "2"
    with pytest.raises(ValueError, match="positive integer"):
        worker_env(0)


def test_the_guides_dask_example_runs_as_a_script(tmp_path):
    """docs/ecosystem.md's Dask block, saved as a file and run with python: its worker
    processes import the script, which must not start a cluster of its own."""
    guide = (Path(__file__).parent.parent / "docs" / "ecosystem.md").read_text(encoding="utf-8")
    code = next(block for block in re.findall(r"```python\n(.*?)```", guide, re.DOTALL)
                if "LocalCluster" in block)
    script = tmp_path / "search.py"
    script.write_text(code, encoding="utf-8")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.fullmatch(r"\{'alpha': .*, 'hidden_layer_sizes': \(\d+,\)\}\n",
                        result.stdout), result.stdout
