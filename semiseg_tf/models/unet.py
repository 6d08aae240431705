"""U-Net (Ronneberger et al., MICCAI 2015): symmetric encoder-decoder with skips at every level."""

from __future__ import annotations

import keras

from semiseg_tf.models.layers import PACKAGE, ResizeLike, conv_bn_relu
from semiseg_tf.models.segmenter import Segmenter


@keras.saving.register_keras_serializable(package=PACKAGE)
class UNet(Segmenter):
    """U-Net on a pyramid encoder (usually `UNetEncoder`).

    Args:
        encoder: an Encoder, or its config (`{"type": "unet", "base_width": 32, "depth": 4}`).
        num_classes: number of output classes.
        decoder_widths: channels per decoder level, deepest first; default mirrors the encoder.
        dropout: dropout on the deepest features.
        mean / std: input normalisation baked into the graph; default: the encoder's (what its weights expect).
    """

    def __init__(self, encoder, num_classes: int, decoder_widths=None, dropout: float = 0.0,
                 mean=None, std=None, **kwargs):
        # === Layers and functional model ===
        inputs, encoder, pyramid, normalization = self.make_inputs(encoder, mean, std)
        levels = sorted(pyramid, reverse=True)  # deepest first
        skips = [pyramid[k] for k in levels[1:]]
        if decoder_widths is None:
            decoder_widths = [int(s.shape[-1]) for s in skips]
        x = pyramid[levels[0]]
        if dropout:
            x = keras.layers.Dropout(dropout, name="bottleneck_dropout")(x)
        for i, (skip, width) in enumerate(zip(skips, decoder_widths)):
            x = ResizeLike(name=f"up{i}_resize")(x, skip)
            x = conv_bn_relu(x, width, 1, name=f"up{i}_proj")
            x = keras.layers.Concatenate(name=f"up{i}_concat")([x, skip])
            x = conv_bn_relu(x, width, name=f"up{i}_a")
            x = conv_bn_relu(x, width, name=f"up{i}_b")
        x = keras.layers.Conv2D(num_classes, 1, name="classifier")(x)
        logits = ResizeLike(name="logits_up")(x, inputs)
        logits = keras.layers.Activation("linear", dtype="float32", name="logits")(logits)
        # === Config ===
        config = dict(num_classes=num_classes, decoder_widths=list(decoder_widths), dropout=dropout,
                      **normalization)
        super().__init__(inputs, logits, encoder, config, features=pyramid, **kwargs)
