"""Training and inference images/s in float32 vs mixed bfloat16, side by side in one process.

    python bench/precision_speed.py                      # deeplabv3plus, 192x256 crops, batch 8
    python bench/precision_speed.py --steps 2 --rounds 1 --name precision-speed-smoke

The same pre-made CamVid batches train each policy (Keras train_on_batch, AdamW, input pipeline
excluded) and run inference (a traced forward pass), in interleaved rounds whose medians are
reported. bfloat16 pays on CPUs with AMX or AVX512-BF16 (`--precision auto` picks it only there);
elsewhere TensorFlow emulates it and it is slower: the result records this CPU's flags either way.
Writes bench/results/<name>.json.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import tensorflow as tf
from results_io import CAMVID, write_result
from train_speed import train_throughput

from semiseg_tf.data import SegmentationDataset, make_shapes_dataset, train_dataset
from semiseg_tf.models import build_model
from semiseg_tf.training.devices import BF16_CPU_FLAGS, PRECISIONS, cpu_flags, precision_policy


def inference_throughput(batches, model_name: str, num_classes: int, steps: int) -> float:
    """Images/s of a traced forward pass (training=False) on pre-made batches."""
    model = build_model(model_name, num_classes)
    forward = tf.function(lambda x: model(x, training=False))
    forward(batches[0][0])
    started = time.perf_counter()
    for i in range(steps):
        forward(batches[i % len(batches)][0]).numpy()
    return steps * int(batches[0][0].shape[0]) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="deeplabv3plus")
    parser.add_argument("--train-size", default="240x320")
    parser.add_argument("--crop-size", default="192x256")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--name", default="precision-speed")
    args = parser.parse_args()
    base = tuple(int(v) for v in args.train_size.split("x"))
    crop = tuple(int(v) for v in args.crop_size.split("x"))

    root = CAMVID if (CAMVID / "classes.json").is_file() else make_shapes_dataset(Path("runs/shapes-bench"))
    dataset = SegmentationDataset(root)
    classes = dataset.classes.num_classes
    data = train_dataset(dataset.samples("train"), classes, args.batch_size, base, crop, seed=0)
    batches = [(x.numpy(), y.numpy()) for x, y in data.take(4)]
    speeds = {precision: {"train": [], "infer": []} for precision in ("fp32", "bf16")}
    for _ in range(args.rounds):
        for precision in speeds:
            with precision_policy(PRECISIONS[precision]):
                speeds[precision]["train"].append(train_throughput(batches, args.model, classes, False, args.steps))
                speeds[precision]["infer"].append(inference_throughput(batches, args.model, classes, 2 * args.steps))
            print(f"{precision}: train {speeds[precision]['train'][-1]:.2f}, "
                  f"inference {speeds[precision]['infer'][-1]:.2f} images/s", flush=True)
    median = {p: {k: statistics.median(v) for k, v in kinds.items()} for p, kinds in speeds.items()}
    flags = cpu_flags()
    result = {
        "task": "precision-speed", "split": "train", "dataset": root.name, "model": args.model, "batch_size": args.batch_size,
        "crop_size": list(crop), "steps": args.steps, "rounds": args.rounds,
        "images_per_s": {p: {k: round(v, 2) for k, v in kinds.items()} for p, kinds in median.items()},
        "bf16_speedup": round(median["bf16"]["train"] / median["fp32"]["train"], 3),
        "bf16_inference_speedup": round(median["bf16"]["infer"] / median["fp32"]["infer"], 3),
        "cpu_bf16_flags": sorted(flags & set(BF16_CPU_FLAGS)),
        "cpu_has_bf16": bool(flags & set(BF16_CPU_FLAGS)),
        "all_rounds": speeds,
    }
    print(f"train: fp32 {median['fp32']['train']:.1f}, bf16 {median['bf16']['train']:.1f} images/s "
          f"({result['bf16_speedup']:.2f}x); inference: fp32 {median['fp32']['infer']:.1f}, "
          f"bf16 {median['bf16']['infer']:.1f} ({result['bf16_inference_speedup']:.2f}x); "
          f"bf16 CPU flags: {result['cpu_bf16_flags'] or 'none'}")
    write_result(args.name, result, required=("task", "model", "bf16_speedup"))


if __name__ == "__main__":
    main()
