"""Annotation readers (points, boxes, tags) on good and malformed files, and rasterize_points."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from semiseg_tf.data import DataError, SegmentationDataset
from semiseg_tf.data.annotations import (
    Box, Point, rasterize_points, read_boxes, read_points, read_tags, write_boxes_csv, write_points_csv,
    write_tags_csv,
)

NAMES = ["background", "cat", "dog"]
SIZES = {"a": (20, 30), "b": (10, 10)}  # stem -> (height, width)
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def raises(match: str, *fragments: str):
    """pytest.raises(DataError) whose message also holds every fragment (file, line, fix)."""
    class Check:
        def __enter__(self):
            self.context = pytest.raises(DataError, match=match)
            self.info = self.context.__enter__()
            return self.info

        def __exit__(self, *exc):
            result = self.context.__exit__(*exc)
            for fragment in fragments:
                assert fragment in str(self.info.value), (fragment, str(self.info.value))
            assert "Fix:" in str(self.info.value)
            return result

    return Check()


# --- points ---

def test_points_csv_and_json(tmp_path):
    csv_path = write(tmp_path, "points.csv", "stem,x,y,class\na,0,0,cat\na,29.7,19.2,2\n\nb,5,5,Background\n")
    points = read_points(csv_path, SIZES, NAMES)
    assert points == {"a": [Point(0, 0, 1), Point(29, 19, 2)], "b": [Point(5, 5, 0)]}
    json_path = write(tmp_path, "points.json", json.dumps([{"stem": "a", "x": 3, "y": 4, "class": "dog"}]))
    assert read_points(json_path, SIZES, NAMES) == {"a": [Point(3, 4, 2)]}
    headerless = write(tmp_path, "bare.csv", "b,1,2,1\n")
    assert read_points(headerless, SIZES, NAMES) == {"b": [Point(1, 2, 1)]}


@pytest.mark.parametrize("row, match", [
    ("a,1,1,cta", r"line 3: unknown class 'cta' \(closest: 'cat'\)"),
    ("a,1,1,7", r"line 3: class id 7 is outside 0..2"),
    ("a,30,1,cat", r"line 3: point \(x=30, y=1\) lies outside the 30x20"),
    ("a,-1,1,cat", r"line 3: point .* lies outside"),
    ("zz,1,1,cat", r"line 3: stem 'zz' has no image"),
    ("a,1,cat", r"line 3: 3 column"),
    ("a,one,1,cat", r"line 3: x 'one' is not a number"),
])
def test_points_csv_errors_name_the_line(tmp_path, row, match):
    path = write(tmp_path, "points.csv", f"stem,x,y,class\na,1,1,cat\n{row}\n")
    with raises(match, str(path)):
        read_points(path, SIZES, NAMES)


def test_points_json_errors_name_the_entry(tmp_path):
    path = write(tmp_path, "points.json", json.dumps([{"stem": "a", "x": 1, "y": 1, "class": "cat"},
                                                      {"stem": "b", "x": 1, "y": 10, "class": "cat"}]))
    with raises(r"entry \[1\]: point .* outside", str(path)):
        read_points(path, SIZES, NAMES)
    path.write_text(json.dumps([{"stem": "a", "x": 1}]))
    with raises(r"entry \[0\] lacks y, class"):
        read_points(path, SIZES, NAMES)
    path.write_text("[{")
    with raises(r"not valid JSON"):
        read_points(path, SIZES, NAMES)


def test_rasterize_points():
    points = [Point(1, 1, 1), Point(5, 3, 2)]
    single = rasterize_points(points, (6, 8))
    assert single.dtype == np.uint8 and (single != 255).sum() == 2
    assert single[1, 1] == 1 and single[3, 5] == 2
    plus = rasterize_points(points, (6, 8), radius=1, ignore_index=200)
    assert (plus == 1).sum() == 5 and (plus == 2).sum() == 5 and (plus == 200).sum() == 48 - 10
    full = np.zeros((6, 8), np.uint8)
    full[:, 5:] = 2
    full[:, :5] = 1
    clipped = rasterize_points(points, (6, 8), radius=1, clip_to=full)
    assert (clipped == 2).sum() == 4 and clipped[3, 4] == 255  # the dog's disc stops at the cat


def test_points_round_trip(tmp_path):
    points = {"a": [Point(2, 3, 1), Point(0, 0, 0)], "b": [Point(9, 9, 2)]}
    write_points_csv(tmp_path / "p.csv", points, NAMES)
    assert read_points(tmp_path / "p.csv", SIZES, NAMES) == points


# --- boxes ---

def test_boxes_csv(tmp_path):
    path = write(tmp_path, "boxes.csv", "stem,class,x0,y0,x1,y1\na,cat,0,0,29,19\na,dog,3,4,3,4\nb,1,2,2,9,9\n")
    assert read_boxes(path, SIZES, NAMES) == {"a": [Box(1, 0, 0, 29, 19), Box(2, 3, 4, 3, 4)],
                                              "b": [Box(1, 2, 2, 9, 9)]}
    assert Box(1, 0, 0, 29, 19).area == 600


@pytest.mark.parametrize("row, match", [
    ("a,cat,5,0,4,3", r"line 3: box \(x0=5, y0=0, x1=4, y1=3; x1/y1 inclusive\) is inverted"),
    ("a,cat,0,0,30,19", r"line 3: box .* reaches outside the 30x20 \(WxH\) image 'a'"),
    ("a,cat,0,-1,3,3", r"line 3: box .* reaches outside"),
    ("a,cow,0,0,3,3", r"line 3: unknown class 'cow'"),
    ("c,cat,0,0,3,3", r"line 3: stem 'c' has no image"),
    ("a,cat,0,0,3", r"line 3: 5 column"),
])
def test_boxes_csv_errors_name_the_line(tmp_path, row, match):
    path = write(tmp_path, "boxes.csv", f"stem,class,x0,y0,x1,y1\na,cat,0,0,1,1\n{row}\n")
    with raises(match, str(path)):
        read_boxes(path, SIZES, NAMES)


def voc_xml(*objects, width=30, height=20) -> str:
    body = "".join(f"<object><name>{name}</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax>"
                   f"<ymax>{y1}</ymax></bndbox></object>" for name, x0, y0, x1, y1 in objects)
    return f"<annotation><size><width>{width}</width><height>{height}</height></size>{body}</annotation>"


def test_boxes_voc(tmp_path):
    folder = tmp_path / "voc"
    folder.mkdir()
    write(folder, "a.xml", voc_xml(("cat", 1, 1, 30, 20), ("dog", 5, 6, 7, 8)))
    write(folder, "b.xml", voc_xml())
    assert read_boxes(folder, SIZES, NAMES) == {"a": [Box(1, 0, 0, 29, 19), Box(2, 4, 5, 6, 7)], "b": []}
    write(folder, "b.xml", voc_xml(("dog", 0, 0, 9, 9)))
    with raises(r"object 1 \('dog'\): xmin or ymin is 0", str(folder / "b.xml"), "one_based=False"):
        read_boxes(folder, SIZES, NAMES)
    (folder / "a.xml").unlink()
    assert read_boxes(folder, SIZES, NAMES, one_based=False) == {"b": [Box(2, 0, 0, 9, 9)]}
    write(folder, "b.xml", voc_xml(("dog", 1, 1, 2, 2), ("dog", 2, 2, 11, 5)))
    with raises(r"object 2 \('dog'\): box .* reaches outside", str(folder / "b.xml")):
        read_boxes(folder, SIZES, NAMES)
    write(folder, "b.xml", voc_xml())
    write(folder, "c.xml", voc_xml())
    with raises(r"stem 'c' has no image", str(folder / "c.xml")):
        read_boxes(folder, SIZES, NAMES)


def coco(annotations, categories=({"id": 7, "name": "Cat"}, {"id": 9, "name": "hound"})):
    return json.dumps({"images": [{"id": 1, "file_name": "a.jpg", "width": 30, "height": 20}],
                       "annotations": list(annotations), "categories": list(categories)})


def test_boxes_coco(tmp_path):
    path = write(tmp_path, "coco.json", coco([{"id": 11, "image_id": 1, "category_id": 7, "bbox": [0, 0, 30, 20]},
                                              {"id": 12, "image_id": 1, "category_id": 9, "bbox": [2.5, 3, 4, 1]}]))
    boxes = read_boxes(path, SIZES, NAMES, class_map={"hound": "dog"})
    assert boxes == {"a": [Box(1, 0, 0, 29, 19), Box(2, 2, 3, 6, 3)]}
    with raises(r"annotations\[1\] \(id 12\): unknown class 'hound'", str(path)):
        read_boxes(path, SIZES, NAMES)
    path.write_text(coco([{"id": 11, "image_id": 1, "category_id": 7, "bbox": [25, 0, 6, 5]}]))
    with raises(r"annotations\[0\] \(id 11\): box .* reaches outside"):
        read_boxes(path, SIZES, NAMES)
    path.write_text(coco([{"id": 11, "image_id": 1, "category_id": 7, "bbox": [2, 2, 0, 5]}]))
    with raises(r"annotations\[0\] \(id 11\): bbox .* is empty"):
        read_boxes(path, SIZES, NAMES)
    path.write_text(json.dumps({"images": []}))
    with raises(r"is not COCO JSON"):
        read_boxes(path, SIZES, NAMES)


def test_boxes_round_trip(tmp_path):
    boxes = {"a": [Box(1, 0, 0, 29, 19)], "b": [Box(0, 1, 2, 3, 4), Box(2, 5, 5, 5, 5)]}
    write_boxes_csv(tmp_path / "b.csv", boxes, NAMES)
    assert read_boxes(tmp_path / "b.csv", SIZES, NAMES) == boxes


# --- tags ---

def test_tags_csv_and_json(tmp_path):
    path = write(tmp_path, "tags.csv", "stem,tags\na,cat;dog\nb,\n")
    assert read_tags(path, SIZES, NAMES) == {"a": frozenset({1, 2}), "b": frozenset()}
    path = write(tmp_path, "tags.json", json.dumps({"a": ["background", 2]}))
    assert read_tags(path, SIZES, NAMES) == {"a": frozenset({0, 2})}
    tags = {"a": frozenset({2, 0}), "b": frozenset({1})}
    write_tags_csv(tmp_path / "t.csv", tags, NAMES)
    assert (tmp_path / "t.csv").read_text() == "stem,tags\na,background;dog\nb,cat\n"
    assert read_tags(tmp_path / "t.csv", SIZES, NAMES) == tags


@pytest.mark.parametrize("text, match", [
    ("stem,tags\na,cat\na,dog\n", r"line 3: stem 'a' is listed again \(first at line 2\)"),
    ("stem,tags\na,cat;bird\n", r"line 2: unknown class 'bird'"),
    ("stem,tags\nq,cat\n", r"line 2: stem 'q' has no image"),
])
def test_tags_csv_errors_name_the_line(tmp_path, text, match):
    path = write(tmp_path, "tags.csv", text)
    with raises(match, str(path)):
        read_tags(path, SIZES, NAMES)


def test_tags_json_errors_name_the_entry(tmp_path):
    path = write(tmp_path, "tags.json", json.dumps({"a": "cat"}))
    with raises(r"entry 'a': 'cat' is not a list"):
        read_tags(path, SIZES, NAMES)
    path.write_text(json.dumps({"a": ["cat", "emu"]}))
    with raises(r"entry 'a': unknown class 'emu'", str(path)):
        read_tags(path, SIZES, NAMES)


# --- against a dataset folder ---

def test_readers_take_sizes_and_classes_from_a_dataset(shapes_data, tmp_path):
    dataset = SegmentationDataset(shapes_data)
    path = write(tmp_path, "points.csv", "train_0000,47,31,ring\ntrain_0001,0,0,0\n")
    assert read_points(path, dataset) == {"train_0000": [Point(47, 31, 4)], "train_0001": [Point(0, 0, 0)]}
    path.write_text("train_0000,48,0,ring\n")
    with raises(r"line 1: point \(x=48, y=0\) lies outside the 48x32"):
        read_points(path, dataset)
    path.write_text("nope_0000,1,1,ring\n")
    with raises(r"line 1: stem 'nope_0000' has no image in images/ of", "fix the stem"):
        read_points(path, shapes_data)  # a folder works too
    with pytest.raises(ValueError, match="pass classes="):
        read_points(path, SIZES)


@pytest.mark.parametrize("name", ["msrc21", "ph2_lesion"])
def test_shipped_boxes_and_tags_read_as_they_are(name):
    if not (DATA / name / "boxes.csv").is_file():
        pytest.skip(f"{name} not found at {DATA / name} (only beside the development checkout)")
    dataset = SegmentationDataset(DATA / name)
    boxes, tags = read_boxes(DATA / name / "boxes.csv", dataset), read_tags(DATA / name / "tags.csv", dataset)
    assert len(tags) == len(dataset.stems("train")) + len(dataset.stems("val")) + len(dataset.stems("test"))
    assert sum(len(b) for b in boxes.values()) == {"msrc21": 1840, "ph2_lesion": 200}[name]
    if name == "msrc21":
        assert tags["1_8_s"] == frozenset({1, 2, 3})  # grass;tree;cow
        assert Box(1, 0, 0, 319, 212) in boxes["1_1_s"]  # x1/y1 inclusive: the whole 320x213 image


@pytest.mark.parametrize("reader, name, text, match, layout", [
    (read_points, "points.json", '{"a": []}', r"holds a JSON dict, not a list", '"x": ..., "y": ...'),
    (read_tags, "tags.json", '[["cat"]]', r"holds a JSON list, not an object", '{"<stem>": ["class", ...]'),
])
def test_json_of_the_wrong_shape_names_the_layout_to_write(tmp_path, reader, name, text, match, layout):
    path = write(tmp_path, name, text)
    with raises(match, str(path), layout):
        reader(path, SIZES, NAMES)
