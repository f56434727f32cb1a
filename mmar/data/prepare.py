"""Build the prepared dataset folder (:mod:`mmar.data.prepared`) from a named source.

Sources:

* ``"standin"``: the embedded stand-in (:mod:`mmar.data.standin`): real ActivityNet v1.3 class
  names and GloVe vectors, generated sentences and video features. Needs nothing but the package.
* ``"activitynet"``: real ActivityNet Captions annotations, with real I3D features when given
  ``features``, else stand-in video keyed by the real ids
  (:func:`mmar.data.activitynet.prepare_activitynet`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from mmar.data.classes import activitynet_classes
from mmar.data.glove import GloveVectors, build_vocabulary
from mmar.data.prepared import PreparedDataset
from mmar.data.splits import PAPER_N_TRIALS, PAPER_UNSEEN_COUNTS, make_splits
from mmar.data.standin import GENERATOR_NAME, generate_standin, select_classes
from mmar.results import STANDIN

SOURCES = ("standin", "activitynet")


def load_glove(glove: GloveVectors | str | Path | None) -> GloveVectors:
    """None -> GloVe 6B 50d from the wheel; a path -> that ``glove.*.txt``; vectors pass through."""
    if glove is None:
        return GloveVectors.load_default()
    if isinstance(glove, GloveVectors):
        return glove
    return GloveVectors.from_text_file(glove)


def prepare_standin(out_dir: str | Path, *, n_classes: int = 200, videos_per_class: int = 12,
                    class_selection: str = "random", seed: int = 0, noise: float = 1.0, feature_dim: int = 1024,
                    stride_frames: int = 64, glove: GloveVectors | str | Path | None = None,
                    unseen_counts: Sequence[int] = PAPER_UNSEEN_COUNTS, n_trials: int = PAPER_N_TRIALS,
                    split_seed: int | None = None, pairing: str = "segment", progress: bool | None = None
                    ) -> PreparedDataset:
    """Generate the stand-in dataset into ``out_dir`` (``features.h5`` + the prepared files).

    ``n_classes`` of the 200 ActivityNet v1.3 names (``class_selection`` ``"random"`` (seeded) or
    ``"first"``), ``videos_per_class`` videos each (2/3 train, 1/3 val); see
    :func:`mmar.data.standin.generate_standin`. ``split_seed`` (default ``seed``) fixes the
    zero-shot splits. ``pairing`` (``segment`` or ``video``) is recorded for later notebooks.
    """
    if pairing not in ("segment", "video"):
        raise ValueError(f"pairing must be 'segment' or 'video', got {pairing!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    vectors = load_glove(glove)
    classes = select_classes(n_classes, activitynet_classes(), class_selection, seed)
    data = generate_standin(out_dir, vectors, classes, videos_per_class=videos_per_class, seed=seed, noise=noise,
                            feature_dim=feature_dim, stride_frames=stride_frames, progress=progress)
    sentences = data.sentences.copy()
    vocabulary, token_ids, oov = build_vocabulary(sentences["text"].tolist(), vectors)
    sentences["token_ids"] = [" ".join(str(i) for i in ids) for ids in token_ids]
    split_seed = seed if split_seed is None else int(split_seed)
    splits = make_splits(classes, unseen_counts, n_trials, split_seed)
    meta: dict[str, Any] = {
        "data_source": STANDIN,
        "description": ("STAND-IN data, not ActivityNet: the 200 real ActivityNet v1.3 class names (or a subset) and "
                        "real GloVe vectors, with GENERATED sentences, timestamps and I3D-like video features "
                        f"({GENERATOR_NAME}, mmar.data.standin)"),
        "video_is_generated": True,
        "text_is_generated": True,
        "classes": classes,
        "features": data.features_path.name,
        "feature_extractor": GENERATOR_NAME,
        "fps": data.fps,
        "stride_frames": data.stride_frames,
        "feature_dim": data.feature_dim,
        "word_dim": vectors.dim,
        "word_vectors": vectors.source,
        "pairing": pairing,
        "counts": dataset_counts(sentences),
        "oov": oov.to_dict(),
        "split_seed": split_seed,
        "unseen_counts": sorted(splits),
        "n_trials": n_trials,
        "standin": {"class_selection": class_selection, "n_classes": n_classes, **data.params,
                    "class_facts": data.class_facts},
    }
    prepared = PreparedDataset(out_dir, meta, sentences, np.asarray(vocabulary.words), vocabulary.vectors, splits)
    prepared.write()
    return PreparedDataset.load(out_dir)


def dataset_counts(sentences: pd.DataFrame) -> dict[str, Any]:
    counts: dict[str, Any] = {"videos": int(sentences["video_id"].nunique()), "sentences": int(len(sentences))}
    for subset in ("train", "val"):
        part = sentences[sentences["subset"] == subset]
        counts[subset] = {"videos": int(part["video_id"].nunique()), "sentences": int(len(part))}
    return counts


def prepare_dataset(source: str, out_dir: str | Path, **params: Any) -> PreparedDataset:
    """Write ``out_dir`` for ``source`` (``"standin"`` or ``"activitynet"``) and return it loaded.

    ``params`` go to :func:`prepare_standin` or :func:`mmar.data.activitynet.prepare_activitynet`.
    """
    if source == "standin":
        return prepare_standin(out_dir, **params)
    if source == "activitynet":
        from mmar.data.activitynet import prepare_activitynet

        return prepare_activitynet(out_dir, **params)
    raise ValueError(f"unknown data source {source!r}; expected one of {SOURCES}")
