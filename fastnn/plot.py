"""Figures for a training run, a 2-D decision boundary and a grid of image predictions.

matplotlib is an optional extra (``pip install 'fastnn[plot]'``), imported only when a function
is called. Figures are built as ``matplotlib.figure.Figure`` on an Agg canvas, never through
pyplot: no global state is touched and the user's backend never changes, so plotting works
headless and from worker threads. Every function returns the Figure; given ``path`` it also
writes it there atomically, as PNG, or SVG or PDF for those suffixes (see
:func:`figure_format`; any other suffix is a ConfigError and writes nothing).
"""

from __future__ import annotations

import math
import os

import numpy as np

from . import _validate as check
from ._files import atomic_write
from .errors import ConfigError, DTypeError, ShapeError, ValueRangeError
from .history import History

__all__ = ["plot_history", "plot_decision_boundary", "plot_images", "figure_format",
           "FORMATS"]

FORMATS = ("png", "svg", "pdf")
_MARKER_LIMIT = 50  # above this many epochs, lines only


def figure_format(path) -> str:
    """The format ``path``'s suffix names, lower case: png (also for no suffix), svg or
    pdf; ConfigError naming the supported suffixes for any other."""
    suffix = os.path.splitext(os.fspath(path))[1]
    fmt = suffix.lstrip(".").lower() or "png"
    if fmt not in FORMATS:
        raise ConfigError(f"cannot write a figure as {suffix!r} ({os.fspath(path)}): "
                          f"supported suffixes are {', '.join('.' + f for f in FORMATS)}")
    return fmt


def _new_figure(**kwargs):
    """A Figure with its own Agg canvas; ConfigError if matplotlib is not installed."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ConfigError(
            "plotting needs matplotlib, which is not installed: pip install 'fastnn[plot]'"
        ) from exc
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def _finish(fig, path):
    """Write `fig` to `path` atomically when `path` is given, in the format its suffix
    names (PNG without one); return `fig`."""
    if path is not None:
        fmt = figure_format(path)
        with atomic_write(path) as fh:
            fig.savefig(fh, format=fmt)
    return fig


def plot_history(history, path=None):
    """Loss and metric per epoch, train and validation, in two panels side by side.

    `history`: a :class:`History` or a plain ``{key: list of float}`` dict with ``loss`` and
    optionally ``accuracy``/``r2``, ``val_loss``, ``val_accuracy``/``val_r2``. Epochs count
    from 1 (a History's thinned long runs at their true epochs); markers are drawn only up
    to 50 points, so 20,000-epoch runs stay fast. With no metric recorded only the loss
    panel is drawn; with neither, ValueRangeError.
    """
    if isinstance(history, History):
        record, metric, epochs_of = dict(history), history.metric, history.epochs_of
    else:
        record = dict(history)
        metric = "r2" if "r2" in record or "val_r2" in record else "accuracy"
        epochs_of = None
    panels = [key for key in ("loss", metric)
              if len(record.get(key, ())) or len(record.get("val_" + key, ()))]
    if not panels:
        raise ValueRangeError(
            f"history holds no 'loss' or {metric!r} values; keys: {sorted(record)}")
    fig = _new_figure(figsize=(5.0 * len(panels), 4.0), layout="constrained")
    for ax, key in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        for name, label in ((key, "train"), ("val_" + key, "validation")):
            values = np.asarray(record.get(name, []), dtype=np.float64)
            if values.size:
                marker = "o" if values.size <= _MARKER_LIMIT else None
                x = epochs_of(name) if epochs_of else np.arange(1, values.size + 1)
                ax.plot(x, values, marker=marker, markersize=3, label=label)
        ax.set(title=key, xlabel="epoch", ylabel=key)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend()
    return _finish(fig, path)


def _palette(k):
    """`k` distinct RGBA colours (tab10, then tab20 beyond 10 classes, cycling beyond 20)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if k <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(k)]


