"""The GPU suite's measurements (run by bench/gpu_suite.sh inside the environment it installed).

    python bench/gpu_suite.py --data .gpu-data/camvid --work runs/gpu-suite            # on a GPU machine
    python bench/gpu_suite.py --dry-run --data builtin:shapes --work /tmp/w --results /tmp/r   # CPU check

1. `semiseg-tf doctor --json`: TensorFlow must see a GPU, onnxruntime must really run CUDA
   (TensorRT is recorded where it is present).
2. Trains the CamVid full-supervision recipe (deeplabv3plus, batch 8, 360x480 brought to, 352x480 crops):
   a probe of 20 steps measures the steady seconds per step and the fixed cost (start-up, graph
   compilation, BatchNorm re-estimation, saving), then the real run gets as many steps as fit in
   --train-seconds of wall clock.
3. Evaluates the run on val and test (`semiseg-tf evaluate --out`).
4. Times `semiseg-tf predict` on the same val images with onnxruntime CUDA, onnxruntime CPU and
   `--engine keras` (and TensorRT with --tensorrt), after one untimed warm-up each.
5. Probes mixed precision and several devices with the recipe's probe length: `--precision fp16`
   (float16 with loss scaling) and, on a machine with more than one GPU, `--devices all` (MirroredStrategy,
   batch 8 per GPU): steady images/s against the fp32 probe, final loss finite.
6. Writes gpu-environment.json, gpu-train-<dataset>-deeplabv3plus.json, gpu-precision-devices.json and
   gpu-predict-speed.json with bench/results_io.py's write_result (to --results) and copies them to $OUT
   when it is set.
"""

from __future__ import annotations

import argparse
import atexit
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import results_io

CLI = [sys.executable, "-c", "from semiseg_tf.cli.main import cli; cli()"]  # as predict_speed.py (no TF import here)

REAL = {"model": "deeplabv3plus", "batch_size": 8, "train_size": "360x480", "crop_size": "352x480",
        "probe_steps": 20, "predict_images": 101, "rounds": 3}
DRY = {"model": "deeplabv3plus-tiny", "batch_size": 2, "train_size": "64x96", "crop_size": "64x96",
       "probe_steps": 2, "predict_images": 4, "rounds": 1}
ENGINES = {"ort_cuda": ["--providers", "cuda"], "ort_cpu": ["--providers", "cpu"], "keras": ["--engine", "keras"],
           "ort_tensorrt": ["--providers", "tensorrt"]}


def run_cli(args: list[str], log: Path) -> float:
    """Run `semiseg-tf ARGS`, its output appended to `log`; the wall-clock seconds it took."""
    started = time.perf_counter()
    with log.open("a") as stream:
        stream.write(f"\n$ semiseg-tf {' '.join(args)}\n")
        stream.flush()
        done = subprocess.run(CLI + args, stdout=stream, stderr=subprocess.STDOUT)
        stream.write(f"[{time.perf_counter() - started:.1f} s]\n")
    if done.returncode:
        raise SystemExit(f"semiseg-tf {' '.join(args)} failed (exit {done.returncode}); see {log}")
    return time.perf_counter() - started


def check_environment(doctor: dict, dry_run: bool) -> dict:
    """What the suite needs from the installation, and whether it has it."""
    tf, ort = doctor["tensorflow"], doctor["onnxruntime"]
    gpus = [d for d in tf.get("devices", []) if d["type"] == "GPU"]
    running = ort.get("running_providers", [])
    checks = {"tensorflow_gpu": bool(gpus), "tensorflow_built_with_cuda": bool(tf.get("built_with_cuda")),
              "onnxruntime_gpu_package": "onnxruntime-gpu" in ort["distributions"],
              "onnxruntime_cuda_runs": "CUDAExecutionProvider" in running,
              "onnxruntime_tensorrt_runs": "TensorrtExecutionProvider" in running,
              "one_onnxruntime_package": len(ort["distributions"]) == 1}
    needed = ("one_onnxruntime_package",) if dry_run else (
        "tensorflow_gpu", "onnxruntime_gpu_package", "onnxruntime_cuda_runs", "one_onnxruntime_package")
    checks["ok"] = all(checks[key] for key in needed)
    checks["failed"] = [key for key in needed if not checks[key]]
    return checks


