"""What predict writes per image: palette PNG masks, colour overlays, probabilities; all atomic."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from semiseg_tf.data.imageio import write_png

KINDS = ("mask", "overlay", "probs")


def output_paths(out_dir: Path, stem: str, save: tuple[str, ...]) -> dict[str, Path]:
    """`<out>/<stem>.png` masks, `<out>/overlay/<stem>.png`, `<out>/probs/<stem>.npz`."""
    layout = {"mask": out_dir / f"{stem}.png", "overlay": out_dir / "overlay" / f"{stem}.png",
              "probs": out_dir / "probs" / f"{stem}.npz"}
    return {kind: layout[kind] for kind in save}


def overlay(image: np.ndarray, ids: np.ndarray, palette: list[list[int]], alpha: float = 0.5) -> np.ndarray:
    """The image with each pixel tinted by its class colour."""
    colours = np.asarray(palette, np.float32)[ids]
    return (image.astype(np.float32) * (1 - alpha) + colours * alpha + 0.5).astype(np.uint8)


def write_npz(path: Path, **arrays) -> None:
    """Compressed .npz written to a temporary name then renamed, like every other output."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)


def write_outputs(paths: dict[str, Path], image: np.ndarray, ids: np.ndarray, probs: np.ndarray | None,
                  palette: list[list[int]], class_names: list[str] | None) -> None:
    """Write the requested outputs of one image (the mask last, so it marks a finished image)."""
    if "overlay" in paths:
        write_png(paths["overlay"], overlay(image, ids, palette))
    if "probs" in paths:
        write_npz(paths["probs"], probs=probs.astype(np.float16),
                  classes=np.asarray(class_names or [str(i) for i in range(probs.shape[-1])]))
    if "mask" in paths:
        write_png(paths["mask"], ids, palette)
