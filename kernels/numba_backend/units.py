"""Per-unit specialisation: a kernel template instantiated once for every activation unit
of ``kernels/activations``, behind one dispatch on the unit's code.

The backend writes each sweep once, as a template: a plain function that calls the
global names ``value(z, p, f)`` and ``slope(z, y, p, f)`` and tests ``KEEPS_Z``.
:func:`by_unit` makes one copy of the template per registered unit with those names bound
to the unit's scalar rules (compiled inline), and a dispatcher ``f(code, *args)`` that
picks the copy once, outside its loops, so every loop is specialised to its unit and
vectorises as if written by hand. A new unit adds a copy here without a change to this
backend.
"""

import inspect
import types

import numba

from ..activations import UNITS
from .config import JIT

# Inlined into cached kernels, never compiled or cached on their own (the copies and the
# dispatcher are made at import, which numba's cache could not key apart).
_inline = numba.njit(inline="always", **{key: v for key, v in JIT.items() if key != "cache"})


# The names a template calls, bound to each unit's rules in its copies; calling these
# placeholders themselves is an error.
KEEPS_Z = False


def value(z, p, f):
    """act(z): a template's placeholder, bound per unit by :func:`by_unit`."""
    raise NotImplementedError("a template's value() runs only in a by_unit copy")


def slope(z, y, p, f):
    """act'(z): a template's placeholder, bound per unit by :func:`by_unit`."""
    raise NotImplementedError("a template's slope() runs only in a by_unit copy")


def by_unit(template):
    """An inlined ``dispatch(code, *args)`` running ``template(*args)`` with the unit of
    that code (``activations.CODES``) bound; the last unit serves any other code."""
    copies = {}
    for code, unit in enumerate(UNITS.values()):
        names = dict(template.__globals__, value=_inline(unit.value),
                     slope=_inline(unit.slope), KEEPS_Z=unit.USES == "z")
        copy = types.FunctionType(template.__code__, names, f"{template.__name__}_{unit.NAME}")
        copies[f"_variant_{code}"] = _inline(copy)
    args = ", ".join(inspect.signature(template).parameters)
    lines = [f"def {template.__name__}_by_unit(code, {args}):"]
    for code in range(len(copies) - 1):
        lines += [f"    if code == {code}:", f"        return _variant_{code}({args})"]
    lines.append(f"    return _variant_{len(copies) - 1}({args})")
    exec("\n".join(lines), copies)  # source built above from fixed names only
    return _inline(copies[f"{template.__name__}_by_unit"])
