"""Losses for partial labels: partial cross-entropy, the gated CRF loss, and the crf options of every method."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from semiseg_tf.losses import GatedCRFLoss, MaskedCrossEntropy, gated_crf_loss
from semiseg_tf.methods import SegmentationMethod, get_method

CRF_OPTIONS = {"crf_weight": 0.5, "crf_radius": 3, "crf_downscale": 2, "crf_sigma_rgb": 10.0, "crf_sigma_xy": 4.0}


def two_halves(height=32, width=32):
    """An image of two flat colours, the edge at the middle column."""
    image = np.zeros((1, height, width, 3), np.float32)
    image[..., : width // 2, :] = (40, 90, 30)
    image[..., width // 2:, :] = (200, 200, 230)
    return tf.constant(image)


def split_labels(column, height=32, width=32, num_classes=3):
    """One-hot predictions: class 0 left of `column`, class 1 from it on."""
    labels = np.zeros((1, height, width), np.int32)
    labels[..., column:] = 1
    return tf.one_hot(labels, num_classes)


# === Partial cross-entropy ===
def test_partial_cross_entropy_ignores_unlabeled_pixels():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, (2, 8, 8)).astype(np.int32)
    labels[rng.random((2, 8, 8)) < 0.8] = 255  # a sparse mask: most pixels unlabeled
    logits = tf.constant(rng.normal(size=(2, 8, 8, 4)), tf.float32)
    noise = tf.constant(rng.normal(size=(2, 8, 8, 4)) * 5 * (labels == 255)[..., None], tf.float32)
    loss = MaskedCrossEntropy(class_weights=[1.0, 2.0, 0.5, 1.0])

    def value_and_gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = loss(labels, x)
        return value, tape.gradient(value, x)

    value, gradient = value_and_gradient(logits)
    changed_value, changed_gradient = value_and_gradient(logits + noise)
    assert float(value) == pytest.approx(float(changed_value), rel=1e-6)
    np.testing.assert_allclose(gradient, changed_gradient, atol=1e-7)
    assert not np.any(gradient.numpy()[labels == 255])


def test_cross_entropy_keeps_its_one_device_value_and_registered_name():
    labels = np.array([[[0, 1], [255, 2]]], np.int32)
    logits = tf.math.log(tf.constant([[[[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]],
                                       [[0.3, 0.3, 0.4], [0.2, 0.2, 0.6]]]]))
    expected = -(np.log(0.7) + np.log(0.8) + np.log(0.6)) / 3
    assert float(MaskedCrossEntropy()(labels, logits)) == pytest.approx(expected, rel=1e-5)
    # configs saved before losses/ became a package name the old module; the registered name still loads
    config = keras.saving.serialize_keras_object(MaskedCrossEntropy(class_weights=[1, 2, 3]))
    assert config["registered_name"] == "semiseg_tf>MaskedCrossEntropy"
    restored = keras.saving.deserialize_keras_object({**config, "module": "semiseg_tf.losses"})
    assert isinstance(restored, MaskedCrossEntropy) and restored.class_weights == [1.0, 2.0, 3.0]


def test_losses_reduce_over_the_global_batch_under_a_distribution_strategy():
    """Two replicas with unequal labeled pixels: their shares add up to the one-device mean."""
    script = textwrap.dedent("""
        import json, numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from semiseg_tf.losses import MaskedCrossEntropy, gated_crf_loss
        rng = np.random.default_rng(0)
        labels = rng.integers(0, 3, (4, 8, 8)).astype(np.int32)
        labels[:2][rng.random((2, 8, 8)) < 0.9] = 255  # replica 0 holds far fewer labeled pixels
        logits = rng.normal(size=(4, 8, 8, 3)).astype(np.float32)
        images = np.repeat(rng.uniform(0, 255, (4, 8, 8, 1)), 3, -1).astype(np.float32)
        def losses(y, x, im):
            return MaskedCrossEntropy()(y, x), gated_crf_loss(tf.nn.softmax(x), im, radius=2, downscale=1,
                                                              sigma_rgb=80.0)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        batch = next(iter(strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensor_slices((labels, logits, images)).batch(4))))
        shares = strategy.run(tf.function(losses), args=batch)
        print(json.dumps([[float(strategy.reduce("SUM", v, axis=None)) for v in shares],
                          [float(v) for v in losses(labels, logits, images)]]))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    distributed, one_device = json.loads(result.stdout.strip().splitlines()[-1])
    assert one_device[1] > 0.1
    np.testing.assert_allclose(distributed, one_device, rtol=1e-5)


