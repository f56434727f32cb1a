"""Running the grid: cells are grouped into ensembles that train together
(:func:`mmar.training.train_ensemble`), then every member is evaluated on its trial's unseen classes
with every protocol of :mod:`mmar.evaluation` (zero-shot 1-NN and prototype accuracy, discovery,
retrieval, captions). Each cell's result is a :class:`~mmar.experiments.records.CellResult`, cached as
the JSON file ``<cache_dir>/cells/<key>.json``; an
interrupted grid resumes where it stopped (an ensemble resumes from its last epoch checkpoint), and
two notebooks that need the same cell train it once.

Ensembles (:func:`plan_ensembles`): cells whose training differs only in seed, λ weights and rows
(e.g. one Table 1 row over K values and trials) share one ensemble of up to ``members`` members. The
plan is made from all cells, cached or not, so that a resumed grid trains the same ensembles.
Ensembles are dispatched ``inline`` (this process), over local worker ``processes``, or as a job
array with ``submitit`` (``dispatch="slurm"`` on a SLURM cluster, ``"submitit-local"`` to try it
locally), all writing to the same cell cache.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm.auto import tqdm

from mmar.data.prepared import PreparedDataset
from mmar.experiments.cells import Cell, GridSettings, probe_val_rows
from mmar.experiments.records import (CellCaptions, CellFailure, CellRecord, CellResult, DiscoveryScores, EnsembleInfo,
                                      RoundTripScores, ZeroShotScores, failed_cells)
from mmar.experiments.rows import TABLE5_MODELS, GridRow

DISPATCHES = ("auto", "inline", "processes", "slurm", "submitit-local")

_WORKER: dict[Any, Any] = {}
#: Rows whose captions are scored (Table 5): they also get the sentence read-out.
TABLE5_LABELS = frozenset(TABLE5_MODELS.values())


def _dataset(root: str) -> PreparedDataset:
    if _WORKER.get("root") != root:
        _WORKER.clear()
        _WORKER["root"] = root
        _WORKER["data"] = PreparedDataset.load(root)
    return _WORKER["data"]


def _seen_words(data: PreparedDataset, unseen: Sequence[str]) -> np.ndarray:
    """:func:`mmar.evaluation.captioning.seen_class_words` of ``unseen``, cached per dataset and unseen set in the
    worker."""
    from mmar.evaluation.captioning import seen_class_words

    key = ("seen_words", str(data.root), tuple(sorted(unseen)))
    if key not in _WORKER:
        _WORKER[key] = seen_class_words(data, unseen)
    return _WORKER[key]


def _vocabulary(data: PreparedDataset, word_source: str, unseen: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """The captions' word vectors (V', D) and words, row 0 the padding word (never said): for ``"prepared"``
    the words of the seen classes' sentences (:func:`_seen_words`), for ``"glove"`` all of GloVe."""
    if word_source == "prepared":
        keep = np.flatnonzero(_seen_words(data, unseen))
        keep = np.concatenate([[0], keep])
        return data.vocab_vectors[keep], [str(data.vocab_words[i]) for i in keep]
    if word_source != "glove":
        raise ValueError(f"word_source must be 'prepared' or 'glove', got {word_source!r}")
    if "glove" not in _WORKER:
        from mmar.data.glove import GloveVectors

        glove = GloveVectors.load_default()
        # Row 0 is the padding word, which captions never emit (see nearest_words).
        _WORKER["glove"] = (np.vstack([np.zeros((1, glove.dim), np.float32), glove.vectors]), ["<pad>"] + glove.words)
    return _WORKER["glove"]


#: Unseen-class sentences per cell whose text round trip G_T(E_T(t)) is read out (captions' upper bound), evenly
#: spaced over the class-ordered unseen rows, so every unseen class has its share.
ROUND_TRIP_SENTENCES = 300


def _evenly_spaced(rows: np.ndarray, at_most: int) -> np.ndarray:
    """At most ``at_most`` of ``rows`` (n,), evenly spaced over them (so over every class of class-ordered rows)."""
    return rows[np.unique(np.linspace(0, len(rows) - 1, min(at_most, len(rows))).astype(int))]


