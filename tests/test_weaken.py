"""Weak-label simulator: properties on hand-made masks, reproducibility, annotation time, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from scipy import ndimage

from semiseg_tf.data import SegmentationDataset
from semiseg_tf.data.annotations import read_boxes, read_points, read_tags
from semiseg_tf.weak import WeakenOptions, weaken
from semiseg_tf.weak import simulate
from semiseg_tf.weak.cost import full_mask_seconds, image_seconds

IGNORE = 255


@pytest.fixture
def mask() -> np.ndarray:
    """60x80: background 0, a rectangle of 1, a disc of 2, two squares of 3, an ignore strip, a 2-pixel speck."""
    mask = np.zeros((60, 80), np.uint8)
    mask[5:25, 5:45] = 1
    yy, xx = np.mgrid[:60, :80]
    mask[(yy - 40) ** 2 + (xx - 60) ** 2 <= 12**2] = 2
    mask[35:50, 5:20] = 3
    mask[35:50, 25:38] = 3
    mask[:, 75:] = IGNORE
    mask[55, 2:4] = 1  # below min_area 5: no region
    return mask


def regions_of(mask, min_area=5):
    return simulate.find_regions(mask, num_classes=4, min_area=min_area)


def test_regions(mask):
    regions = regions_of(mask)
    assert [r.class_id for r in regions] == [0, 1, 2, 3, 3]
    assert sum(r.area for r in regions) == (mask != IGNORE).sum() - 2


def test_scribbles_lie_inside_their_regions(mask):
    regions = regions_of(mask)
    label_map = simulate.scribble_labels(mask, regions, np.random.default_rng(0), width=3)
    labeled = label_map != IGNORE
    assert labeled.any() and (label_map[labeled] == mask[labeled]).all()
    assert not (labeled & (mask == IGNORE)).any()
    for region in regions:  # one connected stroke per region, within it
        stroke = np.zeros(mask.shape, bool)
        stroke[region.slices] = region.pixels & (label_map[region.slices] == region.class_id)
        assert ndimage.label(stroke, np.ones((3, 3)))[1] == 1
    assert label_map[55, 2:4].tolist() == [IGNORE, IGNORE]  # the speck is below min_area
    wide = simulate.scribble_labels(mask, regions, np.random.default_rng(0), width=5, length_share=1.0)
    assert (wide != IGNORE).sum() > labeled.sum()


def test_region_share_scribbles_a_share_of_regions(mask):
    regions = regions_of(mask)
    chosen = simulate.choose_regions(regions, 0.4, np.random.default_rng(1))
    assert len(chosen) == 2 and all(r in regions for r in chosen)
    assert simulate.choose_regions(regions, 1.0, np.random.default_rng(1)) == regions


@pytest.mark.parametrize("per, count", [("region", 2), ("class", 3)])
def test_points_lie_inside_their_class(mask, per, count):
    regions = regions_of(mask)
    points = simulate.point_annotations(mask, regions, np.random.default_rng(0), points=count, per=per)
    assert len(points) == count * (5 if per == "region" else 4)
    for point in points:
        assert mask[point.y, point.x] == point.class_id
    distance = ndimage.distance_transform_edt(np.pad(mask == 2, 1))[1:-1, 1:-1]
    assert all(distance[p.y, p.x] >= 3 for p in points if p.class_id == 2)  # interior of the disc


def test_coarse_labels_never_cross_a_boundary(mask):
    band = 4
    label_map = simulate.coarse_labels(mask, regions_of(mask), band=band, core_share=0)
    labeled = label_map != IGNORE
    assert (label_map[labeled] == mask[labeled]).all()
    for class_id in np.unique(label_map[labeled]):
        other = (mask != class_id)
        distance_to_other = ndimage.distance_transform_edt(~other)
        assert (distance_to_other[label_map == class_id] > band).all()
    assert label_map[0, 0] == 0  # the image border is no boundary
    assert (label_map == 3).sum() > 0 and (label_map[55, :5] == IGNORE).all()
    assert (simulate.coarse_labels(mask, regions_of(mask), band=0) != IGNORE).sum() == (mask != IGNORE).sum() - 2


def test_coarse_labels_keep_the_core_of_regions_thinner_than_the_band():
    mask = np.zeros((60, 80), np.uint8)
    mask[10:50, 40:46] = 1  # a pole 6 pixels wide: an 8-pixel band would remove all of it
    uniform = simulate.coarse_labels(mask, regions_of(mask), band=8, core_share=0)
    cored = simulate.coarse_labels(mask, regions_of(mask), band=8, core_share=0.5)
    assert not (uniform == 1).any()
    pole = cored == 1
    assert pole.any() and (mask[pole] == 1).all()
    assert pole.any(axis=0).nonzero()[0].tolist() == [41, 42, 43, 44]  # 2 or 3 from the edge: deeper than 1.5
    assert ((cored == 0) == (uniform == 0)).all()  # the wide background keeps the uniform band


def test_boxes_are_tight_and_jitter_stays_in_the_image(mask):
    boxes = simulate.box_annotations(mask, regions_of(mask), np.random.default_rng(0))
    by_class = {(b.class_id, b.x0): b for b in boxes}
    assert by_class[(1, 5)] == type(boxes[0])(1, 5, 5, 44, 24)
    assert by_class[(2, 48)] == type(boxes[0])(2, 48, 28, 72, 52)
    assert {(b.x0, b.x1) for b in boxes if b.class_id == 3} == {(5, 19), (25, 37)}
    assert by_class[(0, 0)].x1 == 74 and by_class[(0, 0)].y1 == 59  # background spans the image, not the ignore strip
    jittered = simulate.box_annotations(mask, regions_of(mask), np.random.default_rng(0), jitter=0.2)
    assert jittered != boxes
    assert all(0 <= b.x0 <= b.x1 < 80 and 0 <= b.y0 <= b.y1 < 60 for b in jittered)


def test_tags_are_exact(mask):
    assert simulate.tag_set(mask, 4) == frozenset({0, 1, 2, 3})
    assert simulate.tag_set(mask, 4, min_pixels=int((mask == 3).sum()) + 1) == frozenset({0, 1, 2})


def test_time_model_orders_the_kinds():
    kinds = {kind: image_seconds(kind, num_classes=11, regions=20, scribbles=20, points=20, boxes=20)
             for kind in ("tag", "point", "scribble", "box", "coarse", "full")}
    assert kinds["full"] == full_mask_seconds(11, 20) == 11 + 79 * 20
    assert kinds["full"] > kinds["coarse"] > kinds["scribble"] > kinds["point"] > kinds["tag"] == 11
    assert kinds["full"] > kinds["box"] > kinds["scribble"]
    assert abs(full_mask_seconds(20, 2.8) - 239.7) < 2.5  # Bearman et al.'s VOC figure
    with pytest.raises(ValueError, match="valid: tag"):
        image_seconds("squiggle", num_classes=1, regions=1)


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_weaken_is_reproducible_and_writes_every_kind(shapes_data, tmp_path):
    first = weaken(shapes_data, "scribble", tmp_path / "s0", seed=0)
    weaken(shapes_data, "scribble", tmp_path / "s0b", seed=0)
    weaken(shapes_data, "scribble", tmp_path / "s1", seed=1)
    assert folder_bytes(tmp_path / "s0") == folder_bytes(tmp_path / "s0b")
    assert folder_bytes(tmp_path / "s0")["masks/train_0000.png"] != folder_bytes(tmp_path / "s1")["masks/train_0000.png"]
    assert first["images"] == 12 and len(list((tmp_path / "s0" / "masks").glob("*.png"))) == 12
    dataset = SegmentationDataset(shapes_data)
    for sample in dataset.samples("train"):
        full = np.asarray(Image.open(sample.mask))
        weak = np.asarray(Image.open(tmp_path / "s0" / "masks" / f"{sample.stem}.png"))
        assert Image.open(tmp_path / "s0" / "masks" / f"{sample.stem}.png").mode == "P"
        assert ((weak == IGNORE) | (weak == full)).all()

    hours = {kind: weaken(shapes_data, kind, tmp_path / kind, seed=0)["annotation_hours"]
             for kind in ("point", "coarse", "box", "tag")}
    hours["scribble"] = first["annotation_hours"]
    full_hours = first["full_mask"]["annotation_hours"]
    assert full_hours > hours["scribble"] > hours["tag"] > 0
    assert abs(sum(first["seconds_per_image"].values()) / 3600 - first["annotation_hours"]) < 1e-3
    assert abs(sum(first["full_mask"]["seconds_per_image"].values()) / 3600 - full_hours) < 1e-3
    stored = json.loads((tmp_path / "s0" / "annotation.json").read_text())
    assert stored["kind"] == "scribble" and stored["seed"] == 0 and stored["split"] == "train"
    assert set(stored["options"]) == {"width", "length_share", "region_share", "min_area"}
    assert "bearman2016" in stored["sources"] and stored["time_model"]["outline_s"]["seconds"] == 79.0

    points = read_points(tmp_path / "point" / "points.csv", dataset)
    assert sum(map(len, points.values())) == json.loads((tmp_path / "point" / "annotation.json").read_text())["counts"]["points"]
    boxes = read_boxes(tmp_path / "box" / "boxes.csv", dataset)
    tags = read_tags(tmp_path / "tag" / "tags.csv", dataset)
    for sample in dataset.samples("train"):
        full = np.asarray(Image.open(sample.mask))
        assert tags[sample.stem] == frozenset(np.unique(full).tolist())
        assert all(full[p.y, p.x] == p.class_id for p in points[sample.stem])
        assert all((full[b.y0:b.y1 + 1, b.x0:b.x1 + 1] == b.class_id).any() for b in boxes[sample.stem])
    assert not (tmp_path / "tag" / "masks").exists()


def test_weaken_refuses_a_foreign_folder_and_bad_options(shapes_data, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(Exception, match="was not written by `weaken`"):
        weaken(shapes_data, "tag", tmp_path / "busy")
    with pytest.raises(ValueError, match="length_share=0 is not valid"):
        weaken(shapes_data, "scribble", tmp_path / "x", options=WeakenOptions(length_share=0))
    with pytest.raises(ValueError, match="unknown kind 'squiggle'"):
        weaken(shapes_data, "squiggle", tmp_path / "x")


@pytest.fixture
def cli():
    """The real `semiseg-tf` group."""
    from semiseg_tf.cli.main import cli

    return cli


def test_cli_end_to_end(cli, shapes_data, tmp_path):
    out = tmp_path / "points"
    result = CliRunner().invoke(cli, ["weaken", "--data", str(shapes_data), "--kind", "point", "--out", str(out),
                                      "--split", "val", "--seed", "3", "--points", "2", "--radius", "0"])
    assert result.exit_code == 0, result.output
    assert "4 images of val" in result.output and f"Results saved to {out}" in result.output
    summary = json.loads((out / "annotation.json").read_text())
    assert summary["options"] == {"points": 2, "per": "region", "radius": 0.0, "min_area": None}
    assert summary["seed"] == 3 and summary["data"] == str(shapes_data)
    weak = np.asarray(Image.open(out / "masks" / "val_0000.png"))
    assert (weak != IGNORE).sum() == sum(1 for line in (out / "points.csv").read_text().splitlines()
                                         if line.startswith("val_0000,"))
    again = CliRunner().invoke(cli, ["weaken", "--data", str(shapes_data), "--kind", "coarse", "--out", str(out),
                                     "--split", "val", "--band", "2"])
    assert again.exit_code == 0 and not (out / "points.csv").exists()


@pytest.mark.parametrize("args, message", [
    (["--kind", "squiggle"], "'squiggle' is not one of"),
    (["--kind", "scribble", "--width", "0"], "--width"),
    (["--kind", "tag", "--split", "nosuch"], "split list 'nosuch' not found"),
])
def test_cli_bad_input_exits_2(cli, shapes_data, tmp_path, args, message):
    result = CliRunner().invoke(cli, ["weaken", "--data", str(shapes_data), "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 2 and message in result.output, result.output


def test_camvid_three_images(camvid, tmp_path):
    data = tmp_path / "camvid3"
    for folder in ("images", "masks"):
        (data / folder).mkdir(parents=True)
    stems = (camvid / "train.txt").read_text().split()[:3]
    for stem in stems:
        (data / "images" / f"{stem}.jpg").symlink_to(camvid / "images" / f"{stem}.jpg")
        (data / "masks" / f"{stem}.png").symlink_to(camvid / "masks" / f"{stem}.png")
    (data / "train.txt").write_text("\n".join(stems) + "\n")
    (data / "classes.json").write_text((camvid / "classes.json").read_text())
    summary = weaken(data, "scribble", tmp_path / "out")
    for stem in stems:
        full = np.asarray(Image.open(camvid / "masks" / f"{stem}.png"))
        weak = np.asarray(Image.open(tmp_path / "out" / "masks" / f"{stem}.png"))
        assert ((weak == IGNORE) | (weak == full)).all() and (weak != IGNORE).mean() > 0.005
    assert summary["full_mask"]["annotation_hours"] > 10 * summary["annotation_hours"]


def test_clicks_grow_to_the_superpixels_they_agree_on():
    """A click fills its colour region (not the blurred seam, its own thin segments); two disagreeing clicks
    in one region keep only themselves."""
    from semiseg_tf.weak.superpixels import grow_to_superpixels

    image = np.zeros((40, 60, 3), np.uint8)
    image[:, :30] = (200, 40, 40)
    image[:, 30:] = (30, 60, 220)
    clicks = np.full((40, 60), IGNORE, np.uint8)
    clicks[20, 10] = 1
    grown = grow_to_superpixels(image, clicks, IGNORE, scale=100)
    assert (grown[:, :26] == 1).all() and (grown[:, 30:] == IGNORE).all()
    clicks[5, 40], clicks[30, 50] = 2, 3  # disagree inside the blue half
    grown = grow_to_superpixels(image, clicks, IGNORE, scale=100)
    assert (grown[:, :26] == 1).all() and (grown[:, 30:] != IGNORE).sum() == 2
    assert grown[5, 40] == 2 and grown[30, 50] == 3
    assert (grow_to_superpixels(image, np.full_like(clicks, IGNORE)) == IGNORE).all()


def test_training_grows_partial_labels_once_into_the_run(shapes_data, tmp_path):
    """`superpixel_scale`: the run trains on grown copies of the label maps, cached in the run folder."""
    from semiseg_tf.data.imageio import read_mask
    from semiseg_tf.training.samples import weak_samples

    dataset = SegmentationDataset(shapes_data)
    stems = dataset.stems("train")[:3]
    (tmp_path / "clicks" / "masks").mkdir(parents=True)
    for stem in stems:
        full = read_mask(shapes_data / "masks" / f"{stem}.png", 5)
        clicks = np.full_like(full, IGNORE)
        clicks[::8, ::8] = full[::8, ::8]
        Image.fromarray(clicks).save(tmp_path / "clicks" / "masks" / f"{stem}.png")
    chosen = weak_samples(dataset, {"point": str(tmp_path / "clicks")}, stems, tmp_path / "run", superpixel_scale=100)
    grown = tmp_path / "run" / "point-superpixels100"
    assert [chosen[s].mask for s in stems] == [grown / f"{s}.png" for s in stems]
    for stem in stems:
        clicks = read_mask(tmp_path / "clicks" / "masks" / f"{stem}.png", 5)
        labels = read_mask(grown / f"{stem}.png", 5)
        assert (labels != IGNORE).sum() > (clicks != IGNORE).sum()
        assert (labels[clicks != IGNORE] == clicks[clicks != IGNORE]).all()
