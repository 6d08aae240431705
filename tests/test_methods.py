"""Semi-supervised methods: pixel losses on hand-built tensors, views, gradients, EMA, end-to-end runs."""

from __future__ import annotations

import csv
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from semiseg_tf.losses import MaskedCrossEntropy
from semiseg_tf.methods import METHODS, get_method
from semiseg_tf.methods.copypaste import class_paste_mask, paste
from semiseg_tf.methods.fixmatch import strong_cutmix_view
from semiseg_tf.methods.geometric import Transform, ensemble_transforms, parse_transforms
from semiseg_tf.methods.semi import (confident_pseudo_labels, equivariance_loss, pseudo_label_loss,
                                     sigmoid_rampup)
from semiseg_tf.methods.strong_augment import StrongAugment, cutmix_box
from semiseg_tf.methods.uda import tsa_threshold

SEMI_METHODS = sorted(name for name, method in METHODS.items() if method.uses_unlabeled)


# === Pixel losses and views on hand-built tensors ===
def test_confidence_mask_and_pseudo_label_loss():
    probabilities = np.array([[[[0.97, 0.01, 0.02], [0.5, 0.3, 0.2]],
                               [[0.1, 0.05, 0.85], [0.01, 0.96, 0.03]]]], np.float32)
    labels, confidence, confident = confident_pseudo_labels(tf.math.log(probabilities), 0.95)
    np.testing.assert_array_equal(labels, [[[0, 0], [2, 1]]])
    np.testing.assert_allclose(confidence, [[[0.97, 0.5], [0.85, 0.96]]], rtol=1e-5)
    np.testing.assert_array_equal(confident, [[[1, 0], [0, 1]]])
    loss = pseudo_label_loss(tf.math.log(probabilities), labels, confident)
    # confident pixels only, divided by all 4 pixels
    assert float(loss) == pytest.approx((-math.log(0.97) - math.log(0.96)) / 4, rel=1e-5)


def test_cutmix_moves_images_labels_and_confidence_together():
    images = tf.stack([tf.fill((4, 4, 3), 10.0), tf.fill((4, 4, 3), 20.0)])
    labels = tf.constant([0, 1])[:, None, None] * tf.ones((2, 4, 4), tf.int32)
    confidence = tf.constant([0.5, 0.99])[:, None, None] * tf.ones((2, 4, 4))
    box = np.zeros((2, 4, 4), np.float32)
    box[0, 1:3, 1:4] = 1
    mixed_images, mixed_labels, mixed_confidence = strong_cutmix_view(images, labels, confidence, box)
    inside = box[0] == 1
    # image 0 takes image 1 (its partner) inside the box, stays itself outside
    assert (mixed_images[0].numpy()[inside] == 20).all() and (mixed_images[0].numpy()[~inside] == 10).all()
    assert (mixed_labels[0].numpy()[inside] == 1).all() and (mixed_labels[0].numpy()[~inside] == 0).all()
    np.testing.assert_allclose(mixed_confidence[0].numpy()[inside], 0.99)
    np.testing.assert_allclose(mixed_confidence[0].numpy()[~inside], 0.5)
    # image 1 has no box: unchanged
    np.testing.assert_array_equal(mixed_images[1], images[1])
    np.testing.assert_array_equal(mixed_labels[1], labels[1])