def sentence_captions(model, data: PreparedDataset, unseen: Sequence[str], columns: np.ndarray) -> dict[str, Any]:
    """The sentence read-out (:mod:`mmar.evaluation.sentence_readout`, ours) of caption ``columns``
    (B, L, D), fitted on the seen classes' training sentences (their prior cached per dataset and unseen set), as
    :class:`CellCaptions` fields: its captions, the prior's own sentence (what every video would get
    without the decoder) and the fitted emission weight."""
    from mmar.evaluation.sentence_readout import SentenceReadout, seen_prior
    from mmar.evaluation.zero_shot import seen_training_rows

    seen = seen_training_rows(data, unseen, "train")
    key = ("prior", str(data.root), tuple(sorted(unseen)))
    if key not in _WORKER:
        _WORKER[key] = seen_prior(data, seen)
    readout = SentenceReadout.fit(model, data, seen, prior=_WORKER[key], allowed=_seen_words(data, unseen))
    return {"sentence_hypotheses": readout.sentences(columns), "prior_sentence": readout.prior_sentence(columns.shape[1]),
            "sentence_beta": readout.beta}


def evaluate_model(model, data: PreparedDataset, unseen: Sequence[str], trial: int, settings: GridSettings,
                   pairing: str, caption_length: int, sentence_readout: bool = False) -> dict[str, Any]:
    """Every protocol on the unseen classes of one trial: zero-shot, discovery, retrieval, captions
    (and, when ``sentence_readout``, their :func:`sentence_captions`), and the text decoder's round
    trip of unseen-class sentences (word accuracy, with its chance): the evaluation fields of a
    :class:`CellResult`, by name."""
    from mmar.evaluation.captioning import caption_columns, decode_captions, references, round_trip_word_accuracy
    from mmar.evaluation.discovery import discovery_scores
    from mmar.evaluation.retrieval import retrieval_scores
    from mmar.evaluation.zero_shot import query_pairing, zero_shot_scores, zero_shot_test
    from mmar.training import embed_rows

    test = zero_shot_test(data, unseen, sentences_per_class=settings.sentences_per_class, seed=trial,
                          reference_videos_per_class=settings.reference_videos_per_class,
                          video_unit=settings.video_unit, video_subset=settings.video_subset)
    video_pairing = query_pairing(settings.video_unit, pairing)
    unseen_rows = data.rows(classes=list(unseen))
    pairs = embed_rows(model, data, unseen_rows, pairing=pairing)
    position = {int(r): i for i, r in enumerate(unseen_rows)}
    sentence_index = np.array([position[int(r)] for r in test.sentence_rows])
    videos = embed_rows(model, data, test.video_rows, pairing=video_pairing, max_frames=settings.eval_max_frames)
    sentences, sentence_labels = pairs["text"][sentence_index], pairs["class_index"][sentence_index]
    # at most caption_max_videos queries, evenly spaced over the (class-ordered) queries: every class has captions
    caption_rows = _evenly_spaced(test.video_rows, settings.caption_max_videos)
    vectors, words = _vocabulary(data, settings.word_source, unseen)
    columns = caption_columns(model, data, caption_rows, length=caption_length, pairing=video_pairing,
                              max_frames=settings.eval_max_frames)
    captions = decode_captions(model, data, caption_rows, length=caption_length, vectors=vectors, words=words,
                               columns=columns)
    read_as_sentences = sentence_captions(model, data, unseen, columns) if sentence_readout else {}
    return {
        "n_test_videos": int(len(test.video_rows)),
        "reference_videos": test.reference_videos,
        "n_sentences": int(len(test.sentence_rows)),
        "n_retrieval_pairs": int(len(unseen_rows)),
        "zero_shot": ZeroShotScores(**zero_shot_scores(videos["video"], videos["class_index"], sentences,
                                                       sentence_labels)),
        "discovery": DiscoveryScores(**discovery_scores(videos["video"], videos["class_index"], k=len(unseen),
                                                        seed=trial)),
        "retrieval": retrieval_scores(pairs["video"], pairs["text"]),
        "text_round_trip": RoundTripScores(**round_trip_word_accuracy(model, data, _evenly_spaced(unseen_rows,
                                                                                                  ROUND_TRIP_SENTENCES),
                                                                      vectors=vectors, words=words)),
        "captions": CellCaptions(
            video_ids=[str(v) for v in data.sentences["video_id"].to_numpy()[caption_rows]],
            classes=[str(c) for c in data.sentences["class_name"].to_numpy()[caption_rows]],
            hypotheses=captions,
            references=references(data, caption_rows, unit=settings.video_unit),
            length=int(caption_length),
            word_source=settings.word_source,
            **read_as_sentences,
        ),
    }


