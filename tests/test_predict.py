"""predict: a folder with a corrupt file, resume, outputs, Keras path, tiling, provider fallback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from semiseg_tf.cli.main import cli


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    """A unet-tiny model saved as .keras and exported to a 32x48 ONNX file with shapes classes."""
    from semiseg_tf.data.synthetic import SHAPES_CLASSES
    from semiseg_tf.export import export_onnx
    from semiseg_tf.export.metadata import export_metadata
    from semiseg_tf.models import build_model

    folder = tmp_path_factory.mktemp("model")
    model = build_model("unet-tiny", 5)
    model.save(folder / "model.keras")
    export_onnx(model, folder / "model.onnx", (32, 48), "logits", export_metadata(SHAPES_CLASSES, (32, 48), "logits"))
    return folder


@pytest.fixture
def inputs(shapes_data, tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    for path in sorted((shapes_data / "images").iterdir())[:5]:
        shutil.copy(path, folder / path.name)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return folder


def test_corrupt_file_is_reported_and_others_are_written(onnx_model, inputs, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["predict", "--model", str(onnx_model / "model.onnx"), str(inputs),
                                      "--out", str(out), "--batch-size", "2", "--save", "mask,overlay,probs"])
    assert result.exit_code == 1, result.output
    assert "broken.png" in result.output and "processed 5, skipped 0, failed 1" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed"] == 1 and summary["failures"][0]["file"].endswith("broken.png")
    assert summary["engine"] == "onnxruntime:CPUExecutionProvider"
    for image in sorted(inputs.glob("train_*.png")):
        mask = Image.open(out / image.name)
        assert mask.mode == "P" and mask.size == Image.open(image).size
        assert np.asarray(mask).max() < 5 and (out / "overlay" / image.name).is_file()
        probs = np.load(out / "probs" / f"{image.stem}.npz")["probs"]
        assert probs.shape == (32, 48, 5) and np.allclose(probs.astype(np.float32).sum(-1), 1, atol=1e-2)
    assert not list(out.rglob("*.part"))

    (out / "overlay" / "train_0000.png").unlink()  # an interrupted job: resume it
    again = CliRunner().invoke(cli, ["predict", "--model", str(onnx_model / "model.onnx"), str(inputs),
                                     "--out", str(out), "--save", "mask,overlay,probs", "--skip-existing"])
    assert "processed 1, skipped 4, failed 1" in again.output, again.output


def test_localisation_maps_show_the_most_present_classes_where_they_are():
    from semiseg_tf.inference.outputs import heat_colours, localisation_maps

    image = np.full((20, 30, 3), 100, np.uint8)
    probs = np.zeros((20, 30, 6), np.float32)
    probs[..., 0] = 1.0
    probs[:, 20:, 0], probs[:, 20:, 4] = 0.0, 1.0  # class 4 on the right third, class 0 elsewhere
    maps = localisation_maps(image, probs, [f"c{i}" for i in range(6)], top=2)
    assert maps.shape == (20, 90, 3) and (maps[:, :30] == image).all()
    panel_0, panel_4 = maps[:, 30:60].astype(int), maps[:, 60:90].astype(int)
    hot = (image[0, 0] * 0.35 + heat_colours()[255] * 0.65 + 0.5).astype(int)
    cold = (image[0, 0] * 0.35 + heat_colours()[0] * 0.65 + 0.5).astype(int)
    assert (panel_0[15:, :18] == hot).all() and (panel_0[15:, 22:] == cold).all()  # below the title
    assert (panel_4[15:, 22:] == hot).all() and (panel_4[15:, :18] == cold).all()


def test_predict_saves_localisation_maps(onnx_model, inputs, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["predict", "--model", str(onnx_model / "model.onnx"), str(inputs),
                                      "--out", str(out), "--save", "maps"])
    assert "processed 5, skipped 0, failed 1" in result.output, result.output
    for image in sorted(inputs.glob("train_*.png")):
        width, height = Image.open(image).size
        assert Image.open(out / "maps" / image.name).size == (width * 5, height)  # the image + 4 classes


@pytest.mark.parametrize("shape", [(7, 9, 3), (360, 480, 3), (37, 53, 11)])
@pytest.mark.parametrize("size", [(240, 320), (5, 4), (720, 960)])
def test_resize_follows_tensorflows_bilinear_convention(shape, size):
    """predict resizes as evaluation's tf.image.resize does: floats to rounding, uint8 images to one level."""
    import tensorflow as tf

    from semiseg_tf.inference.resize import resize_bilinear, resize_image

    values = np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)
    expected = tf.image.resize(values, size, method="bilinear", antialias=False).numpy()
    np.testing.assert_allclose(resize_bilinear(values, size), expected, rtol=1e-5, atol=5e-3)
    if shape[-1] == 3:
        image = values.astype(np.uint8)
        resized = resize_image(image, size)
        assert resized.dtype == np.uint8 and resized.shape == (*size, 3)
        reference = tf.image.resize(image, size, method="bilinear", antialias=False).numpy()
        assert np.abs(resized - reference).max() <= 1.0


