"""The benchmark report compares each run with references of the same number of optimisation steps, shows
test records beside their val records, and generates the whole of BENCHMARKS.md."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import report  # noqa: E402  (bench/ is a folder of scripts, not a package)


def _run(name: str, method: str, fraction: float, miou: float, steps: int = 1500, **extra) -> dict:
    supervision = "full" if method.startswith("supervised") else "semi"
    return {"name": name, "task": f"camvid-{'supervised' if supervision == 'full' else 'semi'}", "split": "val",
            "method": method, "command": f"python bench/camvid_train.py --variant {name}",
            "supervision": supervision, "labeled_fraction": fraction, "miou": miou, "seed": 0, "steps": steps,
            "train_seconds": 600.0, "per_class_iou": {}, **extra}


def _results() -> dict[str, dict]:
    runs = [
        _run("full", "supervised", 1.0, 0.60),
        _run("full-ft", "supervised-ft500", 1.0, 0.62, steps=500, init_from="full", init_train_seconds=600.0),
        _run("base", "supervised", 0.125, 0.50),
        _run("ctrl", "supervised-ft500", 0.125, 0.54, steps=500, init_from="base", init_train_seconds=600.0),
        _run("semi", "equivariance-ft500", 0.125, 0.58, steps=500, init_from="base", init_train_seconds=600.0),
        _run("scratch", "fixmatch", 0.125, 0.55),
    ]
    return {r.pop("name"): r for r in runs}


def _row(table: str, method: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(f"| {method} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_fine_tunes_are_measured_against_full_supervision_and_controls_of_the_same_steps():
    by_name = _results()
    table = report.semi_summary(list(by_name.values()), by_name)
    # a fine-tune: 2000 steps in all, against full supervision continued 500 steps (62) and its control (54)
    steps, reference, share, closed = _row(table, "equivariance, +500 steps from supervised")[3:7]
    assert (steps, share, closed) == ("2000", f"{100 * 58 / 62:.1f} %", f"{100 * 4 / 8:.0f} %")
    assert reference == f"54.0 ({100 * 54 / 62:.1f} %)"
    # a run from scratch: 1500 steps, against the 1500-step references (60 and 50)
    steps, _, share, closed = _row(table, "fixmatch")[3:7]
    assert (steps, share, closed) == ("1500", f"{100 * 55 / 60:.1f} %", f"{100 * 5 / 10:.0f} %")
    assert "2000 steps: **62.0**" in table and "1500 steps: **60.0**" in table


def test_without_a_same_steps_reference_the_ratios_stay_empty():
    by_name = _results()
    del by_name["full-ft"]
    table = report.semi_summary(list(by_name.values()), by_name)
    assert _row(table, "equivariance, +500 steps from supervised")[4:7] == ["-", "-", "-"]


def test_step_cost_rows_name_each_variant_with_its_options():
    timing = {"seconds_per_step_iqr": [1.0, 1.2], "timed_steps": 6, "parameters_trained": 4_000_000}
    cost = {"task": "semi-step-cost", "date": "2026-12-01", "command": "python bench/semi_cost.py", "methods": {
        "supervised": {"method": "supervised", "options": {}, "seconds_per_step": 1.1, "seconds_per_step_median": 1.1,
                       "relative_to_supervised": 1.0, **timing},
        "equivariance-hflipshrink": {"method": "equivariance", "options": {"equivariance_transforms": "hflip,scale=0.5"},
                                     "seconds_per_step": 2.2, "seconds_per_step_median": 1.5,
                                     "relative_to_supervised": 2.0, **timing}}}
    table = report.step_cost_table([cost])
    assert _row(table, "equivariance-hflipshrink") == [
        "equivariance-hflipshrink", "equivariance_transforms=hflip,scale=0.5", "2.20", "1.50", "1.00-1.20", "**2.00**",
        "4.00 M"]
    assert _row(table, "supervised")[1] == "defaults"


def test_longer_fine_tunes_are_paired_with_the_control_of_their_own_length():
    by_name = _results()
    by_name["ctrl-long"] = _run("ctrl-long", "supervised-ft1000", 0.125, 0.56, steps=1000, init_from="base",
                                init_train_seconds=600.0)
    by_name["semi-long"] = _run("semi-long", "equivariance-ft1000", 0.125, 0.57, steps=1000, init_from="base",
                                init_train_seconds=600.0)
    by_name["full-long"] = _run("full-long", "supervised-ft1000", 1.0, 0.62, steps=1000, init_from="full",
                                init_train_seconds=600.0)
    for r in (by_name["ctrl-long"], by_name["semi-long"], by_name["full-long"]):
        del r["name"]
    results = list(by_name.values())
    table = report.finetune_table(results, by_name)
    rows = [line for line in table.splitlines() if line.startswith("| 0.125 |")]
    assert len(rows) == 2
    cells = {row.split("|")[4].strip(): [c.strip() for c in row.strip("|").split("|")] for row in rows}
    assert cells["+500"][4:6] == ["54.0, test –, 10 min", "58.0 (+4.0), test –, 10 min"]
    assert cells["+1000"][4:6] == ["56.0, test –, 10 min", "57.0 (+1.0), test –, 10 min"]
    # the summary's "supervised-only" for the long fine-tune is the long control, not the 500-step one
    summary = report.semi_summary(results, by_name)
    assert _row(summary, "equivariance, +1000 steps from supervised")[4].startswith("56.0")


def test_class_gap_averages_each_recipe_and_its_own_controls_per_class():
    iou = lambda a, b: {"Road": a, "Pole": b}  # noqa: E731
    runs = {"full": _run("full", "supervised", 1.0, 0.60, per_class_iou=iou(0.9, 0.3))}
    for seed, (ctrl, semi) in enumerate([(0.50, 0.52), (0.54, 0.58), (0.56, 0.60)]):
        runs[f"base{seed}"] = _run("b", "supervised", 0.125, 0.48, seed=seed, steps=1000)
        runs[f"ctrl{seed}"] = _run("c", "supervised-ft500", 0.125, ctrl, seed=seed, steps=500,
                                   init_from=f"base{seed}", per_class_iou=iou(ctrl, 0.1))
        runs[f"semi{seed}"] = _run("s", "equivariance-ft500", 0.125, semi, seed=seed, steps=500,
                                   init_from=f"base{seed}", per_class_iou=iou(semi, 0.2))
    for r in runs.values():
        del r["name"]
    table = report.class_gap_table(list(runs.values()), runs)
    assert "equivariance / controls (3 subsets, 1500 steps)" in table
    assert _row(table, "Road") == ["Road", "90.0", "56.7 / 53.3"]
    assert _row(table, "Pole") == ["Pole", "30.0", "20.0 / 10.0"]
    assert _row(table, "**mIoU**") == ["**mIoU**", "60.0", "56.7 / 53.3"]
    assert _row(table, "**test mIoU**") == ["**test mIoU**", "–", "– / –"]
    del runs["ctrl2"]  # a recipe whose runs lack a control is left out rather than compared unevenly
    assert "no fine-tuned recipe" in report.class_gap_table(list(runs.values()), runs)


def test_reseeded_runs_show_each_seed_their_spread_and_the_classes_that_moved_most():
    rerun = {"task": "reseed", "run": "ctrl", "seed": 2, "original_miou": 0.57, "miou": 0.56, "miou_stdev": 0.01,
             "miou_range": [0.55, 0.57], "original_per_class_iou": {"Sky": 0.9, "Car": 0.5, "Fence": 0.4},
             "reruns": [{"seed": 1, "miou": 0.55, "per_class_iou": {"Sky": 0.9, "Car": 0.4, "Fence": 0.38}},
                        {"seed": 3, "miou": 0.56, "per_class_iou": {"Sky": 0.91, "Car": 0.45, "Fence": 0.41}}]}
    row = _row(report.reseed_table([rerun]), "ctrl")
    assert row[1:6] == ["2, 1, 3", "57.0 / 55.0 / 56.0", "**56.0**", "1.00", "55.0-57.0"]
    assert row[6] == "Car 10.0, Fence 3.0, Sky 1.0"
    assert report.reseed_table([]) == "_no results yet_"


def _write(folder: Path, name: str, result: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(result, indent=1))


def _folder_with_a_test_record(tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    for name, run in _results().items():
        _write(folder, name, run)
    # the full-supervision run was also evaluated on test: same fields, "split": "test"
    _write(folder, "full.test", {**_results()["full"], "split": "test", "miou": 0.45,
                                 "command": "python bench/camvid_train.py --variant full --split test"})
    _write(folder, "base.test", {**_results()["base"], "split": "test", "miou": 0.40})
    return folder


def test_a_test_record_is_shown_beside_its_val_record_and_not_counted_as_a_run(tmp_path):
    by_name = report.load_results(_folder_with_a_test_record(tmp_path))
    assert sorted(by_name) == ["base", "ctrl", "full", "full-ft", "scratch", "semi"]
    assert by_name["full"]["_test"]["miou"] == 0.45
    table = report.accuracy_table(list(by_name.values()))
    full = [line for line in table.splitlines() if "| 1 (?) |" in line and "| 1500 |" in line]
    assert len(full) == 1  # one row: the test record is a column, not a second run
    cells = [c.strip() for c in full[0].strip("|").split("|")]
    assert cells[4:6] == ["**60.0**", "45.0"]
    assert "test: `python bench/camvid_train.py --variant full --split test`" in full[0]
    assert _row(table, "fixmatch")[5] == "–"
    summary = report.semi_summary(list(by_name.values()), by_name)
    assert "1500 steps: **60.0** (1 run)" in summary  # the test record did not join the full-supervision runs
    assert _row(summary, "supervised")[1:3] == ["50.0", "40.0"]  # 1/8: val and test side by side
    assert _row(summary, "fixmatch")[1:3] == ["55.0", "–"]


def test_a_file_without_split_is_refused_with_its_name(tmp_path):
    folder = tmp_path / "results"
    run = _results()["base"]
    del run["split"]
    _write(folder, "camvid-no-split", run)
    with pytest.raises(ValueError, match="camvid-no-split.json"):
        report.load_results(folder)
    with pytest.raises(ValueError, match="camvid-no-split.json"):
        report.render(folder)


def test_unknown_kinds_and_zoo_records_are_rendered_not_fatal(tmp_path):
    folder = _folder_with_a_test_record(tmp_path)
    _write(folder, "gpu-train-speed", {"task": "gpu-train-speed", "split": "train", "images_per_s": {"tf": 120.5},
                                       "notes": "x" * 200, "command": "python bench/gpu.py | tee log"})
    zoo = {"task": "zoo-evaluate", "model": "camvid-deeplabv3plus@1.0.0", "images": 101, "miou": 0.587,
           "command": "semiseg-tf evaluate --model camvid-deeplabv3plus@1.0.0 --split val"}
    _write(folder, "zoo-camvid-deeplabv3plus-val", {**zoo, "split": "val"})
    _write(folder, "zoo-camvid-deeplabv3plus-test", {**zoo, "split": "test", "images": 233, "miou": 0.446,
                                                     "command": "semiseg-tf evaluate --split test"})
    text = report.render(folder)
    other = _row(text, "gpu-train-speed")
    assert other[1:3] == ["gpu-train-speed", "train"] and "images_per_s.tf 120.5" in other[4]
    assert "python bench/gpu.py \\| tee log" in text  # a pipe in a command does not break the table
    zoo_row = _row(text, "zoo-camvid-deeplabv3plus-val")
    assert zoo_row[2:5] == ["val", "**58.7**", "44.6"]
    assert "zoo-camvid-deeplabv3plus-test |" not in text


def test_the_whole_file_is_generated_and_rendering_twice_is_byte_identical(tmp_path):
    folder = _folder_with_a_test_record(tmp_path)
    out = tmp_path / "BENCHMARKS.md"
    assert report.main(["--results", str(folder), "--out", str(out)]) == 0
    text = out.read_text()
    assert text == report.render(folder)
    assert text.startswith("# Benchmarks\n") and "AUTO:" not in text
    assert "choose on val, report test" in text and text.count("How to read:") == len(report.NOTES)
    assert report.main(["--results", str(folder), "--out", str(out), "--check"]) == 0
    out.write_text(text + "hand edit\n")
    assert report.main(["--results", str(folder), "--out", str(out), "--check"]) == 1


def test_the_repository_results_render_and_every_one_records_its_split():
    first = report.render(report.RESULTS)
    assert first == report.render(report.RESULTS)
    assert "_no results yet_" not in first.split("## Zoo models")[0]


def test_the_headline_shows_precise_bn_runs_with_test_moving_averages_and_weak_labels():
    full = _run("pbn", "supervised-pbn", 1.0, 0.58, labeled_images=367, bn_recalibration_batches=100,
                moving_average_bn={"miou": 0.583})
    full["_test"] = {"miou": 0.436, "split": "test", "moving_average_bn": {"miou": 0.438}}
    weak = _run("scribble", "supervised-scribble-pbn", 0.0, 0.50, labeled_images=0, bn_recalibration_batches=100,
                supervision="scribble", annotation_hours=13.46, weak_labeled_images=367)
    weak["_test"] = {"miou": 0.40, "split": "test"}
    old = _run("old", "supervised", 1.0, 0.60, labeled_images=367)
    table = report.headline_table([full, weak, old])
    assert "| supervised-pbn | 367 full masks | 1500 | 58.0 | 43.6 | 100.0 % | 58.3 / 43.8 |" in table
    assert f"| scribble (367 images) | 1500 | 50.0 | 40.0 | {100 * 0.40 / 0.436:.1f} % | n/a / n/a | 13.5 |" in table
    assert "| supervised |" not in table  # runs with the moving averages stay in the earlier tables


def test_pretrained_runs_sit_beside_the_same_run_from_scratch_and_fine_tunes_beside_their_control():
    def run(name, method, miou, test, **extra):
        r = _run(name, method, 0.125, miou, labeled_images=46, bn_recalibration_batches=100, dataset="camvid",
                 **extra)
        r["_test"] = {"miou": test, "split": "test"}
        return r

    pretrain = {"run": "jigsaw-camvid", "method": "jigsaw", "steps": 300, "train_seconds": 240.0,
                "image_source": {"data": "../shared/data/camvid"}}
    scratch = run("scratch", "supervised-pbn", 0.515, 0.412)
    other_seed = run("seed1", "supervised-pbn", 0.60, 0.50, seed=1)
    pretrained = run("pt", "supervised-ptjigsaw-camvid-pbn", 0.533, 0.409, pretrain=pretrain)
    control = run("ctrl", "supervised-ptjigsaw-ft500-pbn", 0.540, 0.410, steps=500, init_from="pt", pretrain=pretrain)
    semi = {**run("semi", "equivariance-ptjigsaw-ft500-pbn", 0.550, 0.425, steps=500, init_from="pt",
                  pretrain=pretrain), "supervision": "semi", "task": "camvid-semi"}
    table = report.pretraining_table([semi, control, pretrained, other_seed, scratch])
    rows = {cells[3]: cells for line in table.splitlines()[2:]
            if (cells := [c.strip() for c in line.strip("|").split("|")])}
    assert rows["supervised-ptjigsaw-camvid-pbn"][4:9] == ["jigsaw, 300 steps on camvid (4 min)", "53.3", "40.9",
                                                          "from scratch", "+1.8 / -0.3"]
    assert rows["supervised-pbn"][4] == "scratch"
    semi_row = rows["equivariance-ptjigsaw-ft500-pbn, +500 steps from supervised"]
    assert semi_row[7:9] == ["supervised control", "+1.0 / +1.5"]
    assert report.pretraining_table([scratch]) == "_none_"


def test_annotation_hours_plot_charges_weak_runs_their_hours_and_mask_runs_their_share(tmp_path, capsys):
    import plot_annotation_hours

    def record(name, supervision, fraction, miou, **extra):
        run = {"task": "camvid-supervised", "split": "val", "method": f"supervised-{name}", "supervision": supervision,
               "labeled_fraction": fraction, "labeled_images": round(367 * fraction), "seed": 0, "miou": miou,
               "per_class_iou": {}, "steps": 1500, "train_seconds": 60.0, "command": "python bench/x.py",
               "bn_recalibration_batches": 100, **extra}
        (tmp_path / f"{name}.json").write_text(json.dumps(run))
        (tmp_path / f"{name}.test.json").write_text(json.dumps({**run, "split": "test", "miou": miou - 0.1}))

    record("full", "full", 1.0, 0.58)
    record("eighth", "full", 0.125, 0.52)
    record("scribble", "scribble", 0.0, 0.50, annotation_hours=13.5, full_mask_hours=184.0)
    record("core0.5-coarse-pbn", "coarse", 0.0, 0.52, annotation_hours=14.3)  # a --variant is named
    record("round2-box-pbn", "box", 0.0, 0.46, annotation_hours=17.4, round=2)
    record("crf0.1-sp100-point-pbn", "point", 0.0, 0.40, annotation_hours=4.1, superpixel_scale=100.0,
           method_options={"crf_weight": 0.1})
    record("bbtp", "box", 0.0, 0.47, annotation_hours=17.4, method="bbtp-box-pbn")  # a weak method is named
    record("pretrained", "full", 0.125, 0.53, pretrain={"method": "dense"})
    record("crf0.1-scribble-ptjigsaw-camvid-pbn", "scribble", 0.0, 0.49, annotation_hours=13.5,
           method_options={"crf_weight": 0.1}, pretrain={"method": "jigsaw", "run": "jigsaw-camvid"})
    record("old", "full", 1.0, 0.6, bn_recalibration_batches=0)  # moving-average era: not plotted
    out = tmp_path / "plot.png"
    plot_annotation_hours.main(["--results", str(tmp_path), "--out", str(out)])
    printed = capsys.readouterr().out
    assert "scribbles, partial CE:    13.5 h  test mIoU 40.0" in printed
    assert "scribbles + gated CRF 0.1, jigsaw-pretrained encoder:    13.5 h  test mIoU 39.0" in printed
    assert "points grown to superpixels + gated CRF 0.1:     4.1 h" in printed
    assert "boxes + bbtp:    17.4 h  test mIoU 37.0" in printed
    assert "46 masks, dense-pretrained encoder:    23.0 h  test mIoU 43.0" in printed
    assert "coarse masks (core0.5), partial CE:    14.3 h" in printed and "boxes round 2, partial CE:    17.4 h" in printed
    assert "46 masks:    23.0 h  test mIoU 42.0" in printed and "367 masks:   184.0 h  test mIoU 48.0" in printed
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plotted = {line.split(":")[0].strip() for line in printed.splitlines() if line.endswith("budget)")}
    assert plotted == {"367 masks", "46 masks, dense-pretrained encoder", "scribbles, partial CE", "boxes + bbtp",
                       "points grown to superpixels + gated CRF 0.1", "coarse masks (core0.5), partial CE"}