@dataclass
class EnsemblePlan:
    """Cells trained together as one ensemble; ``key`` names its checkpoint folder."""

    key: str
    cells: list[Cell]


def plan_ensembles(cells: Sequence[Cell], members: int | None = None) -> list[EnsemblePlan]:
    """Group distinct cells by training structure (:func:`mmar.training.structure_key` and whether
    they have paired / unpaired rows), in first-seen order, in chunks of at most ``members``."""
    from mmar.training import TrainConfig, split_unpaired, structure_key

    groups: dict[tuple, list[Cell]] = {}
    for cell in {c.key: c for c in cells}.values():
        config = TrainConfig.from_dict(cell.config)
        paired, unpaired = split_unpaired(cell.train_rows, config.unpaired_fraction, config.seed)
        shape = (structure_key(config), len(paired) > 0, len(unpaired) + len(cell.unpaired_rows) > 0)
        groups.setdefault(shape, []).append(cell)
    plans = []
    for group in groups.values():
        size = len(group) if members is None else max(1, members)
        for start in range(0, len(group), size):
            chunk = group[start:start + size]
            key = hashlib.sha1("".join(c.key for c in chunk).encode()).hexdigest()[:16]
            plans.append(EnsemblePlan(key, chunk))
    return plans


def pair_epochs(cell: Cell) -> int:
    """Training pairs times epochs of one cell (all phases): its share of the grid's work."""
    from mmar.training import TrainConfig, phases

    return (len(cell.train_rows) + len(cell.unpaired_rows)) * len(phases(TrainConfig.from_dict(cell.config)))


def work_estimate(cell: Cell) -> float:
    """A cell's relative cost for scheduling: :func:`pair_epochs` times (1 + its number of loss
    terms). Each term adds forward and backward passes: measured per 15,000 pair-epochs on the
    default stand-in, joint 14.5 s, joint + recons 20.8 s, recons + cross 24.2 s, all four 33.6 s."""
    return pair_epochs(cell) * (1 + len(cell.config.get("losses", ())))


def _cell_path(cache_dir: str | Path, key: str) -> Path:
    return Path(cache_dir) / "cells" / f"{key}.json"


