"""Readers, dataset layout, every bad-input case, label budgets and the tf.data pipelines."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import make_dataset, random_pair, save_image, save_png16_rgb
from PIL import Image

from semiseg_tf.data import (DataError, SegmentationDataset, eval_dataset, find_images, read_image, read_mask,
                             select_labeled, train_dataset, unlabeled_samples, write_png)


def assert_names(error: pytest.ExceptionInfo, path, *words):
    """The message starts with the offending file and contains each of `words`."""
    message = str(error.value)
    assert error.value.path == str(path)
    assert message.startswith(f"{path}: "), message
    for word in words:
        assert word in message, message


# === Images: conversion policy ===

def test_rgb_image_round_trips(tmp_path):
    image, _ = random_pair(np.random.default_rng(0))
    out = read_image(save_image(tmp_path / "a.png", image))
    assert out.dtype == np.uint8 and out.shape == image.shape
    np.testing.assert_array_equal(out, image)


def test_grayscale_image_becomes_three_equal_channels(tmp_path):
    gray = np.arange(80, dtype=np.uint8).reshape(8, 10)
    out = read_image(save_image(tmp_path / "g.png", gray))
    assert out.shape == (8, 10, 3)
    for channel in range(3):
        np.testing.assert_array_equal(out[..., channel], gray)


def test_palette_image_is_expanded_to_its_colours(tmp_path):
    indices = np.array([[0, 1], [2, 1]], np.uint8)
    palette = [[10, 20, 30], [200, 100, 0], [1, 2, 3]]
    write_png(tmp_path / "p.png", indices, palette)
    out = read_image(tmp_path / "p.png")
    np.testing.assert_array_equal(out, np.array(palette, np.uint8)[indices])


def test_opaque_rgba_drops_alpha(tmp_path):
    image, _ = random_pair(np.random.default_rng(1))
    rgba = np.concatenate([image, np.full(image.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    out = read_image(save_image(tmp_path / "o.png", rgba))
    np.testing.assert_array_equal(out, image)


@pytest.mark.parametrize("channels", [2, 4], ids=["LA", "RGBA"])
def test_transparent_image_is_refused(tmp_path, channels):
    array = np.full((4, 5, channels), 200, np.uint8)
    array[1, 2, -1] = 0  # one transparent pixel
    path = save_image(tmp_path / "t.png", array)
    with pytest.raises(DataError) as error:
        read_image(path)
    assert_names(error, path, "transparent", "Fix:")


def test_16bit_gray_is_scaled_to_8bit(tmp_path):
    array = np.array([[0, 32768, 65535, 257]], np.uint16)
    path = save_image(tmp_path / "g16.png", array)
    assert Image.open(path).mode.startswith("I")
    out = read_image(path)
    np.testing.assert_array_equal(out[..., 0], [[0, 128, 255, 1]])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_16bit_gray_holding_8bit_values_is_kept(tmp_path):
    array = np.array([[0, 17, 200, 255]], np.uint16)
    out = read_image(save_image(tmp_path / "g16.png", array))
    np.testing.assert_array_equal(out[..., 1], array.astype(np.uint8))


def test_16bit_rgb_keeps_the_high_byte(tmp_path):
    array = np.array([[[0, 256, 65535], [32768, 1000, 513]]], np.uint16)
    out = read_image(save_png16_rgb(tmp_path / "rgb16.png", array))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, array >> 8)


def test_floating_point_image_is_refused(tmp_path):
    path = save_image(tmp_path / "f.tif", np.ones((4, 4), np.float32))
    with pytest.raises(DataError) as error:
        read_image(path)
    assert_names(error, path, "floating-point", "8-bit RGB")


@pytest.mark.parametrize("content", [b"", b"not an image at all", "truncated"])
def test_corrupt_image_is_refused(tmp_path, content):
    path = tmp_path / "bad.png"
    if content == "truncated":
        save_image(path, random_pair(np.random.default_rng(2), 32, 32)[0])
        content = path.read_bytes()[:60]
    path.write_bytes(content)
    with pytest.raises(DataError) as error:
        read_image(path)
    assert_names(error, path, "unreadable or corrupt", "Fix:")


def test_missing_image_file(tmp_path):
    with pytest.raises(DataError) as error:
        read_image(tmp_path / "nope.png")
    assert_names(error, tmp_path / "nope.png", "not found")


# === Masks ===

def test_mask_round_trips_with_ignore(tmp_path):
    mask = np.array([[0, 1, 2], [255, 2, 0]], np.uint8)
    out = read_mask(save_image(tmp_path / "m.png", mask), num_classes=3, expected_hw=(2, 3))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, mask)


def test_palette_mask_reads_indices_not_colours(tmp_path):
    mask = np.array([[0, 1], [2, 255]], np.uint8)
    write_png(tmp_path / "m.png", mask, palette=[[9, 9, 9], [200, 0, 0], [0, 200, 0]])
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png", 3), mask)


def test_colour_mask_is_refused(tmp_path):
    path = save_image(tmp_path / "m.png", np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(DataError) as error:
        read_mask(path, 3)
    assert_names(error, path, "mode RGB", "single-channel")


def test_mask_size_must_match_image(tmp_path):
    path = save_image(tmp_path / "m.png", np.zeros((4, 6), np.uint8))
    with pytest.raises(DataError) as error:
        read_mask(path, 3, expected_hw=(4, 5))
    assert_names(error, path, "4x6", "4x5", "nearest")


def test_unknown_class_ids_are_refused_but_ignore_is_not(tmp_path):
    path = save_image(tmp_path / "m.png", np.array([[0, 3, 255, 7, 2]], np.uint8))
    with pytest.raises(DataError) as error:
        read_mask(path, num_classes=3)
    assert_names(error, path, "[3, 7]", "classes.json", "255 = ignore")
    # 255 is only special because it is the ignore index
    with pytest.raises(DataError, match=r"\[3, 7, 255\]"):
        read_mask(path, num_classes=3, ignore_index=254)
    assert read_mask(path, num_classes=8).max() == 255


def test_16bit_mask_is_accepted_within_8_bits_and_refused_beyond(tmp_path):
    small = np.array([[0, 1, 255]], np.uint16)
    out = read_mask(save_image(tmp_path / "small.png", small), 2)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, small)
    path = save_image(tmp_path / "big.png", np.array([[0, 300]], np.uint16))
    with pytest.raises(DataError) as error:
        read_mask(path, 2)
    assert_names(error, path, "300", "8 bits")


# === Dataset layout ===

@pytest.fixture
def good_dataset(tmp_path):
    rng = np.random.default_rng(3)
    pairs = {f"s{i}": random_pair(rng) for i in range(3)}
    return make_dataset(tmp_path / "ds", {s: p[0] for s, p in pairs.items()}, {s: p[1] for s, p in pairs.items()},
                        splits={"train": ["s0", "s1"], "val": ["s2"]})


def test_dataset_resolves_splits_and_validates(good_dataset):
    dataset = SegmentationDataset(good_dataset)
    assert dataset.classes.names == ["background", "thing", "stuff"]
    assert dataset.classes.ignore_index == 255
    assert dataset.splits() == ["train", "val"]
    samples = dataset.samples("train")
    assert [s.stem for s in samples] == ["s0", "s1"]
    assert samples[0].image == good_dataset / "images" / "s0.png"
    assert samples[0].mask == good_dataset / "masks" / "s0.png"
    dataset.validate(samples)
    assert dataset.image_size(samples[0]) == (8, 10)
    unlabeled = dataset.samples("val", labeled=False)
    assert unlabeled[0].mask is None


def test_missing_dataset_folder(tmp_path):
    with pytest.raises(DataError) as error:
        SegmentationDataset(tmp_path / "nowhere")
    assert_names(error, tmp_path / "nowhere", "not found", "--data")


def test_missing_classes_json(good_dataset):
    (good_dataset / "classes.json").unlink()
    with pytest.raises(DataError) as error:
        SegmentationDataset(good_dataset)
    assert_names(error, good_dataset / "classes.json", "missing", '"names"')


@pytest.mark.parametrize("content", ["{not json", json.dumps({"palette": []}),
                                     json.dumps({"names": ["a", "b"], "palette": [[1, 2, 3]]})])
def test_invalid_classes_json(good_dataset, content):
    (good_dataset / "classes.json").write_text(content)
    with pytest.raises(DataError) as error:
        SegmentationDataset(good_dataset)
    assert_names(error, good_dataset / "classes.json", "not a valid classes file")


def test_empty_images_folder(good_dataset):
    for path in (good_dataset / "images").iterdir():
        path.unlink()
    (good_dataset / "images" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError) as error:
        SegmentationDataset(good_dataset)
    assert_names(error, good_dataset / "images", "holds no images", ".png")


def test_missing_images_folder(tmp_path):
    root = make_dataset(tmp_path / "ds", images={})
    with pytest.raises(DataError) as error:
        SegmentationDataset(root)
    assert_names(error, root / "images", "folder not found")


def test_empty_split(good_dataset):
    (good_dataset / "train.txt").write_text("\n  \n")
    dataset = SegmentationDataset(good_dataset)
    with pytest.raises(DataError) as error:
        dataset.samples("train")
    assert_names(error, good_dataset / "train.txt", "split list is empty")


def test_missing_split_lists_the_available_ones(good_dataset):
    with pytest.raises(DataError) as error:
        SegmentationDataset(good_dataset).samples("test")
    assert_names(error, good_dataset / "test.txt", "'test' not found", "['train', 'val']")


def test_split_naming_an_absent_image(good_dataset):
    (good_dataset / "train.txt").write_text("s0\nghost\n")
    with pytest.raises(DataError) as error:
        SegmentationDataset(good_dataset).samples("train")
    assert_names(error, good_dataset / "images" / "ghost", "'ghost' not found")


def test_missing_mask(good_dataset):
    (good_dataset / "masks" / "s1.png").unlink()
    dataset = SegmentationDataset(good_dataset)
    with pytest.raises(DataError) as error:
        dataset.samples("train")
    assert_names(error, good_dataset / "masks" / "s1.png", "mask not found")
    assert dataset.samples("train", labeled=False)[1].mask is None  # fine for unlabeled use


@pytest.mark.parametrize("problem", ["size", "class", "corrupt_image", "corrupt_mask"])
def test_validate_names_the_bad_file(good_dataset, problem):
    image_path, mask_path = good_dataset / "images" / "s1.png", good_dataset / "masks" / "s1.png"
    if problem == "size":
        save_image(mask_path, np.zeros((8, 11), np.uint8))
        bad, words = mask_path, ["8x11", "8x10"]
    elif problem == "class":
        save_image(mask_path, np.full((8, 10), 9, np.uint8))
        bad, words = mask_path, ["[9]"]
    elif problem == "corrupt_image":
        image_path.write_bytes(b"\x89PNG garbage")
        bad, words = image_path, ["corrupt"]
    else:
        mask_path.write_bytes(b"")
        bad, words = mask_path, ["corrupt"]
    dataset = SegmentationDataset(good_dataset)
    with pytest.raises(DataError) as error:
        dataset.validate(dataset.samples("train"))
    assert_names(error, bad, *words)


def test_find_images_and_unlabeled_pools(tmp_path):
    image = random_pair(np.random.default_rng(4))[0]
    for name in ("b.png", "a.JPG", "c.tif"):
        save_image(tmp_path / "pool" / name, image)
    (tmp_path / "pool" / "readme.md").write_text("x")
    assert [p.name for p in find_images(tmp_path / "pool")] == ["a.JPG", "b.png", "c.tif"]
    assert [s.stem for s in unlabeled_samples(tmp_path / "pool")] == ["a", "b", "c"]
    save_image(tmp_path / "layout" / "images" / "z.png", image)
    assert [s.stem for s in unlabeled_samples(tmp_path / "layout")] == ["z"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as error:
        unlabeled_samples(tmp_path / "empty")
    assert_names(error, tmp_path / "empty", "holds no images")


# === Label budgets ===

STEMS = [f"img{i:03d}" for i in range(40)]


def test_budget_is_reproducible_for_a_seed():
    first, rest = select_labeled(STEMS, 0.25, seed=7)
    assert select_labeled(STEMS, 0.25, seed=7) == (first, rest)
    assert select_labeled(STEMS, 0.25, seed=8)[0] != first
    assert sorted(first + rest) == sorted(STEMS) and not set(first) & set(rest)
    assert first == [s for s in STEMS if s in first]  # split order kept


@pytest.mark.parametrize("count", [7, 8, 12, 16, 40, 100, 367])
def test_budget_eighth_is_round_n_over_8(count):
    stems = [f"s{i}" for i in range(count)]
    labeled, unlabeled = select_labeled(stems, 0.125, seed=0)
    assert len(labeled) == max(1, round(count / 8))
    assert len(labeled) + len(unlabeled) == count


def test_budget_defaults_and_bounds():
    assert select_labeled(STEMS) == (STEMS, [])
    assert len(select_labeled(STEMS, 0.001)[0]) == 1  # never zero labels
    for fraction in (0, -0.5, 1.5):
        with pytest.raises(ValueError, match="labeled fraction"):
            select_labeled(STEMS, fraction)


def test_budget_from_a_list(tmp_path):
    listing = tmp_path / "labeled.txt"
    listing.write_text("img005\n\nimg001\n")
    assert select_labeled(STEMS, labeled_list=listing)[0] == ["img001", "img005"]
    listing.write_text("img001\nimg999\n")
    with pytest.raises(DataError) as error:
        select_labeled(STEMS, labeled_list=listing)
    assert_names(error, listing, "img999")
    listing.write_text("\n")
    with pytest.raises(DataError, match="empty"):
        select_labeled(STEMS, labeled_list=listing)
    with pytest.raises(DataError, match="not found"):
        select_labeled(STEMS, labeled_list=tmp_path / "missing.txt")


# === Pipelines ===

def _batches(shapes_data, count, **kwargs):
    dataset = SegmentationDataset(shapes_data)
    options = dict(num_classes=5, batch_size=2, base_size=(32, 48), crop_size=(24, 40), seed=3) | kwargs
    stream = train_dataset(dataset.samples("train"), **options)
    if not options.get("with_masks", True):
        return [np.asarray(images) for images in stream.take(count)]
    return [(np.asarray(images), np.asarray(masks)) for images, masks in stream.take(count)]


def test_train_batches_have_crop_shape_and_valid_ids(shapes_data):
    (images, masks), = _batches(shapes_data, 1)
    assert images.shape == (2, 24, 40, 3) and images.dtype == np.float32
    assert masks.shape == (2, 24, 40) and masks.dtype == np.uint8
    assert 0 <= images.min() and images.max() <= 255
    assert set(np.unique(masks)) <= {0, 1, 2, 3, 4, 255}


def test_train_pipeline_is_deterministic_and_resumable(shapes_data):
    # 9 steps of batch 2 cover more than one pass over the 12 images (reshuffled per pass)
    first = _batches(shapes_data, 9)
    second = _batches(shapes_data, 9)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    resumed = _batches(shapes_data, 4, start_step=5)
    for a, b in zip(first[5:], resumed, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    other_seed = _batches(shapes_data, 1, seed=4)
    assert not np.array_equal(first[0][0], other_seed[0][0])
    images_only = _batches(shapes_data, 2, with_masks=False)
    np.testing.assert_array_equal(images_only[1], first[1][0])


def test_train_pipeline_needs_samples():
    with pytest.raises(ValueError, match="no samples"):
        train_dataset([], num_classes=5, batch_size=2, base_size=(32, 48), crop_size=(32, 48))


def test_eval_pipeline_keeps_native_masks(shapes_data):
    dataset = SegmentationDataset(shapes_data)
    samples = dataset.samples("val")
    resized = list(eval_dataset(samples, 5, (16, 24)))
    native = list(eval_dataset(samples, 5, None))
    assert len(resized) == len(samples) == 4
    for (image, mask), (native_image, native_mask), sample in zip(resized, native, samples):
        assert image.shape == (16, 24, 3) and image.dtype.name == "float32"
        assert native_image.shape == (32, 48, 3)
        np.testing.assert_array_equal(native_image.numpy(), read_image(sample.image).astype(np.float32))
        np.testing.assert_array_equal(mask.numpy(), read_mask(sample.mask, 5))
        np.testing.assert_array_equal(native_mask.numpy(), mask.numpy())
    unlabeled = dataset.samples("val", labeled=False)
    _, mask = next(iter(eval_dataset(unlabeled, 5, None)))
    assert (mask.numpy() == 255).all() and mask.shape == (32, 48)
