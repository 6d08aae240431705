"""Option types and error handling shared by the CLI commands."""

from __future__ import annotations

import functools

import click

from semiseg_tf.data.errors import DataError


class SizeType(click.ParamType):
    """`HxW` (e.g. 240x320) -> (240, 320); with `allow_native`, also the word "native"."""

    name = "HxW"

    def __init__(self, allow_native: bool = False):
        self.allow_native = allow_native

    def convert(self, value, param, ctx):
        if isinstance(value, tuple) or self.allow_native and value == "native":
            return value
        try:
            height, width = (int(v) for v in str(value).lower().split("x"))
            if height <= 0 or width <= 0:
                raise ValueError
            return height, width
        except ValueError:
            native = " or native" if self.allow_native else ""
            self.fail(f"expected HEIGHTxWIDTH such as 240x320{native}, got '{value}'", param, ctx)


SIZE = SizeType()
TRAIN_SIZE = SizeType(allow_native=True)


class UsageProblem(click.ClickException):
    """Bad input: one line, exit code 2 (like click's own usage errors)."""

    exit_code = 2


def friendly_errors(function):
    """Turn bad input into one line naming the value or file and the fix (exit 2), and any other failure
    into one line (exit 1); the traceback only with `semiseg-tf --verbose`.

    Library code raises DataError (a ValueError naming the file and the fix) for bad data
    and ValueError listing the valid choices for bad names and values (model, method, option).
    """

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        from semiseg_tf.cli.verbosity import is_verbose

        try:
            return function(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except (DataError, FileNotFoundError, ValueError) as exc:
            if is_verbose():
                raise
            raise UsageProblem(str(exc)) from exc
        except Exception as exc:
            if is_verbose():
                raise
            raise click.ClickException(f"{type(exc).__name__}: {exc} (run `semiseg-tf --verbose ...` for "
                                       "the traceback)") from exc

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


def note_ignored_on_resume(options: dict) -> None:
    """Say which options given on the command line a resumed run ignores (it takes its stored ones)."""
    context = click.get_current_context()
    ignored = sorted(f"--{name.replace('_', '-')}" for name in options
                     if context.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT)
    if ignored:
        click.echo(f"note: --resume takes the run's stored options; ignoring {', '.join(ignored)}.")


DEVICES = click.option(
    "--devices", default="1", show_default=True,
    help="Train data-parallel on N devices or all (MirroredStrategy over the GPUs, else the CPUs); "
         "--batch-size is the global batch, split among them.")
