"""The ``fastnn`` command: train, info, and one-line errors with exit status 2."""

import subprocess
import sys

import numpy as np
import pytest

import fastnn as fnn
import fastnn.backend
import fastnn.threads
from fastnn import cli
from fastnn.datasets import load_mnist, logic_gate
from fastnn.kernels import load_backend

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def keep_process_backend(monkeypatch):
    """``--backend`` calls fnn.set_backend; undo it after each test."""
    monkeypatch.setattr(fastnn.backend, "_default", fastnn.backend._default)


def run(capsys, *argv):
    status = cli.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("gate", ["xor", "and"])
def test_train_gate_prints_final_accuracy_and_backend(capsys, backend, gate):
    status, out, err = run(capsys, "train", gate, "--backend", backend)
    assert status == 0, err
    assert "train accuracy 1.0000" in out
    assert f"backend {backend}" in out.splitlines()[-1]


def test_train_verbose_2_prints_a_line_per_epoch(capsys, backend):
    status, out, err = run(capsys, "train", "xor", "--backend", backend, "--epochs", 3,
                           "--verbose", 2)
    assert status == 0, err
    epoch_lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epoch_lines] == ["1/3", "2/3", "3/3"]
    assert all("loss" in line and "accuracy" in line and "samples_per_s" in line
               for line in epoch_lines)


def test_train_overrides_reach_the_model(capsys, backend, tmp_path):
    path = tmp_path / "iris.npz"
    status, out, err = run(capsys, "train", "iris", "--backend", backend, "--hidden", "5,4",
                           "--epochs", 7, "--batch-size", 16, "--lr", 0.01, "--seed", 3,
                           "--save", path)
    assert status == 0, err
    assert "model 4-5-4-3 relu" in out and "SGD(lr=0.01," in out
    assert "7 epochs, batch 16" in out
    model = fnn.load(path)
    assert model.sizes == (4, 5, 4, 3) and model.seed == 3


def test_hidden_none_and_full_batch(capsys, backend):
    status, out, err = run(capsys, "train", "iris", "--backend", backend, "--hidden", "none",
                           "--batch-size", "full")
    assert status == 0, err
    assert "model 4-3, loss softmax_cross_entropy" in out and "full batch" in out
    assert float(out.split("test accuracy ")[1].split()[0]) >= 0.95  # softmax regression


def test_save_writes_a_model_that_load_reads(capsys, backend, tmp_path):
    path = tmp_path / "and.npz"
    status, out, err = run(capsys, "train", "and", "--backend", backend, "--save", path)
    assert status == 0, err
    assert f"saved the model to {path}" in out
    model = fnn.load(path)
    X, y = logic_gate("and")
    assert model.sizes == (2, 1) and model.loss == "sigmoid_bce"
    np.testing.assert_array_equal(model.predict(X), y)


