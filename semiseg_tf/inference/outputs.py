"""What predict writes per image: palette PNG masks, colour overlays, probabilities; all atomic."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from semiseg_tf.data.imageio import encode_png, write_atomically

# What each output kind is called under --out
LAYOUT = {"mask": "{stem}.png", "overlay": "overlay/{stem}.png", "probs": "probs/{stem}.npz"}
KINDS = tuple(LAYOUT)


def output_paths(out_dir: Path, stem: str, save: tuple[str, ...]) -> dict[str, Path]:
    """`<out>/<stem>.png` masks, `<out>/overlay/<stem>.png`, `<out>/probs/<stem>.npz` (LAYOUT)."""
    return {kind: out_dir / LAYOUT[kind].format(stem=stem) for kind in save}


def overlay(image: np.ndarray, ids: np.ndarray, palette: list[list[int]], alpha: float = 0.5) -> np.ndarray:
    """The image with each pixel tinted by its class colour."""
    colours = np.asarray(palette, np.float32)[ids]
    return (image.astype(np.float32) * (1 - alpha) + colours * alpha + 0.5).astype(np.uint8)


def encode_outputs(kinds: tuple[str, ...], image: np.ndarray, ids: np.ndarray, probs: np.ndarray | None,
                   palette: list[list[int]], class_names: list[str] | None) -> dict[str, bytes]:
    """The encoded files of one image, by kind; the mask comes last, so writing in this order makes the
    mask mark a finished image."""
    encoded = {}
    if "overlay" in kinds:
        encoded["overlay"] = encode_png(overlay(image, ids, palette))
    if "probs" in kinds:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, probs=probs.astype(np.float16),
                            classes=np.asarray(class_names or [str(i) for i in range(probs.shape[-1])]))
        encoded["probs"] = buffer.getvalue()
    if "mask" in kinds:
        encoded["mask"] = encode_png(ids, palette)
    return encoded


def write_outputs(paths: dict[str, Path], image: np.ndarray, ids: np.ndarray, probs: np.ndarray | None,
                  palette: list[list[int]], class_names: list[str] | None) -> None:
    """Write the requested outputs of one image, each atomically, the mask last."""
    for kind, data in encode_outputs(tuple(paths), image, ids, probs, palette, class_names).items():
        write_atomically(paths[kind], data)
