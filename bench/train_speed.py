"""Training throughput with and without XLA, model FLOPs and the fraction of CPU peak, input pipeline alone.

    python bench/train_speed.py --steps 8

Everything is measured side by side in one process on the same data, and written to
bench/results/train-speed.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras
import tensorflow as tf
from results_io import CAMVID, write_result

from semiseg_tf.data import SegmentationDataset, make_shapes_dataset, train_dataset
from semiseg_tf.losses import MaskedCrossEntropy
from semiseg_tf.models import build_model


def forward_flops(model: keras.Model, size: tuple[int, int]) -> int:
    """FLOPs of one forward pass on one image, counted by TF's graph profiler."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    function = tf.function(lambda x: model(x, training=False))
    concrete = function.get_concrete_function(tf.TensorSpec([1, *size, 3], tf.float32))
    graph = convert_variables_to_constants_v2(concrete).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return int(tf.compat.v1.profiler.profile(graph, options=options).total_float_ops)


def matmul_peak(seconds: float = 3.0, n: int = 2048) -> float:
    """Best FLOP/s TF reaches on a large fp32 matmul: the practical peak of this CPU."""
    a, b = tf.random.normal([n, n]), tf.random.normal([n, n])
    step = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    step()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        step().numpy()
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - started)


def train_throughput(batches, model_name, num_classes, jit: bool, steps: int) -> float:
    """Images/s of Keras train_on_batch on pre-made batches (input pipeline excluded)."""
    keras.utils.set_random_seed(0)
    model = build_model(model_name, num_classes)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss=MaskedCrossEntropy(), jit_compile=jit)
    for x, y in batches[:2]:  # trace / compile
        model.train_on_batch(x, y)
    started = time.perf_counter()
    for i in range(steps):
        x, y = batches[i % len(batches)]
        model.train_on_batch(x, y)
    return steps * int(batches[0][0].shape[0]) / (time.perf_counter() - started)


def pipeline_throughput(dataset: tf.data.Dataset, batches: int) -> float:
    iterator = iter(dataset)
    next(iterator)
    started = time.perf_counter()
    images = sum(int(next(iterator)[0].shape[0]) for _ in range(batches))
    return images / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="deeplabv3plus")
    parser.add_argument("--train-size", default="240x320")
    parser.add_argument("--crop-size", default="192x256")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--ghz", type=float, default=None, help="Clock for the theoretical peak (default: /proc/cpuinfo).")
    args = parser.parse_args()
    base = tuple(int(v) for v in args.train_size.split("x"))
    crop = tuple(int(v) for v in args.crop_size.split("x"))

    root = CAMVID if (CAMVID / "classes.json").is_file() else make_shapes_dataset(Path("runs/shapes-bench"))
    dataset = SegmentationDataset(root)
    samples = dataset.samples("train")
    data = train_dataset(samples, dataset.classes.num_classes, args.batch_size, base, crop, seed=0)
    pipeline_ips = pipeline_throughput(data, 20)
    batches = [(x.numpy(), y.numpy()) for x, y in data.take(4)]

    model = build_model(args.model, dataset.classes.num_classes)
    flops = forward_flops(model, crop)
    eager_ips = train_throughput(batches, args.model, dataset.classes.num_classes, False, args.steps)
    xla_ips = train_throughput(batches, args.model, dataset.classes.num_classes, True, args.steps)
    peak = matmul_peak()
    ghz = args.ghz or float(next(l for l in open("/proc/cpuinfo") if "MHz" in l).split(":")[1]) / 1000
    cores = len(tf.config.list_physical_devices("CPU")) and __import__("os").cpu_count()
    theoretical = cores * ghz * 1e9 * 32  # AVX2: 2 FMA units x 8 fp32 lanes x 2 FLOPs
    train_flops_per_image = 3 * flops  # forward + backward (~2x forward)
    best = max(eager_ips, xla_ips)
    result = {
        "task": "train-speed", "dataset": root.name, "model": args.model, "params": model.count_params(),
        "batch_size": args.batch_size, "train_size": list(base), "crop_size": list(crop),
        "forward_gflops_per_image": round(flops / 1e9, 3),
        "images_per_s": {"train_tf": round(eager_ips, 2), "train_xla": round(xla_ips, 2),
                         "input_pipeline": round(pipeline_ips, 1)},
        "xla_vs_tf": round(xla_ips / eager_ips, 3),
        "pipeline_vs_train": round(pipeline_ips / best, 1),
        "achieved_gflops_per_s": round(best * train_flops_per_image / 1e9, 1),
        "matmul_peak_gflops_per_s": round(peak / 1e9, 1),
        "theoretical_peak_gflops_per_s": round(theoretical / 1e9, 1),
        "fraction_of_matmul_peak": round(best * train_flops_per_image / peak, 3),
        "fraction_of_theoretical_peak": round(best * train_flops_per_image / theoretical, 3),
    }
    for key, value in result.items():
        print(f"{key:32s} {value}")
    write_result("train-speed", result, required=("task", "model", "images_per_s"))


if __name__ == "__main__":
    main()
