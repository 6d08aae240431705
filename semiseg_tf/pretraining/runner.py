"""Run a pretraining job: images, encoder + pretext head, step-based Keras `fit` with checkpoints and resume,
then the encoder's weights and a card.

Output folder:
    config.json            every option (PretrainConfig) and the image count
    backup/                checkpoint.npz (every variable, optimizer state, step) for --resume;
                           clusters.npz (DeepCluster: the current epoch's clustering)
    history.csv, logs/     loss, pretext metric, learning rate, images/s every `log_every` steps (TensorBoard)
    clusters.csv           DeepCluster: one row per clustering (re-filled clusters, NMI with the previous one)
    encoder.weights.h5     the pretrained encoder (BatchNorm statistics re-estimated over plain crops)
    encoder.json           its config, preset, input normalisation and method (see encoder_weights.py)
    card.json              method, paper, images, steps, time, final pretext metric
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import keras
import tensorflow as tf

from semiseg_tf.data import DataError
from semiseg_tf.diagnostics import machine
from semiseg_tf.models import build_model
from semiseg_tf.pretraining.config import PretrainConfig, method_class
from semiseg_tf.pretraining.encoder_weights import CONFIG_FILE, WEIGHTS_FILE, save_encoder
from semiseg_tf.pretraining.images import check_readable, crop_stream, pretraining_samples
from semiseg_tf.training.batchnorm import recalibrate_batchnorm
from semiseg_tf.training.checkpoint import Checkpoint
from semiseg_tf.training.devices import cluster, distribution_strategy, synchronize_batchnorm
from semiseg_tf.training.progress import StepLogger
from semiseg_tf.training.schedules import learning_rate_schedule


def prepare_run(config: PretrainConfig, run_dir: Path, resume: bool) -> PretrainConfig:
    """Create or reopen the output folder; a resumed run keeps its stored options."""
    stored = run_dir / "config.json"
    if resume:
        if not stored.is_file():
            raise DataError(stored, "no pretraining run to resume here.", "start it without --resume first.")
        return PretrainConfig.from_dict(json.loads(stored.read_text())["pretrain"])
    if (run_dir / "backup").exists() or (run_dir / WEIGHTS_FILE).exists():
        raise DataError(run_dir, "already holds a pretraining run.", "pass --resume to continue it, or a new --out.")
    run_dir.mkdir(parents=True, exist_ok=True)
    return config


def build_pretext(config: PretrainConfig, num_images: int):
    """(segmenter of the preset, its encoder inside a compiled, built pretext model)."""
    keras.utils.set_random_seed(config.seed)
    segmenter = build_model(config.model, num_classes=1)
    model = method_class(config.method)(segmenter, image_size=config.image_size, seed=config.seed,
                                        num_images=num_images, **config.method_options)
    schedule = learning_rate_schedule("cosine", config.learning_rate, config.steps, config.warmup_steps)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay), jit_compile=False)
    model(model.dummy_inputs(config.image_size))  # build, so a checkpoint can be restored into it
    return segmenter, model


def resume_point(run_dir: Path, config: PretrainConfig) -> tuple[int, float]:
    """(step, training seconds) of the stored checkpoint; refuses a total below the steps already trained."""
    checkpoint = Checkpoint(run_dir / "backup")
    if not checkpoint.exists():
        return 0, 0.0
    stored = checkpoint.read()
    if stored["step"] > config.steps:
        raise ValueError(f"--steps {config.steps}: the run in {run_dir} has already trained {stored['step']} steps; "
                         f"resume with --steps >= {stored['step']}.")
    return stored["step"], stored["train_seconds"]


def last_logged(run_dir: Path, name: str = "history.csv") -> dict:
    """The last row of a CSV log (history.csv: what the run logged at its final step)."""
    path = run_dir / name
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return rows[-1] if rows else {}


def pretrain(config: PretrainConfig, out: str | Path, resume: bool = False, verbose: int = 1,
             steps: int | None = None) -> dict:
    """Pretrain (or resume) the encoder of `config.model` in `out` and return the run's card.

    A resumed run takes its options from its config.json; `steps` alone may change (the cosine schedule
    then decays to the new total).
    """
    run_dir = Path(out)
    if resume:
        config = prepare_run(config, run_dir, resume=True)
        config.steps = steps or config.steps
    config.validate()  # bad options and inputs are refused before anything is written
    samples = pretraining_samples(config.images, config.data, config.split)
    check_readable(samples)
    start_step, previous_seconds = resume_point(run_dir, config) if resume else (0, 0.0)
    if cluster():
        raise ValueError("pretrain on several machines (a multi-worker TF_CONFIG) is not supported; "
                         "pretrain on one machine (--devices all) and pass its encoder to `train --encoder-weights`.")
    strategy = distribution_strategy(config.devices, config.batch_size)
    with strategy.scope():  # Keras splits each global batch of the stream among the replicas
        segmenter, model = build_pretext(config, len(samples))  # refuses options that do not fit the images
        if strategy.num_replicas_in_sync > 1:
            synchronize_batchnorm(model)
        if start_step:
            Checkpoint(run_dir / "backup").restore(model)
    if not resume:
        prepare_run(config, run_dir, resume=False)
    (run_dir / "config.json").write_text(json.dumps({"pretrain": config.to_dict(), "images": len(samples)}, indent=1))
    if verbose:
        where = f"resuming at step {start_step} of" if start_step else "pretraining for"
        print(f"{config.method}: {where} {config.steps} steps on {len(samples)} images, encoder of {config.model}",
              flush=True)

    state = {"seconds": previous_seconds}
    checkpoint = Checkpoint(run_dir / "backup")

    def fit(make_stream, start: int, count: int) -> None:
        logger = StepLogger(run_dir, config.steps, start, config.batch_size, config.log_every,
                            config.checkpoint_every, state["seconds"], verbose=verbose)
        # Replicated, Keras splits each global batch among the replicas; it also iterates the stream once to
        # build, so the pipeline is remade at every iterator (as in training) to keep one device's order
        stream = (make_stream() if strategy.num_replicas_in_sync == 1
                  else tf.data.Dataset.range(1).flat_map(lambda _: make_stream()))
        model.fit(stream, epochs=1, steps_per_epoch=count, callbacks=[logger], verbose=0, shuffle=False)
        state["seconds"] = logger.train_seconds()
        end = start + count
        if end % config.checkpoint_every and end != config.steps:  # DeepCluster's epochs end between checkpoints
            checkpoint.save(model, end, state["seconds"])

    started = time.time()
    if start_step < config.steps:
        model.train_steps(samples, config, run_dir, start_step, fit)
    session_seconds = time.time() - started
    recalibrated = recalibrate_batchnorm(
        model.backbone, crop_stream(samples, config.batch_size, config.image_size, config.seed + 7),
        config.bn_recalibration_batches)
    save_encoder(segmenter, run_dir, {"preset": config.model, "method": config.method, "steps": config.steps,
                                      "image_size": config.image_size})
    card = write_card(run_dir, config, model, samples, start_step, state["seconds"], session_seconds, recalibrated)
    return card


def write_card(run_dir: Path, config: PretrainConfig, model, samples, start_step: int, seconds: float,
               session_seconds: float, recalibrated: int) -> dict:
    """card.json: what was pretrained, on what, how long, and where the pretext metric ended."""
    logged = last_logged(run_dir)
    metric = logged.get(model.metric_name)
    card = {
        "method": config.method,
        "paper": model.paper,
        "model": config.model,
        "encoder": type(model.encoder).__name__,
        "images": len(samples),
        "image_source": {"images": config.images, "data": config.data,
                         "split": config.split if config.data else None},
        "image_size": config.image_size,
        "batch_size": config.batch_size,
        "replicas": model.distribute_strategy.num_replicas_in_sync,
        "steps": int(model.optimizer.iterations.numpy()),
        "resumed_from_step": start_step,
        "train_seconds": round(seconds, 1),
        "machine": machine(),
        "images_per_second": round((config.steps - start_step) * config.batch_size / max(session_seconds, 1e-9), 2)
        if config.steps > start_step else None,
        "final_metric": {"name": model.metric_name, "value": None if metric is None else float(metric),
                         "chance": model.chance_level()},
        "final_loss": float(logged["loss"]) if "loss" in logged else None,
        "method_options": model.options(),
        "bn_recalibration_batches": recalibrated,
        "encoder_weights": WEIGHTS_FILE,
        "encoder_config": CONFIG_FILE,
    }
    clusterings = last_logged(run_dir, "clusters.csv")
    if clusterings.get("nmi_vs_previous"):
        card["nmi_last_two_clusterings"] = float(clusterings["nmi_vs_previous"])
    (run_dir / "card.json").write_text(json.dumps(card, indent=1))
    return card
