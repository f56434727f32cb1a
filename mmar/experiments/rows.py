"""The grid's rows: named training variants, each a row of the paper's Table 1, 6, 7 or 8 or one of
our ablations, with the data it trains on (``data_mode``) and the paper cell it corresponds to.

Data modes (ICLR 2019 text Sec. 4.2: the K unseen classes are withheld from all training):

- ``paired``: up to ``max_train_rows`` rows (sentence + its segment) of the seen classes' train
  subset, drawn with the trial's seed (the same draw for every row of the table);
- ``paired+unpaired`` (Table 1's lower block): the same paired rows, plus up to
  ``max_unpaired_rows`` rows of the seen classes' *val* subset whose pairing is discarded. The
  paper's unpaired data were other datasets (Charades sentences, HMDB/UCF/Kinetics videos); here
  they are extra seen-class videos and sentences that are never paired;
- ``ratio`` (Table 7): the same total as ``paired``, of which a fraction loses its pairing;
- ``extra`` (Table 8): a fixed ``table8_paired_fraction`` of the paired rows stays paired and a
  growing fraction (of the same total) of the others is added unpaired; the paper's 40k paired +
  0/10k/20k/40k/60k unpaired becomes 40% + 0/10/20/40/60% of ``max_train_rows``.

Which loss terms see the unpaired rows is :func:`unpaired_terms_table` (Algorithm 1: recons and cycle
need no pairs; the adversarial rows add Eq. 8 on unpaired batches).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import pandas as pd

PAIRED, PAIRED_UNPAIRED, RATIO, EXTRA = "paired", "paired+unpaired", "ratio", "extra"
ALL_PAIRED = ("joint", "recons", "cross", "cycle")
ALL_TERMS = ("joint", "recons", "cross", "cycle", "adv")


@dataclass(frozen=True)
class GridRow:
    """A named training variant. ``paper_*`` name the paper's cell ("" when the row is ours);
    ``paper_column`` may contain ``{k}`` (Table 1: ``"{k} unseen"``)."""

    label: str
    experiment: str
    losses: tuple[str, ...]
    data_mode: str = PAIRED
    amount: float = 0.0                       # RATIO: unpaired fraction; EXTRA: extra unpaired fraction
    overrides: tuple[tuple[str, Any], ...] = ()  # TrainConfig fields, e.g. (("pooling", "max"),)
    paper_table: str = ""
    paper_row: str = ""
    paper_column: str = ""
    paper_k: int | None = None                # the paper's K for this cell (None: any K, in the column)

    def column(self, k: int) -> str:
        return self.paper_column.format(k=k)

    def paper_cell(self, k: int) -> tuple[str, str, str]:
        """(table, row, column) of the paper's cell this row is at ``k`` unseen classes, or empty."""
        if not self.paper_table or (self.paper_k is not None and self.paper_k != k):
            return ("", "", "")
        return (self.paper_table, self.paper_row, self.column(k))


def _table1(label: str, losses: tuple[str, ...], mode: str = PAIRED) -> GridRow:
    return GridRow(label, "zero_shot", losses, mode, paper_table="Table 1", paper_row=label,
                   paper_column="{k} unseen")


#: The 11 rows of the paper's Table 1 (labels exactly as in report/paper_results.csv).
TABLE1 = (
    _table1("Paired: Fixed Text Representation (baseline)", ("fixed_text",)),
    _table1("Paired: joint", ("joint",)),
    _table1("Paired: recons + cross (Ngiam-style baseline)", ("recons", "cross")),
    _table1("Paired: joint + recons", ("joint", "recons")),
    _table1("Paired: joint + recons + cycle", ("joint", "recons", "cycle")),
    _table1("Paired: joint + recons + cross", ("joint", "recons", "cross")),
    _table1("Paired: joint + recons + cross + cycle", ALL_PAIRED),
    _table1("Paired + Unpaired: recons + cycle", ("recons", "cycle"), PAIRED_UNPAIRED),
    _table1("Paired + Unpaired: joint + recons + cycle", ("joint", "recons", "cycle"), PAIRED_UNPAIRED),
    _table1("Paired + Unpaired: joint + recons + cross + cycle", ALL_PAIRED, PAIRED_UNPAIRED),
    _table1("Paired + Unpaired: All terms (incl. adversarial)", ALL_TERMS, PAIRED_UNPAIRED),
)
TABLE1_BY_LABEL = {row.label: row for row in TABLE1}

