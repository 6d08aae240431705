"""How PreciseBN's re-estimated BatchNorm statistics compare with the moving averages on a finished CamVid run.

    python bench/bn_recalibration.py camvid-deeplabv3plus-supervised-pbn-f1-s0 --batches 100 300 --seeds 7 8 9

Restores the run's last checkpoint (the weights with the moving averages training left), re-estimates the
statistics over N batches of augmented training crops drawn with each seed (the trainer uses seed + 7), and
evaluates val and test at native size: the spread over seeds is the sampling noise of the estimate.
Writes bench/results/bn-recalibration-<run>.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from camvid_train import moving_average_segmenter, splits_of
from results_io import require_repository_root, write_result

from semiseg_tf.data import SegmentationDataset, resolve_data
from semiseg_tf.evaluation import evaluate
from semiseg_tf.training import TrainConfig
from semiseg_tf.training.batchnorm import recalibrate_batchnorm
from semiseg_tf.training.samples import weak_samples
from semiseg_tf.training.streams import recalibration_batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a finished run under runs/bench/")
    parser.add_argument("--batches", type=int, nargs="+", default=[100])
    parser.add_argument("--seeds", type=int, nargs="+", default=[7], help="recalibration stream seeds (run seed +)")
    args = parser.parse_args()
    require_repository_root()
    run_dir = Path("runs/bench") / args.run
    if not (run_dir / "backup" / "checkpoint.npz").is_file():
        parser.error(f"{run_dir}/backup/checkpoint.npz not found; name a finished run trained with this code")
    config = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text())["train"])
    data = resolve_data(config.data)
    dataset = SegmentationDataset(data)
    labeled = (run_dir / "labeled.txt").read_text().split()
    weak = weak_samples(dataset, config.annotations, dataset.stems(config.train_split), run_dir / "annotations")
    samples = dataset.samples(stems=labeled) + list(weak.values())
    crop = tuple(config.crop_size or config.train_size)
    size = tuple(config.train_size)
    segmenter = moving_average_segmenter(config, run_dir)
    saved = segmenter.get_weights()
    rows = [{"batches": 0, "seed": None, **{s: evaluate(segmenter, data, s, size)["miou"] for s in splits_of(data)}}]
    print(rows[-1], flush=True)
    for batches in args.batches:
        for seed in args.seeds:
            segmenter.set_weights(saved)
            started = time.time()
            stream = recalibration_batches(TrainConfig(**{**config.__dict__, "seed": config.seed + seed - 7}),
                                           dataset, samples, crop)
            recalibrate_batchnorm(segmenter, stream, batches)
            seconds = time.time() - started
            rows.append({"batches": batches, "seed": seed, "recalibration_seconds": round(seconds, 1),
                         **{s: evaluate(segmenter, data, s, size)["miou"] for s in splits_of(data)}})
            print(rows[-1], flush=True)
    write_result(f"bn-recalibration-{args.run}", {
        "task": "bn-recalibration", "dataset": data.name, "split": "val+test", "model": config.model,
        "method": config.method, "supervision": "full" if config.labeled_fraction in (None, 1.0) else "semi",
        "labeled_fraction": config.labeled_fraction, "seed": config.seed, "run": args.run,
        "miou": rows[1]["val"], "per_class_iou": {}, "train_seconds": 0, "steps": config.steps,
        "rows": rows, "note": "batches 0 = the moving averages training left (no re-estimation)",
    })


if __name__ == "__main__":
    main()
