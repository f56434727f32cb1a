"""Joint training of the full model and its variants (notebook 05): the zero-shot sanity check on
one split, the embedding map's points, and the result rows."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd

from mmar.data.prepared import PreparedDataset
from mmar.evaluation.zero_shot import query_pairing, zero_shot_scores, zero_shot_test
from mmar.experiments.balance import (TRAINS_MIN_FALL, candidates_apart, joint_collapse_note, last_over_initial,
                                      percent_of_start, tied_candidates)
from mmar.provenance import Run
from mmar.results import ResultRow
from mmar.studies.settings import NotebookSettings
from mmar.studies.trial import TrialRows
from mmar.training import TrainResult, embed_rows

@dataclass(frozen=True)
class JointSettings(NotebookSettings):
    """Notebook 05's settings: the split (``unseen_k``, ``trial``) and at most ``max_train_rows`` pairs;
    ``train`` and its ``variants``; the embedding map (``plot_variant``, ``embedding_plot`` "tsne" | "pca",
    ``points_per_group``); the sanity check's references (``sentences_per_class`` from
    ``reference_videos_per_class`` videos per class); the λ search (``lambda_candidates``: one
    TrainConfig λ field -> values, ``search_seeds``, ``search_val_classes``); the query videos of the sanity check
    and of the λ search, chosen and embedded as the grids evaluate them (``video_unit``, ``video_subset``,
    ``eval_max_frames``)."""

    notebook: ClassVar[str] = "05_joint_training"
    seed: int
    unseen_k: int
    trial: int
    max_train_rows: int | None
    train: dict[str, Any]
    variants: dict[str, dict[str, Any]]
    plot_variant: str
    embedding_plot: str
    points_per_group: int
    sentences_per_class: int
    reference_videos_per_class: int
    lambda_candidates: dict[str, list[float]]
    search_seeds: list[int]
    search_val_classes: int
    video_unit: str
    video_subset: str
    eval_max_frames: int | None

    minimums: ClassVar[Mapping[str, float]] = {"seed": 0, "unseen_k": 2, "trial": 0, "max_train_rows": 1,
                                               "points_per_group": 1, "sentences_per_class": 1,
                                               "reference_videos_per_class": 1, "search_seeds": 0,
                                               "search_val_classes": 2, "eval_max_frames": 1}


#: History columns that are not loss terms.
NOT_LOSSES = ("epoch", "phase", "lr", "seconds")


def zero_shot_sanity(results: dict[str, TrainResult], data: PreparedDataset, rows: TrialRows,
                     settings: JointSettings) -> pd.DataFrame:
    """Per variant: 1-NN and class-prototype zero-shot accuracy (%) on this one split's unseen classes
    (references: ``settings.sentences_per_class`` from ``settings.reference_videos_per_class`` videos per
    class, seeded), chance, the mean squared distance of training pairs, and the spread of the video
    embeddings (mean distance to their centroid; near 0 means collapsed)."""
    test = zero_shot_test(data, rows.unseen_classes, sentences_per_class=settings.sentences_per_class,
                          seed=settings.seed, reference_videos_per_class=settings.reference_videos_per_class,
                          video_unit=settings.video_unit, video_subset=settings.video_subset)
    sanity = []
    for name, result in results.items():
        videos = embed_rows(result.model, data, test.video_rows,
                            pairing=query_pairing(settings.video_unit, result.config.pairing),
                            max_frames=settings.eval_max_frames)
        sentences = embed_rows(result.model, data, test.sentence_rows)
        scores = zero_shot_scores(videos["video"], videos["class_index"], sentences["text"], sentences["class_index"])
        paired = embed_rows(result.model, data, rows.train)
        spread = float(np.linalg.norm(paired["video"] - paired["video"].mean(0), axis=1).mean())
        sanity.append({"variant": name, **scores, "chance": 100.0 / len(rows.unseen_classes),
                       "train pair distance": float(((paired["video"] - paired["text"]) ** 2).sum(1).mean()),
                       "video embedding spread": spread})
    return pd.DataFrame(sanity)


@dataclass(frozen=True)
class EmbeddingPoints:
    """Embeddings of one variant's model: ``points`` (n, E), ``kinds`` (n,) "video" / "text", ``groups``
    (n,) "seen (val)" / "unseen"."""

    points: np.ndarray
    kinds: np.ndarray
    groups: np.ndarray
    variant: str


def embedding_points(results: dict[str, TrainResult], data: PreparedDataset, rows: TrialRows,
                     settings: JointSettings) -> EmbeddingPoints:
    """Video and sentence embeddings by variant ``settings.plot_variant`` of up to ``settings.points_per_group``
    held-out seen-class (val) and unseen-class segments (a seeded choice)."""
    result, points_per_group, seed = results[settings.plot_variant], settings.points_per_group, settings.seed
    groups = {"seen (val)": data.rows(exclude_classes=rows.unseen_classes, subset="val"),
              "unseen": data.rows(classes=rows.unseen_classes)}
    points, kinds, groups_of = [], [], []
    for group, group_rows in groups.items():
        group_rows = np.random.default_rng(seed).permutation(group_rows)[:points_per_group]
        emb = embed_rows(result.model, data, group_rows)
        for kind in ("video", "text"):
            points.append(emb[kind])
            kinds += [kind] * len(group_rows)
            groups_of += [group] * len(group_rows)
    return EmbeddingPoints(np.concatenate(points), np.array(kinds), np.array(groups_of), settings.plot_variant)


def joint_training_rows(sanity: pd.DataFrame, results: dict[str, TrainResult], rows: TrialRows, run: Run
                        ) -> list[ResultRow]:
    """Result rows of notebook 05: the sanity accuracies and the last epoch's loss terms per variant."""
    out = []
    for record in sanity.to_dict("records"):
        result = results[record["variant"]]
        config = result.config.to_dict() | {"unseen_k": rows.unseen_k, "trial": rows.trial, "variant": record["variant"]}
        common = dict(data_source=run.data_source, **run.row_fields(), config=config, seeds=[run.seed])
        for metric in ("nn_accuracy", "prototype_accuracy"):
            out.append(ResultRow(experiment="joint_training_sanity", metric=f"zero_shot_{metric}", unit="%",
                                 values=[record[metric]], chance=record["chance"],
                                 notes=f"{record['variant']}; one split (K={rows.unseen_k}, trial {rows.trial}), one seed",
                                 **common))
        final = result.history.iloc[-1]
        for column in result.history.columns:
            if column not in NOT_LOSSES and pd.notna(final[column]):
                out.append(ResultRow(experiment="joint_training_losses", metric=f"final_{column}",
                                     values=[float(final[column])], notes=f"{record['variant']}; last epoch mean", **common))
    return out


