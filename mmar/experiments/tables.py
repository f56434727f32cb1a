"""Grid results as tidy result rows (:class:`mmar.results.ResultRow`): zero-shot, retrieval,
discovery and captioning per (row, K) over trials, plus what this run does not compute and why."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from mmar.data.prepared import PreparedDataset
from mmar.experiments.cells import GridSettings, _digest, dataset_identity
from mmar.experiments.records import BaselineDiscovery, CellRecord, CellResult, DiscoveryScores, finished
from mmar.experiments.rows import DISCOVERY_MODELS, TABLE5_MODELS, GridRow
from mmar.provenance import Run, code_fingerprint
from mmar.results import ACTIVITYNET, ResultRow

@dataclass(frozen=True)
class ResultContext:
    """What every result row of a notebook records besides its values: the ``run`` (profile, folder, data
    source), the grid's ``settings`` and ``trials`` (trials asked for; a row's ``n_trials`` is lower when
    cells failed)."""

    run: Run
    settings: GridSettings
    trials: int

    @property
    def data_source(self) -> str:
        return str(self.run.data_source)

    @property
    def profile(self) -> str:
        return self.run.profile

    @property
    def run_path(self) -> str:
        return str(self.run.dir)


def _groups(results: Sequence[CellRecord]) -> dict[tuple[str, int], list[CellResult]]:
    """Successful cells grouped by (row label, K), each group in trial order."""
    groups: dict[tuple[str, int], list[CellResult]] = {}
    for record in sorted(finished(results), key=lambda r: r.trial):
        groups.setdefault((record.row, record.k), []).append(record)
    return groups


def _config(records: Sequence[CellResult], context: ResultContext, **extra: Any) -> dict[str, Any]:
    first = records[0]
    return {"row": first.row, "k": first.k, "train": first.config, "data_mode": first.data_mode,
            "n_paired": sorted({r.n_paired for r in records}), "n_unpaired": sorted({r.n_unpaired for r in records}),
            "n_test_videos": sorted({r.n_test_videos for r in records}),
            "trials_requested": context.trials,
            "evaluation": context.settings.eval_dict(), "max_train_rows": context.settings.max_train_rows,
            "max_unpaired_rows": context.settings.max_unpaired_rows, "cells": [r.key for r in records],
            "trainer": trainer_summary(records), **extra}


def trainer_summary(records: Sequence[CellResult]) -> list[dict[str, Any]]:
    """The distinct (executor, members, device, threads) of the ensembles that trained ``records``."""
    seen = {json.dumps({k: getattr(r.ensemble, k) for k in ("executor", "members", "device", "threads")},
                       sort_keys=True) for r in records}
    return [json.loads(s) for s in sorted(seen)]


def _row(context: ResultContext, records, experiment: str, metric: str, values, *, unit: str = "",
         chance: float = float("nan"), paper: tuple[str, str, str] = ("", "", ""), notes: str = "",
         **config_extra: Any) -> ResultRow:
    return ResultRow(experiment=experiment, metric=metric, values=list(values), data_source=context.data_source,
                     profile=context.profile, run_path=context.run_path, paper_table=paper[0], paper_row=paper[1],
                     paper_column=paper[2], unit=unit, chance=chance, config=_config(records, context, **config_extra),
                     seeds=[r.seed for r in records], notes=notes)


def zero_shot_rows(results: Sequence[CellRecord], rows: Sequence[GridRow], context: ResultContext
                   ) -> list[ResultRow]:
    """1-NN accuracy (the paper's metric, labelled with the paper's cell when the row has one) and
    the class-prototype accuracy (ours) per (row, K), over trials."""
    by_label = {row.label: row for row in rows}
    out = []
    for (label, k), records in _groups(results).items():
        row = by_label.get(label)
        if row is None:
            continue
        chance = 100.0 / k
        spc = context.settings.sentences_per_class
        paper = row.paper_cell(k)
        where = f"{label}; {k} unseen classes"
        out.append(_row(context, records, row.experiment, "accuracy", [r.zero_shot.nn_accuracy for r in records],
                        unit="%", chance=chance, paper=paper,
                        notes=f"{where}; 1-NN to {spc} sentences per unseen class"))
        out.append(_row(context, records, row.experiment, "prototype_accuracy",
                        [r.zero_shot.prototype_accuracy for r in records], unit="%", chance=chance,
                        notes=f"{where}; nearest class mean of {spc} sentence embeddings (ours)"))
    return out


def retrieval_rows(results: Sequence[CellRecord], k: int, context: ResultContext) -> list[ResultRow]:
    """Text-to-video and video-to-text R@1/5/10 (%) and median rank on the unseen classes (ours)."""
    from mmar.evaluation.retrieval import retrieval_chance

    out = []
    for (label, kk), records in _groups(results).items():
        if kk != k:
            continue
        n = int(np.mean([r.n_retrieval_pairs for r in records]))
        chance = retrieval_chance(n)
        for metric in records[0].retrieval:
            unit = "" if metric.endswith("median_rank") else "%"
            out.append(_row(context, records, "retrieval", metric, [r.retrieval[metric] for r in records], unit=unit,
                            chance=chance[metric], notes=f"{label}; {k} unseen classes; about {n} sentence-segment "
                            "pairs per trial (ours, not in the paper)"))
    return out


def discovery_rows(results: Sequence[CellRecord], k: int, baseline: Sequence[BaselineDiscovery],
                   context: ResultContext) -> list[ResultRow]:
    """k-means + cluster-vote accuracy, NMI and ARI on the unseen classes' video embeddings of the
    Table 1 models listed in :data:`DISCOVERY_MODELS`, plus the mean-pooled-feature baseline (called the paper's
    "Baseline I3D features" only on real ActivityNet features)."""
    note = (f"protocol of the paper's Tables 3/4 (k-means, k = {k}, cluster majority vote), applied to the "
            f"{k} unseen classes of this dataset, not to MLB-YouTube/HMDB/UCF")
    groups = _groups(results)
    out = []
    baseline_variant = ("Baseline I3D features (mean-pooled input features)" if context.data_source == ACTIVITYNET
                        else f"Baseline: raw input features, mean-pooled ({context.data_source})")
    for variant, label in [(baseline_variant, None), *DISCOVERY_MODELS.items()]:
        records = sorted(baseline, key=lambda r: r.trial) if label is None else groups.get((label, k), [])
        if not records:
            continue
        for metric, unit in (("accuracy", "%"), ("nmi", ""), ("ari", "")):
            values = [getattr(r.discovery, metric) for r in records]
            if label is None:
                out.append(ResultRow(experiment="discovery", metric=metric, values=values,
                                     data_source=context.data_source, profile=context.profile,
                                     run_path=context.run_path, unit=unit,
                                     config={"variant": variant, "k": k, "evaluation": context.settings.eval_dict()},
                                     seeds=[r.trial for r in records], notes=f"{variant}; {note}"))
            else:
                out.append(_row(context, records, "discovery", metric, values, unit=unit,
                                notes=f"{variant} (model of Table 1 row '{label}'); {note}", variant=variant))
    return out


def baseline_discovery(data: PreparedDataset, k: int, trials: int, settings: GridSettings,
                       cache_dir: str | Path) -> list[BaselineDiscovery]:
    """Discovery scores of k-means on time-averaged input features of each trial's test videos (cropped to
    ``settings.eval_max_frames`` steps, as the models' test videos are)."""
    from mmar.evaluation.discovery import discovery_scores, mean_pooled_rows
    from mmar.evaluation.zero_shot import query_pairing, zero_shot_test

    out = []
    identity, code = dataset_identity(data), code_fingerprint()
    for trial in range(trials):
        unseen = list(data.splits[k][trial])
        key = _digest({"baseline": unseen, "eval": settings.eval_dict(), "trial": trial, "data": identity,
                       "code": code})[:16]
        path = Path(cache_dir) / "baselines" / f"{key}.json"
        if not path.is_file():
            test = zero_shot_test(data, unseen, sentences_per_class=settings.sentences_per_class, seed=trial,
                                  reference_videos_per_class=settings.reference_videos_per_class,
                                  video_unit=settings.video_unit, video_subset=settings.video_subset)
            pairing = query_pairing(settings.video_unit, settings.train.get("pairing", "segment"))
            features = mean_pooled_rows(data, test.video_rows, pairing, max_frames=settings.eval_max_frames)
            labels = data.sentences["class_name"].to_numpy()[test.video_rows]
            record = BaselineDiscovery(trial=trial, k=k, discovery=DiscoveryScores(**discovery_scores(features, labels,
                                                                                                       seed=trial)))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record.to_json()))
        out.append(BaselineDiscovery.from_json(json.loads(path.read_text())))
    return out


