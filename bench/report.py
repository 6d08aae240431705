"""Render bench/results/*.json into BENCHMARKS.md: the whole file, header, notes and tables.

    cd bench && python report.py            # or: python bench/report.py [--check]

Numbers are never typed by hand: each table row comes from result files, and the command that produced
it is printed beside it. A recipe evaluated on val and test has two records with the same fields,
`<name>.json` ("split": "val") and `<name>.test.json` ("split": "test"); the test record is shown beside
its val record, never as a run of its own. Result kinds no table knows are listed under "Other results".
The research narrative lives in docs/, one dated file per question.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from results_io import RESULTS

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
MISSING = "–"  # a figure not measured (yet)
CAMVID_FIELDS = ("method", "supervision", "labeled_fraction", "seed", "miou", "per_class_iou", "steps",
                 "train_seconds", "command")
SPEED_TASKS = ("train-speed", "predict-speed", "predict-stages", "precision-speed", "beam-speed")


def _val_name(stem: str) -> str | None:
    """The val record a test record belongs to: `<name>.test` -> `<name>`, `zoo-X-test` -> `zoo-X-val`."""
    if stem.endswith(".test"):
        return stem[: -len(".test")]
    if stem.endswith("-test"):
        return stem[: -len("-test")] + "-val"
    return None


def _read(path: Path) -> dict:
    try:
        result = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path.name}: not valid JSON ({exc})") from exc
    if not isinstance(result, dict) or "split" not in result:
        raise ValueError(f'{path.name}: no "split" field; every result records the split it was measured on '
                         '("val", "test", or what a timing used)')
    if path.stem.endswith(".test") and result["split"] != "test":
        raise ValueError(f'{path.name}: a .test.json record must have "split": "test", not {result["split"]!r}')
    return result


def load_results(folder: Path = RESULTS) -> dict[str, dict]:
    """Result records by file name (without .json). A test record is attached to its val record as
    `_test` and not listed itself; one without a val record stays a record of its own."""
    records = {p.name[: -len(".json")]: _read(p) for p in sorted(folder.glob("*.json"))}
    by_name = {}
    for name, result in records.items():
        val = _val_name(name)
        if result["split"] == "test" and val in records:
            records[val]["_test"] = result
        else:
            by_name[name] = result
    return by_name


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _test_pct(result: dict) -> str:
    return _pct(result["_test"].get("miou")) if "_test" in result else MISSING


def is_camvid_run(result: dict, dataset: str = "camvid") -> bool:
    """A training run on `dataset` (CamVid unless named) evaluated on val, with every field the accuracy
    tables read."""
    return (result.get("task", "").startswith(f"{dataset}-") and result.get("split") == "val"
            and all(k in result for k in CAMVID_FIELDS))


def accuracy_table(results: list[dict]) -> str:
    rows = [r for r in results if is_camvid_run(r)]
    if not rows:
        return "_no results yet_"
    rows.sort(key=lambda r: (r["task"], r["method"], -r["labeled_fraction"], r["seed"]))
    names = list(rows[0]["per_class_iou"])
    head = ("| method | supervision | labels | seed | val mIoU | test mIoU | " + " | ".join(names)
            + " | steps | train time | command |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        per_class = " | ".join(_pct(r["per_class_iou"].get(n)) for n in names)
        labels = f"{r['labeled_fraction']:g} ({r.get('labeled_images', '?')})"
        command = f"`{r['command']}`"
        test_command = r.get("_test", {}).get("command")
        if test_command and test_command != r["command"]:
            command += f"; test: `{test_command}`"
        lines.append(f"| {r['method']} | {r['supervision']} | {labels} | {r['seed']} | "
                     f"**{_pct(r['miou'])}** | {_test_pct(r)} | {per_class} | {r['steps']} | "
                     f"{r['train_seconds'] / 60:.1f} min | {command} |")
    return "\n".join(lines)


def _finetune_label(result: dict) -> str:
    """`equivariance-r2-hflip-ft500` started from `...-supervised-r2-f0.125-s0` -> `equivariance-hflip`."""
    tag = re.search(r"-supervised-(.*?)-?f[0-9.]+-s\d+$", result["init_from"])
    label = re.sub(r"-?ft\d+$", "", result["method"])
    if tag and tag.group(1):
        label = label.replace(f"-{tag.group(1)}", "", 1)
    return "control (supervised)" if label == "supervised" else label


def _row_label(result: dict) -> str:
    """Runs of one recipe share a row: replicates (`supervised-r2`) join their method, and fine-tunes
    are named by what they add to the run they started from, whichever run that was."""
    if "init_from" in result:
        return f"{_finetune_label(result)}, +{result['steps']} steps from supervised"
    return re.sub(r"-r\d+$", "", result["method"])


def _total_steps(result: dict, by_name: dict[str, dict]) -> int:
    """Optimisation steps in all: a fine-tune adds its steps to those of the run it started from."""
    start = by_name.get(result.get("init_from", ""))
    return result["steps"] + (_total_steps(start, by_name) if start else 0)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _mean_test(runs: list[dict], every: bool = False) -> str:
    """Mean test mIoU of the runs that have a test record ("k of n" when not all do; with `every`, only
    when all do), or "–"."""
    tested = [r["_test"]["miou"] for r in runs if "miou" in r.get("_test", {})]
    if not tested or (every and len(tested) < len(runs)):
        return MISSING
    return f"{100 * _mean(tested):.1f}" + (f" ({len(tested)} of {len(runs)} runs)" if len(tested) < len(runs) else "")


def _full_supervision(rows: list[dict], by_name: dict[str, dict]) -> dict[int, list[dict]]:
    """Full-supervision runs (from scratch or continued) by their optimisation steps in all."""
    full: dict[int, list[dict]] = {}
    for r in rows:
        if r["labeled_fraction"] == 1 and r["supervision"] == "full":
            full.setdefault(_total_steps(r, by_name), []).append(r)
    return full


def _controls(rows: list[dict]) -> dict[tuple[str, int], dict]:
    """Supervised fine-tunes by (the run they continued, their steps): the control of any fine-tune."""
    return {(r["init_from"], r["steps"]): r for r in rows if r.get("init_from") and r["supervision"] == "full"}


def semi_summary(results: list[dict], by_name: dict[str, dict]) -> str:
    """Methods x label fractions (mean val mIoU over runs), then at 1/8 the share of full supervision and
    the gap closed, each against runs with the same number of optimisation steps in all: full supervision
    of that many steps, and supervised-only at 1/8 on the same labeled subsets (for a fine-tune, the
    supervised control that continued the same starting run)."""
    rows = [r for r in results if is_camvid_run(r)]
    full = {steps: [r["miou"] for r in runs] for steps, runs in _full_supervision(rows, by_name).items()}
    if not full or not any(r["supervision"] == "semi" for r in rows):
        return "_no semi-supervised results yet_"
    fractions = sorted({r["labeled_fraction"] for r in rows if r["labeled_fraction"] < 1})
    cells: dict = {}
    for r in rows:
        cells.setdefault((_row_label(r), r["labeled_fraction"]), []).append(r)
    controls = _controls(rows)
    scratch = cells.get(("supervised", 0.125), [])

    def supervised_only(r: dict) -> float | None:
        """Supervised-only at 1/8 with r's labeled subset and number of steps."""
        if "init_from" in r:
            control = controls.get((r["init_from"], r["steps"]))
            return control["miou"] if control else None
        return _mean([b["miou"] for b in scratch if b["seed"] == r["seed"] and b["steps"] == r["steps"]])

    head = ("| method | " + " | ".join(f"{f:g} val | {f:g} test" for f in fractions)
            + " | steps in all | supervised-only at 1/8 (same subsets and steps) | 1/8 as % of full (same steps) "
            "| gap closed at 1/8 (same steps) | train time at 1/8 |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    methods = ["supervised"] + sorted({m for m, _ in cells} - {"supervised"})
    for method in methods:
        values = []
        for f in fractions:
            runs = cells.get((method, f), [])
            seeds = ",".join(str(seed) for seed in sorted(r["seed"] for r in runs))
            values.append("-" if not runs else f"{100 * sum(r['miou'] for r in runs) / len(runs):.1f}"
                          + (f" ({len(runs)} runs, seeds {seeds})" if len(runs) > 1 else ""))
            values.append(_mean_test(runs))
        eighth = cells.get((method, 0.125), [])
        steps = sorted({_total_steps(r, by_name) for r in eighth})
        references = [_mean(full.get(_total_steps(r, by_name), [])) for r in eighth]
        share = closed = reference = "-"
        if eighth and all(references):  # full supervision with the same steps exists for every run
            full_miou, mean = _mean(references), _mean([r["miou"] for r in eighth])
            share = f"{100 * mean / full_miou:.1f} %"
            bases = [supervised_only(r) for r in eighth]
            if eighth[0]["supervision"] == "semi" and all(b is not None for b in bases):
                base = _mean(bases)
                reference = f"{100 * base:.1f} ({100 * base / full_miou:.1f} %)"
                closed = f"{100 * (mean - base) / (full_miou - base):.0f} %"
        minutes = "-" if not eighth else f"{sum(r['train_seconds'] for r in eighth) / len(eighth) / 60:.0f} min"
        if eighth and "teacher_train_seconds" in eighth[0]:  # data distillation: + teacher and labelling
            before = sum(r["teacher_train_seconds"] + r["extra_labels"]["seconds"] for r in eighth) / len(eighth)
            minutes += f" (+{before / 60:.0f} min teacher and pseudo-labels)"
        if eighth and "init_train_seconds" in eighth[0]:  # fine-tuned: + the run it started from
            before = sum(r["init_train_seconds"] for r in eighth) / len(eighth)
            minutes += f" (+{before / 60:.0f} min of the supervised run)"
        lines.append(f"| {method} | " + " | ".join(values) + f" | {'/'.join(map(str, steps)) or '-'} | {reference} | "
                     f"{share} | {closed} | {minutes} |")
    for steps, values in sorted(full.items()):
        miou = _mean(values)
        lines.append(f"\nFull supervision (all masks), {steps} steps: **{100 * miou:.1f}** ({len(values)} run"
                     f"{'s' if len(values) > 1 else ''}); the target at 1/8 (97 %) for runs of {steps} steps is "
                     f"{97 * miou:.1f}.")
    return "\n".join(lines)


def finetune_table(results: list[dict], by_name: dict[str, dict]) -> str:
    """Fine-tunes paired with the run they started from: one row per starting run and fine-tune length,
    the control and each method as val mIoU and its difference to the control of the same length; the
    last row averages those differences."""
    tunes = [r for r in results if r.get("init_from") in by_name and is_camvid_run(r)]
    if not tunes:
        return "_no fine-tunes yet_"
    starts: dict[tuple[str, int], dict[str, dict]] = {}
    for r in tunes:
        starts.setdefault((r["init_from"], r["steps"]), {})[_finetune_label(r)] = r
    control = "control (supervised)"
    methods = [control] + sorted({m for runs in starts.values() for m in runs} - {control})
    head = "| labels | seed | started from (val / test mIoU) | steps | " + " | ".join(methods) + " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    deltas: dict[str, list[float]] = {}
    for (start, steps), runs in sorted(starts.items(), key=lambda kv: (by_name[kv[0][0]]["labeled_fraction"], kv[0])):
        first = by_name[start]
        cells = []
        for m in methods:
            r = runs.get(m)
            if r is None:
                cells.append("-")
                continue
            cell = f"{100 * r['miou']:.1f}"
            if m != control and control in runs:
                delta = 100 * (r["miou"] - runs[control]["miou"])
                deltas.setdefault(m, []).append(delta)
                cell += f" ({delta:+.1f})"
            cells.append(cell + f", test {_test_pct(r)}, {r['train_seconds'] / 60:.0f} min")
        lines.append(f"| {first['labeled_fraction']:g} | {first['seed']} | `{start}` ({_pct(first['miou'])} / "
                     f"{_test_pct(first)}) | "
                     f"+{steps} | " + " | ".join(cells) + " |")
    lines.append("| | | mean difference to the control (starting runs) | | - | "
                 + " | ".join(f"{sum(d) / len(d):+.1f} ({len(d)})" if (d := deltas.get(m)) else "-"
                              for m in methods[1:]) + " |")
    return "\n".join(lines)


def class_gap_table(results: list[dict], by_name: dict[str, dict], min_runs: int = 3) -> str:
    """Where the gap to full supervision is, class by class: every fine-tuned recipe at 1/8 with at least
    `min_runs` starting runs, beside those runs' controls and full supervision of the same steps in all
    (means over runs; cells: recipe / controls)."""
    camvid = [r for r in results if is_camvid_run(r)]
    full, controls = _full_supervision(camvid, by_name), _controls(camvid)
    recipes: dict[tuple[str, int], list[dict]] = {}
    for r in camvid:
        if r.get("init_from") in by_name and r["labeled_fraction"] == 0.125 and r["supervision"] == "semi":
            recipes.setdefault((_finetune_label(r), _total_steps(r, by_name)), []).append(r)
    columns = [(label, steps, runs, [controls[(r["init_from"], r["steps"])] for r in runs])
               for (label, steps), runs in sorted(recipes.items())
               if len(runs) >= min_runs and steps in full
               and all((r["init_from"], r["steps"]) in controls for r in runs)]
    if not columns:
        return f"_no fine-tuned recipe at 1/8 has {min_runs} runs with controls and full supervision yet_"
    all_steps = sorted({steps for _, steps, _, _ in columns})
    head = ("| class | " + " | ".join(f"full supervision, {s} steps ({len(full[s])} run{'s' * (len(full[s]) > 1)})"
                                      for s in all_steps)
            + " | " + " | ".join(f"{label} / controls ({len(runs)} subsets, {steps} steps)"
                                  for label, steps, runs, _ in columns) + " |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]

    def mean(runs: list[dict], key: str | None) -> str:
        return f"{100 * _mean([r['miou'] if key is None else r['per_class_iou'][key] for r in runs]):.1f}"

    for key in [*columns[0][2][0]["per_class_iou"], None]:
        cells = [mean(full[s], key) for s in all_steps]
        cells += [f"{mean(runs, key)} / {mean(ctrl, key)}" for _, _, runs, ctrl in columns]
        lines.append(f"| {key or '**mIoU**'} | " + " | ".join(cells) + " |")
    cells = [_mean_test(full[s], every=True) for s in all_steps]
    cells += [f"{_mean_test(runs, every=True)} / {_mean_test(ctrl, every=True)}" for _, _, runs, ctrl in columns]
    lines.append("| **test mIoU** | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def step_cost_table(results: list[dict]) -> str:
    """Each semi-step-cost run as one row per method: mean seconds per step and the ratio to supervised."""
    runs = [r for r in results if r.get("task") == "semi-step-cost"]
    if not runs:
        return "_no results yet_"
    blocks = []
    for r in runs:
        lines = [f"{r['date']}, {r.get('machine', '')}, TensorFlow {r.get('tensorflow', '?')}: `{r['command']}`", "",
                 "| method | options | seconds per step (mean) | median | quartiles | x supervised (means) "
                 "| trained parameters |", "|---|---|---|---|---|---|---|"]
        for name, m in r["methods"].items():
            options = ", ".join(f"{k}={v}" for k, v in m["options"].items()) or "defaults"
            low, high = m["seconds_per_step_iqr"]
            lines.append(f"| {name} | {options} | {m['seconds_per_step']:.2f} | {m['seconds_per_step_median']:.2f} | "
                         f"{low:.2f}-{high:.2f} | "
                         f"**{m['relative_to_supervised']:.2f}** | {m['parameters_trained'] / 1e6:.2f} M |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def reseed_table(results: list[dict]) -> str:
    """Each `bench/reseed.py` result: the run's val mIoU with its own seed and with the others (same labeled
    subset, same start), their spread, and the classes that moved most between seeds."""
    runs = [r for r in results if r.get("task") == "reseed"]
    if not runs:
        return "_no results yet_"
    lines = ["| run | seeds | val mIoU per seed | mean | stdev | range | classes that moved most (range of IoU) |",
             "|---|---|---|---|---|---|---|"]
    for r in runs:
        seeds = [r["seed"]] + [x["seed"] for x in r["reruns"]]
        per_seed = [r["original_miou"]] + [x["miou"] for x in r["reruns"]]
        original = r["original_per_class_iou"]
        ious = {c: [original[c]] + [x["per_class_iou"][c] for x in r["reruns"]] for c in original}
        spread = sorted(ious, key=lambda c: max(ious[c]) - min(ious[c]), reverse=True)[:3]
        low, high = r["miou_range"]
        lines.append(f"| {r['run']} | {', '.join(map(str, seeds))} | {' / '.join(_pct(v) for v in per_seed)} | "
                     f"**{_pct(r['miou'])}** | {100 * r['miou_stdev']:.2f} | {_pct(low)}-{_pct(high)} | "
                     + ", ".join(f"{c} {100 * (max(ious[c]) - min(ious[c])):.1f}" for c in spread) + " |")
    return "\n".join(lines)


META = ("command", "date", "machine", "task", "split", "dataset")


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _field(value) -> str:
    return _cell(json.dumps(value) if isinstance(value, (dict, list)) else value)


def speed_table(results: list[dict]) -> str:
    """Speed results field by field (their shapes differ from one benchmark to the next)."""
    rows = [r for r in results if r.get("task") in SPEED_TASKS]
    if not rows:
        return "_no results yet_"
    blocks = []
    for r in rows:
        body = {k: v for k, v in r.items() if k not in ("command", "date", "machine", "task") and not k.startswith("_")}
        blocks.append(f"**{r['task']}** ({r.get('date', '?')}, {r.get('machine', '')}): `{r.get('command', '?')}`\n\n"
                      "| field | value |\n|---|---|\n" + "\n".join(f"| {k} | {_field(v)} |" for k, v in body.items()))
    return "\n\n".join(blocks)


def zoo_table(named: dict[str, dict]) -> str:
    """Zoo entries evaluated on val and test (`zoo-NAME-val.json` beside `zoo-NAME-test.json`)."""
    if not named:
        return "_no results yet_"
    lines = ["| result | model | split | mIoU | test mIoU | images | command |", "|---|---|---|---|---|---|---|"]
    for name, r in named.items():
        command = f"`{_cell(r.get('command', '?'))}`"
        if r.get("_test", {}).get("command"):
            command += f"; test: `{_cell(r['_test']['command'])}`"
        lines.append(f"| {name} | {_cell(r.get('model', '?'))} | {_cell(r['split'])} | **{_pct(r.get('miou'))}** | "
                     f"{_test_pct(r)} | {_cell(r.get('images', '?'))} | {command} |")
    return "\n".join(lines)


def _figures(result: dict) -> str:
    """The scalar fields of a result (one level of nesting), for kinds no table knows."""
    parts = []
    for key, value in result.items():
        if key in META or key.startswith("_"):
            continue
        for sub, v in (value.items() if isinstance(value, dict) else [(None, value)]):
            if isinstance(v, bool) or not isinstance(v, (int, float, str)) or (isinstance(v, str) and len(v) > 60):
                continue
            label = key if sub is None else f"{key}.{sub}"
            parts.append(f"{label} {v:.4g}" if isinstance(v, float) else f"{label} {v}")
    return _cell(", ".join(parts) or "-")


def other_table(named: dict[str, dict]) -> str:
    """One row per result of a kind the tables above do not read; the JSON file holds the rest."""
    if not named:
        return "_none_"
    lines = ["| result | task | split | date | figures | test mIoU | command |", "|---|---|---|---|---|---|---|"]
    for name, r in named.items():
        lines.append(f"| {name} | {_cell(r.get('task', '?'))} | {_cell(r['split'])} | {_cell(r.get('date', '?'))} | "
                     f"{_figures(r)} | {_test_pct(r)} | `{_cell(r.get('command', '?'))}` |")
    return "\n".join(lines)


def is_precise_bn_run(result: dict, dataset: str = "camvid") -> bool:
    """A run of the current recipe: BatchNorm statistics re-estimated at the end (PreciseBN)."""
    return is_camvid_run(result, dataset) and bool(result.get("bn_recalibration_batches"))


def headline_table(results: list[dict], dataset: str = "camvid") -> str:
    """The current recipe's runs on `dataset`, val and test, beside the moving-average figures of the same
    weights."""
    rows = sorted((r for r in results if is_precise_bn_run(r, dataset)),
                  key=lambda r: (-(r.get("annotation_hours") is None), -r["labeled_fraction"], r["steps"],
                                 r["method"]))
    if not rows:
        return "_none_"
    full = next((r for r in rows if r["supervision"] == "full" and r["labeled_fraction"] == 1), None)
    lines = ["| run | labels | steps | val | test | test % of full | val / test, moving-average BN | "
             "annotation hours | time | command |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        test = r.get("_test", {})
        labels = (f"{r['supervision']} ({r.get('weak_labeled_images', '?')} images)" if r.get("annotation_hours")
                  is not None else f"{r['labeled_images']} full masks")
        ratio = (f"{100 * test['miou'] / full['_test']['miou']:.1f} %" if test and full and "_test" in full
                 and r["steps"] == full["steps"] else MISSING)
        moving = r.get("moving_average_bn", {}).get("miou")
        moving_test = test.get("moving_average_bn", {}).get("miou")
        hours = r.get("annotation_hours", r.get("full_mask_hours"))
        lines.append(f"| {_row_label(r)} | {labels} | {r['steps']} | {_pct(r['miou'])} | {_test_pct(r)} | {ratio} | "
                     f"{_pct(moving)} / {_pct(moving_test)} | {'–' if hours is None else f'{hours:.1f}'} | "
                     f"{r['train_seconds'] / 60:.0f} min | `{r['command']}` |")
    return "\n".join(lines)


PRETRAIN_DATASETS = ("camvid", "ph2_lesion")  # where encoders were pretrained on the train images


def _encoder(result: dict) -> str:
    """`scratch`, or the pretext method, its steps and the dataset its images came from."""
    record = result.get("pretrain")
    if not record:
        return "scratch"
    source = Path((record.get("image_source") or {}).get("data") or "?").name
    return f"{record['method']}, {record['steps']} steps on {source} ({record['train_seconds'] / 60:.0f} min)"


def _without_pretrain(result: dict) -> str:
    """The method name the same run from scratch has: `supervised-ptjigsaw-camvid-pbn` -> `supervised-pbn`."""
    record = result.get("pretrain")
    return result["method"].replace(f"-pt{record['run']}", "") if record else result["method"]


def pretraining_table(results: list[dict]) -> str:
    """Label-budget runs of the current recipe with and without a pretrained encoder: each beside its
    reference, the same run from scratch (same dataset, labels, seed, method and steps) or, for a
    fine-tune, the supervised control that continued the same starting run."""
    rows = [r for r in results for d in PRETRAIN_DATASETS
            if is_precise_bn_run(r, d) and r["supervision"] in ("full", "semi") and r["labeled_fraction"] < 1]
    if not any(r.get("pretrain") for r in rows):
        return "_none_"
    rows.sort(key=lambda r: (r["dataset"], -r["labeled_fraction"], r["seed"], "init_from" in r,
                             r.get("init_from", ""), r["method"]))
    lines = ["| dataset | labels | seed | run | encoder | val | test | reference | val / test vs reference | "
             "time | command |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "init_from" in r:
            reference = next((c for c in rows if c.get("init_from") == r["init_from"] and c["steps"] == r["steps"]
                              and c["supervision"] == "full" and c is not r), None)
            what = "supervised control"
        else:
            reference = next((c for c in rows if not c.get("pretrain") and "init_from" not in c and c is not r
                              and (c["dataset"], c["labeled_fraction"], c["seed"], c["steps"])
                              == (r["dataset"], r["labeled_fraction"], r["seed"], r["steps"])
                              and c["method"] == _without_pretrain(r)), None)
            what = "from scratch"
        difference = MISSING
        if reference is not None:
            test = (f"{100 * (r['_test']['miou'] - reference['_test']['miou']):+.1f}"
                    if "_test" in r and "_test" in reference else MISSING)
            difference = f"{100 * (r['miou'] - reference['miou']):+.1f} / {test}"
        lines.append(f"| {r['dataset']} | {r['labeled_fraction']:g} ({r['labeled_images']}) | {r['seed']} | "
                     f"{_row_label(r)} | {_encoder(r)} | {_pct(r['miou'])} | {_test_pct(r)} | "
                     f"{what if reference is not None else MISSING} | {difference} | "
                     f"{r['train_seconds'] / 60:.0f} min | `{r['command']}` |")
    return "\n".join(lines)


def bn_recalibration_table(named: dict[str, dict]) -> str:
    """PreciseBN against the moving averages of the same weights, by batches and seed."""
    runs = {n: r for n, r in named.items() if r.get("task") == "bn-recalibration"}
    if not runs:
        return "_none_"
    lines = ["| run | statistics | val | test | seconds | command |", "|---|---|---|---|---|---|"]
    for name, r in runs.items():
        for row in r["rows"]:
            what = ("moving averages (training)" if not row["batches"]
                    else f"PreciseBN, {row['batches']} batches, seed {row['seed']}")
            lines.append(f"| {r['run']} | {what} | {_pct(row.get('val'))} | {_pct(row.get('test'))} | "
                         f"{row.get('recalibration_seconds', '')} | `{r['command']}` |")
    return "\n".join(lines)


HEADER = """\
# Benchmarks

<!-- Generated by `cd bench && python report.py` from bench/results/*.json: do not edit by hand. -->

Every figure below is rendered from one or more `bench/results/*.json` files; each records the command
that produced it (rerun it to check), the date, the machine and the split it was measured on. Machine,
unless a row says otherwise: a 2-core x86-64 CPU (AMD EPYC; AVX2, or AVX-512 where named), no GPU.
What the figures mean, and what was tried, is in [docs/](docs/README.md), one dated note per question.

**Protocol: choose on val, report test.** Recipes were compared on CamVid val (101 images), but val comes
from a drive that train already holds, so it flatters every model; test (233 images, a new drive) is the
figure to quote and the one CamVid papers report. A recipe evaluated on both has a val record
`<name>.json` and a test record `<name>.test.json` with the same fields; the test figure is shown in a
test column beside the val one ("–": not measured yet) and never counted as another run. CamVid figures
are mIoU in % at native 360x480 (the model sees 240x320; logits are resized back)."""

NOTES = {
    "headline": """\
## CamVid: the current recipe, val and test

How to read: runs that end by re-estimating BatchNorm statistics over 100 batches of training crops
(PreciseBN, `--bn-recalibration-batches`, every run since 2026-12-02; named `-pbn`), evaluated on val
and test; the moving-average column evaluates the same final weights with the statistics training left
(what every earlier run shipped). "test % of full" divides by full supervision of the same steps. Weak-label
runs (`--annotations KIND=DIR`, labels from `semiseg-tf weaken`) show their kind and the simulated
annotation hours; full-mask runs show the hours full masks of their images would take.""",
    "msrc21": """\
## MSRC-21: full masks, boxes and tags, val and test

How to read: as the CamVid table above, on `../shared/data/msrc21` (591 natural images, 21 classes, a
seeded 70/10/20 split; train at native size, <= 320 px, 192x256 crops); mIoU in % at native size.
Boxes and image tags are simulated from the train masks (`semiseg-tf weaken --kind box|tag`).""",
    "pretraining": """\
## Encoder pretraining by label budget, val and test

How to read: runs with part of the masks, from a randomly initialised encoder ("scratch") or one
pretrained without labels on the same dataset's train images (`semiseg-tf pretrain`, then
`--pretrained NAME`; the pretraining's own time in brackets). A run is compared with the same run from
scratch (same labels, seed, method and steps); a fine-tune ("+N steps from supervised") with the
supervised control that continued the same starting run. Discussion:
[docs/2026-12-03-pretraining-plan.md](docs/2026-12-03-pretraining-plan.md).""",
    "bnrecal": """\
## BatchNorm statistics: PreciseBN against the moving averages

How to read: the same final weights evaluated with the moving averages training left and with statistics
re-estimated over N batches of augmented training crops drawn with different seeds (the spread over seeds
is the estimate's own sampling noise).""",
    "semi": """\
## CamVid: methods by label fraction

How to read: one row per recipe, val mIoU averaged over its runs per label fraction (the run count and
seeds in brackets), the test mean beside it. A replicate (`--variant r2`) joins its method; a fine-tune
("+N steps from supervised", `bench/camvid_finetune.sh`) joins the fine-tunes of the same method from any
supervised run. The ratio columns compare runs with the same number of optimisation steps in all (a
fine-tune adds its steps to those of the run it started from): "% of full" divides by full supervision of
that many steps, "gap closed" is (method - supervised-only) / (full - supervised-only) at 1/8, where
supervised-only is the supervised run of the same seed and steps or, for a fine-tune, the supervised
control that continued the same starting run. "-" means that reference was not measured. All on val.
Schedule: [docs/2026-11-24-camvid-baselines.md](docs/2026-11-24-camvid-baselines.md).""",
    "finetune": """\
## CamVid: fine-tunes beside their controls

How to read: one row per starting run and fine-tune length. The control is the same supervised run
continued the same steps on the masks alone; each method's cell is val mIoU (difference to the control),
test mIoU, training time. The last row averages the differences over starting runs. A difference of one
run is within seed noise (see the seed-noise table below).""",
    "classgap": """\
## CamVid: the 1/8 gap to full supervision, class by class

How to read: every fine-tuned recipe with at least three 1/8 subsets, beside the controls of the same
starting runs and full supervision of the same steps in all (cells: recipe / controls, val IoU means over
the subsets); the last row is the test mIoU mean where every run has a test record.""",
    "reseed": """\
## CamVid: how far a run moves when only its seed changes

How to read: `bench/reseed.py RUN --seeds N ...` reruns a finished run with other seeds on the same
labeled subset and start; the spread is the noise a gain over a control has to beat (val).""",
    "zoo": """\
## Zoo models

How to read: each shipped model evaluated with `semiseg-tf evaluate`, val and test side by side.""",
    "accuracy": """\
## CamVid: all runs

How to read: one row per training run (its test record, if any, in the test column, not a row of its
own); per-class IoU is val.""",
    "stepcost": """\
## Training step cost

How to read: seconds per training step of each method, timed side by side in one process on the same
in-memory batch; the ratio to the supervised step is of means (what a run pays).""",
    "speed": """\
## Speed: training and prediction

How to read: each speed benchmark field by field; images/s figures are medians of interleaved rounds
(all rounds are in the file). Discussion: [docs/2026-11-25-predict-speed.md](docs/2026-11-25-predict-speed.md),
[docs/2026-11-24-training-cost.md](docs/2026-11-24-training-cost.md).""",
    "other": """\
## Other results

How to read: result kinds none of the tables above reads (pseudo-label quality, GPU suites, new
benchmarks), one row each with their scalar fields; the JSON file holds the rest.""",
    "superseded": """\
## Superseded results

How to read: runs of an earlier recipe kept in `bench/results/superseded/` for the record; not comparable
with the tables above.""",
}


def render(folder: Path = RESULTS) -> str:
    """The whole of BENCHMARKS.md from the result files in `folder` (and `folder/superseded`)."""
    by_name = load_results(folder)
    superseded = load_results(folder / "superseded") if (folder / "superseded").is_dir() else {}
    zoo = {n: r for n, r in by_name.items() if n.startswith("zoo-") and "miou" in r}
    results = [r for n, r in by_name.items() if n not in zoo]
    known = {id(r) for r in results if any(is_camvid_run(r, d) for d in ("msrc21", *PRETRAIN_DATASETS))
             or r.get("task") in SPEED_TASKS
             or (r.get("task") == "semi-step-cost" and isinstance(r.get("methods"), dict))
             or (r.get("task") == "reseed" and "reruns" in r)}
    known |= {id(r) for r in results if r.get("task") == "bn-recalibration"}
    other = {n: r for n, r in by_name.items() if n not in zoo and id(r) not in known}
    known_results = [r for r in results if id(r) in known]
    earlier = [r for r in known_results if not is_precise_bn_run(r)]  # the tables of the moving-average era
    tables = {
        "headline": headline_table(known_results), "msrc21": headline_table(known_results, "msrc21"),
        "pretraining": pretraining_table(known_results), "bnrecal": bn_recalibration_table(by_name),
        "semi": semi_summary(earlier, by_name), "finetune": finetune_table(earlier, by_name),
        "classgap": class_gap_table(earlier, by_name), "reseed": reseed_table(known_results),
        "zoo": zoo_table(zoo), "accuracy": accuracy_table(known_results),
        "stepcost": step_cost_table(known_results), "speed": speed_table(known_results),
        "other": other_table(other), "superseded": accuracy_table(list(superseded.values())),
    }
    return HEADER + "\n" + "".join(f"\n{NOTES[key]}\n\n{table}\n" for key, table in tables.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of result files")
    parser.add_argument("--out", type=Path, default=BENCHMARKS, help="the file to write")
    parser.add_argument("--check", action="store_true", help="only say whether --out is up to date (exit 1 if not)")
    args = parser.parse_args(argv)
    text = render(args.results)
    if args.check:
        current = args.out.read_text() if args.out.is_file() else ""
        print(f"{args.out} is {'up to date' if current == text else 'stale: run `cd bench && python report.py`'}")
        return 0 if current == text else 1
    args.out.write_text(text)
    print(f"wrote {args.out} from {len(list(args.results.glob('*.json')))} result files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
