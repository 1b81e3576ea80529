"""fastnn.datasets.load_csv and ``fastnn train TABLE.csv``: a user's own table."""

import gzip

import numpy as np
import pytest

import fastnn.backend
from fastnn import cli
from fastnn.datasets import Table, load_csv
from fastnn.errors import DataFileError


@pytest.fixture(autouse=True)
def keep_process_backend(monkeypatch):
    """``--backend`` calls fnn.set_backend; undo it after each test."""
    monkeypatch.setattr(fastnn.backend, "_default", fastnn.backend._default)


def write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_csv_takes_the_target_by_name_anywhere(tmp_path):
    path = write(tmp_path, "a, species ,b\n1,cat,2.5\n-3e2,dog,4\n")
    table = load_csv(path, target="species")
    assert isinstance(table, Table)
    X, y, names = table
    assert X.dtype == np.float32 and X.tolist() == [[1.0, 2.5], [-300.0, 4.0]]
    assert y.tolist() == ["cat", "dog"] and names == ["a", "b"]


def test_a_numeric_target_is_float64(tmp_path):
    X, y, names = load_csv(write(tmp_path, "y,x\n1,2\n0,3\n"), "y")
    assert y.dtype == np.float64 and y.tolist() == [1.0, 0.0] and names == ["x"]


def test_gzip_bom_crlf_and_trailing_blank_lines(tmp_path):
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(b"\xef\xbb\xbfx,y\r\n1,2\r\n3,4\r\n\r\n"))
    X, y, _ = load_csv(path, "y")
    assert X.tolist() == [[1.0], [3.0]] and y.tolist() == [2.0, 4.0]


@pytest.mark.parametrize("text, target, words", [
    ("x,y\n1,2\n3,abc\n", "x", ["line 3", "column 'y'", "'abc'"]),
    ("x,y\n1,2\n,4\n", "y", ["line 3", "column 'x'", "empty cell"]),
    ("x,y\n1,nan\n", "x", ["line 2", "column 'y'", "'nan'"]),
    ("x,y\n1,1e39\n", "x", ["line 2", "column 'y'", "float32"]),
    ("x,y\n1,2\n3\n", "y", ["line 3", "expected 2 fields, found 1"]),
    ("x,y\n1,\n", "y", ["line 2", "column 'y'", "target value", "empty"]),
    ("x,y\n1,2\n", "z", ["no column named 'z'", "x, y"]),
    ("x,x\n1,2\n", "x", ["line 1", "'x' appears twice"]),
    ("x,,y\n1,2,3\n", "y", ["line 1", "column 2 has none"]),
    ("y\n1\n", "y", ["feature columns"]),
    ("x,y\n", "y", ["data rows"]),
    ("", "y", ["empty file"]),
])
def test_bad_tables_name_the_line_and_column(tmp_path, text, target, words):
    path = write(tmp_path, text)
    with pytest.raises(DataFileError) as info:
        load_csv(path, target)
    message = str(info.value)
    for word in (str(path), *words):
        assert word in message, message


def run(capsys, *argv):
    status = cli.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out, err


def blobs_csv(tmp_path, n=200):
    """Two well separated classes named by strings, plus a noise feature."""
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, n)
    x1 = rng.normal(size=n) + 6 * label
    x2 = rng.normal(size=n)
    rows = [f"{a:.5f},{b:.5f},{['setosa', 'other'][c]}" for a, b, c in zip(x1, x2, label)]
    return write(tmp_path, "x1,x2,kind\n" + "\n".join(rows) + "\n")


def test_train_classify_on_a_csv_with_string_labels(capsys, tmp_path):
    path = blobs_csv(tmp_path)
    model_path = tmp_path / "m.npz"
    status, out, err = run(capsys, "train", path, "--target", "kind", "--task", "classify",
                           "--backend", "numpy", "--save", model_path)
    assert status == 0, err
    assert "classes: other=0, setosa=1" in out
    assert "model 2-32-2 relu, loss softmax_cross_entropy" in out and "160 training rows" in out
    accuracy = float(out.split("test accuracy ")[1].split()[0])
    assert accuracy >= 0.95 and "held-out 20%" in out
    assert "tutorial target" not in out
    assert fastnn.load(model_path).sizes == (2, 32, 2)


def test_a_saved_table_model_takes_raw_rows_and_predicts_the_class_names(capsys, tmp_path):
    """train TABLE.csv --save, then load(...).predict on the table's own raw rows: the
    model standardises them itself and answers with the class names, as accurate as the
    run was (features far from mean 0 and scale 1, so an unscaled model could not)."""
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, 300)
    x1 = 1000 + 100 * (rng.normal(size=300) + 4 * label)
    x2 = 0.01 * rng.normal(size=300)
    rows = [f"{a:.3f},{b:.6f},{['setosa', 'other'][c]}" for a, b, c in zip(x1, x2, label)]
    path = write(tmp_path, "x1,x2,kind\n" + "\n".join(rows) + "\n")
    model_path = tmp_path / "m.npz"
    status, out, err = run(capsys, "train", path, "--target", "kind", "--task", "classify",
                           "--backend", "numpy", "--save", model_path)
    assert status == 0, err
    assert "standardises them itself" in out
    assert "predict returns the class names (other, setosa)" in out
    X, y, _ = load_csv(path, "kind")
    predicted = fastnn.load(model_path).predict(X)
    assert predicted.tolist() and set(predicted.tolist()) == {"setosa", "other"}
    assert np.mean(predicted == y) >= 0.95