# === Gated CRF loss ===
def test_gated_crf_is_lower_for_labels_that_follow_the_edge():
    image = two_halves()
    aligned = float(gated_crf_loss(split_labels(16), image))
    for shifted in (8, 12, 20, 24):
        assert float(gated_crf_loss(split_labels(shifted), image)) > aligned + 1.0
    assert aligned == pytest.approx(0.0, abs=1e-4)  # colours 100+ grey levels apart: no pair across the edge
    # a cut across the edge (rows, not columns) costs more still
    across = tf.one_hot(np.repeat(np.arange(32) >= 16, 32).reshape(1, 32, 32).astype(np.int32), 3)
    assert float(gated_crf_loss(across, image)) > float(gated_crf_loss(split_labels(12), image))


def test_gated_crf_is_zero_for_a_constant_label_map():
    image = tf.random.uniform((2, 24, 32, 3), 0, 255, seed=1)
    constant = tf.one_hot(tf.fill((2, 24, 32), 2), 4)
    assert float(gated_crf_loss(constant, image)) == pytest.approx(0.0, abs=1e-6)
    # soft probabilities disagree with themselves (1 - sum p^2 > 0): the Potts form also rewards confidence
    assert float(gated_crf_loss(tf.fill((2, 24, 32, 4), 0.25), image)) > 0.0


def test_gated_crf_ignores_regions_marked_invalid():
    image = two_halves()
    labels = split_labels(16).numpy()
    valid = np.ones((1, 32, 32), np.float32)
    valid[:, :8] = 0  # an ignore region (padding): whatever is predicted there must not count
    scrambled = labels.copy()
    scrambled[:, :8] = tf.one_hot(np.random.default_rng(0).integers(0, 3, (8, 32)), 3).numpy()
    clean = float(gated_crf_loss(labels, image, valid))
    assert float(gated_crf_loss(scrambled, image, valid)) == pytest.approx(clean, abs=1e-6)
    assert float(gated_crf_loss(scrambled, image)) > clean + 1.0  # without the gate it does count


def test_gated_crf_gradients_are_finite_and_reach_every_pixel():
    logits = tf.Variable(tf.random.normal((2, 16, 24, 5), seed=2))
    image = tf.random.uniform((2, 16, 24, 3), 0, 255, seed=3)
    loss = GatedCRFLoss(radius=2, downscale=2)
    with tf.GradientTape() as tape:
        value = loss(tf.nn.softmax(logits), image)
    gradient = tape.gradient(value, logits).numpy()
    assert np.isfinite(float(value)) and np.isfinite(gradient).all() and np.abs(gradient).sum() > 0
    assert loss.get_config()["radius"] == 2


