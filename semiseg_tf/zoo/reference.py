"""Reference tensors per entry (as smp does): a fixed input and the outputs it must give.

Checksums prove the files are the ones published; the reference proves that this
installation (TensorFlow, Keras, CPU) still computes what was published.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

STRIDE = 4  # logits are stored on a 1-in-4 pixel grid: small file, every region covered


def make_reference(model, input_size) -> bytes:
    """An .npz with a generated uint8 image, its class ids and sub-sampled logits."""
    from semiseg_tf.export.parity import parity_images

    image = parity_images(tuple(input_size), count=1)
    logits = np.asarray(model.predict(image.astype(np.float32), verbose=0))[0]
    buffer = io.BytesIO()
    np.savez_compressed(buffer, image=image[0], ids=logits.argmax(-1).astype(np.uint8),
                        logits=logits[::STRIDE, ::STRIDE].astype(np.float32))
    return buffer.getvalue()


def check_reference(model, path: Path, atol: float = 1e-3, min_agreement: float = 0.999) -> dict:
    """Compare `model` with the stored reference; returns stats, raises ValueError when off."""
    stored = np.load(path)
    logits = np.asarray(model.predict(stored["image"][None].astype(np.float32), verbose=0))[0]
    stats = {"max_abs_diff": float(np.abs(logits[::STRIDE, ::STRIDE] - stored["logits"]).max()),
             "argmax_agreement": float(np.mean(logits.argmax(-1) == stored["ids"]))}
    if stats["max_abs_diff"] > atol or stats["argmax_agreement"] < min_agreement:
        raise ValueError(f"{path}: model output differs from the reference ({stats}; tolerance "
                         f"max abs diff {atol}, agreement {min_agreement})")
    return stats
