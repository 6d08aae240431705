"""Which cues a jigsaw-pretrained network solves puzzles by: its accuracy on val puzzles as trained, on
upside-down and mirrored images, and in grey.

    python bench/jigsaw_cues.py --run runs/pretrain/jigsaw-camvid

Tiles have gaps, jitter and their own normalisation, so edge continuity and brightness matching are closed
(semiseg_tf/pretraining/jigsaw.py). What is left: if accuracy collapses upside down, the network places
tiles by the scene's layout (sky on top, road below); if it falls in grey, by colour. Same crops and
permutations in every condition (seeded per image). Writes bench/results/jigsaw-cues-<run>.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import tensorflow as tf
from results_io import CAMVID, write_result

from semiseg_tf.data import SegmentationDataset
from semiseg_tf.pretraining.config import PretrainConfig
from semiseg_tf.pretraining.images import decode_resized, random_resized_crop
from semiseg_tf.pretraining.jigsaw import jigsaw_tiles, normalise_tiles
from semiseg_tf.pretraining.runner import build_pretext
from semiseg_tf.training.checkpoint import Checkpoint

CONDITIONS = {
    "as_trained": lambda image: image,
    "upside_down": lambda image: image[::-1],
    "mirrored": lambda image: image[:, ::-1],
    "grey": lambda image: tf.repeat(tf.reduce_mean(image, -1, keepdims=True), 3, -1),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="`semiseg-tf pretrain --method jigsaw` output.")
    parser.add_argument("--data", default=str(CAMVID))
    parser.add_argument("--split", default="val")
    args = parser.parse_args()
    stored = json.loads((args.run / "config.json").read_text())
    config = PretrainConfig.from_dict(stored["pretrain"])
    _, model = build_pretext(config, stored["images"])
    Checkpoint(args.run / "backup").restore(model)  # the pretext head as well as the encoder
    dataset = SegmentationDataset(args.data)
    paths = [str(s.image) for s in dataset.samples(stems=dataset.stems(args.split), labeled=False)]
    permutations = tf.constant(model.permutation_set)
    accuracy = {}
    for name, transform in CONDITIONS.items():
        @tf.function
        def puzzle(path, seed, transform=transform):
            seeds = tf.random.experimental.stateless_split(seed, num=2)
            image = random_resized_crop(decode_resized(path, config.image_size), seeds[0], config.image_size,
                                        (0.5, 1.0))
            tiles, label = jigsaw_tiles(transform(image), seeds[1], permutations, model.tile_share)
            return normalise_tiles(tiles), label

        right = 0
        for index, path in enumerate(paths):
            tiles, label = puzzle(tf.constant(path), tf.constant([7, index], tf.int64))
            right += int(tf.argmax(model(tiles[None], training=False)[0])) == int(label)
        accuracy[name] = round(right / len(paths), 3)
        print(f"{name}: {accuracy[name]:.3f}", flush=True)
    write_result(f"jigsaw-cues-{args.run.name}", {
        "task": "jigsaw-cues", "dataset": Path(args.data).name, "split": args.split, "model": config.model,
        "pretrain_run": args.run.name, "steps": stored["pretrain"]["steps"], "puzzles": len(paths),
        "chance": model.chance_level(), "accuracy": accuracy,
    }, required=("task", "dataset", "split", "accuracy", "command", "date"))


if __name__ == "__main__":
    main()
