"""Shared fixtures: a tiny generated dataset, tiny models, and the CamVid location."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CAMVID = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "camvid"


@pytest.fixture(scope="session")
def shapes_data(tmp_path_factory) -> Path:
    """A tiny shapes dataset (12 train / 4 val images of 32x48) in the standard layout."""
    from semiseg_tf.data import make_shapes_dataset

    return make_shapes_dataset(tmp_path_factory.mktemp("shapes"), num_train=12, num_val=4,
                               height=32, width=48, seed=0)


@pytest.fixture(scope="session")
def tiny_model():
    """A factory for tiny models: tiny_model("unet-tiny", num_classes=5)."""
    from semiseg_tf.models import build_model

    def build(name: str = "deeplabv3plus-tiny", num_classes: int = 5):
        return build_model(name, num_classes)

    return build


@pytest.fixture
def camvid() -> Path:
    """The real CamVid dataset beside the checkout; tests using it skip when it is absent."""
    if not (CAMVID / "classes.json").is_file():
        pytest.skip(f"CamVid not found at {CAMVID} (only present beside the development checkout)")
    return CAMVID


@pytest.fixture
def eager():
    """Run train steps eagerly: the same code without the graph tracing that costs a 2-step plumbing run
    (options, files, resume) most of its time on a small CPU (~4x). Graph mode keeps its own tests."""
    import tensorflow as tf

    tf.config.run_functions_eagerly(True)
    yield
    tf.config.run_functions_eagerly(False)
