"""Evaluate a segmenter at the dataset's native resolution.

Images are resized to the model's input size, logits are resized back to the
native size bilinearly, and the confusion matrix is accumulated on native masks.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import tensorflow as tf

from semiseg_tf.data import SegmentationDataset, eval_dataset
from semiseg_tf.metrics import confusion_matrix, scores


def predict_native(model: keras.Model, image: tf.Tensor, native_hw) -> tf.Tensor:
    """Class ids at `native_hw` for one batch of already resized images."""
    logits = model(image, training=False)
    logits = tf.image.resize(logits, native_hw, method="bilinear")
    return tf.argmax(logits, axis=-1, output_type=tf.int32)


def evaluate(model: keras.Model, data: str | Path, split: str = "val",
             input_size: tuple[int, int] | None = None, out: str | Path | None = None,
             stems: list[str] | None = None) -> dict:
    """mIoU, per-class IoU and accuracies on `split` (or on `stems`, named `split` in the result);
    written as JSON to `out` if given."""
    dataset = SegmentationDataset(data)
    samples = dataset.samples(split) if stems is None else dataset.samples(stems=stems)
    dataset.validate(samples)
    classes = dataset.classes
    if model.output_shape[-1] != classes.num_classes:
        raise ValueError(f"model predicts {model.output_shape[-1]} classes but {data} has "
                         f"{classes.num_classes}; evaluate on the dataset the model was trained for")
    step = tf.function(lambda x, hw: predict_native(model, x, hw), reduce_retracing=True)
    confusion = 0
    started = time.time()
    for image, mask in eval_dataset(samples, classes.num_classes, input_size, classes.ignore_index):
        prediction = step(image[None], tf.shape(mask)[:2])
        confusion = confusion + confusion_matrix(mask, prediction[0], classes.num_classes, classes.ignore_index)
    result = scores(confusion, classes.names)
    result.update(split=split, images=len(samples), data=str(data),
                  input_size=list(input_size) if input_size else None,
                  confusion_matrix=confusion.tolist(), seconds=round(time.time() - started, 1))
    if out is not None:
        Path(out).write_text(json.dumps(result, indent=1))
    return result