def _write_json(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    tmp.replace(path)


def _error(cell: Cell, error: BaseException) -> CellFailure:
    return CellFailure(key=cell.key, row=cell.row.label, experiment=cell.row.experiment, k=cell.k, trial=cell.trial,
                       error=f"{type(error).__name__}: {error}")


def run_ensemble(data_root: str, plan: EnsemblePlan, settings: GridSettings, cache_dir: str, *,
                 device: str = "auto", executor: str = "auto", threads: int | None = 1) -> list[CellRecord]:
    """Train one ensemble and evaluate its members (or read their cached results). Safe to run in a
    worker process or a SLURM job. A failure is returned as a :class:`CellFailure` per cell, never cached."""
    import torch

    from mmar.evaluation.captioning import default_length
    from mmar.training import TrainConfig, train_ensemble

    done = {c.key: CellResult.load(_cell_path(cache_dir, c.key)) for c in plan.cells
            if _cell_path(cache_dir, c.key).is_file()}
    if len(done) == len(plan.cells):
        return [done[c.key] for c in plan.cells]
    if threads is not None:
        torch.set_num_threads(threads)
    data = _dataset(data_root)
    configs = [TrainConfig.from_dict(c.config) for c in plan.cells]
    folder = Path(cache_dir) / "ensembles" / plan.key
    cpu, tic = time.process_time(), time.perf_counter()
    try:
        curves = any(settings.curves_for(c.row.label) for c in plan.cells)
        probe = _probe(data, plan, settings) if curves else None
        result = train_ensemble(configs, data, [c.train_rows for c in plan.cells], folder,
                                unpaired_rows=[c.unpaired_rows for c in plan.cells], device=device,
                                executor=executor, progress=False, epoch_callback=probe)
    except Exception as error:  # one failing ensemble must not stop a long grid; reported, never cached
        return [done.get(c.key) or _error(c, error) for c in plan.cells]
    train_seconds, train_cpu = time.perf_counter() - tic, time.process_time() - cpu
    members = len(plan.cells)
    records = []
    for i, cell in enumerate(plan.cells):
        if cell.key in done:
            records.append(done[cell.key])
            continue
        cpu, tic = time.process_time(), time.perf_counter()
        try:
            model = result.models[i]
            length = settings.caption_length or default_length(data, cell.train_rows)
            evaluation = evaluate_model(model.cpu(), data, cell.unseen, cell.trial, settings, configs[i].pairing,
                                        length, sentence_readout=cell.row.label in TABLE5_LABELS)
        except Exception as error:
            records.append(_error(cell, error))
            continue
        history = result.histories[i]
        record = CellResult(
            key=cell.key, row=cell.row.label, experiment=cell.row.experiment, k=cell.k, trial=cell.trial,
            unseen=cell.unseen, config=cell.config, seed=configs[i].seed, data_mode=cell.row.data_mode,
            n_paired=int(len(result.members[i].paired)), n_unpaired=int(len(result.members[i].unpaired)),
            # training time is shared by the ensemble's members: each cell records its share
            train_seconds=train_seconds / members, eval_seconds=time.perf_counter() - tic,
            cpu_seconds=train_cpu / members + time.process_time() - cpu,
            ensemble=EnsembleInfo(key=plan.key, members=members, executor=result.executor, device=str(result.device),
                                  threads=torch.get_num_threads(), batches=result.extra.get("source", "")),
            final_losses={k: float(v) for k, v in history.iloc[-1].items() if isinstance(v, (int, float))}
            if len(history) else {},
            history=json.loads(history.to_json(orient="records")),
            **evaluation,
        )
        _write_json(_cell_path(cache_dir, cell.key), record.to_json())
        records.append(record)
    if not failed_cells(records):  # the checkpoint is only needed to resume training
        (folder / "checkpoint.pt").unlink(missing_ok=True)
    return records


def _probe(data: PreparedDataset, plan: EnsemblePlan, settings: GridSettings):
    """The per-epoch probe of a plan's cells: each cell's own unseen classes (its trial's queries and
    references, chosen and embedded as :func:`evaluate_model` does) and ``settings.curve_val_pairs`` val pairs of
    its seen classes."""
    from mmar.evaluation.zero_shot import query_pairing, zero_shot_test
    from mmar.experiments.convergence import HeldOutProbe
    from mmar.training import TrainConfig

    tests, val_rows = [], []
    for cell in plan.cells:
        tests.append(zero_shot_test(data, cell.unseen, sentences_per_class=settings.sentences_per_class,
                                    seed=cell.trial, reference_videos_per_class=settings.reference_videos_per_class,
                                    video_unit=settings.video_unit, video_subset=settings.video_subset))
        val_rows.append(probe_val_rows(data, cell.unseen, cell.k, cell.trial, settings))
    pairing = TrainConfig.from_dict(plan.cells[0].config).pairing  # a training structure: one pairing
    return HeldOutProbe(data, tests, val_rows, [{"key": c.key} for c in plan.cells],
                        video_pairing=query_pairing(settings.video_unit, pairing), max_frames=settings.eval_max_frames)


def _submitit_map(plans: Sequence[EnsemblePlan], job, cache_dir: Path, dispatch: str,
                  slurm: dict[str, Any] | None):
    """Submit one job per ensemble as a submitit job array; yield each job's records when done."""
    import submitit

    folder = cache_dir / "submitit" / "%j"
    pool = submitit.AutoExecutor(folder=folder, cluster="slurm" if dispatch == "slurm" else "local")
    pool.update_parameters(**(slurm or {}))
    jobs = pool.map_array(job, list(plans))
    for plan, j in zip(plans, jobs):
        try:
            yield j.result()
        except Exception as error:  # a failed or killed job: its cells are reported, not cached
            yield [_error(c, error) for c in plan.cells]


def run_grid(data: PreparedDataset, cells: Sequence[Cell], settings: GridSettings, cache_dir: str | Path, *,
             processes: int = 1, threads: int | None = 1, progress: bool | None = None, device: str = "auto",
             executor: str = "auto", members: int | None = None, dispatch: str = "auto",
             slurm: dict[str, Any] | None = None) -> list[CellRecord]:
    """Results of ``cells`` (in order), training the ensembles not cached yet.

    ``dispatch`` "auto": over ``processes`` local worker processes when > 1, else inline. ``threads``
    torch threads per process. ``device`` / ``executor``: see :func:`mmar.training.train_ensemble`;
    ``members``: the most cells per ensemble (None: a whole group). ``slurm``: submitit parameters
    (e.g. ``{"slurm_partition": "gpu", "gpus_per_node": 1, "timeout_min": 120}``).

    A cell whose training or evaluation raised comes back as a :class:`CellFailure` (not cached, so
    it runs again next time); :func:`~mmar.experiments.records.failed_cells` lists them.
    """
    if dispatch not in DISPATCHES:
        raise ValueError(f"dispatch must be one of {DISPATCHES}, got {dispatch!r}")
    if dispatch == "auto":
        dispatch = "processes" if processes > 1 else "inline"
    cache_dir = Path(cache_dir)
    plans = plan_ensembles(cells, members)
    pending = [p for p in plans if not all(_cell_path(cache_dir, c.key).is_file() for c in p.cells)]
    # longest first, so that the last ensemble to start is a short one (workers finish together)
    pending.sort(key=lambda p: -sum(work_estimate(c) for c in p.cells))
    root = str(data.root)
    total = len({c.key for c in cells})
    bar = tqdm(total=total, initial=total - sum(len(p.cells) for p in pending), desc="grid cells",
               disable=progress is False if progress is not None else None)
    failed: dict[str, CellFailure] = {}

    def collect(records: list[CellRecord]) -> None:
        failed.update({record.key: record for record in failed_cells(records)})
        bar.update(len(records))

    kwargs = {"device": device, "executor": executor, "threads": threads}
    if dispatch == "processes" and len(pending) > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
            futures = [pool.submit(run_ensemble, root, p, settings, str(cache_dir), **kwargs) for p in pending]
            for future in as_completed(futures):
                collect(future.result())
    elif dispatch in ("slurm", "submitit-local") and pending:
        job = _EnsembleJob(root, settings, str(cache_dir), kwargs)
        for records in _submitit_map(pending, job, cache_dir, dispatch, slurm):
            collect(records)
    elif pending:
        import torch

        _WORKER.update({"root": root, "data": data})
        previous = torch.get_num_threads()
        try:
            for plan in pending:
                collect(run_ensemble(root, plan, settings, str(cache_dir), **kwargs))
        finally:
            torch.set_num_threads(previous)
    bar.close()
    # A cached cell may have been computed for another row with the same training (e.g. Table 6's
    # attention row is Table 1's "joint" row): each is labelled as the row asked for.
    return [(failed[cell.key] if cell.key in failed else CellResult.load(_cell_path(cache_dir, cell.key)))
            .labelled(cell.row.label, cell.row.experiment) for cell in cells]


class _EnsembleJob:
    """A picklable callable for submitit: ``job(plan) -> records`` (:func:`run_ensemble`)."""

    def __init__(self, root: str, settings: GridSettings, cache_dir: str, kwargs: dict[str, Any]) -> None:
        self.root, self.settings, self.cache_dir, self.kwargs = root, settings, cache_dir, kwargs

    def __call__(self, plan: EnsemblePlan) -> list[CellRecord]:
        return run_ensemble(self.root, plan, self.settings, self.cache_dir, **self.kwargs)


def failure_not_run(results: Sequence[CellRecord], rows: Sequence[GridRow]) -> tuple[list[tuple[str, str, str]], list[str]]:
    """``(paper cells, reasons)`` for :func:`not_run_table`: every failed cell, with its error."""
    by_label = {row.label: row for row in rows}
    cells, reasons = [], []
    for failure in failed_cells(results):
        row = by_label.get(failure.row)
        table, paper_row, column = row.paper_cell(failure.k) if row is not None else ("", "", "")
        cells.append((table, paper_row or failure.row, column or f"{failure.k} unseen"))
        reasons.append(f"trial {failure.trial} failed: {failure.error}")
    return cells, reasons
