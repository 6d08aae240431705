"""`semiseg-tf export`: ONNX or SavedModel with uint8 input, metadata, a parity check and optional int8."""

from __future__ import annotations

import click

from semiseg_tf.cli.options import SIZE, friendly_errors
from semiseg_tf.cli.predict import use_zoo_root


@click.command("export")
@click.argument("model_ref", metavar="MODEL")
@click.option("--format", "fmt", type=click.Choice(["onnx", "savedmodel"]), default="onnx", show_default=True)
@click.option("--out", type=click.Path(), required=True, help="ONNX file, or SavedModel folder.")
@click.option("--output", type=click.Choice(["logits", "probs", "ids"]), default="logits", show_default=True,
              help="What the graph returns: float logits, softmax probabilities or uint8 class ids.")
@click.option("--input-size", type=SIZE, default=None, help="Fixed input HxW (default: the training size).")
@click.option("--dynamic-size", is_flag=True, help="Any height and width (about 2.5x slower in onnxruntime on CPU).")
@click.option("--opset", type=int, default=None, help="ONNX opset (default: tf2onnx's).")
@click.option("--int8", is_flag=True, help="Static int8 quantisation (QDQ, per channel); needs --calibration.")
@click.option("--calibration", type=click.Path(file_okay=False), default=None,
              help="Folder of images for int8 calibration (and the parity check).")
@click.option("--calibration-images", type=click.IntRange(1), default=64, show_default=True)
@click.option("--atol", type=float, default=1e-3, show_default=True, help="Parity tolerance on logits/probs.")
@click.option("--zoo", type=click.Path(file_okay=False), default=None, help="Extra zoo root (like SEMISEG_ZOO).")
@friendly_errors
def command(model_ref, fmt, out, output, input_size, dynamic_size, opset, int8, calibration, calibration_images,
            atol, zoo):
    """Export MODEL (zoo name, .keras file or run directory) for deployment, checked against Keras."""
    import tempfile
    from pathlib import Path

    from semiseg_tf.export import ParityError, check_parity, export_onnx, export_savedmodel, quantize_int8
    from semiseg_tf.export.metadata import metadata_for
    from semiseg_tf.export.parity import parity_images
    from semiseg_tf.export.quantize import calibration_images as load_calibration, int8_agreement
    from semiseg_tf.loading import load_segmenter

    if int8 and (fmt != "onnx" or not calibration):
        raise click.UsageError("--int8 needs --format onnx and --calibration DIR (a folder of typical images).")
    if int8 and output == "ids":
        raise click.UsageError("--int8 quantises a logits/probs graph; use --output logits or probs.")
    use_zoo_root(zoo)
    loaded = load_segmenter(model_ref)
    size = None if dynamic_size else (input_size or loaded.input_size)
    if size is None and not dynamic_size:
        raise click.UsageError(f"{model_ref} has no recorded input size: pass --input-size HxW or --dynamic-size.")
    check_size = size or loaded.input_size or (96, 128)
    images = parity_images(check_size, calibration)
    out = Path(out)
    try:
        if fmt == "savedmodel":
            export_savedmodel(loaded.model, out, size, output, metadata_for(loaded, size, output))
            check_parity(loaded.model, images, output, savedmodel_path=out, atol=atol, echo=click.echo)
        elif not int8:
            export_onnx(loaded.model, out, size, output, metadata_for(loaded, size, output), opset)
            check_parity(loaded.model, images, output, onnx_path=out, atol=atol, echo=click.echo)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
                fp32 = export_onnx(loaded.model, Path(tmp) / "fp32.onnx", size, output,
                                   metadata_for(loaded, size, output), opset)
                check_parity(loaded.model, images, output, onnx_path=fp32, atol=atol, echo=click.echo)
                calibration_set = load_calibration(calibration, check_size, calibration_images)
                quantize_int8(fp32, out, calibration_set)
                stats = int8_agreement(fp32, out, calibration_set, output)
            click.echo(f"int8 vs fp32 on {len(calibration_set)} calibration images: argmax agreement "
                       f"{100 * stats['argmax_agreement']:.2f} %, max abs diff {stats['max_abs_diff']:.3g}")
    except ParityError as exc:
        import shutil

        shutil.rmtree(out, ignore_errors=True) if out.is_dir() else out.unlink(missing_ok=True)
        raise click.ClickException(f"{exc}. The export was removed.") from exc
    shape = "dynamic" if size is None else f"{size[0]}x{size[1]}"
    click.echo(f"exported {fmt}{' int8' if int8 else ''} ({output}, uint8 NHWC input, batch dynamic, size {shape})")
    click.echo(f"Results saved to {out}")
