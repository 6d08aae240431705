"""Export: ONNX parity on each architecture (dynamic batch), SavedModel, heads, dynamic size, int8."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from semiseg_tf.cli.main import cli


def _keras_file(tiny_model, tmp_path, name):
    model = tiny_model(name, 5)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    return model, path


def _ort(path):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"image": x})[0], session


@pytest.mark.parametrize("name", ["unet-tiny", "deeplabv3plus-tiny"])
def test_onnx_equals_keras_with_dynamic_batch(tiny_model, tmp_path, name):
    model, path = _keras_file(tiny_model, tmp_path, name)
    out = tmp_path / "model.onnx"
    result = CliRunner().invoke(cli, ["export", str(path), "--format", "onnx", "--input-size", "32x48",
                                      "--out", str(out), "--atol", "1e-4"])
    assert result.exit_code == 0, result.output
    assert "max abs diff" in result.output and "argmax agreement" in result.output
    run, session = _ort(out)
    assert session.get_inputs()[0].type == "tensor(uint8)" and session.get_inputs()[0].shape[1:] == [32, 48, 3]
    rng = np.random.default_rng(1)
    for batch in (1, 3):
        images = rng.integers(0, 256, (batch, 32, 48, 3), dtype=np.uint8)
        expected = model.predict(images.astype(np.float32), verbose=0)
        np.testing.assert_allclose(run(images), expected, atol=1e-4)
    # the normalisation's scale lives in the first conv's weights: no Mul left on the raw input
    muls = [n.name for n in __import__("onnx").load(str(out)).graph.node if n.op_type == "Mul"]
    assert not [m for m in muls if "input_normalization" in m]


def test_savedmodel_heads_and_dynamic_size(tiny_model, tmp_path):
    from semiseg_tf.export import check_parity, export_onnx, export_savedmodel
    from semiseg_tf.export.savedmodel import load_savedmodel_fn

    model = tiny_model("unet-tiny", 5)
    images = np.random.default_rng(2).integers(0, 256, (2, 32, 48, 3), dtype=np.uint8)
    logits = model.predict(images.astype(np.float32), verbose=0)
    saved = export_savedmodel(model, tmp_path / "sm", (32, 48), "probs")
    check_parity(model, images, "probs", savedmodel_path=saved, atol=1e-4)
    np.testing.assert_allclose(load_savedmodel_fn(saved)(images).sum(-1), 1.0, atol=1e-5)
    ids = export_onnx(model, tmp_path / "ids.onnx", None, "ids")  # dynamic height and width
    run, session = _ort(ids)
    assert session.get_outputs()[0].type == "tensor(uint8)"
    np.testing.assert_array_equal(run(images), logits.argmax(-1))
    other = np.random.default_rng(3).integers(0, 256, (1, 40, 24, 3), dtype=np.uint8)
    np.testing.assert_array_equal(run(other), model.predict(other.astype(np.float32), verbose=0).argmax(-1))


def test_parity_failure_is_loud(tiny_model, tmp_path):
    from semiseg_tf.export import ParityError, check_parity, export_onnx

    exported = export_onnx(tiny_model("unet-tiny", 5), tmp_path / "a.onnx", (32, 48))
    other = tiny_model("unet-tiny", 5)  # different random weights
    images = np.random.default_rng(4).integers(0, 256, (2, 32, 48, 3), dtype=np.uint8)
    with pytest.raises(ParityError, match="disagrees"):
        check_parity(other, images, "logits", onnx_path=exported, echo=lambda m: None)


def test_int8_static_quantisation_reports_agreement(tiny_model, tmp_path, shapes_data):
    from semiseg_tf.export import read_onnx_metadata

    _, path = _keras_file(tiny_model, tmp_path, "unet-tiny")
    out = tmp_path / "int8.onnx"
    result = CliRunner().invoke(cli, ["export", str(path), "--input-size", "32x48", "--int8", "--calibration",
                                      str(shapes_data / "images"), "--calibration-images", "8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "int8 vs fp32 on 8 calibration images: argmax agreement" in result.output
    run, session = _ort(out)
    ops = {node.op_type for node in __import__("onnx").load(str(out)).graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    assert run(np.zeros((2, 32, 48, 3), np.uint8)).shape == (2, 32, 48, 5)
    assert read_onnx_metadata(out)["precision"] == "int8"


def test_int8_keeps_the_output_tail_in_float_so_predict_resizes_once(tiny_model, tmp_path):
    """The final upsampling + Transpose stay float: no Q/DQ after the last Resize, and predict's
    native-size rewrite still replaces that Resize instead of adding a second one."""
    import onnx

    from semiseg_tf.data.synthetic import SHAPES_CLASSES
    from semiseg_tf.export import export_onnx, quantize_int8
    from semiseg_tf.export.metadata import export_metadata
    from semiseg_tf.inference.native_ids import with_native_ids

    fp32 = export_onnx(tiny_model("deeplabv3plus-tiny"), tmp_path / "fp32.onnx", (32, 48), "logits",
                       export_metadata(SHAPES_CLASSES, (32, 48), "logits"))
    images = np.random.default_rng(5).integers(0, 256, (4, 32, 48, 3), dtype=np.uint8)
    int8 = quantize_int8(fp32, tmp_path / "int8.onnx", images)
    ops = [node.op_type for node in onnx.load(str(int8)).graph.node]
    assert "QuantizeLinear" in ops and ops[-2:] == ["Resize", "Transpose"]
    assert [n.op_type for n in with_native_ids(int8).graph.node].count("Resize") == ops.count("Resize")
