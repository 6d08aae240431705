"""Training runs: a short run learns, and a killed run resumes where it stopped, losing no steps."""

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
from semiseg_tf.training.schedules import learning_rate_schedule

INTERVAL = 5


def run_config(shapes_data, **overrides) -> TrainConfig:
    """13 steps round up to 3 whole checkpoint intervals of 5 (15 steps), on half the labels."""
    options = dict(data=str(shapes_data), model="deeplabv3plus-tiny", steps=13, batch_size=2,
                   checkpoint_every=INTERVAL, learning_rate=3e-3, labeled_fraction=0.5, seed=0)
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
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    losses = [float(r["loss"]) for r in rows]
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.9 * losses[0], losses
    assert summary["steps"] == 15  # rounded up to whole checkpoint intervals
    assert summary["final_loss"] == pytest.approx(losses[-1])


def test_run_directory_records_what_the_run_used(reference_run, shapes_data):
    run_dir, _ = reference_run
    stored = json.loads((run_dir / "config.json").read_text())
    assert stored["train"]["steps"] == 15 and stored["train"]["train_size"] == [32, 48]
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
    assert json.loads((run_dir / "timing.json").read_text())["steps"] == 15
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
    assert json.loads((run_dir / "backup" / "training_metadata.json").read_text())["epoch"] == 1
    assert [r["epoch"] for r in history(run_dir)] == ["0"]
    assert not (run_dir / "model.keras").exists()

    # The stored config wins over the one passed in.
    summary = train(TrainConfig(steps=999, model="unet"), run_dir, resume=True, verbose=0)
    assert summary["steps"] == 15  # optimizer.iterations: 5 restored + 10 run again
    rows = history(run_dir)
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]  # every interval exactly once

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
