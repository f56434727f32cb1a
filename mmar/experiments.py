"""The experiment grid of notebooks 06 (evaluation) and 07 (ablations).

A *row* is a named training variant: a row of the paper's Table 1, 6, 7 or 8, or one of our
ablations. A *cell* is (row, K unseen classes, trial): train a model on the seen classes of the
trial's zero-shot split (``data.splits[K][trial]``), then evaluate it on the unseen classes with
every protocol of :mod:`mmar.evaluation` (zero-shot 1-NN and prototype accuracy, discovery,
retrieval, captions). Each cell's result is a JSON file under ``<cache_dir>/cells/``, named by a
hash of everything that determines it (training config, rows, unseen classes, evaluation settings,
dataset), so an interrupted grid resumes where it stopped, and two notebooks that need the same
cell (e.g. Table 6's attention row and Table 1's "joint" row) train it once.

Training data of a cell (ICLR 2019 text Sec. 4.2: the K unseen classes are withheld from all
training, videos and sentences):

- ``paired``: up to ``max_train_rows`` rows (sentence + its segment) of the seen classes' train
  subset, drawn with the trial's seed (the same draw for every row of the table);
- ``paired+unpaired`` (Table 1's lower block): the same paired rows, plus up to
  ``max_unpaired_rows`` rows of the seen classes' *val* subset whose pairing is discarded. The
  paper's unpaired data were other datasets (Charades sentences, HMDB/UCF/Kinetics videos); here
  they are extra seen-class videos and sentences that are never paired;
- ``ratio`` (Table 7): the same total as ``paired``, of which a fraction loses its pairing;
- ``extra`` (Table 8): a fixed ``table8_paired_fraction`` of the paired rows stays paired and a
  growing fraction (of the same total) of the others is added unpaired; the paper's 40k paired +
  0/10k/20k/40k/60k unpaired becomes 40% + 0/10/20/40/60% of ``max_train_rows``. Actual counts are
  recorded with each result.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mmar.data.prepared import PreparedDataset
from mmar.results import ResultRow

PAIRED, PAIRED_UNPAIRED, RATIO, EXTRA = "paired", "paired+unpaired", "ratio", "extra"
ALL_PAIRED = ("joint", "recons", "cross", "cycle")
ALL_TERMS = ("joint", "recons", "cross", "cycle", "adv")


@dataclass(frozen=True)
class GridRow:
    """A named training variant. ``paper_*`` name the paper's cell ("" when the row is ours);
    ``paper_column`` may contain ``{k}`` (Table 1: ``"{k} unseen"``)."""

    label: str
    experiment: str
    losses: tuple[str, ...]
    data_mode: str = PAIRED
    amount: float = 0.0                       # RATIO: unpaired fraction; EXTRA: extra unpaired fraction
    overrides: tuple[tuple[str, Any], ...] = ()  # TrainConfig fields, e.g. (("pooling", "max"),)
    paper_table: str = ""
    paper_row: str = ""
    paper_column: str = ""
    paper_k: int | None = None                # the paper's K for this cell (None: any K, in the column)

    def column(self, k: int) -> str:
        return self.paper_column.format(k=k)

    def paper_cell(self, k: int) -> tuple[str, str, str]:
        """(table, row, column) of the paper's cell this row is at ``k`` unseen classes, or empty."""
        if not self.paper_table or (self.paper_k is not None and self.paper_k != k):
            return ("", "", "")
        return (self.paper_table, self.paper_row, self.column(k))


def _table1(label: str, losses: tuple[str, ...], mode: str = PAIRED) -> GridRow:
    return GridRow(label, "zero_shot", losses, mode, paper_table="Table 1", paper_row=label,
                   paper_column="{k} unseen")


