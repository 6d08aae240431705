"""tf.data streams of a run: labeled (and pseudo-labeled) batches, zipped with unlabeled ones for
semi-supervised methods, and the crops BatchNorm statistics are re-estimated on."""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from semiseg_tf.data import SegmentationDataset, train_dataset
from semiseg_tf.training.config import TrainConfig


NATIVE, NATIVE_CROP = "native", (512, 512)


def base_size(config: TrainConfig) -> tuple[int, int] | None:
    """The size augmentation scales around (None: each image's native size)."""
    return None if config.train_size == NATIVE else tuple(config.train_size)


def default_train_size(dataset: SegmentationDataset, samples, verbose: int) -> tuple[int, int] | str:
    """The images' size when they all share one; else "native" (random crops at each image's own scale), so
    images of different sizes are never squashed to the first one's aspect ratio."""
    sizes = {dataset.image_size(sample) for sample in samples}
    if len(sizes) == 1:
        return sizes.pop()
    if verbose:
        print(f"images come in {len(sizes)} sizes: training on crops at native scale (--train-size native); "
              "set --train-size HxW to rescale them all instead.", flush=True)
    return NATIVE


def recalibration_batches(config: TrainConfig, dataset: SegmentationDataset, samples, crop) -> tf.data.Dataset:
    """Augmented crops of the labeled images, as training draws them (other seed): the distribution
    BatchNorm statistics must describe (whole resized images moved CamVid test mIoU 43.7 -> 42.7)."""
    return train_dataset(samples, num_classes=dataset.classes.num_classes, batch_size=config.batch_size,
                         base_size=base_size(config), crop_size=crop, augment=config.augment,
                         seed=config.seed + 7, ignore_index=dataset.classes.ignore_index, with_masks=False)


def labeled_stream(config: TrainConfig, samples, extra, **stream) -> tf.data.Dataset:
    """Batches of labeled images; with `extra_labels_share`, each batch holds a fixed share of
    pseudo-labeled images (Data Distillation keeps manual labels in every minibatch), else
    images are drawn uniformly from the masks and pseudo-masks together."""
    share = config.extra_labels_share
    if share is not None and not extra:
        raise ValueError("extra_labels_share needs extra_labels (a folder from `semiseg-tf pseudo-label`).")
    if share is None:
        return train_dataset(samples + extra, batch_size=config.batch_size, seed=config.seed,
                             augment=config.augment, **stream)
    n_extra = round(config.batch_size * share)
    if not 0 < n_extra < config.batch_size:
        raise ValueError(f"extra_labels_share {share} leaves no room for one labeled and one pseudo-labeled "
                         f"image in a batch of {config.batch_size}; choose it in "
                         f"[{0.5 / config.batch_size:.3f}, {1 - 0.5 / config.batch_size:.3f}).")
    true = train_dataset(samples, batch_size=config.batch_size - n_extra, seed=config.seed,
                         augment=config.augment, **stream)
    pseudo = train_dataset(extra, batch_size=n_extra, seed=config.seed + 2, augment=config.augment, **stream)
    return tf.data.Dataset.zip(true, pseudo).map(
        lambda a, b: (tf.concat([a[0], b[0]], 0), tf.concat([a[1], b[1]], 0)))


def training_stream(config: TrainConfig, dataset: SegmentationDataset, samples, extra, pool, crop,
                    start_step: int) -> tf.data.Dataset:
    """Labeled (and pseudo-labeled) batches of the target the method consumes (label maps or image tags),
    zipped with unlabeled batches for semi-supervised methods.

    The unlabeled stream is the papers' weak view: geometric augmentation only, no colour
    jitter (the methods add their own strong photometric views).
    """
    from semiseg_tf.methods import get_method

    stream = dict(num_classes=dataset.classes.num_classes, base_size=base_size(config), crop_size=crop,
                  start_step=start_step, ignore_index=dataset.classes.ignore_index)
    data = labeled_stream(config, samples, extra, targets=get_method(config.method).consumes, **stream)
    if not pool:
        return data
    weak = dataclasses.replace(config.augment, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)
    unlabeled = train_dataset(pool, batch_size=config.batch_size * config.unlabeled_ratio,
                              seed=config.seed + 1, with_masks=False, augment=weak, **stream)
    return tf.data.Dataset.zip(data, unlabeled).map(
        lambda labeled, images: {"images": labeled[0], "masks": labeled[1], "unlabeled": images})


def distributed_training_stream(strategy: tf.distribute.Strategy, config: TrainConfig, dataset: SegmentationDataset,
                                samples, extra, pool, crop, start_step: int):
    """`training_stream` for a run replicated by `strategy`: the replicas take turns at one pipeline of
    per-replica batches, so step k trains on exactly the images of one device's step k (a rebatched
    global stream, as Keras would make, draws other augmentations). One device: the stream itself.
    Several workers each run the pipeline and keep their share of its batches (`shard`): the same
    images again, for each worker's augmentation work done N times."""
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return training_stream(config, dataset, samples, extra, pool, crop, start_step)
    per_replica = dataclasses.replace(config, batch_size=config.batch_size // replicas)
    # Keras iterates a distributed dataset once to build the model before training; inside flat_map the
    # pipeline (and its reshuffling seed state) starts afresh with every iterator, so training still sees
    # the first epoch order. The skip counts per-replica batches.
    stream = tf.data.Dataset.range(1).flat_map(
        lambda _: training_stream(per_replica, dataset, samples, extra, pool, crop, start_step * replicas))
    return strategy.distribute_datasets_from_function(
        lambda context: stream.shard(context.num_input_pipelines, context.input_pipeline_id))
