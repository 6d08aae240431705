"""`semiseg-tf train`."""

from __future__ import annotations

import click

from semiseg_tf.cli.options import SIZE, friendly_errors, parse_key_values


@click.command("train")
@click.option("--data", default="builtin:shapes", show_default=True,
              help="Dataset folder (images/, masks/, split lists, classes.json) or builtin:shapes.")
@click.option("--model", default="deeplabv3plus", show_default=True,
              help="Model preset: deeplabv3plus, deeplabv3plus-tiny, unet, unet-tiny.")
@click.option("--method", default="supervised", show_default=True, help="Training method.")
@click.option("--labeled-fraction", type=float, default=None, help="Fraction of the train split whose masks are used.")
@click.option("--labeled-list", type=click.Path(dir_okay=False), default=None, help="File of stems whose masks are used.")
@click.option("--unlabeled", type=click.Path(file_okay=False), default=None,
              help="Extra folder of unlabeled images for semi-supervised methods.")
@click.option("--unlabeled-ratio", type=int, default=1, show_default=True,
              help="Unlabeled images per labeled image in each step.")
@click.option("--extra-labels", type=click.Path(file_okay=False), default=None,
              help="Folder of pseudo-label masks (from `semiseg-tf pseudo-label`) used as extra labeled data.")
@click.option("--extra-labels-share", type=float, default=None,
              help="Share of each batch drawn from --extra-labels (e.g. 0.5); default: uniform over all masks.")
@click.option("--init-from", default=None,
              help="Run directory, .keras file or zoo name whose weights start training (same architecture).")
@click.option("--method-option", "method_options", multiple=True, metavar="KEY=VALUE",
              help="Method hyper-parameter, repeatable (e.g. threshold=0.95).")
@click.option("--equivariance-weight", type=float, default=None,
              help="Add the equivariance loss to a semi-supervised method with this weight "
                   "(= --method-option equivariance_weight=W).")
@click.option("--equivariance-transforms", default=None,
              help="Transforms of the equivariance loss (default hflip), e.g. hflip,rot90,rot180,rot270 "
                   "for rotation-invariant imagery or hflip,scale=0.5 (= --method-option equivariance_transforms=...).")
@click.option("--steps", type=int, default=1000, show_default=True, help="Optimisation steps.")
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option("--train-size", type=SIZE, default=None, help="Resolution images are brought to, HxW (default: native).")
@click.option("--crop-size", type=SIZE, default=None, help="Random crop the network sees, HxW (default: train size).")
@click.option("--lr", "learning_rate", type=float, default=1e-3, show_default=True, help="Peak AdamW learning rate.")
@click.option("--weight-decay", type=float, default=1e-4, show_default=True)
@click.option("--schedule", type=click.Choice(["poly", "cosine"]), default="poly", show_default=True)
@click.option("--class-weighting", type=click.Choice(["sqrt-median-frequency", "median-frequency", "none"]),
              default="sqrt-median-frequency", show_default=True)
@click.option("--checkpoint-every", type=int, default=100, show_default=True, help="Steps between checkpoints.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--jit-compile", type=click.Choice(["auto", "true", "false"]), default="false", show_default=True,
              help="XLA; slower than plain TF on small CPUs (see BENCHMARKS.md).")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Run directory.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--no-eval", is_flag=True, help="Skip the evaluation on the val split at the end.")
@friendly_errors
def command(out, resume, no_eval, **options):
    """Train a segmentation model; checkpoints, TensorBoard logs and history go to --out."""
    from semiseg_tf.evaluation import evaluate
    from semiseg_tf.loading import load_segmenter
    from semiseg_tf.metrics import format_table
    from semiseg_tf.training import TrainConfig, train

    options["method_options"] = parse_key_values(options["method_options"])
    for key in ("equivariance_weight", "equivariance_transforms"):  # shortcuts for two method options
        value = options.pop(key)
        if value is None:
            continue
        if options["method_options"].get(key, value) != value:
            raise click.UsageError(f"--{key.replace('_', '-')} {value} contradicts --method-option "
                                   f"{key}={options['method_options'][key]}; give one of them.")
        options["method_options"][key] = value
    config = TrainConfig(**options)
    summary = train(config, out, resume=resume)
    click.echo(f"trained {summary['steps']} steps in {summary['train_seconds']:.0f} s "
               f"({summary['images_per_second']:.1f} images/s); model saved to {out}/model.keras")
    loaded = load_segmenter(out)
    split = loaded.metadata["train"].get("val_split")
    if no_eval or not split:
        return
    from semiseg_tf.data import resolve_data

    data = resolve_data(loaded.metadata["train"]["data"])
    if not (data / f"{split}.txt").is_file():
        return
    result = evaluate(loaded.model, data, split, loaded.input_size, out=f"{out}/eval_{split}.json")
    click.echo(format_table(result))
