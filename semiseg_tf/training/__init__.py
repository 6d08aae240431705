"""Training runs: config, schedules and the fit/checkpoint/resume loop."""

from semiseg_tf.training.config import TrainConfig
from semiseg_tf.training.trainer import train

__all__ = ["TrainConfig", "train"]
