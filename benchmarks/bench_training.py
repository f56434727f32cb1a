"""Training benchmark: ``python -m mmar bench training [--videos N] [--out DIR] [--device cuda] ...``.

On a generated prepared dataset of I3D shape (1024-d features, segments of 8-40 steps, sentences of
6-30 50-d word vectors), all in one run on the machine at hand:

1. FLOPs per training pair of the full model (counted with ``torch.utils.flop_counter``), the sgemm
   GFLOP/s of 1 and 2 threads (the arithmetic peak the trainer is compared with), and the GFLOP/s of
   one thread on the model's own matrix products (its linear layers at batch 128, forward and backward);
2. the old one-model loop as today's grid ran it (commit 2e3f19c's ``mmar/training.py``, loaded from
   git; 1 thread, batch 64, Adam), and the ensemble trainer: batch 64 and 128 on 1 thread, 128 on 2
   threads, and two processes of 1 thread each (the grid's default on 2 cores);
3. ensembles of M = 1, 11, 44 members on the chosen device (loop and vmap executors on CPU, vmap on
   CUDA): pairs per second per member and in all, achieved GFLOP/s and the fraction of the sgemm peak;
4. peak resident memory (CPU) or peak allocated memory (CUDA) of the largest ensemble;
5. with ``--paper-pair-epochs`` (the pair-epochs of the ``paper`` profile's grids, printed by
   ``--count-paper RUN_DIR`` from a prepared dataset), the projected time of its training on this device;
6. with ``--alternatives``, one model on 1 thread in float32 (the grid's setting), with bfloat16 autocast
   of the whole step, with bfloat16 fully connected layers (``TrainConfig.precision``) and with ``torch.compile`` (issue #23's candidates; the first epoch's seconds show the compilation).

Results are printed and written to ``<out>/bench_training.csv``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import multiprocessing
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mmar.data.feature_store import FeatureStoreWriter
from mmar.data.prepared import PreparedDataset, write_prepared
from mmar.provenance import cpu_description
from mmar.results import STANDIN

OLD_COMMIT = "2e3f19c"  # the last commit with the one-model training loop


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


def flops_per_pair(data: PreparedDataset, rows: np.ndarray, batch: int = 64) -> float:
    """FLOPs of one training step of the full model (forward + backward), per pair."""
    from torch.utils.flop_counter import FlopCounterMode

    from mmar.training import TrainConfig
    from mmar.training.ensemble import EnsembleTrainer, Member, _make_source

    config = TrainConfig(batch_size=batch, epochs=1)
    members = [Member(config, rows[:batch], rows[:0])]
    trainer = EnsembleTrainer(members, _make_source(data, members, config, torch.device("cpu"), "bank"),
                              data.feature_store().feature_dim, data.word_dim, torch.device("cpu"), "loop")
    with FlopCounterMode(display=False) as counter:
        trainer.run_epoch(0, "main", 0, False)
    return counter.get_total_flops() / batch


def sgemm_gflops(threads: int, n: int = 1024, repeats: int = 20) -> float:
    """Single-precision matrix multiply GFLOP/s of ``threads`` torch threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    tic = time.perf_counter()
    for _ in range(repeats):
        a @ b
    seconds = time.perf_counter() - tic
    torch.set_num_threads(previous)
    return 2 * n**3 * repeats / seconds / 1e9


def model_matmul_gflops(data: PreparedDataset, batch: int = 128, repeats: int = 20) -> float:
    """GFLOP/s of one thread on the full model's own matrix products: for every linear layer of the
    autoencoders, its forward ``X W^T`` and its two backward products ``dY W`` and ``dY^T X`` at
    ``batch`` rows (what a training step's FLOPs mostly are; the rate the trainer could reach if all else
    were free)."""
    from mmar.training import TrainConfig, build_model

    model, _ = build_model(TrainConfig(), data.feature_store().feature_dim, data.word_dim)
    shapes = [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, torch.nn.Linear)]
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    products = []
    for n_in, n_out in shapes:
        x, w, dy = torch.randn(batch, n_in), torch.randn(n_out, n_in), torch.randn(batch, n_out)
        products += [lambda x=x, w=w: x @ w.t(), lambda dy=dy, w=w: dy @ w, lambda dy=dy, x=x: dy.t() @ x]
    for product in products:
        product()
    tic = time.perf_counter()
    for _ in range(repeats):
        for product in products:
            product()
    seconds = time.perf_counter() - tic
    torch.set_num_threads(previous)
    return 3 * 2 * batch * sum(a * b for a, b in shapes) * repeats / seconds / 1e9


