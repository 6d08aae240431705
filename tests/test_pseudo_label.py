"""Data distillation: the ensemble maps every transformed prediction back; the CLI writes usable masks."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from semiseg_tf.methods.geometric import Transform, ensemble_transforms
from semiseg_tf.pseudo_label import class_balanced_thresholds, ensemble_probabilities, pseudo_label_mask


def _pointwise_model() -> keras.Model:
    """Class logits from each pixel's colour alone (red -> 0, green -> 1, blue -> 2): it commutes with
    flips and rotations, so a correctly inverted ensemble equals the plain prediction."""
    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(3, 1, use_bias=False)])
    model.layers[0].set_weights([np.eye(3, dtype=np.float32)[None, None] * 0.05])
    return model


def _quadrant_image() -> np.ndarray:
    """Red left half, green top right, blue bottom right: every flip or rotation moves the classes."""
    image = np.zeros((16, 24, 3), np.uint8)
    image[:, :12, 0] = 255
    image[:8, 12:, 1] = 255
    image[8:, 12:, 2] = 255
    return image


@pytest.mark.parametrize("transform", [Transform(flip=True), Transform(quarter_turns=1), Transform(quarter_turns=2),
                                       Transform(quarter_turns=3), Transform(quarter_turns=1, flip=True)],
                         ids=lambda t: t.name)
def test_each_transform_is_inverted_exactly(transform):
    model, image = _pointwise_model(), _quadrant_image()
    plain = ensemble_probabilities(model, image, [Transform()])
    mapped_back = ensemble_probabilities(model, image, [transform])
    np.testing.assert_allclose(mapped_back, plain, atol=1e-6)
    # without the inverse the classes land elsewhere: the check above is not vacuous
    forward_only = tf.nn.softmax(model(transform.forward(tf.cast(image[None], tf.float32))))[0]
    if forward_only.shape == plain.shape:
        assert not np.allclose(forward_only, plain, atol=1e-3)


def test_scaled_ensemble_returns_native_size_and_labels():
    model, image = _pointwise_model(), _quadrant_image()
    members = ensemble_transforms("flip,rot180,scales=0.5,1,1.5")
    assert len(members) == 9
    probabilities = ensemble_probabilities(model, image, members, input_size=(24, 36)).numpy()
    assert probabilities.shape == (16, 24, 3)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
    labels = probabilities.argmax(-1)
    expected = np.where(np.arange(24) < 12, 0, 1)[None].repeat(16, 0)
    expected[8:, 12:] = 2
    interior = np.ones_like(labels, bool)  # bilinear resizing blurs the one-pixel borders between regions
    interior[:, 10:14] = interior[6:10, 12:] = False
    np.testing.assert_array_equal(labels[interior], expected[interior])


def test_unconfident_pixels_are_ignored():
    probabilities = np.array([[[0.95, 0.05], [0.6, 0.4]], [[0.2, 0.8], [0.05, 0.95]]])
    np.testing.assert_array_equal(pseudo_label_mask(probabilities, 0.9), [[0, 255], [255, 1]])
    np.testing.assert_array_equal(pseudo_label_mask(probabilities, 0.5, ignore_index=7), [[0, 0], [1, 1]])


def test_class_balance_keeps_the_most_confident_part_of_every_class():
    """Class 0 is confident everywhere, class 1 never reaches the global threshold: CBST lowers
    class 1's threshold to keep its top half, and leaves class 0 at the global one."""
    labels = [np.array([[0, 0, 1, 1], [0, 0, 1, 1]], np.uint8)]
    confidence = [np.array([[0.99, 0.97, 0.6, 0.5], [0.98, 0.96, 0.7, 0.4]], np.float16)]
    thresholds = class_balanced_thresholds(labels, confidence, 3, threshold=0.9, portion=0.5)
    assert thresholds[0] == pytest.approx(0.9) and thresholds[2] == pytest.approx(0.9)  # 2: never predicted
    assert 0.5 < thresholds[1] <= 0.6
    probabilities = np.stack([confidence[0], 1 - confidence[0]], -1).astype(np.float32)
    probabilities[labels[0] == 1] = probabilities[labels[0] == 1][:, ::-1]
    mask = pseudo_label_mask(probabilities, thresholds[:2])
    np.testing.assert_array_equal(mask, [[0, 0, 1, 255], [0, 0, 1, 255]])
    np.testing.assert_array_equal(pseudo_label_mask(probabilities, 0.9), [[0, 0, 255, 255], [0, 0, 255, 255]])