#: The 11 rows of the paper's Table 1 (labels exactly as in report/paper_results.csv).
TABLE1 = (
    _table1("Paired: Fixed Text Representation (baseline)", ("fixed_text",)),
    _table1("Paired: joint", ("joint",)),
    _table1("Paired: recons + cross (Ngiam-style baseline)", ("recons", "cross")),
    _table1("Paired: joint + recons", ("joint", "recons")),
    _table1("Paired: joint + recons + cycle", ("joint", "recons", "cycle")),
    _table1("Paired: joint + recons + cross", ("joint", "recons", "cross")),
    _table1("Paired: joint + recons + cross + cycle", ALL_PAIRED),
    _table1("Paired + Unpaired: recons + cycle", ("recons", "cycle"), PAIRED_UNPAIRED),
    _table1("Paired + Unpaired: joint + recons + cycle", ("joint", "recons", "cycle"), PAIRED_UNPAIRED),
    _table1("Paired + Unpaired: joint + recons + cross + cycle", ALL_PAIRED, PAIRED_UNPAIRED),
    _table1("Paired + Unpaired: All terms (incl. adversarial)", ALL_TERMS, PAIRED_UNPAIRED),
)
TABLE1_BY_LABEL = {row.label: row for row in TABLE1}

#: Table 5 (captioning) and Tables 3/4 (discovery) rows -> the Table 1 row whose model they use.
TABLE5_MODELS = {
    "Fixed Text Representation": "Paired: Fixed Text Representation (baseline)",
    "Joint": "Paired: joint",
    "All (paired)": "Paired: joint + recons + cross + cycle",
    "All (paired + unpaired)": "Paired + Unpaired: All terms (incl. adversarial)",
}
DISCOVERY_MODELS = {
    "Fixed Text Representation": "Paired: Fixed Text Representation (baseline)",
    "Joint": "Paired: joint",
    "Joint + recons": "Paired: joint + recons",
    "Joint + recons + cycle": "Paired: joint + recons + cycle",
    "Joint + recons + cross": "Paired: joint + recons + cross",
    "All (paired)": "Paired: joint + recons + cross + cycle",
    "All (+ unpaired)": "Paired + Unpaired: All terms (incl. adversarial)",
}

#: Table 6: temporal pooling at 5 unseen classes with the "joint" loss (its attention value, 55.2,
#: equals Table 1's "Paired: joint" cell, so we read it as trained with that loss).
TABLE6 = tuple(
    GridRow(label, "ablation_pooling", ("joint",), overrides=(("pooling", pooling),), paper_table="Table 6",
            paper_row=label, paper_column="Accuracy", paper_k=5)
    for label, pooling in (("Max pooling", "max"), ("Sum pooling", "sum"), ("LSTM", "lstm"),
                           ("Temporal attention filters", "attention"))
)
#: Table 7: paired / unpaired shares of a fixed total, all terms.
TABLE7 = tuple(
    GridRow(label, "ablation_paired_ratio", ALL_TERMS, RATIO, fraction, paper_table="Table 7", paper_row=label,
            paper_column="Accuracy", paper_k=5)
    for label, fraction in (("100% / 0%", 0.0), ("75% / 25%", 0.25), ("50% / 50%", 0.5), ("25% / 75%", 0.75),
                            ("0% / 100%", 1.0))
)
#: Table 8: fixed paired data plus more and more unpaired data (paper: 40k + 0..60k), all terms.
TABLE8 = tuple(
    GridRow(label, "ablation_extra_unpaired", ALL_TERMS, EXTRA, fraction, paper_table="Table 8", paper_row=label,
            paper_column="Accuracy", paper_k=5)
    for label, fraction in (("0", 0.0), ("10k", 0.1), ("20k", 0.2), ("40k", 0.4), ("60k", 0.6))
)


def our_ablation(name: str, values: Sequence[Any], losses: tuple[str, ...] = ALL_PAIRED) -> tuple[GridRow, ...]:
    """Rows varying one TrainConfig field ``name`` (ours, beyond the paper), e.g. n_filters."""
    return tuple(GridRow(f"{name} = {v}", f"ablation_{name}", losses, overrides=((name, v),)) for v in values)


# -- settings and cells ----------------------------------------------------------------------------

