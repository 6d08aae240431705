"""Commands are quiet by default (no TensorFlow banner, no library warnings); `--verbose` shows them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NOISE = ("oneDNN", "absl", "FutureWarning", "DeprecationWarning", "deprecated", "WARNING")


@pytest.fixture(scope="module")
def keras_model_and_images(shapes_data, tmp_path_factory):
    """A unet-tiny .keras file (never exported yet) and two images."""
    from semiseg_tf.models import build_model

    folder = tmp_path_factory.mktemp("quiet")
    build_model("unet-tiny", 5).save(folder / "model.keras")
    (folder / "images").mkdir()
    for path in sorted((shapes_data / "images").iterdir())[:2]:
        shutil.copy(path, folder / "images" / path.name)
    return folder


def semiseg(args, tmp_path, **env) -> subprocess.CompletedProcess:
    """`semiseg-tf ARGS` in a fresh process, as a user runs it (the test suite's own env vars removed)."""
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("TF_CPP_MIN_LOG_LEVEL", "SEMISEG_VERBOSE", "PYTHONWARNINGS")}
    environment.update(SEMISEG_CACHE=str(tmp_path / "cache"), **env)
    script = Path(sys.executable).parent / "semiseg-tf"  # the installed console script
    command = [str(script)] if script.is_file() else \
        [sys.executable, "-c", "from semiseg_tf.cli.main import cli; cli()"]
    return subprocess.run(command + list(args), capture_output=True, text=True, env=environment, timeout=300)


def test_first_predict_of_a_keras_model_is_quiet(keras_model_and_images, tmp_path):
    """The first predict exports the model to ONNX (tf2onnx, Keras' NumPy patch): none of that noise shows."""
    folder = keras_model_and_images
    done = semiseg(["predict", "--model", str(folder / "model.keras"), "--input-size", "32x48",
                    str(folder / "images"), "--out", str(tmp_path / "out"), "--quiet"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [f"model {folder / 'model.keras'} on onnxruntime:CPUExecutionProvider"]
    assert not [word for word in NOISE if word in done.stderr + done.stdout], done.stderr
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["processed"] == 2


def test_verbose_shows_the_noise_and_still_works(keras_model_and_images, tmp_path):
    folder = keras_model_and_images
    done = semiseg(["--verbose", "predict", "--model", str(folder / "model.keras"), "--input-size", "32x48",
                    str(folder / "images"), "--out", str(tmp_path / "out"), "--quiet"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "processed 2, skipped 0, failed 0 of 2" in done.stdout
    assert "oneDNN" in done.stderr or "absl" in done.stderr or "WARNING" in done.stderr, done.stderr


def test_evaluate_is_quiet(keras_model_and_images, shapes_data, tmp_path):
    done = semiseg(["evaluate", "--model", str(keras_model_and_images / "model.keras"), "--data", str(shapes_data),
                    "--split", "val", "--input-size", "32x48"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "mIoU" in done.stdout and done.stderr == "", done.stderr


def test_is_verbose_follows_the_flag_and_the_environment(monkeypatch):
    from semiseg_tf.cli import verbosity

    monkeypatch.delenv(verbosity.ENV, raising=False)
    monkeypatch.setattr(verbosity, "_verbose_flag", False)
    assert not verbosity.is_verbose()
    monkeypatch.setenv(verbosity.ENV, "1")
    assert verbosity.is_verbose()
    monkeypatch.setenv(verbosity.ENV, "0")
    assert not verbosity.is_verbose()
