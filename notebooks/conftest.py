"""nbval compares the numbers of the checked cells within their measured tolerances.

nbval compares text; a printed number that moves by noise (another machine's kernels, another
install's library versions) would fail it although behaviour did not change. Before nbval's own
comparison, each checked cell's text output that equals the stored one but for numbers within the
cell's tolerance (``tests/expected/tolerances.json``, measured by ``make tolerances``; at least one
unit of each number's last printed digit) is replaced by the stored text. Everything else, a number
beyond its tolerance or any other change, goes to nbval's comparison unchanged and fails there with
nbval's usual diff. See :mod:`mmar.tolerances`.
"""

from __future__ import annotations

from pathlib import Path

from nbformat import NotebookNode
from nbval.plugin import IPyNbCell

from mmar.tolerances import cell_tolerance, load_tolerances, within

_TOLERANCES = load_tolerances()
_compare_outputs = IPyNbCell.compare_outputs


def _snapped(test: list[dict], ref: list[dict], atol: float, sanitize) -> list[dict]:
    """``test`` outputs (nbval's, streams already merged by name) with each text that is ``within``
    tolerance of its stored counterpart (both as nbval's sanitizers leave them) replaced by the stored text."""
    streams = {o.get("name"): o for o in ref if o.get("output_type") == "stream"}
    results = [o for o in ref if "text/plain" in o.get("data", {})]
    snapped = []
    for output in test:
        output = NotebookNode(output)
        if output.get("output_type") == "stream" and output.get("name") in streams:
            stored = streams[output["name"]]["text"]
            if within(sanitize(_text(output["text"])), sanitize(_text(stored)), atol):
                output["text"] = stored
        elif "text/plain" in output.get("data", {}) and results:
            stored = results.pop(0)["data"]["text/plain"]
            if within(sanitize(_text(output["data"]["text/plain"])), sanitize(_text(stored)), atol):
                output["data"] = NotebookNode({**output["data"], "text/plain": stored})
        snapped.append(output)
    return snapped


def _text(value: str | list[str]) -> str:
    return value if isinstance(value, str) else "".join(value)


def compare_outputs(self: IPyNbCell, test: list[dict], ref: list[dict], skip_compare=None) -> bool:
    atol = cell_tolerance(_TOLERANCES, Path(self.parent.fspath).name, str(self.cell.get("id", self.cell_num)))
    return _compare_outputs(self, _snapped(test, ref, atol, self.sanitize), ref, skip_compare)


IPyNbCell.compare_outputs = compare_outputs