def test_train_regress_on_a_csv_reports_r2(capsys, tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3))
    y = 3 * X[:, 0] - 2 * X[:, 1] + 0.1 * rng.normal(size=300) + 50
    rows = "\n".join(",".join(f"{v:.5f}" for v in (*x, t)) for x, t in zip(X, y))
    path = write(tmp_path, "a,b,c,price\n" + rows + "\n")
    status, out, err = run(capsys, "train", path, "--target", "price", "--task", "regress",
                           "--backend", "numpy", "--epochs", 60)
    assert status == 0, err
    assert "loss mse" in out and "classes:" not in out
    assert float(out.split("test r2 ")[1].split()[0]) >= 0.9


def test_a_saved_regression_takes_raw_rows_and_predicts_in_the_targets_units(capsys,
                                                                            tmp_path):
    """The saved model answers in the table's units (prices about 50), not in the
    standardised ones it was trained on."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3)) * [1, 100, 0.01] + [0, 500, 2]
    y = 3 * (X[:, 0] - 0) - 2 * (X[:, 1] - 500) / 100 + 0.1 * rng.normal(size=300) + 50
    rows = "\n".join(",".join(f"{v:.5f}" for v in (*x, t)) for x, t in zip(X, y))
    path = write(tmp_path, "a,b,c,price\n" + rows + "\n")
    model_path = tmp_path / "m.npz"
    status, out, err = run(capsys, "train", path, "--target", "price", "--task", "regress",
                           "--backend", "numpy", "--epochs", 60, "--save", model_path)
    assert status == 0, err
    assert "predict returns the target in the table's own units" in out
    X, y, _ = load_csv(path, "price")
    predicted = fastnn.load(model_path).predict(X)
    r2 = 1 - np.sum((predicted - y) ** 2) / np.sum((y - y.mean()) ** 2)
    assert r2 >= 0.9, r2


@pytest.mark.parametrize("argv, words", [
    (["--target", "kind"], ["--target COLUMN and --task classify|regress"]),
    (["--task", "classify"], ["--target COLUMN"]),
    (["--target", "nope", "--task", "classify"], ["no column named 'nope'"]),
    (["--target", "x1", "--task", "regress"], ["column 'kind'", "expected a finite"]),
    (["--target", "kind", "--task", "regress"], ["regress needs numbers", "line 2",
                                                 "--task classify"]),
    (["--target", "kind", "--task", "sort"], ["--task"]),
])
def test_table_usage_errors_are_one_line(capsys, tmp_path, argv, words):
    path = blobs_csv(tmp_path, n=20)
    status, out, err = run(capsys, "train", path, "--backend", "numpy", "--epochs", 1, *argv)
    assert status == 2 and err.startswith("fastnn: error: ") and err.count("\n") == 1, err
    for word in words:
        assert word in err, err


def numeric_target_csv(tmp_path, y):
    """A table of one noise feature and the numeric target y."""
    x = np.random.default_rng(0).normal(size=len(y))
    return write(tmp_path, "x,y\n" + "\n".join(f"{a:.5f},{t!r}" for a, t in zip(x, y)) + "\n")


@pytest.mark.parametrize("kind", ["fractional", "integer"])
def test_classify_refuses_a_target_that_looks_continuous(capsys, tmp_path, kind):
    """Like diabetes' target (442 rows, 214 distinct values): not 214 classes."""
    rng = np.random.default_rng(0)
    y = rng.normal(150, 70, 442)
    y = np.round(y, 2) if kind == "fractional" else np.round(y).astype(int)
    path = numeric_target_csv(tmp_path, y.tolist())
    status, out, err = run(capsys, "train", path, "--target", "y", "--task", "classify",
                           "--backend", "numpy", "--epochs", 1)
    assert status == 2 and err.count("\n") == 1, err
    assert "looks continuous" in err and "--task regress" in err
    assert f"{len(np.unique(y))} distinct values in 442 rows" in err


@pytest.mark.parametrize("y", [[0, 1, 2] * 7, [1.0, 2.5, 4.0, 7.5] * 50],
                         ids=["21 rows, 3 classes", "4 fractional values"])
def test_classify_takes_a_few_numeric_classes(capsys, tmp_path, y):
    status, out, err = run(capsys, "train", numeric_target_csv(tmp_path, y), "--target", "y",
                           "--task", "classify", "--backend", "numpy", "--epochs", 1)
    assert status == 0 and err == "", err


def test_regress_on_a_target_that_looks_like_classes_warns(capsys, tmp_path):
    path = numeric_target_csv(tmp_path, [0, 1] * 50)
    status, out, err = run(capsys, "train", path, "--target", "y", "--task", "regress",
                           "--backend", "numpy", "--epochs", 1)
    assert status == 0
    assert err.startswith("fastnn: warning: ") and err.count("\n") == 1, err
    assert "only 2 distinct values, all integers (0, 1)" in err and "--task classify" in err


def test_one_class_is_refused(capsys, tmp_path):
    path = write(tmp_path, "x,y\n1,a\n2,a\n3,a\n")
    status, _, err = run(capsys, "train", path, "--target", "y", "--task", "classify")
    assert status == 2 and "one value only ('a')" in err


def test_target_and_task_are_for_tables_only(capsys):
    status, _, err = run(capsys, "train", "xor", "--target", "y")
    assert status == 2 and "--target and --task are for CSV tables" in err


def test_an_unknown_problem_that_is_no_csv_lists_the_problems(capsys):
    status, _, err = run(capsys, "train", "nope.txt")
    assert status == 2 and "'nope.txt'" in err and "fashion-mnist" in err and ".csv" in err
