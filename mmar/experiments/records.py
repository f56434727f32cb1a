"""What one grid cell left: :class:`CellResult` (training and every evaluation protocol, cached as
``<cache_dir>/cells/<key>.json``) or :class:`CellFailure` (an error, never cached).

Each record reads and writes the JSON layout of the cell cache with :meth:`CellResult.from_json` /
:meth:`CellResult.to_json`; the scores of each protocol are typed (:class:`ZeroShotScores`,
:class:`DiscoveryScores`, :class:`RoundTripScores`, :class:`CellCaptions`). Retrieval scores and
final losses stay flat ``{metric name: value}`` mappings (their names, e.g. ``t2v_R@1``, are data).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Sequence

import pandas as pd


@dataclass(frozen=True)
class ZeroShotScores:
    """Zero-shot accuracy (%) on a trial's unseen classes (:func:`mmar.evaluation.zero_shot.zero_shot_scores`):
    ``nn_accuracy`` (the paper's 1-NN to class sentences) and ``prototype_accuracy`` (nearest class mean, ours)."""

    nn_accuracy: float
    prototype_accuracy: float


@dataclass(frozen=True)
class DiscoveryScores:
    """k-means on video embeddings (:func:`mmar.evaluation.discovery.discovery_scores`): cluster-vote
    ``accuracy`` (%), ``nmi`` and ``ari``."""

    accuracy: float
    nmi: float
    ari: float


@dataclass(frozen=True)
class RoundTripScores:
    """The text decoder's round trip G_T(E_T(t)) of unseen-class sentences: ``word_accuracy`` (%) and
    its ``chance`` (always the most frequent word, %)."""

    word_accuracy: float
    chance: float


@dataclass(frozen=True)
class CellCaptions:
    """Captions of a trial's captioned test videos, one per video (in ``video_ids`` order).

    ``hypotheses``: the paper's read-out (nearest word per decoder column); ``references``: each
    video's reference sentences; ``length``: decoder columns per caption; ``word_source``: the
    vocabulary ("prepared" | "glove"). For Table 5's models also the sentence read-out
    (``sentence_hypotheses``), the seen-class prior's own sentence (``prior_sentence``) and the
    read-out's fitted emission weight (``sentence_beta``); None for the other rows.
    """

    video_ids: list[str]
    classes: list[str]
    hypotheses: list[str]
    references: list[list[str]]
    length: int
    word_source: str
    sentence_hypotheses: list[str] | None = None
    prior_sentence: str | None = None
    sentence_beta: float | None = None

    def readout(self, name: str) -> list[str] | None:
        """The captions of read-out ``name`` ("hypotheses" | "sentence_hypotheses"), None if not recorded."""
        if name not in ("hypotheses", "sentence_hypotheses"):
            raise ValueError(f"unknown caption read-out {name!r}")
        return getattr(self, name)


@dataclass(frozen=True)
class EnsembleInfo:
    """The ensemble that trained a cell: its checkpoint folder ``key``, ``members``, ``executor``
    ("vmap" | "loop"), ``device``, torch ``threads`` and where its ``batches`` came from."""

    key: str
    members: int
    executor: str
    device: str
    threads: int
    batches: str


@dataclass(frozen=True)
class CellResult:
    """One trained and evaluated grid cell (a grid row at ``k`` unseen classes in ``trial``).

    Training: ``config`` (:class:`mmar.training.TrainConfig` fields), ``seed``, ``data_mode``,
    ``n_paired`` / ``n_unpaired`` rows, ``final_losses`` and ``history`` (one entry per epoch:
    ``epoch``, ``phase``, the loss terms, ``lr`` and, when curves were asked for, ``probe_*``; see
    :meth:`history_frame`), the seconds it took (training shared among the ensemble's members).
    Evaluation on the trial's ``unseen`` classes: ``n_test_videos`` queries, ``n_sentences`` class
    sentences (from the ``reference_videos``, which are never queries),
    ``n_retrieval_pairs`` sentence-segment pairs, and the scores of each protocol.
    """

    key: str
    row: str
    experiment: str
    k: int
    trial: int
    unseen: list[str]
    config: dict[str, Any]
    seed: int
    data_mode: str
    n_paired: int
    n_unpaired: int
    train_seconds: float
    eval_seconds: float
    cpu_seconds: float
    ensemble: EnsembleInfo
    final_losses: dict[str, float]
    history: list[dict[str, Any]]
    n_test_videos: int
    reference_videos: list[str]
    n_sentences: int
    n_retrieval_pairs: int
    zero_shot: ZeroShotScores
    discovery: DiscoveryScores
    retrieval: dict[str, float]
    text_round_trip: RoundTripScores
    captions: CellCaptions

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> "CellResult":
        """A record in the cell cache's JSON layout (as :meth:`to_json` writes it)."""
        known = {f.name for f in fields(cls)}
        missing = known - set(record)
        if missing:
            raise ValueError(f"cell record {record.get('key', '?')} lacks {sorted(missing)}")
        values = {name: record[name] for name in known}
        for name, kind in _NESTED.items():
            values[name] = kind(**values[name])
        return cls(**values)

    @classmethod
    def load(cls, path: str | Path) -> "CellResult":
        """The cell result cached at ``path``; an unreadable or incomplete file is named in the error (delete
        it and the grid trains that cell again)."""
        try:
            return cls.from_json(json.loads(Path(path).read_text()))
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError(f"{path}: not a cell result ({error}); delete it to train the cell again") from error

    def to_json(self) -> dict[str, Any]:
        """The cell cache's JSON layout: nested objects as dicts, caption fields that are None left out."""
        record = asdict(self)
        record["captions"] = {k: v for k, v in record["captions"].items() if v is not None}
        return record

    def labelled(self, row: str, experiment: str) -> "CellResult":
        """The same result under another grid row's label (a cached cell may serve several rows)."""
        return replace(self, row=row, experiment=experiment)

    def history_frame(self) -> pd.DataFrame:
        """``history`` as a table, one row per epoch (columns ``epoch``, ``phase``, loss terms, ``lr``...)."""
        return pd.DataFrame(self.history)


#: The typed parts of a :class:`CellResult`, by field name.
_NESTED = {"ensemble": EnsembleInfo, "zero_shot": ZeroShotScores, "discovery": DiscoveryScores,
           "text_round_trip": RoundTripScores, "captions": CellCaptions}


@dataclass(frozen=True)
class CellFailure:
    """A cell whose training or evaluation raised ``error`` ("Type: message"); it runs again next time."""

    key: str
    row: str
    experiment: str
    k: int
    trial: int
    error: str

    def labelled(self, row: str, experiment: str) -> "CellFailure":
        return replace(self, row=row, experiment=experiment)


CellRecord = CellResult | CellFailure


def finished(records: Sequence[CellRecord]) -> list[CellResult]:
    """The cells that trained and evaluated (failures dropped)."""
    return [r for r in records if isinstance(r, CellResult)]


def failed_cells(records: Sequence[CellRecord]) -> list[CellFailure]:
    """The cells that raised (see :func:`mmar.experiments.run_grid`)."""
    return [r for r in records if isinstance(r, CellFailure)]


@dataclass(frozen=True)
class BaselineDiscovery:
    """Discovery scores of k-means on the time-averaged input features of one trial's test videos."""

    trial: int
    k: int
    discovery: DiscoveryScores

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> "BaselineDiscovery":
        return cls(trial=record["trial"], k=record["k"], discovery=DiscoveryScores(**record["discovery"]))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
