"""Zoo: add/list/show/verify/load round trip, checksum mismatch, version resolution, export metadata."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from semiseg_tf.cli.main import cli


@pytest.fixture(scope="module")
def trained_run(shapes_data, tmp_path_factory):
    """A finished (4-step) unet-tiny run on the tiny shapes dataset."""
    from semiseg_tf.training import TrainConfig, train

    run = tmp_path_factory.mktemp("run") / "unet"
    train(TrainConfig(data=str(shapes_data), model="unet-tiny", steps=4, batch_size=4, checkpoint_every=4,
                      train_size=(32, 48)), run, verbose=0)
    return run


@pytest.fixture(scope="module")
def zoo_root(trained_run, tmp_path_factory):
    """A user zoo root (via SEMISEG_ZOO) holding shapes-test@1.0.0 made by `zoo add`."""
    root = tmp_path_factory.mktemp("zoo")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEMISEG_ZOO", str(root))
        result = CliRunner().invoke(cli, ["zoo", "add", str(trained_run), "--name", "shapes-test",
                                          "--version", "1.0.0", "--data-licence", "test data"])
        assert result.exit_code == 0, result.output
        yield root


def test_versions_sort_semantically():
    from semiseg_tf.zoo.versions import latest, parse_version, split_reference

    assert latest(["1.0.0", "1.10.0", "1.2.0", "2.0.0-rc.1"]) == "1.10.0"
    assert latest(["2.0.0-rc.1", "2.0.0-rc.10", "2.0.0-rc.2"]) == "2.0.0-rc.10"
    assert parse_version("1.0.0-alpha") < parse_version("1.0.0-alpha.1") < parse_version("1.0.0-beta") \
        < parse_version("1.0.0")
    assert split_reference("camvid-unet@1.2.3") == ("camvid-unet", "1.2.3")
    with pytest.raises(ValueError):
        parse_version("1.2")


def test_add_list_show_verify_load_round_trip(zoo_root, trained_run, shapes_data):
    from semiseg_tf import zoo
    from semiseg_tf.loading import load_segmenter

    entry = zoo_root / "shapes-test" / "1.0.0"
    card = json.loads((entry / "card.json").read_text())
    assert set(card["files"]) == {"model.keras", "reference.npz"}
    assert card["metrics"]["command"].startswith("semiseg-tf evaluate --model shapes-test@1.0.0")
    run_eval = json.loads((trained_run / "eval_val.json").read_text()) if (trained_run / "eval_val.json").is_file() \
        else None
    assert 0.0 <= card["metrics"]["miou"] <= 1.0 and card["metrics"]["images"] == 4
    if run_eval:
        assert card["metrics"]["miou"] == pytest.approx(run_eval["miou"])
    assert card["classes"]["names"][1] == "disc" and card["input"]["size"] == [32, 48]
    assert "## shapes-test@1.0.0" in (zoo_root / "README.md").read_text()

    runner = CliRunner(env={"SEMISEG_ZOO": str(zoo_root)})
    listed = runner.invoke(cli, ["zoo", "list"])
    assert listed.exit_code == 0 and "shapes-test@1.0.0" in listed.output
    shown = runner.invoke(cli, ["zoo", "show", "shapes-test"])
    assert shown.exit_code == 0 and card["files"]["model.keras"] in shown.output
    verified = runner.invoke(cli, ["zoo", "verify", "shapes-test"])
    assert verified.exit_code == 0 and "OK     shapes-test@1.0.0" in verified.output, verified.output
    again = runner.invoke(cli, ["zoo", "add", str(trained_run), "--name", "shapes-test", "--version", "1.0.0"])
    assert again.exit_code != 0 and "already exists" in again.output

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEMISEG_ZOO", str(zoo_root))
        loaded = zoo.load("shapes-test@1.0.0")
        image = np.random.default_rng(0).uniform(0, 255, (1, 32, 48, 3)).astype(np.float32)
        original = load_segmenter(trained_run).model.predict(image, verbose=0)
        np.testing.assert_allclose(loaded.model.predict(image, verbose=0), original, atol=1e-6)
        assert loaded.metadata["version"] == "1.0.0" and loaded.input_size == (32, 48)
        assert zoo.load(trained_run / "model.keras").model is not None  # a path works where a name does
        assert zoo.load(trained_run).classes.names == loaded.classes.names


def test_versions_resolve_to_latest_release(zoo_root, monkeypatch):
    from semiseg_tf import zoo

    monkeypatch.setenv("SEMISEG_ZOO", str(zoo_root))
    for version in ("1.2.0", "1.10.0", "2.0.0-rc.1"):
        if not (zoo_root / "shapes-test" / version).exists():
            shutil.copytree(zoo_root / "shapes-test" / "1.0.0", zoo_root / "shapes-test" / version)
    assert zoo.resolve("shapes-test").version == "1.10.0"
    assert zoo.resolve("shapes-test@2.0.0-rc.1").version == "2.0.0-rc.1"
    assert zoo.load("shapes-test").source.name == "1.10.0"
    with pytest.raises(ValueError, match="version 3.0.0 not found"):
        zoo.resolve("shapes-test@3.0.0")
    with pytest.raises(ValueError, match="no such zoo entry"):
        zoo.resolve("nothing-here")


def test_checksum_mismatch_names_the_file(zoo_root, tmp_path, monkeypatch):
    from semiseg_tf import zoo

    broken_root = tmp_path / "broken"
    shutil.copytree(zoo_root / "shapes-test" / "1.0.0", broken_root / "shapes-bad" / "1.0.0")
    with open(broken_root / "shapes-bad" / "1.0.0" / "model.keras", "ab") as handle:
        handle.write(b"\0")
    monkeypatch.setenv("SEMISEG_ZOO", str(broken_root))
    with pytest.raises(zoo.ChecksumError, match=r"model\.keras: sha256 mismatch"):
        zoo.load("shapes-bad")
    result = CliRunner().invoke(cli, ["zoo", "verify", "shapes-bad", "--checksums-only"])
    assert result.exit_code != 0 and "model.keras: sha256 mismatch" in result.output


def test_export_of_zoo_entry_carries_metadata(zoo_root, tmp_path):
    import onnxruntime as ort

    from semiseg_tf.export import read_onnx_metadata

    out = tmp_path / "shapes.onnx"
    result = CliRunner(env={"SEMISEG_ZOO": str(zoo_root)}).invoke(
        cli, ["export", "shapes-test@1.0.0", "--format", "onnx", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "parity onnxruntime vs keras" in result.output
    metadata = read_onnx_metadata(out)
    assert metadata["zoo_name"] == "shapes-test" and metadata["version"] == "1.0.0"
    assert metadata["classes"][1] == "disc" and len(metadata["palette"]) == 5 and metadata["input_size"] == [32, 48]
    props = ort.InferenceSession(str(out)).get_modelmeta().custom_metadata_map
    assert json.loads(props["classes"])[0] == "background"


def test_shipped_zoo_is_found_without_configuration(monkeypatch):
    from semiseg_tf.zoo.registry import shipped_root, zoo_roots

    monkeypatch.delenv("SEMISEG_ZOO", raising=False)
    assert zoo_roots() == [shipped_root()]
    assert (shipped_root() / "README.md").is_file()
