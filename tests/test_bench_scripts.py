"""Bench scripts build the right runs from their arguments: camvid_finetune.sh's commands, semi_cost's variants."""

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
SCRIPT = BENCH / "camvid_finetune.sh"
sys.path.insert(0, str(BENCH))

import semi_cost  # noqa: E402  (bench/ is a folder of scripts, not a package)


def _run_script(tmp_path: Path, *methods: str, existing: tuple[str, ...] = (), **env: str) -> list[list[str]]:
    """Run a copy of the script with a `python` that only records its arguments; return the recorded calls."""
    (tmp_path / "bench" / "results").mkdir(parents=True)
    shutil.copy(SCRIPT, tmp_path / "bench")
    for name in existing:
        (tmp_path / "bench" / "results" / f"{name}.json").write_text("{}")
    fake = tmp_path / "fakebin" / "python"
    fake.parent.mkdir()
    fake.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$@" "--END--" >> "{tmp_path}/calls"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    subprocess.run(["bash", str(tmp_path / "bench" / "camvid_finetune.sh"), *methods], check=True, timeout=60,
                   env={**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}", **env})
    words = (tmp_path / "calls").read_text().split("\n")
    calls, current = [], []
    for word in words[:-1]:
        if word == "--END--":
            calls.append(current)
            current = []
        else:
            current.append(word)
    return calls


def _option(call: list[str], flag: str) -> str:
    return call[call.index(flag) + 1]


def test_trains_the_missing_base_then_the_control_and_each_variant_from_it(tmp_path):
    calls = _run_script(tmp_path, "equivariance-hflipshrink", "meanteacher", SEED="2", FRACTION="0.25",
                        BASE_VARIANT="r2")
    base = "camvid-deeplabv3plus-supervised-r2-pbn-f0.25-s2"
    assert calls[0] == ["bench/camvid_train.py", "--labeled-fraction", "0.25", "--seed", "2", "--variant", "r2"]
    control, equivariance, meanteacher = calls[1:]
    assert [_option(c, "--method") for c in calls[1:]] == ["supervised", "equivariance", "meanteacher"]
    assert all(_option(c, "--init-from") == base and _option(c, "--steps") == "500" for c in calls[1:])
    assert _option(equivariance, "--method-option") == "equivariance_transforms=hflip,scale=0.5"
    assert [_option(c, "--variant") for c in calls[1:]] == ["r2-ft500", "r2-hflipshrink-ft500", "r2-ft500"]
    assert "--method-option" not in control and "--method-option" not in meanteacher


def test_finished_runs_are_skipped(tmp_path):
    existing = ("camvid-deeplabv3plus-supervised-pbn-f0.125-s0", "camvid-deeplabv3plus-supervised-ft500-pbn-f0.125-s0",
                "camvid-deeplabv3plus-equivariance-hflip-ft500-pbn-f0.125-s0")
    calls = _run_script(tmp_path, "equivariance-hflip", "equivariance", existing=existing)
    assert len(calls) == 1  # only the rotations variant is left
    assert _option(calls[0], "--method-option") == "equivariance_transforms=hflip,rot90,rot180,rot270"
    assert _option(calls[0], "--variant") == "ft500"


def test_a_recipe_passes_each_of_its_options(tmp_path):
    calls = _run_script(tmp_path, "copypaste-hflip", existing=("camvid-deeplabv3plus-supervised-pbn-f0.125-s0",
                                                               "camvid-deeplabv3plus-supervised-ft500-pbn-f0.125-s0"))
    (call,) = calls
    assert _option(call, "--method") == "copypaste" and _option(call, "--variant") == "hflip-ft500"
    options = [call[i + 1] for i, word in enumerate(call) if word == "--method-option"]
    assert options == ["equivariance_weight=1", "equivariance_transforms=hflip"]


def test_an_unknown_recipe_stops_before_training_anything(tmp_path):
    with pytest.raises(subprocess.CalledProcessError) as error:
        _run_script(tmp_path, "meanteacher", "equivariance-hflp")  # the base is missing: it would train first
    assert error.value.returncode == 2 and not (tmp_path / "calls").exists()


def test_step_cost_variants_are_timed_under_their_own_names_with_their_options():
    specs = semi_cost.method_specs("fixmatch", [["equivariance-hflipshrink", "equivariance",
                                                  "equivariance_transforms=hflip,scale=0.5"]])
    assert specs == {"supervised": ("supervised", {}), "fixmatch": ("fixmatch", {}),
                     "equivariance-hflipshrink": ("equivariance", {"equivariance_transforms": "hflip,scale=0.5"})}
    for bad, message in ((["lonely"], "give NAME METHOD"), (["fixmatch", "uda"], "already timed"),
                         (["x", "uda", "tsa"], "expected KEY=VALUE")):
        with pytest.raises(ValueError, match=message):
            semi_cost.method_specs("fixmatch", [bad])


def test_longer_fine_tunes_are_named_by_their_steps(tmp_path):
    calls = _run_script(tmp_path, "equivariance-hflip", existing=("camvid-deeplabv3plus-supervised-pbn-f0.125-s3",),
                        SEED="3", STEPS="1000")
    assert [_option(c, "--steps") for c in calls] == ["1000", "1000"]
    assert [_option(c, "--variant") for c in calls] == ["ft1000", "hflip-ft1000"]