#: How a captions' word source reads in result notes (``GridSettings.word_source``).
WORD_SOURCE_NAMES = {"prepared": "seen-class", "glove": "GloVe"}
#: Caption read-outs scored per Table 5 model: (:class:`CellCaptions` field, variant suffix, how it reads).
CAPTION_READOUTS = (
    ("hypotheses", "", "nearest {source} word per decoder column (centred cosine), repeats collapsed (the paper's)"),
    ("sentence_hypotheses", " · sentence read-out",
     "most probable sentence under a bigram prior of seen-class training sentences given the decoder columns "
     "(ours, mmar.evaluation.sentence_readout)"),
)
#: Variant of the captions that give every video the seen-class prior's own sentence (no decoder).
PRIOR_VARIANT = "seen-class prior alone (no video)"


def _caption_scores(records, hypotheses, meteor) -> list[dict[str, float]]:
    """Per trial: BLEU/CIDEr/(METEOR), the top-word share, the share of distinct captions and the share
    of captions naming their class of ``hypotheses(record)`` (one caption per video)."""
    from mmar.evaluation.captioning import caption_scores, class_word_share, top_word_share

    out = []
    for r in records:
        c, hyps = r.captions, hypotheses(r)
        ids = [f"{v}#{i}" for i, v in enumerate(c.video_ids)]
        out.append(caption_scores(dict(zip(ids, c.references)), dict(zip(ids, hyps)), meteor)
                   | {"top_word_share": top_word_share(hyps), "distinct_captions": len(set(hyps)) / max(1, len(hyps)),
                      "class_word_share": class_word_share(hyps, c.classes)})
    return out


