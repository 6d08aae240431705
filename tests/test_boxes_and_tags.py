"""Boxes and tags: first-round box label maps, the box and tag constraints of later rounds, WILDCAT
pooling and its loss, the tag pipeline, and short runs from boxes and tags on the built-in data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from semiseg_tf.data import AugmentConfig, SegmentationDataset, read_image, read_mask, train_dataset
from semiseg_tf.data.annotations import Box, write_boxes_csv, write_tags_csv
from semiseg_tf.losses import TagLoss, wildcat_pool
from semiseg_tf.losses.tags import region_count
from semiseg_tf.training import TrainConfig, train
from semiseg_tf.weak import simulate
from semiseg_tf.weak.box_labels import box_candidates, box_label_map, inner_box
from semiseg_tf.weak.constraints import BoxConstraint, DrawnLabels, TagConstraint

IGNORE = 255


@pytest.fixture
def mask() -> np.ndarray:
    """40x60: background 0, a rectangle of 1 overlapping (by box) a disc of 2, an ignore strip."""
    mask = np.zeros((40, 60), np.uint8)
    mask[5:20, 5:30] = 1
    yy, xx = np.mgrid[:40, :60]
    mask[(yy - 22) ** 2 + (xx - 35) ** 2 <= 9**2] = 2
    mask[:, 57:] = IGNORE
    return mask


def boxes_of(mask):
    return simulate.box_annotations(mask, simulate.find_regions(mask, 3, min_area=5), np.random.default_rng(0))


# === First-round label maps ===
def test_box_label_maps_are_exact_under_one_class_and_put_the_smallest_box_on_top(mask):
    boxes = boxes_of(mask)  # background spans the image; the rectangle's and the disc's boxes overlap
    candidates = box_candidates(boxes, mask.shape, 3)
    single, several = candidates.sum(-1) == 1, candidates.sum(-1) > 1
    labels = box_label_map(boxes, mask.shape, 3, inner_share=1.0)  # SDI's "Box"
    np.testing.assert_array_equal(labels[single], mask[single])  # exact where one class's boxes cover
    assert not (labels[:, 57:] != IGNORE).any()  # under no box
    disc = next(b for b in boxes if b.class_id == 2)
    assert labels[disc.y0, disc.x0] == 2  # a corner of the disc's box, inside the rectangle's larger box
    assert labels[5, 5] == 1 and labels[35, 5] == 0
    banded = box_label_map(boxes, mask.shape, 3, inner_share=0.5)  # SDI's "Box^i"
    np.testing.assert_array_equal(banded[single], mask[single])
    assert banded[disc.y0, disc.x0] == IGNORE and banded[22, 35] == 2  # the border band is left unlabeled
    assert ((banded != IGNORE) & several).sum() < ((labels != IGNORE) & several).sum()


def test_inner_share_labels_a_centred_part_of_each_box():
    box = Box(1, 10, 20, 29, 39)  # 20x20
    assert inner_box(box, 0.25) == (15, 25, 24, 34)  # half the side, a quarter of the area
    labels = box_label_map([box, Box(0, 0, 0, 49, 49)], (50, 50), 3, inner_share=0.25)
    assert (labels == 1).sum() == 100 and labels[25, 15] == 1 and labels[24, 15] == IGNORE
    with pytest.raises(ValueError, match="inner_share 0"):
        box_label_map([box], (50, 50), 3, inner_share=0)


def test_grabcut_gives_the_band_of_a_loose_box_to_the_class_behind():
    """A red disc on green grass, its box loose around it: without the image the smallest-box guess calls
    the box's corners disc; GrabCut gives them back to the grass and keeps the disc, exact pixels untouched."""
    yy, xx = np.mgrid[:80, :100]
    disc = (yy - 40) ** 2 + (xx - 50) ** 2 <= 15 ** 2
    rng = np.random.default_rng(0)
    image = np.where(disc[..., None], [200, 30, 40], [40, 160, 50]) + rng.normal(0, 8, (80, 100, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)
    boxes = [Box(0, 0, 0, 99, 79), Box(1, 31, 21, 69, 59)]  # grass everywhere; the disc's box, 4 px loose
    plain = box_label_map(boxes, (80, 100), 2, inner_share=1.0)
    refined = box_label_map(boxes, (80, 100), 2, inner_share=1.0, image=image)
    corners = ~disc & (yy >= 21) & (yy <= 59) & (xx >= 31) & (xx <= 69)
    assert (plain[corners] == 1).all()  # the guess: all of the box is disc
    assert (refined[corners] == 0).mean() > 0.9 and (refined[disc] == 1).mean() > 0.95
    outside = (yy < 21) | (yy > 59) | (xx < 31) | (xx > 69)
    np.testing.assert_array_equal(refined[outside], plain[outside])  # one class's box only: exact, unchanged
    np.testing.assert_array_equal(refined, box_label_map(boxes, (80, 100), 2, inner_share=1.0, image=image))


# === Constraints of the next rounds ===
def test_box_constraint_allows_only_the_classes_of_covering_boxes(mask):
    boxes = boxes_of(mask)
    constraint = BoxConstraint({"a": boxes}, 3)
    uniform = np.full((*mask.shape, 3), 1 / 3, np.float32)
    restricted = constraint.restrict("a", uniform)
    candidates = box_candidates(boxes, mask.shape, 3)
    assert (restricted[~candidates] == 0).all()
    covered = candidates.any(-1)
    np.testing.assert_allclose(restricted[covered].sum(-1), 1.0, rtol=1e-6)
    assert (restricted[~covered] == 0).all()  # nothing allowed: the pseudo-labeller leaves it unlabeled


def test_box_constraint_resets_an_under_filled_box_to_its_first_round_labels():
    boxes = [Box(0, 0, 0, 19, 19), Box(1, 5, 5, 14, 14)]
    constraint = BoxConstraint({"a": boxes}, 2)
    labels = np.zeros((20, 20), np.uint8)
    labels[5:7, 5:7] = 1  # the model found 4 of the 100 pixels of the box of 1
    repaired = constraint.repair("a", labels)
    first_round = box_label_map(boxes, (20, 20), 2)
    np.testing.assert_array_equal(repaired[5:15, 5:15], first_round[5:15, 5:15])  # the box's window as in round one
    labels[5:15, 5:12] = 1  # 70 % filled: kept as predicted
    np.testing.assert_array_equal(constraint.repair("a", labels), labels)


def test_tag_constraint_keeps_the_tagged_classes():
    constraint = TagConstraint({"a": frozenset({0, 2}), "b": frozenset()}, 3)
    probabilities = np.array([[[0.2, 0.5, 0.3]]], np.float32)
    np.testing.assert_allclose(constraint.restrict("a", probabilities), [[[0.4, 0.0, 0.6]]], rtol=1e-6)
    assert (constraint.restrict("b", probabilities) == 0).all()


# === WILDCAT pooling and the tag loss ===
def test_drawn_labels_win_and_leave_the_classes_open(tmp_path):
    from semiseg_tf.data import write_png

    drawn = np.full((4, 5), IGNORE, np.uint8)
    drawn[1, 1:4] = 2
    write_png(tmp_path / "a.png", drawn)
    constraint = DrawnLabels(tmp_path, 3)
    probabilities = np.random.default_rng(0).dirichlet(np.ones(3), (4, 5))
    np.testing.assert_array_equal(constraint.restrict("a", probabilities), probabilities)
    predicted = np.zeros((4, 5), np.uint8)
    repaired = constraint.repair("a", predicted)
    assert (repaired[1, 1:4] == 2).all() and (repaired[drawn == IGNORE] == 0).all()
    np.testing.assert_array_equal(constraint.repair("b", predicted), predicted)  # no label map: as predicted


def test_wildcat_pool_is_top_mean_plus_alpha_bottom_mean():
    values = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    maps = tf.constant(np.concatenate([values, -values], -1))
    assert region_count(0.25, 16) == 4 and region_count(3, 16) == 3 and region_count(0.001, 16) == 1
    np.testing.assert_allclose(wildcat_pool(maps, 1, 1, 0.0).numpy(), [[15, 0]])  # global max pooling
    np.testing.assert_allclose(wildcat_pool(maps, 0.25, 0.25, 0.5).numpy(),
                               [[13.5 + 0.5 * 1.5, -1.5 + 0.5 * -13.5]])


def test_tag_loss_prefers_maps_that_show_the_tagged_classes():
    tags = tf.constant([[1.0, 0.0, 0.0]])
    right, wrong = np.full((1, 16, 16, 3), -4.0, np.float32), np.full((1, 16, 16, 3), -4.0, np.float32)
    right[0, 4:12, 4:12, 0] = right[0, ..., 0][0, 0] = 4.0
    wrong[0, 4:12, 4:12, 1] = 4.0
    loss = TagLoss(pool_stride=1)
    assert float(loss(tags, tf.constant(right))) < float(loss(tags, tf.constant(wrong)))
    classification, absent = loss.parts(tags, tf.constant(wrong))
    assert float(absent) > 1.0  # the pixels of class 1, which the image is not tagged with
    assert float(TagLoss(absent_weight=0.0)(tags, tf.constant(wrong))) == pytest.approx(float(classification))
    assert TagLoss.from_config(loss.get_config()).get_config() == loss.get_config()


# === Boxes as a loss (box-tightness prior) ===
def test_tightness_wants_the_object_on_every_row_and_column_of_its_box():
    """A class-1 box over rows 2-5, columns 3-6 (inside a whole-image class-0 box): a vertical bar
    touches every row but not every column; filling the box satisfies both. Outside the class-1 box only
    class 0 is a candidate, inside both are."""
    from semiseg_tf.losses.boxes import BoxLoss

    boxes = tf.constant([[[0, 0, 0, 7, 7], [1, 3, 2, 6, 5], [-1, -1, -1, -1, -1]]], tf.float32)
    bar, full = np.zeros((1, 8, 8, 2), np.float32), np.zeros((1, 8, 8, 2), np.float32)
    bar[...] = full[...] = [4.0, -4.0]
    bar[0, 2:6, 4] = [-4.0, 4.0]
    full[0, 2:6, 3:7] = [-4.0, 4.0]
    loss = BoxLoss(pool_stride=1)
    (tight_bar, candidate_bar), (tight_full, candidate_full) = (loss.parts(boxes, tf.constant(m)) for m in (bar, full))
    # bags: the class-0 box's 16 lines (all satisfied), the class-1 box's 4 rows (satisfied) and 4 columns
    # (3 of which hold only p1 = sigmoid(-8) with the bar)
    assert float(tight_full) == pytest.approx(-np.log(1 / (1 + np.exp(-8))), abs=1e-3)
    assert float(tight_bar) == pytest.approx((3 * 8.0 + 21 * float(tight_full)) / 24, rel=1e-2)
    assert float(candidate_bar) == pytest.approx(float(candidate_full), abs=1e-6)  # both classes are candidates
    assert float(candidate_full) < 1e-3
    wrong = full.copy()
    wrong[0, 0, 0] = [-4.0, 4.0]  # class 1 outside every class-1 box
    assert float(loss.parts(boxes, tf.constant(wrong))[1]) > float(candidate_full) + 8.0 / 64 - 1e-3
    assert BoxLoss.from_config(loss.get_config()).get_config() == loss.get_config()


def test_box_batches_carry_the_boxes_through_augmentation(shapes_data, tmp_path):
    from semiseg_tf.training.samples import weak_samples

    folder, _, boxes = tagged_copy(shapes_data, tmp_path)
    dataset = SegmentationDataset(shapes_data)
    samples = list(weak_samples(dataset, {"box": str(folder)}, dataset.stems("train"), tmp_path).values())
    assert all(s.kind == "box" and s.boxes == tuple(boxes[s.stem]) for s in samples)
    count = max(len(b) for b in boxes.values())
    flips_only = AugmentConfig(scale_range=(1.0, 1.0))  # each image as it is or mirrored, with its boxes
    batches = train_dataset(samples, 5, batch_size=len(samples), base_size=(32, 48), crop_size=(32, 48),
                            targets="boxes", seed=3, augment=flips_only)
    images, target = next(iter(batches))
    assert target["masks"].shape == (len(samples), 32, 48) and target["boxes"].shape == (len(samples), count, 5)
    originals = {tuple(sorted((b.class_id, b.x0, b.y0, b.x1, b.y1) for b in found)) for found in boxes.values()}
    mirrored = {tuple(sorted((c, 47 - x1, y0, 47 - x0, y1) for c, x0, y0, x1, y1 in found)) for found in originals}
    flipped = 0
    for labels, moved in zip(target["masks"].numpy(), target["boxes"].numpy()):
        found = tuple(sorted(tuple(int(v) for v in box) for box in moved[moved[:, 0] >= 0]))
        assert found in originals | mirrored
        flipped += found in mirrored - originals
    assert 0 < flipped < len(samples)


def test_bbtp_trains_on_boxes_and_needs_their_file(shapes_data, tmp_path, eager):
    from semiseg_tf.training.config import ConfigError

    folder, _, _ = tagged_copy(shapes_data, tmp_path)
    run = tmp_path / "bbtp"
    train(config(shapes_data, method="bbtp", annotations={"box": str(folder)}), run, verbose=0)
    assert json.loads((run / "config.json").read_text())["method"] == {
        "name": "bbtp", "tight_weight": 1.0, "candidate_weight": 1.0, "box_pool_stride": 4}
    history = (run / "history.csv").read_text()
    assert "loss_tight" in history and "loss_candidate" in history
    with pytest.raises(ConfigError, match="trains on the boxes themselves"):
        train(config(shapes_data, method="bbtp", annotations={"box": str(run / "annotations" / "box")}),
              tmp_path / "no-boxes", verbose=0)
    with pytest.raises(ConfigError, match="--refine-boxes grabcut refines boxes: pass --annotations box=DIR"):
        train(config(shapes_data, refine_boxes="grabcut"), tmp_path / "no-boxes", verbose=0)


# === Tags through the pipeline and training ===
def tagged_copy(shapes_data, tmp_path):
    """tags.csv and boxes.csv of the shapes data's train images, from their masks."""
    dataset = SegmentationDataset(shapes_data)
    tags, boxes = {}, {}
    for stem in dataset.stems("train"):
        full = read_mask(shapes_data / "masks" / f"{stem}.png", 5)
        tags[stem] = simulate.tag_set(full, 5)
        boxes[stem] = simulate.box_annotations(full, simulate.find_regions(full, 5, min_area=4),
                                               np.random.default_rng(0))
    folder = tmp_path / "weak"
    folder.mkdir()
    write_tags_csv(folder / "tags.csv", tags, dataset.classes.names)
    write_boxes_csv(folder / "boxes.csv", boxes, dataset.classes.names)
    return folder, tags, boxes


def test_tag_batches_carry_each_images_tags(shapes_data, tmp_path):
    from semiseg_tf.training.samples import weak_samples

    folder, tags, _ = tagged_copy(shapes_data, tmp_path)
    dataset = SegmentationDataset(shapes_data)
    samples = list(weak_samples(dataset, {"tag": str(folder)}, dataset.stems("train"), tmp_path).values())
    assert all(s.kind == "tag" and s.mask is None and s.tags == tags[s.stem] for s in samples)
    batches = train_dataset(samples, 5, batch_size=len(samples), base_size=(32, 48), crop_size=(32, 48),
                            targets="tags", seed=3)
    images, multi_hot = next(iter(batches))
    assert images.shape == (len(samples), 32, 48, 3) and multi_hot.shape == (len(samples), 5)
    expected = {tuple(np.flatnonzero(row)) for row in multi_hot.numpy()}
    assert expected == {tuple(sorted(t)) for t in tags.values()}


def config(shapes_data, **overrides) -> TrainConfig:
    options = dict(data=str(shapes_data), model="deeplabv3plus-tiny", steps=2, batch_size=2, checkpoint_every=2,
                   log_every=1, learning_rate=3e-3, seed=0, bn_recalibration_batches=1)
    return TrainConfig(**(options | overrides))


def test_wildcat_trains_from_tags_and_its_labels_feed_a_second_round(shapes_data, tmp_path, eager):
    from semiseg_tf.cli.main import cli

    folder, tags, _ = tagged_copy(shapes_data, tmp_path)
    run = tmp_path / "wildcat"
    train(config(shapes_data, method="wildcat", annotations={"tag": str(folder)},
                 method_options={"kmax": 0.1, "alpha": 0.5}), run, verbose=0)
    stored = json.loads((run / "config.json").read_text())
    assert stored["method"] == {"name": "wildcat", "kmax": 0.1, "kmin": 0.2, "alpha": 0.5, "pool_stride": 4,
                                "absent_weight": 1.0}
    history = (run / "history.csv").read_text()
    assert "loss_tags" in history and "loss_absent" in history
    # round 2: labels restricted to each image's tags, then plain supervised training on them
    labels = tmp_path / "round2"
    result = CliRunner().invoke(cli, ["pseudo-label", "--model", str(run), "--images", str(shapes_data / "images"),
                                      "--tags", str(folder / "tags.csv"),
                                      "--threshold", "0", "--transforms", "flip", "--out", str(labels)])
    assert result.exit_code == 0, result.output
    for stem in list(tags)[:6]:
        written = read_mask(labels / f"{stem}.png", 5)
        assert set(np.unique(written)) <= set(tags[stem])  # threshold 0: every pixel, a tagged class
    train(config(shapes_data, annotations={"tag": str(labels)}), tmp_path / "round2-run", verbose=0)
    assert json.loads((tmp_path / "round2-run" / "config.json").read_text())["weak_counts"] == {"tag": 12}


def test_boxes_train_from_their_label_maps_and_pseudo_labels_stay_in_them(shapes_data, tmp_path, eager):
    from semiseg_tf.cli.main import cli

    folder, _, boxes = tagged_copy(shapes_data, tmp_path)
    run = tmp_path / "boxes"
    train(config(shapes_data, annotations={"box": str(folder)}), run, verbose=0)
    stems = (run / "weak.txt").read_text().split()[::2]
    assert len(stems) == 12
    first = read_mask(run / "annotations" / "box" / "masks" / f"{stems[0]}.png", 5)
    np.testing.assert_array_equal(first, box_label_map(boxes[stems[0]], first.shape, 5))
    refined = tmp_path / "grabcut"
    train(config(shapes_data, annotations={"box": str(folder)}, refine_boxes="grabcut", steps=1), refined, verbose=0)
    image = read_image(SegmentationDataset(shapes_data).samples(stems=stems[:1], labeled=False)[0].image)
    np.testing.assert_array_equal(read_mask(refined / "annotations" / "box-grabcut" / "masks" / f"{stems[0]}.png", 5),
                                  box_label_map(boxes[stems[0]], first.shape, 5, image=image))
    labels = tmp_path / "round2"
    result = CliRunner().invoke(cli, ["pseudo-label", "--model", str(run), "--images", str(shapes_data / "images"),
                                      "--boxes", str(folder / "boxes.csv"), "--threshold", "0",
                                      "--transforms", "flip", "--out", str(labels)])
    assert result.exit_code == 0, result.output
    summary = json.loads((labels / "pseudo_labels.json").read_text())
    assert summary["constraint"] == "boxes" and summary["min_box_fill"] == 0.5
    for stem in stems[:6]:
        written = read_mask(labels / f"{stem}.png", 5)
        allowed = box_candidates(boxes[stem], written.shape, 5)
        labeled = written != IGNORE
        assert allowed[labeled, written[labeled]].all()  # every label is a covering box's class
    # val images have no boxes in the file: nothing is allowed there
    val = SegmentationDataset(shapes_data).stems("val")[0]
    assert (read_mask(labels / f"{val}.png", 5) == IGNORE).all()
