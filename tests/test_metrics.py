"""Confusion-matrix metrics, the masked cross-entropy and evaluation, against hand computations."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from semiseg_tf.evaluation import evaluate
from semiseg_tf.losses import MaskedCrossEntropy, median_frequency_weights
from semiseg_tf.metrics import confusion_matrix, format_table, scores

# 4 classes; class 3 appears in neither truth nor prediction (its one prediction is on an ignored pixel).
LABELS = np.array([[0, 0, 1, 1],
                   [0, 255, 1, 2],
                   [2, 2, 255, 1]], np.uint8)
PREDICTIONS = np.array([[0, 1, 1, 1],
                        [2, 0, 1, 2],
                        [2, 1, 3, 1]], np.int64)
# rows = truth, columns = prediction, counted by hand from the 10 non-ignored pixels
CONFUSION = np.array([[1, 1, 1, 0],
                      [0, 4, 0, 0],
                      [0, 1, 2, 0],
                      [0, 0, 0, 0]])


def test_confusion_matrix_by_hand():
    np.testing.assert_array_equal(confusion_matrix(LABELS, PREDICTIONS, 4), CONFUSION)
    # batched tensors give the same counts
    batched = confusion_matrix(tf.constant(LABELS[None]), tf.constant(PREDICTIONS[None]), 4)
    np.testing.assert_array_equal(batched, CONFUSION)
    # another ignore index: 255 now is an (out-of-range) label and is dropped too, 0 is ignored
    np.testing.assert_array_equal(confusion_matrix(LABELS, PREDICTIONS, 4, ignore_index=0),
                                  CONFUSION * np.array([[0], [1], [1], [1]]))


def test_scores_by_hand():
    result = scores(CONFUSION, ["road", "car", "sky", "sign"])
    iou = {"road": 1 / 3, "car": 4 / 6, "sky": 2 / 4}
    for name, value in iou.items():
        assert result["per_class_iou"][name] == pytest.approx(value)
    assert result["per_class_iou"]["sign"] is None  # absent from truth and prediction: no IoU
    assert result["miou"] == pytest.approx(0.5)  # mean over the three present classes only
    assert result["pixel_accuracy"] == pytest.approx(7 / 10)
    assert result["mean_accuracy"] == pytest.approx((1 / 3 + 1 + 2 / 3) / 3)
    assert result["pixels"] == 10
    table = format_table(result)
    lines = table.splitlines()
    assert lines[0].split() == ["class", "IoU"]
    assert lines[1:5] == ["road   33.3", "car    66.7", "sky    50.0", "sign    n/a"]
    assert lines[-1].split()[:2] == ["mIoU", "50.0"] and "pixel acc 70.0" in lines[-1]


def test_class_predicted_but_never_true_counts_as_zero():
    confusion = CONFUSION.copy()
    confusion[2, 3] = 1  # one sky pixel predicted as sign
    result = scores(confusion)
    assert result["per_class_iou"]["3"] == 0.0
    sky = 2 / (4 + 1)
    assert result["miou"] == pytest.approx((1 / 3 + 4 / 6 + sky + 0) / 4)


def test_empty_confusion_is_not_a_crash():
    with pytest.warns(RuntimeWarning):  # nanmean of nothing
        result = scores(np.zeros((2, 2)))
    assert np.isnan(result["miou"]) and result["pixel_accuracy"] == 0 and result["pixels"] == 0


# === Loss ===

def log_softmax(logits):
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def hand_loss(labels, logits, weights=None):
    valid = labels != 255
    log_probs = log_softmax(logits.astype(np.float64))[valid]
    truth = labels[valid].astype(int)
    nll = -log_probs[np.arange(truth.size), truth]
    w = np.ones_like(nll) if weights is None else np.asarray(weights)[truth]
    return (w * nll).sum() / w.sum()


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (2, 4, 5)).astype(np.uint8)
    labels[0, :3] = 255
    labels[1, 3, 1:] = 255
    return labels, rng.normal(0, 2, (2, 4, 5, 3)).astype(np.float32)


@pytest.mark.parametrize("weights", [None, [1.0, 2.5, 0.5]])
def test_masked_cross_entropy_matches_hand_computation(batch, weights):
    labels, logits = batch
    loss = MaskedCrossEntropy(class_weights=weights)
    value = float(loss(labels, logits))
    assert value == pytest.approx(hand_loss(labels, logits, weights), rel=1e-5)
    # one mean over the whole batch (pixels of the image with fewer labels weigh the same)
    per_image = [hand_loss(labels[i:i + 1], logits[i:i + 1], weights) for i in range(2)]
    assert value != pytest.approx(np.mean(per_image), rel=1e-4)


def test_masked_cross_entropy_ignores_255(batch):
    labels, logits = batch
    loss = MaskedCrossEntropy(class_weights=[1.0, 2.5, 0.5])
    changed = logits.copy()
    changed[labels == 255] = 1000.0 * np.random.default_rng(1).normal(size=changed[labels == 255].shape)
    assert float(loss(labels, changed)) == pytest.approx(float(loss(labels, logits)), rel=1e-6)
    logits_var = tf.Variable(logits)
    with tf.GradientTape() as tape:
        value = loss(labels, logits_var)
    gradient = tape.gradient(value, logits_var).numpy()
    assert (gradient[labels == 255] == 0).all() and np.abs(gradient[labels != 255]).sum() > 0
    all_ignored = np.full_like(labels, 255)
    assert float(loss(all_ignored, logits)) == 0.0


def test_masked_cross_entropy_other_ignore_index_and_config(batch):
    labels, logits = batch
    relabelled = np.where(labels == 255, 250, labels).astype(np.uint8)
    loss = MaskedCrossEntropy(ignore_index=250, class_weights=[1, 2, 3])
    assert float(loss(relabelled, logits)) == pytest.approx(hand_loss(labels, logits, [1, 2, 3]), rel=1e-5)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, MaskedCrossEntropy)
    assert restored.ignore_index == 250 and restored.class_weights == [1.0, 2.0, 3.0]
    assert float(restored(relabelled, logits)) == pytest.approx(float(loss(relabelled, logits)))


def test_median_frequency_weights_by_hand():
    # freq = [100/200, 10/100, unseen, 30/60] = [0.5, 0.1, -, 0.5]; median of seen = 0.5
    weights = median_frequency_weights(np.array([100, 10, 0, 30]), np.array([200, 100, 0, 60]))
    np.testing.assert_allclose(weights, [1.0, 5.0, 0.0, 1.0])
    softened = median_frequency_weights(np.array([100, 10, 0, 30]), np.array([200, 100, 0, 60]), power=0.5)
    np.testing.assert_allclose(softened, [1.0, np.sqrt(5.0), 0.0, 1.0])


# === Evaluation at native resolution ===

def test_evaluate_counts_every_native_pixel(shapes_data, tiny_model, tmp_path):
    model = tiny_model("unet-tiny", num_classes=5)
    out = tmp_path / "eval.json"
    result = evaluate(model, shapes_data, "val", input_size=(16, 24), out=out)
    assert result["images"] == 4 and result["pixels"] == 4 * 32 * 48  # native size, no ignore pixels
    confusion = np.array(result["confusion_matrix"])
    assert confusion.shape == (5, 5) and confusion.sum() == result["pixels"]
    assert result["miou"] == pytest.approx(scores(confusion)["miou"])
    assert json.loads(out.read_text())["miou"] == pytest.approx(result["miou"])
    with pytest.raises(ValueError, match="model predicts 3 classes"):
        evaluate(tiny_model("unet-tiny", num_classes=3), shapes_data, "val")
