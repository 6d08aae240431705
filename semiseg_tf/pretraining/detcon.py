"""DetCon (Hénaff, Koppula, Alayrac, van den Oord, Vinyals & Carreira, "Efficient Visual Pretraining with
Contrastive Detection", ICCV 2021), the SimCLR form (DetCon_S), with unsupervised Felzenszwalb-Huttenlocher
masks (Felzenszwalb & Huttenlocher, IJCV 2004; `skimage.segmentation.felzenszwalb`).

Why it suits segmentation: image-level pretext tasks (rotation, jigsaw, clustering) reward one vector
per image, which a global pooling can produce while the spatial feature map stays poor. DetCon pools the
feature map inside each region of an over-segmentation and contrasts regions: the features of one
region must agree across two augmented views and differ from every other region, in the same image and
in others. That asks the encoder for exactly what a segmentation decoder reads: per-location features
that are the same within a region and change at its boundary. The paper reports its largest gains over
image-level contrastive learning on detection and segmentation transfer (COCO, PASCAL, Cityscapes), and
the FH masks need no labels and no other network.

Each image: FH segments on the whole image (the largest `max_segments` kept, the rest never sampled),
two random resized crops with flips and colour jitter moving the segment map along, `masks_per_image` segment
ids drawn among those present in both views; per view, features of the chosen pyramid level are averaged
inside each segment (masks area-resized to the feature grid), projected by an MLP and L2-normalised; an
NT-Xent loss (temperature 0.1) takes the same segment in the other view as the positive and every other
segment of the batch, in both views, as negatives (repeats of the same segment are neither).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from semiseg_tf.data.augment import AugmentConfig, photometric
from semiseg_tf.losses.reduction import share_of_global_mean
from semiseg_tf.pretraining.images import decode_resized, image_stream, random_resized_crop
from semiseg_tf.pretraining.pretext_model import PretextModel, mlp

COLOUR_JITTER = AugmentConfig(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)


# === Masks and views ===
def felzenszwalb_segments(image: np.ndarray, scale: float, min_area: float, max_segments: int) -> np.ndarray:
    """FH over-segmentation of an (H, W, 3) image: int32 ids 0..max_segments-1 for the largest segments
    (0 = largest), -1 for the smaller rest. `min_area` is the smallest segment as a share of the image."""
    from skimage.segmentation import felzenszwalb

    image = np.clip(np.asarray(image), 0, 255).astype(np.uint8)
    segments = felzenszwalb(image, scale=float(scale), sigma=0.8,
                            min_size=max(1, int(min_area * image.shape[0] * image.shape[1])))
    sizes = np.bincount(segments.ravel())
    lookup = np.full(len(sizes), -1, np.int32)
    largest = np.argsort(-sizes, kind="stable")[:max_segments]
    lookup[largest] = np.arange(len(largest), dtype=np.int32)
    return lookup[segments]


def sample_shared_segments(mask1: tf.Tensor, mask2: tf.Tensor, seed: tf.Tensor, count: int, max_segments: int):
    """`count` segment ids drawn uniformly (with replacement) among those present in both views, and a
    float flag per draw: 0 when the views share no segment (the draw is then ignored by the loss)."""
    def present(mask):
        ids = tf.boolean_mask(mask, mask >= 0)
        return tf.math.bincount(ids, minlength=max_segments, maxlength=max_segments) > 0

    shared = present(mask1) & present(mask2)
    logits = tf.where(shared | ~tf.reduce_any(shared), 0.0, -1e9)  # none shared: any id, flagged invalid
    ids = tf.random.stateless_categorical(logits[None], count, seed, dtype=tf.int32)[0]
    return ids, tf.cast(tf.gather(shared, ids), tf.float32)


def mask_pooled(features: tf.Tensor, masks: tf.Tensor, ids: tf.Tensor) -> tf.Tensor:
    """Average of `features` (N, h, w, C) inside each chosen segment: masks (N, S, S) ids, ids (N, K)
    -> (N, K, C); binary masks are area-resized to the feature grid (soft weights at boundaries)."""
    binary = tf.cast(tf.equal(masks[..., None], ids[:, None, None, :]), tf.float32)
    weights = tf.image.resize(binary, tf.shape(features)[1:3], method="area")
    total = tf.reduce_sum(weights, axis=[1, 2])
    pooled = tf.einsum("nhwk,nhwc->nkc", weights, tf.cast(features, tf.float32))
    return pooled / tf.maximum(total, 1e-6)[..., None]


def detcon_loss(z1: tf.Tensor, z2: tf.Tensor, ids: tf.Tensor, valid: tf.Tensor, temperature: float):
    """NT-Xent over segments: z1, z2 (B, K, D) embeddings of the same draws in two views, ids (B, K),
    valid (B, K). Returns (summed loss over valid draws, their count, top-1 accuracy of the positive)."""
    batch, per_image = tf.shape(z1)[0], tf.shape(z1)[1]
    n = batch * per_image
    z1 = tf.math.l2_normalize(tf.reshape(z1, [n, -1]), axis=-1)
    z2 = tf.math.l2_normalize(tf.reshape(z2, [n, -1]), axis=-1)
    image = tf.repeat(tf.range(batch), per_image)
    segment = tf.reshape(ids, [n])
    same = tf.equal(image[:, None], image[None, :]) & tf.equal(segment[:, None], segment[None, :])
    weight = tf.reshape(tf.cast(valid, tf.float32), [n])
    negative = ~same & (weight[None, :] > 0)
    cross_mask, within_mask = tf.eye(n, dtype=tf.bool) | negative, negative
    labels = tf.range(n)

    def side(a, b):
        cross = tf.matmul(a, b, transpose_b=True) / temperature
        within = tf.matmul(a, a, transpose_b=True) / temperature
        logits = tf.concat([tf.where(cross_mask, cross, -1e9), tf.where(within_mask, within, -1e9)], axis=1)
        hit = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32)
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits), hit

    loss12, hit12 = side(z1, z2)
    loss21, hit21 = side(z2, z1)
    count = tf.reduce_sum(weight)
    accuracy = tf.reduce_sum(weight * (hit12 + hit21)) / tf.maximum(2.0 * count, 1.0)
    return tf.reduce_sum(weight * 0.5 * (loss12 + loss21)), count, accuracy


# === The model ===
class DetConPretext(PretextModel):
    """Encoder -> per-segment pooled features of one pyramid level -> MLP projector -> NT-Xent.

    Args:
        masks_per_image: segment draws per image (16 in the paper).
        max_segments: FH segments kept per image (largest first).
        temperature: NT-Xent temperature (0.1 in the paper).
        fh_scale: Felzenszwalb's scale (larger: fewer, larger segments; 300 gives ~15 segments on a
            128-pixel street scene).
        fh_min_area: smallest FH segment, as a share of the image.
        level: pyramid level pooled ("" = the deepest, as in the paper).
        hidden / projection_dim: projector widths.
    """

    paper = "Hénaff et al., ICCV 2021 (DetCon, SimCLR form) with Felzenszwalb-Huttenlocher masks"
    metric_name = "contrastive_accuracy"

    def __init__(self, segmenter, image_size: int = 128, masks_per_image: int = 16, max_segments: int = 32,
                 temperature: float = 0.1, fh_scale: float = 300.0, fh_min_area: float = 0.005, level: str = "",
                 hidden: int = 512, projection_dim: int = 128, seed: int = 0, **kwargs):
        super().__init__(segmenter, seed=seed, **kwargs)
        levels = sorted(segmenter.encoder.pyramid_channels)
        if level and level not in levels:
            raise ValueError(f"--method-option level={level}: not a level of this encoder; valid: {', '.join(levels)}.")
        self.level = level or self.deepest
        self.masks_per_image, self.max_segments = int(masks_per_image), int(max_segments)
        self.temperature, self.fh_scale, self.fh_min_area = float(temperature), float(fh_scale), float(fh_min_area)
        self.hidden, self.projection_dim = int(hidden), int(projection_dim)
        self.projector = mlp([self.hidden, self.projection_dim], name="detcon_projector")
        self.accuracy_tracker = keras.metrics.Mean(name="contrastive_accuracy")

    def call(self, inputs, training=False):
        views = tf.concat([inputs["view1"], inputs["view2"]], axis=0)
        masks = tf.concat([inputs["mask1"], inputs["mask2"]], axis=0)
        ids = tf.concat([inputs["ids"], inputs["ids"]], axis=0)
        pooled = mask_pooled(self.backbone(views, training=training)[self.level], masks, ids)
        shape = tf.shape(pooled)
        projected = self.projector(tf.reshape(pooled, [-1, pooled.shape[-1]]), training=training)
        return tf.reshape(projected, [shape[0], shape[1], self.projection_dim])

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        z1, z2 = tf.split(tf.cast(y_pred, tf.float32), 2, axis=0)
        total, count, accuracy = detcon_loss(z1, z2, x["ids"], x["valid"], self.temperature)
        self.accuracy_tracker.update_state(accuracy)
        return share_of_global_mean(total, count)

    def dummy_inputs(self, image_size: int, batch_size: int = 2):
        image = tf.zeros((batch_size, image_size, image_size, 3))
        mask = tf.zeros((batch_size, image_size, image_size), tf.int32)
        ids = tf.zeros((batch_size, self.masks_per_image), tf.int32)
        return {"view1": image, "view2": image, "mask1": mask, "mask2": mask, "ids": ids,
                "valid": tf.zeros((batch_size, self.masks_per_image))}

    def training_stream(self, samples, config, start_step: int) -> tf.data.Dataset:
        size = config.image_size

        def segments(image):
            return felzenszwalb_segments(image, self.fh_scale, self.fh_min_area, self.max_segments)

        def element(path, seed):
            seeds = tf.random.experimental.stateless_split(seed, num=5)
            image = decode_resized(path, size)
            mask = tf.numpy_function(segments, [image], tf.int32)
            mask.set_shape([None, None])
            view1, mask1 = random_resized_crop(image, seeds[0], size, (0.3, 1.0), mask)
            view2, mask2 = random_resized_crop(image, seeds[1], size, (0.3, 1.0), mask)
            view1 = photometric(view1, tf.random.experimental.stateless_split(seeds[2], 4), COLOUR_JITTER)
            view2 = photometric(view2, tf.random.experimental.stateless_split(seeds[3], 4), COLOUR_JITTER)
            ids, valid = sample_shared_segments(mask1, mask2, seeds[4], self.masks_per_image, self.max_segments)
            return {"view1": view1, "view2": view2, "mask1": mask1, "mask2": mask2, "ids": ids, "valid": valid}

        return image_stream(samples, config.batch_size, config.seed, start_step, element)
