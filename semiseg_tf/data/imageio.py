"""Reading images and masks from disk with one conversion policy and clear errors.

The same functions serve validation, the tf.data pipeline and inference, so what
was validated is exactly what the model sees.
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from semiseg_tf.data.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def _decode(data: bytes, source: str | Path, at_least: tuple[int, int] | None = None) -> Image.Image:
    """Decode an encoded image held in memory (a file read in one call: Pillow reading it itself in small
    chunks was about 10 % slower while inference shares the cores, as in predict; `bench/predict_stages.py`).
    With `at_least` (H, W), a JPEG is decoded at the smallest DCT scale (1, 1/2, 1/4, 1/8) that keeps both
    sides at least that large; its full size stays in `info["native_hw"]`."""
    try:
        image = Image.open(io.BytesIO(data))
        image.info["native_hw"] = (image.height, image.width)
        if at_least and image.format == "JPEG":
            image.draft("RGB", (at_least[1], at_least[0]))
        image.load()
        return image
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(
            source, f"unreadable or corrupt image ({exc}).", "re-export or remove this file."
        ) from exc


def _to_rgb(image: Image.Image, path: Path) -> np.ndarray:
    """Convert where it is safe (gray, palette, opaque RGBA, 16-bit); refuse otherwise."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if array.max() > 255 else 255.0
        array = np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(array[..., None], 3, axis=-1)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = np.asarray(image.convert("RGBA"))
        if (rgba[..., 3] < 255).any():
            raise DataError(
                path,
                "image has transparent pixels; what lies under them is undefined.",
                "flatten it onto a background (e.g. `convert in.png -flatten out.png`).",
            )
        return np.ascontiguousarray(rgba[..., :3])
    if mode in ("F", "I;32"):
        raise DataError(path, f"floating-point image (mode {mode}) cannot be read safely.",
                        "save it as 8-bit RGB.")
    return np.asarray(image if mode == "RGB" else image.convert("RGB"))  # convert() would copy an RGB image


def decode_image(data: bytes, source: str | Path) -> np.ndarray:
    """Decode encoded image bytes (read from any file system) to RGB uint8 (H, W, 3); `source` names them
    in errors."""
    return _to_rgb(_decode(data, source), Path(str(source)))


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise DataError(path, "file not found.", "check the path and the split list.") from exc
    except OSError as exc:  # a folder, no permission
        raise DataError(path, f"unreadable ({exc.strerror}).", "pass an image file.") from exc


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to an RGB uint8 array of shape (H, W, 3)."""
    path = Path(path)
    return decode_image(_read_bytes(path), path)


def read_image_at_least(path: str | Path, size: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """(RGB uint8 image, native (H, W)): a JPEG at least twice `size` (H, W) decodes at a reduced DCT scale
    that stays at least `size`, several times faster than in full when it is to be shrunk to `size` anyway
    (libjpeg's scaled IDCT, which also averages what a plain bilinear shrink would alias); other images whole."""
    path = Path(path)
    image = _decode(_read_bytes(path), path, at_least=size)
    return _to_rgb(image, path), image.info["native_hw"]


def read_mask(
    path: str | Path,
    num_classes: int,
    ignore_index: int = 255,
    expected_hw: tuple[int, int] | None = None,
) -> np.ndarray:
    """Decode a class-id mask (uint8, H x W) and check size and class ids."""
    path = Path(path)
    image = _decode(_read_bytes(path), path)
    if image.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L"):
        raise DataError(
            path,
            f"mask has mode {image.mode}; masks hold one class id per pixel.",
            "save masks as single-channel 8-bit PNGs of class ids (255 = ignore), not colours.",
        )
    mask = np.asarray(image)
    if mask.dtype != np.uint8:
        if mask.max() > 255 or mask.min() < 0:
            raise DataError(path, f"mask holds values up to {mask.max()}, beyond 8 bits.",
                            "store class ids 0..N-1 and 255 for ignore.")
        mask = mask.astype(np.uint8)
    if expected_hw is not None and tuple(mask.shape[:2]) != tuple(expected_hw):
        raise DataError(
            path,
            f"mask is {mask.shape[0]}x{mask.shape[1]} (HxW) but its image is "
            f"{expected_hw[0]}x{expected_hw[1]}.",
            "masks must match their image pixel for pixel; resize with nearest neighbour.",
        )
    bad = np.setdiff1d(np.unique(mask), np.append(np.arange(num_classes), ignore_index))
    if bad.size:
        raise DataError(
            path,
            f"mask holds class ids {bad.tolist()} not in classes.json "
            f"(0..{num_classes - 1}, {ignore_index} = ignore).",
            "remap them or add the classes to classes.json.",
        )
    return mask


def encode_png(array: np.ndarray, palette: list[list[int]] | None = None) -> bytes:
    """A uint8 array as PNG bytes (a palette PNG when `palette` is given).

    zlib level 1: class-id masks encode several times faster than at Pillow's default
    level 6, for files a few % larger; PNG encoding is on `predict`'s per-image path.
    Single-channel masks (long runs of one id) use zlib's run-length strategy: on CamVid
    masks faster again and smaller than level 1 alone (`bench/predict_stages.py` times both).
    """
    image = Image.fromarray(np.ascontiguousarray(array))
    if palette is not None:
        flat = [v for colour in palette for v in colour]
        image.putpalette(flat + [0] * (768 - len(flat)))
    buffer = io.BytesIO()
    strategy = {"compress_type": zlib.Z_RLE} if array.ndim == 2 else {}
    image.save(buffer, format="PNG", compress_level=1, **strategy)
    return buffer.getvalue()


def write_atomically(path: str | Path, data: bytes) -> None:
    """Write to `<name>.part`, then rename: an interrupted job leaves only whole files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)


def write_png(path: str | Path, array: np.ndarray, palette: list[list[int]] | None = None) -> None:
    """Write a uint8 array as PNG atomically (see encode_png)."""
    write_atomically(path, encode_png(array, palette))
