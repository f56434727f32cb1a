"""Build the report as a Jupyter Book from a run folder: findings first, then the executed notebooks, then
the paper's numbers beside ours, the claims audit, the data situation, the open choices and the environment.

``build_book(run_dir)`` (``python -m mmar report runs/<profile>``; ``make report`` calls it at the end of
the run) does, in ``<run_dir>/book-src/``:

1. executes the report chapters (``report/book/*.ipynb``, each with a papermill ``parameters`` cell:
   ``run_dir``, ``extra_runs``) against the run; they call :mod:`mmar.report.pages` and
   :mod:`mmar.report.findings`, and the findings chapter glues its numbers (myst-nb ``glue``);
2. copies the run's executed notebooks (``<run_dir>/notebooks/*.ipynb``, as papermill wrote them) without
   their widget outputs (progress bars), their default ``parameters`` cell (papermill's injected one shows what
   ran) and nbval's marker comments (:func:`for_reading`);
3. runs Jupyter Book with execution off, into ``<run_dir>/book/`` (``index.html`` is the findings), and
   fails if a built page would fetch anything remote (:func:`remote_resources`);
4. prints the single-page build to ``<run_dir>/book.pdf`` with headless Chromium, when installed.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Sequence

import nbformat
import yaml

from mmar.paths import REPORT_SOURCE_DIR
from mmar.report.chromium import find_chromium, print_pdf
from mmar.report.offline import is_remote

BOOK_SOURCE = REPORT_SOURCE_DIR / "book"
#: The report's own chapters (``report/book/<stem>.ipynb``), in book order around the notebooks.
FINDINGS = "index"
AFTER_NOTEBOOKS = ("paper", "claims", "data", "beyond", "choices", "environment")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
BOOK_DIR, SOURCE_DIR, PDF_NAME = "book", "book-src", "book.pdf"
#: Chapters executed at once (measured on 2 cores: 42 s one by one, 23 s four at a time).
CHAPTER_WORKERS = 4


class BookError(RuntimeError):
    """The book could not be built; the message says which step and why."""


def strip_widgets(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop widget outputs (progress bars: they need remote JavaScript and say nothing after the run)."""
    for cell in notebook.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", []) if WIDGET_MIME not in o.get("data", {})]
    notebook.metadata.pop("widgets", None)
    return notebook


#: nbval's comment markers: instructions to the test, not content.
NBVAL_MARKER = re.compile(r"^# NBVAL_[A-Z_]+\n?", re.MULTILINE)