def step_rate(run_dir: Path, wall: float) -> dict:
    """Steady seconds per step from the probe's history.csv (the last two rows' train_seconds), and the
    fixed cost = the process's wall clock minus its steps; without two timed rows, all the probe's
    time counts as per-step time (a conservative plan)."""
    timing = json.loads((run_dir / "timing.json").read_text())
    rows = []
    if (run_dir / "history.csv").is_file():
        with (run_dir / "history.csv").open() as stream:
            rows = [r for r in csv.DictReader(stream) if r.get("step") and r.get("train_seconds")]
    steps = timing["steps"]
    if len(rows) >= 2 and int(rows[-1]["step"]) > int(rows[-2]["step"]):
        per_step = ((float(rows[-1]["train_seconds"]) - float(rows[-2]["train_seconds"]))
                    / (int(rows[-1]["step"]) - int(rows[-2]["step"])))
        source = "history.csv, last two rows"
    else:
        per_step, source = wall / steps, "whole probe wall clock / steps (no timed rows)"
    return {"probe_steps": steps, "probe_wall_s": round(wall, 2), "seconds_per_step": per_step,
            "fixed_seconds": max(0.0, wall - steps * per_step), "rate_from": source}


def plan_steps(rate: dict, budget_s: float, min_steps: int, max_steps: int = 50_000) -> tuple[int, int]:
    """Steps (and checkpoint interval) whose run, fixed cost included, fits 90 % of `budget_s`."""
    steps = int((0.9 * budget_s - rate["fixed_seconds"]) / max(rate["seconds_per_step"], 1e-6))
    steps = max(min_steps, min(steps, max_steps))
    every = 100 if steps >= 200 else steps
    return steps // every * every, every


def time_predict(run_dir: Path, images: Path, engines: list[str], rounds: int, work: Path, log: Path,
                 warm_up: bool = True) -> dict:
    """images/s of `semiseg-tf predict` (its summary.json figure) per engine: medians of interleaved rounds
    after one untimed warm-up each (ONNX export into the cache, TensorRT engine build)."""
    speeds, walls = {key: [] for key in engines}, {key: [] for key in engines}
    for round_index in range(0 if warm_up else 1, rounds + 1):
        for key in engines:
            out = work / f"predict-{key}"
            shutil.rmtree(out, ignore_errors=True)
            wall = run_cli(["predict", "--model", str(run_dir), str(images), "--out", str(out), "--quiet",
                            *ENGINES[key]], log)
            if round_index:  # round 0 is the warm-up
                speeds[key].append(json.loads((out / "summary.json").read_text())["images_per_s"])
                walls[key].append(wall)
    return {"images_per_s": {k: round(statistics.median(v), 2) for k, v in speeds.items()},
            "images_per_s_each_round": speeds,
            "cli_wall_s": {k: round(statistics.median(v), 2) for k, v in walls.items()}}


def probe_variants(common: list[str], recipe: dict, gpu_count: int, work: Path, log: Path) -> dict:
    """Probe runs with mixed precision, and over every GPU when there are several: steady images/s,
    replicas, dtype policy and final loss of each."""
    variants = {"fp16": ["--precision", "fp16"]}
    if gpu_count > 1:
        variants["mirrored"] = ["--devices", "all", "--batch-size", str(recipe["batch_size"] * gpu_count)]
    probes = {}
    for name, flags in variants.items():
        run_dir = work / f"probe-{name}"
        shutil.rmtree(run_dir, ignore_errors=True)
        wall = run_cli(common + ["--steps", str(recipe["probe_steps"]), "--checkpoint-every",
                                 str(recipe["probe_steps"]), "--out", str(run_dir), *flags], log)
        rate, timing = step_rate(run_dir, wall), json.loads((run_dir / "timing.json").read_text())
        batch = int(flags[flags.index("--batch-size") + 1]) if "--batch-size" in flags else recipe["batch_size"]
        probes[name] = {"flags": flags, "images_per_s": round(batch / rate["seconds_per_step"], 2),
                        "replicas": timing["replicas"], "dtype_policy": timing["dtype_policy"],
                        "final_loss": timing["final_loss"], "probe": rate}
    return probes


