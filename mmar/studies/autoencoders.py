"""One autoencoder alone (notebooks 03 and 04): held-out reconstruction error against a baseline,
nearest-word read-out of decoded sentences, the learned filters, and the result rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd
import torch

from mmar.data.prepared import PreparedDataset
from mmar.evaluation.captioning import best_column_fit, decoder_centre, read_out_pairs, word_accuracy
from mmar.models.autoencoders import length_mask
from mmar.provenance import Run
from mmar.results import ResultRow
from mmar.studies.settings import NotebookSettings
from mmar.studies.trial import TrialRows, capped
from mmar.training import SegmentSource, TrainResult, reconstruct_rows

@dataclass(frozen=True)
class AutoencoderSettings(NotebookSettings):
    """Settings of one autoencoder trained alone: on the seen classes of split (``unseen_k``, ``trial``),
    at most ``max_train_rows`` rows (None: all), ``train`` and its ``variants`` (TrainConfig overrides),
    errors on at most ``max_eval_rows`` rows per group, ``n_examples`` examples shown."""

    seed: int
    unseen_k: int
    trial: int
    max_train_rows: int | None
    max_eval_rows: int | None
    train: dict[str, Any]
    variants: dict[str, dict[str, Any]]
    n_examples: int

    minimums: ClassVar[Mapping[str, float]] = {"seed": 0, "unseen_k": 2, "trial": 0, "max_train_rows": 1,
                                               "max_eval_rows": 1, "n_examples": 0}


@dataclass(frozen=True)
class VideoAutoencoderSettings(AutoencoderSettings):
    """Notebook 03's settings (:class:`AutoencoderSettings`)."""

    notebook: ClassVar[str] = "03_video_autoencoder"


@dataclass(frozen=True)
class TextAutoencoderSettings(AutoencoderSettings):
    """Notebook 04's settings (:class:`AutoencoderSettings`)."""

    notebook: ClassVar[str] = "04_text_autoencoder"


#: Rows per chunk when streaming features for the baselines (bounded memory).
CHUNK_ROWS = 256