@dataclass(frozen=True)
class LambdaSearch:
    """Notebook 05's λ search: ``curves`` (one row per candidate, seed and epoch: validation zero-shot
    accuracy ``probe_zero_shot``, held-out terms ``probe_val_*``, gradient shares), ``chosen`` (the searched
    TrainConfig field -> the chosen value) and the search's ``train`` overrides."""

    curves: pd.DataFrame
    chosen: dict[str, float]
    train: dict[str, Any]

    @property
    def field(self) -> str:
        """The searched TrainConfig field, e.g. ``lambda_joint``."""
        return next(iter(self.chosen))

    @property
    def value(self) -> float:
        """The chosen value of :attr:`field`."""
        return self.chosen[self.field]


def lambda_search(data: PreparedDataset, rows: TrialRows, settings: JointSettings, run: Run) -> LambdaSearch:
    """Train the λ search (:func:`mmar.experiments.balance.lambda_search`) of ``settings.lambda_candidates``
    with the full variant's settings, on pseudo-unseen seen classes of this split (``settings.search_seeds``,
    ``settings.search_val_classes`` per seed); checkpoints under ``<run>/checkpoints/05_lambda_search``."""
    from mmar.experiments.balance import lambda_search as search

    train = {**settings.train, **settings.variants.get("full", {}), "seed": 0}
    out_dir = run.dir / "checkpoints" / "05_lambda_search"
    if out_dir.exists():
        shutil.rmtree(out_dir)  # a notebook run always trains afresh (as train_variants)
    curves, chosen = search(data, rows.unseen_classes, settings.lambda_candidates, train, settings.search_seeds, out_dir,
                            n_val_classes=settings.search_val_classes, max_train_rows=settings.max_train_rows,
                            sentences_per_class=settings.sentences_per_class,
                            reference_videos_per_class=settings.reference_videos_per_class,
                            video_unit=settings.video_unit, video_subset=settings.video_subset,
                            eval_max_frames=settings.eval_max_frames)
    return LambdaSearch(curves, chosen, train)


def lambda_search_summary(search: LambdaSearch) -> pd.DataFrame:
    """Per candidate, the last epoch's mean over seeds: validation zero-shot accuracy, held-out joint and
    recons terms, and each term's gradient share."""
    curves, field = search.curves, search.field
    last = curves[curves["epoch"] == curves["epoch"].max()]
    columns = ["probe_zero_shot"] + [c for c in ("probe_val_joint", "probe_val_recons") if c in last]
    columns += [c for c in last.columns if c.startswith("grad_share_")]
    return last.groupby(field)[columns].mean().rename(columns=lambda c: c.removeprefix("probe_"))


def term_progress(search: LambdaSearch) -> pd.DataFrame:
    """Held-out loss terms before training (epoch 0) and after the last epoch (means over seeds), and the mean over
    seeds of each seed's last / initial ratio (:func:`mmar.experiments.balance.term_progress`)."""
    from mmar.experiments.balance import term_progress as progress

    return progress(search.curves, search.field)


