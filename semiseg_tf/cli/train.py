"""`semiseg-tf train`."""

from __future__ import annotations

import click

from semiseg_tf.cli.options import (DEVICES, SIZE, TRAIN_SIZE, friendly_errors, note_ignored_on_resume,
                                    parse_key_values)
from semiseg_tf.methods import METHODS
from semiseg_tf.models.registry import PRESETS

POSITIVE = click.IntRange(min=1)


@click.command("train")
@click.option("--data", default="builtin:shapes", show_default=True,
              help="Dataset folder (images/, masks/, split lists, classes.json) or builtin:shapes.")
@click.option("--model", type=click.Choice(sorted(PRESETS)), default="deeplabv3plus", show_default=True,
              help="Model preset.")
@click.option("--method", type=click.Choice(sorted(METHODS)), default="supervised", show_default=True,
              help="Training method (README: Methods).")
@click.option("--labeled-fraction", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Fraction of the train split whose masks are used.")
@click.option("--labeled-list", type=click.Path(dir_okay=False), default=None,
              help="File of stems whose masks are used.")
@click.option("--unlabeled", type=click.Path(file_okay=False), default=None,
              help="Extra folder of unlabeled images for semi-supervised methods.")
@click.option("--unlabeled-ratio", type=POSITIVE, default=1, show_default=True,
              help="Unlabeled images per labeled image in each step.")
@click.option("--annotations", "annotations", multiple=True, metavar="KIND=DIR",
              help="Weak labels for the train images without full masks, repeatable: scribble, point, coarse or "
                   "box label maps in DIR/masks/<stem>.png (255 = unlabeled), clicks (points.csv), boxes "
                   "(boxes.csv) or image tags (tags.csv, --method wildcat), e.g. from `semiseg-tf weaken`. Without "
                   "--labeled-fraction/--labeled-list no full mask is used.")
@click.option("--grow-to-superpixels", "superpixel_scale", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="SCALE",
              help="Grow scribbles, points and coarse masks to each Felzenszwalb superpixel (scikit-image scale, "
                   "e.g. 100) whose labeled pixels agree, once before training (ScribbleSup's propagation).")
@click.option("--refine-boxes", type=click.Choice(["grabcut"]), default=None,
              help="Refine box labels (boxes.csv) with GrabCut (OpenCV) before training: a box's class is ruled out "
                   "where GrabCut segments its pixels as background and another box covers them (SDI's GrabCut+).")
@click.option("--extra-labels", type=click.Path(file_okay=False), default=None,
              help="Folder of pseudo-label masks (from `semiseg-tf pseudo-label`) used as extra labeled data.")
@click.option("--extra-labels-share", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Share of each batch drawn from --extra-labels (e.g. 0.5); default: uniform over all masks.")
@click.option("--init-from", default=None,
              help="Run directory, .keras file or zoo name whose weights start training (same architecture).")
@click.option("--encoder-weights", default=None, type=click.Path(exists=True),
              help="Pretrained encoder: the --out folder of `semiseg-tf pretrain` or its encoder.weights.h5 "
                   "(same encoder as --model; shapes checked layer by layer).")
@click.option("--method-option", "method_options", multiple=True, metavar="KEY=VALUE",
              help="Method hyper-parameter, repeatable (e.g. threshold=0.95); typed and range-checked, "
                   "README: Methods lists each method's options.")
@click.option("--equivariance-weight", type=float, default=None,
              help="Add the equivariance loss to a semi-supervised method with this weight "
                   "(= --method-option equivariance_weight=W).")
@click.option("--equivariance-transforms", default=None,
              help="Transforms of the equivariance loss (default hflip), e.g. hflip,rot90,rot180,rot270 "
                   "for rotation-invariant imagery or hflip,scale=0.5 (= --method-option equivariance_transforms=...).")
@click.option("--steps", type=POSITIVE, default=None,
              help="Optimisation steps, exactly  [default: 1000]. With --resume: continue to this new total.")
@click.option("--batch-size", type=POSITIVE, default=8, show_default=True)
@click.option("--train-size", type=TRAIN_SIZE, default=None,
              help="Resolution images are brought to before random scaling, HxW, or native (scale around each "
                   "image's own size, for large or differently sized images)  [default: the images' size if "
                   "they share one, else native].")
@click.option("--crop-size", type=SIZE, default=None,
              help="Random crop the network sees, HxW  [default: train size; 512x512 with native].")
@click.option("--lr", "learning_rate", type=click.FloatRange(0, min_open=True), default=1e-3, show_default=True,
              help="Peak AdamW learning rate.")
@click.option("--weight-decay", type=click.FloatRange(0), default=1e-4, show_default=True)
@click.option("--schedule", type=click.Choice(["poly", "cosine"]), default="poly", show_default=True)
@click.option("--class-weighting", type=click.Choice(["sqrt-median-frequency", "median-frequency", "none"]),
              default="sqrt-median-frequency", show_default=True)
@click.option("--checkpoint-every", type=POSITIVE, default=100, show_default=True,
              help="Steps between checkpoints (and a checkpoint at the last step).")
@click.option("--log-every", type=POSITIVE, default=10, show_default=True,
              help="Steps between progress lines, history.csv rows and TensorBoard points.")
@click.option("--bn-recalibration-batches", type=click.IntRange(min=0), default=100, show_default=True,
              help="Re-estimate BatchNorm statistics over this many batches of training crops at the end "
                   "(PreciseBN; 0 keeps the moving averages, which lag the weights after short runs).")
@click.option("--val-split", default="val", show_default=True,
              help="Split evaluated at the end (none: skip).")
@click.option("--val-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Instead of --val-split: hold out this share of the train split and evaluate on it.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--jit-compile", type=click.Choice(["auto", "true", "false"]), default="false", show_default=True,
              help="XLA; slower than plain TF on small CPUs (docs/2026-11-24-training-cost.md).")
@DEVICES
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), default="fp32", show_default=True,
              help="Mixed precision: bf16 or fp16 (with loss scaling) compute, float32 variables and losses; auto = "
                   "fp16 on a CUDA GPU, bf16 on CPUs with AMX/AVX512-BF16, else fp32. The saved model is float32.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Run directory.")
