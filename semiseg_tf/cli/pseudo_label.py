"""`semiseg-tf pseudo-label`: ensemble pseudo-labels for an unlabeled pool (data distillation)."""

from __future__ import annotations

import click

from semiseg_tf.cli.options import SIZE, friendly_errors


@click.command("pseudo-label")
@click.option("--model", "model_ref", required=True,
              help="Run directory from `semiseg-tf train` (or a .keras file) that labels the pool.")
@click.option("--images", required=True, type=click.Path(file_okay=False), help="Folder of unlabeled images.")
@click.option("--stems", type=click.Path(dir_okay=False), default=None,
              help="Only these stems, one per line (e.g. RUN/unlabeled.txt).")
@click.option("--transforms", default="flip,scales=0.75,1,1.25", show_default=True,
              help="Ensemble: flip, rot90/rot180/rot270 and scales=S1,S2,... (every scale with each).")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.9, show_default=True,
              help="Ensemble confidence below which a pixel is left unlabeled (255).")
@click.option("--class-balance", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Also keep, for every class, its most confident fraction P of pixels (CBST; e.g. 0.5), "
                   "so rare classes are not all left unlabeled by --threshold.")
@click.option("--boxes", type=click.Path(dir_okay=True), default=None,
              help="Boxes of the images (boxes.csv, VOC XML folder or COCO JSON): each pixel takes only the class "
                   "of a box covering it, under-filled boxes fall back to their first-round labels (Simple Does It).")
@click.option("--min-box-fill", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="With --boxes: a box whose predicted segment fills less than this share of it is reset.")
@click.option("--tags", type=click.Path(dir_okay=False), default=None,
              help="Image tags (tags.csv / .json): each pixel takes only a class its image is tagged with.")
@click.option("--drawn", type=click.Path(file_okay=False), default=None,
              help="Partial labels (scribbles, points, coarse masks: `weaken`'s folder or <stem>.png label maps): "
                   "their labeled pixels keep the drawn class, the next round's labels of a partially labeled run.")
@click.option("--input-size", type=SIZE, default=None,
              help="HxW the model sees (default: the run's train size, else the image size).")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder for <stem>.png masks; pass it to `train --extra-labels`.")
@friendly_errors
def command(model_ref, images, stems, transforms, threshold, class_balance, boxes, min_box_fill, tags, drawn,
            input_size, out):
    """Write ensemble pseudo-label masks (255 where not confident) for a folder of images; with --boxes,
    --tags or --drawn, the next round's labels of a weakly supervised run."""
    from pathlib import Path

    from semiseg_tf.data import DataError, find_images
    from semiseg_tf.loading import load_segmenter
    from semiseg_tf.methods.geometric import ensemble_transforms
    from semiseg_tf.pseudo_label import pseudo_label_images

    try:
        members = ensemble_transforms(transforms)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--transforms") from exc
    paths = find_images(images)
    if stems:
        wanted = {line.strip() for line in Path(stems).read_text().splitlines() if line.strip()}
        paths = [p for p in paths if p.stem in wanted]
        if not paths:
            raise DataError(stems, f"names none of the images in {images}.", "pass the matching --images folder.")
    if sum(bool(v) for v in (boxes, tags, drawn)) > 1:
        raise click.UsageError("pass one of --boxes, --tags and --drawn.")
    loaded = load_segmenter(model_ref)
    classes = loaded.classes
    constraint = weak_constraint(find_images(images), classes, int(loaded.model.output_shape[-1]), boxes, tags,
                                 min_box_fill, drawn)
    summary = pseudo_label_images(
        loaded.model, paths, out, members, threshold, input_size or loaded.input_size,
        ignore_index=classes.ignore_index if classes else 255, palette=classes.palette if classes else None,
        source={"model": str(model_ref), "images_folder": str(images), "stems": stems},
        class_balance=class_balance, constraint=constraint)
    click.echo(f"{summary['images']} images, {len(members)} transforms ({', '.join(summary['transforms'])}); "
               f"{summary['mean_coverage']:.1%} of pixels labeled at threshold {threshold}")
    click.echo(f"Speed: {1000 * summary['seconds_per_image']:.1f} ms per image")
    click.echo(f"Results saved to {out}")


def weak_constraint(paths, classes, num_classes: int, boxes, tags, min_box_fill: float, drawn=None):
    """The box, tag or drawn-label constraint (None without any), checked against the images `paths` (the
    whole folder, so one boxes.csv serves every split): a stem without an image is an error."""
    if not (boxes or tags or drawn):
        return None
    from pathlib import Path

    from PIL import Image

    from semiseg_tf.data import DataError
    from semiseg_tf.data.annotations import read_boxes, read_tags
    from semiseg_tf.weak.constraints import BoxConstraint, DrawnLabels, TagConstraint

    if drawn:
        folder = Path(drawn) / "masks" if (Path(drawn) / "masks").is_dir() else Path(drawn)
        if not {p.stem for p in folder.glob("*.png")} & {p.stem for p in paths}:
            raise DataError(folder, "holds no label map named like the images.",
                            "pass `semiseg-tf weaken`'s --out folder or a folder of <stem>.png label maps.")
        return DrawnLabels(folder, num_classes, classes.ignore_index if classes else 255)
    if classes is None:
        raise click.UsageError("--boxes/--tags need a model that knows its class names (a run directory).")
    sizes = {}
    for path in paths:
        with Image.open(path) as image:
            sizes[path.stem] = (image.height, image.width)
    if boxes:
        return BoxConstraint(read_boxes(boxes, sizes, classes), num_classes, min_box_fill,
                             ignore_index=classes.ignore_index)
    return TagConstraint(read_tags(tags, sizes, classes), num_classes)
