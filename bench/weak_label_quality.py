"""How right are weak training labels before any training? Share of pixels labeled and share labeled correctly.

    python bench/weak_label_quality.py --data ../shared/data/camvid --weak runs/weak/camvid-box --grabcut
    python bench/weak_label_quality.py --data ../shared/data/camvid --weak runs/bench/RUN-labels
    python bench/weak_label_quality.py --data ../shared/data/camvid --weak runs/weak/camvid-point --grow-to-superpixels 100

For box annotations (a folder with boxes.csv), the first-round label maps at several `inner_share`
values (with `--grabcut`, also after GrabCut's refinement); for a folder of label maps (masks/ or
<stem>.png: scribbles, coarse masks, a next round's
pseudo-labels), the maps as they are, or grown to superpixels as `train --grow-to-superpixels` grows them
(a list of scales: one setting each). Scored against the full masks of the same train images (the
masks are only read here, never by training); writes bench/results/weak-label-quality-<name>.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from results_io import CAMVID, write_result

from semiseg_tf.data import SegmentationDataset, read_image, read_mask
from semiseg_tf.data.annotations import read_boxes
from semiseg_tf.weak.box_labels import box_label_map
from semiseg_tf.weak.superpixels import grow_to_superpixels


def score(dataset: SegmentationDataset, label_maps) -> dict:
    """Pixel shares over the train images' valid (non-void) pixels: labeled, and correct among labeled,
    overall and per class of the label; and per true class, the share of its pixels labeled correctly
    (what a thin class keeps)."""
    n, ignore = dataset.classes.num_classes, dataset.classes.ignore_index
    labeled = correct = valid = 0
    per_class = np.zeros((n, 3), np.int64)  # labeled as c, correct, true pixels of c
    for stem, labels in label_maps:
        full = read_mask(dataset.root / "masks" / f"{stem}.png", n, ignore)
        keep = (full != ignore) & (labels != ignore)
        labeled, valid = labeled + keep.sum(), valid + (full != ignore).sum()
        right = keep & (labels == full)
        correct += right.sum()
        per_class[:, 0] += np.bincount(labels[keep], minlength=n)[:n]
        per_class[:, 1] += np.bincount(labels[right], minlength=n)[:n]
        per_class[:, 2] += np.bincount(full[full != ignore], minlength=n)[:n]
    return {"labeled_share": round(float(labeled / valid), 4), "precision": round(float(correct / max(labeled, 1)), 4),
            "per_class_precision": {name: round(float(c / l), 4) if l else None
                                    for name, (l, c, _) in zip(dataset.classes.names, per_class)},
            "per_class_recall": {name: round(float(c / t), 4) if t else None
                                 for name, (_, c, t) in zip(dataset.classes.names, per_class)}}


def grown(dataset: SegmentationDataset, path: Path, scale: float) -> np.ndarray:
    """The label map at `path` grown to its image's superpixels, as training grows it."""
    image = read_image(dataset.samples(stems=[path.stem], labeled=False)[0].image)
    labels = read_mask(path, dataset.classes.num_classes, dataset.classes.ignore_index)
    return grow_to_superpixels(image, labels, dataset.classes.ignore_index, scale)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=CAMVID)
    parser.add_argument("--weak", type=Path, required=True)
    parser.add_argument("--inner-shares", default="1,0.5,0.25")
    parser.add_argument("--grabcut", action="store_true",
                        help="Boxes: also each inner share after GrabCut rules classes out "
                             "(train --refine-boxes grabcut).")
    parser.add_argument("--grow-to-superpixels", default=None, metavar="SCALES",
                        help="Label maps grown to Felzenszwalb superpixels at each of these scales (e.g. 100,300).")
    parser.add_argument("--name", default=None, help="Result name (default: weak-label-quality-<weak folder>).")
    args = parser.parse_args()
    dataset = SegmentationDataset(args.data)
    stems = set(dataset.stems("train"))
    n, ignore = dataset.classes.num_classes, dataset.classes.ignore_index
    if (args.weak / "boxes.csv").is_file():
        boxes = {stem: b for stem, b in read_boxes(args.weak / "boxes.csv", dataset).items() if stem in stems}
        sizes = {stem: dataset.image_size(dataset.samples(stems=[stem], labeled=False)[0]) for stem in boxes}
        shares = [float(v) for v in args.inner_shares.split(",")]
        results = {f"inner_share={share:g}": score(dataset, ((stem, box_label_map(b, sizes[stem], n, share, ignore))
                                                             for stem, b in boxes.items()))
                   for share in shares}
        for share in shares if args.grabcut else ():
            results[f"grabcut,inner_share={share:g}"] = score(dataset, (
                (stem, box_label_map(b, sizes[stem], n, share, ignore, image=read_image(
                    dataset.samples(stems=[stem], labeled=False)[0].image))) for stem, b in boxes.items()))
        kind = "box"
    else:
        folder = args.weak / "masks" if (args.weak / "masks").is_dir() else args.weak
        maps = sorted(p for p in folder.glob("*.png") if p.stem in stems)
        results = {"label_maps": score(dataset, ((p.stem, read_mask(p, n, ignore)) for p in maps))}
        for scale in (float(v) for v in (args.grow_to_superpixels or "").split(",") if v):
            results[f"superpixels={scale:g}"] = score(dataset, ((p.stem, grown(dataset, p, scale)) for p in maps))
        kind = "label maps"
    name = args.name or f"weak-label-quality-{args.weak.name}"
    write_result(name, {"task": "weak-label-quality", "dataset": args.data.name, "split": "train",
                        "weak": str(args.weak), "kind": kind, "results": results},
                 required=("task", "dataset", "split", "command", "date"))
    for setting, r in results.items():
        print(f"{name} {setting}: {100 * r['labeled_share']:.1f} % of pixels labeled, "
              f"{100 * r['precision']:.1f} % of them correctly")


if __name__ == "__main__":
    main()
