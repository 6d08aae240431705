"""Inference speed on CamVid: `semiseg-tf predict` end to end vs bare onnxruntime, SavedModel, Keras; int8.

    python bench/predict_speed.py --model runs/bench/camvid-deeplabv3plus-supervised-f1-s0
    python bench/predict_speed.py --model my.keras --input-size 240x320 --images 16 --miou-images 8 \
        --calibration-images 8 --tiled-size 1000 --name predict-speed-smoke      # a quick check

All engines run the same model on the same images (val, then train, in list order) in one
process; inference engines are timed on pre-decoded arrays at the model's input size, the
CLI end to end (decode, resize, infer, resize logits back to 360x480, PNG encode), in
interleaved rounds whose medians are reported (this machine's speed drifts by 10 % or more). Writes
bench/results/<name>.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from results_io import CAMVID, write_result

from semiseg_tf.data import SegmentationDataset, read_image
from semiseg_tf.export import check_parity, export_onnx, export_savedmodel, quantize_int8
from semiseg_tf.export.metadata import metadata_for
from semiseg_tf.export.savedmodel import load_savedmodel_fn
from semiseg_tf.inference import onnx_runner
from semiseg_tf.inference.postprocess import finish_whole
from semiseg_tf.inference.resize import resize_image
from semiseg_tf.loading import load_segmenter
from semiseg_tf.metrics import confusion_matrix, scores

DEFAULT_MODEL = Path("runs/bench/camvid-deeplabv3plus-supervised-f1-s0")
CLI = [sys.executable, "-c", "from semiseg_tf.cli.main import cli; cli()"]


def images_per_s(run, arrays: np.ndarray, batch_size: int) -> float:
    """Throughput of `run` over `arrays` in batches, after one warm-up batch."""
    run(arrays[:batch_size])
    started = time.perf_counter()
    for first in range(0, len(arrays), batch_size):
        run(arrays[first:first + batch_size])
    return len(arrays) / (time.perf_counter() - started)


def onnx_miou(path: Path, dataset: SegmentationDataset, stems: list[str], input_size) -> dict:
    """val mIoU of an exported model at native resolution: logits resized back in NumPy (as evaluate
    does), and class ids from predict's in-graph resize + argmax; with their pixel agreement."""
    from PIL import Image

    runner = onnx_runner(path)
    classes = dataset.classes
    confusion, confusion_graph, same, pixels = 0, 0, 0, 0
    for sample in dataset.samples(stems=stems):
        image = read_image(sample.image)
        model_input = resize_image(image, input_size)[None]
        ids, _ = finish_whole(runner(model_input)[0], image.shape[:2], "logits", False)
        in_graph = runner.native_ids(model_input, image.shape[:2])[0]
        mask = np.asarray(Image.open(sample.mask))
        confusion = confusion + confusion_matrix(mask, ids, classes.num_classes, classes.ignore_index)
        confusion_graph = confusion_graph + confusion_matrix(mask, in_graph, classes.num_classes,
                                                             classes.ignore_index)
        same, pixels = same + int((ids == in_graph).sum()), pixels + ids.size
    return {"miou": scores(confusion, classes.names)["miou"],
            "miou_in_graph": scores(confusion_graph, classes.names)["miou"], "agreement": same / pixels}


