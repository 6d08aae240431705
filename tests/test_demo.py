"""The README's main job: `semiseg-tf demo` trains, evaluates and writes coloured masks."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from PIL import Image

from semiseg_tf.cli.main import cli


def test_demo_runs_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMISEG_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--steps", "4"])
    assert result.exit_code == 0, result.output
    assert (out / "run" / "model.keras").is_file()
    assert "mIoU" in result.output and json.loads((out / "run" / "eval_val.json").read_text())["images"] == 16
    masks = sorted((out / "predictions").glob("*.png"))
    assert len(masks) == 8 and len(list((out / "predictions" / "overlay").glob("*.png"))) == 8
    mask = Image.open(masks[0])
    assert mask.mode == "P" and mask.size == (128, 96) and np.asarray(mask).max() < 5
    assert json.loads((out / "predictions" / "summary.json").read_text())["failed"] == 0