def test_in_graph_native_ids_equal_numpy_resize_and_argmax(onnx_model):
    """The ids onnxruntime computes at native size are those of finish_whole, up and down in size."""
    from semiseg_tf.inference import onnx_runner
    from semiseg_tf.inference.postprocess import finish_whole

    runner = onnx_runner(onnx_model / "model.onnx")
    images = np.random.default_rng(3).integers(0, 256, (3, 32, 48, 3), dtype=np.uint8)
    logits = runner(images)
    for size in ((70, 101), (32, 48), (17, 30)):
        expected = np.stack([finish_whole(one, size, "logits", False)[0] for one in logits])
        got = runner.native_ids(images, size)
        assert got.shape == (3, *size) and got.dtype == np.uint8
        assert np.mean(got == expected) > 0.999  # float rounding may flip a near-tie pixel


def test_native_ids_resize_low_resolution_logits_once(tmp_path):
    """DeepLabV3+ ends in an upsampling of 1/4-size logits: that resize goes straight to the native size."""
    from semiseg_tf.data.synthetic import SHAPES_CLASSES
    from semiseg_tf.export import export_onnx
    from semiseg_tf.export.metadata import export_metadata
    from semiseg_tf.inference import onnx_runner
    from semiseg_tf.inference.native_ids import with_native_ids
    from semiseg_tf.inference.postprocess import finish_whole
    from semiseg_tf.models import build_model

    path = tmp_path / "deeplab.onnx"
    export_onnx(build_model("deeplabv3plus-tiny", 5), path, (32, 48), "logits",
                export_metadata(SHAPES_CLASSES, (32, 48), "logits"))
    before = [n.op_type for n in __import__("onnx").load(str(path)).graph.node]
    after = [n.op_type for n in with_native_ids(path).graph.node]
    assert after.count("Resize") == before.count("Resize") and before[-1] == "Transpose"
    assert after[-2:] == ["ArgMax", "Cast"] and "Transpose" not in after[-6:]
    runner = onnx_runner(path)
    images = np.random.default_rng(4).integers(0, 256, (3, 32, 48, 3), dtype=np.uint8)
    logits = runner(images)
    for size in ((70, 101), (17, 30)):
        expected = np.stack([finish_whole(one, size, "logits", False)[0] for one in logits])
        got = runner.native_ids(images, size)
        # one resize instead of two moves boundaries by a pixel at most; an untrained net on noise has
        # boundaries nearly everywhere (a trained CamVid model agrees on 99.9 %, docs/2026-11-25-predict-speed.md)
        assert got.shape == (3, *size) and np.mean(got == expected) > 0.97


