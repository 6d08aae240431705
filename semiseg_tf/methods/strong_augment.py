"""In-graph strong views for consistency training: colour jitter, grayscale, blur, and segmentation CutMix.

The recipe and its defaults are UniMatch's (Yang et al., CVPR 2023), itself FixMatch's
(Sohn et al., NeurIPS 2020) for segmentation: ColorJitter(0.5, 0.5, 0.5, 0.25) with
p=0.8, grayscale p=0.2, Gaussian blur sigma in [0.1, 2] with p=0.5, CutMix p=0.5.
Each image draws its own parameters from a `keras.random.SeedGenerator`.

Keras' CutMix/MixUp layers mix labels as vectors; segmentation needs one box mask
applied to images, pseudo-labels and confidence maps alike: `cutmix_box` + `mix`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from semiseg_tf.models.layers import PACKAGE


def _draw(batch, seed, low=0.0, high=1.0):
    """One uniform draw per image, shaped to broadcast over (N, H, W, C)."""
    return keras.random.uniform((batch, 1, 1, 1), low, high, seed=seed)


def _gray(x):
    return tf.reduce_sum(x * tf.constant([0.299, 0.587, 0.114]), axis=-1, keepdims=True)


def _blur_1d(x, weights, axis):
    """Separable Gaussian along `axis` (1 = H, 2 = W) with per-image taps `weights` (N, K)."""
    radius = (weights.shape[1] - 1) // 2
    pad = [[0, 0]] * 4
    pad[axis] = [radius, radius]
    padded = tf.pad(x, pad, mode="REFLECT")
    length = tf.shape(x)[axis]
    out = 0.0
    for k in range(2 * radius + 1):
        window = padded[:, k:k + length] if axis == 1 else padded[:, :, k:k + length]
        out += weights[:, k, None, None, None] * window
    return out


@keras.saving.register_keras_serializable(package=PACKAGE)
class StrongAugment(keras.layers.Layer):
    """Photometric strong view of a [0, 255] float batch; geometry (and so labels) unchanged.

    Args:
        jitter: (brightness, contrast, saturation, hue) strengths, torchvision ColorJitter semantics.
        jitter_p / grayscale_p / blur_p: per-image probabilities.
        blur_sigma: range of the Gaussian's sigma in pixels; the kernel radius is 3 x its maximum.
    """

    def __init__(self, jitter=(0.5, 0.5, 0.5, 0.25), jitter_p: float = 0.8, grayscale_p: float = 0.2,
                 blur_p: float = 0.5, blur_sigma=(0.1, 2.0), seed=None, **kwargs):
        kwargs.setdefault("dtype", "float32")  # image arithmetic stays float32 under mixed precision
        super().__init__(**kwargs)
        self.jitter, self.jitter_p, self.grayscale_p = tuple(jitter), jitter_p, grayscale_p
        self.blur_p, self.blur_sigma = blur_p, tuple(blur_sigma)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True  # no weights that depend on the input shape

    def call(self, images):
        x = images / 255.0
        n = tf.shape(x)[0]
        x = self._where(n, self.jitter_p, self._color_jitter(x, n), x)
        x = self._where(n, self.grayscale_p, tf.repeat(_gray(x), 3, axis=-1), x)
        x = self._where(n, self.blur_p, self._blur(x, n), x)
        return tf.clip_by_value(x, 0.0, 1.0) * 255.0

    def _where(self, n, p, changed, unchanged):
        return tf.where(_draw(n, self.seed_generator) < p, changed, unchanged)

    def _color_jitter(self, x, n):
        brightness, contrast, saturation, hue = self.jitter
        seed = self.seed_generator
        x = tf.clip_by_value(x * _draw(n, seed, 1 - brightness, 1 + brightness), 0.0, 1.0)
        mean = tf.reduce_mean(_gray(x), axis=[1, 2, 3], keepdims=True)
        x = tf.clip_by_value((x - mean) * _draw(n, seed, 1 - contrast, 1 + contrast) + mean, 0.0, 1.0)
        gray = _gray(x)
        x = tf.clip_by_value((x - gray) * _draw(n, seed, 1 - saturation, 1 + saturation) + gray, 0.0, 1.0)
        hsv = tf.image.rgb_to_hsv(x)
        shifted = tf.math.floormod(hsv[..., :1] + _draw(n, seed, -hue, hue), 1.0)
        return tf.image.hsv_to_rgb(tf.concat([shifted, hsv[..., 1:]], axis=-1))

    def _blur(self, x, n):
        radius = int(round(3 * self.blur_sigma[1]))
        sigma = keras.random.uniform((n, 1), *self.blur_sigma, seed=self.seed_generator)
        offsets = tf.range(-radius, radius + 1, dtype=tf.float32)[None]
        weights = tf.exp(-0.5 * tf.square(offsets / sigma))
        weights /= tf.reduce_sum(weights, axis=1, keepdims=True)
        return _blur_1d(_blur_1d(x, weights, axis=1), weights, axis=2)

    def get_config(self):
        return {**super().get_config(), "jitter": list(self.jitter), "jitter_p": self.jitter_p,
                "grayscale_p": self.grayscale_p, "blur_p": self.blur_p, "blur_sigma": list(self.blur_sigma)}


def cutmix_box(shape, seed, p: float = 0.5, area=(0.02, 0.4), aspect=(0.3, 1 / 0.3)) -> tf.Tensor:
    """Per-image float box masks (N, H, W): 1 inside a random box (with probability p), else 0.

    Box area is a fraction of the image in `area`, its height/width ratio in `aspect`
    (UniMatch's `obtain_cutmix_box`), clipped to the image.
    """
    n, height, width = shape[0], shape[1], shape[2]
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    size = keras.random.uniform((n,), *area, seed=seed) * h * w
    ratio = keras.random.uniform((n,), *aspect, seed=seed)
    box_h = tf.minimum(tf.floor(tf.sqrt(size * ratio)), h)
    box_w = tf.minimum(tf.floor(tf.sqrt(size / ratio)), w)
    top = tf.floor(keras.random.uniform((n,), seed=seed) * (h - box_h + 1))
    left = tf.floor(keras.random.uniform((n,), seed=seed) * (w - box_w + 1))
    rows = tf.range(h)[None, :, None]
    cols = tf.range(w)[None, None, :]
    inside = ((rows >= top[:, None, None]) & (rows < (top + box_h)[:, None, None])
              & (cols >= left[:, None, None]) & (cols < (left + box_w)[:, None, None]))
    apply = keras.random.uniform((n,), seed=seed) < p
    return tf.cast(inside & apply[:, None, None], tf.float32)


def mix(box: tf.Tensor, inside: tf.Tensor, outside: tf.Tensor) -> tf.Tensor:
    """`inside` where box == 1, `outside` elsewhere; images, labels and confidences alike."""
    box = tf.reshape(box, tf.concat([tf.shape(box), tf.ones([tf.rank(inside) - 3], tf.int32)], 0))
    return tf.where(box > 0.5, inside, outside)


def partner(batch: tf.Tensor) -> tf.Tensor:
    """The image each one is mixed with: the next in the batch (itself when alone)."""
    return tf.roll(batch, shift=-1, axis=0)
