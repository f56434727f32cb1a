"""The pytest plugin of the notebook checks: nbval compares printed numbers within measured tolerances.

nbval compares text; a printed number that moves by noise (another machine's kernels, another install's
library versions) would fail it although behaviour did not change. Before nbval's own comparison, each
checked cell's text output that equals the stored one but for numbers within the cell's tolerance (a
tolerance file measured by ``python -m mmar tolerances --measure``; at least one unit of each number's last
printed digit) is replaced by the stored text. Everything else, a number beyond its tolerance or any other
change, goes to nbval's comparison unchanged and fails there with nbval's usual diff. See
:mod:`mmar.tolerances`.

Two checks use it:

* ``make test``: ``notebooks/`` (smoke outputs) with ``tests/expected/tolerances.json``; notebooks/conftest.py
  loads this plugin there.
* ``make test-default``: the published default run (``report/default-run/``) with
  ``tests/expected/tolerances-default.json``, loaded with ``-p mmar.nbval_plugin``. Its options:
  ``--mmar-tolerances FILE`` and ``--mmar-run-dir DIR``. The published notebooks' injected parameters name
  the run folder they wrote (``runs/default``); re-executed there they would overwrite that run and take its
  cached grid cells instead of training, so ``--mmar-run-dir`` rewrites the one ``run_dir = ...`` line of each
  notebook's (injected) parameters cell before it runs. A marked cell that the default run's measurement found
  not comparable (its text changed beyond its numbers under a perturbation: a decoded word flipped) runs
  without a comparison, and the session's summary names it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
from nbformat import NotebookNode
from nbval.plugin import IPyNbCell

from mmar.tolerances import TOLERANCE_FILE, as_text, cell_key, cell_tolerance, load_tolerances, within

_TOLERANCES = pytest.StashKey[dict[str, Any]]()
_UNCOMPARED = pytest.StashKey[list[str]]()
_RUN_DIR_LINE = re.compile(r"^run_dir\s*=.*$", re.MULTILINE)
_compare_outputs = IPyNbCell.compare_outputs


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mmar", "mmar's notebook checks (mmar/nbval_plugin.py)")
    group.addoption("--mmar-tolerances", default=str(TOLERANCE_FILE),
                    help="tolerance file of the compared cells (default: the smoke profile's, "
                         "tests/expected/tolerances.json)")
    group.addoption("--mmar-run-dir", default=None,
                    help="run folder the notebooks write to, instead of the one in their parameters cell")


def pytest_configure(config: pytest.Config) -> None:
    try:
        config.stash[_TOLERANCES] = load_tolerances(config.getoption("mmar_tolerances"))
    except (OSError, ValueError) as error:  # missing, not JSON, or a cell without a finite tolerance
        raise pytest.UsageError(f"--mmar-tolerances: {error}") from error
    config.stash[_UNCOMPARED] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_dir = config.getoption("mmar_run_dir")
    if run_dir is None:
        return
    cells: dict[str, list[IPyNbCell]] = {}
    for item in items:
        if isinstance(item, IPyNbCell):
            cells.setdefault(str(item.parent.fspath), []).append(item)
    for notebook, notebook_cells in cells.items():
        cell = parameters_cell([c.cell for c in notebook_cells])
        if cell is None:
            raise pytest.UsageError(f"--mmar-run-dir: {notebook} has no parameters cell to set run_dir in")
        cell.source = with_run_dir(cell.source, run_dir, notebook)


def parameters_cell(cells: list[NotebookNode]) -> NotebookNode | None:
    """The cell whose values a notebook runs with: papermill's injected parameters, else the ``parameters`` cell."""
    for tag in ("injected-parameters", "parameters"):
        tagged = [cell for cell in cells if tag in cell.get("metadata", {}).get("tags", [])]
        if tagged:
            return tagged[-1]
    return None


def with_run_dir(source: str, run_dir: str, notebook: str = "the notebook") -> str:
    """``source`` (a parameters cell) with its one ``run_dir = ...`` line set to ``run_dir``."""
    new_source, count = _RUN_DIR_LINE.subn(f"run_dir = {str(run_dir)!r}", source)
    if count != 1:
        raise pytest.UsageError(f"--mmar-run-dir: the parameters cell of {notebook} has {count} `run_dir = ...` "
                                "lines, not one")
    return new_source


def compare_outputs(self: IPyNbCell, test: list[dict], ref: list[dict], skip_compare=None) -> bool:
    notebook, cell_id = Path(self.parent.fspath).name, str(self.cell.get("id", self.cell_num))
    atol = cell_tolerance(self.config.stash[_TOLERANCES], notebook, cell_id)
    if math.isinf(atol):  # measured as not comparable (a decoded word flips): it ran, nothing to compare
        self.config.stash[_UNCOMPARED].append(cell_key(notebook, cell_id))
        return True
    return _compare_outputs(self, snapped(test, ref, atol, self.sanitize), ref, skip_compare)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """Name the compared cells whose outputs were not compared, and why."""
    uncompared = config.stash.get(_UNCOMPARED, [])
    if uncompared:
        terminalreporter.write_line(
            f"mmar: {len(uncompared)} marked cell(s) ran but were not compared: their text changed beyond their "
            f"numbers under a measured perturbation ({config.getoption('mmar_tolerances')}, uncompared): "
            + ", ".join(uncompared))


def snapped(test: list[dict], ref: list[dict], atol: float, sanitize) -> list[dict]:
    """``test`` outputs (nbval's, streams already merged by name) with each text that is ``within``
    tolerance of its stored counterpart (both as nbval's sanitizers leave them) replaced by the stored text."""
    streams = {o.get("name"): o for o in ref if o.get("output_type") == "stream"}
    results = [o for o in ref if "text/plain" in o.get("data", {})]
    snapped_outputs = []
    for output in test:
        output = NotebookNode(output)
        if output.get("output_type") == "stream" and output.get("name") in streams:
            stored = streams[output["name"]]["text"]
            if within(sanitize(as_text(output["text"])), sanitize(as_text(stored)), atol):
                output["text"] = stored
        elif "text/plain" in output.get("data", {}) and results:
            stored = results.pop(0)["data"]["text/plain"]
            if within(sanitize(as_text(output["data"]["text/plain"])), sanitize(as_text(stored)), atol):
                output["data"] = NotebookNode({**output["data"], "text/plain": stored})
        snapped_outputs.append(output)
    return snapped_outputs


IPyNbCell.compare_outputs = compare_outputs