@click.option("--resume", is_flag=True,
              help="Continue the run in --out from its last checkpoint (its stored options; --steps may raise "
                   "the total).")
@click.option("--no-eval", is_flag=True, help="Skip the evaluation at the end.")
@friendly_errors
def command(out, resume, no_eval, **options):
    """Train a segmentation model; checkpoints, TensorBoard logs and history go to --out."""
    from semiseg_tf.metrics import format_table
    from semiseg_tf.training import TrainConfig, evaluate_run, train

    steps = options.pop("steps")
    if resume:
        note_ignored_on_resume(options)
        summary = train(TrainConfig(), out, resume=True, steps=steps)
    else:
        options["method_options"] = parse_key_values(options["method_options"])
        options["annotations"] = {kind: str(path) for kind, path in parse_key_values(options["annotations"]).items()}
        for key in ("equivariance_weight", "equivariance_transforms"):  # shortcuts for two method options
            value = options.pop(key)
            if value is None:
                continue
            if options["method_options"].get(key, value) != value:
                raise click.UsageError(f"--{key.replace('_', '-')} {value} contradicts --method-option "
                                       f"{key}={options['method_options'][key]}; give one of them.")
            options["method_options"][key] = value
        options["val_split"] = None if options["val_split"] == "none" else options["val_split"]
        summary = train(TrainConfig(**options, steps=steps or 1000), out)
    resumed = f" (resumed at step {summary['resumed_from_step']})" if summary["resumed_from_step"] else ""
    click.echo(f"trained {summary['steps']} steps{resumed} in {summary['train_seconds']:.0f} s "
               f"({summary['images_per_second']:.1f} labeled images/s); BatchNorm statistics re-estimated over "
               f"{summary['bn_recalibration_batches']} batches; model saved to {out}/model.keras")
    if no_eval:
        return
    result = evaluate_run(out)
    if result is not None:
        click.echo(format_table(result))
