"""Test mIoU against annotation hours: every label kind and label budget of the current CamVid recipe.

    python bench/plot_annotation_hours.py            # writes docs/annotation-hours.png

Every PreciseBN run (`-pbn`) with a test record is printed; the plot shows, for each label kind and budget,
the run chosen on val (the protocol: choose on val, report test), so it stays readable as runs accumulate
(BENCHMARKS.md lists them all).
Weak-label runs carry the hours `semiseg-tf weaken` estimated for their labels; full-mask runs (all masks,
or a seeded share of them, with or without a semi-supervised method) are charged the split's full-mask
hours times their share of the masks (the masks' mean cost: the subsets are seeded random draws).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import matplotlib.transforms  # noqa: E402
from report import is_precise_bn_run, load_results  # noqa: E402
from results_io import RESULTS, ROOT  # noqa: E402

OUT = ROOT / "docs" / "annotation-hours.png"


WEAK_NAMES = {"scribble": "scribbles", "point": "points", "coarse": "coarse masks", "box": "boxes", "tag": "tags"}


def variants(result: dict) -> list[str]:
    """The `--variant` words in a weak run's method name (`supervised-core0.5-coarse-pbn` -> ['core0.5']), less
    the round, the CRF weight, the superpixel growth and the pretraining, which the label names from their
    own fields."""
    words = result["method"].split("-")
    grown = f"sp{result['superpixel_scale']:g}" if result.get("superpixel_scale") else None
    pretrained = f"pt{result['pretrain']['run']}".split("-") if result.get("pretrain", {}).get("run") else []
    return [w for w in words[1:] if w not in ("pbn", result["supervision"], grown, *pretrained)
            and not w.startswith(("round", "crf"))]


def points(results: dict[str, dict]) -> list[dict]:
    """{label, hours, test, supervision} for each PreciseBN CamVid run with a test record and known hours."""
    runs = [r for r in results.values() if is_precise_bn_run(r) and "_test" in r]
    split_hours = next((r["full_mask_hours"] for r in runs if r.get("full_mask_hours")), None)
    out = []
    for r in runs:
        if r.get("annotation_hours") is not None:
            hours, label = r["annotation_hours"], WEAK_NAMES.get(r["supervision"], r["supervision"])
            label += f" round {r['round']}" if r.get("round", 1) > 1 else ""
            label += "".join(f" ({v})" for v in variants(r))
            label += " grown to superpixels" if r.get("superpixel_scale") else ""
            crf = (r.get("method_options") or {}).get("crf_weight")
            method = r["method"].split("-")[0]
            label += f" + {method}" if method != "supervised" else ""
            label += f" + gated CRF {crf:g}" if crf else ", partial CE" if method == "supervised" else ""
            label += f", {r['pretrain']['method']}-pretrained encoder" if r.get("pretrain") else ""
        elif split_hours is not None:
            hours = split_hours * r["labeled_fraction"]
            label = f"{r['labeled_images']} masks" + ("" if r["supervision"] == "full"
                                                      else f" + {r['method'].split('-')[0]}")
            label += f" (+{r['steps']} steps)" if r.get("init_from") else ""
            label += f", {r['pretrain']['method']}-pretrained encoder" if r.get("pretrain") else ""
        else:
            continue
        out.append({"label": label, "hours": hours, "test": 100 * r["_test"]["miou"], "val": 100 * r["miou"],
                    "supervision": r["supervision"]})
    return sorted(out, key=lambda p: p["hours"])


def chosen_on_val(rows: list[dict]) -> list[dict]:
    """The best run on val of each label kind and budget (same supervision, same hours)."""
    best: dict[tuple, dict] = {}
    for p in rows:
        key = (p["supervision"], round(p["hours"], 3))
        if key not in best or p["val"] > best[key]["val"]:
            best[key] = p
    return sorted(best.values(), key=lambda p: (p["hours"], -p["test"]))


def short_label(point: dict) -> str:
    """The kind and budget only ('scribbles', '46 masks + equivariance'); the printed table has the recipe."""
    if point["supervision"] in WEAK_NAMES:
        return WEAK_NAMES[point["supervision"]]
    return point["label"].split(" (")[0].split(",")[0]


CANDIDATES = [((7, -3), "left"), ((4, 6), "left"), ((4, -13), "left"), ((-7, -3), "right"), ((4, 16), "left"),
              ((4, -23), "left"), ((-7, 8), "right"), ((-7, -14), "right")]  # offsets in points, tried in turn


def place_labels(figure, axes, rows: list[dict]) -> None:
    """Put each short label at the first candidate place that stays inside the axes and overlaps no marker
    and no label already placed (greedy, in display space), so close runs stay readable as results grow."""
    renderer, frame = figure.canvas.get_renderer(), axes.get_window_extent()
    markers = [axes.transData.transform((p["hours"], p["test"])) for p in rows]
    taken = [matplotlib.transforms.Bbox.from_extents(x - 5, y - 5, x + 5, y + 5) for x, y in markers]
    for p in rows:
        for offset, align in CANDIDATES:
            text = axes.annotate(short_label(p), (p["hours"], p["test"]), textcoords="offset points", fontsize=8,
                                 xytext=offset, ha=align)
            box = text.get_window_extent(renderer)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            if inside and not any(box.overlaps(other) for other in taken) or (offset, align) == CANDIDATES[-1]:
                taken.append(box)
                break
            text.remove()


def plot(rows: list[dict], out: Path) -> Path:
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=110)
    for kind, marker in (("full", "o"), ("semi", "s")):
        chosen = [p for p in rows if p["supervision"] == kind]
        axes.scatter([p["hours"] for p in chosen], [p["test"] for p in chosen], marker=marker, s=50,
                     label="full masks" if kind == "full" else "masks + unlabeled images")
    weak = [p for p in rows if p["supervision"] not in ("full", "semi")]
    axes.scatter([p["hours"] for p in weak], [p["test"] for p in weak], marker="^", s=60, label="weak labels")
    axes.margins(y=0.08)  # room for the labels below the lowest marker
    axes.set_xscale("log")
    axes.set_xticks([5, 10, 20, 50, 100, 200])
    axes.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    axes.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axes.set_xlabel("simulated annotation hours (CamVid train, log scale)")
    axes.set_ylabel("CamVid test mIoU (%)")
    axes.set_title("Test mIoU per annotation hour: the best recipe on val of each label kind and budget", fontsize=9)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    place_labels(figure, axes, rows)  # after the layout, which fixes where the markers are
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    rows = points(load_results(args.results))
    if not rows:
        parser.error(f"no PreciseBN CamVid run with a test record and annotation hours in {args.results}")
    shown = chosen_on_val(rows)
    for p in rows:
        print(f"{p['label']:>40}: {p['hours']:7.1f} h  test mIoU {p['test']:.1f}  val {p['val']:.1f}"
              + ("  (plotted: best val of its kind and budget)" if p in shown else ""))
    print(f"wrote {plot(shown, args.out)}")


if __name__ == "__main__":
    main()
