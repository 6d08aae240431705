"""Keras `fit`'s step loop, written out, for MultiWorkerMirroredStrategy.

Keras 3's `fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585, still so with Keras 3.15):
before training it reduces a per-replica batch eagerly to build the model (`_maybe_symbolic_build`), and
after each step it reduces scalar logs along axis 0 (`reduce_per_replica`). Our methods are built before
training (`build_for_training`), so this loop runs the same `train_step` under `strategy.run`, averages
the logs over replicas and drives the same callbacks (progress, history, checkpoints) as `fit` does.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def fit_steps(method: keras.Model, data, steps: int, callbacks: list[keras.callbacks.Callback]) -> None:
    """Train `method` for `steps` steps on the distributed dataset `data` (one global batch a step)."""
    strategy = method.distribute_strategy

    @tf.function
    def one_step(iterator):
        logs = strategy.run(method.train_step, args=(next(iterator),))
        return {name: strategy.reduce("MEAN", value, axis=None) for name, value in logs.items()}

    callback_list = keras.callbacks.CallbackList(callbacks, model=method)
    iterator = iter(data)
    method.stop_training = False
    callback_list.on_train_begin()
    for step in range(steps):
        callback_list.on_train_batch_begin(step)
        logs = one_step(iterator)
        callback_list.on_train_batch_end(step, {name: float(value) for name, value in logs.items()})
        if method.stop_training:
            break
    callback_list.on_train_end()