def test_ctrl_c_saves_the_finished_epochs_and_says_so(capsys, backend, tmp_path, monkeypatch):
    """An interrupt in the second compiled call of iris's 300 full-batch epochs: --save
    gets the model of the last finished epoch (the same parameters as a run of that many
    epochs), stderr says so, and the exit status is 130."""
    from fastnn.problems import PROBLEMS

    ops = load_backend(backend)
    real, calls = ops.train_epochs, []

    def interrupted(*args):
        calls.append(args[5])  # n_epochs
        stats = real(*args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return stats

    monkeypatch.setattr(ops, "train_epochs", interrupted)
    path = tmp_path / "iris.npz"
    status, out, err = run(capsys, "train", "iris", "--backend", backend, "--save", path)
    assert status == cli.EXIT_INTERRUPTED, err
    done = calls[0]
    assert f"interrupted after {done} of 300 epochs: saved the model of epoch {done} to " \
           f"{path}" in err
    monkeypatch.undo()
    problem = PROBLEMS["iris"]
    train, _ = problem.load()
    with fnn.use_backend(backend):
        reference = problem.build()
        problem.fit(reference, train, epochs=done)
    np.testing.assert_array_equal(fnn.load(path).params, reference.params)


def test_ctrl_c_before_the_first_epoch_saves_nothing(capsys, tmp_path, monkeypatch):
    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(load_backend("numpy"), "train_epochs", interrupted)
    path = tmp_path / "iris.npz"
    status, out, err = run(capsys, "train", "iris", "--backend", "numpy", "--save", path)
    assert status == cli.EXIT_INTERRUPTED
    assert "nothing saved" in err and not path.exists()


def test_plot_writes_history_and_decision_boundary(capsys, backend, tmp_path):
    pytest.importorskip("matplotlib")
    status, out, err = run(capsys, "train", "moons", "--backend", backend, "--plot",
                           tmp_path / "x.png")
    assert status == 0, err
    for name in ("x.png", "x-boundary.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG_SIGNATURE
        assert f"wrote {tmp_path / name}" in out


@pytest.mark.slow
def test_plot_writes_mnist_image_grid_and_the_saved_model_says_what_it_takes(capsys, backend,
                                                                            tmp_path):
    pytest.importorskip("matplotlib")
    status, out, err = run(capsys, "train", "softmax-mnist", "--backend", backend,
                           "--epochs", 1, "--plot", tmp_path / "m.png", "--save",
                           tmp_path / "m.npz")
    assert status == 0, err
    assert "1 epoch, batch 128" in out
    accuracy = float(out.split("test accuracy ")[1].split()[0])
    assert accuracy > 0.85
    for name in ("m.png", "m-images.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG_SIGNATURE
    # The saved model takes what the message says: uint8 pixels, scoring as printed.
    assert "the 0-255 pixels of load_mnist(dtype=np.uint8)" in out
    _, (X_test, y_test) = load_mnist(dtype=np.uint8)
    score = fnn.load(tmp_path / "m.npz").evaluate(X_test, y_test)["accuracy"]
    assert f"{score:.4f}" == f"{accuracy:.4f}"


def test_plot_without_a_picture_writes_only_the_history(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    status, out, err = run(capsys, "train", "not", "--backend", "numpy", "--plot",
                           tmp_path / "n.png")
    assert status == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.png"]


def test_info_prints_versions_backend_and_threads(capsys, backend):
    status, out, err = run(capsys, "info", "--backend", backend)
    assert status == 0, err
    rows = dict(line.split(None, 1) for line in out.splitlines()
                if line and not line.startswith(" ") and line != "threads:")
    assert rows["fastnn"] == fnn.__version__
    assert rows["numpy"] == np.__version__
    assert set(rows) >= {"python", "numba", "tqdm", "threadpoolctl", "matplotlib",
                         "FASTNN_BACKEND"}
    assert rows["backend"] == backend
    assert "threads:" in out and "  cpu_count: " in out and "  blas:" in out


def test_bad_fastnn_backend_fails_before_any_work(capsys, monkeypatch):
    monkeypatch.setenv("FASTNN_BACKEND", "nope")
    monkeypatch.setattr(fastnn.backend, "_default", None)  # as in a fresh process
    status, out, err = run(capsys, "train", "xor")
    assert (status, out) == (2, "")
    assert err.startswith("fastnn: error: unknown backend 'nope'") and err.count("\n") == 1
    status, out, err = run(capsys, "info")  # a bad setting is an error for info too
    assert (status, out) == (2, "")
    assert err.startswith("fastnn: error: unknown backend 'nope'") and err.count("\n") == 1


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_bad_fastnn_num_threads_makes_info_exit_2(capsys, monkeypatch, value):
    monkeypatch.setenv("FASTNN_NUM_THREADS", value)
    monkeypatch.setattr(fastnn.backend, "_default", None)  # as in a fresh process
    monkeypatch.setattr(fastnn.threads, "_env_applied", False)
    status, out, err = run(capsys, "info")
    assert (status, out) == (2, "")
    assert "FASTNN_NUM_THREADS must be a positive integer" in err and repr(value) in err


def test_backend_names_are_case_insensitive(capsys, monkeypatch):
    status, out, err = run(capsys, "info", "--backend", "NumPy")
    assert status == 0, err
    rows = dict(line.split(None, 1) for line in out.splitlines()
                if line and not line.startswith(" ") and line != "threads:")
    assert rows["backend"] == "numpy"
    monkeypatch.setenv("FASTNN_BACKEND", "NUMPY")
    monkeypatch.setattr(fastnn.backend, "_default", None)
    status, out, err = run(capsys, "train", "not", "--epochs", 2)
    assert status == 0, err
    assert out.splitlines()[1].endswith("backend numpy")


@pytest.mark.parametrize("suffix", [".txt", ".jpg", ".PNG2"])
def test_an_unsupported_plot_suffix_is_refused_before_training(capsys, tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    status, out, err = run(capsys, "train", "xor", "--plot", path)
    assert (status, out) == (2, "")
    assert err.startswith(f"fastnn: error: argument --plot: cannot write a figure as "
                          f"'{suffix}'") and err.count("\n") == 1, err
    assert ".png, .svg, .pdf" in err and not path.exists()


def test_save_into_a_missing_directory_says_it_does_not_exist(capsys, tmp_path):
    status, out, err = run(capsys, "train", "xor", "--save", tmp_path / "nope" / "m.npz")
    assert (status, out) == (2, "")
    assert f"directory {tmp_path / 'nope'} does not exist" in err
    (tmp_path / "file").write_text("")
    status, out, err = run(capsys, "train", "xor", "--save", tmp_path / "file" / "m.npz")
    assert status == 2 and f"{tmp_path / 'file'} is not a directory" in err


def test_a_missed_target_is_said_plainly(capsys):
    status, out, err = run(capsys, "train", "xor", "--backend", "numpy", "--epochs", 1)
    assert status == 0, err
    accuracy = float(out.split("train accuracy ")[1].split()[0])
    assert accuracy < 1.0
    assert f"note: the tutorial target was missed ({accuracy:.4f} < 1)" in out
    assert "--epochs, now 1" in out
    status, out, err = run(capsys, "train", "and", "--backend", "numpy")
    assert status == 0 and "note:" not in out


def test_train_fashion_mnist_from_a_data_directory(capsys, tmp_path, monkeypatch):
    """The mnist recipe on Fashion-MNIST look-alikes (the real files are not here)."""
    from test_datasets import write_idx_set

    from fastnn.datasets import _sources

    write_idx_set(tmp_path / "fashion-mnist")
    for path in (tmp_path / "fashion-mnist").iterdir():
        monkeypatch.setitem(_sources.NOT_BUNDLED, f"fashion-mnist/{path.name}",
                            _sources.sha256_file(path))
    status, out, err = run(capsys, "train", "fashion-mnist", "--backend", "numpy",
                           "--data", tmp_path, "--epochs", 1)
    assert status == 0, err
    assert "Fashion-MNIST" in out and "model 784-256-128-10 relu" in out
    assert "3 training rows" in out and "test accuracy" in out


@pytest.mark.parametrize("argv, names", [
    (["train", "nope"], "nope"),
    (["train", "xor", "--epochs", "0"], "--epochs"),
    (["train", "xor", "--lr", "-1"], "--lr"),
    (["train", "xor", "--lr", "nan"], "--lr"),
    (["train", "xor", "--hidden", "0"], "--hidden"),
    (["train", "xor", "--hidden", "8,x"], "--hidden"),
    (["train", "xor", "--batch-size", "0"], "--batch-size"),
    (["train", "xor", "--seed", "-2"], "--seed"),
    (["train", "xor", "--verbose", "3"], "--verbose"),
    (["train", "xor", "--backend", "nope"], "nope"),
    (["train", "mnist", "--data", "/nonexistent"], "/nonexistent"),
    (["train", "xor", "--data", "/tmp"], "'xor'"),
    (["train", "xor", "--save", "/nonexistent/dir/m.npz"], "--save"),
    (["train", "xor", "--plot", "/tmp/x.jpg"], "--plot"),
    (["info", "--backend", "nope"], "nope"),
    (["train", "xor", "--save", "/tmp"], "--save: cannot write to /tmp: it is a directory"),
    (["train", "xor", "--plot", "/tmp/"], "--plot: cannot write to /tmp"),
    (["train"], "PROBLEM"),
    (["frobnicate"], "frobnicate"),
    ([], "COMMAND"),
])
def test_bad_arguments_exit_2_with_one_line(capsys, argv, names):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert err.startswith("fastnn: error: ") and err.count("\n") == 1, err
    assert names in err
    assert "Traceback" not in err


def test_divergence_is_a_one_line_error(capsys, backend):
    status, out, err = run(capsys, "train", "xor", "--backend", backend, "--lr", "1e30",
                           "--epochs", 20)
    assert status == 2
    assert err.startswith("fastnn: error: training diverged") and err.count("\n") == 1, err


def test_divergence_under_the_mnist_schedule_is_a_one_line_error(capsys):
    """mnist's recipe is a one-cycle schedule: the error names it and its lr."""
    status, out, err = run(capsys, "train", "mnist", "--backend", "numpy", "--lr", "1e30",
                           "--epochs", 1, "--verbose", 0)
    assert status == 2, err
    assert err.startswith("fastnn: error: training diverged") and err.count("\n") == 1, err
    assert "of the schedule OneCycle(max_lr=1e+30)" in err


def test_subprocess_console_entry(backend, tmp_path):
    ok = subprocess.run([sys.executable, "-m", "fastnn", "train", "and", "--backend", backend],
                        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "train accuracy 1.0000" in ok.stdout
    # A real process shows whatever a library prints on the way (numpy warnings included).
    bad = subprocess.run([sys.executable, "-m", "fastnn", "train", "xor", "--backend", backend,
                          "--lr", "1e30", "--epochs", "20"],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.startswith("fastnn: error: training diverged") and \
        bad.stderr.count("\n") == 1, bad.stderr
