"""Batch inference over many files: decode, infer and encode overlap in threads with bounded queues.

    decoder threads --(decoded)--> batching (this thread) --(batches)--> inference streams --(results)--> writers

All queues are bounded. Several inference streams keep batches in flight at once, each on
a share of the cores: onnxruntime's intra-op threads wait for each other at every operator,
so when a decoder or writer thread takes a core from one of them, a single stream stalls,
while two one-thread streams lose only that thread's time (docs/2026-11-25-predict-speed.md has the A/B).

A corrupt image is reported and skipped; it never stops the batch. Every output is
written atomically, so an interrupted job leaves only whole files and `skip_existing`
resumes it. The summary counts processed, skipped and failed images; its images/s (also
the progress bar's) is SPEED_DEFINITION.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from semiseg_tf.data.classes import default_palette
from semiseg_tf.data.dataset import find_images
from semiseg_tf.data.errors import DataError
from semiseg_tf.data.imageio import IMAGE_SUFFIXES, read_image, read_image_at_least
from semiseg_tf.inference.outputs import KINDS, needs_probs, output_paths, write_outputs
from semiseg_tf.inference.postprocess import finish_whole, prepare_whole
from semiseg_tf.inference.tiling import predict_tiled

_DONE = object()


@dataclass
class PredictOptions:
    """Options of `semiseg-tf predict` that shape the job (the model is chosen separately)."""

    out: Path
    batch_size: int = 8
    tile: tuple[int, int] | None = None
    overlap: int = 64
    save: tuple[str, ...] = ("mask",)
    skip_existing: bool = False
    decode_workers: int = 2
    write_workers: int = 2
    queue_size: int = 16
    streams: int = 2  # batches in inference at once (see the module docstring)
    shard: tuple[int, int] | None = None  # (i, n): this job's share of the inputs, for fan-out

    @property
    def inference_streams(self) -> int:
        """Streams that really run: tiles of one image are batched together, so tiling uses one."""
        return 1 if self.tile else max(1, self.streams)

    def __post_init__(self):
        self.out = Path(self.out)
        unknown = sorted(set(self.save) - set(KINDS))
        if unknown or not self.save:
            raise ValueError(f"--save {','.join(self.save)}: valid outputs are {list(KINDS)}")


def shard_of(files: list[Path], shard: tuple[int, int] | None) -> list[Path]:
    """Shard i of n (0-based): every n-th file from the i-th, in the collected order (folders sorted), so
    n jobs given the same inputs are disjoint, cover them all and differ by at most one file."""
    if shard is None:
        return files
    index, count = shard
    if not 0 <= index < count:
        raise ValueError(f"--shard {index}/{count}: need 0 <= I < N, e.g. 0/4 .. 3/4.")
    return files[index::count]


def collect_inputs(inputs) -> list[Path]:
    """Files and folders (their images, not recursive) in the order given."""
    files = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files += find_images(path)
        elif path.suffix.lower() in IMAGE_SUFFIXES or path.exists():
            files.append(path)  # a missing or corrupt file is reported per file, not here
        else:
            raise DataError(path, "is neither an image file nor a folder.", "pass image files or folders.")
    if not files:
        raise DataError("INPUTS", "no images given.", "pass image files or folders.")
    return files


SPEED_DEFINITION = ("images written / wall-clock seconds from the first image read to the last output "
                    "written (decode, inference and encode included; model loading and export not)")


class Throughput:
    """The one images/s figure predict reports, on its progress bar and in its summary (SPEED_DEFINITION)."""

    def __init__(self):
        self.first_read: float | None = None
        self.last_write: float | None = None
        self.written = 0
        self._lock = threading.Lock()

    def read_started(self) -> None:
        with self._lock:
            if self.first_read is None:
                self.first_read = time.perf_counter()

    def image_written(self) -> None:
        with self._lock:
            self.written += 1
            self.last_write = time.perf_counter()

    def seconds(self, now: float | None = None) -> float:
        """From the first read to `now` (default: to the last write)."""
        if self.first_read is None:
            return 0.0
        end = now if now is not None else (self.last_write or self.first_read)
        return max(end - self.first_read, 0.0)

    def images_per_s(self, now: float | None = None) -> float:
        seconds = self.seconds(now)
        return self.written / seconds if self.written and seconds > 0 else 0.0


class Progress:
    """A one-line bar on stderr, redrawn at most 5 times a second; its rate is `throughput`'s so far."""

    def __init__(self, total: int, throughput: Throughput, enabled: bool = True, stream=None):
        self.total, self.throughput, self.enabled = total, throughput, enabled
        self.stream = stream or sys.stderr
        self.count, self._drawn = 0, 0.0
        self._lock = threading.Lock()

    def advance(self) -> None:
        with self._lock:
            self.count += 1
            now = time.perf_counter()
            if now - self._drawn > 0.2 or self.count == self.total:
                self._drawn = now
                self._draw(self.throughput.images_per_s(now))

    def _draw(self, rate: float) -> None:
        if self.enabled:
            filled = int(30 * self.count / max(self.total, 1))
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.count}/{self.total} "
                              f"{rate:.1f} images/s")
            self.stream.flush()

    def close(self, images_per_s: float) -> None:
        """The last redraw shows the summary's figure, so the bar and the summary agree."""
        with self._lock:
            self._draw(images_per_s)
            if self.enabled:
                self.stream.write("\n")


