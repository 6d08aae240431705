"""Paired augmentation: image and mask move together, padding is ignore, draws are seeded."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from semiseg_tf.data.augment import AugmentConfig, augment_pair, resize_pair

# Colour that encodes each class id in the test image; white marks ignore pixels, black is padding.
CLASS_COLOURS = {0: (200, 40, 40), 1: (40, 200, 40), 2: (40, 40, 200), 3: (220, 220, 40), 255: (255, 255, 255)}
GEOMETRY_ONLY = AugmentConfig(brightness=0, contrast=0, saturation=0, hue=0)


def coloured_pair(height=32, width=48, block=8, seed=0):
    """An image whose pixel colour is its class id, in blocks, with an asymmetric layout."""
    rng = np.random.default_rng(seed)
    ids = np.array(list(CLASS_COLOURS), np.uint8)
    grid = rng.choice(ids, size=(-(-height // block), -(-width // block)))
    mask = np.kron(grid, np.ones((block, block), np.uint8))[:height, :width]
    image = np.zeros((height, width, 3), np.uint8)
    for class_id, colour in CLASS_COLOURS.items():
        image[mask == class_id] = colour
    return image, mask


def decode_colours(image: np.ndarray) -> np.ndarray:
    """Class id of each pixel by nearest class colour; black (padding) decodes to 255."""
    palette = np.array([(0, 0, 0), *CLASS_COLOURS.values()], np.float32)
    ids = np.array([255, *CLASS_COLOURS], np.int64)
    distance = ((image[..., None, :] - palette) ** 2).sum(-1)
    return ids[distance.argmin(-1)]


def class_edges(mask: np.ndarray) -> np.ndarray:
    """Pixels with a different class id in their 3x3 neighbourhood."""
    padded = np.pad(mask, 1, mode="edge")
    height, width = mask.shape
    shifted = [padded[dy:dy + height, dx:dx + width] for dy in range(3) for dx in range(3)]
    return np.any([s != mask for s in shifted], axis=0)


def run(image, mask, seed, config=GEOMETRY_ONLY, base=(32, 48), crop=(32, 48)):
    out_image, out_mask = augment_pair(tf.constant(image), tf.constant(mask), tf.constant([seed, 0], tf.int64),
                                       base, crop, config)
    return out_image.numpy(), out_mask.numpy()


def test_output_types_and_shapes():
    image, mask = coloured_pair()
    out_image, out_mask = run(image, mask, 0, AugmentConfig(), crop=(24, 40))
    assert out_image.shape == (24, 40, 3) and out_image.dtype == np.float32
    assert out_mask.shape == (24, 40) and out_mask.dtype == np.uint8
    assert 0 <= out_image.min() and out_image.max() <= 255


@pytest.mark.parametrize("seed", range(8))
def test_colour_and_mask_agree_after_scale_crop_flip(seed):
    image, mask = coloured_pair(seed=seed)
    out_image, out_mask = run(image, mask, seed)
    agree = decode_colours(out_image) == out_mask
    # the bilinear image blends colours across class edges, the nearest-neighbour mask does not:
    # they may disagree there only
    assert agree.mean() >= 0.9, f"only {agree.mean():.3f} of pixels agree"
    assert agree[~class_edges(out_mask)].all()
    assert set(np.unique(out_mask)) <= set(CLASS_COLOURS)


def test_flip_moves_image_and_mask_together():
    image, mask = coloured_pair(seed=1)
    config = AugmentConfig(scale_range=(1.0, 1.0), brightness=0, contrast=0, saturation=0, hue=0)
    flipped = 0
    for seed in range(12):
        out_image, out_mask = run(image, mask, seed, config)
        if np.array_equal(out_mask, mask):
            np.testing.assert_array_equal(out_image, image)
        else:
            flipped += 1
            np.testing.assert_array_equal(out_mask, mask[:, ::-1])
            np.testing.assert_array_equal(out_image, image[:, ::-1])
    assert 0 < flipped < 12  # both outcomes happen
    no_flip = AugmentConfig(scale_range=(1.0, 1.0), hflip=False, brightness=0, contrast=0, saturation=0, hue=0)
    for seed in range(4):
        np.testing.assert_array_equal(run(image, mask, seed, no_flip)[1], mask)


@pytest.mark.parametrize("seed", range(4))
def test_padding_is_ignore_and_black(seed):
    image, mask = coloured_pair(seed=seed)
    mask[mask == 255] = 0  # so every 255 in the output comes from padding
    image[mask == 0] = CLASS_COLOURS[0]
    config = AugmentConfig(scale_range=(0.5, 0.6), brightness=0, contrast=0, saturation=0, hue=0)
    out_image, out_mask = run(image, mask, seed, config)
    padding = out_mask == 255
    assert 0.3 < padding.mean() < 0.8  # scaled to 50-60% in each direction, then padded
    np.testing.assert_array_equal(out_image[padding], 0)
    assert (out_image[~padding].max(-1) > 0).all()
    # padding is whole rows at the bottom and whole columns on one side (after a possible flip)
    rows, cols = padding.all(1), padding.all(0)
    assert (padding == (rows[:, None] | cols[None, :])).all()
    assert rows[-1] and not rows[0] and (cols[0] or cols[-1])
    assert (decode_colours(out_image) == out_mask).mean() >= 0.95


def test_crop_larger_than_image_pads_with_ignore():
    image, mask = coloured_pair(16, 24, block=4)
    config = AugmentConfig(scale_range=(1.0, 1.0), hflip=False, brightness=0, contrast=0, saturation=0, hue=0)
    out_image, out_mask = run(image, mask, 0, config, base=(16, 24), crop=(20, 30))
    np.testing.assert_array_equal(out_mask[:16, :24], mask)
    np.testing.assert_array_equal(out_image[:16, :24], image)
    assert (out_mask[16:] == 255).all() and (out_mask[:, 24:] == 255).all()


def test_photometric_changes_only_the_image():
    image, mask = coloured_pair(seed=2)
    for seed in range(3):
        plain_image, plain_mask = run(image, mask, seed)
        jittered_image, jittered_mask = run(image, mask, seed, AugmentConfig())
        np.testing.assert_array_equal(jittered_mask, plain_mask)
        assert np.abs(jittered_image - plain_image).mean() > 1.0


def test_same_seed_same_result_other_seed_differs():
    image, mask = coloured_pair(seed=3)
    first = run(image, mask, 5, AugmentConfig())
    again = run(image, mask, 5, AugmentConfig())
    other = run(image, mask, 6, AugmentConfig())
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_resize_pair_keeps_class_ids():
    image, mask = coloured_pair(seed=4)
    out_image, out_mask = resize_pair(tf.constant(image, tf.float32), tf.constant(mask), (45, 67))
    assert out_image.shape == (45, 67, 3) and out_mask.dtype == tf.uint8
    assert set(np.unique(out_mask.numpy())) <= set(np.unique(mask))


def test_boxes_move_with_the_image_and_leave_when_cropped_out():
    """Each box after scale, crop and flip is the tight box of its object in the augmented mask (within the
    pixel of nearest-neighbour rounding); a box whose object the crop removes is dropped."""
    mask = np.zeros((60, 80), np.uint8)
    mask[5:25, 10:30] = 1
    mask[35:55, 50:75] = 2
    boxes = tf.constant([[1, 10, 5, 29, 24], [2, 50, 35, 74, 54]], tf.float32)  # class, x0, y0, x1, y1 (inclusive)
    image = tf.constant(np.stack([mask * 100] * 3, -1), tf.uint8)
    config = AugmentConfig(brightness=0, contrast=0, saturation=0, hue=0)
    dropped = 0
    for seed in range(40):
        base = None if seed % 2 else (45, 60)
        _, out_mask, out_boxes = augment_pair(image, tf.constant(mask), tf.constant([seed, 1], tf.int64), base,
                                              (40, 40), config, boxes=boxes)
        out_mask, out_boxes = out_mask.numpy(), out_boxes.numpy()
        for class_id in (1, 2):
            ys, xs = np.nonzero(out_mask == class_id)
            row = [b for b in out_boxes if b[0] == class_id]
            if not len(ys):
                dropped += 1
                assert not row or (row[0][3] - row[0][1] <= 1 or row[0][4] - row[0][2] <= 1), (seed, row)
                continue
            assert len(row) == 1, (seed, out_boxes)
            np.testing.assert_allclose(row[0][1:], [xs.min(), ys.min(), xs.max(), ys.max()], atol=1.01,
                                       err_msg=f"seed {seed}")
    assert dropped > 0  # some crops remove an object
