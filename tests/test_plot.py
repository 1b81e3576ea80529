"""fastnn.plot: figures are written (PNG, SVG or PDF by suffix), sized, non-blank, and show
what they claim to show."""

import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import matplotlib.image  # noqa: E402

from fastnn import errors as fnn_errors  # noqa: E402
from fastnn.errors import ConfigError, ShapeError  # noqa: E402
from fastnn.history import History  # noqa: E402
from fastnn.plot import plot_decision_boundary, plot_history, plot_images  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(path):
    """Check the PNG signature, a non-trivial size and non-blank pixels; return RGB (h, w, 3)."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = matplotlib.image.imread(path)
    height, width = pixels.shape[:2]
    assert 100 <= height <= 4000 and 100 <= width <= 4000, pixels.shape
    assert pixels[..., :3].std() > 0.02
    return pixels[..., :3]


def red_pixel_count(rgb):
    """Pixels within 0.1 of pure red (1, 0, 0) in each channel."""
    return int(np.sum((rgb[..., 0] > 0.9) & (rgb[..., 1] < 0.1) & (rgb[..., 2] < 0.1)))


class ThresholdModel:
    """Predicts class 1 right of x0 = 0, class 0 left of it."""

    def predict(self, grid):
        return (grid[:, 0] > 0).astype(int)


def test_history_object_renders_both_panels(tmp_path):
    history = History(metric="accuracy")
    for epoch in range(12):
        history.append(loss=1.0 / (epoch + 1), accuracy=epoch / 12,
                       val_loss=1.2 / (epoch + 1), val_accuracy=epoch / 13, samples_per_s=1e4)
    path = tmp_path / "history.png"
    fig = plot_history(history, path=path)
    read_png(path)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    assert all(len(ax.get_lines()) == 2 for ax in fig.axes)
    assert fig.axes[0].get_lines()[0].get_xdata()[0] == 1


def test_history_dict_with_many_epochs_renders(tmp_path):
    epochs = 20_000
    record = {"loss": list(np.linspace(1.0, 0.1, epochs)),
              "r2": list(np.linspace(0.0, 0.9, epochs))}
    path = tmp_path / "long.png"
    fig = plot_history(record, path=path)
    read_png(path)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "r2"]
    lines = [line for ax in fig.axes for line in ax.get_lines()]
    assert all(line.get_marker() in (None, "None", "") for line in lines)


def test_decision_boundary_halves_differ(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1.0, 1.0, size=(200, 2))
    y = (X[:, 0] > 0).astype(int)
    path = tmp_path / "boundary.png"
    fig = plot_decision_boundary(ThresholdModel(), X, y, path=path, resolution=50, title="t")
    rgb = read_png(path)
    # The axes' box in image pixels (image rows run top-down, display y bottom-up).
    box = fig.axes[0].get_window_extent()
    height = rgb.shape[0]
    top, bottom = int(height - box.y1) + 3, int(height - box.y0) - 3
    left, right, middle = int(box.x0) + 3, int(box.x1) - 3, int((box.x0 + box.x1) / 2)
    left_colour = np.median(rgb[top:bottom, left:middle - 5].reshape(-1, 3), axis=0)
    right_colour = np.median(rgb[top:bottom, middle + 5:right].reshape(-1, 3), axis=0)
    assert np.abs(left_colour - right_colour).max() > 0.05


def test_decision_boundary_rejects_wrong_shape():
    with pytest.raises(ShapeError):
        plot_decision_boundary(ThresholdModel(), np.zeros((10, 3)), np.zeros(10, dtype=int))


@pytest.mark.parametrize("flat", [True, False])
def test_images_mistakes_are_red(tmp_path, flat):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(9, 28, 28)).astype(np.uint8)
    if flat:
        images = images.reshape(9, 784).astype(np.float32) / 255
    y_true = np.arange(9)
    y_pred = y_true.copy()
    y_pred[[1, 4, 7]] = (y_pred[[1, 4, 7]] + 1) % 10
    wrong_path, right_path = tmp_path / "wrong.png", tmp_path / "right.png"
    plot_images(images, y_true, y_pred, path=wrong_path, n=9)
    fig = plot_images(images, y_true, y_true, path=right_path, n=9)
    assert red_pixel_count(read_png(wrong_path)) > 50
    assert red_pixel_count(read_png(right_path)) == 0
    assert len(fig.axes) == 9 and fig.axes[0].get_title() == "true 0 / pred 0"
    assert all(len(ax.get_xticks()) == 0 and len(ax.get_yticks()) == 0 for ax in fig.axes)


@pytest.mark.parametrize("call", [
    lambda: plot_history({"loss": [1.0]}),
    lambda: plot_decision_boundary(ThresholdModel(), np.zeros((4, 2)), np.zeros(4, dtype=int)),
    lambda: plot_images(np.zeros((1, 784)), [0], [0]),
])
def test_missing_matplotlib_raises_config_error(monkeypatch, call):
    # None in sys.modules makes `import matplotlib...` raise ImportError, submodules included.
    for name in [name for name in sys.modules if name.split(".")[0] == "matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ConfigError, match=r"pip install 'fastnn\[plot\]'"):
        call()


@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".pdf", b"%PDF"),
                                           ("", PNG_SIGNATURE)])
def test_the_file_format_follows_the_suffix(tmp_path, suffix, magic):
    path = tmp_path / f"history{suffix}"
    plot_history({"loss": [1.0, 0.5]}, path=path)
    assert path.read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_nan_points_are_named_as_the_users_not_the_grids():
    X = np.array([[0.0, 1.0], [np.nan, 2.0], [1.0, 0.0]])
    with pytest.raises(fnn_errors.NonFiniteError, match=r"X holds 1 NaN .* index \(1, 0\)"):
        plot_decision_boundary(ThresholdModel(), X, [0, 1, 0])


def test_one_flat_image_is_a_shape_error_naming_the_expected_shape():
    with pytest.raises(ShapeError, match=r"\(m, 784\) .* got shape \(784,\)"):
        plot_images(np.zeros(784), [0], [1])
