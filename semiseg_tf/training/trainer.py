"""Run a training job: data, model, method, Keras `fit` with checkpoints, resume, evaluation.

Run directory:
    config.json       every option (TrainConfig), model config and classes
    labeled.txt       the stems whose masks were used; unlabeled.txt the rest of the split
    backup/           checkpoint.npz (every variable, optimizer state, step), for --resume
    history.csv       losses, learning rate and images/s every `log_every` steps; logs/ TensorBoard events
    model.keras       the trained segmenter, BatchNorm statistics re-estimated (what evaluate, predict,
                      export and the zoo use)
    timing.json       the run's summary; eval_<split>.json evaluation at native resolution
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from semiseg_tf.data import (DataError, Sample, SegmentationDataset, hold_out, read_mask, resolve_data,
                             select_labeled, train_dataset, unlabeled_samples)
from semiseg_tf.loading import load_segmenter
from semiseg_tf.losses import MaskedCrossEntropy, median_frequency_weights
from semiseg_tf.methods import get_method
from semiseg_tf.models import build_from_config, model_config
from semiseg_tf.training.batchnorm import recalibrate_batchnorm
from semiseg_tf.training.checkpoint import Checkpoint
from semiseg_tf.training.config import ConfigError, TrainConfig
from semiseg_tf.training.progress import StepLogger
from semiseg_tf.training.schedules import learning_rate_schedule
from semiseg_tf.training.validation import HELD_OUT, check_val_split


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


def write_run_record(run_dir: Path, config: TrainConfig, method, dataset: SegmentationDataset, loss,
                     labeled: list[str], unlabeled: list[str]) -> None:
    """config.json (options, model, method hyper-parameters with defaults, classes) and the label split."""
    (run_dir / "labeled.txt").write_text("\n".join(labeled) + "\n")
    (run_dir / "unlabeled.txt").write_text("\n".join(unlabeled) + ("\n" if unlabeled else ""))
    (run_dir / "config.json").write_text(json.dumps({
        "train": config.to_dict(),
        "model": keras.saving.serialize_keras_object(method.segmenter),
        "method": {"name": config.method, **method.method_config()},
        "classes": dataset.classes.to_dict(),
        "class_weights": loss.class_weights,
        "labeled_count": len(labeled), "unlabeled_count": len(unlabeled),
    }, indent=1, default=str))


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
    """Labeled (and pseudo-labeled) batches, zipped with unlabeled batches for semi-supervised methods.

    The unlabeled stream is the papers' weak view: geometric augmentation only, no colour
    jitter (the methods add their own strong photometric views).
    """
    stream = dict(num_classes=dataset.classes.num_classes, base_size=base_size(config), crop_size=crop,
                  start_step=start_step, ignore_index=dataset.classes.ignore_index)
    data = labeled_stream(config, samples, extra, **stream)
    if not pool:
        return data
    weak = dataclasses.replace(config.augment, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)
    unlabeled = train_dataset(pool, batch_size=config.batch_size * config.unlabeled_ratio,
                              seed=config.seed + 1, with_masks=False, augment=weak, **stream)
    return tf.data.Dataset.zip(data, unlabeled).map(
        lambda labeled, images: {"images": labeled[0], "masks": labeled[1], "unlabeled": images})


def prepare_run(config: TrainConfig, run_dir: Path, resume: bool) -> TrainConfig:
    """Create or reopen a run directory; a resumed run keeps its stored config."""
    stored = run_dir / "config.json"
    if resume:
        if not stored.is_file():
            raise DataError(stored, "no run to resume here.", "start it without --resume first.")
        return TrainConfig.from_dict(json.loads(stored.read_text())["train"])
    if (run_dir / "backup").exists() or (run_dir / "model.keras").exists():
        raise DataError(run_dir, "already holds a run.", "pass --resume to continue it, or a new --out.")
    run_dir.mkdir(parents=True, exist_ok=True)
    return config


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


def initialise_from(segmenter: keras.Model, reference: str) -> None:
    """Copy the weights of a trained model of the same architecture (fine-tuning, self-training rounds)."""
    source = load_segmenter(reference).model
    ours, theirs = [w.shape for w in segmenter.weights], [w.shape for w in source.weights]
    if ours != theirs:
        raise DataError(reference, f"has a different architecture ({len(theirs)} weights, expected {len(ours)}; "
                        f"output {source.output_shape} vs {segmenter.output_shape}).",
                        "pass --init-from a model trained with the same --model and classes.")
    segmenter.set_weights(source.get_weights())


def build_training(config: TrainConfig, dataset: SegmentationDataset, labeled_samples, initialise: bool = True):
    """The method-wrapped model, compiled with optimizer, schedule and loss.

    `init_from` weights are copied before the method is built, so teachers start from them too;
    a resumed run (`initialise=False`) skips them, its checkpoint overwrites every weight anyway.
    """
    keras.utils.set_random_seed(config.seed)
    segmenter = build_from_config(model_config(config.model, num_classes=dataset.classes.num_classes,
                                               **config.model_overrides))
    if config.init_from and initialise:
        initialise_from(segmenter, config.init_from)
    method = get_method(config.method).from_options(segmenter, config.method_options, run_steps=config.steps,
                                                      seed=config.seed)
    schedule = learning_rate_schedule(config.schedule, config.learning_rate, config.steps, config.warmup_steps)
    loss = MaskedCrossEntropy(dataset.classes.ignore_index,
                              class_weights(dataset, labeled_samples, config.class_weighting))
    jit = {"auto": "auto", "true": True, "false": False}[str(config.jit_compile).lower()]
    method.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay),
                   loss=loss, jit_compile=jit)
    crop = config.crop_size or config.train_size
    method(tf.zeros((1, *crop, 3)))  # build, so BackupAndRestore can load into it
    return method, loss


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


def resume_point(run_dir: Path, config: TrainConfig) -> int:
    """The step a resumed run continues from; refuses a total below the steps already trained."""
    checkpoint = Checkpoint(run_dir / "backup")
    if not checkpoint.exists():
        return 0
    step = checkpoint.read()["step"]
    if step > config.steps:
        raise ConfigError(f"--steps {config.steps}: the run in {run_dir} has already trained {step} steps; "
                          f"resume with --steps >= {step}.")
    return step


def train(config: TrainConfig, out: str | Path, resume: bool = False, verbose: int = 1,
          steps: int | None = None) -> dict:
    """Train (or resume) a run in `out` and return its summary.

    A resumed run takes its options from its config.json; `steps` alone may change, to continue a
    finished or interrupted run to a new total (the learning-rate schedule then decays to that total).
    """
    run_dir = Path(out)
    if not resume:  # bad options are refused before anything is written
        config.validate()
        get_method(config.method).checked_options(config.method_options)
        config.val_split = check_val_split(config, SegmentationDataset(resolve_data(config.data)))
    config = prepare_run(config, run_dir, resume)
    if resume:
        config.steps = steps or config.steps
        config.validate()
    dataset = SegmentationDataset(resolve_data(config.data))
    all_stems = dataset.stems(config.train_split)
    if config.val_fraction is not None:
        all_stems, held_out = hold_out(all_stems, config.val_fraction, config.seed)
        (run_dir / HELD_OUT).write_text("\n".join(held_out) + "\n")
    labeled, unlabeled = select_labeled(all_stems, config.labeled_fraction, config.labeled_list, config.seed)
    samples = dataset.samples(stems=labeled)
    extra = extra_labeled_samples(dataset, config.extra_labels, unlabeled) if config.extra_labels else []
    method_class = get_method(config.method)
    pool = unlabeled_pool(dataset, unlabeled, config.unlabeled) if method_class.uses_unlabeled else []
    if not resume:
        dataset.validate(samples + extra + pool)
    if config.train_size is None:
        config.train_size = default_train_size(dataset, samples, verbose)
    if config.train_size == NATIVE and config.crop_size is None:
        config.crop_size = NATIVE_CROP
    crop = tuple(config.crop_size or config.train_size)

    start_step = resume_point(run_dir, config) if resume else 0
    method, loss = build_training(config, dataset, samples + extra, initialise=not resume)
    previous_seconds = Checkpoint(run_dir / "backup").restore(method)["train_seconds"] if start_step else 0.0
    write_run_record(run_dir, config, method, dataset, loss, labeled, unlabeled)
    if verbose and resume:
        print(f"resuming {run_dir} at step {start_step} of {config.steps}", flush=True)
    logger = StepLogger(run_dir, config.steps, start_step, config.batch_size, config.log_every,
                        config.checkpoint_every, previous_seconds, verbose=verbose)
    started = time.time()
    if start_step < config.steps:
        data = training_stream(config, dataset, samples, extra, pool, crop, start_step)
        method.fit(data, epochs=1, steps_per_epoch=config.steps - start_step, callbacks=[logger], verbose=0,
                   shuffle=False)
    seconds = time.time() - started
    recalibrated = recalibrate_batchnorm(method.segmenter,
                                         recalibration_batches(config, dataset, samples + extra, crop),
                                         config.bn_recalibration_batches)
    method.segmenter.save(run_dir / "model.keras")
    summary = {
        "steps": int(method.optimizer.iterations.numpy()),
        "resumed_from_step": start_step,
        "train_seconds": round(previous_seconds + seconds, 1),
        "train_seconds_this_session": round(seconds, 1),
        "images_per_second": round((config.steps - start_step) * config.batch_size / max(seconds, 1e-9), 2),
        "images_per_second_means": "labeled images (batch_size a step) per wall-clock second of training",
        "bn_recalibration_batches": recalibrated,
        "final_loss": logger.last_logs.get("loss"),
    }
    (run_dir / "timing.json").write_text(json.dumps(summary, indent=1))
    return summary
