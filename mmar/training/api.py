"""Training one model: :func:`train` is the ensemble trainer with one member; :func:`load_model`
reads back what it saved (``<out_dir>/config.json``, ``checkpoint.pt``, ``losses.csv``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmar.data.prepared import PreparedDataset
from mmar.models.autoencoders import MultimodalAutoencoder
from mmar.models.discriminators import Discriminators
from mmar.training.config import CHECKPOINT, CONFIG_FILE, HISTORY_FILE, TrainConfig, phases
from mmar.training.ensemble import build_model, load_checkpoint, train_ensemble


@dataclass
class TrainResult:
    """What :func:`train` returns. ``history``: one row per epoch, mean of each loss term."""

    model: MultimodalAutoencoder
    history: pd.DataFrame
    out_dir: Path
    config: TrainConfig
    discriminators: Discriminators | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def train(config: TrainConfig, data: PreparedDataset, train_rows: np.ndarray, out_dir: str | Path, *,
          unpaired_rows: np.ndarray | None = None, progress: bool = True, stop_after_epoch: int | None = None,
          executor: str = "auto", memory: str = "auto") -> TrainResult:
    """Train (or resume, or just load when finished) one model: an ensemble of one member
    (:func:`mmar.training.ensemble.train_ensemble`). Per-term epoch means also go to
    ``out_dir/losses.csv``. ``stop_after_epoch`` stops once that many epochs are complete (an
    interruption, for tests); calling again without it resumes."""
    result = train_ensemble([config], data, [train_rows], out_dir,
                            unpaired_rows=None if unpaired_rows is None else [unpaired_rows], progress=progress,
                            stop_after_epoch=stop_after_epoch, executor=executor, memory=memory)
    history = result.histories[0]
    history.to_csv(Path(out_dir) / HISTORY_FILE, index=False)
    member = result.members[0]
    return TrainResult(model=result.models[0], history=history, out_dir=Path(out_dir), config=config,
                       discriminators=result.discriminators[0], seconds=result.seconds,
                       extra={"n_paired": len(member.paired), "n_unpaired": len(member.unpaired),
                              "executor": result.executor, "device": result.device})


def load_model(out_dir: str | Path, *, member: int = 0, allow_unfinished: bool = False,
               device: str = "cpu") -> MultimodalAutoencoder:
    """Member ``member``'s model saved by :func:`train` / ``train_ensemble`` in ``out_dir``, eval mode.
    The checkpoint is read with ``weights_only=True``."""
    out_dir = Path(out_dir)
    if not (out_dir / CONFIG_FILE).is_file() or not (out_dir / CHECKPOINT).is_file():
        raise FileNotFoundError(f"{out_dir}: no {CONFIG_FILE} / {CHECKPOINT}; train a model there first")
    saved = json.loads((out_dir / CONFIG_FILE).read_text())
    config = TrainConfig.from_dict(saved["members"][member]["config"])
    state = load_checkpoint(out_dir / CHECKPOINT, device)
    if not state.get("finished") and not allow_unfinished:
        raise RuntimeError(f"{out_dir / CHECKPOINT}: training stopped after epoch {state['epoch']} of "
                           f"{len(phases(config))}; call train() again to resume, or pass allow_unfinished=True")
    model, _ = build_model(config, saved["video_dim"], saved["text_dim"])
    prefix = "model."
    model.load_state_dict({k[len(prefix):]: v[member] for k, v in {**state["params"], **state["buffers"]}.items()
                           if k.startswith(prefix)})
    return model.to(device).eval()