#: Table 5 (captioning) and Tables 3/4 (discovery) rows -> the Table 1 row whose model they use.
TABLE5_MODELS = {
    "Fixed Text Representation": "Paired: Fixed Text Representation (baseline)",
    "Joint": "Paired: joint",
    "All (paired)": "Paired: joint + recons + cross + cycle",
    "All (paired + unpaired)": "Paired + Unpaired: All terms (incl. adversarial)",
}
DISCOVERY_MODELS = {
    "Fixed Text Representation": "Paired: Fixed Text Representation (baseline)",
    "Joint": "Paired: joint",
    "Joint + recons": "Paired: joint + recons",
    "Joint + recons + cycle": "Paired: joint + recons + cycle",
    "Joint + recons + cross": "Paired: joint + recons + cross",
    "All (paired)": "Paired: joint + recons + cross + cycle",
    "All (+ unpaired)": "Paired + Unpaired: All terms (incl. adversarial)",
}

#: Table 6: temporal pooling at 5 unseen classes with the "joint" loss (its attention value, 55.2,
#: equals Table 1's "Paired: joint" cell, so we read it as trained with that loss).
TABLE6 = tuple(
    GridRow(label, "ablation_pooling", ("joint",), overrides=(("pooling", pooling),), paper_table="Table 6",
            paper_row=label, paper_column="Accuracy", paper_k=5)
    for label, pooling in (("Max pooling", "max"), ("Sum pooling", "sum"), ("LSTM", "lstm"),
                           ("Temporal attention filters", "attention"))
)
#: Table 7: paired / unpaired shares of a fixed total, all terms.
TABLE7 = tuple(
    GridRow(label, "ablation_paired_ratio", ALL_TERMS, RATIO, fraction, paper_table="Table 7", paper_row=label,
            paper_column="Accuracy", paper_k=5)
    for label, fraction in (("100% / 0%", 0.0), ("75% / 25%", 0.25), ("50% / 50%", 0.5), ("25% / 75%", 0.75),
                            ("0% / 100%", 1.0))
)
#: Table 8: fixed paired data plus more and more unpaired data (paper: 40k + 0..60k), all terms.
TABLE8 = tuple(
    GridRow(label, "ablation_extra_unpaired", ALL_TERMS, EXTRA, fraction, paper_table="Table 8", paper_row=label,
            paper_column="Accuracy", paper_k=5)
    for label, fraction in (("0", 0.0), ("10k", 0.1), ("20k", 0.2), ("40k", 0.4), ("60k", 0.6))
)


def our_ablation(name: str, values: Sequence[Any], losses: tuple[str, ...] = ALL_PAIRED) -> tuple[GridRow, ...]:
    """Rows varying one TrainConfig field ``name`` (ours, beyond the paper), e.g. n_filters."""
    return tuple(GridRow(f"{name} = {v}", f"ablation_{name}", losses, overrides=((name, v),)) for v in values)




def unpaired_terms_table(rows: Sequence[GridRow], train: dict[str, Any] | None = None) -> pd.DataFrame:
    """Per row: its loss terms, the terms its paired rows serve (Eq. 6) and the terms its unpaired rows
    serve (given ``train``'s ``unpaired_terms``, or the TrainConfig default); "-" where a row has no
    unpaired rows."""
    from mmar.training import TrainConfig, unpaired_terms_used

    out = []
    for row in rows:
        config = TrainConfig(**{**(train or {}), **dict(row.overrides), "losses": row.losses})
        has_unpaired = row.data_mode in (PAIRED_UNPAIRED, EXTRA) or (row.data_mode == RATIO and row.amount > 0)
        paired = [t for t in row.losses if t != "adv"]
        unpaired = unpaired_terms_used(config) if has_unpaired else ()
        out.append({"row": row.label, "paper table": row.paper_table or "ours", "data": row.data_mode,
                    "loss terms": " + ".join(row.losses),
                    "paired rows serve": " + ".join(paired) + (" (Eq. 7/8 too)" if "adv" in row.losses else ""),
                    "unpaired rows serve": " + ".join(unpaired) if unpaired else "-"})
    return pd.DataFrame(out)
