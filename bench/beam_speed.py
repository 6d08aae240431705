"""Batch inference on Apache Beam's DirectRunner vs `semiseg-tf predict` on the same images, side by side.

    python bench/beam_speed.py                                  # zoo camvid-deeplabv3plus, 200 CamVid images
    python bench/beam_speed.py --images 16 --rounds 1 --name beam-speed-smoke

Both run the same exported ONNX file as CLI subprocesses over one folder of images (CamVid val, then train),
in interleaved rounds whose medians are reported. Each figure is the CLI's own images/s: predict's
from the first image read to the last output written, Beam's over the whole pipeline run (start-up and
model loading on the worker included: what a Beam job costs). The masks of both are compared pixel by
pixel. Writes bench/results/<name>.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from results_io import CAMVID, write_result

from semiseg_tf.data import SegmentationDataset
from semiseg_tf.export import export_onnx
from semiseg_tf.export.metadata import metadata_for
from semiseg_tf.loading import load_segmenter

CLI = [sys.executable, "-c", "from semiseg_tf.cli.main import cli; cli()"]


def predict(args: list[str], out: Path) -> float:
    """images/s of one CLI run, as its summary.json records it."""
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run(CLI + ["predict", *args, "--out", str(out), "--quiet"], check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "summary.json").read_text())["images_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="camvid-deeplabv3plus", help="Zoo name, run directory or .keras file.")
    parser.add_argument("--data", default=str(CAMVID))
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--beam-options", default="--direct_num_workers=1",
                        help="DirectRunner options (one worker: the local runner's threads already use every core).")
    parser.add_argument("--name", default="beam-speed")
    args = parser.parse_args()

    loaded = load_segmenter(args.model)
    dataset = SegmentationDataset(args.data)
    stems = (dataset.stems("val") + dataset.stems("train"))[:args.images]
    work = Path(tempfile.mkdtemp(prefix="beam-speed-"))
    try:
        model = work / "model.onnx"
        export_onnx(loaded.model, model, loaded.input_size, "logits",
                    metadata_for(loaded, loaded.input_size, "logits"))
        images = work / "images"
        images.mkdir()
        for sample in dataset.samples(stems=stems, labeled=False):
            shutil.copy(sample.image, images / sample.image.name)
        common = ["--model", str(model), str(images), "--batch-size", str(args.batch_size)]
        speeds = {"predict": [], "beam": []}
        for _ in range(args.rounds):
            speeds["predict"].append(predict(common, work / "local"))
            speeds["beam"].append(predict(common + ["--runner", "beam", "--beam-options", args.beam_options],
                                          work / "beam"))
        same = all(np.array_equal(np.asarray(Image.open(work / "local" / f"{s}.png")),
                                  np.asarray(Image.open(work / "beam" / f"{s}.png"))) for s in stems)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    median = {k: statistics.median(v) for k, v in speeds.items()}
    write_result(args.name, {
        "task": "beam-speed", "split": "val+train (images only)", "model": args.model, "images": len(stems), "batch_size": args.batch_size,
        "input_size": list(loaded.input_size), "rounds": args.rounds, "beam_options": args.beam_options,
        "predict_images_per_s": round(median["predict"], 2), "beam_images_per_s": round(median["beam"], 2),
        "beam_over_predict": round(median["beam"] / median["predict"], 3), "all_rounds": speeds,
        "same_masks": same,
        "speed_definitions": {"predict": "first image read to last output written",
                              "beam": "the whole pipeline run, start-up and model loading included"},
    }, required=("task", "model"))
    print(f"predict {median['predict']:.1f} images/s, Beam DirectRunner {median['beam']:.1f} images/s "
          f"({median['beam'] / median['predict']:.2f}x); same masks: {same}")


if __name__ == "__main__":
    main()
