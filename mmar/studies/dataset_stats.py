"""The prepared dataset as notebook 01 shows it: preparation parameters per source, statistics beside
the real ActivityNet Captions annotations, the class structure of the features, the zero-shot
splits, and the result rows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd

from mmar.data.classes import class_name_words
from mmar.data.diagnostics import DIAGNOSTIC_LABELS, DataDiagnostics, diagnose, sentence_diagnostics
from mmar.data.glove import GloveVectors
from mmar.data.kinetics import default_matches, kinetics_counts, unseen_counterparts
from mmar.data.prepared import PreparedDataset
from mmar.data.standin import STOPWORDS
from mmar.data.stats import (REAL_ANNOTATIONS_COLUMN, REAL_ANNOTATIONS_NOTE, STAT_NAMES, annotated_videos_table,
                             class_similarities, nearest_class_mean_accuracy, per_sentence, pooled_features,
                             sentence_stats, statistics_rows)
from mmar.paths import activitynet_annotations_dir, display_path
from mmar.provenance import Run
from mmar.results import ACTIVITYNET_ANNOTATIONS, ResultRow
from mmar.studies.display import number
from mmar.studies.settings import NotebookSettings


@dataclass(frozen=True)
class DataSettings(NotebookSettings):
    """Notebook 01's settings (values and their meaning: ``mmar/profiles.yaml``).

    ``data_source`` "standin" or "activitynet"; the stand-in's size and generator (``n_classes``,
    ``videos_per_class``, ``class_selection``, ``generator``, ``nuisance``, ``noise``, ``stride_frames``,
    ``feature_dim``); the real annotations and features (``annotations_dir``, ``features``,
    ``max_videos_per_class``, ``standin_path``, ``on_error``: skip or stop at a bad entry); ``glove``; ``pairing``; the zero-shot splits
    (``unseen_ks``, ``n_trials``, ``unseen_pool``); ``compare_real``: show the real annotations' statistics.
    """

    notebook: ClassVar[str] = "01_data"
    seed: int
    data_source: str
    n_classes: int | None
    videos_per_class: int
    class_selection: str
    generator: str
    nuisance: float
    noise: float
    stride_frames: int
    feature_dim: int
    annotations_dir: str | None
    features: str | None
    max_videos_per_class: int | None
    standin_path: str | None
    on_error: str
    glove: str | None
    pairing: str
    unseen_ks: list[int]
    n_trials: int
    unseen_pool: str
    compare_real: bool

    minimums: ClassVar[Mapping[str, float]] = {"seed": 0, "n_classes": 2, "videos_per_class": 1, "nuisance": 0,
                                               "noise": 0, "stride_frames": 1, "feature_dim": 1,
                                               "max_videos_per_class": 1, "unseen_ks": 2, "n_trials": 1}

    def unread(self) -> dict[str, str]:
        """``{setting: why}`` of the settings the chosen preparation does not read: with real annotations, the
        stand-in's size, and its video generator when ``features`` are given (prepare_activitynet ignores them)."""
        if self.data_source != "activitynet":
            return {}
        unread = {name: "not used with data_source='activitynet'" for name in STANDIN_ONLY}
        if self.features:
            unread.update({name: "not used: features are given"
                           for name in ("feature_dim", "generator", "nuisance", "standin_path")})
        return unread

    def __str__(self) -> str:
        """One ``name = value`` line per setting, each setting :meth:`unread` marked with why."""
        unread = self.unread()
        return "\n".join(line + (f"  # {unread[name]}" if name in unread else "")
                         for name, line in zip(self.names(), super().__str__().splitlines()))


