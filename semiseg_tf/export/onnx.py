"""ONNX export: freeze the deployment graph, convert with tf2onnx, name its ends, add metadata.

`keras.Model.export(format="onnx")` hands tf2onnx a function whose captured constant
tensors (our in-graph Normalization's mean and variance) become extra graph inputs
that no caller can feed. Freezing the concrete function first turns every capture
into a constant, and the result takes exactly one input: `image`.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import keras

from semiseg_tf.export.graph import deployment_model, input_signature
from semiseg_tf.export.metadata import write_onnx_metadata


def _frozen_graph(wrapper: keras.Model, input_size):
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    function = tf.function(lambda image: wrapper(image, training=False),
                           input_signature=input_signature(input_size))
    frozen = convert_variables_to_constants_v2(function.get_concrete_function())
    return frozen.graph.as_graph_def(), [t.name for t in frozen.inputs], [t.name for t in frozen.outputs]


def _finish(path: Path, output: str) -> None:
    """Name the ends (`image` / OUTPUT, batch axis `batch`) and fold the input scale into the first conv."""
    import onnx

    from semiseg_tf.export.fold_scale import fold_input_scale

    proto = onnx.load(str(path))
    _name_ends(proto, output)
    fold_input_scale(proto)
    onnx.save(proto, str(path))


def _name_ends(proto, output: str) -> None:
    """Rename the converter's `image:0` / `Identity:0` to `image` / OUTPUT and call the batch axis `batch`."""
    graph = proto.graph
    renames = {graph.input[0].name: "image", graph.output[0].name: output}
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    for value in (graph.input[0], graph.output[0]):
        value.name = renames[value.name]
        value.type.tensor_type.shape.dim[0].dim_param = "batch"


def export_onnx(model: keras.Model, out: str | Path, input_size: tuple[int, int] | None,
                output: str = "logits", metadata: dict | None = None, opset: int | None = None) -> Path:
    """Write `model` as ONNX (uint8 input, dynamic batch, fixed size unless `input_size` is None).

    The file appears atomically: a half-written export never sits at `out`.
    """
    import tf2onnx
    from keras.src.export.tf2onnx_lib import patch_tf2onnx  # Keras' numpy-2 fix for tf2onnx

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    graph_def, inputs, outputs = _frozen_graph(deployment_model(model, output, input_size), input_size)
    patch_tf2onnx()
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        staged = Path(tmp) / out.name
        tf2onnx.convert.from_graph_def(graph_def, input_names=inputs, output_names=outputs, opset=opset,
                                       output_path=str(staged))
        _finish(staged, output)
        if metadata is not None:
            write_onnx_metadata(staged, metadata)
        staged.replace(out)
    return out
