"""int8 static quantisation (onnxruntime, QDQ, per-channel) calibrated on a folder of images.

Dynamic quantisation made conv nets 3.6x slower on CPU (NOTES-keras-onnx.md); static
QDQ with calibration is the variant that speeds them up. Quality is reported as class
agreement with the fp32 model on the calibration images.

The output tail (the final upsampling of the logits, the layout Transpose, a softmax or
argmax) stays in float: quantised, it holds the logits to 256 levels where classes are
decided, and its Q/DQ pairs hide the final Resize from predict's in-graph
resize-to-native-size rewrite (`inference/native_ids.py`), which then resizes twice.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from semiseg_tf.export.metadata import read_onnx_metadata, write_onnx_metadata


def calibration_images(folder: str | Path, input_size: tuple[int, int], limit: int = 64) -> np.ndarray:
    """Up to `limit` images of `folder`, resized to the model's input size (uint8 NHWC)."""
    from semiseg_tf.data import find_images, read_image
    from semiseg_tf.inference.resize import resize_image

    return np.stack([resize_image(read_image(p), input_size) for p in find_images(folder)[:limit]])


def _reader(images: np.ndarray, input_name: str):
    from onnxruntime.quantization import CalibrationDataReader

    class ImageReader(CalibrationDataReader):
        """Feeds calibration images one at a time."""

        def __init__(self):
            self._batches = iter([{input_name: image[None]} for image in images])

        def get_next(self):
            return next(self._batches, None)

    return ImageReader()


TAIL_OPS = ("Transpose", "Resize", "Softmax", "ArgMax", "Cast")


def output_tail(model) -> list[str]:
    """Names of the nodes that end the graph in a chain of TAIL_OPS, walked back from the first output."""
    producers = {out: node for node in model.graph.node for out in node.output}
    tail, node = [], producers.get(model.graph.output[0].name)
    while node is not None and node.op_type in TAIL_OPS and node.name:
        tail.append(node.name)
        node = producers.get(node.input[0])
    return tail


def quantize_int8(fp32_path: str | Path, out: str | Path, images: np.ndarray) -> Path:
    """Write an int8 QDQ copy of `fp32_path` at `out`, calibrated with min-max on `images`, its output
    tail (see the module docstring) left in float."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = Path(out)
    input_name = ort.InferenceSession(str(fp32_path), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=False)
        staged = Path(tmp) / out.name
        quantize_static(str(prepared), str(staged), _reader(images, input_name), quant_format=QuantFormat.QDQ,
                        nodes_to_exclude=output_tail(onnx.load(str(prepared))), per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
        metadata = read_onnx_metadata(fp32_path)
        if metadata:
            write_onnx_metadata(staged, {**metadata, "precision": "int8"})
        staged.replace(out)
    return out


def int8_agreement(fp32_path: str | Path, int8_path: str | Path, images: np.ndarray, output: str) -> dict:
    """How closely the int8 model follows fp32 on `images` (class agreement, max abs diff)."""
    from semiseg_tf.export.parity import compare, onnx_fn

    return compare(onnx_fn(fp32_path)(images), onnx_fn(int8_path)(images), output)
