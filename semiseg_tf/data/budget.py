"""Label budgets: which train images keep their masks, reproducibly."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from semiseg_tf.data.errors import DataError


def select_labeled(stems: list[str], fraction: float | None = None,
                   labeled_list: str | Path | None = None, seed: int = 0) -> tuple[list[str], list[str]]:
    """Split `stems` into (labeled, unlabeled).

    A fraction picks round(fraction * N) stems (at least one) with a seeded permutation,
    so the same seed always gives the same subset; a list file names them explicitly.
    """
    if labeled_list is not None:
        path = Path(labeled_list)
        if not path.is_file():
            raise DataError(path, "labeled list not found.", "write one stem per line.")
        wanted = [s.strip() for s in path.read_text().splitlines() if s.strip()]
        unknown = sorted(set(wanted) - set(stems))
        if unknown:
            raise DataError(path, f"names stems not in the train split: {unknown[:5]}.",
                            "use stems from the split list.")
        if not wanted:
            raise DataError(path, "labeled list is empty.", "write one stem per line.")
        chosen = set(wanted)
    else:
        fraction = 1.0 if fraction is None else fraction
        if not 0 < fraction <= 1:
            raise ValueError(f"labeled fraction must be in (0, 1], got {fraction}")
        count = max(1, int(round(fraction * len(stems))))
        order = np.random.default_rng(seed).permutation(len(stems))
        chosen = {stems[i] for i in order[:count]}
    labeled = [s for s in stems if s in chosen]
    unlabeled = [s for s in stems if s not in chosen]
    return labeled, unlabeled


def hold_out(stems: list[str], fraction: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """Split `stems` into (kept for training, held out for validation): round(fraction * N) stems, at least
    one, by a seeded permutation independent of the labeled subset's (same seed, same held-out images)."""
    if not 0 < fraction < 1:
        raise ValueError(f"--val-fraction {fraction}: must be in (0, 1), e.g. 0.1.")
    count = max(1, int(round(fraction * len(stems))))
    if count >= len(stems):
        raise ValueError(f"--val-fraction {fraction} holds out all {len(stems)} training images; choose a smaller one.")
    order = np.random.default_rng([seed, 1]).permutation(len(stems))
    held = {stems[i] for i in order[:count]}
    return [s for s in stems if s not in held], [s for s in stems if s in held]