def run_cli(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(CLI + args, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def peak_rss_mb(args: list[str]) -> float:
    """Peak resident memory of one CLI process (measured from a fresh parent, so only it counts)."""
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    output = subprocess.run([sys.executable, "-c", probe, *CLI, *args], check=True, capture_output=True, text=True)
    return int(output.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="Run directory, .keras file or zoo name.")
    parser.add_argument("--data", default=str(CAMVID))
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--miou-images", type=int, default=None, help="val images for mIoU (default: all).")
    parser.add_argument("--calibration-images", type=int, default=64, help="train images for int8 calibration.")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--input-size", default=None, help="HxW (default: the model's training size).")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--tiled-size", type=int, default=4000, help="Side of the square image for the tiling memory test.")
    parser.add_argument("--rounds", type=int, default=3, help="Interleaved rounds; the median is reported.")
    parser.add_argument("--name", default="predict-speed")
    args = parser.parse_args()

    loaded = load_segmenter(args.model)
    size = tuple(int(v) for v in args.input_size.lower().split("x")) if args.input_size else loaded.input_size
    if size is None:
        parser.error(f"{args.model} has no recorded input size: pass --input-size HxW")
    dataset = SegmentationDataset(args.data)
    val, train = dataset.stems("val"), dataset.stems("train")
    samples = dataset.samples(stems=(val + train)[:args.images], labeled=False)
    work = Path(tempfile.mkdtemp(prefix="predict-speed-"))
    try:
        fp32, int8 = work / "fp32.onnx", work / "int8.onnx"
        export_onnx(loaded.model, fp32, size, "logits", metadata_for(loaded, size, "logits"))
        saved = export_savedmodel(loaded.model, work / "savedmodel", size, "logits")
        arrays = np.stack([resize_image(read_image(s.image), size) for s in samples])
        check_parity(loaded.model, arrays[:4], "logits", onnx_path=fp32, savedmodel_path=saved)
        calibration = np.stack([resize_image(read_image(s.image), size)
                                for s in dataset.samples(stems=train[-args.calibration_images:], labeled=False)])
        quantize_int8(fp32, int8, calibration)

        folder = work / "images"
        folder.mkdir()
        for sample in samples:
            (folder / sample.image.name).symlink_to(sample.image.resolve())
        keras_predict = lambda x: loaded.model.predict(x.astype(np.float32), batch_size=args.batch_size, verbose=0)
        engines = {
            "keras": keras_predict,
            "savedmodel": load_savedmodel_fn(saved), "ort": onnx_runner(fp32), "ort_int8": onnx_runner(int8),
        }
        # cli: the default (two streams); *_streams1: one stream with all cores
        clis = {"cli": (fp32, None), "cli_streams1": (fp32, 1), "cli_int8": (int8, None),
                "cli_int8_streams1": (int8, 1)}
        samples_per_s = {key: [] for key in [*engines, "keras_one_call", *clis]}
        walls = {}
        for _ in range(args.rounds):  # interleaved rounds: a slow spell of the machine hits every path alike
            for key, run in engines.items():
                samples_per_s[key].append(images_per_s(run, arrays, args.batch_size))
            # Keras again with one predict call over all images (its per-call set-up paid once)
            samples_per_s["keras_one_call"].append(images_per_s(keras_predict, arrays, len(arrays)))
            for key, (model, streams) in clis.items():
                shutil.rmtree(work / key, ignore_errors=True)
                walls[key] = run_cli(["predict", "--model", str(model), str(folder), "--out", str(work / key),
                                      "--batch-size", str(args.batch_size), "--quiet"]
                                     + (["--streams", str(streams)] if streams else []))
                samples_per_s[key].append(json.loads((work / key / "summary.json").read_text())["images_per_s"])
        speed = {key: float(np.median(values)) for key, values in samples_per_s.items()}
        miou_stems = val[:args.miou_images] if args.miou_images else val
        quality = {"fp32": onnx_miou(fp32, dataset, miou_stems, size),
                   "int8": onnx_miou(int8, dataset, miou_stems, size)}
        miou_fp32, miou_int8 = quality["fp32"]["miou"], quality["int8"]["miou"]

        tile_model = export_onnx(loaded.model, work / "tile.onnx", (args.tile, args.tile), "logits",
                                 metadata_for(loaded, (args.tile, args.tile), "logits"))
        from PIL import Image

        big = resize_image(read_image(samples[0].image), (args.tiled_size, args.tiled_size))
        Image.fromarray(big).save(work / "big.png")
        peak = peak_rss_mb(["predict", "--model", str(tile_model), str(work / "big.png"), "--out",
                            str(work / "tiled"), "--tile", str(args.tile), "--overlap", "64", "--quiet"])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    result = {
        "task": "predict-speed", "dataset": "camvid", "split": "val+train images for speed, val for mIoU",
        "model": str(args.model), "input_size": list(size), "batch_size": args.batch_size, "images": len(samples),
        "images_per_s": {k: round(v, 2) for k, v in speed.items()},
        "rounds": args.rounds,
        "images_per_s_each_round": {k: [round(v, 2) for v in vs] for k, vs in samples_per_s.items()},
        "cli_streams1_vs_ort": round(speed["cli_streams1"] / speed["ort"], 3),
        "cli_vs_keras": round(speed["cli"] / speed["keras"], 3),
        "cli_vs_keras_one_call": round(speed["cli"] / speed["keras_one_call"], 3),
        "cli_vs_ort": round(speed["cli"] / speed["ort"], 3),
        "int8_speedup": round(speed["ort_int8"] / speed["ort"], 3),
        "miou_fp32": miou_fp32, "miou_int8": miou_int8, "miou_images": len(miou_stems),
        "miou_fp32_in_graph_ids": quality["fp32"]["miou_in_graph"],
        "in_graph_ids_agreement": round(quality["fp32"]["agreement"], 5),
        "int8_miou_drop": round(100 * (miou_fp32 - miou_int8), 3),  # mIoU points
        "tiled_4000_peak_mb": round(peak, 1), "tiled_image_size": args.tiled_size, "tile": args.tile,
        "cli_int8_vs_keras": round(speed["cli_int8"] / speed["keras"], 3),
        "cli_wall_s_including_startup": round(walls["cli"], 2),
        "notes": "medians of interleaved rounds; engines timed on pre-decoded arrays at the input size; "
                 "cli = summary.json images/s of `semiseg-tf predict` (decode + resize + infer + in-graph "
                 "resize of the 1/4-size logits to 360x480 and argmax + PNG encode, after the session is created), "
                 "default --streams 2 (two batches in flight, one onnxruntime thread each); *_streams1 = one "
                 "stream on all cores; "
                 "cli_int8 = the same on the int8 model; keras = model.predict per batch, keras_one_call = one "
                 "model.predict over all images (batch_size the same); int8 = static QDQ per-channel, "
                 "calibrated on the last train images",
    }
    write_result(args.name, result, required=("task", "dataset", "model", "images_per_s", "command", "date"))
    print(json.dumps({k: result[k] for k in ("images_per_s", "cli_vs_keras", "cli_vs_ort", "cli_streams1_vs_ort",
                                             "int8_speedup",
                                             "int8_miou_drop", "tiled_4000_peak_mb")}, indent=1))


if __name__ == "__main__":
    main()
