"""Grid settings and cells. A *cell* is (row, K unseen classes, trial): train a model on the seen
classes of the trial's zero-shot split (``data.splits[K][trial]``), evaluate it on the unseen ones.
Each cell has a key: a hash of everything that determines its result (training config, rows,
unseen classes, evaluation settings, dataset, and the fingerprint of the code that computes it),
under which its result is cached (:mod:`mmar.experiments.run`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from mmar.data.prepared import PreparedDataset
from mmar.experiments.rows import EXTRA, PAIRED, PAIRED_UNPAIRED, RATIO, GridRow
from mmar.provenance import code_fingerprint

@dataclass(frozen=True)
class GridSettings:
    """What every cell shares. ``train`` holds TrainConfig overrides (e.g. epochs, optimizer).

    Zero-shot references (:func:`mmar.evaluation.zero_shot.zero_shot_test`): per unseen class,
    ``reference_videos_per_class`` videos (drawn with the trial's seed) give up to
    ``sentences_per_class`` reference sentences; the class's other videos are the queries, so no
    query's own caption is ever a reference.

    ``curves``: before training and after every epoch, record each cell's zero-shot accuracy on its
    unseen classes and its loss terms on ``curve_val_pairs`` held-out pairs of its seen classes (the
    val subset, at most half of it, :func:`probe_val_rows`: never a training row, paired or unpaired), in the
    cell's ``history`` (:class:`mmar.experiments.convergence.HeldOutProbe`); for
    convergence figures. True: every row; a tuple of row labels: those rows only (the probes cost
    about a fifth of a short training).
    """

    train: dict[str, Any] = field(default_factory=dict)
    max_train_rows: int | None = None
    max_unpaired_rows: int | None = None
    table8_paired_fraction: float = 0.4
    sentences_per_class: int = 20
    reference_videos_per_class: int = 4
    video_unit: str = "video"
    video_subset: str = "all"
    eval_max_frames: int | None = None
    caption_length: int | None = None
    caption_max_videos: int = 200
    word_source: str = "prepared"
    curves: bool | tuple[str, ...] = False
    curve_val_pairs: int = 128
    seed: int = 0

    def curves_for(self, row_label: str) -> bool:
        """Whether cells of the row ``row_label`` record curves."""
        return self.curves is True or (isinstance(self.curves, (tuple, list)) and row_label in self.curves)

    def eval_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("train", "max_train_rows", "max_unpaired_rows",
                                                                    "table8_paired_fraction", "seed")}


@dataclass
class Cell:
    """One (row, K, trial) with its resolved training rows and config (see :func:`make_cell`)."""

    row: GridRow
    k: int
    trial: int
    unseen: list[str]
    config: dict[str, Any]
    train_rows: np.ndarray
    unpaired_rows: np.ndarray
    key: str


def _digest(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def dataset_identity(data: PreparedDataset) -> str:
    """A hash of the prepared dataset's meta, splits and sentence table (changes when they do)."""
    h = hashlib.sha1()
    for name in ("dataset.json", "splits.json", "sentences.csv"):
        h.update((data.root / name).read_bytes())
    return h.hexdigest()


def _draw(rows: np.ndarray, n: int | None, seed: Sequence[int]) -> np.ndarray:
    """``n`` of ``rows`` (all when None or fewer), drawn with ``seed``, in drawn order."""
    order = np.random.default_rng(list(seed)).permutation(len(rows))
    return np.asarray(rows, dtype=np.int64)[order[: len(rows) if n is None else n]]


def probe_val_rows(data: PreparedDataset, unseen: Sequence[str], k: int, trial: int, settings: GridSettings) -> np.ndarray:
    """The seen-class val pairs (sorted) on which the per-epoch probe of cell (K = ``k``, ``trial``) measures its
    held-out loss terms: ``settings.curve_val_pairs`` of them, at most half of the val rows (rounded up: a single
    val row is the probe's). :func:`make_cell` draws the Paired + Unpaired rows'
    unpaired rows from the other val rows, so these stay held out for every row; so ``curve_val_pairs`` decides
    those rows' unpaired data too, whether or not a row records curves."""
    from mmar.evaluation.zero_shot import seen_training_rows

    val = seen_training_rows(data, unseen, "val")
    n_pairs = min(settings.curve_val_pairs, (len(val) + 1) // 2)
    return np.sort(np.random.default_rng([settings.seed, k, trial, 2]).permutation(val)[:n_pairs])


def make_cell(data: PreparedDataset, row: GridRow, k: int, trial: int, settings: GridSettings,
              identity: str | None = None, code: str | None = None) -> Cell:
    """Resolve a (row, K, trial) cell: unseen classes, training rows, unpaired rows, config, key.

    The key covers the code too (:func:`mmar.provenance.code_fingerprint`), so results cached by other
    code are never read back as this code's."""
    from mmar.evaluation.zero_shot import seen_training_rows
    from mmar.training import RUNTIME_FIELDS, TrainConfig

    if k not in data.splits:
        raise ValueError(f"{data.root}: no zero-shot split with {k} unseen classes (has {sorted(data.splits)})")
    if trial >= len(data.splits[k]):
        raise ValueError(f"{data.root}: split K={k} has {len(data.splits[k])} trials, asked for trial {trial}")
    unseen = list(data.splits[k][trial])
    seen_train = _draw(seen_training_rows(data, unseen, "train"), settings.max_train_rows, (settings.seed, k, trial))
    unpaired = np.zeros(0, dtype=np.int64)
    fraction = 0.0
    if row.data_mode == PAIRED_UNPAIRED:
        held_out = probe_val_rows(data, unseen, k, trial, settings)  # the probe's pairs are never trained on
        unpaired = _draw(np.setdiff1d(seen_training_rows(data, unseen, "val"), held_out), settings.max_unpaired_rows,
                         (settings.seed, k, trial, 1))
    elif row.data_mode == RATIO:
        fraction = row.amount
    elif row.data_mode == EXTRA:
        n_paired = int(round(settings.table8_paired_fraction * len(seen_train)))
        n_extra = int(round(row.amount * len(seen_train)))
        if n_paired + n_extra > len(seen_train):
            raise ValueError(f"{row.label}: {n_paired} paired + {n_extra} unpaired exceed {len(seen_train)} rows")
        unpaired = seen_train[n_paired:n_paired + n_extra]
        seen_train = seen_train[:n_paired]
    elif row.data_mode != PAIRED:
        raise ValueError(f"{row.label}: unknown data_mode {row.data_mode!r}")
    values = {**settings.train, **dict(row.overrides), "losses": row.losses, "unpaired_fraction": fraction,
              "seed": settings.seed + trial}
    config = TrainConfig.from_dict(values).to_dict()
    train_rows, unpaired_rows = np.sort(seen_train), np.sort(unpaired)
    identity = identity if identity is not None else dataset_identity(data)
    key = _digest({"config": {c: v for c, v in config.items() if c not in RUNTIME_FIELDS}, "unseen": unseen,
                   "train": train_rows.tolist(), "unpaired": unpaired_rows.tolist(),
                   "eval": settings.eval_dict(), "data": identity,
                   "code": code if code is not None else code_fingerprint()})[:16]
    return Cell(row, k, trial, unseen, config, train_rows, unpaired_rows, key)


def make_cells(data: PreparedDataset, rows: Iterable[GridRow], ks: Iterable[int], trials: int,
               settings: GridSettings) -> list[Cell]:
    """Every (row, K, trial) cell; K values the dataset has no split for raise."""
    identity, code = dataset_identity(data), code_fingerprint()
    return [make_cell(data, row, k, t, settings, identity, code) for row in rows for k in ks for t in range(trials)]


