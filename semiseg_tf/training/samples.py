"""Which images a run trains on, and with which labels: full masks, weak labels by kind, pseudo-labels, none."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semiseg_tf.data import (DataError, Sample, SegmentationDataset, hold_out, read_mask, select_labeled,
                             unlabeled_samples, write_png)
from semiseg_tf.losses import median_frequency_weights


def class_weights(dataset: SegmentationDataset, samples, scheme: str) -> list[float] | None:
    """Class weights for the loss, computed from the labeled masks only."""
    if scheme == "none":
        return None
    powers = {"median-frequency": 1.0, "sqrt-median-frequency": 0.5}
    if scheme not in powers:
        raise ValueError(f"unknown class weighting '{scheme}'; valid: {sorted(powers) + ['none']}")
    n = dataset.classes.num_classes
    counts, present = np.zeros(n), np.zeros(n)
    for sample in samples:
        mask = read_mask(sample.mask, n, dataset.classes.ignore_index)
        hist = np.bincount(mask[mask != dataset.classes.ignore_index].ravel(), minlength=n)[:n]
        counts += hist
        present += (hist > 0) * hist.sum()
    return median_frequency_weights(counts, present, powers[scheme]).round(4).tolist()


def extra_labeled_samples(dataset: SegmentationDataset, folder: str | Path, stems: list[str]) -> list[Sample]:
    """Images of `stems` that have a (pseudo-)mask `<stem>.png` in `folder` (data distillation)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "extra-labels folder not found.", "run `semiseg-tf pseudo-label` first.")
    have = {p.stem for p in folder.glob("*.png")}
    samples = [Sample(s.stem, s.image, folder / f"{s.stem}.png")
               for s in dataset.samples(stems=[t for t in stems if t in have], labeled=False)]
    if not samples:
        raise DataError(folder, "holds no masks named like the unlabeled train images.",
                        "point --extra-labels at the output of `semiseg-tf pseudo-label`.")
    return samples


def unlabeled_pool(dataset: SegmentationDataset, stems: list[str], folder: str | None) -> list[Sample]:
    """The train images without masks, plus any `--unlabeled` folder."""
    pool = dataset.samples(stems=stems, labeled=False)
    if folder:
        pool += unlabeled_samples(folder)
    if not pool:
        raise DataError(dataset.root, "this method needs unlabeled images but there are none.",
                        "use --labeled-fraction < 1 or pass --unlabeled DIR.")
    return pool


PARTIAL_KINDS = ("scribble", "point", "coarse")  # sparse label maps: <folder>/masks/<stem>.png, 255 = unlabeled


def point_label_maps(dataset: SegmentationDataset, points_file: Path, out: Path, radius: float = 1) -> Path:
    """Rasterise clicks (`stem,x,y,class` CSV or JSON) into label maps in `out` (discs of `radius`, as
    `semiseg-tf weaken --kind point` draws them), once: a resumed run reuses them."""
    from semiseg_tf.data.annotations import rasterize_points, read_points

    out.mkdir(parents=True, exist_ok=True)
    for stem, points in read_points(points_file, dataset).items():
        path = out / f"{stem}.png"
        if not path.is_file():
            size = dataset.image_size(dataset.samples(stems=[stem], labeled=False)[0])
            write_png(path, rasterize_points(points, size, radius=radius), dataset.classes.palette)
    return out


def label_map_folder(dataset: SegmentationDataset, kind: str, folder: Path, cache: Path) -> Path:
    """Where the label maps of a weak-annotation folder are: its masks/, or for points given only as
    points.csv / points.json, their rasterisation under `cache`."""
    masks = folder / "masks"
    if masks.is_dir() or kind != "point":
        return masks
    points_file = next((folder / name for name in ("points.csv", "points.json") if (folder / name).is_file()), None)
    return point_label_maps(dataset, points_file, cache / kind / "masks") if points_file else masks


def weak_samples(dataset: SegmentationDataset, annotations: dict[str, str], stems: list[str],
                 cache: Path) -> dict[str, Sample]:
    """{stem: sample} of the `stems` that a weak-annotation folder labels (`semiseg-tf weaken`'s output, or the
    user's own label maps or clicks); the first folder that has a stem wins. Partial labels train with the
    masked cross-entropy (255 ignored) plus the method's edge-aware term."""
    chosen: dict[str, Sample] = {}
    for kind, folder in annotations.items():
        masks = label_map_folder(dataset, kind, Path(folder), cache)
        have = {p.stem for p in masks.glob("*.png")} if masks.is_dir() else set()
        if not have & set(stems):
            raise DataError(masks, f"holds no {kind} label map of a training image.",
                            f"run `semiseg-tf weaken --kind {kind} --out {folder}` or put <stem>.png label maps "
                            "(class ids, 255 = unlabeled) there" + (" or clicks in points.csv" if kind == "point"
                                                                     else "") + ".")
        wanted = [stem for stem in stems if stem in have and stem not in chosen]
        for sample in dataset.samples(stems=wanted, labeled=False):
            chosen[sample.stem] = Sample(sample.stem, sample.image, masks / f"{sample.stem}.png", kind=kind)
    return chosen


@dataclass
class RunSamples:
    """What a run trains on: stems with full masks, weak labels by stem, stems without labels, and the samples
    (labeled: full + weak; extra: pseudo-labeled; pool: unlabeled images a semi-supervised method draws)."""

    labeled: list[str]
    weak: dict[str, Sample]
    unlabeled: list[str]
    labeled_samples: list[Sample]
    extra: list[Sample]
    pool: list[Sample]


def choose_samples(config, dataset: SegmentationDataset, run_dir: Path) -> RunSamples:
    """The train split, less a held-out share (`val_fraction`, written to run_dir/heldout.txt), divided into
    full masks (`labeled_fraction`/`labeled_list`; none when only weak labels are given), weak labels
    (`annotations`), pseudo-labels (`extra_labels`) and the unlabeled pool of semi-supervised methods."""
    from semiseg_tf.methods import get_method
    from semiseg_tf.training.validation import HELD_OUT

    stems = dataset.stems(config.train_split)
    if config.val_fraction is not None:
        stems, held_out = hold_out(stems, config.val_fraction, config.seed)
        (run_dir / HELD_OUT).write_text("\n".join(held_out) + "\n")
    if config.annotations and config.labeled_fraction is None and config.labeled_list is None:
        labeled, unlabeled = [], list(stems)  # weak labels only
    else:
        labeled, unlabeled = select_labeled(stems, config.labeled_fraction, config.labeled_list, config.seed)
    weak = weak_samples(dataset, config.annotations, unlabeled, cache=run_dir / "annotations")
    unlabeled = [stem for stem in unlabeled if stem not in weak]
    extra = extra_labeled_samples(dataset, config.extra_labels, unlabeled) if config.extra_labels else []
    pool = unlabeled_pool(dataset, unlabeled, config.unlabeled) if get_method(config.method).uses_unlabeled else []
    return RunSamples(labeled, weak, unlabeled, dataset.samples(stems=labeled) + list(weak.values()), extra, pool)
