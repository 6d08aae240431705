"""Fold the input normalisation's scale into the first convolution of an exported ONNX graph.

Our segmenters normalise inside the graph, `(x - mean) * (1 / std)`, which tf2onnx emits
as a `Sub` and a `Mul` over the full-resolution input. onnxruntime runs them as separate
element-wise passes, and after int8 quantisation the `Mul` becomes a `QLinearMul` that
took 17 % of the int8 model's time (onnxruntime profile, CamVid DeepLabV3+ at 240x320).
Since `conv(W, (x - m) * s) = conv(W * s, x - m)` exactly (zero padding of `x - m` is
unchanged), the scale moves into the weights and the `Mul` disappears.
"""

from __future__ import annotations


def _consumers(graph, name: str) -> list:
    return [node for node in graph.node if name in node.input]


def fold_input_scale(proto) -> bool:
    """Rewrite `proto` in place when it has the Mul(per-channel constant) -> [Transpose] -> Conv pattern.

    Returns whether it folded; graphs of another shape are left as they are.
    """
    from onnx import numpy_helper

    graph = proto.graph
    initializers = {init.name: init for init in graph.initializer}
    muls = [n for n in graph.node if n.op_type == "Mul" and "input_normalization" in n.name]
    if len(muls) != 1 or sum(i in initializers for i in muls[0].input) != 1:
        return False
    mul = muls[0]
    scale_name = next(i for i in mul.input if i in initializers)
    data_name = next(i for i in mul.input if i not in initializers)
    scale = numpy_helper.to_array(initializers[scale_name]).reshape(-1)
    chain = _consumers(graph, mul.output[0])
    if len(chain) != 1:
        return False
    transpose = chain[0] if chain[0].op_type == "Transpose" else None
    if transpose is not None:
        perm = next((list(a.ints) for a in transpose.attribute if a.name == "perm"), None)
        chain = _consumers(graph, transpose.output[0])
        if perm != [0, 3, 1, 2] or len(chain) != 1:
            return False
    conv = chain[0]
    if conv.op_type != "Conv" or conv.input[1] not in initializers:
        return False
    weights_init = initializers[conv.input[1]]
    weights = numpy_helper.to_array(weights_init)  # (out, in, kh, kw)
    if scale.size not in (1, weights.shape[1]) or len(_consumers(graph, conv.input[1])) != 1:
        return False
    folded = weights * scale.astype(weights.dtype).reshape(1, -1, 1, 1)
    weights_init.CopyFrom(numpy_helper.from_array(folded, weights_init.name))
    (conv if transpose is None else transpose).input[0] = data_name  # bypass the Mul
    graph.node.remove(mul)
    if not any(scale_name in n.input for n in graph.node):
        graph.initializer.remove(initializers[scale_name])
    return True
