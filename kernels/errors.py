"""The errors the kernels raise; ``fastnn.errors`` re-exports them in fastnn's family.

They live here so that ``kernels`` never imports ``fastnn`` (the model API is the
kernels' caller, not their dependency).
"""


class FastnnError(Exception):
    """Base class of every error fastnn raises deliberately."""


class BackendError(FastnnError, ValueError):
    """An unknown backend name, or a backend that cannot be loaded here."""


class BackendMismatchError(FastnnError, AssertionError):
    """The `check` backend found the fast backend disagreeing with the reference."""


# Documented, and shown in tracebacks, under their public home, ``fastnn.errors``.
for _error in (FastnnError, BackendError, BackendMismatchError):
    _error.__module__ = "fastnn.errors"
