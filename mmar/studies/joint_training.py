"""Joint training of the full model and its variants (notebook 05): the zero-shot sanity check on
one split, the embedding map's points, and the result rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from mmar.data.prepared import PreparedDataset
from mmar.evaluation.zero_shot import zero_shot_scores, zero_shot_test
from mmar.results import ResultRow
from mmar.studies.trial import TrialRows
from mmar.training import TrainResult, embed_rows

#: History columns that are not loss terms.
NOT_LOSSES = ("epoch", "phase", "lr", "seconds")


def zero_shot_sanity(results: dict[str, TrainResult], data: PreparedDataset, rows: TrialRows, *,
                     sentences_per_class: int, seed: int, reference_videos_per_class: int = 4) -> pd.DataFrame:
    """Per variant: 1-NN and class-prototype zero-shot accuracy (%) on this one split's unseen classes,
    chance, the mean squared distance of training pairs, and the spread of the video embeddings
    (mean distance to their centroid; near 0 means collapsed)."""
    test = zero_shot_test(data, rows.unseen_classes, sentences_per_class=sentences_per_class, seed=seed,
                          reference_videos_per_class=reference_videos_per_class)
    sanity = []
    for name, result in results.items():
        videos = embed_rows(result.model, data, test.video_rows, pairing="video")
        sentences = embed_rows(result.model, data, test.sentence_rows)
        scores = zero_shot_scores(videos["video"], videos["class_index"], sentences["text"], sentences["class_index"])
        paired = embed_rows(result.model, data, rows.train)
        spread = float(np.linalg.norm(paired["video"] - paired["video"].mean(0), axis=1).mean())
        sanity.append({"variant": name, **scores, "chance": 100.0 / len(rows.unseen_classes),
                       "train pair distance": float(((paired["video"] - paired["text"]) ** 2).sum(1).mean()),
                       "video embedding spread": spread})
    return pd.DataFrame(sanity)


def embedding_points(result: TrainResult, data: PreparedDataset, rows: TrialRows, *, points_per_group: int,
                     seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Video and sentence embeddings of up to ``points_per_group`` held-out seen-class (val) and
    unseen-class segments: ``(points (n, E), kinds (n,) "video"/"text", groups (n,) "seen (val)"/"unseen")``."""
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
    return np.concatenate(points), np.array(kinds), np.array(groups_of)


def joint_training_rows(sanity: pd.DataFrame, results: dict[str, TrainResult], rows: TrialRows, data_source: str, *,
                        profile: str, run_dir: Path, seed: int) -> list[ResultRow]:
    """Result rows of notebook 05: the sanity accuracies and the last epoch's loss terms per variant."""
    out = []
    for record in sanity.to_dict("records"):
        result = results[record["variant"]]
        config = result.config.to_dict() | {"unseen_k": rows.unseen_k, "trial": rows.trial, "variant": record["variant"]}
        common = dict(data_source=data_source, profile=profile, run_path=str(run_dir), config=config, seeds=[seed])
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


def lambda_search_summary(curves: pd.DataFrame, field: str) -> pd.DataFrame:
    """Per λ value: mean (over seeds) validation zero-shot accuracy and held-out joint loss at the last
    epoch, and each term's gradient share there."""
    last = curves[curves["epoch"] == curves["epoch"].max()]
    columns = ["probe_zero_shot"] + [c for c in ("probe_val_joint", "probe_val_recons") if c in last]
    columns += [c for c in last.columns if c.startswith("grad_share_")]
    return last.groupby(field)[columns].mean().rename(columns=lambda c: c.removeprefix("probe_"))


