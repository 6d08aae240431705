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
                      train_size=(32, 48), bn_recalibration_batches=2), run, verbose=0)
    return run


@pytest.fixture(scope="module")
def shapes_with_test(shapes_data, tmp_path_factory):
    """The tiny shapes dataset plus a test split of 3 other images (as CamVid: train, val, test)."""
    from semiseg_tf.data import make_shapes_dataset

    root = tmp_path_factory.mktemp("shapes-test-split") / "shapes"
    shutil.copytree(shapes_data, root)
    other = make_shapes_dataset(tmp_path_factory.mktemp("other"), num_train=1, num_val=3, height=32, width=48,
                                seed=1)
    stems = []
    for i, stem in enumerate((other / "val.txt").read_text().split()):
        stems.append(f"test_{i:04d}")
        for kind in ("images", "masks"):
            shutil.copy(other / kind / f"{stem}.png", root / kind / f"{stems[-1]}.png")
    (root / "test.txt").write_text("\n".join(stems) + "\n")
    return root


@pytest.fixture(scope="module")
def zoo_root(trained_run, shapes_with_test, tmp_path_factory):
    """A user zoo root (via SEMISEG_ZOO) holding shapes-test@1.0.0 made by `zoo add` on data with val and test."""
    root = tmp_path_factory.mktemp("zoo")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEMISEG_ZOO", str(root))
        result = CliRunner().invoke(cli, ["zoo", "add", str(trained_run), "--name", "shapes-test",
                                          "--version", "1.0.0", "--data", str(shapes_with_test),
                                          "--data-licence", "test data"])
        assert result.exit_code == 0, result.output
        assert "split val ..." in result.output and "split test ..." in result.output
        yield root