def lambda_search_verdict(search: LambdaSearch, n_val_classes: int) -> str:
    """What the search chose and what the choice did, in a few sentences: the candidates' validation zero-shot
    accuracies beside chance (``100 / n_val_classes``) and a tie if there is one; whether the chosen candidate's
    interval over seeds lies apart from the others' (:func:`mmar.experiments.balance.candidates_apart`); the
    chosen value's share of the encoder gradient for the joint term and how far its held-out joint term fell
    (:func:`mmar.experiments.balance.joint_collapse_note`); and which held-out terms did not train
    (:func:`term_progress`'s ``trains``)."""
    summary, progress, field, value = lambda_search_summary(search), term_progress(search), search.field, search.value
    means = summary["zero_shot"]
    accuracies = ", ".join(f"{candidate:g}: {accuracy:.1f} %" for candidate, accuracy in means.items())
    first = (f"The search chose {field} = {value:g} by validation zero-shot accuracy ({accuracies}; "
             f"chance {100 / n_val_classes:.3g} %, {search.curves['seed'].nunique()} seed(s))")
    tied = tied_candidates(means.to_dict(), value)
    if tied:
        first += f", tied with {', '.join(f'{candidate:g}' for candidate in tied)}: the smallest of the tied candidates is kept"
    sentences = [first + "."]
    last = search.curves[search.curves["epoch"] == search.curves["epoch"].max()]
    per_seed = {candidate: group["probe_zero_shot"].tolist() for candidate, group in last.groupby(field)}
    if len(per_seed) > 1:
        sentences.append({
            None: "With one seed per candidate there is no interval: the search cannot say whether they differ.",
            True: "The chosen value's 95 % interval over seeds lies apart from every other candidate's.",
            False: "The 95 % intervals over seeds overlap: the search could not tell the candidates apart.",
        }[candidates_apart(per_seed, value)])
    effects = []
    if "grad_share_joint" in summary:
        effects.append(f"the joint term has {100 * summary.loc[value, 'grad_share_joint']:.0f} % of the encoder gradient")
    chosen = progress[progress[field] == value].set_index("term")
    if "joint" in chosen.index:
        ratio = float(chosen.loc["joint", "last / initial"])
        note = joint_collapse_note(ratio)
        effects.append(f"the held-out joint term ends at {percent_of_start(ratio)} % of its start" + (f", {note}" if note else ""))
    if effects:
        sentences.append(f"At {value:g} " + "; ".join(effects) + ".")
    idle = [term for term, trains in chosen["trains"].items() if not trains]
    if idle:
        sentences.append(f"Held-out terms that did not train at {value:g} (fell by less than {100 * TRAINS_MIN_FALL:g} %): "
                         f"{', '.join(idle)}.")
    return " ".join(sentences)


def save_lambda_search(search: LambdaSearch, settings: JointSettings, run: Run) -> list[ResultRow]:
    """Save the search (``results/05_lambda_search.json``: the chosen value, read by notebooks 06/07
    when their ``train`` says "selected", and ``logs/05_lambda_search.csv``: every curve) and return
    its result rows: final validation accuracy per candidate, and each held-out term's last over initial value."""
    import json

    curves, field, value, chosen = search.curves, search.field, search.value, search.chosen
    seeds = list(settings.search_seeds)
    config_settings = {"train": search.train, "max_train_rows": settings.max_train_rows,
                       "n_val_classes": settings.search_val_classes}
    (run.dir / "results").mkdir(parents=True, exist_ok=True)
    (run.dir / "logs").mkdir(parents=True, exist_ok=True)
    curves.to_csv(run.dir / "logs" / "05_lambda_search.csv", index=False)
    (run.dir / "results" / "05_lambda_search.json").write_text(json.dumps(
        {"chosen": chosen, "data_source": run.data_source, "seeds": seeds, "settings": config_settings}, indent=1,
        default=str))
    common = dict(data_source=run.data_source, **run.row_fields())
    last = curves[curves["epoch"] == curves["epoch"].max()]
    out = []
    for candidate, group in last.groupby(field):
        group = group.sort_values("seed")
        out.append(ResultRow(experiment="lambda_search", metric="validation_zero_shot_accuracy", unit="%",
                             values=group["probe_zero_shot"].tolist(), **common,
                             config={field: float(candidate), "chosen": value, **config_settings},
                             seeds=group["seed"].tolist(),
                             notes=f"{field} = {candidate:g}{' (chosen)' if candidate == value else ''}; 1-NN on "
                             f"pseudo-unseen seen classes after the last epoch; chooses the λ of notebooks 06/07"))
    for column in [c for c in curves.columns if c.startswith("probe_val_") and c != "probe_val_total_paired"]:
        for candidate, ratios in last_over_initial(curves, field, column).items():
            term = column.removeprefix("probe_val_")
            out.append(ResultRow(experiment="lambda_search", metric=f"heldout_{term}_last_over_initial",
                                 values=ratios.tolist(), **common,
                                 config={field: float(candidate), "chosen": value, **config_settings},
                                 seeds=ratios.index.tolist(),
                                 notes=f"{field} = {candidate:g}{' (chosen)' if candidate == value else ''}; the {term} "
                                 "term on held-out seen-class pairs after the last epoch over its value before training "
                                 f"(below {1 - TRAINS_MIN_FALL:g}: the term trains)"))
    return out