#: The parameters of notebook 01 that each data source's preparation takes (besides the shared ones).
SOURCE_PARAMETERS = {
    "standin": ("n_classes", "videos_per_class", "class_selection", "noise", "stride_frames", "feature_dim",
                "unseen_pool", "generator", "nuisance"),
    "activitynet": ("annotations_dir", "features", "n_classes", "max_videos_per_class", "feature_dim", "standin_path",
                    "on_error", "unseen_pool", "generator", "nuisance"),
}
#: Settings only the stand-in's preparation reads.
STANDIN_ONLY = tuple(sorted(set(SOURCE_PARAMETERS["standin"]) - set(SOURCE_PARAMETERS["activitynet"])))
#: The column name of the real annotations' statistics.
REAL_ANNOTATIONS = REAL_ANNOTATIONS_COLUMN  # the statistics column of the real annotation files


def preparation_parameters(settings: DataSettings, glove: GloveVectors) -> dict[str, Any]:
    """Keyword arguments of :func:`mmar.data.prepare.prepare_dataset` for ``settings.data_source``: the
    shared ones plus the settings that this source takes (:data:`SOURCE_PARAMETERS`)."""
    if settings.data_source not in SOURCE_PARAMETERS:
        raise ValueError(f"data_source must be one of {sorted(SOURCE_PARAMETERS)}, got {settings.data_source!r}")
    own = {k: getattr(settings, k) for k in SOURCE_PARAMETERS[settings.data_source]}
    return dict(own, glove=glove, unseen_ks=list(settings.unseen_ks), n_trials=settings.n_trials, seed=settings.seed,
                pairing=settings.pairing, progress=False)


def describe(data: PreparedDataset) -> str:
    """What the prepared dataset is: source banner, features, word vectors, counts, OOV words."""
    meta = data.meta
    banner = f"DATA SOURCE: {data.data_source.upper()}"
    oov = meta["oov"]
    lines = ["=" * len(banner), banner, "=" * len(banner), meta["description"],
             f"video features: {meta['feature_extractor']} | {meta['feature_dim']}-d, {meta['fps']:g} fps, one feature per "
             f"{meta['stride_frames']} frames ({meta['fps'] / meta['stride_frames']:.3f} per second)",
             f"word vectors: {meta['word_vectors']} ({data.word_dim}-d); vocabulary {len(data.vocab_words)} words incl. <pad>",
             f"pairing: {meta['pairing']}; classes: {len(data.classes)}",
             f"counts: {meta['counts']}",
             f"OOV: {oov['n_oov_tokens']} of {oov['n_tokens']} tokens ({100 * oov['oov_rate']:.2f}%), {oov['n_oov_words']} "
             f"distinct; {oov['n_split_compounds']} hyphenated compounds split; {oov['n_empty_sentences']} sentences "
             f"empty; most common: {oov['most_common'][:10]}"]
    if "skipped_summary" in meta:
        lines.append(f"skipped: {meta['skipped_summary']}")
    return "\n".join(lines)


@dataclass(frozen=True)
class RealSentences:
    """The real ActivityNet Captions training (``train_modified``, or ``train`` where only that one is given) and
    ``val_1`` sentences, one row each
    (:func:`mmar.data.stats.per_sentence`; None when not compared or not available), and a ``note``
    saying where they came from or why there are none."""

    sentences: pd.DataFrame | None
    note: str


def real_annotation_sentences(settings: DataSettings) -> RealSentences:
    """The real annotations beside this run's data when ``settings.compare_real``: from
    ``settings.annotations_dir``, else ``../shared``'s copy (:func:`mmar.paths.activitynet_annotations_dir`)."""
    if not settings.compare_real:
        return RealSentences(None, "real ActivityNet Captions annotations not compared (compare_real is False)")
    annotations_dir = settings.annotations_dir or activitynet_annotations_dir()
    if annotations_dir is None:
        return RealSentences(None, "real ActivityNet Captions annotations not available: showing this run's data only")
    from mmar.data.activitynet import load_activitynet

    videos, _, report = load_activitynet(annotations_dir, ("train_modified", "val_1"))
    return RealSentences(per_sentence(annotated_videos_table(videos)),
                         f"real annotations from {display_path(annotations_dir)}: {report.summary()}")


