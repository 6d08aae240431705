"""`semiseg-tf weaken`: derive scribbles, points, coarse masks, boxes or tags from a split's full masks."""

from __future__ import annotations

import click

from semiseg_tf.cli.options import friendly_errors


@click.command("weaken")
@click.option("--data", required=True, type=click.Path(file_okay=False), help="Dataset folder with full masks.")
@click.option("--kind", required=True, type=click.Choice(["scribble", "point", "coarse", "box", "tag"]),
              help="Weak label kind to simulate.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Output folder: masks/, points.csv, boxes.csv or tags.csv, annotation.json.")
@click.option("--split", default="train", show_default=True, help="Split whose images are weakened.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, byte-identical output.")
@click.option("--min-area", type=click.IntRange(min=1), default=None,
              help="Regions (connected components of a class) below this many pixels get no label "
                   "[default: 0.1 % of the image].")
@click.option("--width", type=click.IntRange(min=1), default=3, show_default=True, help="scribble: stroke width, px.")
@click.option("--length-share", type=click.FloatRange(0, 1, min_open=True), default=0.5, show_default=True,
              help="scribble: share of the longest path through the region's skeleton that the stroke covers.")
@click.option("--region-share", type=click.FloatRange(0, 1, min_open=True), default=1.0, show_default=True,
              help="scribble: share of regions scribbled (1.0: every region, ScribbleSup's protocol).")
@click.option("--points", "points", type=click.IntRange(min=1), default=1, show_default=True,
              help="point: clicks per region (or per class with --per class).")
@click.option("--per", type=click.Choice(["region", "class"]), default="region", show_default=True,
              help="point: clicks per connected region or per class.")
@click.option("--radius", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="point: disc radius in masks/ (1: a 5-pixel plus that survives downscaling).")
@click.option("--band", type=click.IntRange(min=0), default=8, show_default=True,
              help="coarse: unlabeled band along every boundary, px (8 suits 360x480).")
@click.option("--core-share", type=click.FloatRange(0, 1, max_open=True), default=0.5, show_default=True,
              help="coarse: a region thinner than twice the band keeps pixels deeper than this share of its "
                   "deepest (0: thin regions vanish).")
@click.option("--jitter", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True,
              help="box: each side moves by up to this fraction of the box size.")
@click.option("--min-pixels", type=click.IntRange(min=1), default=1, show_default=True,
              help="tag: a class is tagged when it has at least this many pixels.")
@friendly_errors
def command(data, kind, out, split, seed, **options):
    """Simulate weak labels from full masks, with an annotation-time estimate (annotation.json)."""
    from semiseg_tf.weak import WeakenOptions, weaken

    summary = weaken(data, kind, out, split=split, seed=seed, options=WeakenOptions(**options))
    full = summary["full_mask"]["annotation_hours"]
    click.echo(f"{summary['images']} images of {split}: {kind} labels, {summary['annotation_hours']:.2f} "
               f"annotation hours (full masks: {full:.2f} h, {summary['share_of_full_mask_time']:.1%})")
    click.echo(f"Results saved to {out}")
