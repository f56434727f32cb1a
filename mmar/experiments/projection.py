"""How long a grid's training will take on the machine at hand, from a short measured warm-up.

:func:`measure_pairs_per_second` trains an ensemble of the first cell's configuration (all members
of its size) for a few batches, after one warm-up epoch, and returns training pairs per second per
member. :func:`project_training_seconds` multiplies every pending cell's pair-epochs (paired and
unpaired rows times all its epochs, Algorithm 1's paired-only phase included) by that rate, divided
over the worker processes. Evaluation is not included. The estimate is deliberately simple: every
cell is charged at the rate of the cell with the most loss terms (an upper bound for the others).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from mmar.data.prepared import PreparedDataset
from mmar.experiments.cells import Cell
from mmar.experiments.run import _cell_path, pair_epochs, plan_ensembles
from mmar.training import FIXED_TEXT, TrainConfig
from mmar.device import resolve_device
from mmar.training.ensemble import EnsembleTrainer, Member, _make_source, choose_executor
from mmar.training.inference import torch_threads


def measure_pairs_per_second(data: PreparedDataset, cell: Cell, members: int, *, device: str = "auto",
                             executor: str = "auto", batches: int = 4, threads: int | None = 1) -> float:
    """Training pairs per second per member for an ensemble of ``members`` copies of ``cell``'s
    configuration (different seeds), measured over ``batches`` batches after one warm-up epoch."""
    config = TrainConfig.from_dict(cell.config)
    n = config.batch_size * batches
    rows = np.asarray(cell.train_rows)[:n]
    configs = [TrainConfig.from_dict({**cell.config, "seed": config.seed + i, "unpaired_fraction": 0.0})
               for i in range(members)]
    torch_device = resolve_device(device)
    group = [Member(c, rows, np.asarray(cell.unpaired_rows)[: n // 2]) for c in configs]
    with torch_threads(threads if torch_device.type == "cpu" else None):
        source = _make_source(data, group, config, torch_device, "auto")
        trainer = EnsembleTrainer(group, source, data.feature_store().feature_dim, data.word_dim, torch_device,
                                  choose_executor(executor, config, torch_device))
        trainer.run_epoch(0, "main", 0, False)
        if torch_device.type == "cuda":
            torch.cuda.synchronize()
        tic = time.perf_counter()
        trainer.run_epoch(1, "main", 0, False)
        if torch_device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - tic
    return (len(rows) + len(group[0].unpaired)) / seconds


def project_training_seconds(data: PreparedDataset, cells: Sequence[Cell], cache_dir: str | Path, *,
                             members: int | None = None, processes: int = 1, device: str = "auto",
                             executor: str = "auto", threads: int | None = 1) -> dict[str, float]:
    """``{"pending_cells", "pair_epochs", "pairs_per_second", "seconds"}`` for the cells of ``cells``
    not cached in ``cache_dir`` (0 seconds when all are)."""
    pending = [c for c in {c.key: c for c in cells}.values() if not _cell_path(cache_dir, c.key).is_file()]
    if not pending:
        return {"pending_cells": 0, "pair_epochs": 0, "pairs_per_second": float("nan"), "seconds": 0.0}
    plans = plan_ensembles(pending, members)
    size = max(len(p.cells) for p in plans)
    # members run one after another on a CPU (loop executor): one measures the rate; on a GPU the size matters
    measured = size if resolve_device(device).type == "cuda" else 1
    # the measured cell: the one with the most loss terms (the costliest step; never the fixed-text baseline)
    probe = max(pending, key=lambda c: (tuple(c.config["losses"]) != (FIXED_TEXT,), len(c.config["losses"])))
    rate = measure_pairs_per_second(data, probe, measured, device=device, executor=executor, threads=threads)
    total = sum(pair_epochs(c) for c in pending)
    parallel = max(1, min(processes, len(plans)))
    return {"pending_cells": len(pending), "pair_epochs": total, "pairs_per_second": rate * measured,
            "seconds": total / (rate * measured) / parallel}


def describe_projection(projection: dict[str, float]) -> str:
    """One line for the notebooks."""
    if not projection["pending_cells"]:
        return "projected training time: 0 s (every cell is cached)"
    return (f"projected training time: {projection['seconds'] / 60:.1f} min for {projection['pending_cells']} cells "
            f"({projection['pair_epochs'] / 1e6:.2f} M pair-epochs at {projection['pairs_per_second']:.0f} pairs/s "
            "measured on this machine; evaluation not included)")
