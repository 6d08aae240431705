"""Where `semiseg-tf predict`'s time goes: each per-image stage timed alone, on the same images.

    python bench/predict_stages.py --model camvid-deeplabv3plus
    python bench/predict_stages.py --model my.keras --input-size 64x64 --images 16 --name predict-stages-smoke

The CLI runs JPEG decode, the resize to the model's input, the network, the in-graph resize
of logits to the native size + argmax, and the palette-PNG encode of the mask. Here each
stage runs on its own, in this process, over the same images: the host stages on one thread
(as in predict's decoder and writer threads), the network with one onnxruntime thread (as in
each of predict's two streams) and with all cores. The sum of per-image core time says how
much of the machine the stages around the network take. Writes bench/results/<name>.json.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from results_io import write_result

from semiseg_tf.data import SegmentationDataset, read_image
from semiseg_tf.data.imageio import write_png
from semiseg_tf.export import export_onnx
from semiseg_tf.export.metadata import metadata_for
from semiseg_tf.inference import onnx_runner
from semiseg_tf.inference.resize import resize_image
from semiseg_tf.loading import load_segmenter

CAMVID = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "camvid"


def ms_per_item(run, items, per_call: int = 1, rounds: int = 3) -> float:
    """Median over `rounds` of the mean milliseconds per item of `run(item)` over `items` (after a warm-up)."""
    run(items[0])
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for item in items:
            run(item)
        times.append((time.perf_counter() - started) * 1000 / (len(items) * per_call))
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="camvid-deeplabv3plus", help="Zoo name, run directory or .keras file.")
    parser.add_argument("--data", default=str(CAMVID))
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--input-size", default=None, help="HxW (default: the model's training size).")
    parser.add_argument("--name", default="predict-stages")
    args = parser.parse_args()

    loaded = load_segmenter(args.model)
    size = tuple(int(v) for v in args.input_size.lower().split("x")) if args.input_size else loaded.input_size
    dataset = SegmentationDataset(args.data)
    samples = dataset.samples(stems=(dataset.stems("val") + dataset.stems("train"))[:args.images], labeled=False)
    paths = [s.image for s in samples]
    work = Path(tempfile.mkdtemp(prefix="predict-stages-"))
    try:
        model = export_onnx(loaded.model, work / "fp32.onnx", size, "logits", metadata_for(loaded, size, "logits"))
        images = [read_image(p) for p in paths]
        native = images[0].shape[:2]
        inputs = [resize_image(image, size) for image in images]
        batches = [np.stack(inputs[i:i + args.batch_size]) for i in range(0, len(inputs), args.batch_size)]
        batches = [b for b in batches if len(b) == args.batch_size]
        one, every = onnx_runner(model, threads=1), onnx_runner(model)
        ids = every.native_ids(batches[0], native)
        palette = loaded.classes.palette
        stages = {
            "decode": ms_per_item(read_image, paths),
            "resize_in": ms_per_item(lambda image: resize_image(image, size), images),
            "encode_mask_png": ms_per_item(lambda mask: write_png(work / "mask.png", mask, palette), list(ids)),
        }
        network = {}
        for threads, runner in (("1_thread", one), ("all_cores", every)):
            network[f"logits_{threads}"] = ms_per_item(runner, batches, args.batch_size)
            network[f"native_ids_{threads}"] = ms_per_item(lambda b, r=runner: r.native_ids(b, native), batches,
                                                           args.batch_size)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    host = sum(stages.values())
    resize_argmax = network["native_ids_1_thread"] - network["logits_1_thread"]
    result = {
        "task": "predict-stages", "dataset": "camvid", "model": str(args.model), "input_size": list(size),
        "native_size": list(native), "batch_size": args.batch_size, "images": len(paths),
        "ms_per_image": {k: round(v, 2) for k, v in {**stages, **network}.items()},
        "host_stages_core_ms": round(host, 2),
        "in_graph_resize_argmax_core_ms": round(resize_argmax, 2),
        "host_share_of_core_time": round(host / (host + network["native_ids_1_thread"]), 3),
        "notes": "host stages on one thread; network per image in batches of batch_size with one onnxruntime "
                 "thread (what each of predict's two streams uses) and with all cores; in-graph resize+argmax = "
                 "native_ids - logits on one thread; medians of 3 passes",
    }
    write_result(args.name, result, required=("task", "dataset", "model", "ms_per_image", "command", "date"))
    print({k: result[k] for k in ("ms_per_image", "host_stages_core_ms", "in_graph_resize_argmax_core_ms",
                                  "host_share_of_core_time")})


if __name__ == "__main__":
    main()
