"""fastnn.plot: figure formats are checked by suffix; thinned histories plot at their epochs."""

import numpy as np
import pytest

from fastnn import history as history_module
from fastnn.errors import ConfigError
from fastnn.history import History
from fastnn.plot import FORMATS, figure_format


@pytest.mark.parametrize("path, fmt", [("a.png", "png"), ("a.PDF", "pdf"), ("dir/a.svg", "svg"),
                                       ("noext", "png")])
def test_supported_suffixes(path, fmt):
    assert figure_format(path) == fmt and fmt in FORMATS


@pytest.mark.parametrize("path", ["out.txt", "out.jpg", "out.jpeg", "a.png.gz"])
def test_other_suffixes_are_refused_naming_the_supported_ones(path):
    with pytest.raises(ConfigError, match=r"supported suffixes are \.png, \.svg, \.pdf"):
        figure_format(path)


def test_plot_history_refuses_a_jpg_and_writes_nothing(tmp_path):
    pytest.importorskip("matplotlib")
    from fastnn.plot import plot_history

    with pytest.raises(ConfigError, match="'.jpg'"):
        plot_history({"loss": [1.0, 0.5]}, path=tmp_path / "h.jpg")
    assert list(tmp_path.iterdir()) == []


def test_a_thinned_history_is_drawn_at_its_true_epochs(monkeypatch):
    pytest.importorskip("matplotlib")
    from fastnn.plot import plot_history

    monkeypatch.setattr(history_module, "MAX_KEPT", 8)
    h = History()
    h.extend(loss=np.linspace(1, 0, 21), accuracy=np.linspace(0, 1, 21))
    fig = plot_history(h)
    x = fig.axes[0].lines[0].get_xdata()
    assert x.tolist() == [4, 8, 12, 16, 20, 21]
