"""Training of the paper's model and its variants (ICLR 2019 submission §3, Alg. 1, §4.1).

- :mod:`mmar.training.config`: :class:`TrainConfig`, every training choice;
- :mod:`mmar.training.data`: batches from the feature store (streamed) or from memory;
- :mod:`mmar.training.optim`: SGD / Adam over stacked member parameters;
- :mod:`mmar.training.ensemble`: M models trained at once (Algorithm 1 per member, checkpoints);
- :mod:`mmar.training.api`: :func:`train` (one model = an ensemble of one) and :func:`load_model`;
- :mod:`mmar.training.inference`: embeddings and reconstruction errors of a trained model.
"""

from mmar.training.api import TrainResult, load_model, train
from mmar.training.config import (CHECKPOINT, CONFIG_FILE, FIXED_TEXT, HISTORY_FILE, LOSS_TERMS, RUNTIME_FIELDS,
                                  UNPAIRED_TERMS,
                                  TrainConfig, modalities, phases, structure_key, unpaired_terms_used)
from mmar.training.data import MemoryBank, SegmentSource, channel_statistics, clear_cache, split_unpaired
from mmar.training.ensemble import EnsembleResult, EnsembleTrainer, build_model, train_ensemble
from mmar.training.inference import embed_rows, reconstruct_rows, torch_threads

__all__ = ["CHECKPOINT", "CONFIG_FILE", "FIXED_TEXT", "HISTORY_FILE", "LOSS_TERMS", "RUNTIME_FIELDS", "UNPAIRED_TERMS", "EnsembleResult",
           "EnsembleTrainer", "MemoryBank", "SegmentSource", "TrainConfig", "TrainResult", "build_model",
           "channel_statistics", "clear_cache", "embed_rows", "load_model", "modalities", "phases",
           "reconstruct_rows", "split_unpaired", "structure_key", "torch_threads", "train", "train_ensemble",
           "unpaired_terms_used"]
