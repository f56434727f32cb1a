"""The executed notebooks as HTML appendices (nbconvert), written beside them and linked from the report.

Each ``<run_dir>/notebooks/NN_name.ipynb`` becomes ``NN_name.html`` in the same folder (skipped when
the HTML is newer than the notebook). They stay separate files so that the report stays readable.
Importing nbconvert costs seconds, so :func:`start` converts in a child process while the report is
built, and :func:`finish` collects it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Appendix:
    notebook: str
    html: str      # relative to the run folder
    error: str = ""


def _up_to_date(notebook: Path) -> bool:
    html = notebook.with_suffix(".html")
    return html.is_file() and html.stat().st_mtime >= notebook.stat().st_mtime


def convert_notebooks(notebooks: list[Path], run_dir: Path) -> list[Appendix]:
    """Convert each executed notebook to HTML; a notebook that fails to convert is reported, not fatal."""
    appendices = []
    exporter = None
    for notebook in notebooks:
        html = notebook.with_suffix(".html")
        rel = str(html.relative_to(run_dir))
        if _up_to_date(notebook):
            appendices.append(Appendix(notebook.stem, rel))
            continue
        try:
            if exporter is None:
                import nbformat
                from nbconvert import HTMLExporter

                exporter = HTMLExporter(template_name="lab")
            body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4))
            html.write_text(body, encoding="utf-8")
            appendices.append(Appendix(notebook.stem, rel))
        except Exception as error:  # nbconvert raises many kinds; the report lists the failure
            appendices.append(Appendix(notebook.stem, "", f"{type(error).__name__}: {error}"))
    return appendices


def start(notebooks: list[Path], run_dir: Path) -> subprocess.Popen | None:
    """Convert the notebooks in a child process (None when every HTML is up to date)."""
    if all(_up_to_date(n) for n in notebooks):
        return None
    return subprocess.Popen([sys.executable, "-m", "mmar.report.appendix", str(run_dir), *map(str, notebooks)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(child: subprocess.Popen | None, notebooks: list[Path], run_dir: Path, timeout: float = 300) -> list[Appendix]:
    """Wait for :func:`start`'s child and return what it converted."""
    if child is None:
        return convert_notebooks(notebooks, run_dir)  # all up to date: nothing is converted
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        return [Appendix(n.stem, "", f"conversion took over {timeout:.0f}s") for n in notebooks]
    if child.returncode != 0:
        return [Appendix(n.stem, "", f"nbconvert failed: {err.strip()[-300:]}") for n in notebooks]
    return [Appendix(**entry) for entry in json.loads(out.strip().splitlines()[-1])]


if __name__ == "__main__":
    # jsonschema (imported by nbformat) compiles ~40 grammars on import when rfc3987_syntax is installed, only
    # to check the "iri" string format, which the notebook schema does not use; blocking that optional
    # import in this child saves seconds (jsonschema skips the check when the import fails).
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    run_folder, paths = Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
    print(json.dumps([asdict(a) for a in convert_notebooks(paths, run_folder)]))
