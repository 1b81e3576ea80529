"""fastnn.metrics: right values, and clear errors instead of broadcasting or truncating."""

import numpy as np
import pytest

from fastnn import metrics
from fastnn.errors import DTypeError, NonFiniteError, ShapeError, ValueRangeError


def test_accuracy_counts_equal_entries():
    assert metrics.accuracy([0, 1, 2, 1], [0, 1, 1, 1]) == 0.75
    assert metrics.accuracy([[0, 1], [1, 1]], [[0, 1], [1, 0]]) == 0.75  # multi-label
    assert metrics.accuracy([0, 1, 2, 1], np.array([0, 1, 2, 1])[:, None]) == 1.0  # (n, 1)


def test_r2_matches_its_definition_and_is_nan_for_a_constant_target():
    y, pred = np.array([1.0, 2.0, 4.0]), np.array([1.5, 2.0, 3.0])
    sse, sst = np.sum((y - pred) ** 2), np.sum((y - y.mean()) ** 2)
    assert metrics.r2_score(y, pred) == pytest.approx(1 - sse / sst, rel=1e-15)
    with np.errstate(all="raise"):
        assert np.isnan(metrics.r2_score([1, 1, 1], [1, 1, 2]))


def test_confusion_matrix_rows_are_true_columns_predicted():
    expected = np.array([[1, 0, 0], [0, 0, 1], [0, 0, 1]])
    np.testing.assert_array_equal(metrics.confusion_matrix([0, 1, 2], [0, 2, 2]), expected)
    wider = metrics.confusion_matrix([0, 1, 2], [0, 2, 2], n_classes=4)
    assert wider.shape == (4, 4) and wider.dtype == np.int64
    np.testing.assert_array_equal(wider[:3, :3], expected)


@pytest.mark.parametrize("call, error, words", [
    (lambda: metrics.accuracy([0, 1, 2], [0, 1]), ShapeError, "(3,) and (2,)"),
    (lambda: metrics.accuracy([0, 1], [[0, 1], [1, 0]]), ShapeError, "one shape"),
    (lambda: metrics.accuracy([], []), ShapeError, "non-empty"),
    (lambda: metrics.accuracy([np.nan, 1], [1, 1]), NonFiniteError, "y_true"),
    (lambda: metrics.accuracy(["a"], ["a"]), DTypeError, "real numbers"),
    (lambda: metrics.accuracy([0, 1], [0.5, 1]), ValueRangeError, "y_pred must hold integer"),
    (lambda: metrics.confusion_matrix([0.7, 1.2], [0, 1]), ValueRangeError, "0.7 at index 0"),
    (lambda: metrics.confusion_matrix([0, 5], [0, 1], n_classes=3), ValueRangeError,
     "lie in 0..2 (n_classes=3), got 5 at index 1"),
    (lambda: metrics.confusion_matrix([0, 1], [0, -1]), ValueRangeError,
     "y_pred labels must be >= 0, got -1"),
    (lambda: metrics.confusion_matrix([0, 1], [1, 1], n_classes=0), ValueRangeError,
     "n_classes"),
    (lambda: metrics.confusion_matrix([[0, 1]], [[0, 1]]), ShapeError, "1-D"),
    (lambda: metrics.r2_score([1.0, 2.0], [1.0, 2.0, 3.0]), ShapeError, "one shape"),
])
def test_bad_input_is_named(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)
