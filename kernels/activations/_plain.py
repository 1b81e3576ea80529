"""Defaults for units without a parameter."""

from ..unit_specs import no_parameter

PARAM, parse_param, format_param, check_param = no_parameter("activation")
