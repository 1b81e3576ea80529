"""Spec strings of units, the same for every registry (activations, losses): a unit's
name, with its one real parameter where it is not the default (``"relu"``,
``"leaky_relu(0.2)"``, ``"huber(0.5)"``); and the parameter rules of a unit without one."""

from __future__ import annotations

import re

_SPEC = re.compile(r"^([a-z_]+)(?:\((.*)\))?$")


def parse(spec, units: dict, kind: str, example: str) -> tuple:
    """(unit module, parameter as float) for a spec naming one of ``units``; ValueError
    naming what is wrong with it (``kind`` and ``example`` word the message)."""
    match = _SPEC.match(spec) if isinstance(spec, str) else None
    if match is None or match.group(1) not in units:
        raise ValueError(f"unknown {kind} {spec!r}; valid: {', '.join(units)} (with a "
                         f"parameter: {example})")
    unit = units[match.group(1)]
    text = match.group(2)
    param = unit.PARAM if text is None else unit.parse_param(text)
    unit.check_param(param)
    return unit, float(param)


def written(units: dict, name: str, param: float) -> str:
    """The canonical spec string of unit ``name`` of ``units`` with parameter ``param``."""
    unit = units[name]
    return name if param == unit.PARAM else f"{name}({unit.format_param(param)})"


def no_parameter(kind: str):
    """``(PARAM, parse_param, format_param, check_param)`` of a unit of ``kind`` that takes
    no parameter (its PARAM is 0.0)."""

    def parse_param(text):
        raise ValueError(f"this {kind} takes no parameter, got ({text})")

    def format_param(p):
        return f"{p:g}"

    def check_param(p):
        if p != 0.0:
            raise ValueError(f"this {kind} takes no parameter")

    return 0.0, parse_param, format_param, check_param
