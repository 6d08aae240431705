"""TF SavedModel export (serving signature `serve`) of the same uint8-in deployment graph."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import keras

from semiseg_tf.export.graph import deployment_model, input_signature
from semiseg_tf.export.metadata import write_savedmodel_metadata


def export_savedmodel(model: keras.Model, out: str | Path, input_size: tuple[int, int] | None,
                      output: str = "logits", metadata: dict | None = None) -> Path:
    """Write a SavedModel directory at `out` (refuses to replace a non-empty folder it did not make)."""
    out = Path(out)
    if out.exists() and not (out / "saved_model.pb").is_file():
        raise FileExistsError(f"{out} exists and is not a SavedModel; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    wrapper = deployment_model(model, output, input_size)
    staged = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        wrapper.export(str(staged), format="tf_saved_model", input_signature=input_signature(input_size),
                       verbose=False)
        if metadata is not None:
            write_savedmodel_metadata(staged, metadata)
        if out.exists():
            shutil.rmtree(out)
        staged.rename(out)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return out


def load_savedmodel_fn(path: str | Path):
    """The `serve` endpoint of an exported SavedModel, as a callable on uint8 batches."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    return lambda images: loaded.serve(tf.constant(images)).numpy()
