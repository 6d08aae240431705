"""Render bench/results/*.json into the tables of BENCHMARKS.md (between the AUTO markers).

    python bench/report.py

Numbers are never typed by hand: each table row comes from one result file, and the
command that produced it is printed beside it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from results_io import RESULTS

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def accuracy_table(results: list[dict]) -> str:
    rows = [r for r in results if "miou" in r and r.get("task", "").startswith("camvid")]
    if not rows:
        return "_no results yet_"
    rows.sort(key=lambda r: (r["task"], r["method"], -r["labeled_fraction"], r["seed"]))
    names = list(rows[0]["per_class_iou"])
    head = ("| method | supervision | labels | seed | val mIoU | " + " | ".join(names)
            + " | steps | train time | command |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        per_class = " | ".join(_pct(r["per_class_iou"].get(n)) for n in names)
        labels = f"{r['labeled_fraction']:g} ({r.get('labeled_images', '?')})"
        lines.append(f"| {r['method']} | {r['supervision']} | {labels} | {r['seed']} | "
                     f"**{_pct(r['miou'])}** | {per_class} | {r['steps']} | "
                     f"{r['train_seconds'] / 60:.1f} min | `{r['command']}` |")
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
    rows = [r for r in results if r.get("task", "").startswith("camvid") and "miou" in r]
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

    head = ("| method | " + " | ".join(f"{f:g}" for f in fractions)
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
    tunes = [r for r in results if r.get("init_from") in by_name and r.get("task", "").startswith("camvid")]
    if not tunes:
        return "_no fine-tunes yet_"
    starts: dict[tuple[str, int], dict[str, dict]] = {}
    for r in tunes:
        starts.setdefault((r["init_from"], r["steps"]), {})[_finetune_label(r)] = r
    control = "control (supervised)"
    methods = [control] + sorted({m for runs in starts.values() for m in runs} - {control})
    head = "| labels | seed | started from (val mIoU) | steps | " + " | ".join(methods) + " |"
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
            cells.append(cell + f", {r['train_seconds'] / 60:.0f} min")
        lines.append(f"| {first['labeled_fraction']:g} | {first['seed']} | `{start}` ({100 * first['miou']:.1f}) | "
                     f"+{steps} | " + " | ".join(cells) + " |")
    lines.append("| | | mean difference to the control (starting runs) | | - | "
                 + " | ".join(f"{sum(d) / len(d):+.1f} ({len(d)})" if (d := deltas.get(m)) else "-"
                              for m in methods[1:]) + " |")
    return "\n".join(lines)


def class_gap_table(results: list[dict], by_name: dict[str, dict], min_runs: int = 3) -> str:
    """Where the gap to full supervision is, class by class: every fine-tuned recipe at 1/8 with at least
    `min_runs` starting runs, beside those runs' controls and full supervision of the same steps in all
    (means over runs; cells: recipe / controls)."""
    camvid = [r for r in results if r.get("task", "").startswith("camvid") and "miou" in r]
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


def speed_table(results: list[dict]) -> str:
    tasks = ("train-speed", "predict-speed", "predict-stages")
    rows = [r for r in results if r.get("task") in tasks]
    if not rows:
        return "_no results yet_"
    blocks = []
    for r in rows:
        body = {k: v for k, v in r.items() if k not in ("command", "date", "machine", "task")}
        blocks.append(f"**{r['task']}** ({r['date']}, {r.get('machine', '')}): `{r['command']}`\n\n"
                      "| field | value |\n|---|---|\n"
                      + "\n".join(f"| {k} | {json.dumps(v) if isinstance(v, (dict, list)) else v} |"
                                  for k, v in body.items()))
    return "\n\n".join(blocks)


def main() -> None:
    by_name = {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))}
    results = list(by_name.values())
    text = BENCHMARKS.read_text()
    tables = (("SEMI", semi_summary(results, by_name)), ("FINETUNE", finetune_table(results, by_name)),
              ("CLASSGAP", class_gap_table(results, by_name)),
              ("ACCURACY", accuracy_table(results)),
              ("STEPCOST", step_cost_table(results)), ("RESEED", reseed_table(results)),
              ("SPEED", speed_table(results)))
    for marker, table in tables:
        text = re.sub(rf"(<!-- AUTO:{marker} -->).*?(<!-- /AUTO:{marker} -->)",
                      lambda m: f"{m.group(1)}\n{table}\n{m.group(2)}", text, flags=re.S)
    BENCHMARKS.write_text(text)
    print(f"updated {BENCHMARKS} from {len(results)} result files")


if __name__ == "__main__":
    main()
