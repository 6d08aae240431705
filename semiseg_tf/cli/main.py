"""`semiseg-tf`: thin command-line glue over the library; each command lives in its own module."""

from __future__ import annotations

import importlib

import click

from semiseg_tf.cli import verbosity

# command name -> module in semiseg_tf.cli holding a click command called `command`
COMMANDS = {
    "train": "train",
    "evaluate": "evaluate",
    "predict": "predict",
    "export": "export",
    "zoo": "zoo",
    "demo": "demo",
    "pseudo-label": "pseudo_label",
    "doctor": "doctor",
    "weaken": "weaken",
    "pretrain": "pretrain",
}


class LazyGroup(click.Group):
    """Imports a command's module (and TensorFlow) only when that command runs."""

    def list_commands(self, ctx):
        return sorted(name for name, module in COMMANDS.items() if _exists(module))

    def get_command(self, ctx, name):
        if name not in COMMANDS or not _exists(COMMANDS[name]):
            return None
        return importlib.import_module(f"semiseg_tf.cli.{COMMANDS[name]}").command


def _exists(module: str) -> bool:
    return importlib.util.find_spec(f"semiseg_tf.cli.{module}") is not None


def _apply_verbosity(ctx, param, value):
    """Runs while the group's options are parsed, before a command's module (and TensorFlow) is imported."""
    verbosity.configure(value)
    return value


@click.group(cls=LazyGroup)
@click.version_option(package_name="semiseg-tf")
@click.option("--verbose", is_flag=True, is_eager=True, expose_value=False, callback=_apply_verbosity,
              help="Show TensorFlow's start-up log, library warnings and full tracebacks "
                   "(also SEMISEG_VERBOSE=1). Quiet by default.")
def cli():
    """Label-efficient semantic segmentation: train, evaluate, predict, export, zoo."""
