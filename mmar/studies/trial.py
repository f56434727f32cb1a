"""One zero-shot trial as the single-split notebooks (03, 04, 05) use it: its rows and trainings.

:func:`trial_rows` picks the seen-class training rows (capped with the seed) and held-out rows of
seen (val) and unseen classes; :func:`train_variants` trains one model per config afresh, side by
side over the machine's cores, with its checkpoints under ``<run_dir>/checkpoints/<name>/`` and its
per-epoch losses in ``<run_dir>/logs/<name>.csv``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmar.data.prepared import PreparedDataset
from mmar.training import TrainConfig, TrainResult, phases, train
from mmar.parallel import map_processes, worker_dataset


def capped(rows: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """At most ``n`` of ``rows`` (all when None), a seeded random choice, sorted."""
    rows = np.asarray(rows, dtype=np.int64)
    if n is None:
        return np.sort(rows)
    return np.sort(np.random.default_rng(seed).permutation(rows)[:n])


@dataclass(frozen=True)
class TrialRows:
    """Sentence rows of one (K, trial) split: ``train`` (seen classes, train subset, capped),
    ``val`` (seen classes, val subset) and ``unseen`` (all rows of the unseen classes); the last two
    capped at ``max_eval_rows`` when asked."""

    unseen_k: int
    trial: int
    unseen_classes: list[str]
    train: np.ndarray
    val: np.ndarray
    unseen: np.ndarray

    def summary(self, data: PreparedDataset) -> str:
        """One line: data source, row counts, the unseen classes."""
        return (f"data source: {data.data_source}; K = {self.unseen_k} unseen classes, trial {self.trial}: "
                f"{len(self.train)} training rows of {len(data.classes) - len(self.unseen_classes)} seen classes, "
                f"{len(self.val)} held-out seen (val), {len(self.unseen)} unseen; unseen: {', '.join(self.unseen_classes)}")


def trial_rows(data: PreparedDataset, unseen_k: int, trial: int, *, seed: int, max_train_rows: int | None,
               max_eval_rows: int | None = None) -> TrialRows:
    """The rows of split ``data.splits[unseen_k][trial]`` (see :class:`TrialRows`).

    Training rows beyond ``max_train_rows`` are dropped by a seeded choice without replacement.
    """
    if unseen_k not in data.splits:
        raise ValueError(f"no zero-shot split with unseen_k = {unseen_k} in {data.root} (has {sorted(data.splits)})")
    if not 0 <= trial < len(data.splits[unseen_k]):
        raise ValueError(f"trial {trial} out of range: unseen_k = {unseen_k} has {len(data.splits[unseen_k])} trials")
    unseen = list(data.splits[unseen_k][trial])
    train_rows = data.rows(exclude_classes=unseen, subset="train")
    if max_train_rows is not None and len(train_rows) > max_train_rows:
        train_rows = np.sort(np.random.default_rng(seed).choice(train_rows, max_train_rows, replace=False))
    val_rows = data.rows(exclude_classes=unseen, subset="val")
    unseen_rows = data.rows(classes=unseen)
    if max_eval_rows is not None:
        val_rows, unseen_rows = capped(val_rows, max_eval_rows, seed), capped(unseen_rows, max_eval_rows, seed)
    return TrialRows(unseen_k, trial, unseen, np.asarray(train_rows), np.asarray(val_rows), np.asarray(unseen_rows))


def trial_rows_of(data: PreparedDataset, settings: Any) -> TrialRows:
    """:func:`trial_rows` of the split a single-split notebook's settings name: ``unseen_k``, ``trial``,
    ``seed``, ``max_train_rows`` and, where the notebook has it, ``max_eval_rows``."""
    return trial_rows(data, settings.unseen_k, settings.trial, seed=settings.seed, max_train_rows=settings.max_train_rows,
                      max_eval_rows=getattr(settings, "max_eval_rows", None))


def train_variants(configs: dict[str, TrainConfig], data: PreparedDataset, train_rows: np.ndarray,
                   run_dir: Path, names: dict[str, str], processes: int | None = None) -> dict[str, TrainResult]:
    """Train each config afresh (an old checkpoint folder is removed first) and log its losses.

    ``names[variant]`` is the folder / log name, e.g. ``"05_full_adv"``. The variants train side by
    side in ``processes`` worker processes (None: one per core, at most 2; see
    :mod:`mmar.parallel`), the costliest first (:func:`describe_variants` says what each trained on).
    """
    outs = {variant: run_dir / "checkpoints" / names[variant] for variant in configs}
    for out in outs.values():
        if out.exists():
            shutil.rmtree(out)  # a notebook run always trains afresh
    root = str(data.root)
    order = sorted(configs, key=lambda v: -training_cost(configs[v]))
    trained = map_processes(_train_one, [(configs[v], root, train_rows, outs[v]) for v in order], processes, data=data)
    results = {}
    for variant in configs:
        result = trained[order.index(variant)]
        (run_dir / "logs").mkdir(parents=True, exist_ok=True)
        result.history.to_csv(run_dir / "logs" / f"{names[variant]}.csv", index=False)
        results[variant] = result
    return results


def describe_variants(results: dict[str, TrainResult]) -> str:
    """One line per trained variant (:func:`train_variants`): its loss terms, paired / unpaired rows, epochs."""
    return "\n".join(f"{variant}: losses {list(r.config.losses)}, {r.extra['n_paired']} paired / "
                     f"{r.extra['n_unpaired']} unpaired rows, {len(r.history)} epochs" for variant, r in results.items())


def training_cost(config: TrainConfig) -> int:
    """A config's relative training cost per row, for scheduling: epochs (all phases) times (1 + its
    loss terms)."""
    return len(phases(config)) * (1 + len(config.losses))


def _train_one(job: tuple[TrainConfig, str, np.ndarray, Path]) -> TrainResult:
    """One variant of :func:`train_variants` (in a worker process or inline)."""
    config, root, train_rows, out = job
    return train(config, worker_dataset(root), train_rows, out, progress=False)


def final_losses(results: dict[str, TrainResult]) -> pd.DataFrame:
    """The last epoch's mean of every loss term per variant (rows: variants)."""
    skip = ("epoch", "phase", "lr", "seconds")
    return pd.DataFrame({variant: {c: float(v) for c, v in r.history.iloc[-1].items() if c not in skip and pd.notna(v)}
                         for variant, r in results.items()}).T
