"""The comparison schedule (CamVid by default, any dataset with --data): train one configuration,
evaluate on val and test at native size, record it.

    python bench/camvid_train.py --labeled-fraction 0.125 --seed 0
    python bench/camvid_train.py --annotations box=runs/weak/camvid-box --seed 0
    python bench/camvid_train.py --annotations box=runs/weak/camvid-box --next-round-of RUN --seed 0

`--next-round-of RUN`: RUN's predictions on the train images, restricted to what each image's boxes or
tags allow, or with the drawn scribble / point / coarse pixels kept (`semiseg-tf pseudo-label
--boxes/--tags/--drawn`), are this run's labels.
`--pretrained NAME`: the encoder starts from `semiseg-tf pretrain ... --out runs/pretrain/NAME`.
Resumable: rerunning the same command continues the run in runs/bench/<name>.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from results_io import CAMVID, RESULTS, require_repository_root, write_result

from semiseg_tf.cli.options import parse_key_values
from semiseg_tf.data import resolve_data
from semiseg_tf.evaluation import evaluate
from semiseg_tf.loading import load_segmenter
from semiseg_tf.methods import get_method
from semiseg_tf.pretraining.provenance import encoder_pretraining
from semiseg_tf.training import TrainConfig, train

DRAWN_ROUND_THRESHOLD = 0.9  # next rounds of scribbles, points, coarse masks: the model labels where this sure
PRETRAIN = Path("runs/pretrain")  # `semiseg-tf pretrain --out runs/pretrain/NAME` runs that --pretrained names


def pseudo_label_settings(folder: str) -> dict:
    """What `semiseg-tf pseudo-label` recorded about the pseudo-labels (without the per-image coverage)."""
    summary = json.loads((Path(folder) / "pseudo_labels.json").read_text())
    return {k: v for k, v in summary.items() if k != "coverage"}


def run_seconds(run: str) -> float:
    """Training time of a run under runs/bench/ (a teacher, or the run a fine-tune starts from):
    its result file, else its run directory's timing."""
    result = RESULTS / f"{run}.json"
    if result.is_file():
        return json.loads(result.read_text())["train_seconds"]
    return json.loads((Path("runs/bench") / run / "timing.json").read_text())["train_seconds"]


def next_round_labels(run: str, kind: str, weak_dir: str, out: Path) -> str:
    """Label maps for the next round: run's predictions on its training images under the constraint of
    `weak_dir`, as `semiseg-tf pseudo-label` writes them: boxes or tags restrict the classes (threshold 0:
    every pixel a box or tag allows is labeled); scribbles, points and coarse masks keep their drawn pixels,
    and the model labels the rest where its flip ensemble is at least DRAWN_ROUND_THRESHOLD confident."""
    from semiseg_tf.cli.pseudo_label import weak_constraint
    from semiseg_tf.data import SegmentationDataset, find_images
    from semiseg_tf.methods.geometric import ensemble_transforms
    from semiseg_tf.pseudo_label import pseudo_label_images

    if (out / "pseudo_labels.json").is_file():
        return str(out)
    run_dir = Path("runs/bench") / run
    stored = json.loads((run_dir / "config.json").read_text())
    dataset = SegmentationDataset(resolve_data(stored["train"]["data"]))
    stems = [line.split()[0] for line in (run_dir / "weak.txt").read_text().splitlines()]
    loaded = load_segmenter(run_dir)
    given = {"boxes": None, "tags": None, "drawn": None}
    if kind in ("box", "tag"):
        name, file = {"box": ("boxes", "boxes.csv"), "tag": ("tags", "tags.csv")}[kind]
        given[name], threshold = str(Path(weak_dir) / file), 0.0
    else:
        given["drawn"], threshold = weak_dir, DRAWN_ROUND_THRESHOLD
    constraint = weak_constraint(find_images(dataset.root / "images"), loaded.classes, dataset.classes.num_classes,
                                 min_box_fill=0.5, **given)
    pseudo_label_images(loaded.model, [s.image for s in dataset.samples(stems=stems, labeled=False)], out,
                        ensemble_transforms("flip"), threshold, loaded.input_size, dataset.classes.ignore_index,
                        dataset.classes.palette, source={"model": str(run_dir)}, constraint=constraint)
    return str(out)


def splits_of(data: Path) -> list[str]:
    """val, and test where the dataset has it (CamVid's test is a new drive: the figure papers report)."""
    return [split for split in ("val", "test") if (data / f"{split}.txt").is_file()]


def moving_average_segmenter(config: TrainConfig, run_dir: Path):
    """The run's final weights with the BatchNorm moving averages training left (before PreciseBN):
    the last checkpoint holds them, model.keras holds the re-estimated statistics."""
    from semiseg_tf.data import SegmentationDataset
    from semiseg_tf.training.checkpoint import Checkpoint
    from semiseg_tf.training.trainer import build_training

    stored = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text())["train"])
    method, _ = build_training(stored, SegmentationDataset(resolve_data(config.data)), [], initialise=False)
    Checkpoint(run_dir / "backup").restore(method)
    return method.segmenter


