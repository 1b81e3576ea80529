"""fastnn.History: a read-only mapping of key -> list of floats, bounded in memory."""

import numpy as np
import pytest

import fastnn as fnn
from fastnn import history as history_module
from fastnn.errors import ShapeError
from fastnn.history import History


def test_history_is_a_mapping_of_lists():
    h = History(metric="accuracy")
    h.append(loss=0.5, accuracy=0.25)
    h.extend(loss=[0.4, np.float32(0.3)], accuracy=np.array([0.5, 0.75]))
    assert dict(h).keys() == {"loss", "accuracy"} and len(h) == 2 and list(h) == ["loss",
                                                                                  "accuracy"]
    assert "loss" in h and "r2" not in h
    assert dict(h.items()) == {"loss": [0.5, 0.4, 0.30000001192092896],
                               "accuracy": [0.25, 0.5, 0.75]}
    loss = h["loss"]
    assert isinstance(loss, list) and all(type(v) is float for v in loss)
    loss[0] = 1.0  # a copy: the record itself is read-only
    assert h["loss"][0] == 0.5
    assert h.epochs == 3 and h.last() == {"loss": pytest.approx(0.3), "accuracy": 0.75}
    assert h.epochs_of("loss").tolist() == [1, 2, 3]
    assert h.history.keys() == h.keys()
    assert "epochs=3" in repr(h)
    with pytest.raises(KeyError):
        h["r2"]
    with pytest.raises(ShapeError, match="loss"):
        h.extend(loss=np.zeros((2, 2)))


def test_fit_returns_a_history_dict_can_copy():
    X, y = fnn.datasets.logic_gate("xor")
    h = fnn.MLP([2, 4, 2]).fit(X, y, epochs=3, batch_size=None, verbose=0)
    assert set(dict(h)) == {"loss", "accuracy", "lr", "samples_per_s"}
    assert all(len(v) == 3 for v in h.values())


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setattr(history_module, "MAX_KEPT", 8)


@pytest.mark.parametrize("n, kept", [
    (8, [1, 2, 3, 4, 5, 6, 7, 8]),
    (9, [2, 4, 6, 8, 9]),
    (16, [2, 4, 6, 8, 10, 12, 14, 16]),
    (20, [4, 8, 12, 16, 20]),
    (21, [4, 8, 12, 16, 20, 21]),
    (7, [1, 2, 3, 4, 5, 6, 7]),
])
def test_thinning_rule(small_limit, n, kept):
    """Full resolution up to MAX_KEPT epochs; one more, and every second value is dropped
    and the stride doubles; the newest epoch always stays last."""
    h = History()
    h.extend(loss=np.arange(1, n + 1))
    assert h["loss"] == kept
    assert h.epochs_of("loss").tolist() == kept
    assert h.epochs == n and h.last()["loss"] == n


def test_thinning_does_not_depend_on_how_epochs_arrive(small_limit):
    rng = np.random.default_rng(0)
    whole = History()
    whole.extend(loss=np.arange(1, 1001))
    for _ in range(5):
        h, done = History(), 0
        while done < 1000:
            k = min(int(rng.integers(1, 40)), 1000 - done)
            if k == 1:
                h.append(loss=done + 1)
            else:
                h.extend(loss=np.arange(done + 1, done + k + 1))
            done += k
        assert h["loss"] == whole["loss"]
        assert h.epochs == 1000 and len(h["loss"]) <= 8 + 1


def test_values_taken_before_thinning_keep_their_values(small_limit):
    h = History()
    h.extend(loss=np.arange(1, 7))
    before = h["loss"]
    h.extend(loss=np.arange(7, 30))
    assert before == [1, 2, 3, 4, 5, 6]


def test_memory_stays_bounded_for_a_very_long_run():
    h = History()
    for start in range(0, 1_000_000, 262_144):
        stop = min(start + 262_144, 1_000_000)
        h.extend(loss=np.arange(start + 1, stop + 1, dtype=np.float64))
    assert h.epochs == 1_000_000
    assert history_module.MAX_KEPT // 2 <= len(h["loss"]) <= history_module.MAX_KEPT
    assert h._series["loss"].buf.nbytes <= 8 * history_module.MAX_KEPT
    assert h["loss"][-1] == 1_000_000
    np.testing.assert_array_equal(h["loss"], h.epochs_of("loss"))
