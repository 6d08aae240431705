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
# listed by onnxruntime but computing nothing on this machine (calls to Azure endpoints): not probed
NOT_LOCAL = ("AzureExecutionProvider",)
# packages that install the `onnxruntime` module (into one folder: never more than one at a time)
ORT_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino")


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
        raise ProviderError(f"--providers {choice}: this onnxruntime ({describe_installed()}) offers only "
                            f"{available}, so only {PROVIDERS['cpu']} would run. "
                            f"{gpu_fix()}")
    return [wanted] if wanted == PROVIDERS["cpu"] else [wanted, PROVIDERS["cpu"]]


def check_active(choice: str, active: list[str]) -> str:
    """The provider that actually runs; an explicit request that fell back is an error."""
    running = active[0]
    if choice != "auto" and running != PROVIDERS[choice]:
        raise ProviderError(f"--providers {choice} was requested but the session runs on {running}: "
                            f"{PROVIDERS[choice]} is listed by {describe_installed()} but did not load "
                            f"(its CUDA/cuDNN/TensorRT libraries are missing or do not match, or onnxruntime "
                            f"and onnxruntime-gpu are mixed in one folder). `semiseg-tf doctor` shows which "
                            f"providers really run. {gpu_fix()}")
    return running


def onnxruntime_distributions() -> dict[str, str]:
    """Installed onnxruntime packages and their versions: more than one means a broken mix, since they
    all install into the same `onnxruntime/` folder."""
    from importlib import metadata

    found = {}
    for name in ORT_DISTRIBUTIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def describe_installed() -> str:
    """`onnxruntime-gpu 1.32.0`, or every package when several are installed."""
    found = onnxruntime_distributions()
    return " + ".join(f"{name} {version}" for name, version in found.items()) or "onnxruntime (package unknown)"


def gpu_fix() -> str:
    """What to type to get a working GPU onnxruntime (installing onnxruntime-gpu over onnxruntime
    leaves a mix of both in one folder, so remove both first)."""
    return ("Fix: pip uninstall -y onnxruntime onnxruntime-gpu && pip install -e \".[gpu]\" "
            "(remove both first: they share one folder), or use --providers cpu.")

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


def tiny_model_bytes() -> bytes:
    """A one-node ONNX model (Relu over a 1x4 float tensor), built in memory to try providers on."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by every onnxruntime we support
    onnx.checker.check_model(model)
    return model.SerializeToString()


def probe_providers(candidates: list[str] | None = None) -> dict[str, dict]:
    """For each provider onnxruntime lists (or each of `candidates`): open a session on a tiny model
    asking for that provider alone, run it, and read back what the session really uses.

    Returns {provider: {"runs": bool, "session_providers": [...], "error": str | None}}; `runs` is true
    only when the session's first provider is the one asked for and its output is right.
    """
    import numpy as np
    import onnxruntime as ort

    model = tiny_model_bytes()
    x = np.array([[-1.0, 0.0, 2.0, -3.5]], np.float32)
    options = ort.SessionOptions()
    options.log_severity_level = 4  # a provider that does not load is our finding, not console noise
    report = {}
    for provider in candidates or ort.get_available_providers():
        if provider in NOT_LOCAL:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                session = ort.InferenceSession(model, options, providers=[provider])
            active = session.get_providers()
            correct = np.array_equal(session.run(None, {"x": x})[0], np.maximum(x, 0))
            report[provider] = {"runs": bool(active and active[0] == provider and correct),
                                "session_providers": active, "error": None}
        except Exception as exc:  # noqa: BLE001 - any failure means: this provider does not run
            report[provider] = {"runs": False, "session_providers": [],
                                "error": f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"}
    return report