def test_cli_writes_masks_the_trainer_accepts(shapes_data, tiny_model, tmp_path):
    from semiseg_tf.cli.main import cli
    from semiseg_tf.data import SegmentationDataset
    from semiseg_tf.training.samples import extra_labeled_samples

    model_file = tmp_path / "model.keras"
    tiny_model("unet-tiny", 5).save(model_file)
    stems = ["train_0001", "train_0003", "train_0004"]
    (tmp_path / "unlabeled.txt").write_text("\n".join(stems) + "\n")
    out = tmp_path / "pseudo"
    result = CliRunner().invoke(cli, [
        "pseudo-label", "--model", str(model_file), "--images", str(shapes_data / "images"),
        "--stems", str(tmp_path / "unlabeled.txt"), "--transforms", "flip,scales=0.75,1",
        "--threshold", "0.3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Results saved to" in result.output
    assert sorted(p.stem for p in out.glob("*.png")) == stems
    summary = json.loads((out / "pseudo_labels.json").read_text())
    assert summary["transforms"] == ["scale0.75", "scale0.75+hflip", "identity", "hflip"]
    assert summary["threshold"] == 0.3 and set(summary["coverage"]) == set(stems)
    dataset = SegmentationDataset(shapes_data)
    samples = extra_labeled_samples(dataset, out, stems)
    dataset.validate(samples)  # sizes and class ids are what training reads
    assert [s.stem for s in samples] == stems

    balanced = tmp_path / "balanced"
    result = CliRunner().invoke(cli, [
        "pseudo-label", "--model", str(model_file), "--images", str(shapes_data / "images"),
        "--stems", str(tmp_path / "unlabeled.txt"), "--transforms", "flip", "--threshold", "0.99",
        "--class-balance", "0.5", "--out", str(balanced)])
    assert result.exit_code == 0, result.output
    summary = json.loads((balanced / "pseudo_labels.json").read_text())
    assert summary["class_balance"] == 0.5 and len(summary["class_thresholds"]) == 5
    assert summary["mean_coverage"] >= 0.45  # at least half of each predicted class is kept


def test_drawn_labels_keep_their_pixels_and_the_model_fills_the_rest(shapes_data, tiny_model, tmp_path):
    """The next round of a scribble run: drawn pixels as drawn, confident predictions elsewhere."""
    from semiseg_tf.cli.main import cli
    from semiseg_tf.data import read_mask

    model_file = tmp_path / "model.keras"
    tiny_model("unet-tiny", 5).save(model_file)
    scribbles = tmp_path / "scribbles"
    result = CliRunner().invoke(cli, ["weaken", "--data", str(shapes_data), "--kind", "scribble",
                                      "--out", str(scribbles)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "round2"
    result = CliRunner().invoke(cli, ["pseudo-label", "--model", str(model_file), "--images",
                                      str(shapes_data / "images"), "--drawn", str(scribbles), "--transforms", "flip",
                                      "--threshold", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "pseudo_labels.json").read_text())["constraint"] == "drawn labels"
    drawn_stems = [p.stem for p in (scribbles / "masks").glob("*.png")]
    assert drawn_stems
    for stem in drawn_stems[:4]:
        drawn = read_mask(scribbles / "masks" / f"{stem}.png", 5)
        written = read_mask(out / f"{stem}.png", 5)
        np.testing.assert_array_equal(written[drawn != 255], drawn[drawn != 255])
        assert (written != 255).all()  # threshold 0: the model labels every other pixel

    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["pseudo-label", "--model", str(model_file), "--images",
                                      str(shapes_data / "images"), "--drawn", str(empty), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "holds no label map named like the images" in result.output
    assert "Traceback" not in result.output


def test_cli_rejects_a_bad_transform(shapes_data, tmp_path):
    from semiseg_tf.cli.main import cli

    result = CliRunner().invoke(cli, ["pseudo-label", "--model", str(tmp_path), "--images",
                                      str(shapes_data / "images"), "--transforms", "flip,shear",
                                      "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "unknown transform 'shear'" in result.output


@pytest.mark.parametrize("share", [0.25, 0.75])
def test_extra_labels_share_fixes_the_pseudo_labeled_part_of_every_batch(shapes_data, tmp_path, share):
    from PIL import Image

    from semiseg_tf.data import SegmentationDataset
    from semiseg_tf.training import TrainConfig
    from semiseg_tf.training.samples import extra_labeled_samples
    from semiseg_tf.training.streams import labeled_stream

    dataset = SegmentationDataset(shapes_data)
    stems = dataset.stems("train")
    folder = tmp_path / "pseudo"  # pseudo-masks entirely ignored (255): recognisable in a batch
    folder.mkdir()
    for stem in stems[6:]:
        Image.fromarray(np.full((32, 48), 255, np.uint8)).save(folder / f"{stem}.png")
    samples, extra = dataset.samples(stems=stems[:6]), extra_labeled_samples(dataset, folder, stems[6:])
    config = TrainConfig(batch_size=4, extra_labels_share=share)
    stream = labeled_stream(config, samples, extra, num_classes=5, base_size=(32, 48), crop_size=(32, 48),
                            start_step=0, ignore_index=255)
    n_extra = round(4 * share)
    for _, masks in stream.take(5):
        ignored = np.all(masks.numpy() == 255, axis=(1, 2))
        assert ignored.tolist() == [False] * (4 - n_extra) + [True] * n_extra

    sizes = dict(num_classes=5, base_size=(32, 48), crop_size=(32, 48), start_step=0, ignore_index=255)
    with pytest.raises(ValueError, match="no room"):
        labeled_stream(TrainConfig(batch_size=4, extra_labels_share=0.1), samples, extra, **sizes)
    with pytest.raises(ValueError, match="needs extra_labels"):
        labeled_stream(TrainConfig(batch_size=4, extra_labels_share=0.5), samples, [], **sizes)
