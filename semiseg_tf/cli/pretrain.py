"""`semiseg-tf pretrain`: self-supervised pretraining of a preset's encoder on unlabeled images."""

from __future__ import annotations

import click

from semiseg_tf.cli.options import DEVICES, friendly_errors, note_ignored_on_resume, parse_key_values
from semiseg_tf.models.registry import PRESETS
from semiseg_tf.pretraining.config import METHODS

POSITIVE = click.IntRange(min=1)


@click.command("pretrain")
@click.option("--method", type=click.Choice(list(METHODS)), default=None,
              help="Pretext task: rotation (Gidaris et al. 2018), jigsaw (Noroozi & Favaro 2016), deepcluster "
                   "(Caron et al. 2018), dense (DetCon, Hénaff et al. 2021, on Felzenszwalb regions: pixel-level, "
                   "suited to segmentation). Required unless --resume.")
@click.option("--images", type=click.Path(file_okay=False), default=None,
              help="Folder of unlabeled images (or a folder with images/).")
@click.option("--data", default=None,
              help="Dataset folder whose --split images are used too (masks are never read).")
@click.option("--split", default="train", show_default=True, help="Split of --data (test is refused).")
@click.option("--model", type=click.Choice(sorted(PRESETS)), default="deeplabv3plus", show_default=True,
              help="Model preset whose encoder is pretrained (the weights load into this preset).")
@click.option("--method-option", "method_options", multiple=True, metavar="KEY=VALUE",
              help="Method hyper-parameter, repeatable, e.g. permutations=100 (jigsaw), clusters=50 "
                   "(deepcluster), fh_scale=300 (dense); typed and range-checked.")
@click.option("--steps", type=POSITIVE, default=None,
              help="Optimisation steps, exactly  [default: 1000]. With --resume: continue to this new total.")
@click.option("--batch-size", type=POSITIVE, default=32, show_default=True,
              help="Images a step (rotation shows each at 4 angles, dense in 2 views).")
@click.option("--image-size", type=click.IntRange(min=32), default=128, show_default=True,
              help="Side of the square crops the encoder sees, px (jigsaw: of the 3x3 puzzle).")
@click.option("--lr", "learning_rate", type=click.FloatRange(0, min_open=True), default=1e-3, show_default=True,
              help="Peak AdamW learning rate (cosine decay).")
@click.option("--weight-decay", type=click.FloatRange(0), default=1e-4, show_default=True)
@click.option("--warmup-steps", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--checkpoint-every", type=POSITIVE, default=100, show_default=True,
              help="Steps between checkpoints (and a checkpoint at the last step).")
@click.option("--log-every", type=POSITIVE, default=10, show_default=True,
              help="Steps between progress lines, history.csv rows and TensorBoard points.")
@click.option("--bn-recalibration-batches", type=click.IntRange(min=0), default=20, show_default=True,
              help="Re-estimate the encoder's BatchNorm statistics over this many batches of plain crops at the end.")
@click.option("--seed", type=int, default=0, show_default=True)
@DEVICES
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Output folder: encoder.weights.h5, encoder.json, card.json, history.csv, logs/.")
@click.option("--resume", is_flag=True,
              help="Continue the run in --out from its last checkpoint (its stored options; --steps may raise "
                   "the total).")
@friendly_errors
def command(out, resume, **options):
    """Pretrain a model preset's encoder on your own unlabeled images, without labels."""
    from semiseg_tf.pretraining import PretrainConfig, pretrain

    steps = options.pop("steps")
    if resume:
        note_ignored_on_resume(options)
        card = pretrain(PretrainConfig(), out, resume=True, steps=steps)
    else:
        if options["method"] is None:
            raise click.UsageError(f"--method is required: one of {', '.join(METHODS)}.")
        options["method_options"] = parse_key_values(options["method_options"])
        card = pretrain(PretrainConfig(**options, steps=steps or 1000), out)
    metric = card["final_metric"]
    value = "n/a" if metric["value"] is None else f"{metric['value']:.3f}"
    chance = f" (chance {metric['chance']:.3f})" if metric["chance"] is not None else ""
    resumed = f" (resumed at step {card['resumed_from_step']})" if card["resumed_from_step"] else ""
    click.echo(f"{card['method']}: {card['steps']} steps{resumed} on {card['images']} images in "
               f"{card['train_seconds']:.0f} s; final {metric['name']} {value}{chance}")
    click.echo(f"Results saved to {out} (encoder weights: {out}/encoder.weights.h5)")