def _old_training_module():
    """Commit :data:`OLD_COMMIT`'s ``mmar/training.py`` as a module (None outside a git checkout)."""
    from mmar.paths import PROJECT_ROOT

    try:
        source = subprocess.run(["git", "show", f"{OLD_COMMIT}:mmar/training.py"], cwd=PROJECT_ROOT, check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "old_training.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_training", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_training"] = module
    spec.loader.exec_module(module)
    return module


def _epoch_seconds_old(data_root: str, rows: np.ndarray) -> float:
    old = _old_training_module()
    data = PreparedDataset.load(data_root)
    config = old.TrainConfig(optimizer="adam", lr=1e-3, batch_size=64, epochs=2, cache_mb=4096, num_threads=1)
    result = old.train(config, data, rows, tempfile.mkdtemp(), progress=False)
    return float(result.history["seconds"].iloc[-1])  # the second epoch: cache warm


def _epoch_seconds_new(data_root: str, rows: np.ndarray, batch: int, threads: int, members: int = 1,
                       executor: str = "loop", device: str = "cpu") -> float:
    """Seconds of the second epoch of an ensemble of ``members`` full models (the first warms up)."""
    from mmar.training import TrainConfig, train_ensemble

    data = PreparedDataset.load(data_root)
    configs = [TrainConfig(optimizer="adam", lr=1e-3, batch_size=batch, epochs=2, num_threads=threads, seed=s)
               for s in range(members)]
    result = train_ensemble(configs, data, [rows] * members, tempfile.mkdtemp(), device=device, executor=executor,
                            progress=False)
    return float(result.histories[0]["seconds"].iloc[-1])


def _epoch_seconds_alternative(data_root: str, rows: np.ndarray, mode: str) -> tuple[float, float]:
    """Seconds of the first and of the last of 3 epochs of one full model (1 thread, batch 128, Adam) with
    ``mode``: "float32" (what the grid runs), "bf16 autocast" (the whole step under ``torch.autocast``:
    every matrix product, and what follows it, in bfloat16), "bf16 fc" (``TrainConfig.precision="bf16"``:
    only the fully connected layers in bfloat16) or "torch.compile" (each member's loss terms compiled by
    Inductor with dynamic shapes; the first epoch includes the compilation). Tried for issue #23; the
    grid runs float32 unless a profile sets ``precision``."""
    from mmar.training import TrainConfig, train_ensemble
    from mmar.training import ensemble

    data = PreparedDataset.load(data_root)
    config = TrainConfig(optimizer="adam", lr=1e-3, batch_size=128, epochs=3, num_threads=1, seed=0,
                         precision="bf16" if mode == "bf16 fc" else "float32")
    member_call = ensemble.EnsembleTrainer._member_call
    context = torch.autocast("cpu", dtype=torch.bfloat16) if mode == "bf16 autocast" else contextlib.nullcontext()
    if mode == "torch.compile":
        compiled = torch.compile(member_call, dynamic=True)
        ensemble.EnsembleTrainer._member_call = lambda self, *args: compiled(self, *args)
    try:
        with context:
            result = train_ensemble([config], data, [rows], tempfile.mkdtemp(), progress=False)
    finally:
        ensemble.EnsembleTrainer._member_call = member_call
    seconds = result.histories[0]["seconds"]
    return float(seconds.iloc[0]), float(seconds.iloc[-1])


def _two_processes(data_root: str, rows: np.ndarray, batch: int) -> float:
    """Pairs per second of two 1-thread processes training at once (the grid's default on 2 cores)."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        seconds = pool.starmap(_epoch_seconds_new, [(data_root, rows, batch, 1)] * 2)
    return 2 * len(rows) / max(seconds)


def count_paper_pair_epochs(run_dir: str) -> dict[str, float]:
    """Pair-epochs of the ``paper`` profile's grids (06 and 07) on the prepared dataset of ``run_dir``."""
    from mmar import experiments as ex
    from mmar.experiments.projection import pair_epochs
    from mmar.studies import settings_classes
    from mmar.studies.grid_tables import ablation_families

    data = PreparedDataset.load(Path(run_dir) / "data")
    cells = {}
    for notebook in ("06_evaluation", "07_ablations"):
        p = settings_classes()[notebook].from_profile("paper")
        train = {k: (1.0 if v == "selected" else v) for k, v in p.train.items()}
        settings = ex.GridSettings(train=train, max_train_rows=p.max_train_rows, max_unpaired_rows=p.max_unpaired_rows)
        if notebook == "06_evaluation":
            rows, ks = ex.TABLE1, p.unseen_ks
        else:
            families = ablation_families(["Table 6", "Table 7", "Table 8"], p.ablations)
            rows, ks = [r for f in families.values() for r in f], [p.unseen_k]
        for cell in ex.make_cells(data, rows, ks, p.n_trials, settings):
            cells[cell.key] = cell
    return {"cells": len(cells), "pair_epochs": float(sum(pair_epochs(c) for c in cells.values()))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mmar bench training", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/bench_training", help="work folder (data, csv)")
    parser.add_argument("--videos", type=int, default=700, help="videos of the benchmark dataset (about 3 pairs each)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda: the device of the ensemble measurements")
    parser.add_argument("--members", default="1,11,44", help="ensemble sizes to measure")
    parser.add_argument("--count-paper", metavar="RUN_DIR", help="print the paper profile's pair-epochs on RUN_DIR's "
                        "prepared dataset and exit")
    parser.add_argument("--paper-pair-epochs", type=float, help="project the paper profile's training time from this")
    parser.add_argument("--skip-cpu-comparison", action="store_true", help="only the ensemble measurements")
    parser.add_argument("--alternatives", action="store_true", help="also bf16 (autocast, fc layers) and torch.compile of "
                        "one model (1 thread; the first epoch's seconds include the compilation)")
    args = parser.parse_args(argv)
    if args.count_paper:
        print(json.dumps(count_paper_pair_epochs(args.count_paper)))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data_root = out / f"data_{args.videos}"
    data = PreparedDataset.load(data_root) if (data_root / "dataset.json").is_file() else \
        make_synthetic_prepared(data_root, n_videos=args.videos)
    rows = data.rows(subset="train")
    root = str(data_root)
    flops = flops_per_pair(data, rows)
    peak1, peak2 = sgemm_gflops(1), sgemm_gflops(2)
    results: list[dict] = [{"measure": "flops_per_pair", "value": flops / 1e6, "unit": "MFLOP"},
                           {"measure": "sgemm_1_thread", "value": peak1, "unit": "GFLOP/s"},
                           {"measure": "model_matmul_shapes_1_thread", "value": model_matmul_gflops(data),
                            "unit": "GFLOP/s"},
                           {"measure": "sgemm_2_threads", "value": peak2, "unit": "GFLOP/s"}]

    def rate(name: str, pairs_per_s: float, peak: float, **extra) -> None:
        results.append({"measure": name, "value": pairs_per_s, "unit": "pairs/s",
                        "gflops": pairs_per_s * flops / 1e9, "of_sgemm_peak": pairs_per_s * flops / 1e9 / peak, **extra})

    if not args.skip_cpu_comparison:
        old = _epoch_seconds_old(root, rows) if _old_training_module() is not None else float("nan")
        rate(f"old loop ({OLD_COMMIT}), 1 thread, batch 64", len(rows) / old, peak1)
        for batch, threads in ((64, 1), (128, 1), (128, 2)):
            seconds = _epoch_seconds_new(root, rows, batch, threads)
            rate(f"ensemble trainer M=1, {threads} thread(s), batch {batch}", len(rows) / seconds,
                 peak1 if threads == 1 else peak2)
        rate("ensemble trainer M=1, 2 processes x 1 thread, batch 128", _two_processes(root, rows, 128), peak2)
    if args.alternatives:
        for mode in ("float32", "bf16 autocast", "bf16 fc", "torch.compile"):
            first, last = _epoch_seconds_alternative(root, rows, mode)
            rate(f"ensemble trainer M=1, 1 thread, batch 128, {mode}", len(rows) / last, peak1,
                 first_epoch_s=first)
    device = torch.device(args.device)
    peak = float("nan")
    for members in [int(m) for m in args.members.split(",")]:
        member_rows = rows[: max(128 * 4, len(rows) // members)]
        for executor in (("loop", "vmap") if device.type == "cpu" else ("vmap",)):
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            seconds = _epoch_seconds_new(root, member_rows, 128, 1, members, executor, args.device)
            memory = (torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda"
                      else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            per_member = len(member_rows) / seconds
            rate(f"ensemble M={members}, {executor}, {args.device}, batch 128", per_member * members,
                 peak1 if device.type == "cpu" else float("nan"), per_member=per_member, peak_mb=memory)
            peak = max(peak, per_member * members) if not np.isnan(peak) else per_member * members
    if args.paper_pair_epochs:
        results.append({"measure": "paper profile projected training time", "value": args.paper_pair_epochs / peak / 3600,
                        "unit": f"hours at the best ensemble rate ({peak:.0f} pairs/s on {args.device})"})
    table = pd.DataFrame(results)
    table.to_csv(out / "bench_training.csv", index=False)
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 70):
        print(f"processor: {cpu_description()}, torch {torch.__version__}, CPU kernels "
              f"{torch.backends.cpu.get_cpu_capability()}")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
