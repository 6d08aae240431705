"""How far a CamVid run moves when only its seed changes: the noise a method's gain must beat.

Reruns a finished bench run with other seeds for everything random in training (batch order,
augmentation draws, the method's in-graph draws) on the same labeled subset (its `labeled.txt`),
from the same starting weights when it is a fine-tune, and records every rerun's val mIoU beside
the original's:

    python bench/reseed.py camvid-deeplabv3plus-supervised-ft500-f0.125-s2 --seeds 1 2 3

Reruns go to runs/reseed/<run>-seed<N> and resume like bench runs; the result is
bench/results/reseed-<run>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from camvid_train import train_and_evaluate
from results_io import RESULTS, require_repository_root, write_result

from semiseg_tf.training import TrainConfig


def reseeded(run_dir: Path, seed: int) -> TrainConfig:
    """The run's training options with another seed and its labeled subset named by list (the
    subset a fraction picks depends on the seed)."""
    config = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text())["train"])
    config.labeled_list, config.labeled_fraction, config.seed = str(run_dir / "labeled.txt"), None, seed
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="A finished run under runs/bench/ with its bench/results file.")
    parser.add_argument("--seeds", type=int, nargs="+", required=True, help="Seeds of the reruns.")
    args = parser.parse_args()
    require_repository_root()
    result, run_dir = RESULTS / f"{args.run}.json", Path("runs/bench") / args.run
    for needed in (result, run_dir / "config.json", run_dir / "labeled.txt"):
        if not needed.is_file():
            parser.error(f"{needed} not found; name a finished run (run its bench command first)")
    original = json.loads(result.read_text())
    if original["seed"] in args.seeds:
        parser.error(f"seed {original['seed']} is the original run's; pick others")
    reruns = []
    for seed in args.seeds:
        config = reseeded(run_dir, seed)
        summary, results = train_and_evaluate(config, Path("runs/reseed") / f"{args.run}-seed{seed}")
        result = results[original["split"]]
        reruns.append({"seed": seed, "miou": result["miou"], "per_class_iou": result["per_class_iou"],
                       "train_seconds": summary["train_seconds"]})
        print(f"seed {seed}: val mIoU {100 * result['miou']:.1f}")
    mious = [original["miou"]] + [r["miou"] for r in reruns]
    write_result(f"reseed-{args.run}", {
        "task": "reseed", "dataset": original["dataset"], "split": original["split"], "model": original["model"],
        "method": original["method"], "supervision": original["supervision"],
        "labeled_fraction": original["labeled_fraction"], "seed": original["seed"], "run": args.run,
        "miou": statistics.mean(mious), "miou_stdev": statistics.stdev(mious),
        "miou_range": [min(mious), max(mious)], "original_miou": original["miou"],
        "original_per_class_iou": original["per_class_iou"],
        "per_class_iou": {c: statistics.mean([original["per_class_iou"][c]] + [r["per_class_iou"][c] for r in reruns])
                          for c in original["per_class_iou"]},
        "reruns": reruns, "steps": original["steps"],
        "train_seconds": sum(r["train_seconds"] for r in reruns),
    })
    print(f"{args.run}: val mIoU {100 * min(mious):.1f}-{100 * max(mious):.1f} over seeds "
          f"{[original['seed'], *args.seeds]}, stdev {100 * statistics.stdev(mious):.2f}")


if __name__ == "__main__":
    main()