def test_cutmix_boxes_are_rectangles_of_the_requested_area():
    boxes = cutmix_box((16, 32, 48), keras.random.SeedGenerator(0), p=1.0).numpy()
    for box in boxes:
        rows, cols = np.nonzero(box)
        assert box[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()
        assert 0 < box.mean() <= 0.4 + 1e-6
    assert not cutmix_box((4, 32, 48), keras.random.SeedGenerator(0), p=0.0).numpy().any()


def test_strong_augment_keeps_range_and_geometry():
    images = tf.random.stateless_uniform((4, 16, 24, 3), (1, 2), 0, 255)
    strong = StrongAugment(seed=3)(images).numpy()
    assert strong.shape == images.shape and strong.min() >= 0 and strong.max() <= 255
    assert not np.allclose(strong, images.numpy())
    flat = tf.fill((2, 16, 24, 3), 100.0)
    blurred = StrongAugment(jitter_p=0.0, grayscale_p=0.0, blur_p=1.0, seed=0)(flat)
    np.testing.assert_allclose(blurred, flat, atol=1e-3)  # a normalised blur keeps flat images flat
    gray = StrongAugment(jitter_p=0.0, grayscale_p=1.0, blur_p=0.0, seed=0)(images).numpy()
    np.testing.assert_allclose(gray[..., 0], gray[..., 2], atol=1e-3)


def test_tsa_threshold_and_rampup():
    assert float(tsa_threshold(0.0, 4, "linear")) == pytest.approx(0.25)
    assert float(tsa_threshold(1.0, 4, "exp")) == pytest.approx(1.0)
    assert float(sigmoid_rampup(0, 100)) == pytest.approx(math.exp(-5))
    assert float(sigmoid_rampup(200, 100)) == 1.0 and float(sigmoid_rampup(0, 0)) == 1.0


# === Equivariance ===
def test_transforms_invert_and_parse():
    x = tf.random.stateless_uniform((2, 8, 12, 3), (0, 1))
    for transform in parse_transforms("hflip,rot90,rot180,rot270"):
        np.testing.assert_array_equal(transform.inverse(transform.forward(x)), x)
    assert parse_transforms("rot90")[0].forward(x).shape == (2, 12, 8, 3)
    scaled = Transform(scale=0.5)
    assert scaled.inverse(scaled.forward(x), (8, 12)).shape == x.shape
    members = ensemble_transforms("flip,scales=0.75,1,1.25")
    assert [m.name for m in members] == ["scale0.75", "scale0.75+hflip", "identity", "hflip",
                                         "scale1.25", "scale1.25+hflip"]
    with pytest.raises(ValueError, match="unknown transform"):
        parse_transforms("hflip,shear")
    for bad in ("hflip,scale=half", "scale=0", "scale=-1", "scale=nan", "scale=inf"):
        with pytest.raises(ValueError, match="a scale is a finite number > 0"):
            parse_transforms(bad)
    with pytest.raises(ValueError, match="scales"):
        ensemble_transforms("flip,0.5")


def _toy(kernel_size: int) -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(5, kernel_size, padding="same")])


@pytest.mark.parametrize("spec", ["hflip", "rot90", "rot180", "rot270"])
def test_equivariance_loss_is_zero_only_for_an_equivariant_model(spec):
    images = tf.random.stateless_uniform((2, 12, 16, 3), (4, 2), -1, 1)
    transform = parse_transforms(spec)[0].forward
    pointwise, spatial = _toy(1), _toy(3)  # a 1x1 conv commutes with flips and rotations; a random 3x3 does not
    assert float(equivariance_loss(pointwise, images, pointwise(images), transform)) < 1e-6
    assert float(equivariance_loss(spatial, images, spatial(images), transform)) > 1e-4


# === Methods on one batch (eager: fast) ===
def _batch(seed=0):
    rng = np.random.default_rng(seed)
    masks = rng.integers(0, 5, (2, 32, 48)).astype(np.uint8)
    masks[:, :4] = 255
    return {"images": tf.constant(rng.uniform(0, 255, (2, 32, 48, 3)), tf.float32),
            "masks": tf.constant(masks),
            "unlabeled": tf.constant(rng.uniform(0, 255, (2, 32, 48, 3)), tf.float32)}


def _method(tiny_model, name, **options):
    method = get_method(name).from_options(tiny_model("deeplabv3plus-tiny", 5), options)
    method.compile(optimizer=keras.optimizers.AdamW(1e-3), loss=MaskedCrossEntropy())
    method(tf.zeros((1, 32, 48, 3)))
    return method


@pytest.mark.parametrize("name", SEMI_METHODS)
def test_unsupervised_loss_reaches_the_trained_weights(tiny_model, name):
    options = {"threshold": 0.0} if name in ("fixmatch", "unimatch", "uda") else {}  # every pixel confident
    method = _method(tiny_model, name, **options)
    batch = _batch()
    with tf.GradientTape(persistent=True) as tape:
        parts, (inputs, logits) = method.loss_parts(batch["images"], batch["masks"], batch["unlabeled"])
        unsup = parts.get("loss_unsup") if name != "equivariance" else method.random_equivariance_loss(inputs, logits)
    assert all(np.isfinite(float(v)) for v in parts.values())
    trained = method.trainable_variables
    expected = method.segmenter.trainable_variables + (method.peer.trainable_variables if name == "cps" else [])
    assert {id(v) for v in trained} == {id(v) for v in expected}
    grads = tape.gradient(unsup, trained)
    reached = [g is not None and float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads]
    assert sum(reached) >= 0.9 * len(trained), f"{name}: unsupervised loss reaches {sum(reached)}/{len(trained)}"
    if name == "meanteacher":
        assert all(g is None for g in tape.gradient(parts["loss_unsup"], method.teacher.weights))


