"""The benchmark report compares each run with references of the same number of optimisation steps."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import report  # noqa: E402  (bench/ is a folder of scripts, not a package)


def _run(name: str, method: str, fraction: float, miou: float, steps: int = 1500, **extra) -> dict:
    supervision = "full" if method.startswith("supervised") else "semi"
    return {"name": name, "task": f"camvid-{'supervised' if supervision == 'full' else 'semi'}", "method": method,
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
    steps, reference, share, closed = _row(table, "equivariance, +500 steps from supervised")[2:6]
    assert (steps, share, closed) == ("2000", f"{100 * 58 / 62:.1f} %", f"{100 * 4 / 8:.0f} %")
    assert reference == f"54.0 ({100 * 54 / 62:.1f} %)"
    # a run from scratch: 1500 steps, against the 1500-step references (60 and 50)
    steps, _, share, closed = _row(table, "fixmatch")[2:6]
    assert (steps, share, closed) == ("1500", f"{100 * 55 / 60:.1f} %", f"{100 * 5 / 10:.0f} %")
    assert "2000 steps: **62.0**" in table and "1500 steps: **60.0**" in table


def test_without_a_same_steps_reference_the_ratios_stay_empty():
    by_name = _results()
    del by_name["full-ft"]
    table = report.semi_summary(list(by_name.values()), by_name)
    assert _row(table, "equivariance, +500 steps from supervised")[3:6] == ["-", "-", "-"]


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
    assert cells["+500"][4:6] == ["54.0, 10 min", "58.0 (+4.0), 10 min"]
    assert cells["+1000"][4:6] == ["56.0, 10 min", "57.0 (+1.0), 10 min"]
    # the summary's "supervised-only" for the long fine-tune is the long control, not the 500-step one
    summary = report.semi_summary(results, by_name)
    assert _row(summary, "equivariance, +1000 steps from supervised")[3].startswith("56.0")


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
