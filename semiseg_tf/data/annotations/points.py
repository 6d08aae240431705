"""Point annotations (one click per object or class): read CSV / JSON, write CSV, rasterize to a sparse mask.

    points.csv     stem,x,y,class            (header optional; class by name or id)
    points.json    [{"stem": ..., "x": ..., "y": ..., "class": ...}, ...]

x is the column, y the row, in pixels of the image (0 <= x < width, 0 <= y < height); a fractional
coordinate names the pixel it falls in. Bearman et al., "What's the point", ECCV 2016.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semiseg_tf.data.annotations._common import AnnotationContext, csv_rows, load_json, number, write_csv
from semiseg_tf.data.errors import DataError


@dataclass(frozen=True)
class Point:
    """One labeled pixel: column x, row y, class id."""

    x: int
    y: int
    class_id: int


def read_points(path: str | Path, source, classes=None) -> dict[str, list[Point]]:
    """Read points from CSV or JSON (by suffix) into {stem: [Point, ...]}, checked against `source`.

    Args:
        source: a `SegmentationDataset` (or its folder) or a dict {stem: (height, width)}.
        classes: `ClassInfo` or names; default the dataset's.
    """
    path = Path(path)
    context = AnnotationContext(source, classes)
    if path.suffix.lower() == ".json":
        entries = load_json(path, list, '[{"stem": ..., "x": ..., "y": ..., "class": ...}, ...]')
        rows = []
        for index, entry in enumerate(entries):
            where = f"entry [{index}]"
            missing = [k for k in ("stem", "x", "y", "class") if not isinstance(entry, dict) or k not in entry]
            if missing:
                raise DataError(path, f"{where} lacks {', '.join(missing)}.",
                                'give every entry "stem", "x", "y" and "class".')
            rows.append((where, entry))
    else:
        rows = [(f"line {line}", row) for line, row in csv_rows(path, ["stem", "x", "y", "class"])]
    points: dict[str, list[Point]] = {}
    for where, row in rows:
        stem = str(row["stem"]).strip()
        height, width = context.size(stem, path, where)
        x, y = number(row["x"], path, where, "x"), number(row["y"], path, where, "y")
        if not (0 <= x < width and 0 <= y < height):
            raise DataError(path, f"{where}: point (x={row['x']}, y={row['y']}) lies outside the "
                                  f"{width}x{height} (WxH) image '{stem}'.",
                            "use pixel coordinates with 0 <= x < width and 0 <= y < height (x = column).")
        point = Point(int(math.floor(x)), int(math.floor(y)), context.class_id(row["class"], path, where))
        points.setdefault(stem, []).append(point)
    return points


def write_points_csv(path: str | Path, points: dict[str, list[Point]], names: list[str]) -> None:
    """Write {stem: [Point]} as `stem,x,y,class` with class names (the format `read_points` reads)."""
    write_csv(path, ["stem", "x", "y", "class"],
              ([stem, p.x, p.y, names[p.class_id]] for stem, ps in points.items() for p in ps))


def disc_offsets(radius: float) -> np.ndarray:
    """(dy, dx) offsets of the pixels within Euclidean `radius` of a centre (radius 0: the centre)."""
    reach = int(math.floor(radius))
    dy, dx = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    inside = dy**2 + dx**2 <= radius**2
    return np.stack([dy[inside], dx[inside]], axis=1)


def rasterize_points(points: list[Point], size: tuple[int, int], radius: float = 0,
                     ignore_index: int = 255, clip_to: np.ndarray | None = None) -> np.ndarray:
    """A sparse label map (uint8, `size` = (H, W)): each point's class on a disc of `radius`, ignore elsewhere.

    Later points draw over earlier ones. With `clip_to` (a full class-id mask), a disc only covers pixels
    of its own class there, so a click near a boundary never labels the neighbour.
    """
    height, width = size
    label_map = np.full((height, width), ignore_index, np.uint8)
    offsets = disc_offsets(radius)
    for point in points:
        rows, cols = point.y + offsets[:, 0], point.x + offsets[:, 1]
        keep = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        rows, cols = rows[keep], cols[keep]
        if clip_to is not None:
            same = clip_to[rows, cols] == point.class_id
            rows, cols = rows[same], cols[same]
        label_map[rows, cols] = point.class_id
    return label_map
