"""Loss balance (notebook 05): how much each term of Eq. 6 moves the shared encoders, and a small
recorded search of the λ weights on seen-class validation data.

With the literal summed squared errors of Eqs. 1, 4, 5 the reconstruction terms are four orders of
magnitude larger than the joint term (Eq. 3 of unit-length embeddings is at most 4), so λ1 = 1
leaves the joint term a small share of the gradient; a large λ1 collapses the embedding (the joint
loss has no negatives: all embeddings at one point minimise it). The search holds out
``n_val_classes`` *seen* classes of a split as pseudo-unseen validation classes (never the split's
unseen classes), trains one ensemble per seed whose members differ only in λ, and chooses the
candidate with the best mean zero-shot accuracy on the validation classes after the last epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from mmar.data.prepared import PreparedDataset
from mmar.evaluation.paired import t_interval
from mmar.evaluation.zero_shot import ZeroShotTest, query_pairing, seen_training_rows, zero_shot_test
from mmar.experiments.convergence import HeldOutProbe
from mmar.losses import paired_losses
from mmar.models.autoencoders import MultimodalAutoencoder
from mmar.training import EnsembleTrainer, SegmentSource, TrainConfig, train_ensemble
from mmar.parallel import map_processes, worker_dataset

#: The Eq. 6 weight of each paired term (recons has none).
TERM_WEIGHTS = {"recons": None, "joint": "lambda_joint", "cross": "lambda_cross", "cycle": "lambda_cycle"}


def gradient_shares(model: MultimodalAutoencoder, config: TrainConfig, video: torch.Tensor, video_mask: torch.Tensor,
                    text: torch.Tensor, text_mask: torch.Tensor) -> dict[str, float]:
    """Each weighted Eq. 6 term's share of the summed gradient norms on the two encoders' parameters
    (the parameters every term reaches): ``|∇ λ_k L_k| / Σ_j |∇ λ_j L_j|``, for one paired batch
    ``video`` (B, T, C), ``text`` (B, L, D) with masks."""
    terms = paired_losses(model, video, video_mask, text, text_mask,
                          tuple(t for t in config.losses if t in TERM_WEIGHTS), config.recon_reduction)
    params = [p for p in list(model.video_encoder.parameters()) + list(model.text_encoder.parameters())
              if p.requires_grad]
    norms = {}
    for name, value in terms.items():
        weight = 1.0 if TERM_WEIGHTS[name] is None else getattr(config, TERM_WEIGHTS[name])
        grads = torch.autograd.grad(weight * value, params, retain_graph=True, allow_unused=True)
        norms[name] = float(torch.sqrt(sum((g**2).sum() for g in grads if g is not None)))
    total = sum(norms.values()) or 1.0
    return {name: norm / total for name, norm in norms.items()}


class GradientShareProbe:
    """``epoch_callback``: after every epoch, each member's :func:`gradient_shares` on its own fixed
    batch of held-out pairs, added to its history as ``grad_share_<term>``."""

    def __init__(self, data: PreparedDataset, rows: Sequence[np.ndarray], config: TrainConfig) -> None:
        source = SegmentSource(data, pairing=config.pairing, max_frames=config.max_frames, max_words=config.max_words)
        self.batches = [(*source.videos(np.asarray(r)), *source.texts(np.asarray(r))) for r in rows]

    def __call__(self, epoch: int, trainer: EnsembleTrainer) -> None:
        for i, batch in enumerate(self.batches):
            model = trainer.member_networks(i).model.cpu()
            shares = gradient_shares(model, trainer.members[i].config, *batch)
            trainer.histories[i][-1].update({f"grad_share_{k}": v for k, v in shares.items()})


#: A held-out term "trains" when its last value is below (1 − this) times its value before training: a fall
#: of 0.1 % is not training.
TRAINS_MIN_FALL = 0.01
#: A held-out joint term (last epoch over before training) below this is "driven to (nearly) zero"
#: (:func:`joint_collapse_note`, used by notebook 05 and the report).
JOINT_COLLAPSE_RATIO = 0.05


def percent_of_start(ratio: float) -> str:
    """A held-out term's last / initial ratio as a percentage: ``0.23`` for 0.0023, ``150`` for 1.5."""
    return f"{100 * ratio:.2g}" if ratio < 1 else f"{100 * ratio:.0f}"


def joint_collapse_note(joint_ratio: float) -> str:
    """What a held-out joint term below :data:`JOINT_COLLAPSE_RATIO` of its start means (empty above it)."""
    if joint_ratio >= JOINT_COLLAPSE_RATIO:
        return ""
    return ("driven to nearly zero: without negatives, the cheapest way there is embeddings that collapse "
            "together, whatever the classes")


