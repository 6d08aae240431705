"""The bench/results/*.json format shared by every benchmark (one file per result)."""

from __future__ import annotations

import datetime
import json
import platform
import shlex
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
REQUIRED = ("task", "dataset", "split", "model", "method", "supervision", "labeled_fraction", "seed",
            "miou", "per_class_iou", "train_seconds", "steps", "command", "date")


def command_line() -> str:
    """The command that produced the result, as typed (relative to the repository root)."""
    return "python " + " ".join(shlex.quote(a) for a in sys.argv)


def machine() -> str:
    import os

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.system()}"


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