#: A caption set is flagged degenerate when one word is more than this share of its tokens ...
DEGENERATE_TOP_WORD_SHARE = 0.5
#: ... or when fewer than this share of its captions are distinct (most videos get the same sentence).
DEGENERATE_DISTINCT_SHARE = 0.1


def degenerate_note(top_word_shares: Sequence[float], distinct_shares: Sequence[float]) -> str:
    """"; DEGENERATE caption set: ..." when, in some trial, one word is over :data:`DEGENERATE_TOP_WORD_SHARE` of
    the caption tokens or fewer than :data:`DEGENERATE_DISTINCT_SHARE` of the captions are distinct (shares
    0-1, one per trial); "" otherwise. The note gives the worst trial's share (the row's mean is over all trials)."""
    reasons = []
    if max(top_word_shares) > DEGENERATE_TOP_WORD_SHARE:
        reasons.append(f"one word is {100 * max(top_word_shares):.0f}% of all caption tokens")
    if min(distinct_shares) < DEGENERATE_DISTINCT_SHARE:
        reasons.append(f"only {100 * min(distinct_shares):.0f}% of the captions are distinct")
    return "; DEGENERATE caption set: in its worst trial, " + " and ".join(reasons) if reasons else ""


def _caption_metric_rows(context: ResultContext, records, per_trial, variant: str, how: str, paper_row: str,
                         k: int, paper_k: int) -> list[ResultRow]:
    out = []
    degenerate = degenerate_note([s["top_word_share"] for s in per_trial],
                                 [s["distinct_captions"] for s in per_trial])
    length = records[0].captions.length
    for metric in per_trial[0]:
        paper = ("Table 5", paper_row, metric) if paper_row and metric in ("METEOR", "CIDEr") and k == paper_k \
            else ("", "", "")
        notes = f"{variant}; {k} unseen classes; captions of {length} columns, {how}; x100{degenerate}"
        if metric == "top_word_share":
            notes = (f"{variant}: share of the most frequent word among all caption tokens (x100); a caption "
                     f"set is flagged degenerate above {100 * DEGENERATE_TOP_WORD_SHARE:g}{degenerate}")
        if metric == "distinct_captions":
            notes = (f"{variant}: distinct captions as a share of the captioned videos (x100); a caption set is "
                     f"flagged degenerate below {100 * DEGENERATE_DISTINCT_SHARE:g}{degenerate}")
        if metric == "class_word_share":
            seen_words_only = (records[0].captions.word_source == "prepared" or variant == PRIOR_VARIANT
                               or variant.endswith(CAPTION_READOUTS[1][1]))  # the sentence read-out's words
            notes = (f"{variant}: share of captions containing a word of their unseen class's name (x100)"
                     + ("; these captions say only words of the seen classes' sentences, so only a word of the name "
                        "that one of them also uses can be said" if seen_words_only else ""))
        out.append(_row(context, records, "captioning", metric, [100.0 * s[metric] for s in per_trial],
                        unit="x100", paper=paper, notes=notes, variant=variant))
    return out