#: Means closer than this (relative) are a tie: a mean over seeds summed in another order differs in its last bits.
TIE_RTOL = 1e-9


def tied_candidates(means: Mapping[float, float], chosen: float) -> list[float]:
    """The candidates other than ``chosen`` whose mean validation accuracy equals the chosen one's within
    :data:`TIE_RTOL` (``means``: candidate -> mean over seeds); :func:`lambda_search` keeps the smallest of tied
    candidates."""
    return [candidate for candidate, mean in means.items()
            if candidate != chosen and math.isclose(mean, means[chosen], rel_tol=TIE_RTOL)]


def candidates_apart(per_seed: Mapping[float, Sequence[float]], chosen: float) -> bool | None:
    """Whether the 95 % t-interval over seeds of candidate ``chosen`` lies apart from every other candidate's
    (``per_seed``: candidate -> its seeds' validation accuracies); None when a candidate has fewer than 2 seeds."""
    if any(len(values) < 2 for values in per_seed.values()):
        return None
    intervals = {candidate: t_interval(list(values))[1:] for candidate, values in per_seed.items()}
    low, high = intervals[chosen]
    return all(other_high < low or high < other_low
               for candidate, (other_low, other_high) in intervals.items() if candidate != chosen)


def last_over_initial(curves: pd.DataFrame, field: str, column: str) -> dict[float, pd.Series]:
    """Per candidate value of ``field``: each seed's ``column`` after the last epoch over its value before training
    (epoch 0), a Series indexed by seed in seed order; a candidate whose initial value is missing is left out.
    ``curves``: :func:`lambda_search` (with its epoch-0 row)."""
    first, last = curves["epoch"].min(), curves["epoch"].max()
    ratios = {}
    for value, group in curves.groupby(field):
        start = group[group["epoch"] == first].set_index("seed")[column].sort_index()
        if start.isna().any():
            continue
        ratios[value] = group[group["epoch"] == last].set_index("seed")[column].sort_index() / start
    return ratios


def term_progress(curves: pd.DataFrame, field: str) -> pd.DataFrame:
    """Per candidate λ and held-out loss term or half of a term: its value before training (epoch 0) and after
    the last epoch (means over seeds), ``last / initial`` (the mean over seeds of each seed's ratio, as the result
    rows of notebook 05 and the report give it), and whether that ratio is below 1 − :data:`TRAINS_MIN_FALL`
    (``trains``). ``curves``: :func:`lambda_search` (with its epoch-0 row)."""
    columns = [c for c in curves.columns if c.startswith("probe_val_") and c != "probe_val_total_paired"]
    columns = sorted(columns, key=lambda c: [t in c for t in ("joint", "recons", "cross", "cycle")], reverse=True)
    first, last = curves["epoch"].min(), curves["epoch"].max()
    ratios = {column: last_over_initial(curves, field, column) for column in columns}
    table = []
    for value, group in curves.groupby(field):
        for column in columns:
            if value not in ratios[column]:
                continue
            ratio = float(ratios[column][value].mean())
            table.append({field: value, "term": column.removeprefix("probe_val_"),
                          "initial": group.loc[group["epoch"] == first, column].mean(),
                          "last epoch": group.loc[group["epoch"] == last, column].mean(), "last / initial": ratio,
                          "trains": bool(ratio < 1 - TRAINS_MIN_FALL)})
    return pd.DataFrame(table)


def validation_classes(data: PreparedDataset, unseen: Sequence[str], n_val_classes: int, seed: int) -> list[str]:
    """``n_val_classes`` seen classes (never one of ``unseen``), drawn with ``seed``: the pseudo-unseen
    validation classes of the λ search."""
    seen = [c for c in data.classes if c not in set(unseen)]
    rng = np.random.default_rng([seed, 104729])
    return sorted(rng.choice(seen, size=n_val_classes, replace=False).tolist())


