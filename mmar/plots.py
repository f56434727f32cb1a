"""The notebooks' figures. Each function draws one figure, names the data source in its title,
saves it as a PNG (``path``, read by the report) and shows it when running in a notebook.

Inputs are what :mod:`mmar.studies` computes; nothing here computes a reported number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from mmar.experiments.records import CellRecord, finished

DPI = 80


def _finish(fig: plt.Figure, path: str | Path) -> None:
    """Lay out, save to ``path`` and show (inline backends only), then close ``fig``."""
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    if "inline" in matplotlib.get_backend():
        plt.show()
    plt.close(fig)


def dataset_statistics(sentences: pd.DataFrame, videos: pd.DataFrame, real: pd.DataFrame | None, data_source: str,
                       path: str | Path) -> None:
    """Histograms of sentences per video, words per sentence, video duration, segment / video
    duration and feature steps per video; the real ActivityNet Captions annotations beside them when given.

    ``sentences``: :func:`mmar.data.stats.per_sentence` table; ``videos``: one row per video with ``n_steps``.
    """
    def real_column(values):
        return None if real is None else values(real)

    panels = [("sentences per video", sentences.groupby("video_id").size(),
               real_column(lambda t: t.groupby("video_id").size()), np.arange(0.5, 12.5)),
              ("words per sentence", sentences["n_words"], real_column(lambda t: t["n_words"]), np.arange(0, 51, 2)),
              ("video duration (s)", videos["duration_s"],
               real_column(lambda t: t.drop_duplicates("video_id")["duration_s"]), np.linspace(0, 250, 26)),
              ("segment / video duration", sentences["segment_fraction"], real_column(lambda t: t["segment_fraction"]),
               np.linspace(0, 1, 21)),
              ("feature steps per video", videos["n_steps"], None, 20)]
    fig, axes = plt.subplots(1, len(panels), figsize=(18, 3.2))
    for ax, (title, ours, real_values, bins) in zip(axes, panels):
        ax.hist(ours, bins=bins, density=True, alpha=0.6, label=data_source)
        if real_values is not None:
            ax.hist(real_values, bins=bins, density=True, alpha=0.5, label="ActivityNet Captions (real annotations)")
        ax.set_title(title)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Dataset statistics — data source: {data_source}")
    _finish(fig, path)


def class_similarity(classes: Sequence[str], structure: Any, data_source: str, path: str | Path, shown: int = 30) -> None:
    """Class-by-class similarity by GloVe name vectors and by mean features (first ``shown`` classes,
    ordered by the leading eigenvector of the name similarity), and both over all class pairs.
    ``structure``: a :class:`mmar.studies.dataset_stats.ClassStructure` (``name_similarity`` and
    ``feature_similarity`` (n, n), ``similarity_r``)."""
    name_similarity, feature_similarity = structure.name_similarity, structure.feature_similarity
    similarity_r = structure.similarity_r
    shown = min(shown, len(classes))
    order = np.argsort(np.linalg.eigh(name_similarity[:shown, :shown])[1][:, -1])
    pairs = np.triu_indices(len(classes), 1)
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
    for ax, matrix, title in ((axes[0], name_similarity, "GloVe similarity of class names"),
                              (axes[1], feature_similarity, "similarity of class-mean features (centred)")):
        image = ax.imshow(matrix[np.ix_(order, order)], cmap="viridis")
        ax.set_yticks(range(shown), [classes[i] for i in order], fontsize=6)
        ax.set_xticks([])
        ax.set_title(f"{title}\n({shown} classes)", fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.046)
    axes[2].scatter(name_similarity[pairs], feature_similarity[pairs], s=3, alpha=0.3)
    axes[2].set_xlabel("GloVe similarity of the class names")
    axes[2].set_ylabel("feature-mean similarity")
    axes[2].set_title(f"all class pairs, r = {similarity_r:.2f}", fontsize=9)
    fig.suptitle(f"Class structure — data source: {data_source}")
    _finish(fig, path)


def sample_frames(clips: dict[str, np.ndarray], data_source: str, path: str | Path) -> None:
    """Four evenly spaced frames of each clip (frames (T, H, W, 3) in [-1, 1] or [0, 1])."""
    fig, axes = plt.subplots(len(clips), 4, figsize=(9, 2.3 * len(clips)), squeeze=False)
    for row, (name, frames) in zip(axes, clips.items()):
        for ax, index in zip(row, np.linspace(0, len(frames) - 1, 4).astype(int)):
            ax.imshow(frames[index])
            ax.set_title(f"{name}  frame {index}", fontsize=8)
            ax.axis("off")
    fig.suptitle(f"Sample clips — data source: {data_source}", fontsize=9)
    _finish(fig, path)


def i3d_features(predictions: Any, labels: Sequence[str], data_source: str, path: str | Path) -> None:
    """Per clip: the (1024, T') I3D feature sequence (channels sorted by mean activation) and the
    per-step softmax over Kinetics classes for the clip's top classes. ``predictions``: a
    :class:`mmar.studies.i3d_sanity.ClipPredictions` (``features``, ``step_logits`` per clip, ``top``)."""
    features, step_logits, top = predictions.features, predictions.step_logits, predictions.top
    fig, axes = plt.subplots(len(features), 2, figsize=(11, 3.2 * len(features)), squeeze=False)
    for (ax_f, ax_p), name in zip(axes, features):
        feats = features[name]
        order = np.argsort(-feats.mean(axis=1))
        image = ax_f.imshow(feats[order], aspect="auto", cmap="magma", interpolation="nearest")
        ax_f.set(title=f"{name}: I3D features (1024 x {feats.shape[1]})", xlabel="feature step (8 frames = 0.32 s)",
                 ylabel="channel (sorted)")
        fig.colorbar(image, ax=ax_f)
        probs = torch.softmax(torch.from_numpy(step_logits[name]), dim=0).numpy()
        shown = list(dict.fromkeys(top[top["clip"] == name]["class"]))
        ax_p.imshow(probs[[list(labels).index(c) for c in shown]], aspect="auto", cmap="viridis", vmin=0, vmax=1,
                    interpolation="nearest")
        ax_p.set_yticks(range(len(shown)), shown, fontsize=7)
        ax_p.set(title="per-step class probability", xlabel="feature step")
    fig.suptitle(f"I3D (Kinetics-400 RGB) on real pixels — data source: {data_source}", fontsize=9)
    _finish(fig, path)


#: The reconstruction curves' title per loss column.
_AUTOENCODER_TITLES = {"recons_video": "Video autoencoder", "recons_text": "Text autoencoder"}


def reconstruction_curves(results: dict[str, Any], column: str, baseline: tuple[float, str], data_source: str,
                          path: str | Path) -> None:
    """Training reconstruction error per epoch (``result.history[column]``) per variant, with a baseline
    line: ``baseline`` is (value, label)."""
    (baseline, baseline_label), title = baseline, _AUTOENCODER_TITLES.get(column, column)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, result in results.items():
        history = result.history
        ax.plot(history["epoch"], history[column], marker="o", label=f"{name} (train)" if name else "train")
    ax.axhline(baseline, color="grey", ls="--", label=baseline_label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{column.replace('recons_', '')} reconstruction MSE")
    ax.legend(fontsize=8)
    ax.set_title(f"{title} — data source: {data_source}")
    _finish(fig, path)


def attention_filters(results: dict[str, Any], examples: Any, data_source: str, path: str | Path,
                      n_channels: int = 64) -> None:
    """Each example sequence ``examples.x`` (B, T, C) (valid steps ``examples.mask`` (B, T), titles
    ``examples.classes``; :class:`mmar.studies.autoencoders.Examples`) as an image of its ``n_channels``
    highest-variance channels, with every variant's encoder filters F[n, t] over it."""
    x, mask, row_titles = examples.x, examples.mask, examples.classes
    channels = torch.argsort(x.flatten(0, 1).var(0), descending=True)[:n_channels]
    fig, axes = plt.subplots(len(x), len(results), figsize=(5.5 * len(results), 2.4 * len(x)), squeeze=False)
    for col, (variant, result) in enumerate(results.items()):
        with torch.no_grad():
            filters = result.model.video_encoder.pool.filters(mask).numpy()
        for i in range(len(x)):
            ax = axes[i, col]
            n = int(mask[i].sum())
            ax.imshow(x[i, :n][:, channels].T.numpy(), aspect="auto", cmap="Greys", extent=(-0.5, n - 0.5, 0, 1))
            for f in range(filters.shape[1]):
                ax.plot(np.arange(n), filters[i, f, :n] / filters[i, f, :n].max(), lw=2, label=f"filter {f}")
            ax.set_title(f"{variant} — {row_titles[i]} ({n} steps)", fontsize=9)
            ax.set_yticks([])
    axes[0, 0].legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("feature step")
    fig.suptitle(f"Learned temporal attention filters (encoder) over feature sequences — data source: {data_source}")
    _finish(fig, path)


#: History columns that are not per-term losses of the loss-curve figure.
_NOT_TERMS = {"epoch", "phase", "lr", "seconds", "d_z", "d_v", "d_t", "g_z", "g_v", "g_t", "total_paired",
              "total_unpaired"}


def loss_curves(histories: dict[str, pd.DataFrame], data_source: str, path: str | Path) -> None:
    """Epoch means of every loss term (unweighted, log scale), one panel per variant."""
    fig, axes = plt.subplots(1, len(histories), figsize=(5 * len(histories), 3.5), squeeze=False)
    for ax, (name, history) in zip(axes[0], histories.items()):
        for column in history.columns:
            if column not in _NOT_TERMS and history[column].notna().any():
                ax.plot(history["epoch"], history[column], marker=".", label=column)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.legend(fontsize=7)
    fig.suptitle(f"Loss terms per epoch — data source: {data_source}")
    _finish(fig, path)


def adversarial_terms(name: str, result: Any, data_source: str, path: str | Path) -> None:
    """Discriminator (Eq. 7) and generator (Eq. 8) losses per epoch of variant ``name`` (a
    :class:`mmar.training.TrainResult`); the paired-only phase shaded; a line at 2 log 2 (a discriminator at chance)."""
    history, pretrain_epochs, form = result.history, result.config.pretrain_epochs, result.config.adversarial_form
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for column in ("d_z", "d_v", "d_t", "g_z", "g_v", "g_t"):
        if column in history and history[column].notna().any():
            ax.plot(history["epoch"], history[column], marker=".", ls="-" if column[0] == "d" else "--", label=column)
    ax.axvspan(0.5, pretrain_epochs + 0.5, color="grey", alpha=0.15, label="paired-only phase")
    ax.axhline(2 * np.log(2), color="black", lw=0.5)
    ax.set_xlabel("epoch")
    ax.set_title(f"{name}: adversarial terms ({form}) — data source: {data_source}")
    ax.legend(fontsize=7, ncol=2)
    _finish(fig, path)


def embedding_map(embedding: Any, method: str, seed: int, data_source: str, path: str | Path) -> None:
    """2-D map (``method`` "tsne" or "pca", seeded) of a :class:`mmar.studies.joint_training.EmbeddingPoints`
    (``points`` (n, E), ``kinds``, ``groups``, ``variant``): videos as dots, sentences as crosses, seen (val)
    and unseen in two colours."""
    points, kinds, groups, variant = embedding.points, embedding.kinds, embedding.groups, embedding.variant
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if method == "tsne":
        xy = TSNE(2, perplexity=min(30.0, (len(points) - 1) / 3), random_state=seed, init="pca").fit_transform(points)
    elif method == "pca":
        xy = PCA(2, random_state=seed).fit_transform(points)
    else:
        raise ValueError(f"embedding_plot must be 'tsne' or 'pca', got {method!r}")
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    for group, colour in (("seen (val)", "tab:blue"), ("unseen", "tab:orange")):
        for kind, marker in (("video", "o"), ("text", "x")):
            sel = (groups == group) & (kinds == kind)
            ax.scatter(xy[sel, 0], xy[sel, 1], s=12, c=colour, marker=marker, alpha=0.6, label=f"{group} {kind}")
    ax.legend(fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{method.upper()} of embeddings — {variant} — data source: {data_source}")
    _finish(fig, path)


def zero_shot_curves(results: Sequence[CellRecord], unseen_ks: Sequence[int], n_trials: int, data_source: str,
                     path: str | Path) -> None:
    """1-NN zero-shot accuracy against K per grid row, mean ± std over trials, each row shifted a little
    sideways; chance 100/K as a short dotted segment at each K. The x axis is logarithmic with ticks at
    ``unseen_ks`` only."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    frame = pd.DataFrame([{"row": r.row, "k": r.k, "acc": r.zero_shot.nn_accuracy} for r in finished(results)])
    stats = frame.groupby(["row", "k"], sort=False)["acc"].agg(["mean", "std"]).reset_index()
    groups = list(stats.groupby("row", sort=False))
    step, centre = 1.05, (len(groups) - 1) / 2  # sideways shift between neighbouring rows: a factor on K
    for i, (label, group) in enumerate(groups):
        ax.errorbar(group["k"] * step ** (i - centre), group["mean"], yerr=group["std"].fillna(0), marker="o",
                    capsize=2, label=label, linestyle="-" if "Unpaired" in label else "--")
    half = step ** (centre + 1)  # each chance segment spans the shifted rows
    ax.hlines([100 / k for k in unseen_ks], [k / half for k in unseen_ks], [k * half for k in unseen_ks], colors="k",
              linestyles=":", linewidth=1.5, label="chance (100/K)")
    ax.set_xscale("log")
    ax.set_xticks(unseen_ks, [str(k) for k in unseen_ks])
    ax.minorticks_off()
    ax.set_xlabel("K unseen classes")
    ax.set_ylabel("1-NN accuracy (%)")
    ax.set_title(f"Zero-shot accuracy, mean ± std over {n_trials} trial(s) — data source: {data_source}")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)
    _finish(fig, path)


def ablation_bars(families: dict[str, Sequence[Any]], results: Sequence[CellRecord], unseen_k: int,
                  data_source: str, path: str | Path) -> None:
    """One panel per ablation family: 1-NN accuracy per row as a bar (mean ± std over trials), each
    trial a dot, chance 100/K as a line."""
    done = finished(results)
    n_trials = len({r.trial for r in results})
    fig, axes = plt.subplots(1, len(families), figsize=(4 * len(families), 3.6), squeeze=False)
    for ax, (name, rows) in zip(axes[0], families.items()):
        labels = [row.label for row in rows]
        values = [[r.zero_shot.nn_accuracy for r in done if r.row == label] for label in labels]
        x = np.arange(len(labels))
        means = [np.mean(v) if v else np.nan for v in values]
        stds = [np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in values]
        ax.bar(x, means, yerr=stds, capsize=3, color="#9ecae1")
        for i, v in enumerate(values):
            ax.plot([i] * len(v), v, "k.", markersize=4)
        ax.axhline(100 / unseen_k, color="k", linestyle=":", label="chance")
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("1-NN accuracy (%)")
    fig.suptitle(f"K = {unseen_k} unseen, mean ± std over {n_trials} trial(s), dots = trials — data source: "
                 f"{data_source}", fontsize=9)
    _finish(fig, path)


def lambda_search(curves: pd.DataFrame, field: str, chosen: float, data_source: str, path: str | Path) -> None:
    """Left: validation zero-shot accuracy (pseudo-unseen seen classes) per epoch, one line per λ
    (mean over seeds, band = min..max); middle: each held-out loss term of the chosen λ relative to its
    value before training (epoch 0); right: each term's share of the encoder gradient at the last
    epoch per λ. ``curves``: :func:`mmar.experiments.balance.lambda_search`."""
    fig, (acc, terms, share) = plt.subplots(1, 3, figsize=(15, 3.6))
    for value, group in curves.groupby(field):
        stats = group.groupby("epoch")["probe_zero_shot"].agg(["mean", "min", "max"])
        line, = acc.plot(stats.index, stats["mean"], marker=".", label=f"{field} = {value:g}"
                         + (" (chosen)" if value == chosen else ""))
        acc.fill_between(stats.index, stats["min"], stats["max"], color=line.get_color(), alpha=0.15)
    acc.set_xlabel("epoch"); acc.set_ylabel("validation zero-shot 1-NN accuracy (%)"); acc.legend(fontsize=7)
    picked = curves[curves[field] == chosen].groupby("epoch").mean(numeric_only=True)
    columns = [c for c in picked.columns if c.startswith("probe_val_") and c != "probe_val_total_paired"]
    if any(c.endswith(("_video", "_text")) for c in columns):  # the halves say more than their sums
        columns = [c for c in columns if c.endswith(("_video", "_text", "_joint"))]
    for column in columns:
        terms.plot(picked.index, picked[column] / picked[column].iloc[0], marker=".",
                   ls="--" if column.endswith("_video") else "-", label=column.removeprefix("probe_val_"))
    terms.axhline(1.0, color="grey", lw=0.8, ls=":")
    terms.set_xlabel("epoch (0: before training)"); terms.set_ylabel("held-out term / its value before training")
    terms.set_title(f"{field} = {chosen:g} (chosen)", fontsize=8); terms.legend(fontsize=7)
    last = curves[curves["epoch"] == curves["epoch"].max()]
    columns = [c for c in last.columns if c.startswith("grad_share_")]
    shares = last.groupby(field)[columns].mean()
    shares.columns = [c.removeprefix("grad_share_") for c in columns]
    shares.plot.bar(stacked=True, ax=share, rot=0)
    share.set_ylabel("share of the encoder gradient"); share.set_xlabel(field); share.legend(fontsize=7)
    fig.suptitle(f"λ search on seen-class validation data — data source: {data_source}")
    _finish(fig, path)


def convergence(results: Sequence[CellRecord], rows: Sequence[str], data_source: str, path: str | Path) -> None:
    """Per grid row (one panel each): zero-shot accuracy on the cell's unseen classes and its loss
    on held-out seen-class pairs against epochs, one thin line per trial and the mean in bold.
    ``results``: grid cells with ``history`` from ``GridSettings(curves=True)``."""
    fig, axes = plt.subplots(2, len(rows), figsize=(4.2 * len(rows), 5.4), squeeze=False, sharex="col")
    for j, label in enumerate(rows):
        records = [r for r in finished(results) if r.row == label and r.history]
        for i, (column, name) in enumerate((("probe_zero_shot", "zero-shot 1-NN accuracy (%)"),
                                            ("probe_val_total_paired", "held-out seen-class loss (Eq. 6)"))):
            ax = axes[i][j]
            curves = [r.history_frame().set_index("epoch")[column] for r in records if column in r.history[0]]
            for curve in curves:
                ax.plot(curve.index, curve.to_numpy(), color="grey", lw=0.7, alpha=0.6)
            if curves:
                mean = pd.concat(curves, axis=1).mean(axis=1)
                ax.plot(mean.index, mean.to_numpy(), color="black", lw=2, marker=".", label=f"mean of {len(curves)}")
                ax.legend(fontsize=7)
            ax.set_ylabel(name, fontsize=8)
            if i == 0:
                ax.set_title(label, fontsize=8)
            else:
                ax.set_xlabel("epoch")
    fig.suptitle(f"Convergence of grid cells (each trial its own split) — data source: {data_source}")
    _finish(fig, path)


def difficulty_sweep(table: pd.DataFrame, unseen_k: int, data_source: str, path: str | Path) -> None:
    """One panel per claim of :func:`mmar.studies.difficulty.claim_differences`' ``table``: its mean paired
    difference (points) with the 95 % interval against the nuisance knob, each trial a dot, 0 as a line
    (and, for a claim against chance, the near-chance margin it is compared with, dotted); the x labels
    also give the raw-feature k-means accuracy of each dataset."""
    claims = list(dict.fromkeys(table["claim"]))
    if not claims:
        return
    fig, axes = plt.subplots(1, len(claims), figsize=(4 * len(claims), 3.4), squeeze=False)
    for ax, claim in zip(axes[0], claims):
        part = table[table["claim"] == claim].sort_values("nuisance")
        x = np.arange(len(part))
        mean = part["mean difference"].to_numpy()
        below = np.nan_to_num(mean - part["low"].to_numpy())
        above = np.nan_to_num(part["high"].to_numpy() - mean)
        ax.errorbar(x, mean, yerr=[below, above], fmt="o", color="#3182bd", capsize=4, label="mean, 95 % interval")
        for i, trials in enumerate(part["per trial"]):
            ax.plot([i + 0.08] * len(trials), trials, "k.", markersize=3)
        ax.axhline(0, color="k", linewidth=0.8)
        level = float(part["compared with"].iloc[0])
        if level:
            ax.axhline(level, color="k", linestyle=":", linewidth=0.8, label="near-chance margin")
            ax.legend(fontsize=7)
        ax.set_xticks(x)
        ax.set_xticklabels([f"nuisance {n:g}\nraw k-means {r:.0f}%" for n, r in
                            zip(part["nuisance"], part["raw k-means accuracy (%)"])], fontsize=7)
        ax.set_title(f"{claim}: {part['difference'].iloc[0]}", fontsize=7)
        ax.set_ylabel("paired difference (points)")
    fig.suptitle(f"difficulty sweep at K = {unseen_k}: each claim's paired difference by trial — data source: "
                 f"{data_source} (v2)", fontsize=9)
    _finish(fig, path)
