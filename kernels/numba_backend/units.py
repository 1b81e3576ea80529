"""Per-unit specialisation: a kernel template instantiated once for every unit of a
registry (activations, optimizer rules), behind one dispatch on the unit's code.

The backend writes each sweep once, as a template: a plain function calling global names
that stand for a unit's scalar rules (an activation's ``value`` / ``slope`` and
``KEEPS_Z``; an optimizer rule's ``ENTRY`` / ``CANNOT_OVERFLOW`` / ``COEFFICIENTS``).
:func:`by_code` makes one copy of the template per unit with those names bound to the
unit's functions (compiled inline), and a dispatcher ``f(code, *args)`` that picks the
copy once, outside its loops, so every loop is specialised to its unit and vectorises as
if written by hand. A new unit adds a copy without a change to this backend.
"""

import inspect
import types

import numba

from ..activations import UNITS
from .config import JIT

# Inlined into cached kernels, never compiled or cached on their own (the copies and the
# dispatcher are made at import, which numba's cache could not key apart).
inline_copy = numba.njit(inline="always", **{key: v for key, v in JIT.items() if key != "cache"})

# The names an activation template calls, bound to each unit's rules in its copies;
# calling these placeholders themselves is an error.
KEEPS_Z = False


def value(z, p, f):
    """act(z): a template's placeholder, bound per unit by :func:`by_unit`."""
    raise NotImplementedError("a template's value() runs only in a by_unit copy")


def slope(z, y, p, f):
    """act'(z): a template's placeholder, bound per unit by :func:`by_unit`."""
    raise NotImplementedError("a template's slope() runs only in a by_unit copy")


def bound_copy(template, names: dict, name: str):
    """A copy of the function ``template`` whose global names ``names`` are bound to the
    given objects, called ``name`` (its qualified name too: numba's cache keys a compiled
    function by it, so each copy compiled with ``cache=True`` gets an entry of its own)."""
    copy = types.FunctionType(template.__code__, dict(template.__globals__, **names), name)
    copy.__qualname__ = name
    return copy


def by_code(template, bindings):
    """An inlined ``dispatch(code, *args)`` running ``template(*args)`` with the global
    names of ``bindings[code]`` (a dict) bound; the last serves any other code."""
    copies = {}
    for code, names in enumerate(bindings):
        copy = bound_copy(template, names, f"{template.__name__}_{code}")
        copies[f"_variant_{code}"] = inline_copy(copy)
    args = ", ".join(inspect.signature(template).parameters)
    lines = [f"def {template.__name__}_by_code(code, {args}):"]
    for code in range(len(copies) - 1):
        lines += [f"    if code == {code}:", f"        return _variant_{code}({args})"]
    lines.append(f"    return _variant_{len(copies) - 1}({args})")
    exec("\n".join(lines), copies)  # source built above from fixed names only
    return inline_copy(copies[f"{template.__name__}_by_code"])


def by_unit(template):
    """:func:`by_code` over the activation units (``activations.CODES``' order)."""
    return by_code(template, [dict(value=inline_copy(unit.value), slope=inline_copy(unit.slope),
                                   KEEPS_Z=unit.USES == "z") for unit in UNITS.values()])