def lambda_search(data: PreparedDataset, unseen: Sequence[str], candidates: dict[str, Sequence[float]],
                  train: dict[str, Any], seeds: Sequence[int], out_dir: str | Path, *, n_val_classes: int = 5,
                  max_train_rows: int | None = 5000, val_pairs: int = 128, sentences_per_class: int = 20,
                  reference_videos_per_class: int = 4, video_unit: str = "video", video_subset: str = "all",
                  eval_max_frames: int | None = None, device: str = "auto", processes: int | None = None,
                  progress: bool = False) -> tuple[pd.DataFrame, dict[str, float]]:
    """Train one ensemble per seed over every candidate and return ``(curves, chosen)``.

    ``candidates`` maps one λ field (e.g. ``"lambda_joint"``) to its values; ``train`` holds the other
    TrainConfig values. Per seed, ``n_val_classes`` seen classes of the split (``unseen`` excluded)
    become validation classes; members train on the remaining seen classes' train subset (up to
    ``max_train_rows`` pairs). The seeds' ensembles train side by side in ``processes`` worker
    processes (None: one per core, at most 2). ``curves`` has one row per member and epoch: the λ
    value, seed, the validation zero-shot accuracy, the held-out loss terms and each term's gradient
    share; ``chosen`` maps the field to the value with the best mean final validation accuracy (ties:
    the smallest value). Epoch 0 holds the untrained networks' values. The validation classes' queries are chosen
    and embedded as the grids' evaluation does (``video_unit``, ``video_subset``, ``eval_max_frames``: the grid
    settings of the same names), so λ is chosen on the protocol it is reported with.
    """
    if len(candidates) != 1:
        raise ValueError(f"search one λ field at a time, got {sorted(candidates)}")
    (field, values), = candidates.items()
    if field not in TrainConfig.__dataclass_fields__ or not field.startswith("lambda_"):
        raise ValueError(f"{field!r} is not a λ field of TrainConfig")
    video_pairing = query_pairing(video_unit, TrainConfig(**train).pairing)
    jobs = []
    for seed in seeds:
        held_out = validation_classes(data, unseen, n_val_classes, seed)
        excluded = list(unseen) + held_out
        pool = seen_training_rows(data, excluded, "train")
        rng = np.random.default_rng([seed, 15485863])
        chosen_rows = np.sort(rng.permutation(pool)[:max_train_rows] if max_train_rows else pool)
        test = zero_shot_test(data, held_out, sentences_per_class=sentences_per_class, seed=seed,
                              reference_videos_per_class=reference_videos_per_class, video_unit=video_unit,
                              video_subset=video_subset)
        val = np.sort(rng.permutation(seen_training_rows(data, excluded, "val"))[:val_pairs])
        jobs.append(_SeedSearch(str(data.root), field, list(values), train, seed, chosen_rows, test,
                                val, video_pairing, eval_max_frames, Path(out_dir) / f"seed_{seed}", device, progress))
    curves = pd.DataFrame([row for rows in map_processes(_search_one_seed, jobs, processes, data=data) for row in rows])
    last = curves[curves["epoch"] == curves["epoch"].max()]
    means = last.groupby(field)["probe_zero_shot"].mean()
    best = float(means.idxmax())
    best = min([best, *tied_candidates(means.to_dict(), best)])
    return curves, {field: best}


@dataclass
class _SeedSearch:
    """One seed of :func:`lambda_search`: its training rows, validation classes' test and held-out pairs."""

    root: str
    field: str
    values: list[float]
    train: dict[str, Any]
    seed: int
    rows: np.ndarray
    test: ZeroShotTest
    val: np.ndarray
    video_pairing: str
    max_frames: int | None
    out_dir: Path
    device: str
    progress: bool


def _search_one_seed(job: _SeedSearch) -> list[dict[str, Any]]:
    """Train the candidates of one seed as one ensemble, with the held-out and gradient-share probes
    after every epoch; one curve row per member and epoch."""
    data = worker_dataset(job.root)
    configs = [TrainConfig(**{**job.train, job.field: value, "seed": job.seed}) for value in job.values]
    labels = [{job.field: value, "seed": job.seed, "n_train": len(job.rows)} for value in job.values]
    probe = HeldOutProbe(data, [job.test] * len(configs), [job.val] * len(configs), labels, halves=True,
                         video_pairing=job.video_pairing, max_frames=job.max_frames)
    shares = GradientShareProbe(data, [job.val] * len(configs), configs[0])

    def callback(epoch: int, trainer: EnsembleTrainer) -> None:
        shares(epoch, trainer)
        probe(epoch, trainer)

    result = train_ensemble(configs, data, [job.rows] * len(configs), job.out_dir, device=job.device,
                            progress=job.progress, epoch_callback=callback)
    curves = []
    for label, history in zip(labels, result.histories):
        for _, epoch in history.iterrows():
            kept = {k: v for k, v in epoch.items() if k == "epoch" or k.startswith(("probe_", "grad_share_"))}
            curves.append({**label, **kept})
    return curves
