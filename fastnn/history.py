"""The record `fit` returns: per-epoch metrics, Keras-style."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class History:
    """Per-epoch training record.

    ``history[key]`` is a list with one float per finished epoch. Keys:

    - ``loss``: sample-weighted mean training loss over the epoch's batches (running, as
      the parameters moved during the epoch);
    - ``accuracy`` (classification) or ``r2`` (regression): the same running metric;
    - ``val_loss`` and ``val_accuracy`` / ``val_r2``: on ``validation_data`` after the epoch;
    - ``samples_per_s``: training throughput of the epoch (wall clock).
    """

    metric: str = "accuracy"
    history: dict[str, list[float]] = field(default_factory=dict)

    def append(self, **values: float) -> None:
        for key, value in values.items():
            self.history.setdefault(key, []).append(float(value))

    def extend(self, **values) -> None:
        """Append several epochs at once: each value is a sequence or a 1-D array."""
        for key, seq in values.items():
            self.history.setdefault(key, []).extend(float(v) for v in seq)

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    @property
    def epochs(self) -> int:
        return len(self.history.get("loss", []))

    def last(self) -> dict[str, float]:
        """The metrics of the final epoch, ``{key: value}``."""
        return {key: values[-1] for key, values in self.history.items() if values}
