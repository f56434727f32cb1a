"""The default run as the repository shows it: ``report/default-run/``.

The notebooks in ``notebooks/`` carry the smoke profile's outputs, since those are what ``make test``
re-executes and compares (a default run takes about 10 to 15 minutes on 2 cores). So that a reader who opens a
notebook on a code host still sees the real narrative, ``python -m mmar publish runs/default`` (``make publish``)
copies a finished default run into ``report/default-run/``, whose notebooks ``make test-default`` re-executes and
compares within the default run's measured tolerances (:mod:`mmar.nbval_plugin`):

- ``NN_name.ipynb``: the run's seven executed notebooks as papermill wrote them (the injected parameters cell
  included), without their progress-bar widgets (they need JavaScript and say nothing after the run), and with
  the paths of the machine that ran them written from the repository root (``run_dir = "runs/default"``, which a
  notebook takes from the repository root), so that a published notebook re-executes on any checkout (``make
  test-default`` sets another run folder, so as not to overwrite the user's ``runs/default``);
- ``book.pdf``: the run's book (findings first) when Chromium printed it;
- ``run.json`` and ``timings.json``: the run's own records;
- ``README.md``: a card that says which run, commit, processor and data the files come from.

Only a whole default run of a committed tree is published: every notebook finished, no ``--set`` value, no
uncommitted change.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat

from mmar.paths import PUBLISHED_RUN_DIR, display_path
from mmar.profiles import NOTEBOOKS
from mmar.report.book import PDF_NAME, strip_widgets
from mmar.results import STANDIN

CARD = "README.md"
RUN_RECORDS = ("run.json", "timings.json")
PUBLISHED_PROFILE = "default"


class PublishError(RuntimeError):
    """The run folder is not a finished default run of a committed tree; the message says what is missing."""


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise PublishError(f"{path} not found: {path.parent} is not a finished run folder of `python -m mmar run`")
    return json.loads(path.read_text())


def check_publishable(run_dir: Path) -> tuple[dict, dict, dict]:
    """``(run.json, timings.json, data/dataset.json)`` of ``run_dir``; PublishError unless it is a default run
    without ``--set`` values, of a committed tree, whose seven notebooks all finished."""
    run, timings = (_read_json(run_dir / name) for name in RUN_RECORDS)
    if run.get("profile") != PUBLISHED_PROFILE:
        raise PublishError(f"{run_dir} holds a run of profile {run.get('profile')!r}; the repository shows the "
                           f"{PUBLISHED_PROFILE!r} profile's run (`make report`)")
    if run.get("overrides"):
        raise PublishError(f"run {run['run_id']} was started with --set {' '.join(run['overrides'])}: the repository "
                           f"shows the {PUBLISHED_PROFILE!r} profile as it is")
    unfinished = [n for n in NOTEBOOKS
                  if timings.get(n, {}).get("status") != "ok" or not (run_dir / "notebooks" / f"{n}.ipynb").is_file()]
    if unfinished:
        raise PublishError(f"run {run['run_id']} did not finish {unfinished}: go on with `python -m mmar run "
                           f"--profile {PUBLISHED_PROFILE} --resume`, then publish")
    if run.get("dirty") is not False:
        raise PublishError(f"run {run['run_id']} ran on a tree with uncommitted changes (or outside git): commit, "
                           "run again (`make report`), then publish")
    return run, timings, _read_json(run_dir / "data" / "dataset.json")


def relative_paths(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``notebook`` with its papermill paths (the injected parameters cell, ``metadata.papermill``) written from the
    repository root of the run (``/home/x/mmar/runs/default`` -> ``runs/default``); as it was when papermill did not
    run it."""
    papermill = notebook.metadata.get("papermill", {})
    if "input_path" not in papermill:
        return notebook
    prefix = f"{Path(papermill['input_path']).parent.parent}/"  # <repository>/notebooks/NN_name.ipynb
    for cell in notebook.cells:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            cell.source = cell.source.replace(prefix, "")
    for record in (papermill, papermill.get("parameters", {})):
        for key, value in record.items():
            if isinstance(value, str):
                record[key] = value.replace(prefix, "")
    return notebook


def card_text(run: dict, timings: dict, dataset: dict, has_pdf: bool) -> str:
    """The Markdown card of a published run (see the module docstring)."""
    source = dataset["data_source"]
    caveat = (" They are not a reproduction of the paper's numbers: the videos and sentences are generated "
              "(`mmar.data.standin_v2`), only the class names and word vectors are real." if source == STANDIN else "")
    rows = [f"| {n} | {timings[n]['seconds']:.0f} | {timings[n]['peak_all_mb']:,.0f} |" for n in NOTEBOOKS]
    if "report" in timings:
        rows.append(f"| book | {timings['report']['seconds']:.0f} | |")
    files = [f"- [`{n}.ipynb`]({n}.ipynb)" for n in NOTEBOOKS]
    if has_pdf:
        files.append(f"- [`{PDF_NAME}`]({PDF_NAME}): the book, findings first (Chromium's print of its single-page build)")
    files.append("- `run.json`, `timings.json`: the run's own records")
    return "\n".join([
        "# The default run, as the repository shows it",
        "",
        "The notebooks in `notebooks/` carry the smoke profile's outputs (what `make test` re-executes and "
        "compares); this folder holds a whole run of the `default` profile, executed by papermill, so that its "
        "narrative and numbers can be read without running anything. It is written by `python -m mmar publish "
        "runs/default` (`make publish`, after `make report`) and never edited by hand. `make test-default` "
        "re-executes these notebooks (into `runs/nbval-default`) and compares their key numbers with the ones "
        "here, within the default run's measured tolerances (`tests/expected/tolerances-default.json`).",
        "",
        f"- run `{run['run_id']}`, started {run['started']}, profile `{run['profile']}`",
        f"- commit `{run['commit']}` (clean tree), code fingerprint `{run['code_fingerprint']}`",
        f"- processor: {run['cpu']}, {run['cpu_count']} cores; Python {run['python']}; {run['lock']}",
        f"- data: **{source}**: {dataset.get('description', '')}",
        "",
        f"Every number in these files was computed on {source} data in this run.{caveat} Trained numbers round "
        "differently on other processors and installs; the README's \"What a run takes\" compares runs of the "
        "same code on three processors.",
        "",
        *files,
        "",
        "| notebook | seconds | peak memory, all its processes (MB) |",
        "|---|---|---|",
        *rows,
        "",
    ])


def publish(run_dir: str | Path, target: str | Path = PUBLISHED_RUN_DIR) -> Path:
    """Write ``target`` (replacing what it held) from the finished default run in ``run_dir``; return the card.
    The files are written to a sibling folder first, which then replaces ``target``: an interrupted publication
    leaves the earlier one whole."""
    run_dir, target = Path(run_dir).resolve(), Path(target)
    run, timings, dataset = check_publishable(run_dir)
    staging = target.with_name(f".{target.name}.partial")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    for name in NOTEBOOKS:
        notebook = nbformat.read(run_dir / "notebooks" / f"{name}.ipynb", as_version=4)
        nbformat.write(relative_paths(strip_widgets(notebook)), staging / f"{name}.ipynb")
    for name in RUN_RECORDS:
        shutil.copy2(run_dir / name, staging / name)
    has_pdf = (run_dir / PDF_NAME).is_file()
    if has_pdf:
        shutil.copy2(run_dir / PDF_NAME, staging / PDF_NAME)
    (staging / CARD).write_text(card_text(run, timings, dataset, has_pdf))
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    print(f"published run {run['run_id']} ({display_path(run_dir)}) to {display_path(target)}")
    return target / CARD
