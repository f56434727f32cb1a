"""Full-scale check of the ``activitynet`` profile (issue 7) on the real annotations.

Builds the ``anet-text + stand-in video`` feature store for ALL ActivityNet Captions training
videos (10,009) and val_1 videos (4,917), then runs the profile's notebooks through the papermill
runner, and measures time and peak memory of every stage. Each stage runs in its own process so its
peak resident memory (``ru_maxrss``) is its own. Figures go to ``<out>/scale.json``:

    {"machine": {...}, "stages": {"prepare": {...}, "stream": {...}}, "notebooks": {<name>: {"seconds",
     "peak_rss_mb", "status"}}, "counts": {...}, "store": {"path", "bytes", "entries", "steps"},
     "peak_rss_mb_max": float, "under_4gb": bool}

Stages:

* ``prepare``: :func:`mmar.data.prepare.prepare_activitynet` at full size into
  ``<out>/data`` (the same call notebook 01 makes; resumable: a second run reuses the store).
* ``stream``: one pass over every training (video segment, sentence) pair with
  :class:`~mmar.data.prepared.PairDataset` and a DataLoader, mean-pooling each batch: proves the
  store is streamed (memory stays flat) and gives seconds per batch.
* ``notebooks``: ``python -m mmar run --profile activitynet --out <out>`` for the notebooks that
  exist (per-notebook seconds and peak memory from the runner's ``timings.json``).

Usage (takes tens of minutes and ~11 GB of disk at full size; run it in the background)::

    python benchmarks/bench_activitynet_full.py --out runs/activitynet [--stages prepare,stream,notebooks]
    python benchmarks/bench_activitynet_full.py --out /tmp/anet-small --max-videos-per-class 5   # quick try
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

GB_LIMIT_MB = 4096.0


def _peak_mb() -> float:
    """Peak resident memory of this process, MB (Linux reports ru_maxrss in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_prepare(out: Path, max_videos_per_class: int | None) -> dict[str, Any]:
    from mmar.data.prepare import prepare_activitynet

    start = time.perf_counter()
    data = prepare_activitynet(out / "data", max_videos_per_class=max_videos_per_class, progress=True)
    return {"seconds": round(time.perf_counter() - start, 1), "peak_rss_mb": round(_peak_mb(), 1),
            "counts": data.meta["counts"], "skipped": data.meta["skipped"], "standin_build": data.meta["standin_build"],
            "data_source": data.data_source}


def stage_stream(out: Path, batch_size: int = 64) -> dict[str, Any]:
    import torch
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    from mmar.data.prepared import PairDataset, PreparedDataset, collate_pairs

    data = PreparedDataset.load(out / "data")
    rows = data.rows(subset="train")
    loader = DataLoader(PairDataset(data, rows), batch_size=batch_size, shuffle=True, collate_fn=collate_pairs,
                        num_workers=1, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    checksum, steps, batches, rss = 0.0, 0, 0, []
    for batch in tqdm(loader, desc="stream train pairs", mininterval=10):
        pooled = (batch["video"] * batch["video_mask"][..., None]).sum(1) / batch["video_mask"].sum(1, keepdim=True)
        checksum += float(pooled.mean())
        steps += int(batch["video_mask"].sum())
        batches += 1
        if batches % 50 == 1:
            rss.append(round(_current_rss_mb(), 1))
    seconds = time.perf_counter() - start
    return {"pairs": len(rows), "batches": batches, "batch_size": batch_size, "feature_steps_read": steps,
            "seconds": round(seconds, 1), "seconds_per_batch": round(seconds / max(batches, 1), 4),
            "rss_mb_samples_every_50_batches": rss, "peak_rss_mb": round(_peak_mb(), 1), "checksum": checksum}


def _current_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def stage_notebooks(out: Path) -> dict[str, Any]:
    from mmar.paths import NOTEBOOKS_DIR
    from mmar.profiles import NOTEBOOKS

    present = [n for n in NOTEBOOKS if (NOTEBOOKS_DIR / f"{n}.ipynb").is_file()]
    if not present:
        return {"skipped": "no notebooks yet"}
    command = [sys.executable, "-m", "mmar", "run", "--profile", "activitynet", "--out", str(out),
               "--only", ",".join(n[:2] for n in present)]
    if len(present) == len(NOTEBOOKS):
        command = command[:-2]  # the whole profile, report included
    start = time.perf_counter()
    child = subprocess.run(command, capture_output=True, text=True)
    timings_path = out / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    return {"command": " ".join(command[1:]), "returncode": child.returncode, "seconds": round(time.perf_counter() - start, 1),
            "stdout_tail": child.stdout[-3000:], "stderr_tail": child.stderr[-3000:] if child.returncode else "",
            "timings": {k: {f: v.get(f) for f in ("seconds", "peak_rss_mb", "status")} for k, v in timings.items()}}


def _store_facts(out: Path) -> dict[str, Any]:
    from mmar.data.prepared import PreparedDataset

    data = PreparedDataset.load(out / "data")
    store = data.feature_store()
    steps = sum(store.length(v) for v in store.ids())
    return {"path": str(data.features_path), "bytes": data.features_path.stat().st_size, "entries": len(store),
            "steps": steps, "feature_dim": store.feature_dim, "extractor": store.attrs.get("extractor")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/activitynet", type=Path)
    parser.add_argument("--stages", default="prepare,stream,notebooks")
    parser.add_argument("--max-videos-per-class", type=int, default=None, help="smaller trial run (default: all)")
    parser.add_argument("--stage-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.stage_child:  # run one stage in this (child) process, print its JSON
        result = stage_prepare(out, args.max_videos_per_class) if args.stage_child == "prepare" else stage_stream(out)
        print(json.dumps(result, default=str))
        return 0

    scale_path = out / "scale.json"
    scale: dict[str, Any] = json.loads(scale_path.read_text()) if scale_path.is_file() else {}
    scale["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
                        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    scale["max_videos_per_class"] = args.max_videos_per_class
    scale.setdefault("stages", {})
    for stage in [s.strip() for s in args.stages.split(",") if s.strip()]:
        print(f"== {stage}", flush=True)
        if stage == "notebooks":
            scale["notebooks"] = stage_notebooks(out)
        else:
            command = [sys.executable, __file__, "--out", str(out), "--stage-child", stage]
            if args.max_videos_per_class is not None:
                command += ["--max-videos-per-class", str(args.max_videos_per_class)]
            child = subprocess.run(command, stdout=subprocess.PIPE, text=True)
            if child.returncode != 0:
                scale["stages"][stage] = {"failed": child.returncode}
                scale_path.write_text(json.dumps(scale, indent=1))
                raise SystemExit(f"stage {stage} failed (exit {child.returncode})")
            scale["stages"][stage] = json.loads(child.stdout.strip().splitlines()[-1])
        print(json.dumps(scale.get("stages", {}).get(stage) or scale.get("notebooks"), indent=1, default=str)[:2000], flush=True)
        scale_path.write_text(json.dumps(scale, indent=1, default=str))
    if (out / "data" / "dataset.json").is_file():
        scale["store"] = _store_facts(out)
    peaks = [s.get("peak_rss_mb") for s in scale["stages"].values() if isinstance(s, dict)]
    peaks += [t.get("peak_rss_mb") for t in scale.get("notebooks", {}).get("timings", {}).values()]
    peaks = [p for p in peaks if p is not None]
    scale["peak_rss_mb_max"] = max(peaks) if peaks else None
    scale["under_4gb"] = bool(peaks) and max(peaks) < GB_LIMIT_MB
    scale_path.write_text(json.dumps(scale, indent=1, default=str))
    print(f"wrote {scale_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
