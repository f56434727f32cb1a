"""Key numbers as text at a fixed precision: the lines nbval compares (``# NBVAL_CHECK_OUTPUT``).

Floats are printed with :data:`SIGNIFICANT` significant digits, so a difference in the last bits of
a float (another BLAS, another summation order) does not change the text, while any change of a
result beyond that precision does.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

#: Significant digits of every float printed for comparison.
SIGNIFICANT = 4


def number(value: Any, significant: int = SIGNIFICANT) -> str:
    """``value`` with ``significant`` significant digits (``-0`` printed as ``0``); ints and text as they are."""
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    if math.isnan(value):
        return "nan"
    text = f"{value:.{significant}g}"
    return "0" if text in ("-0", "0") else text


def table_text(table: pd.DataFrame, significant: int = SIGNIFICANT, index: bool = True) -> str:
    """The table as fixed-width text, floats at ``significant`` significant digits."""
    shown = table.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = [number(float(v), significant) for v in shown[column]]
    with pd.option_context("display.width", 250, "display.max_columns", None, "display.max_colwidth", 120):
        return shown.to_string(index=index)


def print_table(title: str, table: pd.DataFrame, significant: int = SIGNIFICANT, index: bool = True) -> None:
    """Print ``title`` then :func:`table_text` of ``table``."""
    print(title)
    print(table_text(table, significant, index))
    print()
