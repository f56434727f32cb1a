"""nbval compares the numbers of the checked cells within their measured tolerances
(``tests/expected/tolerances.json``): the hooks of :mod:`mmar.nbval_plugin`, loaded for this folder."""

from mmar.nbval_plugin import (pytest_addoption, pytest_collection_modifyitems, pytest_configure,
                               pytest_terminal_summary)

__all__ = ["pytest_addoption", "pytest_collection_modifyitems", "pytest_configure", "pytest_terminal_summary"]
