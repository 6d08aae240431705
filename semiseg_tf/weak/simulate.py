"""Weak labels derived from a full mask, one function per kind: realistic, and reproducible for an rng.

A region is an 8-connected component of one class (stuff classes such as road or sky too) of at least
`min_area` pixels (default 0.1 % of the image, the threshold of MSRC-21's and PH2's `boxes.csv`).
Sparse label maps hold class ids where labeled and `ignore_index` elsewhere; every labeled pixel has the
class of the full mask there.

- scribble: ScribbleSup's protocol scribbles every object and stuff region (Lin et al., *ScribbleSup*,
  CVPR 2016); here along a connected piece of the region's skeleton, widened and clipped to the region.
- point: clicks inside regions, away from their boundary where the region allows (Bearman et al., ECCV 2016).
- coarse: each region shrunk so an unlabeled band runs along every boundary, like Cityscapes' coarse set
  (Cordts et al., CVPR 2016); thin regions keep their core.
- box: the tight box of each region (optionally jittered). tag: the classes present.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.measure import label as label_components
from skimage.morphology import remove_small_holes, skeletonize

from semiseg_tf.data.annotations import Box, Point

_NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]


@dataclass(frozen=True)
class Region:
    """One connected component of one class: its bounding slices and its pixels within them."""

    class_id: int
    slices: tuple[slice, slice]
    pixels: np.ndarray  # bool, the shape of the slices

    @property
    def area(self) -> int:
        return int(self.pixels.sum())


def default_min_area(shape: tuple[int, int]) -> int:
    """0.1 % of the image, at least one pixel."""
    return max(1, math.ceil(0.001 * shape[0] * shape[1]))


def find_regions(mask: np.ndarray, num_classes: int, min_area: int | None = None) -> list[Region]:
    """The regions of a class-id mask in class order, then raster order; ignore pixels belong to none."""
    min_area = default_min_area(mask.shape) if min_area is None else min_area
    regions = []
    for class_id in np.unique(mask):
        if class_id >= num_classes:
            continue
        components = label_components(mask == class_id, connectivity=2)
        for index, slices in enumerate(ndimage.find_objects(components), start=1):
            pixels = components[slices] == index
            if pixels.sum() >= min_area:
                regions.append(Region(int(class_id), slices, pixels))
    return regions


def _bfs(skeleton: np.ndarray, start: tuple[int, int]) -> dict:
    """Breadth-first parents over 8-connected skeleton pixels from `start`; the last key is the farthest."""
    parents, queue = {start: None}, deque([start])
    while queue:
        y, x = queue.popleft()
        for dy, dx in _NEIGHBOURS:
            ny, nx = y + dy, x + dx
            if (0 <= ny < skeleton.shape[0] and 0 <= nx < skeleton.shape[1] and skeleton[ny, nx]
                    and (ny, nx) not in parents):
                parents[(ny, nx)] = (y, x)
                queue.append((ny, nx))
    return parents


def skeleton_stroke(skeleton: np.ndarray, rng: np.random.Generator, length_share: float) -> np.ndarray:
    """A random stretch, `length_share` of its length, of the skeleton's longest path (found by two
    breadth-first sweeps from a random pixel): one stroke along the middle of the region, as a person
    draws it, rather than a tangle of branches."""
    coords = np.argwhere(skeleton)
    start = tuple(int(v) for v in coords[rng.integers(len(coords))])
    end_a = list(_bfs(skeleton, start))[-1]
    parents = _bfs(skeleton, end_a)
    path, node = [], list(parents)[-1]
    while node is not None:
        path.append(node)
        node = parents[node]
    length = max(1, int(round(length_share * len(path))))
    first = int(rng.integers(len(path) - length + 1))
    stroke = np.zeros_like(skeleton, dtype=bool)
    rows, cols = zip(*path[first:first + length])
    stroke[list(rows), list(cols)] = True
    return stroke


def choose_regions(regions: list[Region], share: float, rng: np.random.Generator) -> list[Region]:
    """A seeded `share` of the regions (all of them at 1.0), in their original order."""
    if share >= 1.0 or not regions:
        return list(regions)
    count = int(round(share * len(regions)))
    chosen = set(rng.permutation(len(regions))[:count].tolist())
    return [region for index, region in enumerate(regions) if index in chosen]


def scribble_labels(mask: np.ndarray, regions: list[Region], rng: np.random.Generator, *, width: int = 3,
                    length_share: float = 0.5, ignore_index: int = 255) -> np.ndarray:
    """A scribble per region: a stretch (`length_share`) of the longest path through the region's
    skeleton, dilated to `width` pixels and clipped to the region."""
    label_map = np.full(mask.shape, ignore_index, np.uint8)
    footprint = np.ones((width, width), bool)
    for region in regions:
        # small holes (specks of other classes, ignore pixels) would turn the skeleton into a mesh
        filled = remove_small_holes(region.pixels, max_size=max(1, region.area // 50))
        skeleton = _largest_component(skeletonize(filled) & region.pixels)
        piece = skeleton_stroke(skeleton if skeleton.any() else _centre(region.pixels), rng, length_share)
        stroke = ndimage.binary_dilation(piece, footprint) & region.pixels
        label_map[region.slices][stroke] = region.class_id
    return label_map


def _largest_component(pixels: np.ndarray) -> np.ndarray:
    """The largest 8-connected piece (the skeleton's main body once clipping cut it); empty stays empty."""
    components = label_components(pixels, connectivity=2)
    if components.max() <= 1:
        return pixels
    return components == np.argmax(np.bincount(components.ravel())[1:]) + 1


def _centre(pixels: np.ndarray) -> np.ndarray:
    """The region's most interior pixel, as a mask: the skeleton where clipping left none."""
    centre = np.zeros_like(pixels)
    distance = ndimage.distance_transform_edt(np.pad(pixels, 1))[1:-1, 1:-1]
    centre[np.unravel_index(np.argmax(distance), pixels.shape)] = True
    return centre


def _interior_pixels(pixels: np.ndarray, margin: float) -> np.ndarray:
    """Pixels at least `margin` from the region's edge, or its most interior ones when it is thinner."""
    distance = ndimage.distance_transform_edt(np.pad(pixels, 1))[1:-1, 1:-1]
    return np.argwhere(distance >= min(margin, distance.max()))


def point_annotations(mask: np.ndarray, regions: list[Region], rng: np.random.Generator, *, points: int = 1,
                      per: str = "region", margin: float = 3.0) -> list[Point]:
    """`points` clicks per region (or per class: anywhere in the class's regions), preferring pixels at
    least `margin` from a boundary."""
    groups = [(r.class_id, r.slices, r.pixels) for r in regions]
    if per == "class":
        groups = []
        for class_id in sorted({r.class_id for r in regions}):
            union = np.zeros(mask.shape, bool)
            for region in (r for r in regions if r.class_id == class_id):
                union[region.slices] |= region.pixels
            groups.append((class_id, (slice(0, mask.shape[0]), slice(0, mask.shape[1])), union))
    clicks = []
    for class_id, slices, pixels in groups:
        candidates = _interior_pixels(pixels, margin)
        picked = rng.choice(len(candidates), size=min(points, len(candidates)), replace=False)
        for y, x in candidates[np.sort(picked)]:
            clicks.append(Point(int(x + slices[1].start), int(y + slices[0].start), class_id))
    return clicks


def coarse_labels(mask: np.ndarray, regions: list[Region], *, band: int = 8, core_share: float = 0.5,
                  ignore_index: int = 255) -> np.ndarray:
    """Each region keeps only pixels more than `band` pixels (Euclidean) from any other class or ignore
    pixel, so an unlabeled band runs along every boundary; regions below `min_area` are already dropped.
    The image border is not a boundary.

    A region narrower than twice the band keeps its core instead: pixels further from the boundary than
    `core_share` x its deepest pixel's distance. Coarse annotators draw a rough polygon inside a pole or a
    pedestrian as well (Cityscapes' coarse set labels them); a uniform 8-pixel band would drop nearly
    every CamVid pole and most pedestrians. `core_share=0`: the uniform band only."""
    label_map = np.full(mask.shape, ignore_index, np.uint8)
    for class_id in sorted({r.class_id for r in regions}):
        same = mask == class_id
        distance = ndimage.distance_transform_edt(same) if not same.all() else np.full(mask.shape, np.inf)
        for region in (r for r in regions if r.class_id == class_id):
            inside = distance[region.slices] * region.pixels
            depth = min(band, core_share * inside.max()) if core_share else band
            label_map[region.slices][region.pixels & (inside > depth)] = class_id
    return label_map


def box_annotations(mask: np.ndarray, regions: list[Region], rng: np.random.Generator, *,
                    jitter: float = 0.0) -> list[Box]:
    """The tight box (x1/y1 inclusive) of each region; with `jitter`, each side moves by up to that
    fraction of the box's width or height, clipped to the image."""
    height, width = mask.shape
    boxes = []
    for region in regions:
        rows, cols = np.nonzero(region.pixels)
        y0, y1 = region.slices[0].start + rows.min(), region.slices[0].start + rows.max()
        x0, x1 = region.slices[1].start + cols.min(), region.slices[1].start + cols.max()
        if jitter > 0:
            box_w, box_h = x1 - x0 + 1, y1 - y0 + 1
            dx0, dx1 = rng.uniform(-jitter, jitter, 2) * box_w
            dy0, dy1 = rng.uniform(-jitter, jitter, 2) * box_h
            x0, x1 = sorted((min(max(round(x0 + dx0), 0), width - 1), min(max(round(x1 + dx1), 0), width - 1)))
            y0, y1 = sorted((min(max(round(y0 + dy0), 0), height - 1), min(max(round(y1 + dy1), 0), height - 1)))
        boxes.append(Box(region.class_id, int(x0), int(y0), int(x1), int(y1)))
    return boxes


def tag_set(mask: np.ndarray, num_classes: int, min_pixels: int = 1) -> frozenset[int]:
    """The classes with at least `min_pixels` pixels in the mask."""
    counts = np.bincount(mask.ravel(), minlength=256)[:num_classes]
    return frozenset(int(c) for c in np.nonzero(counts >= max(min_pixels, 1))[0])
