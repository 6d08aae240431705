"""Which images judge a run at its end: a split of the dataset, a held-out share of train, or none (said aloud)."""

from __future__ import annotations

from pathlib import Path

from semiseg_tf.data import SegmentationDataset, resolve_data
from semiseg_tf.training.config import ConfigError, TrainConfig

HELD_OUT = "heldout.txt"  # in the run directory: the train stems --val-fraction kept out of training


def check_val_split(config: TrainConfig, dataset: SegmentationDataset) -> str | None:
    """The validation split the run will use. The default 'val' may be missing (None, with a warning);
    any other name must exist. Checked before training, so a typo costs nothing."""
    if config.val_fraction is not None or config.val_split in (None, "none"):
        return None
    if (dataset.root / f"{config.val_split}.txt").is_file():
        return config.val_split
    if config.val_split == "val":
        print(f"warning: {dataset.root} has no val split (val.txt), so the run ends without an evaluation; "
              "name a split with --val-split NAME or hold out part of train with --val-fraction 0.1.", flush=True)
        return None
    raise ConfigError(f"--val-split {config.val_split}: {dataset.root} has no {config.val_split}.txt "
                      f"(splits: {', '.join(dataset.splits())}); name one of them, or none.")


def evaluate_run(run_dir: str | Path) -> dict | None:
    """Evaluate a finished run on what it names for validation; writes eval_<split>.json. None when nothing."""
    from semiseg_tf.evaluation import evaluate
    from semiseg_tf.loading import load_segmenter

    run_dir = Path(run_dir)
    loaded = load_segmenter(run_dir)
    train = loaded.metadata["train"]
    data = resolve_data(train["data"])
    if (run_dir / HELD_OUT).is_file():
        stems = (run_dir / HELD_OUT).read_text().split()
        return evaluate(loaded.model, data, "heldout", loaded.input_size, out=run_dir / "eval_heldout.json",
                        stems=stems)
    split = train.get("val_split")
    if not split:
        return None
    return evaluate(loaded.model, data, split, loaded.input_size, out=run_dir / f"eval_{split}.json")

