"""keras.applications encoders: pyramid strides, weights from a local file, presets, save/load, ONNX parity.

Everything builds offline (weights=None, or a weight file written here): nothing downloads.
The expensive checks (segmenter save/load, ONNX) use MobileNetV3, the smallest backbone.
"""

from __future__ import annotations

import json

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from semiseg_tf.models import (BACKBONES, PRESETS, ApplicationEncoder, DeepLabV3Plus, UNet, UNetEncoder,
                               build_encoder, build_model, model_config)
from semiseg_tf.models.encoders import ENCODERS

HEIGHT, WIDTH = 64, 96
# The file each backbone's weights are written to: the legacy .h5 is what Keras downloads to ~/.keras/models.
WEIGHT_FILES = {"resnet50": "backbone.h5", "mobilenetv3": "backbone.weights.h5", "efficientnetv2b0": "backbone.h5"}


def pixels(batch=1, height=HEIGHT, width=WIDTH, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (batch, height, width, 3)).astype(np.float32)


def normalise(encoder, images):
    """What a segmenter feeds its encoder: (x - mean) / std with the encoder's own normalisation."""
    mean, std = (np.asarray(encoder.normalization[k], np.float32) for k in ("mean", "std"))
    return (images - mean) / std


def save_weights(network: keras.Model, path):
    if path.name.endswith(".weights.h5"):
        network.save_weights(path)
    else:  # the legacy format of keras.applications' ImageNet files
        from keras.src.legacy.saving import legacy_h5_format

        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, network)


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_weights_file_loads_and_the_pyramid_matches_keras_applications(backbone, tmp_path):
    """A keras.applications weight file loads; on the encoder's normalisation (BGR flip included) every level
    equals keras.applications' own layer on keras.applications' own preprocessing; strides 2..32."""
    spec = BACKBONES[backbone]
    keras.utils.set_random_seed(0)
    network = getattr(keras.applications, spec.constructor)(include_top=False, weights=None)  # preprocessing inside
    reference = keras.Model(network.input, {**{k: network.get_layer(n).output for k, n in spec.levels.items()},
                                            "P5": network.output})
    path = tmp_path / WEIGHT_FILES[backbone]
    save_weights(network, path)
    x = pixels()
    expected = reference(keras.applications.resnet.preprocess_input(x.copy()) if spec.bgr else x)

    encoder = build_encoder({"type": backbone, "weights": str(path)})
    assert isinstance(encoder, ApplicationEncoder) and encoder.output_stride == 32
    config = encoder.get_config()
    assert config["weights"] is None and config["backbone"] == backbone  # deserialising never downloads
    assert json.loads(json.dumps(config)) == config
    got = encoder(normalise(encoder, x), training=False)
    assert sorted(got) == ["P1", "P2", "P3", "P4", "P5"]
    for level, features in got.items():
        stride = 2 ** int(level[1])
        channels = encoder.pyramid_channels[level]
        assert tuple(features.shape) == (1, HEIGHT // stride, WIDTH // stride, channels), level
        scale = float(np.abs(expected[level]).max())  # random MobileNetV3 features shrink with depth
        assert scale > 0, level
        np.testing.assert_allclose(features.numpy() / scale, expected[level].numpy() / scale, atol=1e-4,
                                   err_msg=level)


def settle_batchnorm(model: keras.Model, images) -> None:
    """Moving statistics := one batch's statistics, so random-init features neither vanish with depth
    (MobileNetV3's do) nor leave the logits near zero, where parity would prove little."""
    from semiseg_tf.training.batchnorm import batchnorm_layers

    layers = batchnorm_layers(model)
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0
    model(images, training=True)  # eager: cheaper than tracing the training graph
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum


def test_preset_save_load_and_onnx_parity(tmp_path):
    from semiseg_tf.export import check_parity, export_onnx

    keras.utils.set_random_seed(0)
    model = build_model("deeplabv3plus-mobilenetv3", num_classes=3)
    assert isinstance(model.encoder, ApplicationEncoder)
    assert model.get_config()["encoder"]["config"]["weights"] is None
    settle_batchnorm(model, pixels(4, seed=1))
    x = pixels(2)
    expected = model(x, training=False).numpy()
    scale = float(np.abs(expected).max())
    assert scale > 1.0

    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert type(loaded) is DeepLabV3Plus and loaded.get_config() == model.get_config()
    np.testing.assert_allclose(loaded(x, training=False).numpy(), expected, atol=1e-5 * scale)

    onnx_path = export_onnx(model, tmp_path / "model.onnx", (HEIGHT, WIDTH))
    images = np.random.default_rng(2).integers(0, 256, (2, HEIGHT, WIDTH, 3), dtype=np.uint8)
    # float32 rounding grows through ~20 BatchNorms of one-batch statistics: tolerance relative to the logits
    report = check_parity(model, images, "logits", onnx_path=onnx_path, atol=1e-4 * scale, echo=lambda m: None)
    assert report["onnxruntime"]["argmax_agreement"] == 1.0


def test_imagenet_weights_are_fetched_by_keras_only_when_asked(monkeypatch):
    """weights="imagenet" reaches Keras' download (stubbed: nothing leaves the machine) with no other error."""
    import keras.src.applications.mobilenet_v3 as mobilenet_v3

    requested = []

    def offline(fname, origin, **kwargs):
        requested.append(fname)
        raise ConnectionError(f"offline test: {origin}")

    monkeypatch.setattr(mobilenet_v3.file_utils, "get_file", offline)
    with pytest.raises(ConnectionError, match="offline test"):
        build_encoder({"type": "mobilenetv3", "weights": "imagenet"})
    assert requested == ["weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5"]


class ScaledUNetEncoder(UNetEncoder):
    """An encoder whose weights expect other pixels than ours ([0, 1])."""

    @property
    def normalization(self):
        return {"mean": [0.0] * 3, "std": [255.0] * 3}


def test_normalisation_is_the_encoders_unless_the_config_says_otherwise():
    # existing configs (compact encoders, no mean/std given) build to what they always did
    assert build_model("unet-tiny", num_classes=2).get_config()["mean"] == [127.5] * 3
    assert build_model("deeplabv3plus-tiny", num_classes=2).get_config()["std"] == [127.5] * 3
    model = UNet(ScaledUNetEncoder(base_width=4, depth=2, name="encoder"), num_classes=2)
    assert (model.get_config()["mean"], model.get_config()["std"]) == ([0.0] * 3, [255.0] * 3)
    layer = model.get_layer("input_normalization")
    np.testing.assert_allclose(layer(tf.fill((1, 2, 2, 3), 255.0)).numpy(), 1.0, rtol=1e-6)
    given = UNet(ScaledUNetEncoder(base_width=4, depth=2, name="encoder"), num_classes=2, mean=[1, 2, 3],
                 std=[4, 5, 6])
    assert (given.get_config()["mean"], given.get_config()["std"]) == ([1, 2, 3], [4, 5, 6])


def test_presets_registry_and_clear_errors(tmp_path):
    from semiseg_tf.cli.train import command as train_command

    assert set(BACKBONES) <= set(ENCODERS)
    for backbone in BACKBONES:
        name = f"deeplabv3plus-{backbone}"
        assert model_config(name)["encoder"] == {"type": backbone, "weights": None}
        assert model_config(name, encoder={"weights": "imagenet"})["encoder"]["weights"] == "imagenet"
        assert PRESETS[name]["encoder"]["weights"] is None  # presets not mutated
    model_choices = next(p for p in train_command.params if p.name == "model").type.choices
    assert {f"deeplabv3plus-{b}" for b in BACKBONES} <= set(model_choices)
    with pytest.raises(FileNotFoundError, match="encoder weights .*missing.h5' not found"):
        build_encoder({"type": "resnet50", "weights": str(tmp_path / "missing.h5")})
    with pytest.raises(ValueError, match="output stride 32 only"):
        build_encoder({"type": "mobilenetv3", "output_stride": 16})
    with pytest.raises(ValueError, match="unknown keras.applications backbone 'vgg16'"):
        ApplicationEncoder(backbone="vgg16")
