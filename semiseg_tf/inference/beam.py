"""Batch inference as an Apache Beam pipeline, for jobs that outgrow one machine.

    image paths (folders, globs, list files) -> decode  --(corrupt, missing)--> failures.jsonl
        -> RunInference (batched; the onnxruntime session `predict` uses) -> encode and write outputs

The model, resizing, tiling and PNG encoding are `semiseg-tf predict`'s own, so the masks are the
same; the runner is Beam's: the DirectRunner here, Dataflow, Flink or Spark in production (pass their
pipeline options). Paths go through Beam's FileSystems, so gs:// or s3:// inputs and outputs work where
the matching Beam extra is installed. Every output is written under a temporary name and renamed.
Needs the `beam` extra (`pip install "semiseg-tf[beam]"`).
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path, PurePosixPath

import apache_beam as beam
import numpy as np
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult, RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from semiseg_tf.data.classes import default_palette
from semiseg_tf.data.imageio import IMAGE_SUFFIXES, decode_image
from semiseg_tf.inference.outputs import LAYOUT, encode_outputs, needs_probs
from semiseg_tf.inference.postprocess import finish_whole, prepare_whole
from semiseg_tf.inference.runners import Runner, open_runner
from semiseg_tf.inference.tiling import predict_tiled

NAMESPACE = "semiseg_tf.predict"
FAILED = "failed"
BEAM_SPEED_DEFINITION = ("images written / wall-clock seconds of the whole pipeline run (start-up, model "
                         "loading on the workers, decode, inference and encode included)")


class SegmentationModelHandler(ModelHandler):
    """RunInference's view of a semiseg-tf model: each worker opens it with `open_runner` (an ONNX
    file, zoo name, .keras file or run directory); a batch of RGB uint8 images of any sizes gives
    (class ids, probabilities or None) per image at its native size."""

    def __init__(self, model_ref: str, engine: str = "auto", providers: str = "auto",
                 input_size: tuple[int, int] | None = None, threads: int | None = None, batch_size: int = 8,
                 tile: tuple[int, int] | None = None, overlap: int = 64, with_probs: bool = False):
        super().__init__()
        self._open = (str(model_ref), engine, providers, input_size, threads)
        self._batch_size, self._tile, self._overlap, self._with_probs = batch_size, tile, overlap, with_probs

    def load_model(self) -> Runner:
        return open_runner(*self._open)

    def run_inference(self, batch, model: Runner, inference_args=None):
        if self._tile:
            return [PredictionResult(image, predict_tiled(image, model, self._tile, self._overlap,
                                                          self._batch_size, self._with_probs)) for image in batch]
        inputs = [prepare_whole(image, model) for image in batch]
        in_graph = model.native_ids is not None and not self._with_probs  # as predict: ids resized in onnxruntime
        outputs: list = [None] * len(batch)
        groups: dict[tuple, list[int]] = {}
        for index, array in enumerate(inputs):  # by model input (a free-size model) and, in-graph, native size
            groups.setdefault((array.shape, batch[index].shape[:2] if in_graph else None), []).append(index)
        for (_, native), indices in groups.items():
            stacked = np.stack([inputs[i] for i in indices])
            if in_graph:
                predictions = [(ids, None) for ids in model.native_ids(stacked, native)]
            else:
                predictions = [finish_whole(p, batch[i].shape[:2], model.output, self._with_probs)
                               for i, p in zip(indices, model(stacked))]
            for index, prediction in zip(indices, predictions):
                outputs[index] = prediction
        return [PredictionResult(image, output) for image, output in zip(batch, outputs)]

    def batch_elements_kwargs(self) -> dict:
        return {"min_batch_size": 1, "max_batch_size": self._batch_size}


def stem_of(path: str) -> str:
    return PurePosixPath(path.replace("\\", "/")).stem


def output_files(out: str, stem: str, save: tuple[str, ...]) -> dict[str, str]:
    """predict's layout (outputs.LAYOUT) under `out`, on any Beam file system."""
    return {kind: FileSystems.join(out, *LAYOUT[kind].format(stem=stem).split("/")) for kind in save}


def write_file(path: str, data: bytes) -> None:
    """Write under `<path>.part`, then rename, so an interrupted job leaves only whole files."""
    tmp = path + ".part"
    with FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        handle.write(data)
    FileSystems.rename([tmp], [path])


def failure(path: str, error: Exception) -> beam.pvalue.TaggedOutput:
    Metrics.counter(NAMESPACE, "failed").inc()
    return beam.pvalue.TaggedOutput(FAILED, {"file": path, "error": str(error)})


class UniqueStems(beam.DoFn):
    """Two inputs named alike would write the same outputs: the first (sorted) is kept, the others fail."""

    def process(self, element):
        stem, paths = element
        first, *others = sorted(paths)
        yield first
        for path in others:
            yield failure(path, ValueError(f"writes the same outputs as {first}; rename one of them."))


class Decode(beam.DoFn):
    """Path -> (path, RGB uint8 image); finished images are skipped with `skip_existing`."""

    def __init__(self, out: str, save: tuple[str, ...], skip_existing: bool):
        self.out, self.save, self.skip_existing = out, save, skip_existing

    def process(self, path: str):
        files = output_files(self.out, stem_of(path), self.save)
        if self.skip_existing and all(FileSystems.exists(f) for f in files.values()):
            Metrics.counter(NAMESPACE, "skipped").inc()
            return
        try:
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
                image = decode_image(handle.read(), path)
        except Exception as error:  # noqa: BLE001 - a bad file goes to the failures, the job goes on
            yield failure(path, error)
            return
        yield path, image  # outside the try: an error downstream is not this file's


