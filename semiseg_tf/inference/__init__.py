"""Batch inference: onnxruntime (or Keras) runners, resizing or tiling, a threaded file pipeline."""

from semiseg_tf.inference.pipeline import PredictOptions, collect_inputs, run_predict
from semiseg_tf.inference.providers import ProviderError, create_session, requested_providers
from semiseg_tf.inference.runners import Runner, keras_runner, onnx_runner, open_runner
from semiseg_tf.inference.tiling import predict_tiled

__all__ = [
    "PredictOptions", "ProviderError", "Runner", "collect_inputs", "create_session", "keras_runner",
    "onnx_runner", "open_runner", "predict_tiled", "requested_providers", "run_predict",
]
