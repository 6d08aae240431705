"""Real data: CamVid reads through the standard layout, and the shipped zoo model segments it.

Skipped (with a message) where ../shared/data/camvid is absent.
"""

from __future__ import annotations

import numpy as np

from semiseg_tf.data import SegmentationDataset


def test_camvid_reads_and_validates(camvid):
    dataset = SegmentationDataset(camvid)
    assert dataset.classes.num_classes == 11 and dataset.classes.ignore_index == 255
    assert len(dataset.stems("train")) == 367 and len(dataset.stems("val")) == 101
    samples = dataset.samples("val")[:4]
    dataset.validate(samples)
    assert dataset.image_size(samples[0]) == (360, 480)


def test_zoo_model_segments_camvid_val_images(camvid, tmp_path):
    """A small val subset (8 images) through `evaluate`: the shipped model must be far above chance."""
    import semiseg_tf.zoo
    from semiseg_tf.evaluation import evaluate

    subset = tmp_path / "camvid8"
    subset.mkdir()
    for name in ("images", "masks", "classes.json"):
        (subset / name).symlink_to(camvid / name)
    stems = SegmentationDataset(camvid).stems("val")[::13][:8]
    (subset / "val.txt").write_text("\n".join(stems) + "\n")
    loaded = semiseg_tf.zoo.load("camvid-deeplabv3plus@1.0.0")
    result = evaluate(loaded.model, subset, "val", loaded.input_size)
    assert result["images"] == 8 and result["pixels"] > 8 * 360 * 480 * 0.9
    assert result["pixel_accuracy"] > 0.8 and result["miou"] > 0.4
    confusion = np.array(result["confusion_matrix"])
    assert confusion.trace() / confusion.sum() == result["pixel_accuracy"]
