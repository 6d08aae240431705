"""What predict writes per image: palette PNG masks, colour overlays, probabilities, class localisation
maps; all atomic."""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np

from semiseg_tf.data.imageio import encode_png, write_atomically

# What each output kind is called under --out
LAYOUT = {"mask": "{stem}.png", "overlay": "overlay/{stem}.png", "probs": "probs/{stem}.npz",
          "maps": "maps/{stem}.png"}
KINDS = tuple(LAYOUT)
MAP_CLASSES = 4  # class panels a localisation map shows at most


def output_paths(out_dir: Path, stem: str, save: tuple[str, ...]) -> dict[str, Path]:
    """`<out>/<stem>.png` masks, `<out>/overlay/<stem>.png`, `<out>/probs/<stem>.npz`, `<out>/maps/<stem>.png`
    (LAYOUT)."""
    return {kind: out_dir / LAYOUT[kind].format(stem=stem) for kind in save}


def needs_probs(save) -> bool:
    """Whether the outputs in `save` need the per-class probabilities (not class ids alone)."""
    return "probs" in save or "maps" in save


@functools.lru_cache(maxsize=1)
def heat_colours() -> np.ndarray:
    """matplotlib's perceptually uniform `inferno` colour map as a (256, 3) uint8 lookup table."""
    from matplotlib import colormaps
    return (colormaps["inferno"](np.linspace(0, 1, 256))[:, :3] * 255 + 0.5).astype(np.uint8)


def localisation_maps(image: np.ndarray, probs: np.ndarray, class_names: list[str] | None,
                      top: int = MAP_CLASSES) -> np.ndarray:
    """The image beside heat maps of its `top` most present classes (largest summed probability), each
    panel titled with the class name and its peak probability: what a WILDCAT or any other model
    localises, for a person to look at."""
    from PIL import Image, ImageDraw
    names = class_names or [str(i) for i in range(probs.shape[-1])]
    shown = np.argsort(-probs.reshape(-1, probs.shape[-1]).sum(0), kind="stable")[:top]
    panels = [image]
    for index in shown:
        heat = heat_colours()[np.clip(probs[..., index].astype(np.float32) * 255 + 0.5, 0, 255).astype(np.uint8)]
        panel = Image.fromarray((image * 0.35 + heat * 0.65 + 0.5).astype(np.uint8))
        title = f"{names[index]} {float(probs[..., index].max()):.2f}"
        ImageDraw.Draw(panel).text((4, 2), title, fill=(255, 255, 255), stroke_width=2, stroke_fill=(0, 0, 0))
        panels.append(np.asarray(panel))
    return np.concatenate(panels, axis=1)


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
    if "maps" in kinds:
        encoded["maps"] = encode_png(localisation_maps(image, probs, class_names))
    if "mask" in kinds:
        encoded["mask"] = encode_png(ids, palette)
    return encoded


def write_outputs(paths: dict[str, Path], image: np.ndarray, ids: np.ndarray, probs: np.ndarray | None,
                  palette: list[list[int]], class_names: list[str] | None) -> None:
    """Write the requested outputs of one image, each atomically, the mask last."""
    for kind, data in encode_outputs(tuple(paths), image, ids, probs, palette, class_names).items():
        write_atomically(paths[kind], data)