def test_mixed_native_sizes_are_batched_apart(onnx_model, inputs, tmp_path):
    (inputs / "broken.png").unlink()
    Image.fromarray(np.zeros((20, 33, 3), np.uint8)).save(inputs / "small.png")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["predict", "--model", str(onnx_model / "model.onnx"), str(inputs),
                                      "--out", str(out), "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    for image in inputs.glob("*.png"):
        assert Image.open(out / image.name).size == Image.open(image).size


def test_concurrent_streams_write_the_same_masks(onnx_model, inputs, tmp_path):
    """Two batches in flight at once (one onnxruntime thread each) change nothing but the speed."""
    masks = {}
    for streams in ("1", "2"):
        out = tmp_path / f"streams{streams}"
        result = CliRunner().invoke(cli, ["predict", "--model", str(onnx_model / "model.onnx"), str(inputs),
                                          "--out", str(out), "--batch-size", "2", "--streams", streams])
        assert result.exit_code == 1 and "processed 5, skipped 0, failed 1" in result.output, result.output
        assert json.loads((out / "summary.json").read_text())["settings"]["streams"] == int(streams)
        masks[streams] = {p.name: np.asarray(Image.open(p)) for p in sorted(out.glob("*.png"))}
    assert masks["1"].keys() == masks["2"].keys() and len(masks["1"]) == 5
    for name in masks["1"]:
        np.testing.assert_array_equal(masks["1"][name], masks["2"][name])


def test_a_graph_that_cannot_be_extended_falls_back_to_numpy(onnx_model, inputs, tmp_path, monkeypatch):
    from semiseg_tf.inference import runners

    (inputs / "broken.png").unlink()
    monkeypatch.setattr(runners.NativeIds, "build", lambda self: (_ for _ in ()).throw(ValueError("odd graph")))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["predict", "--model", str(onnx_model / "model.onnx"), str(inputs),
                                      "--out", str(out)])
    assert result.exit_code == 0 and "resized in NumPy (odd graph)" in result.output, result.output
    assert len(list(out.glob("*.png"))) == 5


def test_keras_engine_and_cached_onnx_agree(onnx_model, inputs, tmp_path, monkeypatch):
    monkeypatch.setenv("SEMISEG_CACHE", str(tmp_path / "cache"))
    (inputs / "broken.png").unlink()
    masks = {}
    for engine in ("keras", "auto"):
        out = tmp_path / engine
        result = CliRunner().invoke(cli, ["predict", "--model", str(onnx_model / "model.keras"), str(inputs),
                                          "--out", str(out), "--engine", engine, "--input-size", "32x48"])
        assert result.exit_code == 0, result.output
        masks[engine] = np.stack([np.asarray(Image.open(p)) for p in sorted(out.glob("*.png"))])
    assert "onnxruntime" in json.loads((tmp_path / "auto" / "summary.json").read_text())["engine"]
    assert np.mean(masks["keras"] == masks["auto"]) > 0.999


def test_tiling_equals_whole_image_where_the_model_allows_it(tiny_model):
    import keras

    from semiseg_tf.inference.tiling import predict_tiled

    image = np.random.default_rng(5).integers(0, 256, (45, 70, 3), dtype=np.uint8)
    pointwise = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(5, 1)])  # no context
    run = lambda x: pointwise.predict(x.astype(np.float32), verbose=0)  # noqa: E731
    whole = run(image[None])[0]
    ids, probs = predict_tiled(image, run, (16, 24), overlap=6, batch_size=3, with_probs=True)
    np.testing.assert_array_equal(ids, whole.argmax(-1))
    e = np.exp(whole - whole.max(-1, keepdims=True))
    np.testing.assert_allclose(probs, e / e.sum(-1, keepdims=True), atol=2e-3)

    unet = tiny_model("unet-tiny", 5)  # a tile that covers the image reproduces whole-image inference
    small = image[:32, :48]
    ids, _ = predict_tiled(small, lambda x: unet.predict(x.astype(np.float32), verbose=0), (32, 48), overlap=8)
    np.testing.assert_array_equal(ids, unet.predict(small[None].astype(np.float32), verbose=0)[0].argmax(-1))


def test_large_jpegs_decode_reduced_and_masks_keep_their_native_size(onnx_model, tmp_path):
    """A JPEG 8x the model input decodes at 1/8 (DCT scaling) when only the model sees it; masks still come at
    the native size, and an overlay (which shows the image) decodes it whole."""
    from semiseg_tf.data.imageio import read_image_at_least

    rng = np.random.default_rng(3)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)  # smooth once enlarged: both decodes agree
    Image.fromarray(small).resize((512, 384), Image.BILINEAR).save(tmp_path / "big.jpg", quality=95)
    image, native = read_image_at_least(tmp_path / "big.jpg", (32, 48))
    assert image.shape == (48, 64, 3) and native == (384, 512)  # 1/8: still >= 32x48
    image, _ = read_image_at_least(tmp_path / "big.jpg", (200, 48))
    assert image.shape == (384, 512, 3)  # 1/2 would give 192 rows, fewer than asked: decoded whole
    masks = {}
    for save in ("mask", "mask,overlay"):
        out = tmp_path / save.replace(",", "-")
        result = CliRunner().invoke(cli, ["predict", "--model", str(onnx_model / "model.onnx"),
                                          str(tmp_path / "big.jpg"), "--out", str(out), "--save", save])
        assert result.exit_code == 0, result.output
        masks[save] = np.asarray(Image.open(out / "big.png"))
        assert masks[save].shape == (384, 512)
    assert (masks["mask"] == masks["mask,overlay"]).mean() > 0.9  # the same picture, decoded two ways


