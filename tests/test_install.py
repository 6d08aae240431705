"""pyproject.toml declares what the code imports, and its extras can be installed one at a time."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
BASE = PROJECT["dependencies"]
EXTRAS = PROJECT["optional-dependencies"]

# import name -> distribution(s) providing it (any one of them declares the import)
DISTRIBUTIONS = {
    "PIL": {"pillow"}, "yaml": {"pyyaml"}, "absl": {"absl-py"}, "sklearn": {"scikit-learn"},
    "cv2": {"opencv-python-headless"}, "skimage": {"scikit-image"},
    "tensorflow": {"tensorflow", "tensorflow-cpu"}, "onnxruntime": {"onnxruntime", "onnxruntime-gpu"},
    "apache_beam": {"apache-beam"},
}
OPTIONAL = {"semiseg_tf/inference/beam.py": "beam"}  # modules only an optional extra's users import


def names(requirements: list[str]) -> set[str]:
    """Distribution names of requirement strings, lower case, without extras, versions and markers."""
    return {re.match(r"[A-Za-z0-9._-]+", r).group(0).lower().replace("_", "-") for r in requirements}


def third_party_imports(folder: Path) -> set[str]:
    """Top-level names imported anywhere under `folder` (or in that one file) that are neither standard
    library nor local."""
    local = {p.stem for p in [*folder.parent.glob("*.py"), *folder.glob("*.py"), *(ROOT / "bench").glob("*.py")]}
    local.add("semiseg_tf")
    found = set()
    for path in [folder] if folder.is_file() else folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name not in local}


def test_test_extra_is_pytest_and_xdist_only():
    assert names(EXTRAS["test"]) == {"pytest", "pytest-xdist"}, "the test extra must combine with cpu and gpu alike"


def test_cpu_and_gpu_extras():
    assert {"tensorflow-cpu", "tensorflow", "onnxruntime"} <= names(EXTRAS["cpu"])
    assert "onnxruntime-gpu" not in names(EXTRAS["cpu"])
    assert "onnxruntime-gpu" in names(EXTRAS["gpu"]) and "onnxruntime" not in names(EXTRAS["gpu"])
    assert any(r.replace(" ", "").startswith("tensorflow[and-cuda]") for r in EXTRAS["gpu"])
    assert "tensorflow-cpu" not in names(EXTRAS["gpu"])
    # tensorflow-cpu only where it exists (x86-64), plain tensorflow elsewhere
    markers = {r.split(";")[0].split(">")[0].strip(): r.split(";")[1].strip() for r in EXTRAS["cpu"] if ";" in r}
    assert markers == {"tensorflow-cpu": "platform_machine == 'x86_64'",
                       "tensorflow": "platform_machine != 'x86_64'"}


def test_base_has_no_runtime_of_either_extra():
    base = names(BASE)
    assert not base & {"onnxruntime", "onnxruntime-gpu", "tensorflow", "tensorflow-cpu"}
    assert "sympy" in base, "onnxruntime's quant_pre_process (export --int8) needs sympy, which it does not install"


def test_every_requirement_has_a_lower_bound():
    for requirement in BASE + [r for extra in EXTRAS.values() for r in extra]:
        assert ">=" in requirement, f"{requirement}: give the lowest version tested"


@pytest.mark.parametrize("folder", ["semiseg_tf", "bench", "tests"])
def test_every_import_is_declared(folder):
    base = names(BASE) | ({"pytest"} & names(EXTRAS["test"]) if folder == "tests" else set())
    base |= {name for extra in set(OPTIONAL.values()) for name in names(EXTRAS[extra])}
    missing = []
    for module in sorted(third_party_imports(ROOT / folder)):
        candidates = DISTRIBUTIONS.get(module, {module.lower().replace("_", "-")})
        # in the base, or in both runtime extras (TensorFlow, onnxruntime: one of the two is installed)
        if not (candidates & base or (candidates & names(EXTRAS["cpu"]) and candidates & names(EXTRAS["gpu"]))):
            missing.append(module)
    assert not missing, f"imported under {folder}/ but not declared in pyproject.toml: {missing}"


def test_cuda_request_that_falls_back_names_the_fix_and_the_provider_that_runs(monkeypatch):
    import onnxruntime as ort

    from semiseg_tf.inference.providers import ProviderError, create_session

    class FallenBackSession:  # onnxruntime-gpu without usable CUDA: lists CUDA, runs on CPU
        def __init__(self, *args, **kwargs):
            pass

        def get_providers(self):
            return ["CPUExecutionProvider"]

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", FallenBackSession)
    with pytest.raises(ProviderError) as error:
        create_session(b"model", "cuda")
    message = str(error.value)
    assert "runs on CPUExecutionProvider" in message
    assert 'pip uninstall -y onnxruntime onnxruntime-gpu && pip install -e ".[gpu]"' in message
    assert "semiseg-tf doctor" in message


def test_cuda_request_without_cuda_names_the_fix():
    from semiseg_tf.inference.providers import ProviderError, requested_providers

    with pytest.raises(ProviderError) as error:
        requested_providers("cuda", ["CPUExecutionProvider"])
    message = str(error.value)
    assert "offers only" in message and "only CPUExecutionProvider would run" in message
    assert 'pip uninstall -y onnxruntime onnxruntime-gpu && pip install -e ".[gpu]"' in message


def test_doctor_reports_what_really_runs():
    import json

    from click.testing import CliRunner

    from semiseg_tf.cli.main import cli

    text = CliRunner().invoke(cli, ["doctor"])
    assert text.exit_code == 0, text.output
    for line in ("semiseg-tf", "Python", "TensorFlow", "Keras", "onnxruntime", "built with CUDA",
                 "available providers", "really running"):
        assert line in text.output
    report_run = CliRunner().invoke(cli, ["doctor", "--json"])
    assert report_run.exit_code == 0, report_run.output
    report = json.loads(report_run.output)
    ort = report["onnxruntime"]
    assert "CPUExecutionProvider" in ort["running_providers"]
    assert ort["probe"]["CPUExecutionProvider"]["session_providers"][0] == "CPUExecutionProvider"
    assert set(ort["distributions"]) <= {"onnxruntime", "onnxruntime-gpu"} and ort["distributions"]
    assert any(d["type"] == "CPU" for d in report["tensorflow"]["devices"])
    assert isinstance(report["tensorflow"]["built_with_cuda"], bool) and isinstance(report["warnings"], list)


def test_doctor_warns_when_both_onnxruntime_packages_are_installed():
    from semiseg_tf.diagnostics import warnings_for

    report = {"tensorflow": {"distributions": {"tensorflow-cpu": "2.21.0"}, "devices": []},
              "onnxruntime": {"distributions": {"onnxruntime": "1.32.0", "onnxruntime-gpu": "1.31.1"},
                              "probe": {"CUDAExecutionProvider": {"runs": False, "error": None,
                                                                  "session_providers": ["CPUExecutionProvider"]}}}}
    found = "\n".join(warnings_for(report))
    assert "both onnxruntime and onnxruntime-gpu are installed" in found
    assert "lists CUDAExecutionProvider but a session on it runs on CPUExecutionProvider" in found
    assert "TensorFlow sees no GPU" in found


def test_optional_extras_stay_out_of_the_base_import_path():
    """`semiseg-tf` without the beam extra works: only the modules listed in OPTIONAL import Beam."""
    for path in (ROOT / "semiseg_tf").rglob("*.py"):
        relative = path.relative_to(ROOT).as_posix()
        if relative not in OPTIONAL:
            assert not {"apache_beam"} & third_party_imports(path), relative
