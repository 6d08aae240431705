"""Deployment: a uint8-in graph around a segmenter, ONNX/SavedModel export, int8, parity checks."""

from semiseg_tf.export.graph import OUTPUTS, deployment_model
from semiseg_tf.export.metadata import read_onnx_metadata
from semiseg_tf.export.onnx import export_onnx
from semiseg_tf.export.parity import ParityError, check_parity
from semiseg_tf.export.quantize import quantize_int8
from semiseg_tf.export.savedmodel import export_savedmodel

__all__ = [
    "OUTPUTS", "ParityError", "check_parity", "deployment_model", "export_onnx", "export_savedmodel",
    "quantize_int8", "read_onnx_metadata",
]