class Write(beam.DoFn):
    """(path, PredictionResult) -> the requested outputs, the mask last."""

    def __init__(self, out: str, save: tuple[str, ...], palette: list | None, names: list[str] | None):
        self.out, self.save, self.palette, self.names = out, save, palette, names

    def process(self, element):
        path, result = element
        ids, probs = result.inference
        try:
            files = output_files(self.out, stem_of(path), self.save)
            palette = self.palette or default_palette(int(ids.max()) + 1)
            for kind, data in encode_outputs(self.save, result.example, ids, probs, palette, self.names).items():
                write_file(files[kind], data)
            Metrics.counter(NAMESPACE, "processed").inc()
        except Exception as error:  # noqa: BLE001
            yield failure(path, error)


def failed_inference(element) -> dict:
    """RunInference's dead letter: (the keyed batch or element, the exception)."""
    batch, error = element
    keyed = batch if isinstance(batch, list) else [batch]
    Metrics.counter(NAMESPACE, "failed").inc(len(keyed))
    return [{"file": path, "error": str(error)} for path, _ in keyed]


def split_inputs(inputs) -> tuple[list[str], list[str]]:
    """(file patterns, list files): a folder becomes `folder/*`, a `.txt` file lists one path a line,
    anything else is a file or glob (Beam's match syntax)."""
    patterns, lists = [], []
    for item in map(str, inputs):
        if item.endswith(".txt"):
            lists.append(item)
        elif item.endswith("/") or Path(item).is_dir():
            patterns.append(FileSystems.join(item.rstrip("/"), "*"))
        else:
            patterns.append(item)
    return patterns, lists


def build_pipeline(pipeline: beam.Pipeline, inputs, out: str, handler: SegmentationModelHandler,
                   save: tuple[str, ...], palette, names, skip_existing: bool = False) -> None:
    patterns, lists = split_inputs(inputs)
    matched = (pipeline | "Patterns" >> beam.Create(patterns)
               | "Match" >> fileio.MatchAll()
               | "Paths" >> beam.Map(lambda metadata: metadata.path)
               | "Images" >> beam.Filter(lambda path: PurePosixPath(path).suffix.lower() in IMAGE_SUFFIXES))
    listed = (pipeline | "Lists" >> beam.Create(lists)
              | "ReadLists" >> beam.io.ReadAllFromText()
              | "Lines" >> beam.Map(str.strip) | "NotEmpty" >> beam.Filter(bool))
    unique = ((matched, listed) | "AllPaths" >> beam.Flatten()
              | "ByStem" >> beam.GroupBy(stem_of)
              | "UniqueStems" >> beam.ParDo(UniqueStems()).with_outputs(FAILED, main="paths"))
    decoded = unique.paths | "Decode" >> beam.ParDo(Decode(out, save, skip_existing)).with_outputs(FAILED,
                                                                                                  main="images")
    predicted, other = decoded.images | "Infer" >> RunInference(KeyedModelHandler(handler)).with_exception_handling()
    written = predicted | "Write" >> beam.ParDo(Write(out, save, palette, names)).with_outputs(FAILED, main="done")
    inference_failures = other.failed_inferences | "InferenceFailures" >> beam.FlatMap(failed_inference)
    ((unique.failed, decoded.failed, inference_failures, written.failed) | "Failures" >> beam.Flatten()
     | "Json" >> beam.Map(json.dumps)
     | "WriteFailures" >> beam.io.WriteToText(FileSystems.join(out, "failures"), file_name_suffix=".jsonl",
                                              shard_name_template=""))


def run_beam_predict(model_ref: str, inputs, out: str, *, save=("mask",), batch_size: int = 8,
                     engine: str = "auto", providers: str = "auto", input_size=None, threads: int | None = None,
                     tile=None, overlap: int = 64, skip_existing: bool = False, beam_options: str = "") -> dict:
    """Run the pipeline to the end and return predict's summary (processed, skipped, failed, failures,
    images/s as BEAM_SPEED_DEFINITION), also written to `<out>/summary.json`."""
    probe = open_runner(model_ref, engine, providers, tile or input_size, threads)  # fail here, not on a worker
    classes = probe.classes
    handler = SegmentationModelHandler(model_ref, engine, providers, tile or input_size, threads, batch_size,
                                       tile, overlap, needs_probs(save))
    options = PipelineOptions(shlex.split(beam_options))
    started = time.perf_counter()
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, inputs, out, handler, tuple(save), classes.palette if classes else None,
                   classes.names if classes else None, skip_existing)
    result = pipeline.run()
    result.wait_until_finish()
    seconds = time.perf_counter() - started
    counters = {c.key.metric.name: c.committed for c in
                result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]}
    with FileSystems.open(FileSystems.join(out, "failures.jsonl")) as handle:
        failures = [json.loads(line) for line in handle.read().decode().splitlines() if line.strip()]
    processed = counters.get("processed", 0)
    summary = {"processed": processed, "skipped": counters.get("skipped", 0), "failed": len(failures),
               "failures": failures, "seconds": round(seconds, 3),
               "images_per_s": round(processed / seconds, 2) if processed else 0.0,
               "images_per_s_is": BEAM_SPEED_DEFINITION, "model": str(model_ref), "engine": probe.engine,
               "runner": options.get_all_options().get("runner") or "DirectRunner",
               "inputs": processed + counters.get("skipped", 0) + len(failures),
               "settings": {"batch_size": batch_size, "save": list(save), "tile": list(tile) if tile else None,
                            "overlap": overlap if tile else None, "beam_options": beam_options}}
    write_file(FileSystems.join(out, "summary.json"), json.dumps(summary, indent=1).encode())
    return summary
