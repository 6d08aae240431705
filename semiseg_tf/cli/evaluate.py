"""`semiseg-tf evaluate`."""

from __future__ import annotations

import click

from semiseg_tf.cli.options import SIZE, friendly_errors


@click.command("evaluate")
@click.option("--model", "model_ref", required=True, help="Run directory or .keras file.")
@click.option("--data", default="builtin:shapes", show_default=True, help="Dataset folder or builtin:shapes.")
@click.option("--split", default="val", show_default=True)
@click.option("--input-size", type=SIZE, default=None,
              help="Size images are resized to before the model, HxW (default: the run's train size, else native).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="JSON file for the results.")
@friendly_errors
def command(model_ref, data, split, input_size, out):
    """Confusion-matrix mIoU, per-class IoU and accuracy at the dataset's native resolution."""
    from pathlib import Path

    from semiseg_tf.data import resolve_data
    from semiseg_tf.evaluation import evaluate
    from semiseg_tf.loading import load_segmenter
    from semiseg_tf.metrics import format_table

    loaded = load_segmenter(model_ref)
    if out is None and Path(model_ref).is_dir():
        out = str(Path(model_ref) / f"eval_{split}.json")
    result = evaluate(loaded.model, resolve_data(data), split, input_size or loaded.input_size, out=out)
    click.echo(format_table(result))
    if out:
        click.echo(f"Results saved to {out}")
