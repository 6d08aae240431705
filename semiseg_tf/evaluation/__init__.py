"""Evaluation at native resolution: confusion matrix, mIoU, per-class IoU."""

from semiseg_tf.evaluation.evaluate import evaluate, predict_native

__all__ = ["evaluate", "predict_native"]