def test_strong_passes_can_leave_batchnorm_statistics_alone(tiny_model):
    """strong_bn_stats=False: the strong view trains the weights but the running statistics move only
    with the labeled + weak pass (the same step with the strong pass updating them ends elsewhere)."""
    from semiseg_tf.methods.semi import batchnorm_statistics, call_keeping_statistics

    method = _method(tiny_model, "fixmatch", strong_bn_stats=False, threshold=0.0)
    statistics = batchnorm_statistics(method.segmenter)
    assert len(statistics) > 0 and all(v.name in ("moving_mean", "moving_variance") for v in statistics)
    before = [v.numpy() for v in statistics]
    call_keeping_statistics(method.segmenter, _batch()["unlabeled"])
    for old, variable in zip(before, statistics):
        np.testing.assert_array_equal(old, variable)
    method.segmenter(_batch()["unlabeled"], training=True)  # an ordinary training pass does move them
    assert any(not np.array_equal(old, v) for old, v in zip(before, statistics))

    finals = {}
    for keep in (True, False):
        keras.utils.set_random_seed(0)  # same weights and draws: only the statistics' handling differs
        method = _method(tiny_model, "fixmatch", strong_bn_stats=keep, threshold=0.0)
        logs = method.train_step(_batch())
        assert np.isfinite(float(logs["loss"]))
        finals[keep] = ([v.numpy() for v in batchnorm_statistics(method.segmenter)],
                        [v.numpy() for v in method.segmenter.trainable_variables])
    assert any(not np.allclose(a, b) for a, b in zip(finals[True][0], finals[False][0]))
    for a, b in zip(finals[True][1], finals[False][1]):  # the gradients were the same
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_run_length_options_default_to_the_run_steps(tiny_model):
    """UDA's annealing spans the run unless set: the trainer passes its step count, the config records it."""
    uda = get_method("uda")
    assert uda.from_options(tiny_model("unet-tiny", 5), {}, run_steps=300).tsa_steps == 300
    assert uda.from_options(tiny_model("unet-tiny", 5), {"tsa_steps": 50}, run_steps=300).tsa_steps == 50
    assert uda.from_options(tiny_model("unet-tiny", 5), {}).method_config()["tsa_steps"] == 0


def test_the_run_seed_seeds_the_method_unless_an_option_does(tiny_model):
    """Runs of different --seed draw different strong views and CutMix boxes; the config records the seed."""
    fixmatch = get_method("fixmatch")
    assert fixmatch.from_options(tiny_model("unet-tiny", 5), {}, seed=3).method_config()["seed"] == 3
    assert fixmatch.from_options(tiny_model("unet-tiny", 5), {"seed": 7}, seed=3).seed == 7
    assert get_method("supervised").from_options(tiny_model("unet-tiny", 5), {}, seed=3).method_config() == {}


def test_mean_teacher_follows_the_student_by_ema(tiny_model):
    method = _method(tiny_model, "meanteacher", ema_decay=0.99)
    for teacher, student in zip(method.teacher.weights, method.segmenter.weights):
        np.testing.assert_array_equal(teacher, student)  # starts as a copy
    before = [w.numpy() for w in method.teacher.weights]
    logs = method.train_step(_batch())
    assert np.isfinite(float(logs["loss"]))
    decay = min(0.99, 1 - 1 / (1 + 1))  # after the first step
    for old, teacher, student in zip(before, method.teacher.weights, method.segmenter.weights):
        np.testing.assert_allclose(teacher, decay * old + (1 - decay) * student.numpy(), rtol=1e-5, atol=1e-6)


def test_cps_cutmix_mixes_images_and_each_networks_labels_alike(tiny_model, monkeypatch):
    """CPS + CutMix: the box of the partner image and of the partner's labels (per network) move together."""
    import semiseg_tf.methods.cps as cps

    box = np.zeros((2, 32, 48), np.float32)
    box[:, 4:20, 10:30] = 1.0
    monkeypatch.setattr(cps, "cutmix_box", lambda shape, seed, p: tf.constant(box))
    method = _method(tiny_model, "cps")
    unlabeled = _batch()["unlabeled"]
    mixed, (labels_a, labels_b) = method.mixed_view(unlabeled)
    inside = box[..., None] > 0.5
    np.testing.assert_array_equal(mixed, np.where(inside, unlabeled.numpy()[[1, 0]], unlabeled))
    for net, labels in ((method.segmenter, labels_a), (method.peer, labels_b)):
        source = np.argmax(net(unlabeled, training=False), -1)
        np.testing.assert_array_equal(labels, np.where(box > 0.5, source[[1, 0]], source))
    assert not np.array_equal(labels_a, labels_b)  # two networks, two labellings


