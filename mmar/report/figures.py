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
from mmar.report.rundata import Column  # noqa: E402
from mmar.results import (ACTIVITYNET, ACTIVITYNET_ANNOTATIONS, ANET_TEXT_STANDIN_VIDEO, SAMPLE_CLIP,  # noqa: E402
                          STANDIN, UNKNOWN_FEATURES)

SOURCE_COLOURS = {STANDIN: "#d95f02", ANET_TEXT_STANDIN_VIDEO: "#7570b3", ACTIVITYNET: "#1b9e77",
                  UNKNOWN_FEATURES: "#6b7280", ACTIVITYNET_ANNOTATIONS: "#3d6b5e", SAMPLE_CLIP: "#a6761d"}
#: Extra colours for a second, third ... run of the same data source.
OTHER_RUN_COLOURS = ("#e7298a", "#66a61e", "#e6ab02", "#1f78b4")
PAPER_COLOUR = "#444444"
DPI = 110
#: Sideways shift between neighbouring rows of a line plot over K (log axis): a factor on K.
DODGE = 1.07


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


def column_colours(columns: list[Column]) -> dict[Column, str]:
    """One colour per column: the data source's for its first run, then distinct ones."""
    colours, used = {}, set()
    spare = iter(OTHER_RUN_COLOURS * (1 + len(columns)))
    for column in columns:
        colour = SOURCE_COLOURS.get(column.source, "#444444")
        colours[column] = colour if colour not in used else next(spare)
        used.add(colours[column])
    return colours


def _mark(column: Column) -> str:
    return " ⚠" if column.source != ACTIVITYNET else ""


def sources_text(columns: list[Column]) -> str:
    """"stand-in" or "stand-in, activitynet · run b": the data of a figure, for its caption."""
    return ", ".join(c.label for c in columns) or "none"


def _style(ax: plt.Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, color="#e6e6e6", linewidth=0.8)
    ax.set_axisbelow(True)


def accuracy_vs_unseen(table: SideTable) -> Figure | None:
    """Table 1: accuracy vs number of unseen classes, one panel per data source of ours; the rows are shifted a
    little sideways (the paper's and ours of a row alike) so that points at the same K do not overlap."""
    if table.name != "Table 1" or not table.our_columns:
        return None
    ks = np.array([int(c.split()[0]) for c in table.columns])
    n_panels = len(table.our_columns)
    fig, axes = plt.subplots(1, n_panels, figsize=(5.6 * n_panels, 4.0), squeeze=False, sharey=True)
    colours = plt.get_cmap("tab20")
    handles: dict[str, object] = {}
    for ax, source in zip(axes[0], table.our_columns):
        drawn = [(i, row) for i, row in enumerate(table.rows) if any(row.ours.get((c, source)) for c in table.columns)]
        for j, (i, row) in enumerate(drawn):
            colour = colours(i % 20)
            label = (row.group + ": " if row.group else "") + row.label
            x = ks * DODGE ** (j - (len(drawn) - 1) / 2)
            paper = [float(row.paper[c]["value_f"]) if row.paper[c] is not None else math.nan for c in table.columns]
            ax.plot(x, paper, "--", marker="o", mfc="white", color=colour, linewidth=1.0, markersize=4, alpha=0.8)
            cells = [row.ours.get((c, source)) for c in table.columns]
            means = [c.mean if c else math.nan for c in cells]
            stds = [c.std if c else math.nan for c in cells]
            handles[label] = ax.errorbar(x, means, yerr=stds, fmt="-o", color=colour, linewidth=1.8, markersize=4,
                                         capsize=3)
        handles["chance (100/K %)"] = ax.plot(ks, [chance_of(c) for c in table.columns], ":", color="black",
                                              linewidth=1.4)[0]
        ax.set_xscale("log")
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.minorticks_off()
        ax.set_xlabel("number of unseen classes")
        ax.set_ylabel("zero-shot accuracy (%)")
        ax.set_title(f"ours on {source.label}{_mark(source)} (solid) vs paper (dashed)", fontsize=10)
        _style(ax)
    fig.legend(list(handles.values()), list(handles.keys()), loc="lower center", ncol=3, fontsize=7.5, frameon=False,
               bbox_to_anchor=(0.5, -0.02 - 0.035 * math.ceil(len(handles) / 3)))
    fig.tight_layout()
    panels = " (one panel each)" if n_panels > 1 else ""
    marked = "Panels marked ⚠ use" if n_panels > 1 else "⚠ in the title: the panel uses"
    return Figure("accuracy_vs_unseen", "Zero-shot accuracy vs number of unseen classes (Table 1). Dashed: the "
                  "paper (ActivityNet Captions + I3D features); solid with error bars (± std over trials): ours, on "
                  f"{sources_text(table.our_columns)}{panels}; dotted: chance (100/K %); each row is shifted a little "
                  f"sideways so that points at the same K do not overlap. {marked} data that differ from the "
                  "paper's: compare shapes, not values.", _render(fig))


def _ours_series(table: SideTable, source: Column, column: str = "Accuracy") -> tuple[list[float], list[float]]:
    cells = [row.ours.get((column, source)) for row in table.rows]
    return [c.mean if c else math.nan for c in cells], [c.std if c else math.nan for c in cells]


def _paper_series(table: SideTable, column: str = "Accuracy") -> list[float]:
    return [float(r.paper[column]["value_f"]) if r.paper.get(column) is not None else math.nan for r in table.rows]


