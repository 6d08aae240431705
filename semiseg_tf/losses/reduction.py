"""Reduction over the global batch, so a loss means the same on one device and under `tf.distribute`.

Under `MirroredStrategy` Keras runs `compute_loss` once per replica and the optimizer sums the
replicas' gradients. Keras' own losses divide their per-replica mean by the number of replicas
(`scale_loss_for_distribution`), which is right only when every replica holds as many counted pixels;
a loss whose `call` returns a scalar is not scaled at all (N times too large; see
shared/NOTES-keras-onnx.md). Our losses instead return each replica's share of the global mean,

    sum over this replica's weighted pixels / sum of the weights over all replicas,

so the replicas' shares (and their gradients) add up to the exact mean over the global batch, and on
one device the value is the plain weighted mean.
"""

from __future__ import annotations

import tensorflow as tf


def global_sum(value: tf.Tensor) -> tf.Tensor:
    """`value` summed over the replicas in sync (itself on one device or outside a replica context)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def share_of_global_mean(total: tf.Tensor, weight: tf.Tensor) -> tf.Tensor:
    """This replica's `total` over the global sum of `weight` (at least 1e-6): the replicas' shares add
    up to the weighted mean over the global batch. `weight` carries no gradient."""
    return total / tf.maximum(global_sum(tf.stop_gradient(weight)), 1e-6)


def global_mean(values: tf.Tensor) -> tf.Tensor:
    """This replica's share of the plain mean of `values` (every element weighs 1) over the global batch."""
    return share_of_global_mean(tf.reduce_sum(values), tf.cast(tf.size(values), values.dtype))


def global_value(share: tf.Tensor) -> tf.Tensor:
    """A replica's share scaled to the global value for logging (Keras' `Mean` metrics average the
    replicas' updates, as Keras does for its own `loss` tracker)."""
    return share * tf.cast(tf.distribute.get_strategy().num_replicas_in_sync, share.dtype)
