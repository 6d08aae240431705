"""Resolve a model reference (run directory or `.keras` file) to a model and its metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import keras

from semiseg_tf.data.classes import ClassInfo
from semiseg_tf.data.errors import DataError


@dataclass
class LoadedModel:
    """A segmenter plus what is needed to use it: classes and its training input size."""

    model: keras.Model
    classes: ClassInfo | None
    input_size: tuple[int, int] | None
    source: Path
    metadata: dict = field(default_factory=dict)


def load_segmenter(reference: str | Path) -> LoadedModel:
    """Load `RUN_DIR` (its model.keras + config.json), a `.keras` file or a zoo entry, in safe mode.

    Zoo entries (`NAME`, `NAME@VERSION` or an entry folder) are checksum-verified first.
    """
    path = Path(reference)
    if _is_zoo_reference(path):
        from semiseg_tf import zoo

        return zoo.load_entry(path if path.is_dir() else zoo.resolve(str(reference)).path)
    if path.is_dir():
        model_file, config_file = path / "model.keras", path / "config.json"
        if not model_file.is_file():
            raise DataError(model_file, "run has no trained model yet.",
                            "finish training (or --resume it) first.")
        config = json.loads(config_file.read_text()) if config_file.is_file() else {}
        train = config.get("train", {})
        size = train.get("train_size")  # crops are windows; the scale is train_size
        size = None if size == "native" else size  # trained at native scale: infer at native scale
        classes = ClassInfo.from_dict(config["classes"]) if "classes" in config else None
        return LoadedModel(_load(model_file), classes, tuple(size) if size else None, path, config)
    if path.suffix == ".keras":
        return LoadedModel(_load(path), None, None, path)
    raise DataError(path, "is neither a run directory nor a .keras file.",
                    "pass a run directory from `semiseg-tf train` or a .keras model file.")


def _is_zoo_reference(path: Path) -> bool:
    """An entry folder (card.json, no run config), or a bare `NAME[@VERSION]` that is not a path."""
    if path.is_dir():
        return (path / "card.json").is_file() and not (path / "config.json").is_file()
    return not path.exists() and path.suffix != ".keras" and len(path.parts) == 1


def _load(path: Path) -> keras.Model:
    from semiseg_tf.models import register

    register()

    if not path.is_file():
        raise DataError(path, "model file not found.", "check the path.")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a bad archive
        raise DataError(path, f"cannot be loaded as a Keras model ({exc}).",
                        "re-save it with model.save(...) or re-download it.") from exc