def test_cps_peer_shares_the_encoder_initialisation_only(tiny_model):
    """The paper's setting: one pretrained backbone, two differently initialised decoders."""
    segmenter = tiny_model()
    encoder = [w.numpy() for w in segmenter.encoder.weights]
    method = get_method("cps").from_options(segmenter, {})
    for ours, peer in zip(encoder, method.peer.encoder.weights):
        np.testing.assert_array_equal(ours, peer)
    decoder = [w for w in method.peer.weights if not any(w is e for e in method.peer.encoder.weights)]
    ours = [w for w in segmenter.weights if not any(w is e for e in segmenter.encoder.weights)]
    assert any(w.shape == v.shape and w.ndim > 1 and not np.allclose(w, v) for w, v in zip(decoder, ours))
    scratch = get_method("cps").from_options(tiny_model(), {"peer_init": "scratch"})
    assert not np.allclose(scratch.peer.encoder.weights[0], scratch.segmenter.encoder.weights[0])
    with pytest.raises(ValueError, match="valid values"):
        get_method("cps").from_options(tiny_model(), {"peer_init": "imagenet"})


def test_cps_refuses_class_weighted_pseudo_labels(tiny_model):
    """Measured on CamVid: with every pixel a pseudo-label, class weights drive both networks to one class."""
    with pytest.raises(ValueError, match="collapse"):
        get_method("cps").from_options(tiny_model(), {"unsup_class_weights": True})


def test_extra_networks_are_checkpointed_but_not_deployed(tiny_model, tmp_path):
    for name, extra in (("meanteacher", "teacher"), ("cps", "peer")):
        method = _method(tiny_model, name)
        method.train_step(_batch())
        if name == "cps":  # differently initialised heads
            assert not np.allclose(method.peer.weights[-1], method.segmenter.weights[-1])
        method.save_weights(tmp_path / f"{name}.weights.h5")
        restored = _method(tiny_model, name)
        restored.load_weights(tmp_path / f"{name}.weights.h5")
        for a, b in zip(getattr(method, extra).weights, getattr(restored, extra).weights):
            np.testing.assert_array_equal(a, b)
        assert method.segmenter.name != extra


def test_options_are_validated_and_configured(tiny_model):
    with pytest.raises(ValueError, match="valid"):
        get_method("fixmatch").from_options(tiny_model(), {"treshold": 0.9})
    config = _method(tiny_model, "unimatch", threshold=0.9, equivariance_weight=0.5).get_config()
    assert config["threshold"] == 0.9 and config["feature_dropout"] == 0.5 and config["equivariance_weight"] == 0.5
    assert config["equivariance_transforms"] == "hflip"  # rotations are opt-in: street scenes are not rotation-invariant


def test_pseudo_label_class_weights_follow_the_compiled_loss(tiny_model):
    labels = tf.constant([[[0, 1], [2, 1]]])
    keep = tf.constant([[[True, True], [False, True]]])
    for enabled, expected in ((False, [[[1, 1], [0, 1]]]), (True, [[[0.5, 2.0], [0.0, 2.0]]])):
        method = _method(tiny_model, "fixmatch", unsup_class_weights=enabled)
        method.compile(optimizer="adam", loss=MaskedCrossEntropy(255, [0.5, 2.0, 4.0]))
        np.testing.assert_allclose(method.pseudo_label_weights(labels, keep), expected)
        assert method.get_config()["unsup_class_weights"] is enabled


# === Copy-paste ===
def test_class_paste_mask_takes_whole_classes_and_never_ignored_pixels():
    masks = tf.constant([[[0, 0, 1, 255], [2, 2, 1, 255]], [[1, 1, 1, 1], [1, 1, 1, 1]]], tf.uint8)
    seed = keras.random.SeedGenerator(0)
    np.testing.assert_array_equal(class_paste_mask(masks, tf.ones(3), seed), masks.numpy() < 3)
    assert not class_paste_mask(masks, tf.zeros(3), seed).numpy().any()
    only_class_2 = class_paste_mask(masks, tf.constant([0.0, 0.0, 1.0]), seed)
    np.testing.assert_array_equal(only_class_2, masks.numpy() == 2)
    drawn = [class_paste_mask(masks, tf.fill((3,), 0.5), seed).numpy() for _ in range(200)]
    for where in drawn:  # each class all in or all out of each image
        for image, mask in zip(where, masks.numpy()):
            for c in range(3):
                assert len(set(image[mask == c])) <= 1
    assert 0.35 < np.mean([w[1].all() for w in drawn]) < 0.65  # image 1's one class: about half the time