def train_and_evaluate(config: TrainConfig, run_dir: Path) -> tuple[dict, dict]:
    """Train the run (or resume it, or take it as finished) and evaluate it at native size on val and test:
    (training summary, {split: evaluation}); each evaluation also holds `moving_average_bn`, the same
    weights evaluated with the BatchNorm statistics training left, when the run re-estimated them."""
    resume = (run_dir / "config.json").is_file()
    if not (run_dir / "model.keras").is_file() or resume and not (run_dir / "timing.json").is_file():
        summary = train(config, run_dir, resume=resume, verbose=2)
    else:
        summary = json.loads((run_dir / "timing.json").read_text())
    loaded = load_segmenter(run_dir)
    data = resolve_data(config.data)
    stale = moving_average_segmenter(config, run_dir) if summary.get("bn_recalibration_batches") else None
    results = {}
    for split in splits_of(data):
        results[split] = evaluate(loaded.model, data, split, loaded.input_size, out=run_dir / f"eval_{split}.json")
        if stale is not None:
            before = evaluate(stale, data, split, loaded.input_size)
            results[split]["moving_average_bn"] = {k: before[k] for k in ("miou", "per_class_iou", "pixel_accuracy")}
    return summary, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(CAMVID))
    parser.add_argument("--model", default="deeplabv3plus")
    parser.add_argument("--method", default="supervised")
    parser.add_argument("--labeled-fraction", type=float, default=None,
                        help="Share of train with full masks (default: all, or none with --annotations).")
    parser.add_argument("--annotations", default=None, metavar="KIND=DIR",
                        help="Weak labels (`semiseg-tf weaken` output) for the images without full masks.")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--train-size", default="240x320")
    parser.add_argument("--crop-size", default="192x256")
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--jit-compile", default="false")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                        help="Mixed precision of the run; a non-fp32 run's name ends in -<precision>.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--bn-recalibration-batches", type=int, default=100,
                        help="PreciseBN batches at the end of training (0: the moving averages, as before "
                             "2026-12-02); runs with it are named ...-pbn-...")
    parser.add_argument("--extra-labels", default=None,
                        help="Pseudo-label folder of `semiseg-tf pseudo-label` (data distillation student).")
    parser.add_argument("--extra-labels-share", type=float, default=None,
                        help="Share of each batch drawn from --extra-labels (default: uniform over all masks).")
    parser.add_argument("--teacher", default=None, help="Run under runs/bench/ that made --extra-labels.")
    parser.add_argument("--init-from", default=None,
                        help="Run under runs/bench/ whose weights start training (fine-tuning); needs --variant.")
    parser.add_argument("--pretrained", default=None,
                        help="Run under runs/pretrain/ (`semiseg-tf pretrain --out runs/pretrain/NAME`) whose encoder "
                             "weights start training; the result is named ...-pt<NAME>-... and records the card.")
    parser.add_argument("--method-option", action="append", default=[], metavar="KEY=VALUE",
                        help="Method hyper-parameter (repeatable), as `semiseg-tf train --method-option`.")
    parser.add_argument("--grow-to-superpixels", type=float, default=None, metavar="SCALE",
                        help="Grow partial labels to Felzenszwalb superpixels of this scale (e.g. 100).")
    parser.add_argument("--refine-boxes", default=None, choices=["grabcut"],
                        help="Box labels refined by GrabCut before training (the run's name gets -grabcut).")
    parser.add_argument("--next-round-of", default=None,
                        help="Run under runs/bench/ whose predictions, constrained by --annotations, are this run's labels.")
    parser.add_argument("--variant", default=None,
                        help="Name suffix of a run with non-default --method-option values (e.g. classweighted), "
                             "pseudo-labels (e.g. cbst0.5) or a repeat of the same command (e.g. r2).")
    args = parser.parse_args()
    require_repository_root()
    if (args.method_option or args.init_from) and not args.variant:
        parser.error("--method-option and --init-from need --variant (the variant names the result)")

    method = args.method
    if args.extra_labels:  # a data-distillation student is named after its teacher's method
        teacher = json.loads((Path("runs/bench") / args.teacher / "config.json").read_text())
        method = f"distill-{teacher['method']['name']}"
    if args.variant:
        method = f"{method}-{args.variant}"
    kind, _, weak_dir = (args.annotations or "").partition("=")
    labels_dir, round_number = weak_dir, None
    if args.next_round_of:
        if not kind:
            parser.error("--next-round-of needs --annotations KIND=DIR (the weak labels of the previous round)")
        round_number = json.loads((RESULTS / f"{args.next_round_of}.json").read_text()).get("round", 1) + 1
        method = f"{method}-round{round_number}"
    if args.grow_to_superpixels:
        method = f"{method}-sp{args.grow_to_superpixels:g}"
    if args.refine_boxes:
        method = f"{method}-{args.refine_boxes}"
    if kind:
        method = f"{method}-{kind}"
    if args.pretrained:
        method = f"{method}-pt{args.pretrained}"
    if args.bn_recalibration_batches:
        method = f"{method}-pbn"
    if args.precision != "fp32":
        method = f"{method}-{args.precision}"
    if args.labeled_fraction is None:
        args.labeled_fraction = 0.0 if kind else 1.0
    dataset = Path(args.data).name
    name = f"{dataset}-{args.model}-{method}-f{args.labeled_fraction:g}-s{args.seed}"
    run_dir = Path("runs/bench") / name
    if args.next_round_of:
        labels_dir = next_round_labels(args.next_round_of, kind, weak_dir, run_dir.parent / f"{name}-labels")
    size = args.train_size if args.train_size == "native" else tuple(int(v) for v in args.train_size.split("x"))
    crop = tuple(int(v) for v in args.crop_size.split("x"))
    config = TrainConfig(data=args.data, model=args.model, method=args.method,
                         labeled_fraction=args.labeled_fraction or None, steps=args.steps,
                         annotations={kind: labels_dir} if kind else {},
                         superpixel_scale=args.grow_to_superpixels, refine_boxes=args.refine_boxes,
                         batch_size=args.batch_size, train_size=size, crop_size=crop, learning_rate=args.learning_rate,
                         checkpoint_every=args.checkpoint_every, seed=args.seed, jit_compile=args.jit_compile,
                         precision=args.precision,
                         bn_recalibration_batches=args.bn_recalibration_batches,
                         extra_labels=args.extra_labels, extra_labels_share=args.extra_labels_share,
                         init_from=str(Path("runs/bench") / args.init_from) if args.init_from else None,
                         encoder_weights=str(PRETRAIN / args.pretrained) if args.pretrained else None,
                         method_options=parse_key_values(args.method_option))
    summary, results = train_and_evaluate(config, run_dir)
    weak = json.loads((Path(weak_dir) / "annotation.json").read_text()) if kind else {}
    stored = json.loads((run_dir / "config.json").read_text())
    semi = get_method(args.method).uses_unlabeled or bool(args.extra_labels)
    for split, result in results.items():  # one record per split, same fields
        write_result(name if split == "val" else f"{name}.{split}", {
            "task": f"{dataset}-semi" if semi else f"{dataset}-supervised",
            "dataset": dataset, "split": split, "model": args.model, "method": method,
            "supervision": kind or ("semi" if semi else "full"),
            **({"annotation_hours": round(weak["annotation_hours"], 2),
                "full_mask_hours": round(weak["full_mask"]["annotation_hours"], 2),
                "weak_labeled_images": stored["weak_counts"][kind], "annotations": weak_dir} if kind else {}),
            **({"superpixel_scale": args.grow_to_superpixels} if args.grow_to_superpixels else {}),
            **({"refine_boxes": args.refine_boxes} if args.refine_boxes else {}),
            **({"round": round_number, "previous_round": args.next_round_of} if round_number else {}),
            "labeled_fraction": args.labeled_fraction, "labeled_images": stored["labeled_count"],
            "seed": args.seed, "miou": result["miou"], "per_class_iou": result["per_class_iou"],
            "pixel_accuracy": result["pixel_accuracy"], "train_seconds": summary["train_seconds"],
            "method_options": stored["method"], "steps": summary["steps"], "batch_size": args.batch_size,
            "train_size": size if size == "native" else list(size), "crop_size": list(crop),
            "eval_resolution": "native (logits resized back)", "precision": args.precision,
            "images_per_second": summary["images_per_second"],
            "bn_recalibration_batches": summary.get("bn_recalibration_batches", 0),
            **({"moving_average_bn": result["moving_average_bn"]} if "moving_average_bn" in result else {}),
            **({"teacher": args.teacher, "extra_labels": pseudo_label_settings(args.extra_labels),
                "extra_labels_share": args.extra_labels_share,
                "teacher_train_seconds": run_seconds(args.teacher)} if args.extra_labels else {}),
            **({"pretrain": pretrained} if (pretrained := encoder_pretraining(stored["train"])) else {}),
            **({"init_from": args.init_from, "init_train_seconds": run_seconds(args.init_from),
                "learning_rate": args.learning_rate} if args.init_from else {}),
        })
    print(name + ": " + ", ".join(f"{split} mIoU {100 * r['miou']:.1f}"
                                  + (f" (moving-average BN {100 * r['moving_average_bn']['miou']:.1f})"
                                     if "moving_average_bn" in r else "")
                                  for split, r in results.items())
          + f" in {summary['train_seconds']:.0f} s")


if __name__ == "__main__":
    main()