@dataclass(frozen=True)
class GridSettings:
    """What every cell shares. ``train`` holds TrainConfig overrides (e.g. epochs, optimizer)."""

    train: dict[str, Any] = field(default_factory=dict)
    max_train_rows: int | None = None
    max_unpaired_rows: int | None = None
    table8_paired_fraction: float = 0.4
    sentences_per_class: int = 20
    video_unit: str = "video"
    video_subset: str = "all"
    eval_max_frames: int | None = None
    caption_length: int | None = None
    caption_max_videos: int = 200
    word_source: str = "prepared"
    seed: int = 0

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


def make_cell(data: PreparedDataset, row: GridRow, k: int, trial: int, settings: GridSettings,
              identity: str | None = None) -> Cell:
    """Resolve a (row, K, trial) cell: unseen classes, training rows, unpaired rows, config, key."""
    from mmar.training import TrainConfig
    from mmar.evaluation.zero_shot import seen_training_rows

    if k not in data.splits:
        raise ValueError(f"{data.root}: no zero-shot split with {k} unseen classes (has {sorted(data.splits)})")
    if trial >= len(data.splits[k]):
        raise ValueError(f"{data.root}: split K={k} has {len(data.splits[k])} trials, asked for trial {trial}")
    unseen = list(data.splits[k][trial])
    seen_train = _draw(seen_training_rows(data, unseen, "train"), settings.max_train_rows, (settings.seed, k, trial))
    unpaired = np.zeros(0, dtype=np.int64)
    fraction = 0.0
    if row.data_mode == PAIRED_UNPAIRED:
        unpaired = _draw(seen_training_rows(data, unseen, "val"), settings.max_unpaired_rows,
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
    config = TrainConfig(**values).to_dict()
    train_rows, unpaired_rows = np.sort(seen_train), np.sort(unpaired)
    identity = identity if identity is not None else dataset_identity(data)
    runtime = ("device", "num_threads", "cache_mb")
    key = _digest({"config": {c: v for c, v in config.items() if c not in runtime}, "unseen": unseen,
                   "train": train_rows.tolist(), "unpaired": unpaired_rows.tolist(),
                   "eval": settings.eval_dict(), "data": identity})[:16]
    return Cell(row, k, trial, unseen, config, train_rows, unpaired_rows, key)


def make_cells(data: PreparedDataset, rows: Iterable[GridRow], ks: Iterable[int], trials: int,
               settings: GridSettings) -> list[Cell]:
    """Every (row, K, trial) cell; K values the dataset has no split for raise."""
    identity = dataset_identity(data)
    return [make_cell(data, row, k, t, settings, identity) for row in rows for k in ks for t in range(trials)]


# -- running one cell ------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _dataset(root: str) -> PreparedDataset:
    if _WORKER.get("root") != root:
        _WORKER.clear()
        _WORKER["root"] = root
        _WORKER["data"] = PreparedDataset.load(root)
    return _WORKER["data"]


def _vocabulary(data: PreparedDataset, word_source: str) -> tuple[np.ndarray, list[str]]:
    if word_source == "prepared":
        return data.vocab_vectors, list(data.vocab_words)
    if word_source != "glove":
        raise ValueError(f"word_source must be 'prepared' or 'glove', got {word_source!r}")
    if "glove" not in _WORKER:
        from mmar.data.glove import GloveVectors

        glove = GloveVectors.load_default()
        # Row 0 is the padding word, which captions never emit (see nearest_words).
        _WORKER["glove"] = (np.vstack([np.zeros((1, glove.dim), np.float32), glove.vectors]), ["<pad>"] + glove.words)
    return _WORKER["glove"]


def evaluate_model(model, data: PreparedDataset, unseen: Sequence[str], trial: int, settings: GridSettings,
                   pairing: str, caption_length: int) -> dict[str, Any]:
    """Every protocol on the unseen classes of one trial: zero-shot, discovery, retrieval, captions."""
    from mmar.evaluation.captioning import decode_captions, references
    from mmar.evaluation.discovery import discovery_scores
    from mmar.evaluation.retrieval import retrieval_scores
    from mmar.evaluation.zero_shot import zero_shot_scores, zero_shot_test
    from mmar.training import embed_rows

    test = zero_shot_test(data, unseen, sentences_per_class=settings.sentences_per_class, seed=trial,
                          video_unit=settings.video_unit, video_subset=settings.video_subset)
    video_pairing = "video" if settings.video_unit == "video" else pairing
    unseen_rows = data.rows(classes=list(unseen))
    pairs = embed_rows(model, data, unseen_rows, pairing=pairing)
    position = {int(r): i for i, r in enumerate(unseen_rows)}
    sentence_index = np.array([position[int(r)] for r in test.sentence_rows])
    videos = embed_rows(model, data, test.video_rows, pairing=video_pairing, max_frames=settings.eval_max_frames)
    sentences, sentence_labels = pairs["text"][sentence_index], pairs["class_index"][sentence_index]
    caption_rows = test.video_rows[: settings.caption_max_videos]
    vectors, words = _vocabulary(data, settings.word_source)
    captions = decode_captions(model, data, caption_rows, length=caption_length, vectors=vectors, words=words,
                               pairing=video_pairing, max_frames=settings.eval_max_frames)
    return {
        "n_test_videos": int(len(test.video_rows)),
        "n_sentences": int(len(test.sentence_rows)),
        "n_retrieval_pairs": int(len(unseen_rows)),
        "zero_shot": zero_shot_scores(videos["video"], videos["class_index"], sentences, sentence_labels),
        "discovery": discovery_scores(videos["video"], videos["class_index"], k=len(unseen), seed=trial),
        "retrieval": retrieval_scores(pairs["video"], pairs["text"]),
        "captions": {
            "video_ids": [str(v) for v in data.sentences["video_id"].to_numpy()[caption_rows]],
            "classes": [str(c) for c in data.sentences["class_name"].to_numpy()[caption_rows]],
            "hypotheses": captions,
            "references": references(data, caption_rows, unit=settings.video_unit),
            "length": int(caption_length),
            "word_source": settings.word_source,
        },
    }


def run_cell(data_root: str, cell: Cell, settings: GridSettings, cache_dir: str, num_threads: int | None = None
             ) -> dict[str, Any]:
    """Train and evaluate one cell (or read its cached result). Safe to run in a worker process."""
    import torch

    from mmar.evaluation.captioning import default_length
    from mmar.training import TrainConfig, train

    path = Path(cache_dir) / "cells" / f"{cell.key}.json"
    if path.is_file():
        return json.loads(path.read_text())
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    data = _dataset(data_root)
    config = TrainConfig.from_dict({k: tuple(v) if isinstance(v, list) else v for k, v in cell.config.items()})
    model_dir = Path(cache_dir) / "models" / cell.key
    cpu = time.process_time()
    try:
        tic = time.perf_counter()
        result = train(config, data, cell.train_rows, model_dir, unpaired_rows=cell.unpaired_rows, progress=False)
        train_seconds = time.perf_counter() - tic
        length = settings.caption_length or default_length(data, cell.train_rows)
        tic = time.perf_counter()
        evaluation = evaluate_model(result.model, data, cell.unseen, cell.trial, settings, config.pairing, length)
    except Exception as error:  # one failing cell must not stop a long grid; it is reported, never cached
        return {"key": cell.key, "row": cell.row.label, "experiment": cell.row.experiment, "k": cell.k,
                "trial": cell.trial, "error": f"{type(error).__name__}: {error}"}
    history = result.history
    record = {
        "key": cell.key, "row": cell.row.label, "experiment": cell.row.experiment, "k": cell.k, "trial": cell.trial,
        "unseen": cell.unseen, "config": cell.config, "seed": config.seed, "data_mode": cell.row.data_mode,
        "n_paired": int(result.extra.get("n_paired", 0)), "n_unpaired": int(result.extra.get("n_unpaired", 0)),
        "train_seconds": train_seconds, "eval_seconds": time.perf_counter() - tic,
        "cpu_seconds": time.process_time() - cpu,  # = wall time on an idle core (one torch thread)
        "final_losses": {k: float(v) for k, v in history.iloc[-1].items() if isinstance(v, (int, float))}
        if len(history) else {},
        **evaluation,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    tmp.replace(path)
    # The checkpoint (weights + optimiser state) is only needed to resume an interrupted training.
    (model_dir / "checkpoint.pt").unlink(missing_ok=True)
    return record


def run_grid(data: PreparedDataset, cells: Sequence[Cell], settings: GridSettings, cache_dir: str | Path, *,
             processes: int = 1, threads: int | None = 1, progress: bool | None = None) -> list[dict[str, Any]]:
    """Results of ``cells`` (in order), running the ones not cached yet: in this process with
    ``threads`` torch threads, or over ``processes`` worker processes with one thread each.

    A cell whose training or evaluation raised comes back as ``{"row", "k", "trial", "error", ...}``
    (not cached, so it runs again next time); :func:`failed_cells` lists them and the result-row
    functions skip them.

    One thread per process is the default because these models are small: on a busy 2-core
    machine, torch's default of one thread per core made training up to 8x slower (measured).
    """
    cache_dir = Path(cache_dir)
    unique = {cell.key: cell for cell in cells}
    done = {key for key in unique if (cache_dir / "cells" / f"{key}.json").is_file()}
    pending = [cell for key, cell in unique.items() if key not in done]
    root = str(data.root)
    failed: dict[str, dict[str, Any]] = {}
    bar = tqdm(total=len(unique), initial=len(done), desc="grid cells", disable=progress is False if progress
               is not None else None)
    if processes > 1 and len(pending) > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
            futures = {pool.submit(run_cell, root, cell, settings, str(cache_dir), 1): cell for cell in pending}
            for future in as_completed(futures):
                record = future.result()
                if "error" in record:
                    failed[record["key"]] = record
                bar.update(1)
    elif pending:
        import torch

        _WORKER.update({"root": root, "data": data})
        previous = torch.get_num_threads()
        try:
            for cell in pending:
                record = run_cell(root, cell, settings, str(cache_dir), threads)
                if "error" in record:
                    failed[record["key"]] = record
                bar.update(1)
        finally:
            torch.set_num_threads(previous)
    bar.close()
    results = []
    for cell in cells:
        if cell.key in failed:
            results.append({**failed[cell.key], "row": cell.row.label, "experiment": cell.row.experiment})
            continue
        record = json.loads((cache_dir / "cells" / f"{cell.key}.json").read_text())
        # A cached cell may have been computed for another row with the same training (e.g. Table 6's
        # attention row is Table 1's "joint" row): label it as the row asked for.
        record.update(row=cell.row.label, experiment=cell.row.experiment)
        results.append(record)
    return results


def failed_cells(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of cells that raised (see :func:`run_grid`)."""
    return [r for r in results if "error" in r]


def failure_not_run(results: Sequence[dict[str, Any]], rows: Sequence[GridRow]) -> tuple[list[tuple[str, str, str]], list[str]]:
    """``(paper cells, reasons)`` for :func:`not_run_table`: every failed cell, with its error."""
    by_label = {row.label: row for row in rows}
    cells, reasons = [], []
    for r in failed_cells(results):
        row = by_label.get(r["row"])
        table, paper_row, column = row.paper_cell(r["k"]) if row is not None else ("", "", "")
        cells.append((table, paper_row or r["row"], column or f"{r['k']} unseen"))
        reasons.append(f"trial {r['trial']} failed: {r['error']}")
    return cells, reasons


def default_processes() -> int:
    """2 worker processes when the machine has 2 or more cores, else 1."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


# -- results as data -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ResultContext:
    """What every result row of a notebook records besides its values (``trials``: trials asked for;
    a row's ``n_trials`` is lower when cells failed)."""

    data_source: str
    profile: str
    run_path: str
    settings: GridSettings
    trials: int


def _groups(results: Sequence[dict[str, Any]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Successful cell records grouped by (row label, K)."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for record in results:
        if "error" in record:
            continue
        groups.setdefault((record["row"], record["k"]), []).append(record)
    return groups


def _config(records: Sequence[dict[str, Any]], context: ResultContext, **extra: Any) -> dict[str, Any]:
    first = records[0]
    return {"row": first["row"], "k": first["k"], "train": first["config"], "data_mode": first["data_mode"],
            "n_paired": sorted({r["n_paired"] for r in records}), "n_unpaired": sorted({r["n_unpaired"] for r in records}),
            "n_test_videos": sorted({r["n_test_videos"] for r in records}),
            "trials_requested": context.trials,
            "evaluation": context.settings.eval_dict(), "max_train_rows": context.settings.max_train_rows,
            "max_unpaired_rows": context.settings.max_unpaired_rows, "cells": [r["key"] for r in records], **extra}


def _row(context: ResultContext, records, experiment: str, metric: str, values, *, unit: str = "",
         chance: float = float("nan"), paper: tuple[str, str, str] = ("", "", ""), notes: str = "",
         **config_extra: Any) -> ResultRow:
    return ResultRow(experiment=experiment, metric=metric, values=list(values), data_source=context.data_source,
                     profile=context.profile, run_path=context.run_path, paper_table=paper[0], paper_row=paper[1],
                     paper_column=paper[2], unit=unit, chance=chance, config=_config(records, context, **config_extra),
                     seeds=[r["seed"] for r in records], notes=notes)


def zero_shot_rows(results: Sequence[dict[str, Any]], rows: Sequence[GridRow], context: ResultContext
                   ) -> list[ResultRow]:
    """1-NN accuracy (the paper's metric, labelled with the paper's cell when the row has one) and
    the class-prototype accuracy (ours) per (row, K), over trials."""
    by_label = {row.label: row for row in rows}
    out = []
    for (label, k), records in _groups(results).items():
        row = by_label.get(label)
        if row is None:
            continue
        records = sorted(records, key=lambda r: r["trial"])
        chance = 100.0 / k
        spc = context.settings.sentences_per_class
        paper = row.paper_cell(k)
        where = f"{label}; {k} unseen classes"
        out.append(_row(context, records, row.experiment, "accuracy", [r["zero_shot"]["nn_accuracy"] for r in records],
                        unit="%", chance=chance, paper=paper,
                        notes=f"{where}; 1-NN to {spc} sentences per unseen class"))
        out.append(_row(context, records, row.experiment, "prototype_accuracy",
                        [r["zero_shot"]["prototype_accuracy"] for r in records], unit="%", chance=chance,
                        notes=f"{where}; nearest class mean of {spc} sentence embeddings (ours)"))
    return out


def retrieval_rows(results: Sequence[dict[str, Any]], k: int, context: ResultContext) -> list[ResultRow]:
    """Text-to-video and video-to-text R@1/5/10 (%) and median rank on the unseen classes (ours)."""
    from mmar.evaluation.retrieval import retrieval_chance

    out = []
    for (label, kk), records in _groups(results).items():
        if kk != k:
            continue
        records = sorted(records, key=lambda r: r["trial"])
        n = int(np.mean([r["n_retrieval_pairs"] for r in records]))
        chance = retrieval_chance(n)
        for metric in records[0]["retrieval"]:
            unit = "" if metric.endswith("median_rank") else "%"
            out.append(_row(context, records, "retrieval", metric, [r["retrieval"][metric] for r in records], unit=unit,
                            chance=chance[metric], notes=f"{label}; {k} unseen classes; about {n} sentence-segment "
                            "pairs per trial (ours, not in the paper)"))
    return out


def discovery_rows(results: Sequence[dict[str, Any]], k: int, baseline: Sequence[dict[str, Any]],
                   context: ResultContext) -> list[ResultRow]:
    """k-means + cluster-vote accuracy, NMI and ARI on the unseen classes' video embeddings of the
    Table 1 models listed in :data:`DISCOVERY_MODELS`, plus the mean-pooled-feature baseline."""
    note = (f"protocol of the paper's Tables 3/4 (k-means, k = {k}, cluster majority vote), applied to the "
            f"{k} unseen classes of this dataset, not to MLB-YouTube/HMDB/UCF")
    groups = _groups(results)
    out = []
    for variant, label in [("Baseline I3D features (mean-pooled input features)", None), *DISCOVERY_MODELS.items()]:
        records = sorted(baseline, key=lambda r: r["trial"]) if label is None else sorted(groups.get((label, k), []),
                                                                                         key=lambda r: r["trial"])
        if not records:
            continue
        for metric, unit in (("accuracy", "%"), ("nmi", ""), ("ari", "")):
            values = [r["discovery"][metric] for r in records]
            if label is None:
                out.append(ResultRow(experiment="discovery", metric=metric, values=values,
                                     data_source=context.data_source, profile=context.profile,
                                     run_path=context.run_path, unit=unit,
                                     config={"variant": variant, "k": k, "evaluation": context.settings.eval_dict()},
                                     seeds=[r["trial"] for r in records], notes=f"{variant}; {note}"))
            else:
                out.append(_row(context, records, "discovery", metric, values, unit=unit,
                                notes=f"{variant} (model of Table 1 row '{label}'); {note}", variant=variant))
    return out


def baseline_discovery(data: PreparedDataset, k: int, trials: int, settings: GridSettings,
                       cache_dir: str | Path) -> list[dict[str, Any]]:
    """Discovery scores of k-means on time-averaged input features of each trial's test videos."""
    from mmar.evaluation.discovery import discovery_scores, mean_pooled_rows
    from mmar.evaluation.zero_shot import zero_shot_test

    out = []
    identity = dataset_identity(data)
    for trial in range(trials):
        unseen = list(data.splits[k][trial])
        key = _digest({"baseline": unseen, "eval": settings.eval_dict(), "trial": trial, "data": identity})[:16]
        path = Path(cache_dir) / "baselines" / f"{key}.json"
        if not path.is_file():
            test = zero_shot_test(data, unseen, sentences_per_class=settings.sentences_per_class, seed=trial,
                                  video_unit=settings.video_unit, video_subset=settings.video_subset)
            pairing = "video" if settings.video_unit == "video" else settings.train.get("pairing", "segment")
            features = mean_pooled_rows(data, test.video_rows, pairing)
            labels = data.sentences["class_name"].to_numpy()[test.video_rows]
            record = {"trial": trial, "k": k, "discovery": discovery_scores(features, labels, seed=trial)}
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record))
        out.append(json.loads(path.read_text()))
    return out


def caption_rows(results: Sequence[dict[str, Any]], k: int, context: ResultContext, meteor=None,
                 paper_k: int = 10) -> list[ResultRow]:
    """METEOR and CIDEr (x100, the paper's Table 5 scale as we read it) and BLEU-1..4 (x100) of the
    captions of the Table 5 models at ``k`` unseen classes, scored per trial over its test videos.
    ``meteor``: a scorer from :func:`mmar.evaluation.captioning.meteor_scorer`, or None to leave
    METEOR out (list it with :func:`not_run_table`). Rows carry Table 5's labels only at the paper's
    ``paper_k`` = 10 unseen classes."""
    from mmar.evaluation.captioning import caption_scores

    groups = _groups(results)
    out = []
    for table5_row, label in TABLE5_MODELS.items():
        records = sorted(groups.get((label, k), []), key=lambda r: r["trial"])
        if not records:
            continue
        per_trial = []
        for r in records:
            c = r["captions"]
            ids = [f"{v}#{i}" for i, v in enumerate(c["video_ids"])]
            per_trial.append(caption_scores(dict(zip(ids, c["references"])), dict(zip(ids, c["hypotheses"])), meteor))
        length = records[0]["captions"]["length"]
        for metric in per_trial[0]:
            paper = ("Table 5", table5_row, metric) if metric in ("METEOR", "CIDEr") and k == paper_k else ("", "", "")
            notes = (f"{table5_row} (model of Table 1 row '{label}'); {k} unseen classes; captions of {length} "
                     f"words, nearest {records[0]['captions']['word_source']} word per decoder column; x100")
            out.append(_row(context, records, "captioning", metric, [100.0 * s[metric] for s in per_trial],
                            unit="x100", paper=paper, notes=notes, variant=table5_row))
    return out


# -- what is not run here --------------------------------------------------------------------------
NOT_RUN_COLUMNS = ["experiment", "paper_table", "paper_row", "paper_column", "reason"]

#: The paper's experiments that need data this project cannot obtain, and how to run them with it.
DATASET_NOT_RUN = (
    ("Table 2", "zero-shot on HMDB51/UCF101 needs their videos (I3D features), not available here; with a "
     "feature store of them run mmar.evaluation.zero_shot.zero_shot_on_store(model, store, labels, "
     "class_sentences, glove) with the paper's App. B class sentences"),
    ("Table 3", "needs MLB-YouTube segmented videos (I3D features), not available here; the protocol "
     "(mmar.evaluation.discovery) is run on this dataset's unseen classes instead (experiment 'discovery'), "
     "and mmar.evaluation.discovery.discovery_on_store runs it on any labelled feature store"),
    ("Table 4", "needs HMDB51/UCF101 videos (I3D features), not available here; run "
     "mmar.evaluation.discovery.discovery_on_store(model, store, labels) on their feature stores"),
    ("Table 9", "seen captioning on MLB-YouTube Captions needs its videos (I3D features) and an aligned "
     "caption set, not available here"),
)


def not_run_table(paper_cells: Iterable[tuple[str, str, str]] = (), reasons: Iterable[str] = (),
                  include_datasets: bool = True) -> pd.DataFrame:
    """Rows of ``results/not_run.csv`` (columns :data:`NOT_RUN_COLUMNS`): the paper tables needing
    other datasets, plus each ``(table, row, column)`` cell of ``paper_cells`` with its reason."""
    entries = []
    if include_datasets:
        entries += [("not_run", table, "", "", reason) for table, reason in DATASET_NOT_RUN]
    entries += [("not_run", t, r, c, why) for (t, r, c), why in zip(paper_cells, reasons)]
    return pd.DataFrame(entries, columns=NOT_RUN_COLUMNS)


def missing_paper_cells(rows: Sequence[GridRow], ks_run: Iterable[int], data: PreparedDataset,
                        paper_ks: Sequence[int] = (5, 10, 20, 50)) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The paper columns of ``rows`` (at the paper's K values) that this run does not compute, with
    why: one ``(table, "", column)`` entry per table and column (the row is empty: every row)."""
    ks_run = sorted(ks_run)
    cells: dict[tuple[str, str, str], str] = {}
    for row in rows:
        for k in paper_ks:
            table, _, column = row.paper_cell(k)
            if not table or k in ks_run:
                continue
            if k not in data.splits:
                why = f"the prepared dataset has no zero-shot split with {k} unseen classes (it has {sorted(data.splits)})"
            else:
                why = f"{k} unseen classes are not in this profile's grid (ks = {ks_run})"
            cells[(table, "", column)] = why
    return list(cells), list(cells.values())


# -- display helpers for the notebooks ---------------------------------------------------------------

def summary_table(results: Sequence[dict[str, Any]], value, columns: str = "k", decimals: int = 1) -> pd.DataFrame:
    """``"mean ± std (n)"`` of ``value(record)`` over the successful trials, one row per grid row (in
    first-seen order), one column per distinct ``record[columns]``."""
    frame = pd.DataFrame([{"row": r["row"], "col": r[columns], "value": float(value(r))} for r in results
                          if "error" not in r])
    stats = frame.groupby(["row", "col"], sort=False)["value"].agg(["mean", "std", "count"]).reset_index()
    stats["text"] = [f"{m:.{decimals}f} ± {0.0 if pd.isna(s) else s:.{decimals}f} (n={n})"
                     for m, s, n in zip(stats["mean"], stats["std"], stats["count"])]
    table = stats.pivot(index="row", columns="col", values="text")
    return table.reindex(index=list(dict.fromkeys(frame["row"])))