def for_reading(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A run's notebook as the book shows it: without its default ``parameters`` cell when papermill injected the
    values that ran (the reader sees those), without nbval's marker comments, and without widget outputs."""
    tags = [cell.get("metadata", {}).get("tags", []) for cell in notebook.cells]
    if any("injected-parameters" in t for t in tags):
        notebook.cells = [cell for cell, t in zip(notebook.cells, tags) if "parameters" not in t]
    for cell in notebook.cells:
        if cell.get("cell_type") == "code":
            cell["source"] = NBVAL_MARKER.sub("", cell["source"])
    return strip_widgets(notebook)


def _toc(notebooks: Sequence[str]) -> dict:
    parts = [{"caption": "The notebooks, as the run executed them",
              "chapters": [{"file": f"notebooks/{name}"} for name in notebooks]}] if notebooks else []
    parts.append({"caption": "The paper beside ours", "chapters": [{"file": stem} for stem in AFTER_NOTEBOOKS]})
    return {"format": "jb-book", "root": FINDINGS, "parts": parts}


def _config() -> dict:
    return {
        "title": "Unseen Action Recognition with Multimodal Learning: a reproducibility report",
        "author": "mmar", "copyright": "", "only_build_toc_files": True,
        "execute": {"execute_notebooks": "off"},
        "html": {"use_repository_button": False, "use_issues_button": False, "use_edit_page_button": False,
                 "use_multitoc_numbering": False, "home_page_in_navbar": True},
        "launch_buttons": {"binderhub_url": "", "jupyterhub_url": "", "thebe": False, "colab_url": ""},
        "repository": {"url": ""},
        "parse": {"myst_enable_extensions": ["colon_fence", "substitution"]},
        "sphinx": {"extra_extensions": ["mmar.report.offline"],
                   "config": {"html_static_path": ["_static"], "html_css_files": ["report.css"],
                              "html_show_copyright": False, "html_last_updated_fmt": "",
                              "html_theme_options": {"use_download_button": True, "show_toc_level": 2},
                              "nb_merge_streams": True, "suppress_warnings": [
                                  "myst.header", "mystnb.unknown_mime_type",
                                  "myst.xref_missing"]}},  # findings' links to notebooks a partial run lacks
    }


#: Kernel starts per chapter. Kernels started at once from separate processes can race for the same TCP
#: port (jupyter_client picks free ports, releases them, then the kernel binds them); the loser hangs
#: until the start timeout. A fresh start picks fresh ports.
KERNEL_START_ATTEMPTS = 3
#: papermill's own default: a kernel here answers in 1-2 s, also with the two cores busy.
KERNEL_START_TIMEOUT_S = 60
#: How jupyter_client words a kernel that never came up (as opposed to a chapter that failed).
_KERNEL_START_FAILURES = ("Kernel didn't respond", "Kernel died before replying")


def execute_chapter(stem: str, src: Path, run_dir: Path, extra_runs: Sequence[Path],
                    chapters: Path = BOOK_SOURCE) -> None:
    """Execute ``<chapters>/<stem>.ipynb`` into the book source, in the book source folder.

    A kernel that does not start is started again, up to :data:`KERNEL_START_ATTEMPTS` times in all."""
    import papermill

    for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
        try:
            papermill.execute_notebook(str(chapters / f"{stem}.ipynb"), str(src / f"{stem}.ipynb"), cwd=str(src),
                                       parameters={"run_dir": str(run_dir),
                                                   "extra_runs": [str(p) for p in extra_runs]},
                                       progress_bar=False, kernel_name="python3",
                                       start_timeout=KERNEL_START_TIMEOUT_S)
            break
        except papermill.PapermillExecutionError as error:
            raise BookError(f"the report chapter {stem}.ipynb failed: {error.ename}: {error.evalue} "
                            f"(its log: {src / (stem + '.log')})") from error
        except RuntimeError as error:
            if not str(error).startswith(_KERNEL_START_FAILURES):
                raise
            if attempt == KERNEL_START_ATTEMPTS:
                raise BookError(f"the kernel for the report chapter {stem}.ipynb did not start in "
                                f"{KERNEL_START_ATTEMPTS} attempts ({error})") from error
            print(f"book: {stem}.ipynb: {error}; starting a new kernel ({attempt + 1} of "
                  f"{KERNEL_START_ATTEMPTS})", flush=True)
    executed = nbformat.read(src / f"{stem}.ipynb", as_version=4)
    for cell in executed.cells:  # papermill's injected parameters are plumbing, not content
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    nbformat.write(executed, src / f"{stem}.ipynb")


def _execute_in_worker(stem: str, src: Path, run_dir: Path, extra_runs: Sequence[Path]) -> None:
    """:func:`execute_chapter` in a pool worker, whose standard error (and its kernel's) goes to ``<src>/<stem>.log``."""
    log = os.open(src / f"{stem}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, sys.stderr.fileno())
    os.close(log)
    execute_chapter(stem, src, run_dir, extra_runs)


def assemble(run_dir: Path, src: Path, extra_runs: Sequence[Path] = ()) -> None:
    """Write the book's source folder: the run's executed notebooks and the executed report chapters."""
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    shutil.copytree(BOOK_SOURCE / "_static", src / "_static")
    notebooks = sorted(p.stem for p in (run_dir / "notebooks").glob("0*.ipynb"))
    for name in notebooks:
        notebook = nbformat.read(run_dir / "notebooks" / f"{name}.ipynb", as_version=4)
        notebook.metadata.setdefault("language_info", {"name": "python"})  # the code cells' highlighting
        nbformat.write(for_reading(notebook), src / "notebooks" / f"{name}.ipynb")
    spawn = multiprocessing.get_context("spawn")  # each chapter runs its own kernel, from a fresh process
    with ProcessPoolExecutor(max_workers=CHAPTER_WORKERS, mp_context=spawn) as pool:
        for done in [pool.submit(_execute_in_worker, stem, src, run_dir, extra_runs)
                     for stem in (FINDINGS, *AFTER_NOTEBOOKS)]:
            done.result()
    (src / "_toc.yml").write_text(yaml.safe_dump(_toc(notebooks), sort_keys=False))
    (src / "_config.yml").write_text(yaml.safe_dump(_config(), sort_keys=False))


def run_jupyter_book(src: Path, builder: str = "html") -> Path:
    """``jupyter-book build`` of ``src`` (execution off); return the folder of the built pages.

    Any Sphinx warning fails the build (e.g. a glue key that no chapter glued, a broken cross-reference)."""
    with tempfile.TemporaryDirectory(prefix="mmar-book-") as scratch:
        command = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(src),
                   "--builder", builder, "--path-output", scratch, "--warningiserror", "--keep-going"]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise BookError(f"jupyter-book build ({builder}) failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        built = Path(scratch) / "_build" / builder
        target = src / "_build" / builder
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(built, target)
    return target


#: Attributes and CSS constructs through which a page fetches a resource.
_FETCHES = (re.compile(r"<(?:script|img|iframe|source|audio|video|embed|track)\b[^>]*?\ssrc\s*=\s*[\"']([^\"']+)", re.I),
            re.compile(r"<link\b[^>]*?\shref\s*=\s*[\"']([^\"']+)", re.I),
            re.compile(r"url\(\s*[\"']?([^\"')]+)", re.I),
            re.compile(r"@import\s+[\"']([^\"']+)", re.I))


def remote_resources(html_dir: Path) -> list[str]:
    """``file: url`` for every remote resource a built HTML or CSS file would fetch (links to read are not fetches)."""
    found = []
    for path in sorted(html_dir.rglob("*")):
        if path.suffix not in (".html", ".css") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for pattern in _FETCHES:
            found += [f"{path.relative_to(html_dir)}: {url}" for url in pattern.findall(text) if is_remote(url)]
    return found


def build_book(run_dir: str | Path, *, pdf: bool = True, extra_runs: Sequence[str | Path] = ()) -> Path:
    """Build ``<run_dir>/book/`` (and ``<run_dir>/book.pdf`` when Chromium is installed); return its index.html."""
    run_dir = Path(run_dir).resolve()
    if not run_dir.is_dir():
        raise FileNotFoundError(f"no run folder at {run_dir} (run `python -m mmar run --profile default` first)")
    src = run_dir / SOURCE_DIR
    print(f"book: executing the {1 + len(AFTER_NOTEBOOKS)} report chapters against {run_dir} ...", flush=True)
    assemble(run_dir, src, [Path(p).resolve() for p in extra_runs])
    print("book: building the HTML pages ...", flush=True)
    html = run_jupyter_book(src, "html")
    remote = remote_resources(html)
    if remote:
        raise BookError("the built book would fetch remote resources:\n" + "\n".join(remote[:20]))
    book = run_dir / BOOK_DIR
    if book.exists():
        shutil.rmtree(book)
    shutil.copytree(html, book)
    if pdf:
        _print_pdf(src, run_dir / PDF_NAME)
    return book / "index.html"


def _print_pdf(src: Path, pdf: Path) -> None:
    binary = find_chromium()
    if binary is None:
        print("report: chromium is not installed; skipping the PDF (Debian: apt-get install chromium)", file=sys.stderr)
        return
    print("book: printing the single-page build to PDF ...", flush=True)
    try:
        single = run_jupyter_book(src, "singlehtml")
        print_pdf(single / "index.html", pdf, binary=binary, timeout=120)
    except (BookError, RuntimeError, OSError, subprocess.SubprocessError) as error:
        print(f"report: the PDF could not be printed: {error}", file=sys.stderr)


def glued_values(notebook: Path) -> dict[str, str]:
    """``{key: text}`` of every value a built chapter glued (myst-nb stores them in the cell outputs)."""
    values = {}
    for cell in nbformat.read(notebook, as_version=4).cells:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get("scrapbook", {})
            if record.get("name"):
                prefix = record.get("mime_prefix", "")
                data = {mime.removeprefix(prefix): value for mime, value in output.get("data", {}).items()}
                values[record["name"]] = data.get("text/markdown", data.get("text/plain", ""))
    return values


