"""Training curves that say when to stop: per epoch and per ensemble member, zero-shot accuracy on
held-out classes and the Eq. 6 terms on held-out pairs (notebook 05's convergence figure and λ search).

:class:`HeldOutProbe` is an ``epoch_callback`` for :func:`mmar.training.train_ensemble`: after every
epoch it embeds each member's query videos and reference sentences (disjoint videos,
:func:`mmar.evaluation.zero_shot.zero_shot_test`) and computes the unweighted loss terms of every
member on its validation pairs in one no-grad pass of the ensemble.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from mmar.data.prepared import PreparedDataset
from mmar.evaluation.zero_shot import ZeroShotTest, zero_shot_scores
from mmar.losses import TERM_HALVES, term_halves
from mmar.training import FIXED_TEXT, EnsembleTrainer, SegmentSource, embed_rows


@dataclass
class HeldOutProbe:
    """Per member i: ``tests[i]`` (the held-out classes' queries and references) and ``val_rows[i]``
    (held-out pairs of its training classes; members with more pairs than the fewest are probed on a random subset
    of that many, :func:`_subset`, and none when a member has none). ``labels[i]`` names the member in :attr:`records`.
    ``halves``: also the video and text halves of the sequence terms (:func:`mmar.losses.term_halves`). Query videos
    are embedded as the final evaluation embeds them (:func:`mmar.experiments.run.evaluate_model`): as
    ``video_pairing`` units ("video": whole videos), cropped to ``max_frames`` feature steps (None: uncropped), not
    at the training crop."""

    data: PreparedDataset
    tests: Sequence[ZeroShotTest]
    val_rows: Sequence[np.ndarray]
    labels: Sequence[dict[str, Any]]
    halves: bool = False
    video_pairing: str = "video"
    max_frames: int | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    _val_batches: dict[int, tuple[torch.Tensor, ...]] = field(default_factory=dict, repr=False)

    def __call__(self, epoch: int, trainer: EnsembleTrainer) -> None:
        terms = self._validation_terms(trainer)
        for i, test in enumerate(self.tests):
            model = trainer.member_networks(i).model.cpu()
            videos = embed_rows(model, self.data, test.video_rows, pairing=self.video_pairing, max_frames=self.max_frames)
            sentences = embed_rows(model, self.data, test.sentence_rows)
            scores = zero_shot_scores(videos["video"], videos["class_index"], sentences["text"],
                                      sentences["class_index"])
            values = {"probe_zero_shot": scores["nn_accuracy"], "probe_prototype": scores["prototype_accuracy"],
                      **{f"probe_val_{k}": float(v[i]) for k, v in terms.items()},
                      **({f"probe_val_{k}": v for k, v in self._halves(trainer, model, i).items()}
                         if self.halves else {})}
            trainer.histories[i][-1].update(values)
            self.records.append({**self.labels[i], "epoch": epoch + 1, **values})

    @torch.no_grad()
    def _validation_terms(self, trainer: EnsembleTrainer) -> dict[str, torch.Tensor]:
        c = trainer.config
        width = min(len(r) for r in self.val_rows)
        if width == 0:  # a member without held-out pairs: no held-out terms for the ensemble
            return {}
        rows = np.stack([_subset(np.asarray(r), width) for r in self.val_rows])
        source = SegmentSource(self.data, pairing=c.pairing, max_frames=c.max_frames, max_words=c.max_words)
        video, video_mask = source.videos(rows)
        text, text_mask = source.texts(rows)
        batch = [x.to(trainer.device) for x in (video, video_mask, text, text_mask)]
        if c.losses == (FIXED_TEXT,):
            terms = trainer._terms("video_to_text", *batch)
        elif any(t != "adv" for t in c.losses):
            terms = trainer._terms("paired", *batch)
        else:
            return {}
        return {k: v.cpu() for k, v in terms.items()}

    @torch.no_grad()
    def _halves(self, trainer: EnsembleTrainer, model, i: int) -> dict[str, float]:
        """Member i's :func:`mmar.losses.term_halves` on its validation pairs (which modality each
        sequence term reconstructs: the video halves sit near the features' unpredictable part)."""
        c = trainer.members[i].config
        if c.losses == (FIXED_TEXT,) or not set(c.losses) & set(TERM_HALVES):
            return {}
        if len(self.val_rows[i]) == 0:
            return {}
        if i not in self._val_batches:  # read once, used after every epoch
            source = SegmentSource(self.data, pairing=c.pairing, max_frames=c.max_frames, max_words=c.max_words)
            rows = np.asarray(self.val_rows[i])
            self._val_batches[i] = (*source.videos(rows), *source.texts(rows))
        halves = term_halves(model, *self._val_batches[i], tuple(c.losses), c.recon_reduction)
        return {k: float(v) for k, v in halves.items()}

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.records)


def _subset(rows: np.ndarray, width: int) -> np.ndarray:
    """``width`` of ``rows`` (n,) (all when n == width), drawn at random (seeded) and sorted: the members of one
    ensemble are probed on equally many pairs, and a member with more keeps a random subset of them, not its
    lowest rows."""
    if len(rows) == width:
        return rows
    return np.sort(rows[np.random.default_rng(0).permutation(len(rows))[:width]])
