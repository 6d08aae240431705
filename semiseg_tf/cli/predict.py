"""`semiseg-tf predict`: batch inference over files and folders, with onnxruntime by default."""

from __future__ import annotations

import click

from semiseg_tf.cli.options import SIZE, friendly_errors


class TileType(click.ParamType):
    """`512` (square) or `HxW`."""

    name = "N|HxW"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple) or value is None:
            return value
        if str(value).isdigit() and int(value) > 0:
            return int(value), int(value)
        return SIZE.convert(value, param, ctx)


class ShardType(click.ParamType):
    """`I/N` with 0 <= I < N."""

    name = "I/N"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple) or value is None:
            return value
        index, _, count = str(value).partition("/")
        if not (index.isdigit() and count.isdigit() and 0 <= int(index) < int(count)):
            self.fail(f"{value!r}: write I/N with 0 <= I < N, e.g. 0/4 for the first of four shares.", param, ctx)
        return int(index), int(count)


def use_zoo_root(zoo: str | None) -> None:
    """`--zoo DIR`: add a zoo root for this process, like SEMISEG_ZOO."""
    if zoo:
        import os

        os.environ["SEMISEG_ZOO"] = os.pathsep.join(filter(None, [zoo, os.environ.get("SEMISEG_ZOO")]))


@click.command("predict")
@click.option("--model", "model_ref", required=True,
              help="Zoo name (NAME or NAME@VERSION), .onnx file, .keras file or run directory.")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True)
@click.option("--providers", type=click.Choice(["auto", "tensorrt", "cuda", "cpu"]), default="auto",
              show_default=True, help="onnxruntime execution provider; auto = TensorRT, CUDA, then CPU.")
@click.option("--engine", type=click.Choice(["auto", "onnx", "keras"]), default="auto", show_default=True,
              help="Keras models: auto/onnx export once to a cached ONNX file; keras runs them in Keras.")
@click.option("--input-size", type=SIZE, default=None,
              help="Size images are resized to for Keras models (default: their training size).")
@click.option("--tile", type=TileType(), default=None,
              help="Sliding-window tiles (N or HxW) at native resolution instead of resizing.")
@click.option("--overlap", type=click.IntRange(0), default=64, show_default=True, help="Tile overlap in pixels.")
@click.option("--save", default="mask", show_default=True, help="Comma list of mask, overlay, probs, maps (heat maps of the most present classes).")
@click.option("--skip-existing", is_flag=True, help="Skip images whose outputs all exist (resume a job).")
@click.option("--streams", type=click.IntRange(1), default=2, show_default=True,
              help="Batches in inference at once, each on a share of the cores (docs/2026-11-25-predict-speed.md).")
@click.option("--threads", type=int, default=None,
              help="onnxruntime intra-op threads per stream (default: the cores divided by --streams).")
@click.option("--shard", type=ShardType(), default=None,
              help="I/N: only the I-th of N disjoint shares of the inputs (0-based), for fanning one job out.")
@click.option("--runner", type=click.Choice(["local", "beam"]), default="local", show_default=True,
              help="local: this process's threaded pipeline; beam: an Apache Beam pipeline (the `beam` extra), "
                   "DirectRunner unless --beam-options names another.")
@click.option("--beam-options", default="", metavar="'--flag=value ...'",
              help="Beam pipeline options, e.g. '--runner=DataflowRunner --project=P --region=R'.")
@click.option("--zoo", type=click.Path(file_okay=False), default=None, help="Extra zoo root (like SEMISEG_ZOO).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def command(model_ref, inputs, out, batch_size, providers, engine, input_size, tile, overlap, save,
            skip_existing, streams, threads, shard, runner, beam_options, zoo, quiet):
    """Segment images (files or folders): palette PNG masks, overlays, probabilities and a summary.json.

    Speed (progress bar, `Speed:` line and summary.json's images_per_s, one figure): images
    written / wall-clock seconds from the first image read to the last output written, so
    decoding, resizing or tiling, inference and PNG encoding count; loading the model and the
    one-off ONNX export of a Keras model do not.
    """
    from semiseg_tf.inference import PredictOptions, ProviderError, open_runner, run_predict
    from semiseg_tf.inference.providers import threads_per_stream

    use_zoo_root(zoo)
    if runner == "beam":
        return beam_command(model_ref, inputs, out, batch_size, providers, engine, input_size, tile, overlap, save,
                            skip_existing, threads, shard, beam_options)
    if beam_options:
        raise click.UsageError("--beam-options goes with --runner beam.")
    options = PredictOptions(out=out, batch_size=batch_size, tile=tile, overlap=overlap,
                             save=tuple(s.strip() for s in save.split(",") if s.strip()),
                             skip_existing=skip_existing, streams=streams, shard=shard)
    try:
        runner = open_runner(model_ref, engine, providers, tile or input_size,
                             threads_per_stream(options.inference_streams, threads))
    except ProviderError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"model {runner.source} on {runner.engine}", err=True)
    summary = run_predict(runner, inputs, options, progress=not quiet)
    report(summary, runner.engine, out, "first image read to last output written")


def report(summary: dict, engine: str, out: str, span: str) -> None:
    """The same closing lines for both runners; exit 1 when any image failed."""
    for failure in summary["failures"]:
        click.echo(f"FAILED {failure['file']}: {failure['error']}", err=True)
    click.echo(f"processed {summary['processed']}, skipped {summary['skipped']}, failed {summary['failed']} "
               f"of {summary['inputs']}")
    click.echo(f"Speed: {summary['images_per_s']:.1f} images/s on {engine} ({summary['processed']} images "
               f"written in {summary['seconds']:.2f} s, {span})")
    click.echo(f"Results saved to {out}")
    if summary["failed"]:
        raise SystemExit(1)


def beam_command(model_ref, inputs, out, batch_size, providers, engine, input_size, tile, overlap, save,
                 skip_existing, threads, shard, beam_options) -> None:
    """`--runner beam`: the same model and outputs through `semiseg_tf.inference.beam`."""
    if shard:
        raise click.UsageError("--shard splits a local job; with --runner beam the Beam runner shares out the work.")
    try:
        from semiseg_tf.inference.beam import run_beam_predict
    except ImportError as exc:
        raise click.UsageError(f"--runner beam needs Apache Beam ({exc.name} is missing): "
                               "pip install 'semiseg-tf[beam]'.") from exc
    summary = run_beam_predict(model_ref, inputs, out, save=tuple(s.strip() for s in save.split(",") if s.strip()),
                               batch_size=batch_size, engine=engine, providers=providers, input_size=input_size,
                               threads=threads, tile=tile, overlap=overlap, skip_existing=skip_existing,
                               beam_options=beam_options)
    report(summary, summary["engine"], out, "the whole Beam pipeline run")
