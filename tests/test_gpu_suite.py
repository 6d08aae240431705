"""bench/gpu_suite.sh: its dry run (CPU, tiny, builtin:shapes) writes complete results; data staging; step plan."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "bench" / "gpu_suite.sh"
sys.path.insert(0, str(ROOT / "bench"))


def numbers(value):
    """Every number inside a JSON value."""
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from numbers(item)


def suite(tmp_path: Path, *args: str, timeout: int = 900, **env) -> subprocess.CompletedProcess:
    environment = {**os.environ, "TMPDIR": str(tmp_path), "GPU_SUITE_DATA": str(tmp_path / "no-camvid"), **env}
    # the dry run uses the `python` on PATH: this interpreter's, as in an activated venv
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}"
    return subprocess.run(["bash", str(SUITE), *args], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=timeout)


def test_dry_run_writes_complete_results(tmp_path):
    out = tmp_path / "out"
    done = suite(tmp_path, "--dry-run", OUT=str(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    files = {p.name: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert set(files) == {"gpu-dry-run-environment.json", "gpu-dry-run-train-shapes-deeplabv3plus-tiny.json",
                          "gpu-dry-run-predict-speed.json", "gpu-dry-run-precision-devices.json"}
    assert (out / "gpu-dry-run-suite.log").is_file()
    for name, result in files.items():
        assert {"task", "command", "date", "machine", "dataset", "split"} <= set(result), name
        assert all(math.isfinite(v) for v in numbers(result)), name
    environment = files["gpu-dry-run-environment.json"]
    assert environment["checks"]["ok"] and environment["dry_run"]
    assert "CPUExecutionProvider" in environment["doctor"]["onnxruntime"]["running_providers"]
    train = files["gpu-dry-run-train-shapes-deeplabv3plus-tiny.json"]
    assert train["steps"] >= train["probe"]["probe_steps"] > 0 and 0 <= train["miou"] <= 1
    assert len(train["per_class_iou"]) == 5 and train["probe"]["seconds_per_step"] > 0
    probes = files["gpu-dry-run-precision-devices.json"]["probes"]
    assert set(probes) == {"fp16"} and probes["fp16"]["dtype_policy"] == "mixed_float16"
    assert probes["fp16"]["images_per_s"] > 0 and math.isfinite(probes["fp16"]["final_loss"])
    speed = files["gpu-dry-run-predict-speed.json"]["images_per_s"]
    assert set(speed) == {"ort_cpu", "keras"} and all(v > 0 for v in speed.values())
    # the dry run leaves bench/results alone: its results sit in the temp dir too
    assert list(tmp_path.glob("gpu-suite-dry.*/results/gpu-dry-run-*.json"))
    assert not list((ROOT / "bench" / "results").glob("gpu-dry-run-*"))


def test_stage_data_copies_and_checks_size(tmp_path):
    source = tmp_path / "camvid"
    (source / "images").mkdir(parents=True)
    (source / "classes.json").write_text("{}")
    (source / "images" / "a.png").write_bytes(b"x" * 1000)
    target = tmp_path / "staged" / "camvid"
    done = suite(tmp_path, "--stage-data", str(source), GPU_SUITE_DATA=str(target))
    assert done.returncode == 0, done.stderr
    assert (target / "images" / "a.png").read_bytes() == b"x" * 1000 and "staged" in done.stdout
    (source / "images" / "big.bin").write_bytes(b"\0" * (56 * 1048576))
    too_big = suite(tmp_path, "--stage-data", str(source), GPU_SUITE_DATA=str(target))
    assert too_big.returncode != 0 and "too large" in too_big.stderr


def test_real_run_without_staged_data_says_how_to_stage(tmp_path):
    done = suite(tmp_path)
    assert done.returncode == 1 and "--stage-data" in done.stderr


def test_gpu_data_is_ignored_by_git():
    ignored = subprocess.run(["git", "check-ignore", ".gpu-data/camvid/images/x.png", ".gpu-venv/bin/python"],
                             cwd=ROOT, capture_output=True, text=True)
    assert ignored.returncode == 0 and len(ignored.stdout.split()) == 2


def test_step_plan_fits_the_budget(tmp_path):
    from gpu_suite import plan_steps, step_rate

    run = tmp_path / "probe"
    run.mkdir()
    (run / "timing.json").write_text(json.dumps({"steps": 20, "train_seconds": 30.0}))
    (run / "history.csv").write_text("step,loss,lr,images_per_second,train_seconds\n"
                                     "10,2.0,0.001,10,25.0\n20,1.8,0.001,80,26.0\n")
    rate = step_rate(run, wall=45.0)  # 0.1 s a step once compiled; 43 s of start-up and compilation
    assert rate["seconds_per_step"] == pytest.approx(0.1) and rate["fixed_seconds"] == pytest.approx(43.0)
    steps, every = plan_steps(rate, 360, min_steps=20)
    assert every == 100 and steps % every == 0
    assert rate["fixed_seconds"] + steps * rate["seconds_per_step"] <= 360
    assert steps >= 2800
    (run / "history.csv").unlink()  # no timed rows: the whole probe counts as per-step time
    assert step_rate(run, wall=45.0)["seconds_per_step"] == pytest.approx(45.0 / 20)
    assert plan_steps(step_rate(run, wall=45.0), 10, min_steps=20) == (20, 20)
