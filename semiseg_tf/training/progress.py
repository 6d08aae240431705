"""Step-based progress, logs and checkpoints for a run driven by one Keras `fit` call.

A run is `fit(epochs=1, steps_per_epoch=remaining steps)`: Keras epochs play no part, so a run
trains exactly the steps asked, logs every `log_every` steps and checkpoints every
`checkpoint_every` steps and at the last one.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import keras
import tensorflow as tf

from semiseg_tf.training.checkpoint import Checkpoint


def truncate_history(path: Path, step: int) -> None:
    """Drop history rows logged after `step` (the checkpoint a resumed run continues from)."""
    if not path.is_file():
        return
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(r for r in rows if int(r["step"]) <= step)


def format_seconds(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class StepLogger(keras.callbacks.Callback):
    """Every `log_every` steps: one progress line (step N/total, losses, learning rate, images/s, ETA), a
    history.csv row and TensorBoard scalars, each the mean over the steps since the last log (the method's
    metrics are reset after each log). Every `checkpoint_every` steps and at the end: the checkpoint.

    images/s counts the labeled batch (`batch_size` images a step) over the wall-clock time of those steps.
    """

    def __init__(self, run_dir: Path, total_steps: int, start_step: int, batch_size: int, log_every: int,
                 checkpoint_every: int, previous_seconds: float, verbose: int = 1):
        super().__init__()
        self.run_dir, self.total, self.start = Path(run_dir), total_steps, start_step
        self.batch_size, self.log_every, self.checkpoint_every = batch_size, log_every, checkpoint_every
        self.previous_seconds, self.verbose = previous_seconds, verbose
        self.checkpoint = Checkpoint(self.run_dir / "backup")
        self.last_logs: dict = {}

    def on_train_begin(self, logs=None):
        self.started = self.interval_started = time.time()
        self.interval_start_step = self.start
        self.writer = tf.summary.create_file_writer(str(self.run_dir / "logs"))
        truncate_history(self.run_dir / "history.csv", self.start)

    def train_seconds(self) -> float:
        return self.previous_seconds + time.time() - self.started

    def on_train_batch_end(self, batch, logs=None):
        step = self.start + batch + 1
        if step % self.log_every == 0 or step == self.total:
            self._log(step, logs or {})
        if step % self.checkpoint_every == 0 or step == self.total:
            self.checkpoint.save(self.model, step, self.train_seconds())

    def _log(self, step: int, logs: dict) -> None:
        now = time.time()
        values = {name: float(value) for name, value in logs.items()}
        values["lr"] = float(self.model.optimizer.learning_rate)
        steps = step - self.interval_start_step
        values["images_per_second"] = steps * self.batch_size / max(now - self.interval_started, 1e-9)
        self.interval_started, self.interval_start_step = now, step
        self.model.reset_metrics()  # the next row averages the next interval only
        self.last_logs = values
        self._write_row(step, values, self.train_seconds())
        with self.writer.as_default():
            for name, value in values.items():
                tf.summary.scalar(name, value, step=step)
        if self.verbose:
            done = step - self.start
            eta = (now - self.started) / done * (self.total - step)
            parts = "  ".join(f"{k} {v:.4g}" for k, v in values.items() if k not in ("lr", "images_per_second"))
            print(f"step {step}/{self.total}  {parts}  lr {values['lr']:.2e}  "
                  f"{values['images_per_second']:.1f} images/s  ETA {format_seconds(eta)}", flush=True)

    def _write_row(self, step: int, values: dict, seconds: float) -> None:
        path = self.run_dir / "history.csv"
        row = {"step": step, **{k: f"{v:.6g}" for k, v in values.items()}, "train_seconds": f"{seconds:.1f}"}
        new = not path.is_file() or path.stat().st_size == 0
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)

    def on_train_end(self, logs=None):
        self.writer.close()