def write_lambda_search(curves: pd.DataFrame, chosen: dict[str, float], run_dir: Path, *, data_source: str,
                        profile: str, seeds: list[int], settings: dict) -> list[ResultRow]:
    """Save the search (``results/05_lambda_search.json``: the chosen values, read by notebooks 06/07
    when their ``train`` says "selected", and ``logs/05_lambda_search.csv``: every curve) and return
    its result rows: final validation accuracy per candidate."""
    import json

    (field, value), = chosen.items()
    (run_dir / "results").mkdir(parents=True, exist_ok=True)
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    curves.to_csv(run_dir / "logs" / "05_lambda_search.csv", index=False)
    (run_dir / "results" / "05_lambda_search.json").write_text(json.dumps(
        {"chosen": chosen, "data_source": data_source, "seeds": seeds, "settings": settings}, indent=1, default=str))
    last = curves[curves["epoch"] == curves["epoch"].max()]
    out = []
    for candidate, group in last.groupby(field):
        group = group.sort_values("seed")
        out.append(ResultRow(experiment="lambda_search", metric="validation_zero_shot_accuracy", unit="%",
                             values=group["probe_zero_shot"].tolist(), data_source=data_source, profile=profile,
                             run_path=str(run_dir), config={field: float(candidate), "chosen": value, **settings},
                             seeds=group["seed"].tolist(),
                             notes=f"{field} = {candidate:g}{' (chosen)' if candidate == value else ''}; 1-NN on "
                             f"pseudo-unseen seen classes after the last epoch; chooses the λ of notebooks 06/07"))
    first = curves[curves["epoch"] == curves["epoch"].min()].set_index([field, "seed"])
    for column in [c for c in curves.columns if c.startswith("probe_val_") and c != "probe_val_total_paired"]:
        for candidate, group in last.groupby(field):
            group = group.sort_values("seed")
            start = first.loc[[(candidate, s) for s in group["seed"]], column].to_numpy()
            if np.isnan(start).any():
                continue
            term = column.removeprefix("probe_val_")
            out.append(ResultRow(experiment="lambda_search", metric=f"heldout_{term}_last_over_initial",
                                 values=(group[column].to_numpy() / start).tolist(), data_source=data_source,
                                 profile=profile, run_path=str(run_dir),
                                 config={field: float(candidate), "chosen": value, **settings},
                                 seeds=group["seed"].tolist(),
                                 notes=f"{field} = {candidate:g}{' (chosen)' if candidate == value else ''}; the {term} "
                                 "term on held-out seen-class pairs after the last epoch over its value before training "
                                 "(below 1: the term trains)"))
    return out


def run_lambda_search(data: PreparedDataset, rows: TrialRows, candidates: dict[str, list[float]], train: dict,
                      seeds: list[int], run_dir: Path, *, profile: str, n_val_classes: int, max_train_rows: int | None,
                      sentences_per_class: int, reference_videos_per_class: int) -> list[ResultRow]:
    """Notebook 05's λ search (:func:`mmar.experiments.balance.lambda_search`): prints the last epoch per
    candidate and the choice, draws the figure, saves the choice for 06/07 and returns the result rows."""
    from mmar import plots
    from mmar.experiments.balance import lambda_search, term_progress
    from mmar.studies.display import print_table

    (field, _), = candidates.items()
    out_dir = run_dir / "checkpoints" / "05_lambda_search"
    if out_dir.exists():
        shutil.rmtree(out_dir)  # a notebook run always trains afresh (as train_variants)
    curves, chosen = lambda_search(data, rows.unseen_classes, candidates, train, seeds, out_dir, n_val_classes=n_val_classes,
                                   max_train_rows=max_train_rows, sentences_per_class=sentences_per_class,
                                   reference_videos_per_class=reference_videos_per_class)
    print_table(f"λ search, last epoch (mean over seeds {list(seeds)}) [{data.data_source}]",
                lambda_search_summary(curves, field))
    print(f"chosen: {chosen}")
    print_table("held-out loss terms before training (epoch 0) and after the last epoch, mean over seeds",
                term_progress(curves, field), index=False)
    plots.lambda_search(curves, field, chosen[field], data.data_source, run_dir / "figures" / "05_lambda_search.png")
    return write_lambda_search(curves, chosen, run_dir, data_source=data.data_source, profile=profile,
                               seeds=list(seeds), settings={"train": train, "max_train_rows": max_train_rows,
                                                            "n_val_classes": n_val_classes})
