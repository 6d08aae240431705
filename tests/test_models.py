"""Encoders, segmenters and presets: shapes, pyramids and serialization round trips."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from semiseg_tf.data import DataError
from semiseg_tf.loading import load_segmenter
from semiseg_tf.models import (DeepLabV3Plus, ResNetEncoder, UNet, UNetEncoder, build_encoder, build_model,
                               model_config)

TINY = {"deeplabv3plus-tiny": DeepLabV3Plus, "unet-tiny": UNet}


@pytest.fixture(scope="module")
def models():
    """One tiny model of each architecture, built once for the module."""
    keras.utils.set_random_seed(0)
    return {name: build_model(name, num_classes=5) for name in TINY}


def pixels(batch=2, height=36, width=52, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (batch, height, width, 3)).astype(np.float32)


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("size", [(32, 48), (36, 52), (33, 47), (17, 29)])
def test_logits_have_input_size(models, name, size):
    model = models[name]
    assert isinstance(model, TINY[name]) and model.num_classes == 5
    logits = model(pixels(2, *size), training=False)
    assert tuple(logits.shape) == (2, *size, 5)
    assert logits.dtype == tf.float32
    assert np.isfinite(logits.numpy()).all()


@pytest.mark.parametrize("name", ["deeplabv3plus", "unet"])
def test_default_presets_build_and_run(name):
    model = build_model(name, num_classes=11)
    assert tuple(model(pixels(1), training=False).shape) == (1, 36, 52, 11)


def test_resnet_pyramid_strides_and_channels():
    image = tf.zeros((1, 64, 96, 3))
    for output_stride, deepest in [(32, (2, 3)), (16, (4, 6)), (8, (8, 12))]:
        encoder = ResNetEncoder(widths=(8, 16, 24, 32), depths=(1, 1, 1, 1), stem_width=8,
                                output_stride=output_stride)
        pyramid = encoder(image)
        assert sorted(pyramid) == ["P1", "P2", "P3", "P4", "P5"]
        assert encoder.output_stride == output_stride
        assert encoder.pyramid_channels == {"P1": 8, "P2": 8, "P3": 16, "P4": 24, "P5": 32}
        for level in ("P1", "P2", "P3"):
            stride = 2 ** int(level[1])
            assert tuple(pyramid[level].shape) == (1, 64 // stride, 96 // stride, encoder.pyramid_channels[level])
        assert tuple(pyramid["P5"].shape[1:3]) == deepest
    with pytest.raises(ValueError, match="output_stride"):
        ResNetEncoder(output_stride=4)


def test_unet_pyramid_is_stride_two_to_the_level():
    encoder = UNetEncoder(base_width=4, depth=3)
    pyramid = encoder(tf.zeros((1, 36, 52, 3)))
    assert sorted(pyramid) == ["P0", "P1", "P2", "P3"]
    assert encoder.output_stride == 8
    for level, features in pyramid.items():
        k = int(level[1])
        assert tuple(features.shape) == (1, -(-36 // 2**k), -(-52 // 2**k), 4 * 2**k)


def test_presets_and_overrides():
    config = model_config("deeplabv3plus-tiny", num_classes=3, encoder={"output_stride": 8}, aspp_filters=8)
    assert config["encoder"]["output_stride"] == 8 and config["encoder"]["widths"] == [16, 24, 32, 48]
    assert config["aspp_filters"] == 8
    assert model_config("deeplabv3plus-tiny")["encoder"]["output_stride"] == 16  # presets not mutated
    with pytest.raises(ValueError, match=r"unknown model 'resnet'; valid: \['deeplabv3plus'"):
        model_config("resnet")
    with pytest.raises(ValueError, match="unknown encoder type"):
        build_encoder({"type": "vit"})


@pytest.mark.parametrize("name", sorted(TINY))
def test_config_round_trip_gives_identical_outputs(models, name):
    model = models[name]
    config = model.get_config()
    assert json.loads(json.dumps(config)) == config  # plain JSON, as stored in runs
    clone = TINY[name].from_config(config)
    assert clone.get_config() == config
    assert [w.shape for w in clone.get_weights()] == [w.shape for w in model.get_weights()]
    clone.set_weights(model.get_weights())
    x = pixels()
    np.testing.assert_array_equal(clone(x, training=False).numpy(), model(x, training=False).numpy())


@pytest.mark.parametrize("name", sorted(TINY))
def test_keras_file_round_trip_gives_identical_outputs(models, name, tmp_path):
    model = models[name]
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert type(loaded) is TINY[name] and loaded.num_classes == 5
    x = pixels(2, 33, 47)
    np.testing.assert_allclose(loaded(x, training=False).numpy(), model(x, training=False).numpy(), atol=1e-5)
    via_loader = load_segmenter(tmp_path / "model.keras")
    assert via_loader.classes is None and via_loader.input_size is None
    np.testing.assert_allclose(via_loader.model.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_loader_rejects_bad_references(tmp_path):
    with pytest.raises(DataError, match="neither a run directory nor a .keras file"):
        load_segmenter(tmp_path / "weights.h5")
    with pytest.raises(DataError, match="run has no trained model yet"):
        load_segmenter(tmp_path)
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot be loaded as a Keras model"):
        load_segmenter(tmp_path / "broken.keras")


@pytest.mark.parametrize("name", sorted(TINY))
def test_encoder_weights_load_alone(models, name, tmp_path):
    model = models[name]
    path = tmp_path / "encoder.weights.h5"
    model.encoder.save_weights(path)
    x = tf.constant(pixels(1) / 127.5 - 1.0)
    expected = {k: v.numpy() for k, v in model.encoder(x, training=False).items()}

    keras.utils.set_random_seed(123)  # a different initialisation than the trained one
    fresh_encoder = build_encoder(model_config(name)["encoder"])
    fresh_model = build_model(name, num_classes=2)  # another head: only the encoder is shared
    before = fresh_model.encoder(x, training=False)
    assert not np.allclose(before["P1"].numpy(), expected["P1"])
    for encoder in (fresh_encoder, fresh_model.encoder):
        encoder.load_weights(path)
        got = encoder(x, training=False)
        assert sorted(got) == sorted(expected)
        for level in expected:
            np.testing.assert_array_equal(got[level].numpy(), expected[level])


def test_predict_on_arrays_equals_predict_on_a_dataset(models):
    model = models["unet-tiny"]
    x = pixels(4, 32, 48)
    from_arrays = model.predict(x, batch_size=2, verbose=0)
    from_dataset = model.predict(tf.data.Dataset.from_tensor_slices(x).batch(2), verbose=0)
    np.testing.assert_allclose(from_arrays, from_dataset, atol=1e-6)
