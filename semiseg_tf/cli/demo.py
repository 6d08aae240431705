"""`semiseg-tf demo`: the main job on built-in data, end to end, with no download."""

from __future__ import annotations

from pathlib import Path

import click

from semiseg_tf.cli.options import friendly_errors


@click.command("demo")
@click.option("--out", type=click.Path(file_okay=False), default="runs/demo", show_default=True)
@click.option("--steps", type=int, default=600, show_default=True)
@click.option("--model", default="deeplabv3plus-tiny", show_default=True)
@click.pass_context
@friendly_errors
def command(ctx, out, steps, model):
    """Train on the built-in shapes data, evaluate on its val split, predict coloured masks."""
    from semiseg_tf.cli.evaluate import command as evaluate_command
    from semiseg_tf.cli.predict import command as predict_command
    from semiseg_tf.cli.train import command as train_command
    from semiseg_tf.data import resolve_data

    out = Path(out)
    data = resolve_data("builtin:shapes")
    click.echo(f"== 1/3 train {model} for {steps} steps on {data}")
    resume = (out / "run" / "config.json").is_file()
    ctx.invoke(train_command, data=str(data), model=model, steps=steps, batch_size=8, learning_rate=3e-3,
               checkpoint_every=min(100, steps), out=str(out / "run"), resume=resume, no_eval=True,
               method_options=())
    click.echo("== 2/3 evaluate on the val split")
    ctx.invoke(evaluate_command, model_ref=str(out / "run"), data=str(data), split="val")
    click.echo(f"== 3/3 predict the val images into {out / 'predictions'}")
    images = [str(data / "images" / f"{stem}.png") for stem in (data / "val.txt").read_text().split()[:8]]
    predict_command.main(["--model", str(out / "run"), *images, "--out", str(out / "predictions"),
                          "--save", "mask,overlay"], standalone_mode=False)