def strings_in(value):
    """Every string inside a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    elif isinstance(value, str):
        yield value


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
    assert card["zoo_entry"] == 2 and list(card["metrics"]) == ["val", "test"]
    for split, images in (("val", 4), ("test", 3)):
        metrics = card["metrics"][split]
        assert metrics["command"].startswith("semiseg-tf evaluate --model shapes-test@1.0.0 --data ")
        assert metrics["command"].endswith(f"--split {split} --input-size 32x48")
        assert 0.0 <= metrics["miou"] <= 1.0 and metrics["images"] == images
    run_eval = json.loads((trained_run / "eval_val.json").read_text()) if (trained_run / "eval_val.json").is_file() \
        else None
    if run_eval:
        assert card["metrics"]["val"]["miou"] == pytest.approx(run_eval["miou"])
    assert card["classes"]["names"][1] == "disc" and card["input"]["size"] == [32, 48]
    assert "## shapes-test@1.0.0" in (zoo_root / "README.md").read_text()

    runner = CliRunner(env={"SEMISEG_ZOO": str(zoo_root)})
    listed = runner.invoke(cli, ["zoo", "list"])
    assert listed.exit_code == 0 and "val mIoU" in listed.output and "test mIoU" in listed.output
    row = next(line for line in listed.output.splitlines() if line.startswith("shapes-test@1.0.0 "))
    assert row.split()[3:5] == [f"{100 * card['metrics'][s]['miou']:.1f}" for s in ("val", "test")]
    shown = runner.invoke(cli, ["zoo", "show", "shapes-test"])
    assert shown.exit_code == 0 and card["files"]["model.keras"] in shown.output
    assert "- val mIoU **" in shown.output and "- test mIoU **" in shown.output
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


def test_add_evaluates_every_split_the_dataset_has(zoo_root, trained_run, shapes_data, shapes_with_test):
    from semiseg_tf.evaluation import evaluate
    from semiseg_tf.loading import load_segmenter
    from semiseg_tf.zoo.add import evaluation_splits

    assert evaluation_splits(shapes_with_test, None) == ["val", "test"]
    assert evaluation_splits(shapes_data, None) == ["val"]  # no test split: val only
    assert evaluation_splits(shapes_with_test, ("test",)) == ["test"]
    with pytest.raises(ValueError, match="no split"):
        evaluation_splits(shapes_data, ("test",))
    card = json.loads((zoo_root / "shapes-test" / "1.0.0" / "card.json").read_text())
    direct = evaluate(load_segmenter(trained_run).model, shapes_with_test, "test", (32, 48))
    assert card["metrics"]["test"]["miou"] == pytest.approx(direct["miou"])
    assert card["metrics"]["test"]["per_class_iou"].keys() == direct["per_class_iou"].keys()


def test_card_holds_no_absolute_path(zoo_root, shapes_with_test):
    from semiseg_tf.zoo.card import portable_data

    text = (zoo_root / "shapes-test" / "1.0.0" / "card.json").read_text()
    card = json.loads(text)
    assert str(shapes_with_test) not in text and str(zoo_root) not in text
    assert not [s for s in strings_in(card) if s.startswith("/") or "/tmp" in s or "/work/" in s]
    data = card["metrics"]["test"]["data"]  # DATA, or relative where the data sits beside the working folder
    assert data == portable_data(str(shapes_with_test)) and not data.startswith("/") and card["dataset"] == "shapes"
    assert f"--data {data} --split test" in card["metrics"]["test"]["command"]
    readme = (zoo_root / "README.md").read_text()
    assert str(shapes_with_test) not in readme and "- test mIoU **" in readme
    assert portable_data("/work/shared/data/camvid", cwd="/work/main") == "../shared/data/camvid"
    assert portable_data("/work/main/data/x", cwd="/work/main") == "data/x"
    assert portable_data("/tmp/pytest-1/shapes", cwd="/work/main") == "DATA"
    assert portable_data("builtin:shapes") == "builtin:shapes" and portable_data("../d") == "../d"


def test_an_entry_is_published_again_with_the_same_files(zoo_root, shapes_with_test, tmp_path, monkeypatch):
    """`zoo add NAME@VERSION` (a re-evaluation) copies the files unchanged, and the new patch becomes the default."""
    from semiseg_tf import zoo

    root = tmp_path / "zoo"
    shutil.copytree(zoo_root / "shapes-test" / "1.0.0", root / "shapes-test" / "1.0.0")
    monkeypatch.setenv("SEMISEG_ZOO", str(root))
    result = CliRunner().invoke(cli, ["zoo", "add", "shapes-test@1.0.0", "--name", "shapes-test",
                                      "--version", "1.0.1", "--data", str(shapes_with_test)])
    assert result.exit_code == 0, result.output
    old = json.loads((root / "shapes-test" / "1.0.0" / "card.json").read_text())
    new = json.loads((root / "shapes-test" / "1.0.1" / "card.json").read_text())
    assert new["files"] == old["files"] and new["derived_from"] == "shapes-test@1.0.0"
    assert new["metrics"]["val"]["miou"] == pytest.approx(old["metrics"]["val"]["miou"])
    assert new["metrics"]["test"]["command"].startswith("semiseg-tf evaluate --model shapes-test@1.0.1 ")
    assert new["training"] == old["training"] and new["data_licence"] == "test data"
    assert zoo.resolve("shapes-test").version == "1.0.1"
    assert zoo.verify(zoo.resolve("shapes-test"))["argmax_agreement"] == 1.0


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


def test_shipped_camvid_entry_defaults_to_the_val_and_test_card(monkeypatch):
    """camvid-deeplabv3plus@1.0.1: the 1.0.0 weights, evaluated on val and test, no absolute path."""
    from semiseg_tf.zoo import resolve
    from semiseg_tf.zoo.card import card_metrics

    monkeypatch.delenv("SEMISEG_ZOO", raising=False)
    entry = resolve("camvid-deeplabv3plus")
    assert entry.version == "1.0.1"
    card, first = entry.card(), resolve("camvid-deeplabv3plus@1.0.0").card()
    assert card["files"] == first["files"] and card["derived_from"] == "camvid-deeplabv3plus@1.0.0"
    metrics = card_metrics(card)
    assert metrics["val"]["images"] == 101 and metrics["test"]["images"] == 233
    assert metrics["val"]["miou"] == pytest.approx(card_metrics(first)["val"]["miou"], abs=1e-6)
    assert metrics["test"]["command"] == ("semiseg-tf evaluate --model camvid-deeplabv3plus@1.0.1 "
                                          "--data ../shared/data/camvid --split test --input-size 240x320")
    assert not [s for s in strings_in(card) if s.startswith("/") or "/work/" in s]
    verified = CliRunner().invoke(cli, ["zoo", "verify", "camvid-deeplabv3plus", "--checksums-only"])
    assert verified.exit_code == 0 and "OK     camvid-deeplabv3plus@1.0.1" in verified.output, verified.output


def test_a_card_records_weak_labels_with_their_annotation_hours(tmp_path):
    from semiseg_tf.zoo.card import render_card, training_section

    folder = tmp_path / "scribbles"
    folder.mkdir()
    (folder / "annotation.json").write_text(json.dumps({"annotation_hours": 13.45,
                                                        "full_mask": {"annotation_hours": 184.3}}))
    run_config = {"train": {"data": "builtin:shapes", "train_split": "train", "method": "supervised", "steps": 10,
                            "batch_size": 2, "seed": 0, "annotations": {"scribble": str(folder)}},
                  "labeled_count": 0, "unlabeled_count": 0, "weak_counts": {"scribble": 12}}
    section = training_section(run_config, {"train_seconds": 60})
    assert section["weak_labels"]["scribble"]["images"] == 12
    assert section["weak_labels"]["scribble"]["annotation_hours"] == 13.45
    assert not section["weak_labels"]["scribble"]["folder"].startswith("/")  # as a user types it
    card = {"name": "x", "version": "1.0.0", "architecture": {"preset": "unet-tiny", "config": {}},
            "classes": {"names": ["a", "b"]}, "input": {"size": [8, 8], "normalisation": {"mean": 0, "std": 1}},
            "training": section, "data_licence": "n/a", "metrics": {}, "files": {}}
    assert "- Weak labels: scribble on 12 images (13.45 simulated annotation hours" in render_card(card)
    assert "label budget no full masks" in render_card(card)


def test_a_card_follows_a_fine_tune_back_to_its_encoder_pretraining(tmp_path):
    from semiseg_tf.zoo.card import render_card, training_section

    pretrain = tmp_path / "pretrain"
    pretrain.mkdir()
    (pretrain / "card.json").write_text(json.dumps({
        "method": "jigsaw", "paper": "Noroozi & Favaro, ECCV 2016", "steps": 300, "images": 367,
        "image_source": {"data": "../shared/data/camvid", "split": "train"}, "train_seconds": 249.0}))
    start = tmp_path / "supervised"
    start.mkdir()
    (start / "config.json").write_text(json.dumps({"train": {"encoder_weights": str(pretrain)}}))
    run_config = {"train": {"data": "builtin:shapes", "train_split": "train", "method": "equivariance", "steps": 10,
                            "batch_size": 2, "seed": 0, "labeled_fraction": 0.125, "init_from": str(start)},
                  "labeled_count": 46, "unlabeled_count": 321}
    section = training_section(run_config, {"train_seconds": 60})
    assert section["pretraining"]["method"] == "jigsaw"
    assert section["pretraining"]["image_source"]["data"] == "../shared/data/camvid"
    card = {"name": "x", "version": "1.0.0", "architecture": {"preset": "unet-tiny", "config": {}},
            "classes": {"names": ["a", "b"]}, "input": {"size": [8, 8], "normalisation": {"mean": 0, "std": 1}},
            "training": section, "data_licence": "n/a", "metrics": {}, "files": {}}
    assert ("- Encoder pretrained without labels: jigsaw (Noroozi & Favaro, ECCV 2016), 300 steps on 367 images "
            "of `../shared/data/camvid` split `train`, 4.2 min (`pretrain`)") in render_card(card)
    run_config["train"].pop("init_from")
    assert "pretraining" not in training_section(run_config, {})


@pytest.mark.parametrize("name, kind, pretraining", [
    ("camvid-deeplabv3plus-box@1.0.0", "box", None),
    ("camvid-deeplabv3plus-box", "box", None),  # 1.2.0: bbtp on GrabCut-refined labels
    ("camvid-deeplabv3plus-scribble@1.0.0", "scribble", None),
    ("camvid-deeplabv3plus-scribble", "scribble", "jigsaw"),  # 1.1.0: from the jigsaw-pretrained encoder
])
def test_shipped_weak_entry_records_its_labels_and_verifies(monkeypatch, name, kind, pretraining):
    """The weak-label entries: trained on simulated weak labels only, val and test on the card."""
    from semiseg_tf.zoo import resolve
    from semiseg_tf.zoo.card import card_metrics

    monkeypatch.delenv("SEMISEG_ZOO", raising=False)
    card = resolve(name).card()
    assert card["training"].get("pretraining", {}).get("method") == pretraining
    weak = card["training"]["weak_labels"][kind]
    assert weak["images"] == 367 and 0 < weak["annotation_hours"] < weak["full_mask_hours"]
    assert set(card_metrics(card)) == {"val", "test"}
    verified = CliRunner().invoke(cli, ["zoo", "verify", name, "--checksums-only"])
    assert verified.exit_code == 0 and f"OK     {card['name']}@{card['version']}" in verified.output, verified.output


def test_shipped_semi_entry_records_its_label_budget_and_pretraining(monkeypatch):
    """The semi-supervised entry: 46 masks, an encoder pretrained on the train images without labels."""
    from semiseg_tf.zoo import resolve
    from semiseg_tf.zoo.card import card_metrics

    monkeypatch.delenv("SEMISEG_ZOO", raising=False)
    card = resolve("camvid-deeplabv3plus-semi").card()
    training = card["training"]
    assert training["labeled_images"] == 46 and training["unlabeled_images"] == 321
    assert training["pretraining"]["method"] == "jigsaw" and training["pretraining"]["image_source"]["split"] == "train"
    assert set(card_metrics(card)) == {"val", "test"}
    verified = CliRunner().invoke(cli, ["zoo", "verify", "camvid-deeplabv3plus-semi", "--checksums-only"])
    assert verified.exit_code == 0, verified.output


def test_zoo_list_keeps_a_long_entry_name_apart_from_its_architecture(monkeypatch):
    from semiseg_tf.zoo import list_entries

    monkeypatch.delenv("SEMISEG_ZOO", raising=False)
    listed = CliRunner().invoke(cli, ["zoo", "list"])
    rows = [line.split() for line in listed.output.splitlines()[1:]]
    assert listed.exit_code == 0 and len(rows) == len(list_entries()) >= 7
    assert all("@" in row[0] and row[1] == "deeplabv3plus" for row in rows), listed.output
