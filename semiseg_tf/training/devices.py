"""Where and in what precision a run trains: the tf.distribute strategy and the Keras dtype policy.

`--devices N|all` trains data-parallel with `MirroredStrategy`: each step's global batch (`--batch-size`)
is split over the replicas, every loss is the replica's share of the global-batch mean
(`semiseg_tf.losses.reduction`), the optimizer sums the replicas' gradients, and BatchNorm layers
normalise with the global batch's statistics (SyncBN), so N replicas train what one device would.

Several machines: with `TF_CONFIG` naming more than one worker (TensorFlow's cluster spec; every worker
runs the same command), the run trains with `MultiWorkerMirroredStrategy` over every worker's devices;
the chief (task "chief", else worker 0) writes the run directory, the others only compute.

`--precision` picks a Keras mixed-precision policy: computations in bfloat16 or float16, variables,
softmax, losses and metrics in float32; float16 adds dynamic loss scaling (Keras wraps the optimizer,
and every train step scales its loss through `optimizer.scale_loss`). The saved model is float32.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import keras
import tensorflow as tf

from semiseg_tf.training.config import PRECISION_CHOICES, ConfigError, device_count

PRECISIONS = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def dtype_policy(precision: str) -> str:
    """The Keras policy of `--precision`: `auto` = float16 on a CUDA GPU, bfloat16 on a CPU with AMX or
    AVX512-BF16 (where it is faster), float32 otherwise."""
    if precision not in PRECISION_CHOICES:
        raise ConfigError(f"--precision {precision}: valid: {', '.join(PRECISION_CHOICES)}.")
    if precision in PRECISIONS:
        return PRECISIONS[precision]
    if tf.config.list_physical_devices("GPU"):
        return PRECISIONS["fp16"]
    return PRECISIONS["bf16"] if cpu_flags() & set(BF16_CPU_FLAGS) else PRECISIONS["fp32"]


@contextlib.contextmanager
def precision_policy(policy: str):
    """Build and train under `policy`; the global policy is restored afterwards."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield policy
    finally:
        keras.config.set_dtype_policy(previous)


def synchronize_batchnorm(model: keras.Model) -> int:
    """Make every BatchNorm layer of `model` (and of its teachers or peers) normalise with the statistics
    of the global batch, all-reduced over the replicas (SyncBN, MMSegmentation's multi-GPU default):
    a replica's share of a batch of 8 is too few crops for stable statistics, and the replicated run then
    computes what one device would. Returns the number of layers switched."""
    layers = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in layers:
        layer.synchronized = True
    return len(layers)


def training_devices() -> list[str]:
    """The devices a run can replicate over: the GPUs, or else the (logical) CPUs."""
    gpus = tf.config.list_logical_devices("GPU")
    return [device.name for device in (gpus or tf.config.list_logical_devices("CPU"))]


def cluster() -> dict:
    """TF_CONFIG's cluster and task ({} when unset or a single worker)."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    workers = sum(len(config.get("cluster", {}).get(kind, [])) for kind in ("chief", "worker"))
    return config if workers > 1 else {}


def is_chief() -> bool:
    """Whether this process writes the run: always on one machine; in a cluster the chief task, or
    worker 0 when the cluster names no chief (TensorFlow's convention)."""
    config = cluster()
    if not config:
        return True
    task = config.get("task", {})
    if "chief" in config["cluster"]:
        return task.get("type") == "chief"
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0


def distribution_strategy(devices: str, batch_size: int) -> tf.distribute.Strategy:
    """The strategy of `--devices`: "1" trains on the default device, "all" or N > 1 mirrors over that
    many devices of `training_devices()`, each taking `batch_size` / N images of a step. Under a
    multi-worker TF_CONFIG: `MultiWorkerMirroredStrategy` (each worker's GPUs, else its CPU).

    Call it before anything else touches TensorFlow's devices: collective ops are configured at start-up."""
    if cluster():
        return multi_worker_strategy(devices, batch_size)
    available = training_devices()
    count = device_count(devices) or len(available)
    if count > len(available):
        raise ConfigError(f"--devices {devices}: this machine has {len(available)} training device(s) "
                          f"({', '.join(available)}); pass --devices {len(available)} or all.")
    if count == 1:
        return tf.distribute.get_strategy()
    if batch_size % count:
        raise ConfigError(f"--batch-size {batch_size} does not split evenly over {count} devices; pass a "
                          f"multiple of {count}.")
    on_cpu = "GPU" not in available[0]  # NCCL all-reduce exists only between GPUs
    return tf.distribute.MirroredStrategy(
        available[:count], cross_device_ops=tf.distribute.ReductionToOneDevice() if on_cpu else None)


def multi_worker_strategy(devices: str, batch_size: int) -> tf.distribute.Strategy:
    if device_count(devices) not in (1, None):
        raise ConfigError(f"--devices {devices}: with a multi-worker TF_CONFIG every worker uses all its GPUs "
                          "(else one CPU); pass --devices all or leave it out.")
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    if batch_size % strategy.num_replicas_in_sync:
        raise ConfigError(f"--batch-size {batch_size} does not split evenly over the cluster's "
                          f"{strategy.num_replicas_in_sync} replicas; pass a multiple of {strategy.num_replicas_in_sync}.")
    return strategy
