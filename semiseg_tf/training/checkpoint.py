"""The resumable state of a run: one file, replaced atomically, so a kill at any moment leaves a usable one.

`backup/checkpoint.npz` holds every variable of the method (segmenter, teachers, peers, random
seed states, which Keras weight files leave out) and of the optimizer (step counter and moments),
plus the step and the training seconds so far.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from semiseg_tf.data.errors import DataError


class Checkpoint:
    """Save and restore a compiled, built method at a step."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / "checkpoint.npz"

    def exists(self) -> bool:
        return self.path.is_file()

    def save(self, method: keras.Model, step: int, train_seconds: float) -> None:
        arrays = {f"v{i}": np.asarray(v) for i, v in enumerate(method.variables)}
        arrays |= {f"o{i}": np.asarray(v) for i, v in enumerate(method.optimizer.variables)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        part = self.path.with_name("checkpoint.part.npz")
        np.savez(part, step=step, train_seconds=train_seconds, **arrays)
        part.replace(self.path)

    def read(self) -> dict:
        """{"step", "train_seconds"} of the stored checkpoint, without loading the variables."""
        with np.load(self.path) as stored:
            return {"step": int(stored["step"]), "train_seconds": float(stored["train_seconds"])}

    def restore(self, method: keras.Model) -> dict:
        """Assign the stored variables to `method` and its optimizer (built here if needed)."""
        if not method.optimizer.built:
            method.optimizer.build(method.trainable_variables)
        with np.load(self.path) as stored:
            for prefix, variables in (("v", method.variables), ("o", method.optimizer.variables)):
                count = sum(key.startswith(prefix) for key in stored.files)
                if count != len(variables):
                    raise DataError(self.path, f"holds {count} {'optimizer ' if prefix == 'o' else ''}variables, "
                                    f"the run's model has {len(variables)}.",
                                    "resume with the code and options that started the run, or start a new --out.")
                for i, variable in enumerate(variables):
                    value = stored[f"{prefix}{i}"]
                    if tuple(value.shape) != tuple(variable.shape):
                        raise DataError(self.path, f"variable {variable.path} has shape {value.shape}, "
                                        f"the model's is {tuple(variable.shape)}.", "start a new --out.")
                    variable.assign(value)
            return {"step": int(stored["step"]), "train_seconds": float(stored["train_seconds"])}
