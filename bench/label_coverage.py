"""Which classes does a run's labeled subset show, and how often, compared with the whole train split?

    python bench/label_coverage.py camvid-deeplabv3plus-supervised-f0.125-s1 camvid-deeplabv3plus-supervised-f0.125-s2

A diagnosis tool: when a label budget loses a class against full supervision, this says whether
the subset lacked the class (few images, few pixels) or had it and still did not learn it. For
each class: images containing it and its share of labeled pixels (per mille), for the whole train
split and for each run's labeled.txt (runs are names under runs/bench or run directories).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from results_io import CAMVID, ROOT

from semiseg_tf.data import SegmentationDataset, read_mask


def class_counts(dataset: SegmentationDataset, stems: list[str]) -> np.ndarray:
    """(images, classes) pixel counts of the masks of `stems` (ignore pixels left out)."""
    n = dataset.classes.num_classes
    rows = []
    for sample in dataset.samples(stems=stems):
        mask = read_mask(sample.mask, n, dataset.classes.ignore_index).ravel()
        rows.append(np.bincount(mask[mask < n], minlength=n))
    return np.array(rows)


def coverage(counts: np.ndarray) -> list[str]:
    """Per class: "images containing it / pixel share in per mille"."""
    share = 1000 * counts.sum(0) / counts.sum()
    return [f"{int(i)} / {s:.1f}" for i, s in zip((counts > 0).sum(0), share)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="run names under runs/bench, or run directories")
    parser.add_argument("--data", type=Path, default=CAMVID)
    args = parser.parse_args()
    dataset = SegmentationDataset(args.data)
    train = class_counts(dataset, dataset.stems("train"))
    columns = {f"train split ({len(train)} images)": coverage(train)}
    for run in args.runs:
        run_dir = Path(run) if Path(run).is_dir() else ROOT / "runs" / "bench" / run
        listing = run_dir / "labeled.txt"
        if not listing.is_file():
            parser.error(f"{listing} not found: name a run directory written by `semiseg-tf train`")
        labeled = listing.read_text().split()
        if not labeled:
            parser.error(f"{listing} lists no images: the run trained without masks, nothing to count")
        columns[f"{run_dir.name} ({len(labeled)})"] = coverage(class_counts(dataset, labeled))
    print("images containing each class / its share of labeled pixels (per mille)\n")
    print("| class | " + " | ".join(columns) + " |\n|" + "---|" * (len(columns) + 1))
    for i, name in enumerate(dataset.classes.names):
        print(f"| {name} | " + " | ".join(cells[i] for cells in columns.values()) + " |")


if __name__ == "__main__":
    main()
