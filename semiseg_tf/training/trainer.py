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

import json
import tempfile
import time
from pathlib import Path

import keras
import tensorflow as tf

from semiseg_tf.data import DataError, SegmentationDataset, resolve_data
from semiseg_tf.diagnostics import machine
from semiseg_tf.loading import load_segmenter
from semiseg_tf.losses import MaskedCrossEntropy
from semiseg_tf.methods import get_method
from semiseg_tf.models import build_from_config, model_config
from semiseg_tf.training.batchnorm import recalibrate_batchnorm
from semiseg_tf.training.checkpoint import Checkpoint
from semiseg_tf.training.config import ConfigError, TrainConfig
from semiseg_tf.training.devices import (distribution_strategy, dtype_policy, is_chief, precision_policy,
                                         synchronize_batchnorm)
from semiseg_tf.training.progress import StepLogger
from semiseg_tf.training.samples import RunSamples, choose_samples, class_weights
from semiseg_tf.training.schedules import learning_rate_schedule
from semiseg_tf.training.strategy_loop import fit_steps
from semiseg_tf.training.streams import (NATIVE, NATIVE_CROP, default_train_size, distributed_training_stream,
                                         recalibration_batches)
from semiseg_tf.training.validation import check_val_split


def write_run_record(run_dir: Path, config: TrainConfig, method, dataset: SegmentationDataset, loss,
                     chosen: RunSamples) -> None:
    """config.json (options, model, method hyper-parameters with defaults, classes) and the label split:
    labeled.txt (full masks), weak.txt (stem and the kind of its weak label), unlabeled.txt (the rest)."""
    weak = [f"{stem} {sample.kind}" for stem, sample in chosen.weak.items()]
    for name, lines in (("labeled", chosen.labeled), ("unlabeled", chosen.unlabeled), ("weak", weak)):
        if lines or name != "weak":
            (run_dir / f"{name}.txt").write_text("".join(f"{line}\n" for line in lines))
    (run_dir / "config.json").write_text(json.dumps({
        "train": config.to_dict(),
        "model": keras.saving.serialize_keras_object(method.segmenter),
        "method": {"name": config.method, **method.method_config()},
        "classes": dataset.classes.to_dict(),
        "class_weights": loss.class_weights,
        "labeled_count": len(chosen.labeled), "unlabeled_count": len(chosen.unlabeled),
        "weak_counts": {kind: sum(s.kind == kind for s in chosen.weak.values()) for kind in config.annotations},
    }, indent=1, default=str))


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


def initialise_from(segmenter: keras.Model, reference: str) -> None:
    """Copy the weights of a trained model of the same architecture (fine-tuning, self-training rounds)."""
    source = load_segmenter(reference).model
    ours, theirs = [w.shape for w in segmenter.weights], [w.shape for w in source.weights]
    if ours != theirs:
        raise DataError(reference, f"has a different architecture ({len(theirs)} weights, expected {len(ours)}; "
                        f"output {source.output_shape} vs {segmenter.output_shape}).",
                        "pass --init-from a model trained with the same --model and classes.")
    segmenter.set_weights(source.get_weights())


def build_segmenter(config: TrainConfig, dataset: SegmentationDataset) -> keras.Model:
    """The run's segmenter, untrained, in the current dtype policy."""
    return build_from_config(model_config(config.model, num_classes=dataset.classes.num_classes,
                                          **config.model_overrides))


def plain_segmenter(segmenter: keras.Model, config: TrainConfig, dataset: SegmentationDataset,
                    replicated: bool) -> keras.Model:
    """The trained segmenter as float32 and outside any distribution strategy (what is re-estimated, saved,
    evaluated and exported), whatever the training precision and devices."""
    if segmenter.dtype_policy.name == "float32" and not replicated:
        return segmenter
    with precision_policy("float32"):
        twin = build_segmenter(config, dataset)
    twin.set_weights(segmenter.get_weights())
    return twin


