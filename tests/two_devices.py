"""Train the same short runs on one device and mirrored over two logical CPUs; print the loss trajectories.

Run as a script (logical devices must be configured before TensorFlow starts):
    python tests/two_devices.py DATA OUT METHOD[,METHOD...] [STEPS]     # pretrain-rotation: a pretraining method
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import tensorflow as tf

tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)

from semiseg_tf.training import TrainConfig, train  # noqa: E402


def losses(run_dir: Path) -> list[float]:
    with open(run_dir / "history.csv") as rows:
        return [float(row["loss"]) for row in csv.DictReader(rows)]


def main(data: str, out: str, methods: str, steps: int = 4) -> None:
    tf.config.run_functions_eagerly(True)  # a 4-step run: tracing would cost more than the steps
    print(json.dumps({method: trajectories(data, out, method, steps) for method in methods.split(",")}))


def trajectories(data: str, out: str, method: str, steps: int) -> dict:
    if method.startswith("pretrain-"):
        return pretrain_trajectories(data, out, method.removeprefix("pretrain-"), steps)
    trajectories = {}
    for devices in ("1", "2"):
        run_dir = Path(out) / f"{method}-{devices}"
        config = TrainConfig(data=data, model="deeplabv3plus-tiny", method=method, steps=steps, batch_size=4,
                             labeled_fraction=None if method == "supervised" else 0.5, log_every=1,
                             checkpoint_every=2, bn_recalibration_batches=0, val_split=None, devices=devices)
        summary = train(config, run_dir, verbose=0)
        trajectories[devices] = {"loss": losses(run_dir), "replicas": summary["replicas"]}
    return trajectories


def pretrain_trajectories(data: str, out: str, method: str, steps: int) -> dict:
    from semiseg_tf.pretraining import PretrainConfig, pretrain

    trajectories = {}
    for devices in ("1", "2"):
        run_dir = Path(out) / f"pretrain-{method}-{devices}"
        card = pretrain(PretrainConfig(method=method, data=data, model="deeplabv3plus-tiny", steps=steps,
                                       batch_size=4, image_size=32, log_every=1, bn_recalibration_batches=0,
                                       devices=devices), run_dir, verbose=0)
        trajectories[devices] = {"loss": losses(run_dir), "replicas": card["replicas"]}
    return trajectories


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:]))
