"""A pretrained encoder on disk, and loading it into any segmenter with that encoder.

    OUT/encoder.weights.h5   the encoder's weights (Keras weights file of the nested "encoder" model)
    OUT/encoder.json         its config (to rebuild it), the preset and the input normalisation it was
                             trained behind, the method

`load_encoder_weights(segmenter, path)` copies them into `segmenter.encoder` alone, layer by layer,
after checking every layer and shape; a mismatch names the layer. Decoder and head are not touched.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import keras
import numpy as np

from semiseg_tf.data.errors import DataError

WEIGHTS_FILE, CONFIG_FILE = "encoder.weights.h5", "encoder.json"


def normalisation(segmenter: keras.Model) -> dict:
    """The mean and std the segmenter normalises its input with (what the encoder sees)."""
    config = segmenter.get_config()
    return {"mean": list(config.get("mean", [])), "std": list(config.get("std", []))}


def save_encoder(segmenter: keras.Model, out: str | Path, metadata: dict) -> Path:
    """Write OUT/encoder.weights.h5 and OUT/encoder.json (config, normalisation, `metadata`)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    part = out / "encoder.part.weights.h5"  # Keras wants the .weights.h5 ending
    segmenter.encoder.save_weights(part)
    part.replace(out / WEIGHTS_FILE)
    record = {"format": 1, **metadata, "normalisation": normalisation(segmenter),
              "encoder": keras.saving.serialize_keras_object(segmenter.encoder)}
    (out / CONFIG_FILE).write_text(json.dumps(record, indent=1, default=str))
    return out / WEIGHTS_FILE


def resolve(path: str | Path) -> tuple[Path, dict | None]:
    """(weights file, encoder.json record or None) of a pretraining output folder or a weights file."""
    path = Path(path)
    weights = path / WEIGHTS_FILE if path.is_dir() else path
    if not weights.is_file():
        raise DataError(weights, "encoder weights not found.",
                        "pass the --out folder of `semiseg-tf pretrain` or its encoder.weights.h5.")
    config = weights.parent / CONFIG_FILE
    return weights, json.loads(config.read_text()) if config.is_file() else None


def stored_encoder(segmenter: keras.Model, weights: Path, record: dict | None) -> keras.Model:
    """The encoder as stored: rebuilt from encoder.json, else assumed to be the segmenter's own architecture."""
    if record is not None:
        encoder = keras.saving.deserialize_keras_object(record["encoder"])
    else:
        encoder = segmenter.encoder.__class__.from_config(segmenter.encoder.get_config())
    try:
        encoder.load_weights(weights)
    except (ValueError, KeyError, OSError) as exc:
        raise DataError(weights, f"does not load into a {segmenter.encoder.__class__.__name__} like the model's "
                        f"encoder ({exc}).", "pass weights pretrained with the model's --model preset.") from exc
    return encoder


def check_compatible(target: keras.Model, source: keras.Model, weights: Path, preset: str | None) -> None:
    """Every layer with weights present on both sides with the same weight shapes, else a DataError naming it."""
    fix = (f"pretrain with the same --model as the segmenter (these weights come from '{preset}')." if preset
           else "pass weights pretrained with the segmenter's --model preset.")
    ours = {layer.name: layer for layer in target.layers if layer.weights}
    theirs = {layer.name: layer for layer in source.layers if layer.weights}
    for name in ours.keys() - theirs.keys():
        raise DataError(weights, f"has no layer '{name}', which the model's encoder has.", fix)
    for name in theirs.keys() - ours.keys():
        raise DataError(weights, f"holds layer '{name}', which the model's encoder lacks.", fix)
    for name, layer in ours.items():
        mine, stored = layer.weights, theirs[name].weights
        if len(mine) != len(stored):
            raise DataError(weights, f"layer '{name}' has {len(stored)} weights, the model's has {len(mine)}.", fix)
        for variable, value in zip(mine, stored):
            if tuple(variable.shape) != tuple(value.shape):
                raise DataError(weights, f"layer '{name}' {variable.name} has shape {tuple(value.shape)}, the "
                                f"model's encoder has {tuple(variable.shape)}.", fix)


def load_encoder_weights(segmenter: keras.Model, path: str | Path) -> dict:
    """Copy pretrained encoder weights (a `semiseg-tf pretrain` output folder or its encoder.weights.h5) into
    `segmenter.encoder`; every other weight of the segmenter stays as it is.

    Layers are matched by name and every shape is checked first, so nothing is assigned unless all fit.
    Returns {"weights": file, "layers": count, "variables": count, "method": ..., "preset": ...}.
    """
    weights, record = resolve(path)
    record = record or {}
    source = stored_encoder(segmenter, weights, record or None)
    check_compatible(segmenter.encoder, source, weights, record.get("preset"))
    stored_norm, ours = record.get("normalisation"), normalisation(segmenter)
    if stored_norm and stored_norm != ours:
        warnings.warn(f"{weights}: the encoder was pretrained behind input normalisation {stored_norm}, the "
                      f"segmenter normalises with {ours}; its features may not transfer.", stacklevel=2)
    theirs = {layer.name: layer for layer in source.layers}
    count = 0
    for layer in segmenter.encoder.layers:
        for variable, value in zip(layer.weights, theirs[layer.name].weights if layer.weights else ()):
            variable.assign(np.asarray(value))
            count += 1
    return {"weights": str(weights), "layers": sum(1 for layer in segmenter.encoder.layers if layer.weights),
            "variables": count, "method": record.get("method"), "preset": record.get("preset")}
