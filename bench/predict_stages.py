"""Where `semiseg-tf predict`'s time goes: each per-image stage timed alone, on the same images.

    python bench/predict_stages.py --model camvid-deeplabv3plus
    python bench/predict_stages.py --model my.keras --input-size 64x64 --images 16 --name predict-stages-smoke

The CLI runs JPEG decode, the resize to the model's input, the network, the in-graph resize
of logits to the native size + argmax, and the palette-PNG encode of the mask. Here each
stage runs on its own, in this process, over the same images: the host stages on one thread
(as in predict's decoder and writer threads), idle and again while another thread runs the
network on all cores (as they share the cores in predict); the network with one onnxruntime
thread (as in each of predict's two streams) and with all cores. The decode and encode that
predict used before (and its NumPy resize) are timed beside the current ones, and a large JPEG
(CamVid frames enlarged 4x) decoded whole and at a reduced DCT scale, each then resized to the input.
The sum of per-image core time says how
much of the machine the stages around the network take. Writes bench/results/<name>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image
from results_io import CAMVID, write_result

from semiseg_tf.data import SegmentationDataset, read_image
from semiseg_tf.data.imageio import read_image_at_least, write_png
from semiseg_tf.export import export_onnx
from semiseg_tf.export.metadata import metadata_for
from semiseg_tf.inference import onnx_runner
from semiseg_tf.inference.resize import resize_image
from semiseg_tf.loading import load_segmenter


def _loaded(image: Image.Image) -> Image.Image:
    """The previous decode: Pillow reads the file itself (in small chunks)."""
    image.load()
    return image


def _numpy_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The previous resize: TensorFlow's bilinear convention in float32 NumPy, rounded to uint8."""
    def taps(size_in: int, size_out: int):
        source = np.clip((np.arange(size_out) + 0.5) * (size_in / size_out) - 0.5, 0, size_in - 1)
        lower = np.floor(source).astype(np.int64)
        return lower, np.minimum(lower + 1, size_in - 1), (source - lower).astype(np.float32)

    (y0, y1, fy), (x0, x1, fx) = taps(image.shape[0], size[0]), taps(image.shape[1], size[1])
    rows = np.take(image, y0, axis=0).astype(np.float32) * (1 - fy)[:, None, None]
    rows += np.take(image, y1, axis=0).astype(np.float32) * fy[:, None, None]
    out = np.take(rows, x0, axis=1) * (1 - fx)[None, :, None] + np.take(rows, x1, axis=1) * fx[None, :, None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _palette_png(mask: np.ndarray, palette) -> Image.Image:
    """The mask as a palette image, for the previous encode (zlib level 1, default strategy)."""
    image = Image.fromarray(mask)
    image.putpalette([v for colour in palette for v in colour])
    return image


@contextlib.contextmanager
def busy(run):
    """Call `run` in a loop on another thread while the block runs (onnxruntime releases the GIL)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            run()

    worker = threading.Thread(target=loop, daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join()


def ms_per_item(tasks: dict, rounds: int = 5) -> dict[str, float]:
    """{name: median over interleaved `rounds` of the mean ms per item of `run(item)` over `items`}
    for tasks {name: (run, items, items per call)}, each warmed up first; interleaved so that a slow
    spell of the machine hits every stage alike."""
    times = {name: [] for name in tasks}
    for run, items, _ in tasks.values():
        run(items[0])
    for _ in range(rounds):
        for name, (run, items, per_call) in tasks.items():
            started = time.perf_counter()
            for item in items:
                run(item)
            times[name].append((time.perf_counter() - started) * 1000 / (len(items) * per_call))
    return {name: float(np.median(values)) for name, values in times.items()}


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
        host_tasks = {
            "decode": (read_image, paths, 1),
            "resize_in": (lambda image: resize_image(image, size), images, 1),
            "encode_mask_png": (lambda mask: write_png(work / "mask.png", mask, palette), list(ids), 1),
            # what read_image, resize_image and write_png replaced, timed beside them
            "decode_pillow_reads_the_file": (lambda p: np.asarray(_loaded(Image.open(p)).convert("RGB")), paths, 1),
            "resize_in_numpy": (lambda image: _numpy_resize(image, size), images, 1),
            "encode_mask_png_default_zlib_strategy": (
                lambda mask: _palette_png(mask, palette).save(work / "mask.png", format="PNG", compress_level=1),
                list(ids), 1),
        }
        # a large photo: the first frames enlarged 4x (bilinear) and saved as JPEG, decoded whole or at a
        # reduced DCT scale (what predict does when only the model sees the image), then resized to the input
        large = []
        for index, image in enumerate(images[:16]):
            large.append(work / f"large{index}.jpg")
            Image.fromarray(image).resize((image.shape[1] * 4, image.shape[0] * 4), Image.BILINEAR).save(
                large[-1], quality=90)
        large_jpeg = ms_per_item({
            "decode_whole_and_resize": (lambda p: resize_image(read_image(p), size), large, 1),
            "decode_reduced_and_resize": (lambda p: resize_image(read_image_at_least(p, size)[0], size), large, 1),
        })
        host = ms_per_item(host_tasks)
        with busy(lambda: every.native_ids(batches[0], native)):  # as in predict: inference on every core
            beside_inference = ms_per_item(host_tasks)
        stages = {k: v for k, v in host.items() if k in ("decode", "resize_in", "encode_mask_png")}
        alternatives = {k: v for k, v in host.items() if k not in stages}
        network = ms_per_item({
            f"{kind}_{threads}": ((lambda b, r=runner: r(b)) if kind == "logits" else
                                  (lambda b, r=runner: r.native_ids(b, native)), batches, args.batch_size)
            for threads, runner in (("1_thread", one), ("all_cores", every)) for kind in ("logits", "native_ids")
        }, rounds=3)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    host_ms = sum(stages.values())
    resize_argmax = network["native_ids_1_thread"] - network["logits_1_thread"]
    result = {
        "task": "predict-stages", "dataset": "camvid", "split": "val+train images (timing only)",
        "model": str(args.model), "input_size": list(size),
        "native_size": list(native), "batch_size": args.batch_size, "images": len(paths),
        "ms_per_image": {k: round(v, 2) for k, v in {**stages, **network}.items()},
        "replaced_ms_per_image": {k: round(v, 2) for k, v in alternatives.items()},
        "host_ms_per_image_beside_inference": {k: round(v, 2) for k, v in beside_inference.items()},
        "large_jpeg_size": [native[0] * 4, native[1] * 4],
        "large_jpeg_ms_per_image": {k: round(v, 2) for k, v in large_jpeg.items()},
        "host_stages_core_ms": round(host_ms, 2),
        "in_graph_resize_argmax_core_ms": round(resize_argmax, 2),
        "host_share_of_core_time": round(host_ms / (host_ms + network["native_ids_1_thread"]), 3),
        "notes": "host stages on one thread; network per image in batches of batch_size with one onnxruntime "
                 "thread (what each of predict's two streams uses) and with all cores; in-graph resize+argmax = "
                 "native_ids - logits on one thread; medians of 5 interleaved passes (network: 3); "
                 "host_ms_per_image_beside_inference = the host stages again while a thread runs the network on "
                 "all cores, as in predict; replaced_* = the previous decode (Pillow opening the file itself, "
                 "convert('RGB')), resize (NumPy, float32) and mask encode (zlib level 1, default strategy)",
    }
    write_result(args.name, result, required=("task", "dataset", "model", "ms_per_image", "command", "date"))
    print({k: result[k] for k in ("ms_per_image", "replaced_ms_per_image", "host_ms_per_image_beside_inference",
                                  "large_jpeg_ms_per_image",
                                  "host_stages_core_ms",
                                  "in_graph_resize_argmax_core_ms", "host_share_of_core_time")})


if __name__ == "__main__":
    main()
