"""Small builders shared by the foundation tests: hand-made datasets and image files."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def save_image(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    """Write `array` with Pillow (PNG unless the suffix says otherwise)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array) if mode is None else Image.fromarray(array, mode)
    image.save(path)
    return path


def save_png16_rgb(path: Path, array: np.ndarray) -> Path:
    """Write a 16-bit-per-channel RGB PNG by hand (Pillow cannot write one)."""
    height, width, _ = array.shape
    rows = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))
    return path


def make_dataset(root: Path, images: dict, masks: dict | None = None, splits: dict | None = None,
                 names=("background", "thing", "stuff")) -> Path:
    """A dataset folder in the standard layout from arrays: {stem: array}; splits {name: [stems]}."""
    root.mkdir(parents=True, exist_ok=True)
    for stem, array in images.items():
        save_image(root / "images" / f"{stem}.png", array)
    for stem, array in (masks or {}).items():
        save_image(root / "masks" / f"{stem}.png", array)
    for split, stems in (splits or {"train": list(images)}).items():
        (root / f"{split}.txt").write_text("".join(f"{s}\n" for s in stems))
    if names is not None:
        (root / "classes.json").write_text(json.dumps({"names": list(names)}))
    return root


def random_pair(rng: np.random.Generator, height: int = 8, width: int = 10, num_classes: int = 3):
    """A random RGB uint8 image and a valid mask of class ids for it."""
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    mask = rng.integers(0, num_classes, (height, width), dtype=np.uint8)
    return image, mask
