"""Runners: one call from a uint8 batch to model outputs, whatever the model file is.

`semiseg-tf predict` accepts an `.onnx` file, a zoo name, a `.keras` file or a run
directory. Keras models are exported once to a cached, parity-checked ONNX file and run
in onnxruntime (the fast path); `engine="keras"` runs them in Keras instead.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from semiseg_tf.data.classes import ClassInfo
from semiseg_tf.data.errors import DataError

ENGINES = ("auto", "onnx", "keras")


@dataclass
class Runner:
    """A model ready to run: `runner(uint8 NHWC batch)` -> logits (or probs / ids)."""

    run: callable
    input_size: tuple[int, int] | None  # fixed height and width, None when any size works
    output: str  # "logits", "probs" or "ids"
    classes: ClassInfo | None
    engine: str  # what actually runs, e.g. "onnxruntime:CPUExecutionProvider"
    source: str
    metadata: dict = field(default_factory=dict)
    resize_to: tuple[int, int] | None = None  # size whole images are resized to (None: native)
    native_ids: callable | None = None  # (uint8 batch, (h, w)) -> uint8 class ids at (h, w), in-graph

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.run(images)


class NativeIds:
    """A second session on the same file that also resizes and argmaxes in onnxruntime (see native_ids).

    Built on first use, so jobs that never need it (tiles, probabilities) never pay for it.
    """

    def __init__(self, path: Path, input_name: str, providers: str, threads: int | None):
        self.path, self.input_name, self.providers, self.threads = path, input_name, providers, threads
        self.session = None

    def build(self) -> None:
        """Create the session now (predict does it before its clock starts)."""
        from semiseg_tf.inference.native_ids import with_native_ids
        from semiseg_tf.inference.providers import create_session

        if self.session is None:
            self.session, _ = create_session(with_native_ids(self.path).SerializeToString(), self.providers,
                                             self.threads)

    def __call__(self, images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        from semiseg_tf.inference.native_ids import IDS, OUTPUT_SIZE

        self.build()
        return self.session.run([IDS], {self.input_name: images, OUTPUT_SIZE: np.asarray(size, np.int64)})[0]


def onnx_runner(path: str | Path, providers: str = "auto", threads: int | None = None) -> Runner:
    from semiseg_tf.export.metadata import read_onnx_metadata
    from semiseg_tf.inference.providers import create_session

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "ONNX file not found.", "check the path or export one with `semiseg-tf export`.")
    session, provider = create_session(path, providers, threads)
    metadata = read_onnx_metadata(session)
    spec = session.get_inputs()[0]
    if spec.type != "tensor(uint8)":
        raise DataError(path, f"model takes {spec.type}, not uint8 images.",
                        "export it with `semiseg-tf export` (uint8 input, normalisation inside).")
    size = tuple(spec.shape[1:3]) if all(isinstance(d, int) for d in spec.shape[1:3]) else None
    classes = (ClassInfo(metadata["classes"], metadata.get("palette") or [], metadata.get("ignore_index", 255))
               if metadata.get("classes") else None)
    name = spec.name
    preferred = size or (tuple(metadata["input_size"]) if metadata.get("input_size") else None)
    output = metadata.get("output", "logits")
    native = NativeIds(path, name, providers, threads) if output in ("logits", "probs") else None
    return Runner(lambda images: session.run(None, {name: images})[0], size, output,
                  classes, f"onnxruntime:{provider}", str(path), metadata, preferred, native)


def keras_runner(loaded, resize_to: tuple[int, int] | None) -> Runner:
    """Run a loaded Keras segmenter directly (any input size; float cast inside a traced function)."""
    import tensorflow as tf

    model = loaded.model
    step = tf.function(lambda x: model(tf.cast(x, tf.float32), training=False), reduce_retracing=True)
    return Runner(lambda images: step(tf.constant(images)).numpy(), None, "logits", loaded.classes,
                  "keras", str(loaded.source), loaded.metadata, resize_to)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_onnx(loaded, input_size: tuple[int, int]) -> Path:
    """The fixed-size ONNX export of a Keras model, made (with a parity check) on first use."""
    from semiseg_tf.data.synthetic import builtin_root
    from semiseg_tf.export import check_parity, export_onnx
    from semiseg_tf.export.metadata import metadata_for
    from semiseg_tf.export.parity import parity_images

    source = Path(loaded.source)
    model_file = source / "model.keras" if source.is_dir() else source
    key = f"{_file_digest(model_file)[:16]}-{input_size[0]}x{input_size[1]}-logits.onnx"
    path = builtin_root().parent / "onnx" / key
    if not path.is_file():
        export_onnx(loaded.model, path, input_size, "logits", metadata_for(loaded, input_size, "logits"))
        try:
            check_parity(loaded.model, parity_images(input_size, count=2), "logits", onnx_path=path,
                         echo=lambda message: None)
        except Exception:
            path.unlink(missing_ok=True)
            raise
    return path


def open_runner(reference: str | Path, engine: str = "auto", providers: str = "auto",
                input_size: tuple[int, int] | None = None, threads: int | None = None) -> Runner:
    """A Runner for an `.onnx` file, a zoo name, a `.keras` file or a run directory.

    Args:
        input_size: the size a Keras model is exported at / images are resized to
            (default: the size the model was trained at).
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine '{engine}'; valid: {list(ENGINES)}")
    if str(reference).endswith(".onnx"):
        if engine == "keras":
            raise DataError(reference, "is an ONNX file; the Keras engine needs a Keras model.",
                            "drop --engine keras or pass the .keras file / run directory.")
        return onnx_runner(reference, providers, threads)
    from semiseg_tf.loading import load_segmenter

    loaded = load_segmenter(reference)
    size = input_size or loaded.input_size
    if engine == "keras":
        return keras_runner(loaded, size)
    if size is None:
        raise DataError(reference, "has no recorded input size, needed for the ONNX export.",
                        "pass --input-size HxW (or --engine keras to run at native size).")
    if os.environ.get("SEMISEG_NO_ORT") or not _has_onnxruntime():
        if engine == "onnx":
            raise DataError(reference, "onnxruntime is not installed.", "pip install 'semiseg-tf[cpu]'.")
        return keras_runner(loaded, size)
    runner = onnx_runner(cached_onnx(loaded, tuple(size)), providers, threads)
    runner.classes = runner.classes or loaded.classes
    runner.source = str(reference)
    return runner


def _has_onnxruntime() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None
