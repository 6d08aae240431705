"""The bench/results/*.json format shared by every benchmark (one file per result), and where they read CamVid."""

from __future__ import annotations

import datetime
import json
import shlex
import sys
from pathlib import Path

from semiseg_tf.diagnostics import machine

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parents[1]
CAMVID = ROOT.parent / "shared" / "data" / "camvid"  # see ../shared/data/README
REQUIRED = ("task", "dataset", "split", "model", "method", "supervision", "labeled_fraction", "seed",
            "miou", "per_class_iou", "train_seconds", "steps", "command", "date")


def require_repository_root() -> None:
    """Stop with one line (exit 2) unless run from the repository root: runs/ and the README's relative
    paths (`../shared/data/...`, `runs/bench/RUN`) are read and written there, so a run started from
    bench/ would miss its data or write a second runs/ folder."""
    if Path.cwd().resolve() != ROOT:
        print(f"error: run bench scripts from the repository root: cd {ROOT} && python bench/{Path(sys.argv[0]).name}"
              " ...", file=sys.stderr)
        raise SystemExit(2)


def command_line() -> str:
    """The command that produced the result, with the script's path from the repository root
    (as the README types it, wherever it was run from)."""
    script = Path(sys.argv[0]).resolve()
    if script.is_relative_to(ROOT):
        script = script.relative_to(ROOT)
    return "python " + " ".join(shlex.quote(str(a)) for a in [script, *sys.argv[1:]])


def write_result(name: str, result: dict, required=REQUIRED) -> Path:
    """Write `bench/results/<name>.json` after checking the shared fields are present."""
    result = {"command": command_line(), "date": datetime.date.today().isoformat(),
              "machine": machine(), **result}
    missing = [k for k in required if k not in result]
    if missing:
        raise ValueError(f"result {name} lacks fields {missing}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(path)
    print(f"wrote {path}")
    return path