def tables_text(names: list[str]) -> str:
    """"Table 6", "Tables 6 and 8", "Tables 6, 7 and 8": the paper tables ``names`` ("Table N"), for a caption."""
    numbers = [name.removeprefix("Table ") for name in names]
    if len(numbers) == 1:
        return f"Table {numbers[0]}"
    return "Tables " + ", ".join(numbers[:-1]) + " and " + numbers[-1]


def ablation_curves(tables: dict[str, SideTable]) -> Figure | None:
    """Those of Tables 6 (pooling, bars), 7 (paired share) and 8 (unpaired amount) with results of ours: paper vs
    ours, one panel each; the caption names the tables drawn."""
    panels = [tables[n] for n in ("Table 6", "Table 7", "Table 8") if n in tables and tables[n].our_columns]
    if not panels:
        return None
    columns = list(dict.fromkeys(c for table in panels for c in table.our_columns))
    colours = column_colours(columns)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
    for ax, table in zip(axes[0], panels):
        labels = [r.label for r in table.rows]
        x = np.arange(len(labels))
        if table.name == "Table 6":
            width = 0.8 / (1 + len(table.our_columns))
            ax.bar(x, _paper_series(table), width, color=PAPER_COLOUR, label="paper")
            for j, source in enumerate(table.our_columns, 1):
                means, stds = _ours_series(table, source)
                ax.bar(x + j * width, means, width, yerr=stds, capsize=3, color=colours[source],
                       label=f"ours, {source.label}{_mark(source)}")
            ax.set_xticks(x + 0.4 - width / 2, [lab.replace("Temporal attention filters", "Attention\nfilters")
                                                 .replace(" pooling", "\npooling") for lab in labels], fontsize=8)
        else:
            ax.plot(x, _paper_series(table), "--o", color=PAPER_COLOUR, mfc="white", label="paper")
            for source in table.our_columns:
                means, stds = _ours_series(table, source)
                ax.errorbar(x, means, yerr=stds, fmt="-o", capsize=3, color=colours[source],
                            label=f"ours, {source.label}{_mark(source)}")
            ax.set_xticks(x, [lab.replace(" / ", "/\n") for lab in labels], fontsize=8)
            ax.set_xlabel("paired / unpaired share" if table.name == "Table 7" else "unpaired samples")
        ax.set_ylabel("accuracy (%), 5 unseen")
        ax.set_title({"Table 6": "Table 6: temporal pooling", "Table 7": "Table 7: paired/unpaired ratio",
                      "Table 8": "Table 8: amount of unpaired data"}[table.name], fontsize=10)
        ax.axhline(chance_of("5 unseen"), color="black", linestyle=":", linewidth=1.0, label="chance")
        _style(ax)
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    names = [table.name for table in panels]
    amounts = (" Our amounts of data follow the row labels of the paper, scaled to the dataset in use where the result "
               "notes say so." if {"Table 7", "Table 8"} & set(names) else "")
    return Figure("ablations", f"Ablations ({tables_text(names)}), paper (ActivityNet Captions + I3D features) vs "
                  f"ours on {sources_text(columns)} (± std over trials); dotted: chance at 5 unseen classes.{amounts} "
                  "⚠: data differ from the paper's.", _render(fig))


def loss_histories(logs: list[Path], run_dir: Path, data_source: str = "") -> list[Figure]:
    """One small plot per ``logs/*.csv``: every numeric column against epoch/step (or the row index).
    ``data_source``: the label of the run's prepared dataset, named in each title and caption."""
    on = f" ({data_source})" if data_source else ""
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
        ax.set_title(path.stem + on, fontsize=10)
        _style(ax)
        ax.legend(fontsize=7, frameon=False)
        fig.tight_layout()
        rel = str(path.relative_to(run_dir))
        figures.append(Figure(f"log:{path.stem}", f"Loss history from {rel}" + (" (log scale)" if positive else "")
                              + (f"; trained on {data_source} data." if data_source else "; data source not recorded."),
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


#: Figures whose data are not the run's prepared dataset, by file-name pattern: (pattern, data source).
FIGURE_DATA: list[tuple[str, str]] = [
    ("02_*", SAMPLE_CLIP),  # notebook 02 runs I3D on the real sample clips
]


def figure_data_source(name: str, dataset_source: str) -> str:
    """The data source a notebook figure shows: :data:`FIGURE_DATA`'s, else the run's prepared dataset's."""
    return next((source for pattern, source in FIGURE_DATA if fnmatch.fnmatch(name, pattern)), dataset_source)


def notebook_figures(paths: list[Path], run_dir: Path, dataset_source: str = "") -> tuple[list[Figure], list[Figure]]:
    """The notebooks' PNGs as (captioned figures in registry order, gallery of the others); every caption
    names the figure's data source (``dataset_source``: the label of the run's prepared dataset)."""
    captioned: list[tuple[int, Figure]] = []
    gallery = []
    for path in paths:
        name = path.name.lower()
        rel = str(path.relative_to(run_dir))
        uri = png_data_uri(path.read_bytes())
        source = figure_data_source(name, dataset_source)
        data = f" Data: {source}." if source else " Data source not recorded."
        index = next((i for i, (pattern, _) in enumerate(FIGURE_CAPTIONS) if fnmatch.fnmatch(name, pattern)), None)
        if index is None:
            gallery.append(Figure(path.stem, path.stem.replace("_", " ") + "." + data, uri, rel))
        else:
            captioned.append((index, Figure(path.stem, FIGURE_CAPTIONS[index][1] + data, uri, rel)))
    return [f for _, f in sorted(captioned, key=lambda item: item[0])], gallery