@dataclass
class Summary:
    processed: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list = field(default_factory=list)
    seconds: float = 0.0
    images_per_s: float = 0.0


def run_predict(runner, inputs, options: PredictOptions, progress: bool = True) -> dict:
    """Predict every input with `runner`, write outputs under `options.out`, return the summary."""
    files = shard_of(collect_inputs(inputs), options.shard)
    if options.tile and runner.input_size and tuple(runner.input_size) != tuple(options.tile):
        raise DataError(runner.source, f"has a fixed input of {runner.input_size[0]}x{runner.input_size[1]}, "
                        f"not the tile {options.tile[0]}x{options.tile[1]}.",
                        "use --tile HxW equal to the model input, or export with --input-size/--dynamic-size.")
    if (options.tile or needs_probs(options.save)) and runner.output == "ids":
        raise DataError(runner.source, "outputs class ids only; tiling, probabilities and maps need logits.",
                        "export with --output logits (or probs).")
    options.out.mkdir(parents=True, exist_ok=True)
    summary, lock, throughput = Summary(), threading.Lock(), Throughput()
    bar = Progress(len(files), throughput, progress)
    decoded: queue.Queue = queue.Queue(options.queue_size)
    results: queue.Queue = queue.Queue(options.queue_size)
    todo: queue.Queue = queue.Queue()
    seen: dict[str, Path] = {}

    def fail(path: Path, error: Exception) -> None:
        with lock:
            summary.failed += 1
            summary.failures.append({"file": str(path), "error": str(error)})
        bar.advance()

    for path in files:  # decide skips and name clashes before any work
        paths = output_paths(options.out, path.stem, options.save)
        if path.stem in seen:
            fail(path, DataError(path, f"writes the same outputs as {seen[path.stem]}.", "rename one of them."))
        elif options.skip_existing and all(p.is_file() for p in paths.values()):
            summary.skipped += 1
            bar.advance()
        else:
            todo.put((path, paths))
        seen.setdefault(path.stem, path)

    # Only the model sees the image when it is resized whole and no output shows it (overlays and maps do):
    # then a large JPEG decodes at a reduced scale, and outputs still come at its native size
    reduced = not options.tile and runner.resize_to and not {"overlay", "maps"} & set(options.save)

    def decode_worker() -> None:
        while True:
            try:
                path, paths = todo.get_nowait()
            except queue.Empty:
                decoded.put(_DONE)
                return
            throughput.read_started()
            try:
                if reduced:
                    image, native = read_image_at_least(path, runner.resize_to)
                else:
                    image = read_image(path)
                    native = image.shape[:2]
                decoded.put((path, paths, image, native, None if options.tile else prepare_whole(image, runner)))
            except Exception as error:  # noqa: BLE001 - any bad file is reported, the batch goes on
                fail(path, error)

    def write_worker() -> None:
        while (item := results.get()) is not _DONE:
            path, paths, image, native, outputs, finished = item
            try:
                ids, probs = outputs if finished else finish_whole(outputs, native, runner.output, needs_probs(paths))
                palette = runner.classes.palette if runner.classes else default_palette(int(ids.max()) + 1)
                write_outputs(paths, image, ids, probs, palette, runner.classes.names if runner.classes else None)
                with lock:
                    summary.processed += 1
                throughput.image_written()
                bar.advance()
            except Exception as error:  # noqa: BLE001
                fail(path, error)

    in_graph = runner.native_ids is not None and not needs_probs(options.save) and not options.tile
    if in_graph:
        try:
            runner.native_ids.build()
        except Exception as error:  # noqa: BLE001 - a graph we cannot extend still predicts, via NumPy
            print(f"note: {runner.source}: class ids resized in NumPy ({error})", file=sys.stderr)
            in_graph = False
    threads = [threading.Thread(target=decode_worker, daemon=True) for _ in range(options.decode_workers)]
    writers = [threading.Thread(target=write_worker, daemon=True) for _ in range(options.write_workers)]
    for thread in threads + writers:
        thread.start()
    _infer_loop(runner, options, in_graph, decoded, results, len(threads), fail)
    for _ in writers:
        results.put(_DONE)
    for thread in threads + writers:
        thread.join()
    summary.seconds = round(throughput.seconds(), 3)
    summary.images_per_s = round(throughput.images_per_s(), 2)
    bar.close(summary.images_per_s)
    report = {**asdict(summary), "images_per_s_is": SPEED_DEFINITION, "model": runner.source,
              "engine": runner.engine, "inputs": len(files),
              "settings": {"batch_size": options.batch_size, **_geometry(runner, options),
                           "save": list(options.save), "streams": options.inference_streams,
                           "shard": list(options.shard) if options.shard else None}}
    (options.out / "summary.json").write_text(json.dumps(report, indent=1))
    return report