def build_training(config: TrainConfig, dataset: SegmentationDataset, labeled_samples, initialise: bool = True):
    """The method-wrapped model, compiled with optimizer, schedule and loss.

    `init_from` and `encoder_weights` are copied before the method is built, so teachers and peers start
    from them too; a resumed run (`initialise=False`) skips them, its checkpoint overwrites every weight.
    """
    keras.utils.set_random_seed(config.seed)
    segmenter = build_segmenter(config, dataset)
    if config.init_from and initialise:
        initialise_from(segmenter, config.init_from)
    if config.encoder_weights and initialise:
        from semiseg_tf.pretraining import load_encoder_weights

        load_encoder_weights(segmenter, config.encoder_weights)
    method = get_method(config.method).from_options(segmenter, config.method_options, run_steps=config.steps,
                                                      seed=config.seed)
    schedule = learning_rate_schedule(config.schedule, config.learning_rate, config.steps, config.warmup_steps)
    loss = MaskedCrossEntropy(dataset.classes.ignore_index,
                              class_weights(dataset, labeled_samples, config.class_weighting))
    jit = {"auto": "auto", "true": True, "false": False}[str(config.jit_compile).lower()]
    if tf.distribute.get_strategy().num_replicas_in_sync > 1:
        synchronize_batchnorm(method)
    method.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay),
                   loss=loss, jit_compile=jit)
    method.build_for_training(tuple(config.crop_size or config.train_size))
    return method, loss


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
    chief = is_chief()
    if chief or resume:
        config = prepare_run(config, run_dir, resume)
    if resume:
        config.steps = steps or config.steps
        config.validate()
    # A worker other than a cluster's chief computes only: what it would write goes to a scratch folder,
    # removed when this returns, and by the object's finalizer if training fails
    scratch = None if chief else tempfile.TemporaryDirectory(prefix="semiseg-worker-")
    writes = run_dir if chief else Path(scratch.name)
    strategy = distribution_strategy(config.devices, config.batch_size)  # before TensorFlow starts its devices
    policy = dtype_policy(config.precision)
    dataset = SegmentationDataset(resolve_data(config.data))
    chosen = choose_samples(config, dataset, writes)
    samples, extra, pool = chosen.labeled_samples, chosen.extra, chosen.pool
    if not resume:
        dataset.validate(samples + extra + pool)
    if config.train_size is None:
        config.train_size = default_train_size(dataset, samples, verbose)
    if config.train_size == NATIVE and config.crop_size is None:
        config.crop_size = NATIVE_CROP
    crop = tuple(config.crop_size or config.train_size)

    start_step = resume_point(run_dir, config) if resume else 0
    with precision_policy(policy), strategy.scope():
        method, loss = build_training(config, dataset, samples + extra, initialise=not resume)
        previous_seconds = Checkpoint(run_dir / "backup").restore(method)["train_seconds"] if start_step else 0.0
    write_run_record(writes, config, method, dataset, loss, chosen)
    if verbose and resume:
        print(f"resuming {run_dir} at step {start_step} of {config.steps}", flush=True)
    logger = StepLogger(writes, config.steps, start_step, config.batch_size, config.log_every,
                        config.checkpoint_every, previous_seconds, verbose=verbose if chief else 0)
    started = time.time()
    if start_step < config.steps:
        data = distributed_training_stream(strategy, config, dataset, samples, extra, pool, crop, start_step)
        with precision_policy(policy):
            if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
                fit_steps(method, data, config.steps - start_step, [logger])
            else:
                method.fit(data, epochs=1, steps_per_epoch=config.steps - start_step, callbacks=[logger],
                           verbose=0, shuffle=False)
    seconds = time.time() - started
    if scratch is not None:
        scratch.cleanup()
        return {"steps": int(method.optimizer.iterations.numpy()), "chief": False,
                "final_loss": logger.last_logs.get("loss"), "replicas": strategy.num_replicas_in_sync}
    segmenter = plain_segmenter(method.segmenter, config, dataset, strategy.num_replicas_in_sync > 1)
    recalibrated = recalibrate_batchnorm(segmenter, recalibration_batches(config, dataset, samples + extra, crop),
                                         config.bn_recalibration_batches)
    segmenter.save(run_dir / "model.keras")
    summary = {
        "steps": int(method.optimizer.iterations.numpy()),
        "resumed_from_step": start_step,
        "train_seconds": round(previous_seconds + seconds, 1),
        "train_seconds_this_session": round(seconds, 1),
        "images_per_second": round((config.steps - start_step) * config.batch_size / max(seconds, 1e-9), 2),
        "images_per_second_means": "labeled images (batch_size a step) per wall-clock second of training",
        "bn_recalibration_batches": recalibrated,
        "final_loss": logger.last_logs.get("loss"),
        "replicas": strategy.num_replicas_in_sync,
        "dtype_policy": policy,
        "machine": machine(),
    }
    (run_dir / "timing.json").write_text(json.dumps(summary, indent=1))
    return summary
