"""How good are a run's confident pseudo-labels, class by class, on the images it trained without masks?

    python bench/pseudo_label_quality.py --run runs/bench/camvid-deeplabv3plus-fixmatch-f0.125-s0
    python bench/pseudo_label_quality.py --labels runs/bench/pseudo-labels-TEACHER   # a `pseudo-label` folder

A diagnosis tool, not a training input: CamVid's train images all have masks, so the pool a
semi-supervised run treated as unlabeled (its unlabeled.txt) can be scored. For each class:
its share of the true pixels and of the confident pseudo-labels (confidence >= threshold, the
way FixMatch keeps them), the precision of those pseudo-labels, and the share of the class's true
pixels that get a correct confident pseudo-label (recall). A pool whose confident pixels are
mostly road and sky teaches the student road and sky. With --labels, scores the masks written
by `semiseg-tf pseudo-label` instead (255 = not kept). Writes bench/results/<name>.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import tensorflow as tf
from results_io import CAMVID, write_result

from PIL import Image

from semiseg_tf.data import SegmentationDataset, eval_dataset, read_mask
from semiseg_tf.loading import load_segmenter


def score_run(run: Path, dataset: SegmentationDataset, threshold: float):
    """(truth, kept, correct, mislabeled) pixel counts per class of a run's confident predictions on its
    unlabeled pool."""
    loaded = load_segmenter(run)
    classes = dataset.classes
    stems = (run / "unlabeled.txt").read_text().split()
    n = classes.num_classes
    truth, kept, correct, mislabeled = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)

    @tf.function(reduce_retracing=True)
    def predict(image, native_hw):
        logits = tf.image.resize(loaded.model(image, training=False), native_hw, method="bilinear")
        probabilities = tf.nn.softmax(logits)
        return tf.argmax(probabilities, -1, output_type=tf.int32)[0], tf.reduce_max(probabilities, -1)[0]

    for image, mask in eval_dataset(dataset.samples(stems=stems), n, loaded.input_size, classes.ignore_index):
        labels, confidence = (t.numpy() for t in predict(image[None], tf.shape(mask)[:2]))
        count(mask.numpy(), np.where(confidence >= threshold, labels, classes.ignore_index), classes,
              truth, kept, correct, mislabeled)
    return truth, kept, correct, mislabeled, len(stems)


def score_folder(folder: Path, dataset: SegmentationDataset):
    """(truth, kept, correct, mislabeled) per class of the pseudo-label masks in `folder` against the true masks."""
    classes = dataset.classes
    n = classes.num_classes
    truth, kept, correct, mislabeled = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    stems = sorted(p.stem for p in folder.glob("*.png"))
    for sample in dataset.samples(stems=stems):
        count(read_mask(sample.mask, n, classes.ignore_index),
              np.asarray(Image.open(folder / f"{sample.stem}.png")), classes, truth, kept, correct, mislabeled)
    return truth, kept, correct, mislabeled, len(stems)


def count(mask, pseudo, classes, truth, kept, correct, mislabeled) -> None:
    """Add one image: true pixels per class; kept pseudo-labels per class; the correct ones among them;
    true pixels per class that got a confident wrong pseudo-label (what teaches a student against it)."""
    n, ignore = classes.num_classes, classes.ignore_index
    valid = mask != ignore
    confident = valid & (pseudo != ignore)
    truth += np.bincount(mask[valid], minlength=n)[:n]
    kept += np.bincount(pseudo[confident], minlength=n)[:n]
    correct += np.bincount(pseudo[confident & (pseudo == mask)], minlength=n)[:n]
    mislabeled += np.bincount(mask[confident & (pseudo != mask)], minlength=n)[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="Run directory with model.keras and unlabeled.txt.")
    source.add_argument("--labels", help="Folder of pseudo-label masks from `semiseg-tf pseudo-label`.")
    parser.add_argument("--data", default=str(CAMVID))
    parser.add_argument("--threshold", type=float, default=0.95)
    args = parser.parse_args()

    dataset = SegmentationDataset(args.data)
    classes = dataset.classes
    if args.run:
        target = Path(args.run)
        truth, kept, correct, mislabeled, images = score_run(target, dataset, args.threshold)
    else:
        target = Path(args.labels)
        truth, kept, correct, mislabeled, images = score_folder(target, dataset)
        settings = json.loads((target / "pseudo_labels.json").read_text())

    def share(x):
        return (x / max(x.sum(), 1)).round(4).tolist()

    per_class = {name: {"true_share": share(truth)[c], "pseudo_share": share(kept)[c],
                        "precision": round(correct[c] / max(kept[c], 1), 4),
                        "recall": round(correct[c] / max(truth[c], 1), 4),
                        "mislabeled": round(mislabeled[c] / max(truth[c], 1), 4)}
                 for c, name in enumerate(classes.names)}
    result = {"task": "pseudo-label-quality", "dataset": "camvid", "model": str(target), "images": images,
              **({"threshold": args.threshold} if args.run else {"labels": str(target)} |
                 {k: settings.get(k) for k in ("model", "threshold", "class_balance", "class_thresholds",
                                               "transforms")}),
              "mask_ratio": round(kept.sum() / truth.sum(), 4),
              "precision": round(correct.sum() / max(kept.sum(), 1), 4), "per_class": per_class}
    write_result(f"pseudo-label-quality-{target.name}", result,
                 required=("task", "dataset", "model", "per_class", "command", "date"))
    print(f"{'class':12s} {'true %':>7s} {'pseudo %':>8s} {'precision':>9s} {'recall':>7s} {'mislabeled':>10s}")
    for name, row in per_class.items():
        print(f"{name:12s} {100 * row['true_share']:7.1f} {100 * row['pseudo_share']:8.1f} "
              f"{100 * row['precision']:9.1f} {100 * row['recall']:7.1f} {100 * row['mislabeled']:10.1f}")
    print(json.dumps({k: result[k] for k in ("mask_ratio", "precision")}))


if __name__ == "__main__":
    main()