def test_tiled_predict_keeps_native_resolution(onnx_model, tmp_path):
    big = np.random.default_rng(6).integers(0, 256, (70, 101, 3), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "big.png")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["predict", "--model", str(onnx_model / "model.onnx"), str(tmp_path / "big.png"),
                                      "--out", str(out), "--tile", "32x48", "--overlap", "8"])
    assert result.exit_code == 0, result.output
    assert Image.open(out / "big.png").size == (101, 70)
    settings = json.loads((out / "summary.json").read_text())["settings"]
    assert settings["tile"] == [32, 48] and settings["overlap"] == 8 and settings["resize_to"] is None
    wrong = CliRunner().invoke(cli, ["predict", "--model", str(onnx_model / "model.onnx"), str(tmp_path / "big.png"),
                                     "--out", str(out), "--tile", "64"])
    assert wrong.exit_code != 0 and "fixed input of 32x48" in wrong.output


def test_provider_selection_falls_back_to_cpu(onnx_model, monkeypatch):
    import onnxruntime as ort

    from semiseg_tf.inference.providers import ProviderError, create_session, requested_providers

    gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert requested_providers("auto", gpu) == gpu
    assert requested_providers("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert requested_providers("cuda", gpu) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    with pytest.raises(ProviderError, match="offers only"):
        requested_providers("cuda", ["CPUExecutionProvider"])
    # onnxruntime-gpu on a machine without CUDA: CUDA is listed, the session silently runs on CPU
    monkeypatch.setattr(ort, "get_available_providers", lambda: gpu[1:])
    _, active = create_session(onnx_model / "model.onnx", "auto")
    assert active == "CPUExecutionProvider"
    with pytest.raises(ProviderError, match="runs on CPUExecutionProvider"):
        create_session(onnx_model / "model.onnx", "cuda")


def test_whole_image_summary_records_the_resize_not_a_tile(onnx_model, inputs, tmp_path):
    (inputs / "broken.png").unlink()
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["predict", "--model", str(onnx_model / "model.onnx"), str(inputs),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    settings = json.loads((out / "summary.json").read_text())["settings"]
    assert settings["resize_to"] == [32, 48] and settings["tile"] is None and settings["overlap"] is None


def test_throughput_counts_from_first_read_to_last_write(monkeypatch):
    from semiseg_tf.inference import pipeline

    clock = iter([10.0, 10.5, 12.0])
    monkeypatch.setattr(pipeline.time, "perf_counter", lambda: next(clock))
    throughput = pipeline.Throughput()
    assert throughput.images_per_s() == 0.0
    throughput.read_started()  # 10.0
    throughput.image_written()  # 10.5
    throughput.image_written()  # 12.0
    assert throughput.seconds() == 2.0 and throughput.images_per_s() == 1.0


def test_progress_bar_and_summary_report_one_speed(onnx_model, inputs, tmp_path):
    """The bar's last figure, the `Speed:` line and summary.json's images_per_s are the same number."""
    import re
    import time

    (inputs / "broken.png").unlink()
    out = tmp_path / "out"
    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["predict", "--model", str(onnx_model / "model.onnx"), str(inputs),
                                      "--out", str(out), "--batch-size", "2"])
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    bar_rates = re.findall(r"\] 5/5 ([0-9.]+) images/s", result.stderr)
    speed = re.search(r"Speed: ([0-9.]+) images/s .*\(5 images written in ([0-9.]+) s, first image read to "
                      r"last output written\)", result.output)
    assert bar_rates and speed, result.output
    assert bar_rates[-1] == speed.group(1) == f"{summary['images_per_s']:.1f}"
    assert 0 < summary["seconds"] < elapsed
    assert 5 / summary["images_per_s"] == pytest.approx(summary["seconds"], abs=6e-4)  # seconds kept to 1 ms
    assert "first image read" in summary["images_per_s_is"]


def test_shards_are_disjoint_cover_the_inputs_and_balance():
    from semiseg_tf.inference.pipeline import shard_of

    files = [Path(f"img{i:02d}.png") for i in range(10)]
    shards = [shard_of(files, (i, 3)) for i in range(3)]
    assert sorted(sum(shards, [])) == files and [len(s) for s in shards] == [4, 3, 3]
    assert shard_of(files, None) == files and shard_of(files, (2, 3)) == shard_of(list(files), (2, 3))
    with pytest.raises(ValueError, match="--shard 3/3"):
        shard_of(files, (3, 3))


def test_bad_shard_is_a_one_line_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["predict", "--model", "x", "--out", str(tmp_path), "--shard", "4/4",
                                      str(tmp_path)])
    assert result.exit_code == 2 and "'4/4': write I/N with 0 <= I < N" in result.output


