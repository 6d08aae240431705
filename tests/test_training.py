"""Training runs: exactly the steps asked, a killed run resumes where it stopped losing no steps, bad options
refused before anything is written, and eval-mode inference right after any number of steps (PreciseBN)."""

from __future__ import annotations

import csv
import json

import keras
import numpy as np
import pytest

from semiseg_tf.data import DataError, SegmentationDataset, read_mask
from semiseg_tf.losses import median_frequency_weights
from semiseg_tf.methods import SegmentationMethod
from semiseg_tf.training import TrainConfig, train
from semiseg_tf.training.checkpoint import Checkpoint
from semiseg_tf.training.config import ConfigError
from semiseg_tf.training.schedules import learning_rate_schedule

INTERVAL = 5


def run_config(shapes_data, **overrides) -> TrainConfig:
    """13 steps, checkpoints at 5, 10 and 13, a log row at each, on half the labels."""
    options = dict(data=str(shapes_data), model="deeplabv3plus-tiny", steps=13, batch_size=2,
                   checkpoint_every=INTERVAL, log_every=INTERVAL, learning_rate=3e-3, labeled_fraction=0.5, seed=0,
                   bn_recalibration_batches=4)
    return TrainConfig(**(options | overrides))


def history(run_dir) -> list[dict]:
    with open(run_dir / "history.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def reference_run(shapes_data, tmp_path_factory):
    """An uninterrupted run: (run directory, summary)."""
    run_dir = tmp_path_factory.mktemp("reference")
    return run_dir, train(run_config(shapes_data), run_dir, verbose=0)


def test_short_run_lowers_the_loss(reference_run):
    run_dir, summary = reference_run
    rows = history(run_dir)
    assert [int(r["step"]) for r in rows] == [5, 10, 13]  # a shorter last interval, not rounded up
    losses = [float(r["loss"]) for r in rows]
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.9 * losses[0], losses
    assert all(float(r["images_per_second"]) > 0 and float(r["lr"]) >= 0 for r in rows)
    assert summary["steps"] == 13 and summary["bn_recalibration_batches"] == 4
    assert summary["final_loss"] == pytest.approx(losses[-1], rel=1e-5)


def test_run_directory_records_what_the_run_used(reference_run, shapes_data):
    run_dir, _ = reference_run
    stored = json.loads((run_dir / "config.json").read_text())
    assert stored["train"]["steps"] == 13 and stored["train"]["train_size"] == [32, 48]
    assert stored["classes"]["names"][1] == "disc"
    labeled = (run_dir / "labeled.txt").read_text().split()
    unlabeled = (run_dir / "unlabeled.txt").read_text().split()
    assert len(labeled) == 6 and sorted(labeled + unlabeled) == sorted(SegmentationDataset(shapes_data).stems("train"))
    assert stored["labeled_count"] == 6 and stored["unlabeled_count"] == 6
    # class weights come from the labeled masks only (default: square-rooted median frequency)
    counts, present = np.zeros(5), np.zeros(5)
    for stem in labeled:
        histogram = np.bincount(read_mask(shapes_data / "masks" / f"{stem}.png", 5).ravel(), minlength=5)
        counts += histogram
        present += (histogram > 0) * histogram.sum()
    np.testing.assert_allclose(stored["class_weights"], median_frequency_weights(counts, present, power=0.5),
                               atol=1e-4)
    model = keras.saving.load_model(run_dir / "model.keras")
    assert tuple(model.output_shape) == (None, None, None, 5)
    timing = json.loads((run_dir / "timing.json").read_text())
    assert timing["steps"] == 13 and "cores" in timing["machine"]  # a card reports where it trained
    with pytest.raises(DataError, match="already holds a run"):
        train(run_config(shapes_data), run_dir, verbose=0)


class Killed(Exception):
    """Stands in for the process being killed."""


class KillAtStep(keras.callbacks.Callback):
    def __init__(self, step: int):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == self.step:
            raise Killed(f"killed after step {self.step}")


def test_kill_and_resume_continues_at_the_right_step(reference_run, shapes_data, tmp_path, monkeypatch):
    reference_dir, reference_summary = reference_run
    run_dir = tmp_path / "run"
    fit = SegmentationMethod.fit

    def fit_then_die(self, *args, callbacks=(), **kwargs):
        return fit(self, *args, callbacks=[*callbacks, KillAtStep(INTERVAL + 2)], **kwargs)

    # Killed mid-way through the second interval: one checkpoint exists, two steps are lost.
    with monkeypatch.context() as patch:
        patch.setattr(SegmentationMethod, "fit", fit_then_die)
        with pytest.raises(Killed):
            train(run_config(shapes_data), run_dir, verbose=0)
    assert Checkpoint(run_dir / "backup").read()["step"] == INTERVAL
    assert [r["step"] for r in history(run_dir)] == ["5"]
    assert not (run_dir / "model.keras").exists()

    # The stored config wins over the one passed in.
    summary = train(TrainConfig(steps=999, model="unet"), run_dir, resume=True, verbose=0)
    assert summary["steps"] == 13 and summary["resumed_from_step"] == INTERVAL
    rows = history(run_dir)
    assert [int(r["step"]) for r in rows] == [5, 10, 13]  # every row exactly once

    # Same data from the right step, same dropout draws: the resumed run is the uninterrupted one.
    # (CPU TensorFlow is deterministic here; two uninterrupted runs are bit-identical.)
    reference_losses = [float(r["loss"]) for r in history(reference_dir)]
    np.testing.assert_allclose([float(r["loss"]) for r in rows], reference_losses, rtol=1e-5)
    resumed = keras.saving.load_model(run_dir / "model.keras").get_weights()
    expected = keras.saving.load_model(reference_dir / "model.keras").get_weights()
    for got, want in zip(resumed, expected, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)
    assert summary["final_loss"] == pytest.approx(reference_summary["final_loss"], rel=1e-5)


def test_init_from_starts_every_network_from_the_given_weights(reference_run, shapes_data):
    from semiseg_tf.training.trainer import build_training

    run_dir, _ = reference_run
    trained = keras.saving.load_model(run_dir / "model.keras").get_weights()
    dataset = SegmentationDataset(shapes_data)
    config = run_config(shapes_data, init_from=str(run_dir), method="meanteacher", train_size=(32, 48))
    method, _ = build_training(config, dataset, dataset.samples(stems=dataset.stems("train")))
    for network in (method.segmenter, method.teacher):  # the EMA teacher starts from the same weights
        assert all(np.array_equal(a, b) for a, b in zip(network.get_weights(), trained))

    samples = dataset.samples(stems=dataset.stems("train"))
    with pytest.raises(DataError, match="different architecture"):
        build_training(run_config(shapes_data, init_from=str(run_dir), model="unet-tiny", train_size=(32, 48)),
                       dataset, samples)
    # a resumed run takes every weight from its checkpoint: the source is not read (it may be gone)
    gone = run_config(shapes_data, init_from=str(run_dir / "gone.keras"), train_size=(32, 48))
    build_training(gone, dataset, samples, initialise=False)
    with pytest.raises(DataError, match="gone.keras"):
        build_training(gone, dataset, samples)


def test_resume_needs_a_run(tmp_path):
    with pytest.raises(DataError, match="no run to resume"):
        train(TrainConfig(), tmp_path, resume=True)


def test_config_round_trip_and_unknown_options(tmp_path):
    config = TrainConfig(steps=7, train_size=(32, 48), method_options={"threshold": 0.9})
    config.save(tmp_path / "c.json")
    loaded = TrainConfig.load(tmp_path / "c.json")
    assert loaded == config and loaded.train_size == (32, 48)
    assert loaded.augment.scale_range == (0.75, 1.5)
    with pytest.raises(ValueError, match=r"unknown training options \['stpes'\]; valid: \[.*'steps'"):
        TrainConfig.from_dict({"stpes": 3})


def test_learning_rate_schedules():
    poly = learning_rate_schedule("poly", 0.01, total_steps=100)
    assert float(poly(0)) == pytest.approx(0.01) and float(poly(100)) == pytest.approx(0.0, abs=1e-9)
    assert float(poly(50)) == pytest.approx(0.01 * 0.5**0.9, rel=1e-5)
    cosine = learning_rate_schedule("cosine", 0.01, total_steps=110, warmup_steps=10)
    assert float(cosine(0)) == pytest.approx(0.0, abs=1e-9)
    assert float(cosine(10)) == pytest.approx(0.01, rel=1e-5)
    assert float(cosine(60)) == pytest.approx(0.005, rel=1e-4)
    with pytest.raises(ValueError, match="warm-up"):
        learning_rate_schedule("poly", 0.01, 100, warmup_steps=5)
    with pytest.raises(ValueError, match="unknown schedule 'step'"):
        learning_rate_schedule("step", 0.01, 100)


def test_resume_continues_to_a_new_total_and_refuses_fewer_steps(reference_run, shapes_data, tmp_path, capsys, eager):
    import shutil

    run_dir = tmp_path / "more"
    shutil.copytree(reference_run[0], run_dir)
    summary = train(TrainConfig(), run_dir, resume=True, steps=16)
    assert summary["steps"] == 16 and summary["resumed_from_step"] == 13
    assert f"resuming {run_dir} at step 13 of 16" in capsys.readouterr().out
    assert [int(r["step"]) for r in history(run_dir)] == [5, 10, 13, 15, 16]
    assert json.loads((run_dir / "config.json").read_text())["train"]["steps"] == 16
    with pytest.raises(ConfigError, match="already trained 16 steps; resume with --steps >= 16"):
        train(TrainConfig(), run_dir, resume=True, steps=10)


@pytest.mark.parametrize("option, value", [("steps", 0), ("steps", -5), ("checkpoint_every", 0),
                                           ("batch_size", 0), ("log_every", 0), ("labeled_fraction", 1.5)])
def test_impossible_options_are_refused_before_anything_is_written(shapes_data, tmp_path, option, value):
    with pytest.raises(ConfigError, match=f"--{option.replace('_', '-')} {value}"):
        train(run_config(shapes_data, **{option: value}), tmp_path / "run", verbose=0)
    assert not (tmp_path / "run").exists()


def test_bad_method_options_are_refused_before_anything_is_written(shapes_data, tmp_path):
    for options, message in [({"threshold": 2}, r"threshold=2.*must be in \[0.0, 1.0\]"),
                             ({"treshold": 0.9}, "did you mean 'threshold'"),
                             ({"cutmix_p": "abc"}, "cutmix_p is of type float"),
                             ({"strong_bn_stats": 3}, "strong_bn_stats is of type bool")]:
        with pytest.raises(ValueError, match=message):
            train(run_config(shapes_data, method="fixmatch", method_options=options), tmp_path / "run", verbose=0)
        assert not (tmp_path / "run").exists()


def test_recalibration_sets_the_average_of_batch_statistics():
    """PreciseBN: each moving mean / variance becomes the mean over batches of that batch's moments;
    the layer's momentum and every other weight are left as they were."""
    import tensorflow as tf

    from semiseg_tf.training.batchnorm import recalibrate_batchnorm

    conv = keras.layers.Conv2D(3, 3, padding="same", use_bias=True)
    norm = keras.layers.BatchNormalization()
    model = keras.Sequential([keras.Input((8, 8, 2)), conv, norm, keras.layers.ReLU()])
    rng = np.random.default_rng(0)
    batches = [tf.constant(rng.normal(loc, 2.0, (4, 8, 8, 2)), tf.float32) for loc in (0.0, 5.0, -3.0)]
    weights = [w.copy() for w in conv.get_weights() + [norm.gamma.numpy(), norm.beta.numpy()]]
    assert recalibrate_batchnorm(model, iter(batches), num_batches=2) == 2  # stops after two
    features = [conv(b).numpy() for b in batches[:2]]
    np.testing.assert_allclose(norm.moving_mean.numpy(), np.mean([f.mean((0, 1, 2)) for f in features], 0),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(norm.moving_variance.numpy(), np.mean([f.var((0, 1, 2)) for f in features], 0),
                               rtol=1e-4, atol=1e-5)
    assert norm.momentum == 0.99
    for got, want in zip(conv.get_weights() + [norm.gamma.numpy(), norm.beta.numpy()], weights):
        np.testing.assert_array_equal(got, want)


def test_eval_mode_agrees_with_training_mode_after_a_short_run(shapes_data, tmp_path, eager):
    """After 20 steps the moving averages (momentum 0.99) lag the weights, so eval-mode predictions differ
    from training-mode ones (the microscopy U-Net of the release issue predicted one class). Re-estimated
    statistics make them agree; the trainer does it at the end of every run, on augmented training crops."""
    import tensorflow as tf

    from semiseg_tf.data import SegmentationDataset, read_image
    from semiseg_tf.training.batchnorm import recalibrate_batchnorm

    run_dir = tmp_path / "run"
    summary = train(run_config(shapes_data, model="unet-tiny", steps=20, checkpoint_every=20, log_every=20,
                               batch_size=4, labeled_fraction=None, bn_recalibration_batches=0), run_dir, verbose=0)
    assert summary["bn_recalibration_batches"] == 0
    images = tf.constant(np.stack([read_image(s.image) for s in SegmentationDataset(shapes_data).samples("train")]),
                         tf.float32)
    model = keras.saving.load_model(run_dir / "model.keras")  # unet-tiny: no dropout, so training mode is deterministic

    def agreement() -> float:
        eval_mode, train_mode = model(images, training=False), model(images, training=True)
        return float((np.argmax(eval_mode, -1) == np.argmax(train_mode, -1)).mean())

    stale = agreement()
    assert stale < 0.9, stale
    recalibrate_batchnorm(model, [images], num_batches=1)
    assert agreement() > 0.999


def test_missing_val_split_is_said_and_a_held_out_share_can_replace_it(shapes_data, tmp_path, capsys, eager):
    import shutil

    from semiseg_tf.training import evaluate_run

    no_val = tmp_path / "data"
    shutil.copytree(shapes_data, no_val)
    (no_val / "val.txt").unlink()
    options = dict(data=str(no_val), steps=2, checkpoint_every=2, bn_recalibration_batches=1)
    train(run_config(shapes_data, **options), tmp_path / "a", verbose=0)
    assert "has no val split (val.txt), so the run ends without an evaluation" in capsys.readouterr().out
    assert json.loads((tmp_path / "a" / "config.json").read_text())["train"]["val_split"] is None
    assert evaluate_run(tmp_path / "a") is None

    with pytest.raises(ConfigError, match="--val-split tset: .* has no tset.txt"):
        train(run_config(shapes_data, val_split="tset", **options), tmp_path / "b", verbose=0)

    train(run_config(shapes_data, val_fraction=0.25, labeled_fraction=None, **options), tmp_path / "c", verbose=0)
    held = (tmp_path / "c" / "heldout.txt").read_text().split()
    labeled = (tmp_path / "c" / "labeled.txt").read_text().split()
    assert len(held) == 3 and not set(held) & set(labeled) and len(labeled) == 9
    result = evaluate_run(tmp_path / "c")
    assert result["split"] == "heldout" and result["images"] == 3
    assert (tmp_path / "c" / "eval_heldout.json").is_file()


def test_images_of_different_sizes_train_at_native_scale(shapes_data, tmp_path, eager):
    """Differently sized images are not squashed to the first one's size: random crops at native scale."""
    import shutil

    from PIL import Image

    data = tmp_path / "data"
    shutil.copytree(shapes_data, data)
    for stem in ("train_0000", "train_0001"):  # two larger images
        for folder, suffix, resample in (("images", ".png", Image.BILINEAR), ("masks", ".png", Image.NEAREST)):
            path = data / folder / f"{stem}{suffix}"
            Image.open(path).resize((96, 64), resample).save(path)
    run_dir = tmp_path / "run"
    train(run_config(shapes_data, data=str(data), steps=2, checkpoint_every=2, labeled_fraction=None,
                     crop_size=(32, 32), bn_recalibration_batches=1), run_dir, verbose=0)
    stored = json.loads((run_dir / "config.json").read_text())["train"]
    assert stored["train_size"] == "native" and stored["crop_size"] == [32, 32]
    from semiseg_tf.loading import load_segmenter

    assert load_segmenter(run_dir).input_size is None  # inference at native scale too


def test_weak_label_maps_train_the_images_they_cover_and_mix_with_full_masks(shapes_data, tmp_path, eager):
    """`annotations={"scribble": DIR}`: images with a label map in DIR/masks train on it (255 unlabeled); with a
    labeled fraction, that subset keeps its full masks; images with neither stay unlabeled."""
    from PIL import Image

    stems = SegmentationDataset(shapes_data).stems("train")
    folder = tmp_path / "scribbles"
    (folder / "masks").mkdir(parents=True)
    for stem in stems[:8]:
        full = read_mask(shapes_data / "masks" / f"{stem}.png", 5)
        sparse = np.full_like(full, 255)
        sparse[::4, ::4] = full[::4, ::4]
        Image.fromarray(sparse).save(folder / "masks" / f"{stem}.png")
    options = dict(steps=2, checkpoint_every=2, bn_recalibration_batches=1, annotations={"scribble": str(folder)})
    train(run_config(shapes_data, labeled_fraction=None, **options), tmp_path / "weak", verbose=0)
    run = tmp_path / "weak"
    assert (run / "labeled.txt").read_text().split() == []
    assert (run / "weak.txt").read_text().split() == [w for stem in stems[:8] for w in (stem, "scribble")]
    assert (run / "unlabeled.txt").read_text().split() == stems[8:]
    assert json.loads((run / "config.json").read_text())["weak_counts"] == {"scribble": 8}

    train(run_config(shapes_data, labeled_fraction=0.25, **options), tmp_path / "mixed", verbose=0)
    full = (tmp_path / "mixed" / "labeled.txt").read_text().split()
    weak = (tmp_path / "mixed" / "weak.txt").read_text().split()[::2]
    assert len(full) == 3 and not set(full) & set(weak) and set(weak) == set(stems[:8]) - set(full)

    with pytest.raises(ConfigError, match="--annotations boxes=.*unknown kind; valid: scribble, point, coarse, box"):
        train(run_config(shapes_data, annotations={"boxes": str(folder)}), tmp_path / "box", verbose=0)
    with pytest.raises(ConfigError, match="image tags train with --method wildcat"):
        (tmp_path / "tags").mkdir()
        (tmp_path / "tags" / "tags.csv").write_text(f"{stems[0]},disc\n")
        train(run_config(shapes_data, annotations={"tag": str(tmp_path / "tags")}), tmp_path / "tag", verbose=0)
    with pytest.raises(DataError, match="holds no point annotation of a training image"):
        train(run_config(shapes_data, labeled_fraction=None, annotations={"point": str(tmp_path / "none")},
                         steps=2), tmp_path / "none-run", verbose=0)


def test_clicks_in_points_csv_are_rasterised_for_training(shapes_data, tmp_path, eager):
    stems = SegmentationDataset(shapes_data).stems("train")
    folder = tmp_path / "clicks"
    folder.mkdir()
    (folder / "points.csv").write_text("stem,x,y,class\n" + "".join(f"{s},10,12,disc\n{s},40,3,0\n" for s in stems[:4]))
    run = tmp_path / "run"
    train(run_config(shapes_data, labeled_fraction=None, annotations={"point": str(folder)}, steps=2,
                     checkpoint_every=2, bn_recalibration_batches=1), run, verbose=0)
    assert (run / "weak.txt").read_text().split()[::2] == stems[:4]
    label_map = read_mask(run / "annotations" / "point" / "masks" / f"{stems[0]}.png", 5)
    assert label_map[12, 10] == 1 and label_map[3, 40] == 0 and (label_map != 255).sum() == 2 * 5  # two discs
