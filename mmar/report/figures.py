"""The report's own plots (PNG, base64 for embedding) and the registry of the notebooks' figures.

Plots: accuracy vs number of unseen classes (Table 1, paper vs ours, chance line), the ablation
curves (Tables 6-8, paper vs ours), and loss histories from ``<run_dir>/logs/*.csv``.
"""

from __future__ import annotations

import base64
import fnmatch
import io
import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mmar.report.claims import chance_of  # noqa: E402
from mmar.report.compare import SideTable  # noqa: E402
from mmar.results import ACTIVITYNET, ANET_TEXT_STANDIN_VIDEO, STANDIN  # noqa: E402

SOURCE_COLOURS = {STANDIN: "#d95f02", ANET_TEXT_STANDIN_VIDEO: "#7570b3", ACTIVITYNET: "#1b9e77"}
PAPER_COLOUR = "#444444"
DPI = 110


@dataclass
class Figure:
    """An image to embed: ``data_uri`` is ``data:image/png;base64,...``."""

    key: str
    caption: str
    data_uri: str
    source: str = ""  # file it was read from, relative to the run folder ("" for the report's own plots)


def png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _render(fig: plt.Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return png_data_uri(buffer.getvalue())


def _style(ax: plt.Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, color="#e6e6e6", linewidth=0.8)
    ax.set_axisbelow(True)


def accuracy_vs_unseen(table: SideTable) -> Figure | None:
    """Table 1: accuracy vs number of unseen classes, one panel per data source of ours."""
    if table.name != "Table 1" or not table.sources:
        return None
    ks = [int(c.split()[0]) for c in table.columns]
    fig, axes = plt.subplots(1, len(table.sources), figsize=(5.6 * len(table.sources), 4.0), squeeze=False,
                             sharey=True)
    colours = plt.get_cmap("tab20")
    handles: dict[str, object] = {}
    for ax, source in zip(axes[0], table.sources):
        for i, row in enumerate(table.rows):
            if not any(row.ours.get((c, source)) for c in table.columns):
                continue
            colour = colours(i % 20)
            label = (row.group + ": " if row.group else "") + row.label
            paper = [float(row.paper[c]["value_f"]) if row.paper[c] is not None else math.nan for c in table.columns]
            ax.plot(ks, paper, "--", marker="o", mfc="white", color=colour, linewidth=1.0, markersize=4, alpha=0.8)
            cells = [row.ours.get((c, source)) for c in table.columns]
            means = [c.mean if c else math.nan for c in cells]
            stds = [c.std if c else math.nan for c in cells]
            handles[label] = ax.errorbar(ks, means, yerr=stds, fmt="-o", color=colour, linewidth=1.8, markersize=4,
                                         capsize=3)
        handles["chance (100/K %)"] = ax.plot(ks, [chance_of(c) for c in table.columns], ":", color="black",
                                              linewidth=1.4)[0]
        ax.set_xscale("log")
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.minorticks_off()
        ax.set_xlabel("number of unseen classes")
        ax.set_ylabel("zero-shot accuracy (%)")
        mark = " ⚠" if source != ACTIVITYNET else ""
        ax.set_title(f"ours on {source}{mark} (solid) vs paper (dashed)", fontsize=10)
        _style(ax)
    fig.legend(list(handles.values()), list(handles.keys()), loc="lower center", ncol=3, fontsize=7.5, frameon=False,
               bbox_to_anchor=(0.5, -0.02 - 0.035 * math.ceil(len(handles) / 3)))
    fig.tight_layout()
    return Figure("accuracy_vs_unseen", "Zero-shot accuracy vs number of unseen classes (Table 1). Dashed: the "
                  "paper; solid with error bars (± std over trials): ours; dotted: chance (100/K %). Panels marked ⚠ "
                  "use data that differ from the paper's: compare shapes, not values.", _render(fig))


def _ours_series(table: SideTable, source: str, column: str = "Accuracy") -> tuple[list[float], list[float]]:
    cells = [row.ours.get((column, source)) for row in table.rows]
    return [c.mean if c else math.nan for c in cells], [c.std if c else math.nan for c in cells]


def _paper_series(table: SideTable, column: str = "Accuracy") -> list[float]:
    return [float(r.paper[column]["value_f"]) if r.paper.get(column) is not None else math.nan for r in table.rows]


def ablation_curves(tables: dict[str, SideTable]) -> Figure | None:
    """Tables 6 (pooling, bars), 7 (paired share) and 8 (unpaired amount): paper vs ours."""
    panels = [tables[n] for n in ("Table 6", "Table 7", "Table 8") if n in tables and tables[n].sources]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
    for ax, table in zip(axes[0], panels):
        labels = [r.label for r in table.rows]
        x = np.arange(len(labels))
        if table.name == "Table 6":
            width = 0.8 / (1 + len(table.sources))
            ax.bar(x, _paper_series(table), width, color=PAPER_COLOUR, label="paper")
            for j, source in enumerate(table.sources, 1):
                means, stds = _ours_series(table, source)
                ax.bar(x + j * width, means, width, yerr=stds, capsize=3, color=SOURCE_COLOURS[source],
                       label=f"ours, {source}" + (" ⚠" if source != ACTIVITYNET else ""))
            ax.set_xticks(x + 0.4 - width / 2, [lab.replace("Temporal attention filters", "Attention\nfilters")
                                                 .replace(" pooling", "\npooling") for lab in labels], fontsize=8)
        else:
            ax.plot(x, _paper_series(table), "--o", color=PAPER_COLOUR, mfc="white", label="paper")
            for source in table.sources:
                means, stds = _ours_series(table, source)
                ax.errorbar(x, means, yerr=stds, fmt="-o", capsize=3, color=SOURCE_COLOURS[source],
                            label=f"ours, {source}" + (" ⚠" if source != ACTIVITYNET else ""))
            ax.set_xticks(x, [lab.replace(" / ", "/\n") for lab in labels], fontsize=8)
            ax.set_xlabel("paired / unpaired share" if table.name == "Table 7" else "unpaired samples")
        ax.set_ylabel("accuracy (%), 5 unseen")
        ax.set_title({"Table 6": "Table 6: temporal pooling", "Table 7": "Table 7: paired/unpaired ratio",
                      "Table 8": "Table 8: amount of unpaired data"}[table.name], fontsize=10)
        ax.axhline(chance_of("5 unseen"), color="black", linestyle=":", linewidth=1.0, label="chance")
        _style(ax)
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return Figure("ablations", "Ablations (Tables 6-8), paper vs ours (± std over trials); dotted: chance at 5 unseen "
                  "classes. Our amounts of data follow the row labels of the paper, scaled to the dataset in use "
                  "where the result notes say so. ⚠: data differ from the paper's.", _render(fig))


def loss_histories(logs: list[Path], run_dir: Path) -> list[Figure]:
    """One small plot per ``logs/*.csv``: every numeric column against epoch/step (or the row index)."""
    figures = []
    for path in logs:
        try:
            frame = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
            continue
        x_name = next((c for c in ("epoch", "step", "iteration", "iter") if c in frame.columns), None)
        numeric = [c for c in frame.select_dtypes("number").columns if c != x_name and not c.startswith("seed")]
        if frame.empty or not numeric:
            continue
        x = frame[x_name] if x_name else np.arange(len(frame))
        fig, ax = plt.subplots(figsize=(5.0, 3.0))
        for column in numeric[:10]:
            ax.plot(x, frame[column], linewidth=1.3, label=column)
        positive = all((frame[c].dropna() > 0).all() for c in numeric[:10])
        if positive:
            ax.set_yscale("log")
        ax.set_xlabel(x_name or "row")
        ax.set_title(path.stem, fontsize=10)
        _style(ax)
        ax.legend(fontsize=7, frameon=False)
        fig.tight_layout()
        rel = str(path.relative_to(run_dir))
        figures.append(Figure(f"log:{path.stem}", f"Loss history from {rel}" + (" (log scale)" if positive else ""),
                              _render(fig), rel))
    return figures


#: Captions of the notebooks' figures, by file-name pattern (first match wins); order = order in the report.
FIGURE_CAPTIONS: list[tuple[str, str]] = [
    ("*attention*filter*", "Learned temporal attention filters: each curve is one filter's weights over time "
                           "(N = 4 per the paper), drawn over example feature sequences."),
    ("*filter*", "Temporal attention filters."),
    ("*recon*", "Reconstruction by the autoencoder."),
    ("*loss*", "Training losses per term."),
    ("*tsne*", "Embeddings (t-SNE), coloured by class and seen/unseen."),
    ("*umap*", "Embeddings (UMAP-like projection), coloured by class and seen/unseen."),
    ("*embedding*", "Learned embeddings."),
    ("*caption*", "Captioning examples."),
    ("*retrieval*", "Retrieval results (beyond the paper)."),
    ("*confusion*", "Confusion matrix."),
]


def notebook_figures(paths: list[Path], run_dir: Path) -> tuple[list[Figure], list[Figure]]:
    """The notebooks' PNGs as (captioned figures in registry order, gallery of the others)."""
    captioned: list[tuple[int, Figure]] = []
    gallery = []
    for path in paths:
        name = path.name.lower()
        rel = str(path.relative_to(run_dir))
        uri = png_data_uri(path.read_bytes())
        index = next((i for i, (pattern, _) in enumerate(FIGURE_CAPTIONS) if fnmatch.fnmatch(name, pattern)), None)
        if index is None:
            gallery.append(Figure(path.stem, path.stem.replace("_", " "), uri, rel))
        else:
            captioned.append((index, Figure(path.stem, FIGURE_CAPTIONS[index][1], uri, rel)))
    return [f for _, f in sorted(captioned, key=lambda item: item[0])], gallery