def _chunks(rows: np.ndarray) -> list[np.ndarray]:
    return np.array_split(rows, max(1, len(rows) // CHUNK_ROWS))


def evaluation_groups(rows: TrialRows, seed: int, max_eval_rows: int | None) -> dict[str, np.ndarray]:
    """``{"train": capped training rows, "val (seen classes)": ..., "unseen classes": ...}``."""
    return {"train": capped(rows.train, max_eval_rows, seed), "val (seen classes)": rows.val,
            "unseen classes": rows.unseen}


def mean_feature(source: SegmentSource, rows: np.ndarray) -> torch.Tensor:
    """The mean video feature vector (C,) over the valid steps of ``rows``."""
    total, steps = 0.0, 0
    for chunk in _chunks(rows):
        x, m = source.videos(chunk)
        total, steps = total + (x * m[:, :, None]).sum((0, 1)), steps + int(m.sum())
    return total / steps


def mean_baseline(source: SegmentSource, rows: np.ndarray, mean: torch.Tensor) -> float:
    """Mean squared error per feature element over the valid steps of ``rows`` when every step is
    predicted by ``mean`` (C,): the error a reconstruction has to beat."""
    sq, n = 0.0, 0
    for chunk in _chunks(rows):
        x, m = source.videos(chunk)
        sq, n = sq + float((((x - mean) ** 2) * m[:, :, None]).sum()), n + int(m.sum()) * x.shape[2]
    return sq / n


def video_reconstruction_table(results: dict[str, TrainResult], data: PreparedDataset, train_rows: np.ndarray,
                               groups: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per variant and row group: n, held-out video reconstruction MSE, and the mean-feature baseline
    (the mean over ``train_rows``), columns ``variant, kernel, rows, n, mse, mean-feature baseline``."""
    first = next(iter(results.values())).config
    source = SegmentSource(data, max_frames=first.max_frames)
    mean = mean_feature(source, train_rows)
    baselines = {name: mean_baseline(source, rows, mean) for name, rows in groups.items()}
    table = []
    for variant, result in results.items():
        for name, rows in groups.items():
            errors, _ = reconstruct_rows(result.model, data, rows, "video")
            table.append({"variant": variant, "kernel": result.config.kernel, "rows": name, "n": len(rows),
                          "mse": float(errors.mean()), "mean-feature baseline": baselines[name]})
    return pd.DataFrame(table)


@dataclass(frozen=True)
class Examples:
    """Example video segments: ``x`` (B, T, C), valid steps ``mask`` (B, T), each one's class name."""

    x: torch.Tensor
    mask: torch.Tensor
    classes: list[str]


def example_sequences(results: dict[str, TrainResult], data: PreparedDataset, rows: TrialRows, n_examples: int
                      ) -> Examples:
    """The first ``n_examples`` held-out (val) segments, else training segments, cropped as in training."""
    example_rows = rows.val[:n_examples] if len(rows.val) >= n_examples else rows.train[:n_examples]
    first = next(iter(results.values())).config
    x, mask = SegmentSource(data, max_frames=first.max_frames).videos(example_rows)
    return Examples(x, mask, [str(data.sentences.at[int(r), "class_name"]) for r in example_rows])


def filter_parameters(results: dict[str, TrainResult], length: float = 20.0) -> pd.DataFrame:
    """Centres and widths (in steps) of every encoder and decoder filter on a sequence of ``length`` steps."""
    params = []
    for variant, result in results.items():
        for side, bank in (("encoder", result.model.video_encoder.pool), ("decoder", result.model.video_decoder.unpool)):
            steps = torch.tensor([length])
            with torch.no_grad():
                centres, widths = bank.centres(steps)[0].numpy(), bank.widths(steps)[0].numpy()
            for f in range(len(centres)):
                params.append({"variant": variant, "side": side, "filter": f,
                               f"centre (of {length:g} steps)": float(centres[f]), "width (steps)": float(widths[f])})
    return pd.DataFrame(params)


def text_reconstruction(result: TrainResult, data: PreparedDataset, groups: dict[str, np.ndarray]
                        ) -> tuple[pd.DataFrame, dict[str, list[tuple[str, str]]]]:
    """Per row group: n, text reconstruction MSE, the mean-word-vector baseline, the word accuracy
    (% of positions whose reconstructed column's nearest vocabulary word, by the captioning read-out
    :func:`mmar.evaluation.captioning.nearest_words`, is the original word), its chance line (% of
    positions holding the group's most frequent word: always emitting that word scores this) and the
    best fit of the decoder's filters (the word accuracy of the closest output its transposed
    attention filters can produce, :func:`mmar.evaluation.captioning.best_column_fit`; NaN without
    attention filters); and per group the (original, decoded) sentences as words."""
    vectors, words = data.vocab_vectors, data.vocab_words
    mean_vector = vectors[1:].mean(0)
    centre = decoder_centre(result.model)
    unpool = result.model.text_decoder.unpool
    has_filters = hasattr(unpool, "weights") and hasattr(unpool, "n_filters")
    table, examples = [], {}
    for name, rows in groups.items():
        errors, kept = reconstruct_rows(result.model, data, rows, "text", keep=len(rows))
        lengths = [len(original) for original, _ in kept]
        want, got = read_out_pairs(kept, vectors, words, centre)
        scores = word_accuracy(want, got)
        best_fit = float("nan")
        if has_filters and kept:
            mask = length_mask(torch.tensor(lengths), len(lengths))
            target = np.zeros((len(kept), mask.shape[1], kept[0][0].shape[1]), np.float32)
            for i, (original, _) in enumerate(kept):
                target[i, :len(original)] = original
            with torch.no_grad():
                fits = best_column_fit(unpool.weights(mask), target)
            _, fit = read_out_pairs([(o, f[:len(o)]) for (o, _), f in zip(kept, fits)], vectors, words, centre)
            best_fit = word_accuracy(want, fit)["word_accuracy"]
        examples[name] = [(" ".join(w), " ".join(g)) for w, g in zip(want, got)]
        baseline = float(np.mean([((o - mean_vector) ** 2).mean() for o, _ in kept]))
        table.append({"rows": name, "n": len(rows), "mse": float(errors.mean()), "mean-vector baseline": baseline,
                      "word accuracy %": scores["word_accuracy"], "chance %": scores["chance"],
                      "best fit of the filters %": best_fit})
    return pd.DataFrame(table), examples


def text_reconstruction_table(results: dict[str, TrainResult], data: PreparedDataset, groups: dict[str, np.ndarray]
                              ) -> tuple[pd.DataFrame, dict[str, dict[str, list[tuple[str, str]]]]]:
    """:func:`text_reconstruction` of every variant: one table with columns ``variant, text decoder N``
    first, and the decoded sentences per variant."""
    tables, examples = [], {}
    for variant, result in results.items():
        table, examples[variant] = text_reconstruction(result, data, groups)
        config = result.config
        table.insert(0, "text decoder N", config.text_decoder_filters or config.n_filters)
        table.insert(0, "variant", variant)
        tables.append(table)
    return pd.concat(tables, ignore_index=True), examples


def decoded_examples(examples: dict[str, dict[str, list[tuple[str, str]]]], n_examples: int) -> pd.DataFrame:
    """The first ``n_examples`` decoded val and unseen sentences beside their originals, one column of
    decoded sentences G_T(E_T(t)) per variant."""
    frames = []
    for group, label in (("val (seen classes)", "val (seen)"), ("unseen classes", "unseen")):
        first = next(iter(examples.values()))[group][:n_examples]
        frame = pd.DataFrame({"rows": label, "original (nearest words of its vectors)": [o for o, _ in first]})
        for variant, by_group in examples.items():
            frame[f"decoded: {variant}"] = [d for _, d in by_group[group][:n_examples]]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _slug(group: str) -> str:
    return group.split(" ")[0]


def video_autoencoder_rows(table: pd.DataFrame, results: dict[str, TrainResult], rows: TrialRows, run: Run
                           ) -> list[ResultRow]:
    """Result rows of notebook 03: one ``reconstruction_mse_<group>`` per variant and group."""
    out = []
    for record in table.to_dict("records"):
        config = results[record["variant"]].config.to_dict() | {"unseen_k": rows.unseen_k, "trial": rows.trial}
        out.append(ResultRow(experiment="video_autoencoder", metric=f"reconstruction_mse_{_slug(record['rows'])}",
                             values=[record["mse"]], data_source=run.data_source,
                             **run.row_fields(), config=config, seeds=[run.seed],
                             notes=f"kernel={record['kernel']}; mean-feature baseline "
                             f"{record['mean-feature baseline']:.4f}; {record['n']} segments"))
    return out


def text_autoencoder_rows(table: pd.DataFrame, results: dict[str, TrainResult], rows: TrialRows, run: Run
                          ) -> list[ResultRow]:
    """Result rows of notebook 04, per variant: ``reconstruction_mse_<group>``, ``word_accuracy_<group>``
    and ``word_accuracy_best_fit_<group>`` (the filters' best fit, when the decoder has attention filters)."""
    out = []
    for record in table.to_dict("records"):
        result = results[record["variant"]]
        config: dict[str, Any] = result.config.to_dict() | {"unseen_k": rows.unseen_k, "trial": rows.trial}
        common = dict(data_source=run.data_source, **run.row_fields(), config=config, seeds=[run.seed])
        slug, decoder = _slug(record["rows"]), f"text decoder N = {record['text decoder N']}"
        note = f"{decoder}; {record['n']} sentences; mean-vector baseline {record['mean-vector baseline']:.4f}"
        out.append(ResultRow(experiment="text_autoencoder", metric=f"reconstruction_mse_{slug}", values=[record["mse"]],
                             notes=note, **common))
        out.append(ResultRow(experiment="text_autoencoder", metric=f"word_accuracy_{slug}", unit="%",
                             values=[record["word accuracy %"]], chance=record["chance %"],
                             notes=f"{decoder}; nearest vocabulary word (centred cosine) of each reconstructed column "
                             "vs the original word; chance: always the most frequent word", **common))
        if not np.isnan(record["best fit of the filters %"]):
            out.append(ResultRow(experiment="text_autoencoder", metric=f"word_accuracy_best_fit_{slug}", unit="%",
                                 values=[record["best fit of the filters %"]], chance=record["chance %"],
                                 notes=f"{decoder}; the same read-out of the least-squares best output of the "
                                 "decoder's learned transposed filters (its ceiling)", **common))
    return out
