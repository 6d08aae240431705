"""Re-estimate BatchNorm statistics after training (PreciseBN, Wu & Johnson 2021, "Rethinking "Batch" in BatchNorm").

Keras' moving averages (momentum 0.99) lag the weights by ~100 steps: after a short run, or
a method that runs several BatchNorm-updating passes per step, eval-mode predictions can
collapse to one class while training-mode ones are right. Averaging the batch statistics of
the final weights over many training batches fixes inference for any run length.
"""

from __future__ import annotations

from typing import Iterable

import keras
import numpy as np
import tensorflow as tf


def batchnorm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """Every BatchNormalization layer of `model`, nested models included."""
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, keras.layers.BatchNormalization)]


def recalibrate_batchnorm(model: keras.Model, batches: Iterable[tf.Tensor], num_batches: int) -> int:
    """Set each BatchNorm layer's moving mean and variance to the average of its batch statistics
    over `num_batches` training-mode passes of `batches` (image tensors); returns the batches used.

    With momentum 0 a training-mode pass writes exactly its batch statistics into the moving
    variables; they are read back after each pass and averaged (the population estimate PreciseBN
    uses). Training-mode normalisation uses batch statistics only, so every layer sees the inputs it
    saw in training. Weights other than the statistics are untouched.
    """
    layers = batchnorm_layers(model)
    if not layers or num_batches <= 0:
        return 0
    momenta = [layer.momentum for layer in layers]
    before = [(np.asarray(layer.moving_mean), np.asarray(layer.moving_variance)) for layer in layers]
    sums = [[np.zeros(layer.moving_mean.shape), np.zeros(layer.moving_variance.shape)] for layer in layers]
    used = 0
    try:
        for layer in layers:
            layer.momentum = 0.0
        forward = tf.function(lambda x: model(x, training=True), reduce_retracing=True)  # traced with momentum 0
        for images in batches:
            forward(images)
            for (mean, variance), layer in zip(sums, layers):
                mean += np.asarray(layer.moving_mean)
                variance += np.asarray(layer.moving_variance)
            used += 1
            if used == num_batches:
                break
    except BaseException:  # leave the statistics as they were, not those of the last batch
        for layer, (mean, variance) in zip(layers, before):
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(variance)
        raise
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    if used:
        for (mean, variance), layer in zip(sums, layers):
            layer.moving_mean.assign((mean / used).astype(layer.moving_mean.dtype))
            layer.moving_variance.assign((variance / used).astype(layer.moving_variance.dtype))
    return used
