"""Box annotations: read CSV, Pascal VOC XML and COCO JSON into one form, write CSV.

Our convention: `Box(class_id, x0, y0, x1, y1)` in 0-based pixel coordinates, x1/y1 INCLUSIVE (the last
column/row the box covers), so a box over a whole 320x213 image is (0, 0, 319, 212): what MSRC-21's and
PH2's `boxes.csv` hold. Converted on reading:

    boxes.csv          stem,class,x0,y0,x1,y1  (header optional; class by name or id; our convention)
    VOC folder/*.xml   <object><name>, <bndbox> xmin..ymax: 1-based inclusive (VOC devkit) -> minus 1;
                       `one_based=False` for tools that write 0-based; the stem is the XML file's name
    COCO JSON          images[] (id, file_name), annotations[] (image_id, category_id, bbox [x, y, w, h]:
                       0-based, continuous, w/h exclusive) -> x0 = floor(x), x1 = ceil(x + w) - 1;
                       categories[] (id, name) mapped to our classes by name (or `class_map`)
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from semiseg_tf.data.annotations._common import AnnotationContext, csv_rows, load_json, number, write_csv
from semiseg_tf.data.errors import DataError


@dataclass(frozen=True)
class Box:
    """An axis-aligned box of one class; x1, y1 inclusive (0-based pixels)."""

    class_id: int
    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def area(self) -> int:
        return (self.x1 - self.x0 + 1) * (self.y1 - self.y0 + 1)


def _checked_box(context, path, where, stem, class_value, x0, y0, x1, y1) -> Box:
    """Round, check inverted / outside the image, resolve the class."""
    height, width = context.size(stem, path, where)
    x0, y0, x1, y1 = (int(round(v)) for v in (x0, y0, x1, y1))
    coords = f"(x0={x0}, y0={y0}, x1={x1}, y1={y1}; x1/y1 inclusive)"
    if x1 < x0 or y1 < y0:
        raise DataError(path, f"{where}: box {coords} is inverted or empty.",
                        "write x0 <= x1 and y0 <= y1 (left, top, right, bottom).")
    if x0 < 0 or y0 < 0 or x1 >= width or y1 >= height:
        raise DataError(path, f"{where}: box {coords} reaches outside the {width}x{height} (WxH) image '{stem}'.",
                        f"clip it to 0..{width - 1} (x) and 0..{height - 1} (y); x1/y1 are the last "
                        "pixel inside the box.")
    return Box(context.class_id(class_value, path, where), x0, y0, x1, y1)


def read_boxes(path: str | Path, source, classes=None, *, one_based: bool = True,
               class_map: dict[str, str] | None = None) -> dict[str, list[Box]]:
    """Read boxes into {stem: [Box, ...]}: a folder of VOC XML, a COCO `.json`, or a CSV file.

    Args:
        source: a `SegmentationDataset` (or its folder) or a dict {stem: (height, width)}.
        classes: `ClassInfo` or names; default the dataset's.
        one_based: VOC XML coordinates start at 1 (the devkit's convention).
        class_map: COCO category name -> our class name, where they differ.
    """
    path = Path(path)
    context = AnnotationContext(source, classes)
    if path.is_dir():
        return _read_voc(path, context, one_based)
    if path.suffix.lower() == ".json":
        return _read_coco(path, context, class_map or {})
    boxes: dict[str, list[Box]] = {}
    for line, row in csv_rows(path, ["stem", "class", "x0", "y0", "x1", "y1"]):
        where = f"line {line}"
        coords = [number(row[k], path, where, k) for k in ("x0", "y0", "x1", "y1")]
        boxes.setdefault(row["stem"], []).append(_checked_box(context, path, where, row["stem"], row["class"], *coords))
    return boxes


def _read_voc(folder: Path, context, one_based: bool) -> dict[str, list[Box]]:
    files = sorted(folder.glob("*.xml"))
    if not files:
        raise DataError(folder, "holds no .xml files.", "pass a folder of Pascal VOC <stem>.xml files.")
    shift = 1 if one_based else 0
    boxes: dict[str, list[Box]] = {}
    for file in files:
        try:
            root = ElementTree.parse(file).getroot()
        except ElementTree.ParseError as exc:
            raise DataError(file, f"is not valid XML ({exc}).", "fix or remove the file.") from None
        stem = file.stem
        context.size(stem, file, "file")
        for index, obj in enumerate(root.iter("object"), start=1):
            name = (obj.findtext("name") or "").strip()
            where = f"object {index} ('{name}')"
            box = obj.find("bndbox")
            values = [None if box is None else box.findtext(k) for k in ("xmin", "ymin", "xmax", "ymax")]
            if not name or any(v is None for v in values):
                raise DataError(file, f"{where}: lacks <name> or <bndbox> with xmin, ymin, xmax, ymax.",
                                "complete the object or remove it.")
            coords = [number(v, file, where, k) - shift for v, k in zip(values, ("xmin", "ymin", "xmax", "ymax"))]
            if one_based and min(coords[0], coords[1]) == -1:
                raise DataError(file, f"{where}: xmin or ymin is 0, but VOC coordinates start at 1.",
                                "the file looks 0-based: read it with one_based=False.")
            boxes.setdefault(stem, []).append(_checked_box(context, file, where, stem, name, *coords))
        boxes.setdefault(stem, [])
    return boxes


def _read_coco(path: Path, context, class_map: dict[str, str]) -> dict[str, list[Box]]:
    data = load_json(path)
    sections = ("images", "annotations", "categories")
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in sections):
        raise DataError(path, "is not COCO JSON (needs lists 'images', 'annotations', 'categories').",
                        "export boxes in COCO format, or use CSV.")
    categories = {}
    for index, category in enumerate(data["categories"]):
        where = f"categories[{index}]"
        if not isinstance(category, dict) or "id" not in category or "name" not in category:
            raise DataError(path, f"{where} lacks 'id' or 'name'.", "give each category an id and a name.")
        name = class_map.get(category["name"], category["name"])
        categories[category["id"]] = (name, where)
    stems = {}
    for index, image in enumerate(data["images"]):
        if not isinstance(image, dict) or "id" not in image or "file_name" not in image:
            raise DataError(path, f"images[{index}] lacks 'id' or 'file_name'.", "give each image both.")
        stem = Path(str(image["file_name"])).stem
        height, width = context.size(stem, path, f"images[{index}] ('{image['file_name']}')")
        if (image.get("height"), image.get("width")) not in ((None, None), (height, width)):
            raise DataError(path, f"images[{index}] says {image.get('width')}x{image.get('height')} (WxH) but "
                                  f"the image '{stem}' is {width}x{height}.",
                            "boxes must refer to the image as stored.")
        stems[image["id"]] = stem
    boxes: dict[str, list[Box]] = {stem: [] for stem in stems.values()}
    for index, annotation in enumerate(data["annotations"]):
        known_id = isinstance(annotation, dict) and "id" in annotation
        where = f"annotations[{index}]" + (f" (id {annotation['id']})" if known_id else "")
        bbox = annotation.get("bbox") if isinstance(annotation, dict) else None
        if not isinstance(bbox, list) or len(bbox) != 4 or annotation.get("image_id") not in stems:
            raise DataError(path, f"{where}: needs an image_id listed in 'images' and a bbox [x, y, w, h].",
                            "fix or remove the annotation.")
        if annotation.get("category_id") not in categories:
            raise DataError(path, f"{where}: category_id {annotation.get('category_id')} is not in 'categories'.",
                            "add the category or fix the id.")
        name, _ = categories[annotation["category_id"]]
        x, y, w, h = (number(v, path, where, k) for v, k in zip(bbox, "xywh"))
        if w <= 0 or h <= 0:
            raise DataError(path, f"{where}: bbox {bbox} is empty (w or h <= 0).", "remove it or give it a size.")
        stem = stems[annotation["image_id"]]
        box = (math.floor(x), math.floor(y), math.ceil(x + w) - 1, math.ceil(y + h) - 1)
        boxes[stem].append(_checked_box(context, path, where, stem, name, *box))
    return boxes


def write_boxes_csv(path: str | Path, boxes: dict[str, list[Box]], names: list[str]) -> None:
    """Write {stem: [Box]} as `stem,class,x0,y0,x1,y1` (x1/y1 inclusive; MSRC-21's format)."""
    write_csv(path, ["stem", "class", "x0", "y0", "x1", "y1"],
              ([stem, names[b.class_id], b.x0, b.y0, b.x1, b.y1] for stem, bs in boxes.items() for b in bs))
