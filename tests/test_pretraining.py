"""Self-supervised pretraining: pretext labels are right, k-means fills every cluster, each method trains a
few steps and resumes, and loading the pretrained encoder changes exactly the encoder's weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from semiseg_tf.cli.main import cli
from semiseg_tf.data import DataError
from semiseg_tf.models import build_model
from semiseg_tf.pretraining import PretrainConfig, load_encoder_weights, pretrain, save_encoder
from semiseg_tf.pretraining.deepcluster import cluster_features, refill_empty_clusters, uniform_over_clusters
from semiseg_tf.pretraining.detcon import detcon_loss, felzenszwalb_segments, mask_pooled, sample_shared_segments
from semiseg_tf.pretraining.jigsaw import (jigsaw_tiles, maximal_hamming_permutations, normalise_tiles,
                                           tile_geometry)
from semiseg_tf.pretraining.rotation import rotate_batch


# === Pretext labels ===
def test_rotation_label_is_the_applied_rotation():
    images = np.random.default_rng(0).uniform(0, 255, (3, 8, 8, 3)).astype(np.float32)
    rotated, labels = rotate_batch(tf.constant(images))
    rotated, labels = rotated.numpy(), labels.numpy()
    assert sorted(np.bincount(labels)) == [3, 3, 3, 3]
    for i, label in enumerate(labels):
        np.testing.assert_array_equal(rotated[i], np.rot90(images[i % 3], label))  # k x 90 degrees anticlockwise
        if label:
            assert not np.array_equal(rotated[i], images[i % 3])


def test_permutation_set_is_far_apart():
    permutations = maximal_hamming_permutations(100, seed=0)
    assert permutations.shape == (100, 9)
    assert all(sorted(p) == list(range(9)) for p in permutations.tolist())
    distance = (permutations[:, None] != permutations[None]).sum(-1)
    np.fill_diagonal(distance, 9)
    assert distance.min() >= 6  # random choice gives pairs 2 apart; the greedy max-min keeps them at >= 6


def test_jigsaw_permutation_is_recoverable_from_the_tiles():
    """Each grid cell holds one value (its index) plus a horizontal ramp: a tile's value names the cell it
    was cut from, its ramp where inside the cell; together they recover the permutation and show the gaps."""
    size, share = 60, 0.8
    cell, tile = tile_geometry(size, share)
    rows, columns = np.mgrid[0:size, 0:size]
    index = (rows // cell) * 3 + columns // cell
    image = np.stack([index * 20.0, columns.astype(float), np.zeros_like(rows, float)], -1).astype(np.float32)
    permutations = maximal_hamming_permutations(20, seed=1)
    offsets, labels = set(), set()
    for seed in range(12):
        tiles, label = jigsaw_tiles(tf.constant(image), tf.constant([seed, 7]), tf.constant(permutations), share)
        tiles, label = tiles.numpy(), int(label)
        assert tiles.shape == (9, tile, tile, 3)
        cells = [int(np.unique(t[..., 0])[0] // 20) for t in tiles]
        assert all(len(np.unique(t[..., 0])) == 1 for t in tiles)  # a tile never crosses a cell border
        assert cells == permutations[label].tolist()
        for position, source in enumerate(cells):
            left = int(tiles[position, 0, 0, 1]) - (source % 3) * cell
            assert 0 <= left <= cell - tile
            offsets.add(left)
        labels.add(label)
    assert len(offsets) > 1 and len(labels) > 1  # jitter and several permutations
    normalised = normalise_tiles(tf.constant(np.random.default_rng(0).uniform(0, 255, (9, 8, 8, 3)) * [1, 0.5, 0.2]))
    np.testing.assert_allclose(tf.reduce_mean(normalised, axis=[1, 2, 3]).numpy(), 127.5, atol=3)


def test_kmeans_assigns_every_point_and_refills_empty_clusters():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 16)) + np.repeat(rng.normal(scale=5, size=(6, 16)), 10, axis=0)
    clustering = cluster_features(features, k=6, pca_dim=8, seed=0)
    assert clustering.assignments.shape == (60,)
    assert np.bincount(clustering.assignments, minlength=6).min() > 0 and clustering.assignments.max() < 6
    # Three distinct images repeated: k-means leaves clusters empty; each is re-filled.
    duplicates = np.repeat(rng.normal(size=(3, 16)), 8, axis=0)
    with pytest.warns(Warning):  # scikit-learn: fewer distinct clusters than n_clusters
        clustering = cluster_features(duplicates, k=5, pca_dim=8, seed=0)
    assert clustering.refilled >= 2
    assert np.bincount(clustering.assignments, minlength=5).min() > 0
    # The re-fill on its own: everything in cluster 0, clusters 1 and 2 empty.
    points = rng.normal(size=(10, 4)).astype(np.float32)
    assignments, centroids, refilled = refill_empty_clusters(points, np.zeros(10, np.int64),
                                                             np.zeros((3, 4)) + points.mean(0), rng)
    assert refilled == 2 and np.bincount(assignments, minlength=3).min() > 0 and centroids.shape == (3, 4)


def test_sampling_is_uniform_over_clusters():
    assignments = np.array([0] * 90 + [1] * 10)
    drawn = uniform_over_clusters(assignments, 100, np.random.default_rng(0))
    assert len(drawn) == 100
    assert np.bincount(assignments[drawn]).tolist() == [50, 50]


def test_detcon_masks_pooling_and_loss():
    image = np.zeros((32, 32, 3), np.uint8)
    image[:, 12:] = (200, 40, 40)
    segments = felzenszwalb_segments(image, scale=100, min_area=0.2, max_segments=8)
    assert np.unique(segments[:, :12]).tolist() == [1] and np.unique(segments[:, 12:]).tolist() == [0]  # largest: 0
    assert np.unique(felzenszwalb_segments(image, 100, 0.2, max_segments=1)).tolist() == [-1, 0]  # small rest: -1
    ids, valid = sample_shared_segments(tf.constant(segments), tf.constant(segments[:, ::-1].copy()),
                                        tf.constant([0, 1]), 6, 8)
    assert set(ids.numpy().tolist()) <= {0, 1} and valid.numpy().min() == 1.0
    # Features equal to the segment id: pooling inside each segment returns that id.
    features = tf.constant(segments[None, ::4, ::4, None].astype(np.float32))
    pooled = mask_pooled(features, tf.constant(segments[None]), tf.constant([[0, 1]]))
    np.testing.assert_allclose(pooled.numpy()[0, :, 0], [0, 1], atol=1e-6)
    # Matching embeddings across views: every positive wins; random ones: about chance.
    z = tf.constant(np.eye(8, dtype=np.float32).reshape(2, 4, 8))
    ids = tf.constant([[0, 1, 2, 3], [0, 1, 2, 3]])
    total, count, accuracy = detcon_loss(z, z, ids, tf.ones((2, 4)), temperature=0.1)
    assert float(accuracy) == 1.0 and float(count) == 8 and float(total) / 8 < 0.01
    noise = tf.constant(np.random.default_rng(0).normal(size=(2, 4, 8)).astype(np.float32))
    assert float(detcon_loss(z, noise, ids, tf.ones((2, 4)), 0.1)[0]) > 8 * 0.5


# === Runs ===
@pytest.fixture
def eager(monkeypatch):
    """Run the pretext model's steps eagerly: tracing a train step costs ~20 s on two busy cores, three eager
    steps a few. The rotation run keeps graph mode (tf.function), as the CLI runs every method."""
    from semiseg_tf.pretraining import runner

    build = runner.build_pretext

    def build_eager(*args, **kwargs):
        segmenter, model = build(*args, **kwargs)
        model.run_eagerly = True
        return segmenter, model

    monkeypatch.setattr(runner, "build_pretext", build_eager)


def config(shapes_data, method, **overrides) -> PretrainConfig:
    options = dict(method=method, data=str(shapes_data), model="deeplabv3plus-tiny", steps=3, batch_size=4,
                   image_size=32, log_every=2, checkpoint_every=2, bn_recalibration_batches=1)
    return PretrainConfig(**(options | overrides))


METHOD_OPTIONS = {"rotation": {}, "jigsaw": {"permutations": 10, "hidden": 32},
                  "deepcluster": {"epoch_steps": 2, "hidden": 32, "clusters": 3},
                  "dense": {"hidden": 32, "projection_dim": 16, "masks_per_image": 4, "fh_scale": 100.0}}


@pytest.mark.parametrize("method", list(METHOD_OPTIONS))
def test_each_method_runs_a_few_steps(shapes_data, tmp_path, method, request):
    if method != "rotation":
        request.getfixturevalue("eager")
    model = "unet-tiny" if method == "rotation" else "deeplabv3plus-tiny"
    steps = 3 if method in ("rotation", "deepcluster") else 2  # deepcluster: two epochs of 2 steps
    out = tmp_path / method
    card = pretrain(config(shapes_data, method, model=model, steps=steps, method_options=METHOD_OPTIONS[method],
                           bn_recalibration_batches=1 if method == "rotation" else 0), out, verbose=0)
    assert card["steps"] == steps and card["images"] == 12 and card["method"] == method
    assert "cores" in card["machine"]  # the time means little without the machine
    assert np.isfinite(card["final_metric"]["value"]) and np.isfinite(card["final_loss"])
    assert json.loads((out / "card.json").read_text()) == card
    assert (out / "encoder.weights.h5").is_file() and (out / "backup" / "checkpoint.npz").is_file()
    logged_steps = [int(line.split(",")[0]) for line in (out / "history.csv").read_text().splitlines()[1:]]
    assert logged_steps == sorted({2, steps})  # every log_every=2 steps and at the last
    assert json.loads((out / "encoder.json").read_text())["preset"] == model
    if method == "deepcluster":  # two epochs of 2 steps: clustered twice; resumed inside epoch 1, a third time
        assert len((out / "clusters.csv").read_text().splitlines()) == 1 + 2 and "nmi_last_two_clusterings" in card
        card = pretrain(PretrainConfig(), out, resume=True, steps=5, verbose=0)
        epochs = [line.split(",")[0] for line in (out / "clusters.csv").read_text().splitlines()[1:]]
        assert card["steps"] == 5 and epochs == ["0", "1", "2"]  # epoch 1's clustering was reused, not redone
    if method == "rotation":  # resume to a new total: continues at the checkpoint, loads into a segmenter
        request.getfixturevalue("eager")
        card = pretrain(PretrainConfig(), out, resume=True, steps=5, verbose=0)
        assert card["steps"] == 5 and card["resumed_from_step"] == 3
        assert [int(line.split(",")[0]) for line in (out / "history.csv").read_text().splitlines()[1:]] == [2, 3, 4, 5]
        segmenter = build_model("unet-tiny", num_classes=4)
        assert load_encoder_weights(segmenter, out)["method"] == "rotation"


def test_cli_help_and_refusals(shapes_data, tmp_path):
    result = CliRunner().invoke(cli, ["pretrain", "--help"])
    assert result.exit_code == 0 and "dense" in result.output and "--images" in result.output
    with pytest.raises(ValueError, match="--split test"):
        pretrain(config(shapes_data, "rotation", split="test"), tmp_path / "a", verbose=0)
    result = CliRunner().invoke(cli, ["pretrain", "--method", "rotation", "--data", str(shapes_data), "--split",
                                      "test", "--out", str(tmp_path / "b")])
    assert result.exit_code == 2 and "--split test" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = CliRunner().invoke(cli, ["pretrain", "--data", str(shapes_data), "--out", str(tmp_path / "c")])
    assert result.exit_code == 2 and "--method" in result.output
    result = CliRunner().invoke(cli, ["pretrain", "--method", "jigsaw", "--data", str(shapes_data),
                                      "--method-option", "permutation=10", "--out", str(tmp_path / "d")])
    assert result.exit_code == 2 and "did you mean 'permutations'" in result.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "d").exists()


# === Loading ===
def test_loading_encoder_weights_changes_exactly_the_encoder(tmp_path):
    pretrained = build_model("deeplabv3plus-tiny", num_classes=3)
    rng = np.random.default_rng(0)
    for variable in pretrained.encoder.weights:
        variable.assign(rng.normal(size=variable.shape).astype(np.float32) + 2.0)
    save_encoder(pretrained, tmp_path, {"preset": "deeplabv3plus-tiny", "method": "test"})
    segmenter = build_model("deeplabv3plus-tiny", num_classes=5)
    before = {v.path: np.array(v) for v in segmenter.weights}
    encoder_paths = {v.path for v in segmenter.encoder.weights}
    summary = load_encoder_weights(segmenter, tmp_path / "encoder.weights.h5")
    assert summary["variables"] == len(encoder_paths) > 0
    for variable, expected in zip(segmenter.encoder.weights, pretrained.encoder.weights):
        np.testing.assert_array_equal(np.array(variable), np.array(expected))
        assert not np.array_equal(np.array(variable), before[variable.path])
    others = [v for v in segmenter.weights if v.path not in encoder_paths]
    assert others and all(np.array_equal(np.array(v), before[v.path]) for v in others)


def test_encoder_mismatch_names_the_layer(tmp_path):
    save_encoder(build_model("deeplabv3plus-tiny", 2, encoder={"widths": [16, 24, 32, 64]}), tmp_path / "wide",
                 {"preset": "deeplabv3plus-tiny"})
    segmenter = build_model("deeplabv3plus-tiny", num_classes=2)
    before = [np.array(v) for v in segmenter.weights]
    with pytest.raises(DataError, match=r"layer 'stage5_block0_\w+' kernel has shape \(3, 3, \d+, 64\)"):
        load_encoder_weights(segmenter, tmp_path / "wide")
    save_encoder(build_model("unet-tiny", 2), tmp_path / "unet", {"preset": "unet-tiny"})
    with pytest.raises(DataError, match=r"layer '\w+'.*'unet-tiny'"):
        load_encoder_weights(segmenter, tmp_path / "unet")
    assert all(np.array_equal(np.array(v), b) for v, b in zip(segmenter.weights, before))  # nothing assigned
    with pytest.raises(DataError, match="encoder weights not found"):
        load_encoder_weights(segmenter, tmp_path)


def test_train_starts_from_pretrained_encoder_weights(shapes_data, tmp_path):
    """`encoder_weights` (train --encoder-weights): the encoder starts from the pretrained weights, the
    decoder from its own initialisation; the option lands in config.json."""
    from semiseg_tf.data import SegmentationDataset
    from semiseg_tf.training import TrainConfig
    from semiseg_tf.training.trainer import build_training

    pretrained = build_model("deeplabv3plus-tiny", num_classes=5)
    for variable in pretrained.encoder.weights:
        variable.assign(np.full(variable.shape, 0.5, np.float32))
    save_encoder(pretrained, tmp_path / "pre", {"preset": "deeplabv3plus-tiny", "method": "test"})
    config = TrainConfig(data=str(shapes_data), model="deeplabv3plus-tiny", steps=1, batch_size=2,
                         train_size=(32, 48), encoder_weights=str(tmp_path / "pre"))
    method, _ = build_training(config, SegmentationDataset(shapes_data), [])
    assert all((np.array(v) == 0.5).all() for v in method.segmenter.encoder.weights)
    assert not all((np.array(v) == 0.5).all() for v in method.segmenter.weights)
    assert TrainConfig.from_dict(config.to_dict()).encoder_weights == str(tmp_path / "pre")
