"""Which onnxruntime execution provider runs, and proof that it is the one asked for.

onnxruntime-gpu lists CUDA and TensorRT even where it cannot load them and then runs
on CPU without an error; only `session.get_providers()` tells the truth, so that is
what we report, and an explicit request that ends up elsewhere is an error.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
CHOICES = ("auto", *PROVIDERS)


class ProviderError(RuntimeError):
    """The requested execution provider is not installed or did not load."""


def requested_providers(choice: str, available: list[str]) -> list[str]:
    """The provider list to ask onnxruntime for: `auto` = TensorRT, CUDA, CPU, of what is available."""
    if choice == "auto":
        return [p for p in (PROVIDERS["tensorrt"], PROVIDERS["cuda"]) if p in available] + [PROVIDERS["cpu"]]
    if choice not in PROVIDERS:
        raise ProviderError(f"unknown provider '{choice}'; valid: {list(CHOICES)}")
    wanted = PROVIDERS[choice]
    if wanted not in available:
        raise ProviderError(f"--providers {choice}: this onnxruntime offers only {available}. "
                            f"Fix: install onnxruntime-gpu (pip install 'semiseg-tf[gpu]') or use --providers cpu.")
    return [wanted] if wanted == PROVIDERS["cpu"] else [wanted, PROVIDERS["cpu"]]


def check_active(choice: str, active: list[str]) -> str:
    """The provider that actually runs; an explicit request that fell back is an error."""
    running = active[0]
    if choice != "auto" and running != PROVIDERS[choice]:
        raise ProviderError(f"--providers {choice} was requested but the session runs on {running} "
                            f"(the {PROVIDERS[choice]} libraries did not load: check the CUDA/cuDNN/TensorRT "
                            f"installation, or use --providers cpu).")
    return running


def threads_per_stream(streams: int, threads: int | None = None) -> int | None:
    """onnxruntime intra-op threads for each of `streams` concurrent batches: the cores shared out
    (None = onnxruntime's default, all cores, when there is one stream); an explicit value wins."""
    if threads or streams <= 1:
        return threads
    return max(1, (os.cpu_count() or 1) // streams)


def create_session(model: str | Path | bytes, choice: str = "auto", threads: int | None = None):
    """An InferenceSession (from a file or serialised bytes) on the best allowed provider.

    Returns (session, provider that runs).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or int(os.environ.get("SEMISEG_ORT_THREADS", 0))
    options.log_severity_level = 3
    requested = requested_providers(choice, ort.get_available_providers())
    with warnings.catch_warnings():  # the fallback warning is replaced by our own report
        warnings.simplefilter("ignore")
        session = ort.InferenceSession(model if isinstance(model, bytes) else str(model), options,
                                       providers=requested)
    return session, check_active(choice, session.get_providers())
