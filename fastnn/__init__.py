"""fastnn: the tutorial neural networks done right and done fast.

    import fastnn as fnn
    model = fnn.MLP([784, 256, 128, 10], activation="relu", seed=0)
    model.fit(X, y, epochs=10, batch_size=128, optimizer=fnn.SGD(lr=0.05, momentum=0.9))

Backends (``FASTNN_BACKEND`` or ``fnn.set_backend``): ``numba`` (default), ``numpy``
(the reference), ``check`` (both, compared on every call).
"""

from importlib.metadata import PackageNotFoundError, version as _version

from . import activations, callbacks, datasets, losses, metrics, plot, schedules
from .backend import backend_name, get_backend, set_backend, use_backend
from .callbacks import Callback, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau
from .errors import *  # noqa: F403 - the documented exception family
from .errors import __all__ as _error_names
from .history import History
from .io import load, save
from .layers import Dense, Dropout
from .model import MLP, Sequential
from .optimizers import *  # noqa: F403 - Optimizer and every optimizer class
from .optimizers import __all__ as _optimizer_names
from .threads import set_num_threads, thread_info

try:
    __version__ = _version("fastnn")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["MLP", "Sequential", "Dense", "Dropout", *_optimizer_names, "History", "load", "save",
           "Callback", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau",
           "set_backend", "get_backend",
           "backend_name", "use_backend", "activations", "callbacks", "datasets", "losses",
           "metrics", "plot", "schedules", "set_num_threads", "thread_info", "__version__",
           *_error_names]