def test_beam_pipeline_writes_predicts_masks_and_a_dead_letter(onnx_model, inputs, tmp_path):
    """DirectRunner: the same masks, overlays and maps as the local runner; the corrupt file is in failures.jsonl
    and the summary, the job finishes; --skip-existing resumes it."""
    pytest.importorskip("apache_beam", reason="the `beam` extra (README's test command installs it)")
    model = str(onnx_model / "model.onnx")
    local, beam = tmp_path / "local", tmp_path / "beam"
    CliRunner().invoke(cli, ["predict", "--model", model, str(inputs), "--out", str(local), "--save", "mask,overlay,maps"])
    result = CliRunner().invoke(cli, ["predict", "--model", model, str(inputs), "--out", str(beam),
                                      "--save", "mask,overlay,maps", "--batch-size", "2", "--runner", "beam"])
    assert result.exit_code == 1, result.output
    assert "processed 5, skipped 0, failed 1 of 6" in result.output and "the whole Beam pipeline run" in result.output
    failures = [json.loads(line) for line in (beam / "failures.jsonl").read_text().splitlines()]
    assert len(failures) == 1 and failures[0]["file"].endswith("broken.png")
    assert "corrupt" in failures[0]["error"]
    summary = json.loads((beam / "summary.json").read_text())
    assert summary["runner"] == "DirectRunner" and summary["failed"] == 1 and summary["images_per_s"] > 0
    for image in sorted(inputs.glob("train_*.png")):
        for name in (image.name, f"overlay/{image.name}", f"maps/{image.name}"):
            assert np.array_equal(np.asarray(Image.open(beam / name)), np.asarray(Image.open(local / name))), name
    assert not list(beam.rglob("*.part"))

    (beam / "train_0001.png").unlink()
    again = CliRunner().invoke(cli, ["predict", "--model", model, str(inputs), "--out", str(beam), "--save",
                                     "mask,overlay,maps", "--runner", "beam", "--skip-existing"])
    assert "processed 1, skipped 4, failed 1" in again.output, again.output


def test_beam_reads_list_files_and_fails_missing_files_and_repeated_names(onnx_model, inputs, tmp_path):
    pytest.importorskip("apache_beam", reason="the `beam` extra (README's test command installs it)")
    from semiseg_tf.inference.beam import run_beam_predict

    twin = tmp_path / "twin"
    twin.mkdir()
    shutil.copy(inputs / "train_0000.png", twin / "train_0000.png")
    listing = tmp_path / "images.txt"
    listing.write_text(f"{inputs / 'train_0000.png'}\n{twin / 'train_0000.png'}\n{tmp_path / 'gone.png'}\n\n")
    summary = run_beam_predict(str(onnx_model / "model.onnx"), [str(listing), str(inputs / "train_0002.png")],
                               str(tmp_path / "out"), batch_size=4)
    assert summary["processed"] == 2 and summary["failed"] == 2, summary
    errors = {Path(f["file"]).name: f["error"] for f in summary["failures"]}
    assert "same outputs" in errors["train_0000.png"] and "gone.png" in errors
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["train_0000.png", "train_0002.png"]


def test_beam_usage_errors_are_one_line(onnx_model, inputs, tmp_path):
    base = ["predict", "--model", str(onnx_model / "model.onnx"), str(inputs), "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(cli, base + ["--runner", "beam", "--shard", "0/2"])
    assert result.exit_code == 2 and "--shard" in result.output
    result = CliRunner().invoke(cli, base + ["--beam-options", "--runner=DirectRunner"])
    assert result.exit_code == 2 and "--runner beam" in result.output
