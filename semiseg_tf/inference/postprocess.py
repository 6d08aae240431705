"""Whole-image inference around the model: resize in, and logits back to native resolution."""

from __future__ import annotations

import numpy as np

from semiseg_tf.inference.resize import resize_bilinear, resize_image
from semiseg_tf.inference.tiling import softmax


def prepare_whole(image: np.ndarray, runner) -> np.ndarray:
    """The uint8 model input: the image resized to the model's size (native when it has none)."""
    return resize_image(image, runner.resize_to) if runner.resize_to else image


def finish_whole(prediction: np.ndarray, native_hw: tuple[int, int], output: str, with_probs: bool):
    """(class ids at native size, probabilities or None) from one image's model output.

    Logits are resized bilinearly and then argmax-ed, as in evaluation; class ids from an
    `--output ids` export can only be resized by nearest neighbour.
    """
    if output == "ids":
        rows = np.arange(native_hw[0]) * prediction.shape[0] // native_hw[0]
        cols = np.arange(native_hw[1]) * prediction.shape[1] // native_hw[1]
        return prediction[rows][:, cols].astype(np.uint8), None
    scores = resize_bilinear(prediction, native_hw)
    ids = scores.argmax(-1).astype(np.uint8)
    if not with_probs:
        return ids, None
    return ids, scores if output == "probs" else softmax(scores)
