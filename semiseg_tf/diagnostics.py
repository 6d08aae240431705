"""What this installation really runs on: versions, TensorFlow's devices, onnxruntime's working providers.

`semiseg-tf doctor` prints `collect()`; each part is probed on its own, so a broken TensorFlow or
onnxruntime shows up as an error line instead of stopping the report.
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

# packages that install the `tensorflow` module (into one folder: never more than one at a time)
TF_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tf-nightly")


def machine() -> str:
    """This machine in one line, as runs, results and cards record it: CPU model, core count, OS and the
    vector extensions that decide fp32/int8 speed (AVX-512, VNNI)."""
    import os

    model, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    isa = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags]
    return f"{model}, {os.cpu_count()} cores, {platform.system()}" + (f", {'/'.join(isa)}" if isa else "")


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _installed(distributions) -> dict[str, str]:
    return {name: version for name in distributions if (version := _version(name))}


def tensorflow_report() -> dict:
    """TensorFlow's version, package, physical devices and CUDA build."""
    report = {"distributions": _installed(TF_DISTRIBUTIONS)}
    try:
        import tensorflow as tf

        build = tf.sysconfig.get_build_info()
        report.update({
            "version": tf.__version__,
            "built_with_cuda": bool(tf.test.is_built_with_cuda()),
            "cuda_version": build.get("cuda_version"), "cudnn_version": build.get("cudnn_version"),
            "devices": [{"name": d.name, "type": d.device_type} for d in tf.config.list_physical_devices()],
        })
        for device in report["devices"]:
            if device["type"] == "GPU":  # model name and compute capability
                details = tf.config.experimental.get_device_details(
                    tf.config.list_physical_devices("GPU")[int(device["name"].rsplit(":", 1)[1])])
                device["details"] = {k: list(v) if isinstance(v, tuple) else v for k, v in details.items()}
    except Exception as exc:  # noqa: BLE001 - report, don't crash: this is the diagnosis tool
        report["error"] = f"{type(exc).__name__}: {exc}"
    return report


def onnxruntime_report() -> dict:
    """onnxruntime's package(s), listed providers, and the providers a session really runs on."""
    from semiseg_tf.inference.providers import onnxruntime_distributions, probe_providers

    report = {"distributions": onnxruntime_distributions()}
    try:
        import onnxruntime as ort

        report.update({"version": ort.__version__, "device": ort.get_device(),
                       "available_providers": ort.get_available_providers()})
        report["probe"] = probe_providers(report["available_providers"])
        report["running_providers"] = [p for p, result in report["probe"].items() if result["runs"]]
    except Exception as exc:  # noqa: BLE001
        report["error"] = f"{type(exc).__name__}: {exc}"
    return report


def warnings_for(report: dict) -> list[str]:
    """Problems worth a line of their own: mixed packages, GPU packages that do not reach the GPU."""
    tf, ort = report["tensorflow"], report["onnxruntime"]
    found = []
    if len(ort["distributions"]) > 1:
        found.append(f"both {' and '.join(ort['distributions'])} are installed; they share one folder and break "
                     f"each other. Fix: pip uninstall -y onnxruntime onnxruntime-gpu && pip install -e \".[gpu]\" "
                     f"(or \".[cpu]\")")
    if len(tf["distributions"]) > 1:
        found.append(f"both {' and '.join(tf['distributions'])} are installed; they share one folder. Fix: "
                     f"pip uninstall -y tensorflow tensorflow-cpu && pip install -e \".[gpu]\" (or \".[cpu]\")")
    for provider, result in ort.get("probe", {}).items():
        if not result["runs"]:
            runs_on = (result["session_providers"] or ["nothing"])[0]
            found.append(f"onnxruntime lists {provider} but a session on it runs on {runs_on}"
                         + (f" ({result['error']})" if result["error"] else ""))
    gpus = [d for d in tf.get("devices", []) if d["type"] == "GPU"]
    if "onnxruntime-gpu" in ort["distributions"] and not gpus and "error" not in tf:
        found.append("onnxruntime-gpu is installed but TensorFlow sees no GPU"
                     + ("" if tf.get("built_with_cuda") else " (this TensorFlow is not built with CUDA: "
                        "install the gpu extra, which brings tensorflow[and-cuda])"))
    for part in ("tensorflow", "onnxruntime"):
        if "error" in report[part]:
            found.append(f"{part} failed: {report[part]['error']}")
    return found


def collect() -> dict:
    """Everything `semiseg-tf doctor` reports, as one JSON-ready dict."""
    report = {
        "semiseg_tf": _version("semiseg-tf"),
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "keras": _version("keras"),
        "onnx": _version("onnx"),
        "tensorflow": tensorflow_report(),
        "onnxruntime": onnxruntime_report(),
    }
    report["warnings"] = warnings_for(report)
    return report


def format_report(report: dict) -> str:
    """The human-readable form of `collect()`."""
    tf, ort = report["tensorflow"], report["onnxruntime"]
    devices = ", ".join(f"{d['type']} ({d['name']})" for d in tf.get("devices", [])) or "none"
    lines = [
        f"semiseg-tf    {report['semiseg_tf']}",
        f"Python        {report['python']} ({report['platform']})",
        f"TensorFlow    {tf.get('version', 'not importable')} "
        f"(package: {', '.join(tf['distributions']) or 'unknown'})",
        f"  devices     {devices}",
        f"  built with CUDA: {'yes' if tf.get('built_with_cuda') else 'no'}"
        + (f" (CUDA {tf['cuda_version']}, cuDNN {tf['cudnn_version']})" if tf.get("cuda_version") else ""),
        f"Keras         {report['keras']}",
        f"onnxruntime   {ort.get('version', 'not importable')} "
        f"(package: {', '.join(ort['distributions']) or 'unknown'})",
        f"  available providers: {', '.join(ort.get('available_providers', [])) or 'none'}",
        f"  really running:      {', '.join(ort.get('running_providers', [])) or 'none'}",
    ]
    lines += [f"WARNING: {line}" for line in report["warnings"]]
    return "\n".join(lines)