def test_label_coverage_counts_images_and_pixels_of_each_class(shapes_data, tmp_path):
    import label_coverage

    from semiseg_tf.data import SegmentationDataset, read_mask

    dataset = SegmentationDataset(shapes_data)
    stems = dataset.stems("train")[:3]
    counts = label_coverage.class_counts(dataset, stems)
    n = dataset.classes.num_classes
    masks = [read_mask(s.mask, n) for s in dataset.samples(stems=stems)]
    assert counts.shape == (3, n)
    assert counts[:, 0].tolist() == [int((m == 0).sum()) for m in masks]
    cells = label_coverage.coverage(counts)
    assert cells[0] == f"{sum((m == 0).any() for m in masks)} / {1000 * counts[:, 0].sum() / counts.sum():.1f}"
    run = tmp_path / "run"
    run.mkdir()
    (run / "labeled.txt").write_text("\n".join(stems))
    script = [sys.executable, str(BENCH / "label_coverage.py"), "--data", str(shapes_data)]
    shown = subprocess.run([*script, str(run)], capture_output=True, text=True, timeout=120, check=True).stdout
    assert f"| {dataset.classes.names[0]} |" in shown and "run (3)" in shown
    (run / "labeled.txt").write_text("")
    failed = subprocess.run([*script, str(run)], capture_output=True, text=True, timeout=120)
    assert failed.returncode == 2 and "labeled.txt lists no images" in failed.stderr


def test_a_reseeded_run_changes_only_its_seed_and_keeps_its_labeled_subset(shapes_data, tmp_path):
    import reseed

    from semiseg_tf.data import SegmentationDataset, select_labeled
    from semiseg_tf.training import TrainConfig

    stems = SegmentationDataset(shapes_data).stems("train")
    labeled, _ = select_labeled(stems, 0.25, seed=0)
    original = TrainConfig(data=str(shapes_data), labeled_fraction=0.25, seed=0, init_from="runs/bench/base",
                           method="equivariance", method_options={"equivariance_transforms": "hflip"}, steps=500)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"train": original.to_dict()}))
    (run / "labeled.txt").write_text("\n".join(labeled) + "\n")

    config = reseed.reseeded(run, 7)
    assert config.seed == 7 and config.labeled_fraction is None
    assert select_labeled(stems, config.labeled_fraction, config.labeled_list, config.seed)[0] == labeled
    assert select_labeled(stems, 0.25, seed=7)[0] != labeled  # what the fraction would have picked instead
    for key in ("data", "method", "method_options", "init_from", "steps", "augment", "learning_rate"):
        assert getattr(config, key) == getattr(original, key)


def test_reseeding_a_run_that_is_not_finished_names_the_missing_file(tmp_path):
    script = [sys.executable, str(BENCH / "reseed.py"), "camvid-no-such-run", "--seeds", "1"]
    failed = subprocess.run(script, capture_output=True, text=True, timeout=120, cwd=BENCH.parent)
    assert failed.returncode == 2 and "camvid-no-such-run.json not found" in failed.stderr
    assert "run its bench command first" in failed.stderr
    assert not list((BENCH.parent / "runs" / "reseed").glob("camvid-no-such-run*"))


@pytest.mark.parametrize("script", ["camvid_train.py", "reseed.py", "bn_recalibration.py"])
def test_a_bench_run_started_outside_the_repository_root_stops_with_the_command_to_type(script, tmp_path):
    args = {"camvid_train.py": ["--seed", "0"], "reseed.py": ["RUN", "--seeds", "1"],
            "bn_recalibration.py": ["RUN"]}[script]
    failed = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert failed.returncode == 2 and not list(tmp_path.iterdir())
    assert failed.stderr.strip().splitlines()[-1] == (
        f"error: run bench scripts from the repository root: cd {BENCH.parent} && python bench/{script} ...")


def test_jigsaw_cues_scores_each_condition_on_the_same_puzzles(shapes_data, tmp_path, monkeypatch, eager):
    import jigsaw_cues

    from semiseg_tf.pretraining import PretrainConfig, pretrain

    run = tmp_path / "jigsaw"
    pretrain(PretrainConfig(method="jigsaw", data=str(shapes_data), model="deeplabv3plus-tiny", steps=2,
                            batch_size=4, image_size=32, checkpoint_every=2, bn_recalibration_batches=0,
                            method_options={"permutations": 10, "hidden": 32}), run, verbose=0)
    written = {}
    monkeypatch.setattr(jigsaw_cues, "write_result", lambda name, result, required: written.update({name: result}))
    monkeypatch.setattr(sys, "argv", ["jigsaw_cues.py", "--run", str(run), "--data", str(shapes_data)])
    jigsaw_cues.main()
    result = written["jigsaw-cues-jigsaw"]
    assert result["puzzles"] == 4 and result["split"] == "val" and result["chance"] == 0.1
    assert set(result["accuracy"]) == {"as_trained", "upside_down", "mirrored", "grey"}
    assert all(0 <= value <= 1 and value * 4 == round(value * 4) for value in result["accuracy"].values())
