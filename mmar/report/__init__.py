"""The reproducibility report: a Jupyter Book of the run's executed notebooks, led by findings, with the
paper's numbers beside ours, a computed claims audit and the data situation (:mod:`mmar.report.book`).

Rebuild it from a run folder with ``python -m mmar report runs/<profile>``.
"""

from mmar.report.book import build_book

__all__ = ["build_book"]