def publish(name: str, result: dict, required, results: Path, out: str | None) -> Path:
    """write_result into `results` (bench/results unless told), then a copy in $OUT."""
    results_io.RESULTS = results
    path = results_io.write_result(name, result, required=required)
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, Path(out) / path.name)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="Dataset folder (staged CamVid) or builtin:shapes.")
    parser.add_argument("--work", type=Path, required=True, help="Folder for runs and predictions.")
    parser.add_argument("--results", type=Path, default=results_io.RESULTS)
    parser.add_argument("--train-seconds", type=float, default=360.0, help="Wall-clock budget of the real run.")
    parser.add_argument("--tensorrt", action="store_true", help="Also time onnxruntime's TensorRT provider.")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny model and sizes, a few steps.")
    parser.add_argument("--install-seconds", type=float, default=None, help="Recorded with the environment.")
    args = parser.parse_args()
    recipe, out = (DRY if args.dry_run else REAL), os.environ.get("OUT")
    args.work.mkdir(parents=True, exist_ok=True)
    tag = "gpu-dry-run" if args.dry_run else "gpu"
    log = args.work / "suite.log"
    log.touch()
    if out:  # the log reaches $OUT even when a step fails
        atexit.register(lambda: Path(out).mkdir(parents=True, exist_ok=True)
                        or shutil.copy2(log, Path(out) / f"{tag}-suite.log"))
    dataset = "camvid" if "camvid" in str(args.data).lower() else Path(str(args.data)).name.split(":")[-1]

    doctor = json.loads(subprocess.run(CLI + ["doctor", "--json"], check=True, capture_output=True,
                                       text=True).stdout)
    checks = check_environment(doctor, args.dry_run)
    gpu = [d for d in doctor["tensorflow"].get("devices", []) if d["type"] == "GPU"]
    environment = {"task": "gpu-suite-environment", "dataset": dataset, "split": "-", "model": "-",
                   "dry_run": args.dry_run, "checks": checks, "install_seconds": args.install_seconds,
                   "gpu": gpu, "doctor": doctor}
    publish(f"{tag}-environment", environment, ("task", "checks", "doctor", "command", "date"), args.results, out)
    if not checks["ok"]:
        raise SystemExit(f"environment check failed: {checks['failed']} (see {tag}-environment.json)")

    common = ["train", "--data", args.data, "--model", recipe["model"], "--batch-size", str(recipe["batch_size"]),
              "--train-size", recipe["train_size"], "--crop-size", recipe["crop_size"], "--method", "supervised",
              "--seed", "0", "--no-eval"]
    probe_dir, run_dir = args.work / "probe", args.work / "run"
    shutil.rmtree(probe_dir, ignore_errors=True)
    probe_wall = run_cli(common + ["--steps", str(recipe["probe_steps"]), "--checkpoint-every",
                                   str(recipe["probe_steps"]), "--out", str(probe_dir)], log)
    rate = step_rate(probe_dir, probe_wall)
    gpu_count = len(gpu)
    probes = probe_variants(common, recipe, gpu_count, args.work, log)
    fp32_rate = recipe["batch_size"] / rate["seconds_per_step"]
    publish(f"{tag}-precision-devices", {
        "task": f"{tag}-precision-devices", "dataset": dataset, "split": "-", "model": recipe["model"],
        "gpus": gpu_count, "fp32_images_per_s": round(fp32_rate, 2), "probes": probes,
        "fp16_speedup": round(probes["fp16"]["images_per_s"] / fp32_rate, 3),
        "mirrored_speedup": (round(probes["mirrored"]["images_per_s"] / fp32_rate, 3)
                             if "mirrored" in probes else None),
        "notes": "steady images/s of probe runs of the recipe (history.csv's last two rows); mirrored = "
                 "--devices all at 8 images per GPU, only with more than one GPU"},
        ("task", "dataset", "model", "probes", "command", "date"), args.results, out)
    budget = 20.0 if args.dry_run else args.train_seconds
    steps, every = plan_steps(rate, budget, min_steps=recipe["probe_steps"])
    shutil.rmtree(run_dir, ignore_errors=True)
    train_wall = run_cli(common + ["--steps", str(steps), "--checkpoint-every", str(every), "--out", str(run_dir)],
                         log)
    timing = json.loads((run_dir / "timing.json").read_text())
    evaluations = {}
    data_root = Path(args.data) if args.data != "builtin:shapes" else None  # builtin: train and val only
    for split in ("val", "test"):
        exists = (data_root / f"{split}.txt").is_file() if data_root else split == "val"
        if not exists:
            continue
        wall = run_cli(["evaluate", "--model", str(run_dir), "--data", args.data, "--split", split,
                        "--out", str(args.work / f"eval_{split}.json")], log)
        evaluations[split] = {**json.loads((args.work / f"eval_{split}.json").read_text()), "wall_s": round(wall, 2)}
    val = evaluations["val"]
    training = {
        "task": f"{tag}-train", "dataset": dataset, "split": "val", "model": recipe["model"],
        "method": "supervised", "supervision": "full", "labeled_fraction": 1.0, "seed": 0,
        "miou": val["miou"], "per_class_iou": val.get("per_class_iou"),
        "test_miou": evaluations.get("test", {}).get("miou"),
        "test_per_class_iou": evaluations.get("test", {}).get("per_class_iou"),
        "train_seconds": timing["train_seconds"], "steps": timing["steps"], "batch_size": recipe["batch_size"],
        "train_size": recipe["train_size"], "crop_size": recipe["crop_size"],
        "images_per_second": timing["images_per_second"], "train_wall_s": round(train_wall, 2),
        "budget_s": budget, "probe": rate, "eval_seconds": {k: v["wall_s"] for k, v in evaluations.items()},
        "gpu": [d.get("details", d["name"]) for d in gpu],
    }
    publish(f"{tag}-train-{dataset}-{recipe['model']}", training, results_io.REQUIRED, args.results, out)

    images = args.work / "images"
    shutil.rmtree(images, ignore_errors=True)
    images.mkdir()
    if data_root is None:
        from semiseg_tf.data import resolve_data

        data_root = resolve_data(args.data)
    stems = (data_root / "val.txt").read_text().split()[:recipe["predict_images"]]
    for path in sorted((data_root / "images").iterdir()):
        if path.stem in stems:
            (images / path.name).symlink_to(path.resolve())
    running = doctor["onnxruntime"].get("running_providers", [])
    engines = [key for key, flag in (("ort_cuda", "CUDAExecutionProvider" in running),
                                     ("ort_tensorrt", args.tensorrt and "TensorrtExecutionProvider" in running),
                                     ("ort_cpu", True), ("keras", True)) if flag]
    speed = time_predict(run_dir, images, engines, recipe["rounds"], args.work, log, warm_up=not args.dry_run)
    ips = speed["images_per_s"]
    predict = {"task": f"{tag}-predict-speed", "dataset": dataset, "split": "val", "model": recipe["model"],
               "images": len(stems), "rounds": recipe["rounds"], **speed,
               "cuda_vs_cpu": round(ips["ort_cuda"] / ips["ort_cpu"], 3) if "ort_cuda" in ips else None,
               "cuda_vs_keras": round(ips["ort_cuda"] / ips["keras"], 3) if "ort_cuda" in ips else None,
               "gpu": training["gpu"],
               "notes": "images/s = summary.json of `semiseg-tf predict` on the run directory (decode, resize, "
                        "infer, resize back, PNG encode; session creation excluded), median of interleaved "
                        "rounds after one warm-up; keras = --engine keras on TensorFlow's device"}
    publish(f"{tag}-predict-speed", predict, ("task", "dataset", "model", "images_per_s", "command", "date"),
            args.results, out)
    print(json.dumps({"steps": timing["steps"], "train_wall_s": round(train_wall, 1), "val_miou": val["miou"],
                      "test_miou": training["test_miou"], "images_per_s": ips}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