# === The crf options of every method ===
def tiny_batches(shapes_data, count=4):
    """(images, sparse masks) of the first `count` shapes training images: half the labels dropped."""
    stems = (shapes_data / "train.txt").read_text().split()[:count]
    images = np.stack([np.asarray(Image.open(shapes_data / "images" / f"{s}.png").convert("RGB")) for s in stems])
    masks = np.stack([np.asarray(Image.open(shapes_data / "masks" / f"{s}.png")) for s in stems]).astype(np.uint8)
    masks[:, :, masks.shape[2] // 2:] = 255  # scribble-like: the right half unlabeled
    return tf.constant(images, tf.float32), tf.constant(masks)


def compiled(method_name, tiny_model, options):
    method = get_method(method_name).from_options(tiny_model("unet-tiny", 5), options)
    method.compile(optimizer=keras.optimizers.Adam(1e-3), loss=MaskedCrossEntropy())
    return method


def test_supervised_with_crf_trains_and_logs_loss_crf(shapes_data, tiny_model, eager):
    images, masks = tiny_batches(shapes_data)
    method = compiled("supervised", tiny_model, {"crf_weight": 0.1})
    data = tf.data.Dataset.from_tensor_slices((images, masks)).batch(2).repeat()
    history = method.fit(data, steps_per_epoch=3, epochs=1, verbose=0).history
    assert np.isfinite(history["loss_crf"][-1]) and history["loss_crf"][-1] > 0
    assert np.isfinite(history["loss"][-1])


def test_fixmatch_adds_the_crf_term_to_its_supervised_loss(shapes_data, tiny_model):
    images, masks = tiny_batches(shapes_data, count=2)
    options = {"threshold": 0.5}
    plain = compiled("fixmatch", tiny_model, options)
    with_crf = compiled("fixmatch", tiny_model, {**options, "crf_weight": 2.0})
    logits = plain.segmenter(images)
    crf = float(with_crf.crf_loss(tf.nn.softmax(logits), images))
    assert crf > 0
    assert float(with_crf.supervised_loss(images, masks, logits)) == pytest.approx(
        float(plain.supervised_loss(images, masks, logits)) + 2.0 * crf, rel=1e-5)


def test_fixmatch_with_crf_logs_loss_crf(shapes_data, tiny_model, eager):
    images, masks = tiny_batches(shapes_data, count=2)
    method = compiled("fixmatch", tiny_model, {"threshold": 0.5, "crf_weight": 0.1})
    data = tf.data.Dataset.from_tensors({"images": images, "masks": masks, "unlabeled": images}).repeat()
    history = method.fit(data, steps_per_epoch=3, epochs=1, verbose=0).history
    assert np.isfinite(history["loss_crf"][-1])
    assert method.method_config()["crf_weight"] == 0.1


def test_crf_options_round_trip_through_get_config(tiny_model):
    for name in ("supervised", "fixmatch"):
        method = get_method(name).from_options(tiny_model("unet-tiny", 5), CRF_OPTIONS)
        config = method.get_config()
        assert {key: config[key] for key in CRF_OPTIONS} == CRF_OPTIONS
        restored = get_method(name).from_config(config)
        assert restored.crf_weight == 0.5 and restored.crf_loss == GatedCRFLoss(
            radius=3, downscale=2, sigma_rgb=10.0, sigma_xy=4.0)
    supervised = SegmentationMethod.from_options(tiny_model("unet-tiny", 5), CRF_OPTIONS)
    assert supervised.method_config() == CRF_OPTIONS
    # off by default: existing runs record nothing new
    assert SegmentationMethod.from_options(tiny_model("unet-tiny", 5), {}).method_config() == {}


@pytest.mark.parametrize("option, words", [
    ("crf_weight=-1", ["crf_weight=-1.0: must be >= 0.0"]),
    ("crf_radius=0", ["crf_radius=0: must be >= 1"]),
    ("crf_radius=2.5", ["crf_radius", "of type int"]),
    ("crf_sigma_rgb=0", ["crf_sigma_rgb=0.0: must be >="]),
    ("crf_wieght=0.1", ["did you mean 'crf_weight'"]),
])
def test_bad_crf_options_are_refused_with_a_message(shapes_data, tmp_path, option, words):
    from click.testing import CliRunner

    from semiseg_tf.cli.main import cli

    run_dir = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "--data", str(shapes_data), "--model", "unet-tiny",
                                      "--out", str(run_dir), "--method-option", option])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output, result.output
    assert not run_dir.exists()