def test_paste_puts_labeled_pixels_and_true_labels_on_each_unlabeled_image():
    images = tf.stack([tf.fill((2, 2, 3), 1.0), tf.fill((2, 2, 3), 2.0)])
    masks = tf.constant([[[3, 3], [4, 4]], [[5, 5], [5, 5]]], tf.uint8)
    unlabeled = tf.fill((4, 2, 2, 3), 9.0)  # twice the labeled batch: image i takes labeled i mod 2
    labels = tf.zeros((4, 2, 2), tf.int32)
    confidence = tf.fill((4, 2, 2), 0.5)
    where = tf.constant([[[True, True], [False, False]], [[False, False], [False, True]]])
    pasted, labels, confidence = paste(images, masks, unlabeled, labels, confidence, where)
    for i in range(4):
        inside = where.numpy()[i % 2]
        np.testing.assert_array_equal(pasted[i].numpy()[inside], 1.0 + i % 2)
        np.testing.assert_array_equal(pasted[i].numpy()[~inside], 9.0)
        np.testing.assert_array_equal(labels[i].numpy()[inside], masks.numpy()[i % 2][inside])
        np.testing.assert_array_equal(labels[i].numpy()[~inside], 0)
        np.testing.assert_array_equal(confidence[i].numpy()[inside], 1.0)
        np.testing.assert_array_equal(confidence[i].numpy()[~inside], 0.5)


def test_rare_classes_are_pasted_more_often_by_their_class_weights(tiny_model):
    for rare, expected in ((True, [0.25, 1.0, 1.0]), (False, [0.5, 0.5, 0.5])):
        method = get_method("copypaste")(tiny_model("deeplabv3plus-tiny", 3), rare_class_paste=rare)
        method.compile(optimizer="adam", loss=MaskedCrossEntropy(255, [0.5, 2.0, 4.0]))
        np.testing.assert_allclose(method.paste_probabilities(), expected)
    with pytest.raises(ValueError, match="paste_p"):
        _method(tiny_model, "copypaste", paste_p=1.5)


# === End to end through the trainer ===
def _train(shapes_data, out, name, options):
    from semiseg_tf.training import TrainConfig, train

    config = TrainConfig(data=str(shapes_data), model="unet-tiny", method=name, method_options=options,
                         labeled_fraction=0.5, steps=2, batch_size=2, checkpoint_every=2,
                         crop_size=(32, 48), train_size=(32, 48), bn_recalibration_batches=2)
    summary = train(config, out, verbose=0)
    assert summary["steps"] == 2 and np.isfinite(summary["final_loss"])
    return next(csv.DictReader((out / "history.csv").open()))


@pytest.mark.parametrize("name", SEMI_METHODS)
def test_method_trains_end_to_end(shapes_data, tmp_path, eager, tiny_model, name):
    from semiseg_tf.loading import load_segmenter

    row = _train(shapes_data, tmp_path, name, {})
    assert all(np.isfinite(float(row[part])) for part in get_method(name).part_names)
    deployed = load_segmenter(tmp_path).model  # one network, never the teacher/peer pair
    assert deployed.count_params() == tiny_model("unet-tiny", 5).count_params()


def test_graph_mode_training_with_equivariance(shapes_data, tmp_path):
    """UniMatch (FixMatch's strong CutMix views + feature perturbation) + equivariance, traced."""
    row = _train(shapes_data, tmp_path, "unimatch", {"equivariance_weight": 0.1, "threshold": 0.5})
    assert 0 <= float(row["mask_ratio"]) <= 1
    assert float(row["loss_equiv"]) > 0 and np.isfinite(float(row["loss_fp"]))


def test_graph_mode_equivariance_mixes_flips_and_scales(shapes_data, tmp_path):
    """A scale changes the view's size, so the drawn branch's shape differs per step; traced once."""
    row = _train(shapes_data, tmp_path, "equivariance", {"equivariance_transforms": "hflip,scale=0.5,scale=1.5"})
    assert float(row["loss_equiv"]) > 0 and np.isfinite(float(row["loss_equiv"]))
