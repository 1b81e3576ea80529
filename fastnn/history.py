"""The record `fit` returns: per-epoch metrics, Keras-style, in bounded memory.

Each key's values sit in a float64 buffer that doubles as epochs arrive, and a run of any
length keeps at most :data:`MAX_KEPT` values per key. The rule: the first MAX_KEPT epochs
are kept at full resolution; when one more arrives, every second value is dropped (the
even epochs stay) and from then on every 2nd epoch is kept; when that fills MAX_KEPT
values again the same happens (every 4th), and so on. The newest epoch's value is always
the last entry, so ``h["loss"][-1]`` is the final loss; ``h.epochs_of(key)`` gives the
epoch number of every entry, ``h.epochs`` the number of epochs trained.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from .errors import ShapeError

__all__ = ["History", "MAX_KEPT"]

MAX_KEPT = 100_000  # values kept per key; even, so thinning keeps the newest fixed entry
_MIN_CAPACITY = 16


class _Series:
    """One key's values: ``fixed`` entries at epochs stride, 2*stride, ...; then, if the
    last epoch is no multiple of ``stride``, its value as one more (pending) entry."""

    __slots__ = ("buf", "fixed", "count", "stride")

    def __init__(self):
        self.buf = np.empty(_MIN_CAPACITY)
        self.fixed = 0  # entries that stay until the next thinning
        self.count = 0  # values appended: the epochs this key has seen
        self.stride = 1

    @property
    def size(self) -> int:
        return self.fixed + (self.count % self.stride != 0)

    def values(self) -> np.ndarray:
        view = self.buf[:self.size]
        view.flags.writeable = False
        return view

    def epochs(self) -> np.ndarray:
        kept = np.arange(1, self.fixed + 1, dtype=np.int64) * self.stride
        return np.append(kept, self.count) if self.size > self.fixed else kept

    def extend(self, values: np.ndarray) -> None:
        """Append ``values`` (k,) float64, one per epoch, thinning where the rule says."""
        start = 0
        while start < len(values):
            if self.fixed == MAX_KEPT:
                self._thin()
            epoch = self.count + 1  # of values[start]
            first = start + (-epoch) % self.stride  # the next epoch divisible by stride
            room = MAX_KEPT - self.fixed
            kept = np.arange(first, len(values), self.stride)[:room]
            stop = kept[-1] + 1 if len(kept) == room else len(values)
            self._reserve(min(self.fixed + len(kept) + 1, MAX_KEPT))
            self.buf[self.fixed:self.fixed + len(kept)] = values[kept]
            self.fixed += len(kept)
            self.count += stop - start
            if self.count % self.stride:
                self.buf[self.fixed] = values[stop - 1]  # pending
            start = stop

    def _reserve(self, n: int) -> None:
        if n > len(self.buf):
            grown = np.empty(min(max(n, 2 * len(self.buf)), MAX_KEPT))
            grown[:self.size] = self.buf[:self.size]
            self.buf = grown

    def _thin(self) -> None:
        """Keep every second fixed entry (epochs 2*stride, 4*stride, ...) in a new buffer,
        so views handed out earlier keep their values."""
        thinned = np.empty(len(self.buf))
        self.fixed //= 2
        thinned[:self.fixed] = self.buf[1:2 * self.fixed:2]
        self.buf = thinned
        self.stride *= 2


class History(Mapping):
    """Per-epoch training record: a read-only mapping of key -> list of floats.

    ``h[key]`` is a new list of the values each time (kept compactly as float64; after
    MAX_KEPT epochs thinned, see the module docstring). Keys:

    - ``loss``: sample-weighted mean training loss over the epoch's batches (running, as
      the parameters moved during the epoch);
    - ``accuracy`` (classification) or ``r2`` (regression): the same running metric;
    - ``val_loss`` and ``val_accuracy`` / ``val_r2``: on ``validation_data`` after the epoch;
    - ``lr``: the learning rate of the epoch's last step;
    - ``samples_per_s``: training throughput of the epoch (wall clock).
    """

    def __init__(self, metric: str = "accuracy"):
        self.metric = metric
        self._series: dict[str, _Series] = {}

    def append(self, **values: float) -> None:
        """Record one epoch: a number per key."""
        for key, value in values.items():
            self._series_of(key).extend(np.array([value], np.float64))

    def extend(self, **values) -> None:
        """Record several epochs at once: each value is a sequence or a 1-D array."""
        for key, seq in values.items():
            arr = np.asarray(seq, np.float64)
            if arr.ndim != 1:
                raise ShapeError(f"History.extend: {key} must be 1-D (one value per epoch), "
                                 f"got shape {arr.shape}")
            self._series_of(key).extend(arr)

    def __getitem__(self, key: str) -> list[float]:
        return self._series[key].values().tolist()

    def __iter__(self) -> Iterator[str]:
        return iter(self._series)

    def __len__(self) -> int:
        return len(self._series)

    @property
    def history(self) -> dict[str, list[float]]:
        """``{key: values}``, the same as ``dict(h)``."""
        return dict(self)

    @property
    def epochs(self) -> int:
        """Epochs recorded (of ``loss``), thinned or not."""
        return self._series["loss"].count if "loss" in self._series else 0

    def epochs_of(self, key: str) -> np.ndarray:
        """The 1-based epoch of each value of ``h[key]``: int64 (m,)."""
        return self._series[key].epochs()

    def last(self) -> dict[str, float]:
        """The metrics of the final epoch, ``{key: value}``."""
        return {key: float(s.buf[s.size - 1]) for key, s in self._series.items() if s.count}

    def __repr__(self) -> str:
        return f"History(metric={self.metric!r}, epochs={self.epochs}, keys={list(self)})"

    def _series_of(self, key: str) -> _Series:
        return self._series.setdefault(key, _Series())
