"""Run a training job: data, model, method, Keras `fit` with checkpoints, resume, evaluation.

Run directory:
    config.json       every option (TrainConfig), model config and classes
    labeled.txt       the stems whose masks were used; unlabeled.txt the rest of the split
    backup/           BackupAndRestore checkpoint (weights + optimizer + epoch), for --resume
    history.csv       per-interval losses and metrics; logs/ TensorBoard events
    model.keras       the trained segmenter (what evaluate, predict, export and the zoo use)
    eval_<split>.json evaluation at native resolution
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from semiseg_tf.data import (DataError, Sample, SegmentationDataset, read_mask, resolve_data, select_labeled,
                             train_dataset, unlabeled_samples)
from semiseg_tf.loading import load_segmenter
from semiseg_tf.losses import MaskedCrossEntropy, median_frequency_weights
from semiseg_tf.methods import get_method
from semiseg_tf.models import build_from_config, model_config
from semiseg_tf.training.config import TrainConfig
from semiseg_tf.training.schedules import learning_rate_schedule


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


def _completed_intervals(run_dir: Path) -> int:
    """How many checkpoint intervals the backup in `run_dir` holds (0 when none)."""
    meta = run_dir / "backup" / "training_metadata.json"
    return json.loads(meta.read_text())["epoch"] if meta.is_file() else 0


class SeedStateBackup(keras.callbacks.Callback):
    """Saves SeedGenerator states (dropout, method noise) beside the backup at every interval.

    Keras weight files leave them out, so without this a resumed run would replay the
    random draws of step 0 instead of continuing those of the interrupted run.
    """

    def __init__(self, backup_dir: Path, start_interval: int):
        super().__init__()
        self.path, self.start_interval = Path(backup_dir) / "seed_states.json", start_interval

    def _states(self):
        return [v for v in self.model.variables if v.name == "seed_generator_state"]

    def on_train_begin(self, logs=None):
        saved = json.loads(self.path.read_text()) if self.path.is_file() else {}
        states = self._states()
        # only states saved with this very checkpoint, for this very model
        if saved.get("epoch") == self.start_interval and len(saved["states"]) == len(states):
            for variable, value in zip(states, saved["states"]):
                variable.assign(np.asarray(value, variable.dtype))

    def on_epoch_end(self, epoch, logs=None):
        tmp = self.path.with_suffix(".part")
        tmp.write_text(json.dumps({"epoch": epoch + 1,
                                   "states": [np.asarray(v).tolist() for v in self._states()]}))
        tmp.replace(self.path)


class TrainingClock(keras.callbacks.Callback):
    """Training seconds summed over every session of a run, saved with each checkpoint."""

    def __init__(self, path: Path, start_interval: int):
        super().__init__()
        self.path, self.start_interval = Path(path), start_interval
        saved = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.previous = saved.get("train_seconds", 0.0) if saved.get("epoch") == start_interval else 0.0

    def on_train_begin(self, logs=None):
        self.started = time.time()

    def on_epoch_end(self, epoch, logs=None):
        record = {"epoch": epoch + 1, "train_seconds": self.previous + time.time() - self.started}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(record))


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
    stream = dict(num_classes=dataset.classes.num_classes, base_size=tuple(config.train_size), crop_size=crop,
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


def train(config: TrainConfig, out: str | Path, resume: bool = False, verbose: int = 1) -> dict:
    """Train (or resume) a run in `out` and return its summary."""
    run_dir = Path(out)
    config = prepare_run(config, run_dir, resume)
    dataset = SegmentationDataset(resolve_data(config.data))
    all_stems = dataset.stems(config.train_split)
    labeled, unlabeled = select_labeled(all_stems, config.labeled_fraction, config.labeled_list, config.seed)
    samples = dataset.samples(stems=labeled)
    extra = extra_labeled_samples(dataset, config.extra_labels, unlabeled) if config.extra_labels else []
    method_class = get_method(config.method)
    pool = unlabeled_pool(dataset, unlabeled, config.unlabeled) if method_class.uses_unlabeled else []
    if not resume:
        dataset.validate(samples + extra + pool)
    if config.train_size is None:
        config.train_size = dataset.image_size(samples[0])
    crop = tuple(config.crop_size or config.train_size)

    intervals = math.ceil(config.steps / config.checkpoint_every)
    config.steps = intervals * config.checkpoint_every  # whole checkpoint intervals
    method, loss = build_training(config, dataset, samples + extra, initialise=not resume)
    if not resume:
        write_run_record(run_dir, config, method, dataset, loss, labeled, unlabeled)
    start_interval = _completed_intervals(run_dir) if resume else 0
    data = training_stream(config, dataset, samples, extra, pool, crop, start_interval * config.checkpoint_every)
    callbacks = [
        keras.callbacks.BackupAndRestore(str(run_dir / "backup"), save_freq="epoch",
                                         double_checkpoint=True, delete_checkpoint=False),
        SeedStateBackup(run_dir / "backup", start_interval),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=resume),
        keras.callbacks.TensorBoard(str(run_dir / "logs"), update_freq="epoch", write_graph=False),
        TrainingClock(run_dir / "backup" / "train_seconds.json", start_interval),
    ]
    started = time.time()
    history = method.fit(data, epochs=intervals, steps_per_epoch=config.checkpoint_every,
                         callbacks=callbacks, verbose=verbose, shuffle=False)
    seconds = time.time() - started
    method.segmenter.save(run_dir / "model.keras")
    total = json.loads((run_dir / "backup" / "train_seconds.json").read_text())["train_seconds"]
    summary = {
        "steps": int(method.optimizer.iterations.numpy()),
        "train_seconds": round(total, 1),
        "train_seconds_this_session": round(seconds, 1),
        "images_per_second": round((intervals - start_interval) * config.checkpoint_every
                                   * config.batch_size / max(seconds, 1e-9), 2),
        "final_loss": float(history.history["loss"][-1]) if history.history.get("loss") else None,
    }
    (run_dir / "timing.json").write_text(json.dumps(summary, indent=1))
    return summary
