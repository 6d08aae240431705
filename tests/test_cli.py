"""`semiseg-tf train` and `semiseg-tf evaluate` end to end on the tiny shapes data."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import save_image

from semiseg_tf.cli.main import cli

PIXELS = 4 * 32 * 48  # the val split at native size


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)


def assert_clean_error(result, *words):
    """Bad input ends the command with one readable line, not a traceback."""
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output, result.output


@pytest.fixture(scope="module")
def trained_run(shapes_data, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    result = invoke("train", "--data", shapes_data, "--model", "unet-tiny", "--steps", 4, "--batch-size", 2,
                    "--checkpoint-every", 2, "--lr", 3e-3, "--bn-recalibration-batches", 2, "--out", run_dir)
    return run_dir, result


def test_train_runs_end_to_end(trained_run):
    run_dir, result = trained_run
    assert result.exit_code == 0, result.output
    assert "trained 4 steps" in result.output and f"model saved to {run_dir}/model.keras" in result.output
    assert "mIoU" in result.output  # the val evaluation table
    for name in ("model.keras", "config.json", "labeled.txt", "history.csv", "eval_val.json", "backup"):
        assert (run_dir / name).exists(), name
    with open(run_dir / "history.csv") as f:
        assert [row["step"] for row in csv.DictReader(f)] == ["4"]  # log_every 10: the last step is logged
    assert "step 4/4" in result.output and "images/s" in result.output
    stored = json.loads((run_dir / "config.json").read_text())
    assert stored["train"]["model"] == "unet-tiny" and stored["train"]["learning_rate"] == 3e-3
    evaluation = json.loads((run_dir / "eval_val.json").read_text())
    assert evaluation["pixels"] == PIXELS and 0 <= evaluation["miou"] <= 1


def test_evaluate_a_run_directory(trained_run, shapes_data):
    run_dir, _ = trained_run
    (run_dir / "eval_val.json").unlink()
    result = invoke("evaluate", "--model", run_dir, "--data", shapes_data)
    assert result.exit_code == 0, result.output
    assert f"Results saved to {run_dir}/eval_val.json" in result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["class", "IoU"] and lines[1].startswith("background")
    evaluation = json.loads((run_dir / "eval_val.json").read_text())
    assert evaluation["input_size"] == [32, 48] and evaluation["pixels"] == PIXELS
    assert f"{100 * evaluation['miou']:5.1f}" in next(line for line in lines if line.startswith("mIoU"))


def test_evaluate_a_keras_file_at_another_input_size(trained_run, shapes_data, tmp_path):
    run_dir, _ = trained_run
    out = tmp_path / "train_eval.json"
    result = invoke("evaluate", "--model", run_dir / "model.keras", "--data", shapes_data, "--split", "train",
                    "--input-size", "16x24", "--out", out)
    assert result.exit_code == 0, result.output
    evaluation = json.loads(out.read_text())
    assert evaluation["split"] == "train" and evaluation["images"] == 12
    assert evaluation["input_size"] == [16, 24] and evaluation["pixels"] == 12 * 32 * 48  # native masks
    assert np.array(evaluation["confusion_matrix"]).sum() == evaluation["pixels"]


def test_train_refuses_to_overwrite_and_resume_needs_a_run(trained_run, tmp_path):
    run_dir, _ = trained_run
    assert_clean_error(invoke("train", "--out", run_dir), "already holds a run", "--resume")
    assert_clean_error(invoke("train", "--out", tmp_path / "new", "--resume"), "no run to resume")


def test_bad_data_is_one_clear_line(shapes_data, tmp_path):
    assert_clean_error(invoke("train", "--data", tmp_path / "missing", "--out", tmp_path / "a"),
                       f"{tmp_path / 'missing'}: dataset folder not found")
    broken = tmp_path / "broken"
    shutil.copytree(shapes_data, broken)
    save_image(broken / "masks" / "train_0003.png", np.full((32, 48), 7, np.uint8))
    assert_clean_error(invoke("train", "--data", broken, "--model", "unet-tiny", "--out", tmp_path / "b"),
                       f"{broken / 'masks' / 'train_0003.png'}: mask holds class ids [7]", "Fix:")
    assert_clean_error(invoke("evaluate", "--model", tmp_path / "nothing.keras", "--data", shapes_data),
                       "model file not found")


def test_bad_options_say_what_is_valid(tmp_path):
    result = invoke("train", "--train-size", "32by48", "--out", tmp_path / "r")
    assert result.exit_code == 2 and "expected HEIGHTxWIDTH such as 240x320 or native, got '32by48'" in result.output
    result = invoke("train", "--schedule", "step", "--out", tmp_path / "r")
    assert result.exit_code == 2 and "'poly', 'cosine'" in result.output


def test_equivariance_flags_are_method_options(shapes_data, tmp_path):
    """`--equivariance-weight/-transforms` add the equivariance loss to another method, as the issue asks."""
    run_dir = tmp_path / "eq"
    result = invoke("train", "--data", shapes_data, "--model", "unet-tiny", "--method", "fixmatch", "--steps", 2,
                    "--batch-size", 2, "--labeled-fraction", 0.5, "--equivariance-weight", 0.5,
                    "--equivariance-transforms", "hflip", "--seed", 4, "--bn-recalibration-batches", 1, "--no-eval",
                    "--out", run_dir)
    assert result.exit_code == 0, result.output
    stored = json.loads((run_dir / "config.json").read_text())
    assert stored["train"]["method_options"] == {"equivariance_weight": 0.5, "equivariance_transforms": "hflip"}
    assert stored["method"]["seed"] == 4  # the run's seed reaches the method's own draws
    result = invoke("train", "--equivariance-weight", 0.5, "--method-option", "equivariance_weight=1",
                    "--out", tmp_path / "clash")
    assert result.exit_code == 2 and "contradicts --method-option equivariance_weight=1" in result.output


def test_console_script_lists_commands():
    script = shutil.which("semiseg-tf", path=os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]))
    assert script, "the semiseg-tf console script is not installed (pip install -e .)"
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    commands = result.stdout.split("Commands:")[1].split()
    assert "train" in commands and "evaluate" in commands


@pytest.mark.parametrize("args, words", [
    (["--steps", "0"], ["'--steps': 0 is not in the range x>=1"]),
    (["--steps", "-5"], ["'--steps': -5 is not in the range x>=1"]),
    (["--checkpoint-every", "0"], ["'--checkpoint-every': 0 is not in the range x>=1"]),
    (["--batch-size", "0"], ["'--batch-size': 0 is not in the range x>=1"]),
    (["--method", "fixmach"], ["'fixmach' is not one of", "'fixmatch'"]),
    (["--model", "unet-small"], ["'unet-small' is not one of", "'unet-tiny'"]),
    (["--method", "fixmatch", "--method-option", "threshold=2"], ["threshold=2.0: must be in [0.0, 1.0]"]),
    (["--method", "fixmatch", "--method-option", "treshold=0.9"], ["did you mean 'threshold'"]),
    (["--val-split", "tset"], ["--val-split tset", "has no tset.txt"]),
])
def test_usage_errors_are_one_line_exit_2_and_write_nothing(shapes_data, tmp_path, args, words):
    run_dir = tmp_path / "run"
    result = invoke("train", "--data", shapes_data, "--model", "unet-tiny", "--out", run_dir, *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output, result.output
    assert not run_dir.exists()


def test_train_help_lists_methods_and_models():
    result = invoke("train", "--help")
    for name in ("fixmatch", "equivariance", "supervised", "deeplabv3plus-tiny", "unet", "native"):
        assert name in result.output


def test_exact_steps_and_resume_to_a_new_total(shapes_data, tmp_path):
    run_dir = tmp_path / "run"
    result = invoke("train", "--data", shapes_data, "--model", "unet-tiny", "--steps", 3, "--batch-size", 2,
                    "--bn-recalibration-batches", 2, "--no-eval", "--out", run_dir)
    assert result.exit_code == 0, result.output
    assert "trained 3 steps in" in result.output and "re-estimated over 2 batches" in result.output
    result = invoke("train", "--out", run_dir, "--resume", "--steps", 5, "--batch-size", 4, "--no-eval")
    assert result.exit_code == 0, result.output
    assert "ignoring --batch-size" in result.output and f"resuming {run_dir} at step 3 of 5" in result.output
    assert "trained 5 steps (resumed at step 3)" in result.output
    result = invoke("train", "--out", run_dir, "--resume", "--steps", 4)
    assert result.exit_code == 2 and "already trained 5 steps; resume with --steps >= 5" in result.output
