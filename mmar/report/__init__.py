"""The reproducibility report: the paper's numbers beside ours, a computed claims audit, the data situation.

``build_report(run_dir)`` reads a run folder (see :mod:`mmar.report.rundata`) and writes
``<run_dir>/report.html``, self-contained (figures embedded as base64 PNG), plus ``report.pdf`` when
Debian's ``chromium`` is installed. Rebuild with ``python -m mmar report runs/<profile>``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Sequence

from mmar.report.chromium import find_chromium, print_pdf
from mmar.report import render
from mmar.report.rundata import load_run

__all__ = ["build_report"]


def build_report(run_dir: Path, *, pdf: bool = True, convert_notebooks: bool = True,
                 extra_runs: Sequence[Path] = ()) -> Path:
    """Build ``<run_dir>/report.html`` (and ``report.pdf`` when chromium is available); return the HTML path.

    ``extra_runs``: other run folders whose results appear beside this run's, one column per data source.
    """
    run = load_run(run_dir, extra_runs)
    html = run.run_dir / "report.html"
    tmp = html.with_suffix(".html.tmp")
    tmp.write_text(render.render(render.build_context(run, convert_notebooks=convert_notebooks)), encoding="utf-8")
    tmp.replace(html)
    if pdf:
        binary = find_chromium()
        if binary is None:
            print("report: chromium is not installed; skipping the PDF (Debian: apt-get install chromium)",
                  file=sys.stderr)
        else:
            try:
                print_pdf(html, run.run_dir / "report.pdf", binary=binary)
            except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                print(f"report: the PDF could not be printed: {error}", file=sys.stderr)
    return html
