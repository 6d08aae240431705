"""How good are a run's confident pseudo-labels, class by class, on the images it trained without masks?

    python bench/pseudo_label_quality.py --run runs/bench/camvid-deeplabv3plus-fixmatch-f0.125-s0

A diagnosis tool, not a training input: CamVid's train images all have masks, so the pool a
semi-supervised run treated as unlabeled (its unlabeled.txt) can be scored. For each class:
its share of the true pixels and of the confident pseudo-labels (confidence >= threshold, the
way FixMatch keeps them), the precision of those pseudo-labels, and the share of the class's true
pixels that get a correct confident pseudo-label (recall). A pool whose confident pixels are
mostly road and sky teaches the student road and sky. Writes bench/results/<name>.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import tensorflow as tf
from results_io import write_result

from semiseg_tf.data import SegmentationDataset, eval_dataset
from semiseg_tf.loading import load_segmenter

CAMVID = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "camvid"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="Run directory with model.keras and unlabeled.txt.")
    parser.add_argument("--data", default=str(CAMVID))
    parser.add_argument("--threshold", type=float, default=0.95)
    args = parser.parse_args()

    run = Path(args.run)
    loaded = load_segmenter(run)
    dataset = SegmentationDataset(args.data)
    classes = dataset.classes
    stems = (run / "unlabeled.txt").read_text().split()
    n = classes.num_classes
    truth, kept, correct = np.zeros(n), np.zeros(n), np.zeros(n)

    @tf.function(reduce_retracing=True)
    def predict(image, native_hw):
        logits = tf.image.resize(loaded.model(image, training=False), native_hw, method="bilinear")
        probabilities = tf.nn.softmax(logits)
        return tf.argmax(probabilities, -1, output_type=tf.int32)[0], tf.reduce_max(probabilities, -1)[0]

    for image, mask in eval_dataset(dataset.samples(stems=stems), n, loaded.input_size, classes.ignore_index):
        labels, confidence = (t.numpy() for t in predict(image[None], tf.shape(mask)[:2]))
        mask = mask.numpy()
        valid = mask != classes.ignore_index
        confident = valid & (confidence >= args.threshold)
        truth += np.bincount(mask[valid], minlength=n)[:n]
        kept += np.bincount(labels[confident], minlength=n)[:n]
        correct += np.bincount(labels[confident & (labels == mask)], minlength=n)[:n]

    def share(x):
        return (x / max(x.sum(), 1)).round(4).tolist()

    per_class = {name: {"true_share": share(truth)[c], "pseudo_share": share(kept)[c],
                        "precision": round(correct[c] / max(kept[c], 1), 4),
                        "recall": round(correct[c] / max(truth[c], 1), 4)} for c, name in enumerate(classes.names)}
    result = {"task": "pseudo-label-quality", "dataset": "camvid", "model": str(run), "images": len(stems),
              "threshold": args.threshold, "mask_ratio": round(kept.sum() / truth.sum(), 4),
              "precision": round(correct.sum() / max(kept.sum(), 1), 4), "per_class": per_class}
    write_result(f"pseudo-label-quality-{run.name}", result,
                 required=("task", "dataset", "model", "per_class", "command", "date"))
    print(f"{'class':12s} {'true %':>7s} {'pseudo %':>8s} {'precision':>9s} {'recall':>7s}")
    for name, row in per_class.items():
        print(f"{name:12s} {100 * row['true_share']:7.1f} {100 * row['pseudo_share']:8.1f} "
              f"{100 * row['precision']:9.1f} {100 * row['recall']:7.1f}")
    print(json.dumps({k: result[k] for k in ("mask_ratio", "precision")}))


if __name__ == "__main__":
    main()