def plot_decision_boundary(model, X, y, path=None, resolution=200, title=None):
    """Predicted class over the plane (filled contours) with the points coloured by true label.

    `X`: float (n, 2); `y`: int (n,). `model.predict` gets a float (resolution**2, 2) grid
    (X's dtype if floating, else float64) covering the data with a 10% margin and returns
    int labels (m,).
    """
    X = check.real_array(X, "X")
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2 or X.shape[0] == 0:
        raise ShapeError(f"X must have shape (n, 2) with n >= 1, got {X.shape}")
    if y.shape != (X.shape[0],):
        raise ShapeError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}")
    resolution = int(resolution)
    if resolution < 2:
        raise ValueRangeError(f"resolution must be >= 2, got {resolution}")
    dtype = X.dtype if X.dtype.kind == "f" else np.float64
    lo, hi = X.min(axis=0).astype(np.float64), X.max(axis=0).astype(np.float64)
    pad = np.where(hi > lo, 0.1 * (hi - lo), 1.0)
    xx, yy = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution),
                         np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution))
    grid = np.column_stack([xx.ravel(), yy.ravel()]).astype(dtype)
    zz = np.asarray(model.predict(grid))
    if zz.shape != (grid.shape[0],):
        raise ShapeError(f"model.predict on a {grid.shape} grid returned shape {zz.shape}")
    zz = zz.reshape(resolution, resolution)

    classes = np.union1d(np.unique(zz), np.unique(y))
    fig = _new_figure(figsize=(6.0, 5.0), layout="constrained")
    palette = _palette(len(classes))
    ax = fig.subplots()
    ax.contourf(xx, yy, np.searchsorted(classes, zz), levels=np.arange(len(classes) + 1) - 0.5,
                colors=palette, alpha=0.35)
    point_colors = [palette[i] for i in np.searchsorted(classes, y)]
    ax.scatter(X[:, 0], X[:, 1], c=point_colors, s=16, edgecolors="black", linewidths=0.4)
    ax.set(xlabel="x0", ylabel="x1", title=title if title is not None else "decision boundary")
    return _finish(fig, path)


def plot_images(images, y_true, y_pred, path=None, n=25, image_shape=(28, 28)):
    """The first `n` images in a near-square grid titled "true t / pred p"; mistakes in red.

    `images`: any real dtype, (m, prod(image_shape)) or (m, *image_shape); `y_true`,
    `y_pred`: labels (m,). Wrong predictions get a red title and a red frame; no ticks.
    """
    images = np.asarray(images)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if images.dtype.kind not in "biuf":
        raise DTypeError(f"images must have a real dtype, got {images.dtype}")
    if images.ndim < 2:
        raise ShapeError(f"images must be (m, {math.prod(image_shape)}) or "
                         f"(m, *{tuple(image_shape)}), got shape {images.shape}")
    count = min(int(n), images.shape[0])
    if count < 1:
        raise ValueRangeError(f"need n >= 1 and an image, got n={n}, images {images.shape}")
    if len(y_true) < count or len(y_pred) < count:
        raise ShapeError(
            f"y_true {y_true.shape} and y_pred {y_pred.shape} must hold >= {count} labels")
    if math.prod(images.shape[1:]) != math.prod(image_shape):
        raise ShapeError(f"images {images.shape} do not hold images of shape {tuple(image_shape)}")
    pictures = images[:count].reshape((count, *image_shape)).astype(np.float64)

    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    fig = _new_figure(figsize=(1.6 * cols, 1.8 * rows), layout="constrained")
    for i, ax in enumerate(fig.subplots(rows, cols, squeeze=False).ravel()):
        if i >= count:
            ax.set_axis_off()
            continue
        ax.imshow(pictures[i], cmap="gray", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        wrong = y_true[i] != y_pred[i]
        ax.set_title(f"true {y_true[i]} / pred {y_pred[i]}", fontsize=8,
                     color="red" if wrong else "black")
        if wrong:
            for spine in ax.spines.values():
                spine.set(color="red", linewidth=2.0)
    return _finish(fig, path)
