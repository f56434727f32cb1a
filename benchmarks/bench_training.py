"""Training benchmark: ``python -m mmar bench training [--videos N] [--out DIR] ...``.

Measures, on a generated prepared dataset of I3D shape (1024-d features, segments of 8-40 steps,
sentences of 6-30 50-d word vectors; random values, sizes like ActivityNet Captions):

1. training throughput (pairs per second) and seconds per epoch with the default
   :class:`mmar.training.TrainConfig`, streaming every batch from the HDF5 store (``cache_mb=0``)
   versus the same rows held in memory (cache filled beforehand); the ratio is the streaming cost
   (goal: under 20%);
2. peak resident memory of a child process that trains one epoch, streaming, on a store of
   ``--big-videos`` videos (ActivityNet size: 10k+; goal: under 2 GB);
3. the wall time of one default training run (``--default-rows`` pairs, the default epochs).

Results are printed and written to ``<out>/bench_training.csv``. Times include this machine's load:
wall and process CPU seconds are both given.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mmar.data.feature_store import FeatureStoreWriter
from mmar.data.prepared import PreparedDataset, write_prepared
from mmar.results import STANDIN


def make_synthetic_prepared(root: Path, *, n_videos: int, n_classes: int = 50, feature_dim: int = 1024, word_dim: int = 50,
                            sentences_per_video: int = 3, seed: int = 0) -> PreparedDataset:
    """A random prepared dataset: each video has ``sentences_per_video`` segments of 8-40 steps."""
    rng = np.random.default_rng(seed)
    classes = [f"class {i}" for i in range(n_classes)]
    words = np.array(["<pad>"] + [f"w{i}" for i in range(2000)])
    vectors = rng.normal(size=(len(words), word_dim)).astype(np.float32)
    vectors[0] = 0.0
    centres = rng.random((n_classes, feature_dim)).astype(np.float32)
    fps, stride = 25.0, 8
    rows = []
    with FeatureStoreWriter(root / "features.h5", extractor="bench-random", fps=fps, stride_frames=stride,
                            feature_dim=feature_dim, source=STANDIN) as store:
        for v in range(n_videos):
            c = v % n_classes
            seg_lengths = rng.integers(8, 41, size=sentences_per_video)
            length = int(seg_lengths.sum())
            feats = centres[c] + 0.3 * rng.random((length, feature_dim), dtype=np.float32)
            video_id = f"v{v:06d}"
            store.write(video_id, feats)
            start = 0
            for s, n in enumerate(seg_lengths):
                token_ids = rng.integers(1, len(words), size=int(rng.integers(6, 31)))
                rows.append({"sentence_id": f"{video_id}#{s}", "video_id": video_id, "class_name": classes[c],
                             "subset": "val" if v % 3 == 2 else "train", "start_s": start * stride / fps,
                             "end_s": (start + n) * stride / fps, "duration_s": length * stride / fps,
                             "text": " ".join(words[token_ids]), "token_ids": " ".join(map(str, token_ids))})
                start += int(n)
    meta = {"data_source": STANDIN, "description": "training benchmark: random I3D-shaped data", "classes": classes,
            "features": "features.h5", "fps": fps, "stride_frames": stride, "feature_dim": feature_dim,
            "word_dim": word_dim, "split_seed": seed}
    write_prepared(root, meta, pd.DataFrame(rows), words, vectors, {5: [classes[:5]]})
    return PreparedDataset.load(root)


def _timed_train(config, data, rows, out: Path) -> dict[str, float]:
    from mmar.training import train

    wall, cpu = time.perf_counter(), time.process_time()
    result = train(config, data, rows, out, progress=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    epochs = len(result.history)
    return {"wall_s": wall, "cpu_s": cpu, "epochs": epochs, "pairs_per_s": epochs * len(rows) / wall,
            "wall_s_per_epoch": wall / epochs}


def _peak_child(data_root: Path, out: Path, epochs: int) -> float:
    """Peak RSS (MB) of a child process that trains ``epochs`` epochs streaming on all train rows."""
    code = (
        "import resource, sys, numpy as np\n"
        "from pathlib import Path\n"
        "from mmar.data.prepared import PreparedDataset\n"
        "from mmar.training import TrainConfig, train\n"
        f"data = PreparedDataset.load({str(data_root)!r})\n"
        f"train(TrainConfig(epochs={epochs}, cache_mb=0), data, data.rows(subset='train'), Path({str(out)!r}), progress=False)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    from mmar.training import TrainConfig, clear_cache

    parser = argparse.ArgumentParser(prog="python -m mmar bench training", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/bench_training", help="work folder (data, checkpoints, csv)")
    parser.add_argument("--videos", type=int, default=1000, help="videos of the throughput dataset")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per throughput measurement")
    parser.add_argument("--default-rows", type=int, default=1500, help="pairs of the default-training-run timing")
    parser.add_argument("--big-videos", type=int, default=10000, help="videos of the peak-memory store (0 skips)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")

    data_root = out / f"data_{args.videos}"
    data = PreparedDataset.load(data_root) if (data_root / "dataset.json").is_file() else \
        make_synthetic_prepared(data_root, n_videos=args.videos)
    rows = data.rows(subset="train")
    results: list[dict] = []
    base = TrainConfig(epochs=args.epochs)
    clear_cache()
    memory_cfg = TrainConfig(**{**base.to_dict(), "cache_mb": 8192})
    # fills the cache and pays the one-time imports (torch.optim loads torch._dynamo on its first step)
    _timed_train(TrainConfig(**{**memory_cfg.to_dict(), "epochs": 1}), data, rows, out / f"ckpt_fill_{stamp}")
    stream = _timed_train(TrainConfig(**{**base.to_dict(), "cache_mb": 0}), data, rows, out / f"ckpt_stream_{stamp}")
    memory = _timed_train(memory_cfg, data, rows, out / f"ckpt_memory_{stamp}")
    results.append({"measure": "streaming", "pairs": len(rows), **stream})
    results.append({"measure": "in_memory", "pairs": len(rows), **memory})
    results.append({"measure": "streaming_cost", "value": memory["pairs_per_s"] / stream["pairs_per_s"] - 1.0})

    default_rows = rows[: args.default_rows]
    run = _timed_train(TrainConfig(), data, default_rows, out / f"ckpt_default_{stamp}")
    results.append({"measure": "default_training_run", "pairs": len(default_rows), **run})

    if args.big_videos:
        big_root = out / f"data_{args.big_videos}"
        if not (big_root / "dataset.json").is_file():
            make_synthetic_prepared(big_root, n_videos=args.big_videos)
        results.append({"measure": "peak_rss_mb_streaming_big", "videos": args.big_videos,
                        "value": _peak_child(big_root, out / f"ckpt_big_{stamp}", 1)})
    table = pd.DataFrame(results)
    table["threads"] = torch.get_num_threads()
    table["config"] = json.dumps(TrainConfig().to_dict())
    table.to_csv(out / "bench_training.csv", index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.drop(columns=["config"]).to_string(index=False))


if __name__ == "__main__":
    main()
