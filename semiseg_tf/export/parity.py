"""Export parity: the exported graph must compute what the Keras model computes.

Runs at every export on a few images; prints max abs difference and argmax agreement
per backend and raises when either is outside tolerance, so a broken export never
reaches a production pipeline silently.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from semiseg_tf.export.graph import deployment_model


class ParityError(RuntimeError):
    """An exported model disagrees with its Keras source beyond tolerance."""


def parity_images(input_size: tuple[int, int] | None, folder: str | Path | None = None,
                  count: int = 4) -> np.ndarray:
    """uint8 (N, H, W, 3) images: from `folder` if given, else generated shapes scenes."""
    from semiseg_tf.inference.resize import resize_image

    height, width = input_size or (96, 128)
    if folder is not None:
        from semiseg_tf.data import find_images, read_image

        return np.stack([resize_image(read_image(p), (height, width)) for p in find_images(folder)[:count]])
    from semiseg_tf.data.synthetic import render_sample

    rng = np.random.default_rng(0)
    return np.stack([render_sample(rng, height, width)[0] for _ in range(count)])


def compare(reference: np.ndarray, candidate: np.ndarray, output: str) -> dict:
    """Max abs difference (None for class ids) and the fraction of pixels whose class agrees."""
    if output == "ids":
        return {"max_abs_diff": None, "argmax_agreement": float(np.mean(reference == candidate))}
    return {"max_abs_diff": float(np.max(np.abs(reference.astype(np.float64) - candidate))),
            "argmax_agreement": float(np.mean(reference.argmax(-1) == candidate.argmax(-1)))}


def onnx_fn(path: str | Path):
    """A CPU onnxruntime session of `path` as a callable on uint8 batches."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda images: session.run(None, {name: images})[0]


def check_parity(model: keras.Model, images: np.ndarray, output: str = "logits",
                 onnx_path: str | Path | None = None, savedmodel_path: str | Path | None = None,
                 atol: float = 1e-3, min_agreement: float = 0.999, echo=print) -> dict:
    """Compare exported artifacts with Keras on `images`; returns {backend: stats} or raises ParityError."""
    from semiseg_tf.export.savedmodel import load_savedmodel_fn

    reference = np.asarray(deployment_model(model, output).predict(images, verbose=0))
    backends = {}
    if onnx_path is not None:
        backends["onnxruntime"] = onnx_fn(onnx_path)
    if savedmodel_path is not None:
        backends["savedmodel"] = load_savedmodel_fn(savedmodel_path)
    report, failures = {}, []
    for name, run in backends.items():
        stats = compare(reference, np.asarray(run(images)), output)
        report[name] = stats
        diff = "n/a (class ids)" if stats["max_abs_diff"] is None else f"{stats['max_abs_diff']:.2e}"
        echo(f"parity {name} vs keras on {len(images)} images: max abs diff {diff}, "
             f"argmax agreement {100 * stats['argmax_agreement']:.3f} %")
        too_far = stats["max_abs_diff"] is not None and stats["max_abs_diff"] > atol
        if too_far or stats["argmax_agreement"] < min_agreement:
            failures.append(f"{name}: {stats} (tolerance: max abs diff <= {atol}, "
                            f"agreement >= {min_agreement})")
    if failures:
        raise ParityError("exported model disagrees with Keras: " + "; ".join(failures))
    return report
