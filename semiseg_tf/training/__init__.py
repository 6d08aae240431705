"""Training runs: config, schedules and the fit/checkpoint/resume loop."""

from semiseg_tf.training.config import TrainConfig
from semiseg_tf.training.trainer import train
from semiseg_tf.training.validation import evaluate_run

__all__ = ["TrainConfig", "evaluate_run", "train"]
