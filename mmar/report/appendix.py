"""The executed notebooks as HTML appendices (nbconvert), written beside them and linked from the report.

Each ``<run_dir>/notebooks/NN_name.ipynb`` becomes ``NN_name.html`` in the same folder (skipped when
the HTML is newer than the notebook). They stay separate files so that the report stays readable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Appendix:
    notebook: str
    html: str      # relative to the run folder
    error: str = ""


def convert_notebooks(notebooks: list[Path], run_dir: Path) -> list[Appendix]:
    """Convert each executed notebook to HTML; a notebook that fails to convert is reported, not fatal."""
    if not notebooks:
        return []
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    appendices = []
    for notebook in notebooks:
        html = notebook.with_suffix(".html")
        rel = str(html.relative_to(run_dir))
        if html.is_file() and html.stat().st_mtime >= notebook.stat().st_mtime:
            appendices.append(Appendix(notebook.stem, rel))
            continue
        try:
            body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4))
            html.write_text(body, encoding="utf-8")
            appendices.append(Appendix(notebook.stem, rel))
        except Exception as error:  # nbconvert raises many kinds; the report lists the failure
            appendices.append(Appendix(notebook.stem, "", f"{type(error).__name__}: {error}"))
    return appendices
