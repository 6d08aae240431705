"""Gated CRF loss (Obukhov et al. 2019, arXiv:1906.04651): an edge-aware regulariser for partial labels.

For every pair of pixels i != j within a (2r+1)^2 window, on predictions and image average-pooled by
`downscale`,

    loss = sum_ij  m_i m_j k_ij (1 - sum_c p_ic p_jc)  /  sum_i m_i
    k_ij = w_rgbxy exp(-|xy_i - xy_j|^2 / 2 sigma_xy^2 - |rgb_i - rgb_j|^2 / 2 sigma_rgb^2)
           + w_xy exp(-|xy_i - xy_j|^2 / 2 sigma_xy^2)

(the Potts form of the authors' `ModelLossSemsegGatedCRF`, toshas/GatedCRFLoss): disagreeing
neighbours cost much where colours are alike and little across an edge, so the labels of scribbles,
points or coarse regions spread along image structure. `m` is the gate (their mask_src/mask_dst):
pixels outside the image, padding or regions marked invalid take part in no pair; a downscaled
cell is valid only if all its pixels are. Defaults are the authors' (scripts/train.py): one RGBXY
kernel of weight 1, sigma_xy 6 and radius 5 on the prediction grid, which is 1/4 of the input
(`--loss_gatedcrf_resolution 64` for 256 crops), loss weight 0.1. Their images enter the kernel as
ImageNet-standardised values with sigma_rgb 0.1, i.e. 0.1 x 255 x ~0.226 = 5.8 grey levels:
here `sigma_rgb` is in [0, 255] pixel units (what the segmenters take), default 5.8; `radius`
and `sigma_xy` are in pixels of the downscaled grid (5 and 6 = 20 and 24 input pixels at 1/4).

Why gated CRF rather than the dense-CRF / normalized-cut losses of Tang et al. (2018, rloss):
those couple every pair of pixels in the image, which is affordable only with a permutohedral-
lattice bilateral filter, a custom C++/CUDA op outside TensorFlow (no XLA, no tf.distribute
without rebuilding it, nothing for CPU wheels). The gated CRF's local window is a few pads, slices,
exps and products: pure tensor code that runs wherever TensorFlow does, differentiates by autodiff
and gates pairs with a mask for free. What it costs: pixels further apart than r x downscale
(20 input pixels by default) never interact directly (labels travel further only through the
network's own smoothness over training), the loss sees predictions at 1/4 resolution, and a step
pays (2r+1)^2 - 1 = 120 pair terms per downscaled pixel (half computed, the kernel is symmetric).
"""

from __future__ import annotations

import dataclasses
import math

import tensorflow as tf

from semiseg_tf.losses.reduction import share_of_global_mean


def downscaled(values: tf.Tensor, factor: int) -> tf.Tensor:
    """Average-pool NHWC `values` by `factor` (edge cells average the pixels they hold)."""
    if factor == 1:
        return values
    return tf.nn.avg_pool2d(values, factor, factor, padding="SAME")


def gated_crf_loss(probabilities: tf.Tensor, images: tf.Tensor, valid: tf.Tensor | None = None,
                   radius: int = 5, downscale: int = 4, sigma_rgb: float = 5.8, sigma_xy: float = 6.0,
                   rgbxy_weight: float = 1.0, xy_weight: float = 0.0) -> tf.Tensor:
    """The gated CRF loss of (N, H, W, C) class `probabilities` on (N, H, W, 3) `images` in [0, 255].

    `valid` (N, H, W), optional: pixels that may take part in pairs (padding and ignore regions 0).
    Returns this replica's share of the mean over the global batch's valid downscaled pixels.
    """
    probabilities = tf.cast(probabilities, tf.float32)
    images = tf.stop_gradient(tf.cast(images, tf.float32))
    if images.shape[1:3] != probabilities.shape[1:3]:
        images = tf.image.resize(images, tf.shape(probabilities)[1:3], method="area")
    if valid is None:
        valid = tf.ones_like(probabilities[..., 0])
    valid = tf.cast(valid, tf.float32)[..., None]
    probabilities = downscaled(probabilities, downscale)
    features = downscaled(images, downscale) / sigma_rgb
    valid = tf.cast(downscaled(valid, downscale) > 1.0 - 1e-6, tf.float32)

    height, width = tf.shape(probabilities)[1], tf.shape(probabilities)[2]
    padding = [[0, 0], [radius, radius], [radius, radius], [0, 0]]
    padded = [tf.pad(t, padding) for t in (probabilities, features, valid)]  # outside the image: m = 0
    total = tf.constant(0.0)
    # Half of the window (dy > 0, or dy = 0 and dx > 0): k_ij and the disagreement are symmetric.
    for dy in range(0, radius + 1):
        for dx in range(-radius, radius + 1):
            if dy == 0 and dx <= 0:
                continue
            p_j, f_j, m_j = (t[:, radius + dy:radius + dy + height, radius + dx:radius + dx + width] for t in padded)
            spatial = math.exp(-(dy * dy + dx * dx) / (2.0 * sigma_xy ** 2))
            colour = tf.exp(-0.5 * tf.reduce_sum(tf.square(features - f_j), axis=-1, keepdims=True))
            kernel = spatial * (rgbxy_weight * colour + xy_weight)
            disagreement = 1.0 - tf.reduce_sum(probabilities * p_j, axis=-1, keepdims=True)
            total += tf.reduce_sum(kernel * valid * m_j * disagreement)
    return share_of_global_mean(2.0 * total, tf.reduce_sum(valid))


@dataclasses.dataclass(frozen=True)
class GatedCRFLoss:
    """`gated_crf_loss` with its options bound: `GatedCRFLoss(radius=3)(probabilities, images, valid)`."""

    radius: int = 5
    downscale: int = 4
    sigma_rgb: float = 5.8
    sigma_xy: float = 6.0
    rgbxy_weight: float = 1.0
    xy_weight: float = 0.0

    def __call__(self, probabilities, images, valid=None) -> tf.Tensor:
        return gated_crf_loss(probabilities, images, valid, **dataclasses.asdict(self))

    def get_config(self) -> dict:
        return dataclasses.asdict(self)
