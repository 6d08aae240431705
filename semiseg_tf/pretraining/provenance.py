"""What a training run's encoder was pretrained with: the `semiseg-tf pretrain` card behind its
`encoder_weights`, or behind those of the run it was fine-tuned from (`init_from`, followed back).

Benchmark results and zoo cards both record it, so a fine-tune of a pretrained run still says where its
encoder came from. Paths are read as the run stored them (relative to where it ran).
"""

from __future__ import annotations

import json
from pathlib import Path

KEPT = ("method", "paper", "images", "image_source", "image_size", "batch_size", "steps", "train_seconds",
        "machine", "final_metric", "method_options")


def encoder_pretraining(train: dict) -> dict | None:
    """{run: the pretraining folder's name, and the card's fields in KEPT} for a run's `train` config
    section; None when its encoder started from random weights."""
    weights = train.get("encoder_weights")
    if not weights:
        start = Path(train.get("init_from") or "") / "config.json"
        return encoder_pretraining(json.loads(start.read_text())["train"]) if start.is_file() else None
    folder = Path(weights) if Path(weights).is_dir() else Path(weights).parent
    card = json.loads((folder / "card.json").read_text()) if (folder / "card.json").is_file() else {}
    return {"run": folder.name, **{key: card[key] for key in KEPT if key in card}}