def caption_rows(results: Sequence[CellRecord], k: int, context: ResultContext, meteor=None,
                 paper_k: int = 10) -> list[ResultRow]:
    """METEOR and CIDEr (x100, the paper's Table 5 scale as we read it) and BLEU-1..4 (x100) of the
    captions of the Table 5 models at ``k`` unseen classes, scored per trial over its test videos, for
    each read-out of :data:`CAPTION_READOUTS` that the cells recorded, and of the seen-class prior's
    own sentence given to every video (:data:`PRIOR_VARIANT`, the floor a caption must beat to say
    something about its video). ``meteor``: a scorer from
    :func:`mmar.evaluation.captioning.meteor_scorer`, or None to leave METEOR out (list it with
    :func:`not_run_table`). Only the paper's read-out carries Table 5's labels, and only at the
    paper's ``paper_k`` = 10 unseen classes."""
    groups = _groups(results)
    out = []
    prior_records = {}
    for table5_row, label in TABLE5_MODELS.items():
        records = groups.get((label, k), [])
        if not records:
            continue
        source = WORD_SOURCE_NAMES.get(records[0].captions.word_source, records[0].captions.word_source)
        for key, suffix, how in CAPTION_READOUTS:
            if all(r.captions.readout(key) is not None for r in records):
                per_trial = _caption_scores(records, lambda r: r.captions.readout(key), meteor)
                out += _caption_metric_rows(context, records, per_trial, table5_row + suffix,
                                            how.format(source=source) + f" (model of Table 1 row '{label}')",
                                            table5_row if not suffix else "", k, paper_k)
        prior_records.update({r.trial: r for r in records if r.captions.prior_sentence is not None})
        out.append(_row(context, records, "captioning", "text_round_trip_word_accuracy",
                        [r.text_round_trip.word_accuracy for r in records], unit="%", variant=table5_row,
                        chance=float(np.mean([r.text_round_trip.chance for r in records])),
                        notes=f"{table5_row}: % of word positions of unseen-class sentences that G_T(E_T(t)) says "
                        f"back (the captions' read-out, in {source} words); chance: always the most frequent word"))
    if prior_records:
        records = [prior_records[t] for t in sorted(prior_records)]
        per_trial = _caption_scores(records, lambda r: [r.captions.prior_sentence] * len(r.captions.video_ids), meteor)
        out += _caption_metric_rows(context, records, per_trial, PRIOR_VARIANT,
                                    "the same sentence for every video: the bigram prior's most probable one", "", k,
                                    paper_k)
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

def summary_table(results: Sequence[CellRecord], value, columns: str = "k", decimals: int = 1) -> pd.DataFrame:
    """``"mean ± std (n)"`` of ``value(cell)`` over the successful cells, one row per grid row (in
    first-seen order), one column per distinct value of the :class:`CellResult` field ``columns``."""
    frame = pd.DataFrame([{"row": r.row, "col": getattr(r, columns), "value": float(value(r))}
                          for r in finished(results)])
    stats = frame.groupby(["row", "col"], sort=False)["value"].agg(["mean", "std", "count"]).reset_index()
    stats["text"] = [f"{m:.{decimals}f} ± {0.0 if pd.isna(s) else s:.{decimals}f} (n={n})"
                     for m, s, n in zip(stats["mean"], stats["std"], stats["count"])]
    table = stats.pivot(index="row", columns="col", values="text")
    return table.reindex(index=list(dict.fromkeys(frame["row"])))
