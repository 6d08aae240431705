"""Self-supervised pretraining of a segmenter's encoder on the user's own unlabeled images.

config: options (PretrainConfig) and the methods by name; images: the images and shared tf.data steps;
pretext_model: encoder (behind the segmenter's input normalisation) + task head; one module per method:
rotation (Gidaris et al. 2018), jigsaw (Noroozi & Favaro 2016), deepcluster (Caron et al. 2018),
detcon (`--method dense`: Hénaff et al. 2021 on Felzenszwalb masks); runner: `pretrain`;
encoder_weights: the saved encoder and `load_encoder_weights` into any segmenter with that encoder.

TensorFlow loads on first use of the runner or the models, so `semiseg-tf pretrain --help` stays fast.
"""

import importlib

from semiseg_tf.pretraining.config import METHODS, PretrainConfig

_LAZY = {"pretrain": "runner", "load_encoder_weights": "encoder_weights", "save_encoder": "encoder_weights"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"semiseg_tf.pretraining.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'semiseg_tf.pretraining' has no attribute '{name}'")


__all__ = ["METHODS", "PretrainConfig", "load_encoder_weights", "pretrain", "save_encoder"]
