"""fastnn's exception family.

Every error fastnn raises on purpose is a :class:`FastnnError`. Each subclass also derives
from the matching built-in exception, so callers may catch either::

    try:
        model.fit(X, y)
    except ValueError:          # or fastnn.ShapeError, or fastnn.FastnnError
        ...

Messages say what was expected, what was given and where (argument, layer, file, offset).
One warning belongs to the family too: :class:`TrainingDivergenceWarning`.
"""

__all__ = [
    "FastnnError",
    "ShapeError",
    "DTypeError",
    "ValueRangeError",
    "NonFiniteError",
    "ConfigError",
    "BackendError",
    "NotFittedError",
    "DataFileError",
    "ChecksumError",
    "ModelFileError",
    "TrainingDivergedError",
    "BackendMismatchError",
    "TrainingDivergenceWarning",
]

# the kernels' own errors (``kernels/errors.py``), in the same family
from .kernels.errors import BackendError, BackendMismatchError, FastnnError  # noqa: E402


class ShapeError(FastnnError, ValueError):
    """An array has the wrong number of dimensions or the wrong size along one."""


class DTypeError(FastnnError, TypeError):
    """An array has a dtype fastnn cannot use (object, string, complex, ...)."""


class ValueRangeError(FastnnError, ValueError):
    """A value is outside its allowed range (labels, hyper-parameters, sizes)."""


class NonFiniteError(FastnnError, ValueError):
    """An input array holds NaN or infinity."""


class ConfigError(FastnnError, ValueError):
    """An unknown name (activation, loss, optimizer) or a bad setting."""


class NotFittedError(FastnnError, RuntimeError):
    """The model has no parameters yet, or they do not fit the data given."""


class DataFileError(FastnnError, ValueError):
    """A data file (IDX, CSV) is missing, truncated, corrupt or of the wrong kind."""


class ChecksumError(DataFileError):
    """A known data file's digest differs from the published one."""


class ModelFileError(FastnnError, ValueError):
    """A saved model file is corrupt, truncated, foreign or of an unknown version."""


class TrainingDivergedError(FastnnError, FloatingPointError):
    """The loss or a gradient became NaN or infinite during training."""


class TrainingDivergenceWarning(RuntimeWarning):
    """Training is diverging though the loss is still finite (see ``fastnn.training``)."""
