"""Seconds per training step of every method relative to the supervised step, side by side in one run.

    python bench/semi_cost.py --model deeplabv3plus --batch-size 8 --crop-size 192x256 \
        --variant equivariance-hflipshrink equivariance equivariance_transforms=hflip,scale=0.5

Every method trains on the same in-memory batch (a labeled batch plus an unlabeled one
`--unlabeled-ratio` times larger; supervised sees the labeled batch only), so only the step
is timed, not decoding. After one untimed warm-up (graph tracing) per method, methods are
timed in interleaved rounds, so drifting background load hits them all alike. The mean step of
each is divided by the supervised mean: a method that draws one transform per step (equivariance
with flips and scales) alternates between cheap and dear steps, and the mean is what a run pays;
medians, quartiles and every step's time are kept beside it. `--variant NAME METHOD KEY=VALUE...`
adds a method with non-default options under its own name (e.g. other equivariance transforms).
"""

from __future__ import annotations

import argparse
import time

import click
import keras
import numpy as np
import tensorflow as tf
from results_io import write_result

from semiseg_tf.cli.options import parse_key_values
from semiseg_tf.losses import MaskedCrossEntropy
from semiseg_tf.methods import METHODS, get_method
from semiseg_tf.models import build_model


class StepTimer(keras.callbacks.Callback):
    """Wall-clock seconds of each training step (outputs are ready when the batch ends on CPU)."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_train_batch_begin(self, batch, logs=None):
        self._started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds.append(time.perf_counter() - self._started)


def build(method_name: str, options: dict, args) -> tuple[keras.Model, tf.data.Dataset]:
    keras.utils.set_random_seed(args.seed)
    method = get_method(method_name).from_options(build_model(args.model, args.num_classes), options)
    method.compile(optimizer=keras.optimizers.AdamW(1e-3), loss=MaskedCrossEntropy(),
                   jit_compile={"true": True, "false": False}[args.jit_compile])
    rng = np.random.default_rng(args.seed)
    n, (h, w) = args.batch_size, args.crop_size
    images = tf.constant(rng.uniform(0, 255, (n, h, w, 3)), tf.float32)
    masks = tf.constant(rng.integers(0, args.num_classes, (n, h, w)), tf.uint8)
    if method.uses_unlabeled:
        unlabeled = tf.constant(rng.uniform(0, 255, (n * args.unlabeled_ratio, h, w, 3)), tf.float32)
        data = tf.data.Dataset.from_tensors({"images": images, "masks": masks, "unlabeled": unlabeled})
    elif method.consumes == "boxes":
        data = tf.data.Dataset.from_tensors((images, {"masks": masks, "boxes": tf.constant(
            random_boxes(rng, n, args.boxes_per_image, (h, w), args.num_classes))}))
    elif method.consumes == "tags":
        data = tf.data.Dataset.from_tensors((images, tf.constant(rng.integers(0, 2, (n, args.num_classes)),
                                                                 tf.float32)))
    else:
        data = tf.data.Dataset.from_tensors((images, masks))
    return method, data.repeat()


def random_boxes(rng: np.random.Generator, n: int, count: int, size: tuple[int, int], num_classes: int) -> np.ndarray:
    """(n, count, 5) boxes (class, x0, y0, x1, y1) of random classes and extents inside the crop, the
    padded layout `semiseg_tf.data.pipeline.padded_boxes` gives a method that trains on boxes."""
    (h, w), boxes = size, np.zeros((n, count, 5), np.float32)
    corners = np.sort(rng.uniform(0, 1, (n, count, 2, 2)), axis=2)  # [..., min/max, x/y]
    boxes[..., 0] = rng.integers(0, num_classes, (n, count))
    boxes[..., 1], boxes[..., 3] = corners[..., 0, 0] * (w - 1), corners[..., 1, 0] * (w - 1)
    boxes[..., 2], boxes[..., 4] = corners[..., 0, 1] * (h - 1), corners[..., 1, 1] * (h - 1)
    return np.round(boxes)


def method_specs(methods: str, variants: list[list[str]]) -> dict[str, tuple[str, dict]]:
    """Timed name -> (method, options): supervised, each of `methods`, then each `NAME METHOD KEY=VALUE...`."""
    specs = {"supervised": ("supervised", {})}
    specs |= {m: (m, {}) for m in methods.split(",") if m and m != "supervised"}
    for variant in variants:
        if len(variant) < 2:
            raise ValueError(f"--variant {' '.join(variant)}: give NAME METHOD [KEY=VALUE ...]")
        name, method = variant[:2]
        if name in specs:
            raise ValueError(f"--variant {name}: that name is already timed; give the variant its own name")
        try:
            options = parse_key_values(variant[2:])
        except click.BadParameter as error:
            raise ValueError(f"--variant {name}: {error.message}") from None
        specs[name] = (method, options)
    return specs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="deeplabv3plus")
    parser.add_argument("--num-classes", type=int, default=11)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop-size", default="192x256")
    parser.add_argument("--unlabeled-ratio", type=int, default=1)
    parser.add_argument("--boxes-per-image", type=int, default=23,
                        help="boxes in each image of a box method's batch (CamVid train: 22.7 on average)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated; supervised is always run")
    parser.add_argument("--variant", action="append", nargs="+", default=[],
                        help="a method with options, timed as NAME (repeatable), e.g. "
                             "--variant equivariance-hflipshrink equivariance equivariance_transforms=hflip,scale=0.5")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per method per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jit-compile", default="false", choices=["true", "false"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="semi-step-cost", help="result file bench/results/<name>.json")
    args = parser.parse_args()
    args.crop_size = tuple(int(v) for v in args.crop_size.split("x"))
    try:
        specs = method_specs(args.methods, args.variant)
    except ValueError as error:
        parser.error(str(error))
    names = list(specs)

    try:  # unknown methods and options fail here, before minutes of tracing
        built = {name: build(*specs[name], args) for name in names}
    except ValueError as error:
        parser.error(f"{error} (check --methods and --variant)")
    timers = {name: StepTimer() for name in names}
    for name, (method, data) in built.items():  # warm-up: tracing and optimizer variables
        started = time.perf_counter()
        method.fit(data, epochs=1, steps_per_epoch=2, verbose=0)
        print(f"{name}: warm-up {time.perf_counter() - started:.1f} s", flush=True)
    for round_index in range(args.rounds):
        for name, (method, data) in built.items():
            method.fit(data, epochs=1, steps_per_epoch=args.steps, verbose=0, callbacks=[timers[name]])
        print(f"round {round_index + 1}/{args.rounds} done", flush=True)

    supervised = float(np.mean(timers["supervised"].seconds))
    methods = {}
    for name in names:
        seconds = np.asarray(timers[name].seconds)
        methods[name] = {"method": specs[name][0], "options": specs[name][1],
                         "seconds_per_step": round(float(np.mean(seconds)), 4),
                         "seconds_per_step_median": round(float(np.median(seconds)), 4),
                         "seconds_per_step_iqr": [round(float(q), 4) for q in np.percentile(seconds, [25, 75])],
                         "seconds_each_step": [round(float(v), 4) for v in seconds],
                         "relative_to_supervised": round(float(np.mean(seconds)) / supervised, 2),
                         "timed_steps": int(seconds.size),
                         "parameters_trained": int(sum(np.prod(v.shape) for v in built[name][0].trainable_variables))}
        print(f"{name:>13}: {methods[name]['seconds_per_step']:.3f} s/step "
              f"({methods[name]['relative_to_supervised']:.2f}x supervised)")
    write_result(args.name, {
        "task": "semi-step-cost", "split": "none (random in-memory batch, timing only)", "model": args.model, "num_classes": args.num_classes,
        "batch_size": args.batch_size, "unlabeled_ratio": args.unlabeled_ratio,
        "boxes_per_image": args.boxes_per_image,
        "crop_size": list(args.crop_size), "steps_per_round": args.steps, "rounds": args.rounds,
        "jit_compile": args.jit_compile, "seed": args.seed, "tensorflow": tf.__version__,
        "keras": keras.__version__, "methods": methods,
    }, required=("task", "model", "batch_size", "methods", "command", "date"))


if __name__ == "__main__":
    main()