def _geometry(runner, options: PredictOptions) -> dict:
    """How images met the model: resized whole (`resize_to`, None = native size), or tiled at native
    resolution (`tile` and `overlap`; nothing is resized then, although the runner's input is the tile)."""
    if options.tile:
        return {"resize_to": None, "tile": list(options.tile), "overlap": options.overlap}
    return {"resize_to": list(runner.resize_to) if runner.resize_to else None, "tile": None, "overlap": None}


def _infer_loop(runner, options: PredictOptions, in_graph: bool, decoded: queue.Queue, results: queue.Queue,
                producers: int, fail) -> None:
    """Take decoded images, batch them (or tile them), run the model in `options.inference_streams` threads,
    and hand results to the writers.

    Whole images are batched by (model input shape, native size): with masks only, the
    runner's in-graph `native_ids` returns class ids at the native size directly, so a
    batch must share it; otherwise logits go to the writers, which resize them in NumPy.
    """
    buckets: dict[tuple, list] = {}
    batches: queue.Queue = queue.Queue(options.inference_streams)

    def run_batch(key: tuple, batch: list) -> None:
        try:
            images = np.stack([entry[4] for entry in batch])
            if in_graph:  # writer-ready (ids, probs) pairs
                predictions = [(ids, None) for ids in runner.native_ids(images, key[1])]
            else:  # raw model outputs, finished by the writers
                predictions = runner(images)
            for (path, paths, image, native, _), prediction in zip(batch, predictions):
                results.put((path, paths, image, native, prediction, in_graph))
        except Exception as error:  # noqa: BLE001 - a failed batch fails its images, not the job
            for path, *_ in batch:
                fail(path, error)

    def stream() -> None:
        while (item := batches.get()) is not _DONE:
            run_batch(*item)

    streams = [threading.Thread(target=stream, daemon=True) for _ in range(options.inference_streams)]
    for thread in streams:
        thread.start()
    finished = 0
    while finished < producers:
        item = decoded.get()
        if item is _DONE:
            finished += 1
            continue
        path, paths, image, native, model_input = item
        if options.tile:
            try:
                results.put((path, paths, image, native, predict_tiled(image, runner, options.tile, options.overlap,
                                                                        options.batch_size, needs_probs(paths)), True))
            except Exception as error:  # noqa: BLE001
                fail(path, error)
            continue
        key = (model_input.shape, native if in_graph else None)
        buckets.setdefault(key, []).append(item)
        if len(buckets[key]) == options.batch_size:
            batches.put((key, buckets.pop(key)))
    for key in list(buckets):
        batches.put((key, buckets.pop(key)))
    for _ in streams:
        batches.put(_DONE)
    for thread in streams:
        thread.join()
