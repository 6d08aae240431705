"""Learning-rate schedules by name, from Keras' own schedule classes."""

from __future__ import annotations

import keras


def learning_rate_schedule(name: str, base_lr: float, total_steps: int, warmup_steps: int = 0):
    """'poly' (power 0.9, DeepLab) or 'cosine', with optional linear warm-up."""
    decay_steps = max(total_steps - warmup_steps, 1)
    if name == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            0.0 if warmup_steps else base_lr, decay_steps, alpha=0.0,
            warmup_target=base_lr if warmup_steps else None, warmup_steps=warmup_steps)
    if name == "poly":
        if warmup_steps:
            raise ValueError("warm-up is only implemented for the cosine schedule")
        return keras.optimizers.schedules.PolynomialDecay(base_lr, decay_steps, end_learning_rate=0.0,
                                                          power=0.9)
    raise ValueError(f"unknown schedule '{name}'; valid: ['cosine', 'poly']")
