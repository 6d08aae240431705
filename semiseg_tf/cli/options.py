"""Option types and error handling shared by the CLI commands."""

from __future__ import annotations

import functools

import click

from semiseg_tf.data.errors import DataError


class SizeType(click.ParamType):
    """`HxW` (e.g. 240x320) -> (240, 320)."""

    name = "HxW"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            height, width = (int(v) for v in str(value).lower().split("x"))
            if height <= 0 or width <= 0:
                raise ValueError
            return height, width
        except ValueError:
            self.fail(f"expected HEIGHTxWIDTH such as 240x320, got '{value}'", param, ctx)


SIZE = SizeType()


def friendly_errors(function):
    """Turn bad input and bad option values into one clear line and exit code 1, not a traceback.

    Library code raises DataError (a ValueError naming the file and the fix) for bad data
    and ValueError listing the valid choices for bad names (model, method, option).
    """

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (DataError, FileNotFoundError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


def parse_key_values(pairs) -> dict:
    """`("threshold=0.95", "views=2")` -> {"threshold": 0.95, "views": 2}; values parsed as JSON when possible."""
    import json

    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got '{pair}'")
        try:
            parsed[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key.replace("-", "_")] = value
    return parsed
