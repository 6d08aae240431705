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


def speed_table(results: list[dict]) -> str:
    rows = [r for r in results if r.get("task") in ("train-speed", "predict-speed", "semi-step-cost")]
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
    results = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    text = BENCHMARKS.read_text()
    for marker, table in (("ACCURACY", accuracy_table(results)), ("SPEED", speed_table(results))):
        text = re.sub(rf"(<!-- AUTO:{marker} -->).*?(<!-- /AUTO:{marker} -->)",
                      lambda m: f"{m.group(1)}\n{table}\n{m.group(2)}", text, flags=re.S)
    BENCHMARKS.write_text(text)
    print(f"updated {BENCHMARKS} from {len(results)} result files")


if __name__ == "__main__":
    main()
