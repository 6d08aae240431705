"""The bench/results/*.json format shared by every benchmark (one file per result), and where they read CamVid."""

from __future__ import annotations

import datetime
import json
import platform
import shlex
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parents[1]
CAMVID = ROOT.parent / "shared" / "data" / "camvid"  # see ../shared/data/README
REQUIRED = ("task", "dataset", "split", "model", "method", "supervision", "labeled_fraction", "seed",
            "miou", "per_class_iou", "train_seconds", "steps", "command", "date")


def command_line() -> str:
    """The command that produced the result, with the script's path from the repository root
    (as the README types it, wherever it was run from)."""
    script = Path(sys.argv[0]).resolve()
    if script.is_relative_to(ROOT):
        script = script.relative_to(ROOT)
    return "python " + " ".join(shlex.quote(str(a)) for a in [script, *sys.argv[1:]])


def machine() -> str:
    """CPU model, core count, OS and the vector extensions that decide fp32/int8 speed (AVX-512, VNNI)."""
    import os

    model, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    isa = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags]
    return f"{model}, {os.cpu_count()} cores, {platform.system()}" + (f", {'/'.join(isa)}" if isa else "")


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
