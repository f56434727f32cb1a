"""Where a result comes from: a fingerprint of the code that determines it, the git commit, the run id.

:func:`code_fingerprint` hashes the source of the modules that decide what a result is (data,
models, losses, training, evaluation, experiments, ...), so a cache keyed by it is never read by
other code. Modules that only run, present or extract (:data:`PRESENTATION_ONLY`) are left out, so
rewording the report does not invalidate every trained cell.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any

from mmar.paths import PACKAGE_DIR, PROJECT_ROOT

#: Paths under ``mmar/`` (files or folders, relative) whose source does not change any result row.
PRESENTATION_ONLY = ("report", "cli.py", "runner.py", "provenance.py", "regression.py", "extract.py", "i3d.py",
                     "video.py", "__main__.py", "plots")

#: The environment variable through which the runner hands its run id to the notebooks' kernels.
RUN_ID_ENV = "MMAR_RUN_ID"


def _is_presentation(relative: Path) -> bool:
    first = relative.parts[0]
    return first in PRESENTATION_ONLY or Path(first).stem in PRESENTATION_ONLY


def fingerprinted_files(package_dir: str | Path = PACKAGE_DIR) -> list[Path]:
    """The ``.py`` files under ``package_dir`` that :func:`code_fingerprint` hashes, sorted."""
    package_dir = Path(package_dir)
    return sorted(p for p in package_dir.rglob("*.py")
                  if "__pycache__" not in p.parts and not _is_presentation(p.relative_to(package_dir)))


def code_fingerprint(package_dir: str | Path = PACKAGE_DIR) -> str:
    """SHA-1 (hex, 16 characters) over the relative path and bytes of every :func:`fingerprinted_files` file.

    Changes whenever such a file is edited, added, removed or renamed; unchanged by edits to
    :data:`PRESENTATION_ONLY` modules, by timestamps and by where the package lives.
    """
    package_dir = Path(package_dir)
    digest = hashlib.sha1()
    for path in fingerprinted_files(package_dir):
        digest.update(path.relative_to(package_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def git_commit(root: str | Path = PROJECT_ROOT) -> tuple[str, bool | None]:
    """(commit hash, whether the working tree has uncommitted changes); ("unknown", None) outside git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True,
                              timeout=30).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return "unknown", None
    return commit, dirty


def new_run_id() -> str:
    """A unique, sortable run id: ``YYYYmmdd-HHMMSS-<6 hex>`` (never all digits, so CSV readers keep it text)."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def run_provenance(run_id: str | None = None) -> dict[str, Any]:
    """What ``run.json`` records about the code of a run: run id, commit, dirty flag, code fingerprint, start."""
    commit, dirty = git_commit()
    return {"run_id": run_id or new_run_id(), "commit": commit, "dirty": dirty,
            "code_fingerprint": code_fingerprint(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "started_unix": round(time.time(), 3)}


def current_run_id() -> str:
    """The run id a result row belongs to: ``$MMAR_RUN_ID``, which the runner sets for the notebooks it
    executes; "" outside a run (nbval, by hand), so such rows never claim a run they are not part of."""
    return os.environ.get(RUN_ID_ENV, "")
