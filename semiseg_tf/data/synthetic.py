"""The embedded default dataset: textured shapes on textured backgrounds, made on demand.

Deterministic for a seed, written in the standard dataset layout so that the demo and
the tests exercise the same reader as real data, with no download.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from semiseg_tf.data.classes import ClassInfo
from semiseg_tf.data.imageio import write_png

SHAPES_CLASSES = ClassInfo(
    names=["background", "disc", "square", "triangle", "ring"],
    palette=[[40, 40, 40], [230, 80, 60], [70, 170, 230], [250, 200, 50], [120, 220, 120]],
)
# Each class has a hue range and a texture; ranges overlap a little so colour alone
# is not quite enough and the model must use shape and texture too.
_HUES = {1: (0.95, 1.08), 2: (0.50, 0.62), 3: (0.10, 0.20), 4: (0.28, 0.42)}


def _hsv_to_rgb(h, s, v):
    h = (h % 1.0) * 6.0
    i = np.floor(h).astype(int) % 6
    f = h - np.floor(h)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    rgb = np.zeros(np.shape(h) + (3,))
    for k, channels in enumerate(table):
        sel = i == k
        for c in range(3):
            rgb[..., c] = np.where(sel, channels[c], rgb[..., c])
    return rgb


def _shape_mask(kind: int, yy, xx, cy, cx, r, angle):
    dy, dx = yy - cy, xx - cx
    if kind == 1:
        return dy**2 + dx**2 <= r**2
    if kind == 2:
        ry = np.cos(angle) * dx + np.sin(angle) * dy
        rx = -np.sin(angle) * dx + np.cos(angle) * dy
        return (np.abs(ry) <= r * 0.85) & (np.abs(rx) <= r * 0.85)
    if kind == 3:
        inside = np.ones_like(yy, dtype=bool)
        for k in range(3):
            a = angle + k * 2 * np.pi / 3
            inside &= (np.cos(a) * dx + np.sin(a) * dy) <= r * 0.5
        return inside
    dist = np.sqrt(dy**2 + dx**2)
    return (dist <= r) & (dist >= r * 0.55)


def render_sample(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """One image (uint8 HxWx3) and its mask (uint8 HxW) with 2-5 shapes."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    base_hue = rng.uniform(0, 1)
    wave = np.sin(xx / rng.uniform(4, 12) + rng.uniform(0, 6)) * np.cos(yy / rng.uniform(4, 12))
    hue = base_hue + 0.05 * wave
    image = _hsv_to_rgb(hue, 0.25 + 0.1 * wave, 0.45 + 0.15 * rng.random((height, width)))
    mask = np.zeros((height, width), np.uint8)
    for _ in range(rng.integers(2, 6)):
        kind = int(rng.integers(1, 5))
        r = rng.uniform(0.1, 0.22) * min(height, width)
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        inside = _shape_mask(kind, yy, xx, cy, cx, r, rng.uniform(0, np.pi))
        lo, hi = _HUES[kind]
        stripes = 0.5 + 0.5 * np.sin((xx * np.cos(kind) + yy * np.sin(kind)) / (1.5 + kind))
        colour = _hsv_to_rgb(np.full_like(yy, rng.uniform(lo, hi)), 0.7 + 0.2 * stripes,
                             0.6 + 0.3 * stripes)
        image[inside] = colour[inside]
        mask[inside] = kind
    image += rng.normal(0, 0.04, image.shape)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8), mask


def make_shapes_dataset(root: str | Path, num_train: int = 64, num_val: int = 16,
                        height: int = 96, width: int = 128, seed: int = 0) -> Path:
    """Write the shapes dataset to `root` (skipped when already complete) and return it."""
    root = Path(root)
    done = root / ".complete"
    if done.is_file() and done.read_text() == f"{num_train},{num_val},{height},{width},{seed}":
        return root
    rng = np.random.default_rng(seed)
    splits = {"train": num_train, "val": num_val}
    for split, count in splits.items():
        stems = [f"{split}_{i:04d}" for i in range(count)]
        for stem in stems:
            image, mask = render_sample(rng, height, width)
            write_png(root / "images" / f"{stem}.png", image)
            write_png(root / "masks" / f"{stem}.png", mask)
        (root / f"{split}.txt").write_text("\n".join(stems) + "\n")
    SHAPES_CLASSES.save(root / "classes.json")
    done.write_text(f"{num_train},{num_val},{height},{width},{seed}")
    return root


def builtin_root() -> Path:
    """Where built-in datasets are materialised (override with SEMISEG_CACHE)."""
    cache = os.environ.get("SEMISEG_CACHE") or Path.home() / ".cache" / "semiseg_tf"
    return Path(cache) / "builtin"


def resolve_data(data: str | Path) -> Path:
    """Map `builtin:shapes` to its generated folder; anything else is a path."""
    if str(data) == "builtin:shapes":
        return make_shapes_dataset(builtin_root() / "shapes")
    return Path(data)