def statistics(data: PreparedDataset, real: pd.DataFrame | None = None) -> dict[str, dict[str, float]]:
    """``{source: {statistic: value}}`` for the run's data and, when given, the real annotations."""
    stats = {data.data_source: sentence_stats(data.sentences)}
    if real is not None:
        stats[REAL_ANNOTATIONS] = sentence_stats(real)
    return stats


def statistics_table(stats: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Statistics as a table: rows named by :data:`mmar.data.stats.STAT_NAMES` and in its order (pandas
    versions order the union of the sources' keys differently), one column per source."""
    table = pd.DataFrame(stats)
    order = [name for name in STAT_NAMES if name in table.index] + [n for n in table.index if n not in STAT_NAMES]
    return table.loc[order].rename(index=STAT_NAMES)


def video_table(data: PreparedDataset) -> pd.DataFrame:
    """One row per video (first sentence's columns of :func:`per_sentence`) plus ``n_steps``, its feature steps."""
    store = data.feature_store()
    videos = per_sentence(data.sentences).drop_duplicates("video_id").reset_index(drop=True)
    videos["n_steps"] = [store.length(v) for v in videos["video_id"]]
    return videos


def pooled_video_features(data: PreparedDataset, videos: pd.DataFrame) -> dict[int, np.ndarray]:
    """The features of every video of ``videos`` (:func:`video_table`), read once from the store and
    mean-pooled whole (key 1: (n_videos, C)) and over thirds (key 3: (n_videos, 3 C)), rows in the order
    of ``videos``: what :func:`class_structure` and :func:`data_diagnostics` take."""
    return pooled_features(data.feature_store(), videos["video_id"], parts=(1, 3))


def _check_pooled(pooled: dict[int, np.ndarray], videos: pd.DataFrame, parts: tuple[int, ...]) -> None:
    for p in parts:
        if p not in pooled or len(pooled[p]) != len(videos):
            got = ", ".join(f"parts={k}: {len(v)} rows" for k, v in sorted(pooled.items()))
            raise ValueError(f"pooled features need parts={p} with {len(videos)} rows, one per video of the video "
                             f"table (pooled_video_features(data, videos)); got {got or 'nothing'}")


@dataclass
class ClassStructure:
    """How separable the classes' features are and how feature similarity follows name similarity.

    ``ncm``: parts -> nearest-class-mean accuracy (%) on val videos (features pooled over 1 and 3
    parts); ``name_similarity`` / ``feature_similarity``: (C, C); ``similarity_r``: their Pearson r
    over class pairs."""

    ncm: dict[int, float]
    chance: float
    n_val_videos: int
    name_similarity: np.ndarray
    feature_similarity: np.ndarray
    similarity_r: float

    def summary(self, data_source: str) -> str:
        pairs = len(self.name_similarity) * (len(self.name_similarity) - 1) // 2
        return (f"nearest-class-mean accuracy on val videos ({data_source}): mean-pooled {self.ncm[1]:.1f}%, "
                f"thirds-pooled {self.ncm[3]:.1f}% (chance {self.chance:.1f}%, {self.n_val_videos} val videos)\n"
                f"correlation of GloVe name similarity and feature-mean similarity over {pairs} class pairs: "
                f"{self.similarity_r:.2f}")


def class_structure(data: PreparedDataset, videos: pd.DataFrame, pooled: dict[int, np.ndarray], glove: GloveVectors
                    ) -> ClassStructure:
    """Nearest-class-mean accuracy (train videos of all classes -> val videos) on mean- and
    thirds-pooled features (``pooled``: :func:`pooled_video_features`), and the similarity of classes by
    name vs by mean feature."""
    _check_pooled(pooled, videos, (1, 3))
    labels = data.class_index(videos["class_name"])
    is_train = (videos["subset"] == "train").to_numpy()
    ncm = {parts: 100 * nearest_class_mean_accuracy(x[is_train], labels[is_train], x[~is_train], labels[~is_train])
           for parts, x in pooled.items()}
    class_means = np.stack([pooled[1][labels == c].mean(axis=0) for c in range(len(data.classes))])
    name_sim, feature_sim = class_similarities(data.classes, glove, class_means)
    pairs = np.triu_indices(len(data.classes), 1)
    r = float(np.corrcoef(name_sim[pairs], feature_sim[pairs])[0, 1])
    return ClassStructure(ncm, 100 / len(data.classes), int((~is_train).sum()), name_sim, feature_sim, r)


def class_words(classes: list[str], glove: GloveVectors) -> dict[str, set[str]]:
    """Class -> the content words of its name (those that count as a sentence naming its class)."""
    return {c: {w for w in class_name_words(c, glove) if w not in STOPWORDS} for c in classes}


@dataclass(frozen=True)
class TextDiagnostics:
    """The text-side diagnostics of the real annotation files: between-class share of sentence-vector
    variance and % of sentences naming their class (:func:`mmar.data.diagnostics.sentence_diagnostics`)."""

    sentence_between_class_share: float
    class_name_mention_share: float
    n_sentences: int


@dataclass(frozen=True)
class RunDiagnostics:
    """The diagnostics of the run's data (``data``) and, when the annotation files are on disk, the real
    annotations' text diagnostics (``real``)."""

    data: DataDiagnostics
    real: TextDiagnostics | None

    def table(self) -> pd.DataFrame:
        """The run's diagnostics (:meth:`DataDiagnostics.table`): what nbval compares."""
        return self.data.table()

    def beside_real(self) -> pd.DataFrame:
        """:meth:`table` with a column of the real annotations' text diagnostics, when available."""
        table = self.table()
        if self.real is not None:
            column = pd.Series(np.nan, index=table.index)
            column[DIAGNOSTIC_LABELS["sentence_between_class_share"]] = self.real.sentence_between_class_share
            column[DIAGNOSTIC_LABELS["class_name_mention_share"]] = self.real.class_name_mention_share
            table[REAL_ANNOTATIONS] = column
        return table


def data_diagnostics(data: PreparedDataset, videos: pd.DataFrame, pooled: dict[int, np.ndarray], glove: GloveVectors,
                     real: pd.DataFrame | None, draws: int = 10) -> RunDiagnostics:
    """:func:`mmar.data.diagnostics.diagnose` of the run's data: whole videos mean-pooled (``videos``:
    :func:`video_table`; ``pooled``: :func:`pooled_video_features`), the probe trained on the train videos
    and scored on the val videos; every sentence. With ``real`` (:func:`real_annotation_sentences`'
    ``sentences``), the same text diagnostics of the real annotations."""
    _check_pooled(pooled, videos, (1,))
    sentences = data.sentences
    own = diagnose(pooled[1], videos["class_name"].to_numpy(), (videos["subset"] == "train").to_numpy(),
                   sentences["text"].tolist(), sentences["class_name"].to_numpy(), glove, STOPWORDS,
                   class_words(data.classes, glove), draws=draws, seed=int(data.meta.get("split_seed", 0)))
    if real is None:
        return RunDiagnostics(own, None)
    share, mentions = sentence_diagnostics(real["text"].tolist(), real["class_name"].to_numpy(), glove, STOPWORDS,
                                           class_words(sorted(real["class_name"].unique()), glove))
    return RunDiagnostics(own, TextDiagnostics(share, mentions, len(real)))


def diagnostics_rows(diagnostics: RunDiagnostics, data: PreparedDataset, run: Run) -> list[ResultRow]:
    """Result rows (experiment ``data_diagnostics``) of :func:`data_diagnostics`: the run's data, and the real
    annotations' text (labelled ``activitynet annotations``) when they were available."""
    seed, (own, real) = run.seed, (diagnostics.data, diagnostics.real)
    common = dict(experiment="data_diagnostics", **run.row_fields(), seeds=[seed],
                  data_source=data.data_source, config={"draws": own.draws,
                                                        "generator": data.meta.get("standin", {}).get("generator")})
    rows = [ResultRow(metric=f"raw_kmeans_accuracy_k{k}", values=[value], unit="%", chance=own.vote_floor[k],
                      notes=f"k-means + voting on mean-pooled input features, {own.draws} draws of {k} classes; "
                            "chance: the same clusters with shuffled labels", **common)
            for k, value in sorted(own.raw_discovery.items())]
    rows.append(ResultRow(metric="linear_probe_accuracy", values=[own.linear_probe], unit="%", chance=own.probe_chance,
                          notes="ridge classifier, train videos -> val videos, all classes", **common))
    for metric, value in (("feature_between_class_share", own.feature_between_class_share),
                          ("sentence_between_class_share", own.sentence_between_class_share)):
        rows.append(ResultRow(metric=metric, values=[value], notes="eta squared of mean-pooled features / sentence vectors",
                              **common))
    rows.append(ResultRow(metric="class_name_mention_share", values=[own.class_name_mention_share], unit="%",
                          notes="sentences containing a word of their class's name", **common))
    if real is not None:
        common.update(data_source=ACTIVITYNET_ANNOTATIONS, config={})
        rows.append(ResultRow(metric="sentence_between_class_share", values=[real.sentence_between_class_share],
                              notes=f"eta squared of sentence vectors; {REAL_ANNOTATIONS_NOTE}", **common))
        rows.append(ResultRow(metric="class_name_mention_share", values=[real.class_name_mention_share], unit="%",
                              notes=f"sentences containing a word of their class's name; {REAL_ANNOTATIONS_NOTE}",
                              **common))
    return rows


def splits_table(data: PreparedDataset) -> pd.DataFrame:
    """One row per (unseen_k, trial): seen-class training sentences, unseen sentences, unseen classes.
    Raises if a training row of the seen classes belongs to an unseen class."""
    rows = []
    for k, trials in sorted(data.splits.items()):
        for trial, unseen in enumerate(trials):
            seen_rows = data.rows(exclude_classes=unseen, subset="train")
            leaked = set(data.sentences.loc[seen_rows, "class_name"]) & set(unseen)
            if leaked:
                raise AssertionError(f"unseen classes {sorted(leaked)} in the training rows of K={k}, trial {trial}")
            rows.append({"unseen_k": k, "trial": trial, "train sentences (seen classes)": len(seen_rows),
                         "unseen sentences": len(data.rows(classes=unseen)), "unseen classes": ", ".join(unseen)})
    return pd.DataFrame(rows)


def dataset_statistics_rows(data: PreparedDataset, stats: dict[str, dict[str, float]], structure: ClassStructure,
                            params: dict[str, Any], run: Run) -> list[ResultRow]:
    """Result rows (experiment ``dataset_statistics``) of notebook 01's statistics and class structure, each
    labelled with its data source; ``params`` (:func:`preparation_parameters`) is their config."""
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in params.items() if k != "glove"}
    config["glove"] = data.meta["word_vectors"]
    common = dict(experiment="dataset_statistics", **run.row_fields(), config=config, seeds=[run.seed])
    # the real annotation files are labelled `activitynet annotations` (never `activitynet`: real features)
    rows = statistics_rows({REAL_ANNOTATIONS_COLUMN if source == REAL_ANNOTATIONS else source: values
                            for source, values in stats.items()}, data.data_source, data.meta["description"],
                           profile=run.profile, run_path=str(run.dir), config=config, seed=run.seed)
    for parts, name in ((1, "ncm_accuracy_mean_pooled"), (3, "ncm_accuracy_thirds_pooled")):
        rows.append(ResultRow(metric=name, values=[structure.ncm[parts]], unit="%", chance=structure.chance,
                              data_source=data.data_source,
                              notes="nearest class mean, train videos -> val videos, all classes", **common))
    rows.append(ResultRow(metric="name_feature_similarity_correlation", values=[structure.similarity_r],
                          data_source=data.data_source, notes="Pearson r over class pairs", **common))
    return rows


@dataclass
class KineticsOverlap:
    """The run's classes beside the Kinetics-400 classes I3D was trained on (class names only,
    :mod:`mmar.data.kinetics`).

    ``counts``: :func:`~mmar.data.kinetics.kinetics_counts` of the run's classes (``classes``,
    ``same_name``, ``counterpart``, ``kinetics_disjoint``); ``matches``: their
    :func:`~mmar.data.kinetics.match_kinetics` table, one row per class; ``per_trial``:
    :func:`~mmar.data.kinetics.unseen_counterparts` of the run's splits, one row per (K, trial) with
    ``unseen_k``, ``trial``, ``n_unseen``, ``n_counterpart``, ``counterpart_share``, ``counterparts``;
    ``unseen_pool``: where the run drew its unseen classes (``all`` or ``kinetics_disjoint``)."""

    counts: dict[str, int]
    matches: pd.DataFrame
    per_trial: pd.DataFrame
    unseen_pool: str

    def summary(self) -> str:
        """The counts, the unseen pool, and per K the unseen classes with a counterpart per trial."""
        counts = self.counts
        lines = [f"Kinetics-400 counterparts of this run's {counts['classes']} class names: {counts['same_name']} "
                 f"of the same name, {counts['counterpart']} with a counterpart (same name or half the words), "
                 f"{counts['kinetics_disjoint']} Kinetics-disjoint; unseen classes drawn from: {self.unseen_pool}"]
        for k, trials in self.per_trial.groupby("unseen_k"):
            mean = number(float(trials["n_counterpart"].mean()))
            lines.append(f"K={k}: {mean} of {k} unseen classes per trial have a counterpart "
                         f"(trials: {', '.join(str(n) for n in trials['n_counterpart'])})")
        return "\n".join(lines)


def kinetics_overlap(data: PreparedDataset, glove: GloveVectors | None = None) -> KineticsOverlap:
    """:class:`KineticsOverlap` of the prepared dataset's classes and zero-shot splits; ``glove`` adds the
    names' GloVe cosines to ``matches`` (for review by eye; they do not decide a counterpart)."""
    matches = default_matches(glove, data.classes)
    return KineticsOverlap(kinetics_counts(matches), matches, unseen_counterparts(data.splits, matches),
                           data.meta["unseen_pool"])


#: Result metrics of :func:`kinetics_rows` for the keys of :attr:`KineticsOverlap.counts`.
KINETICS_COUNT_METRICS = {"same_name": "kinetics_same_name_classes", "counterpart": "kinetics_counterpart_classes",
                          "kinetics_disjoint": "kinetics_disjoint_classes"}


def kinetics_rows(overlap: KineticsOverlap, data: PreparedDataset, run: Run) -> list[ResultRow]:
    """Result rows (experiment ``kinetics_overlap``) of :func:`kinetics_overlap`: the counts of the run's
    classes (:data:`KINETICS_COUNT_METRICS`), then per K ``unseen_classes_with_kinetics_counterpart_k<K>``,
    whose values are the trials' counts (so its mean is the mean per trial)."""
    split_seed = data.meta["split_seed"]
    common = dict(experiment="kinetics_overlap", data_source=data.data_source, **run.row_fields(),
                  config={"unseen_pool": overlap.unseen_pool, "split_seed": split_seed}, seeds=[split_seed])
    names_only = "class names matched by mmar.data.kinetics, not features"
    rows = [ResultRow(metric=metric, values=[overlap.counts[key]], notes=f"of the run's classes; {names_only}",
                      **common) for key, metric in KINETICS_COUNT_METRICS.items()]
    for k, trials in overlap.per_trial.groupby("unseen_k"):
        rows.append(ResultRow(metric=f"unseen_classes_with_kinetics_counterpart_k{k}",
                              values=trials["n_counterpart"].tolist(),
                              notes=f"per trial, of K unseen classes; unseen pool {overlap.unseen_pool}; {names_only}",
                              **common))
    return rows
