"""Where a result comes from: a fingerprint of the code that determines it, the git commit, the run id,
and :class:`Run`, the object that carries a notebook's profile, folder, seed and data source.

:func:`code_fingerprint` hashes the source of the modules that decide what a result is (data,
models, losses, training, evaluation, experiments, ...), so a cache keyed by it is never read by
other code. Modules that only run, present or extract (:data:`PRESENTATION_ONLY`) are left out, so
rewording the report does not invalidate every trained cell.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import secrets
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mmar.paths import PACKAGE_DIR, PROJECT_ROOT, resolve_run_dir

#: Paths under ``mmar/`` (files or folders, relative) whose source does not change any result row.
PRESENTATION_ONLY = ("report", "cli.py", "runner.py", "provenance.py", "regression.py", "extract.py", "i3d.py",
                     "video.py", "__main__.py", "plots")

#: The environment variable through which the runner hands its run id to the notebooks' kernels.
RUN_ID_ENV = "MMAR_RUN_ID"
#: CPU features that decide which kernels PyTorch and its BLAS run: float32 (avx2, fma, avx512f) and bf16 /
#: fp16 autocast (the others). Processors with the same features can still round differently (another
#: vendor's BLAS path), so :func:`cpu_description` records the model name too.
KERNEL_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile")


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


def cpu_fields(cpuinfo: str | None = None) -> dict[str, str]:
    """The first processor's fields of ``/proc/cpuinfo`` (``cpuinfo``: its text, read when None; empty elsewhere
    than Linux), e.g. ``{"model name": "AMD EPYC", "cpu family": "26", "flags": "fpu ... avx512f ..."}``."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            fields.setdefault(name.strip(), value.strip())
    return fields


def cpu_description(cpuinfo: str | None = None) -> str:
    """The processor a run computed on: its model name and the :data:`KERNEL_FLAGS` it has, e.g.
    ``"Intel(R) Xeon(R) Processor, family 6 model 143 (avx2, fma, avx512f, avx512_bf16)"``, then PyTorch's
    kernel limit when ``ATEN_CPU_CAPABILITY`` sets one. The family and model are there because BLAS libraries
    pick their kernels by them, not by the flags alone: OpenBLAS 0.3.31 gives an AMD EPYC of family 26 (Zen 5)
    its AVX2 kernels and one of family 25 (Zen 4) its AVX-512 ones, which round differently. Float32 training
    rounds differently on other kernels, and training amplifies rounding, so a trained number belongs to its processor as much as to its seed.
    ``cpuinfo``: the text of ``/proc/cpuinfo`` (read when None; elsewhere than Linux the platform's
    processor name, without flags)."""
    fields = cpu_fields(cpuinfo)
    model = fields.get("model name") or platform.processor() or "unknown processor"
    if "cpu family" in fields and "model" in fields:  # BLAS libraries choose kernels by them (see the docstring)
        model += f", family {fields['cpu family']} model {fields['model']}"
    flags = set(fields.get("flags", "").split())
    present = [f for f in KERNEL_FLAGS if f in flags]
    text = model + (f" ({', '.join(present) or 'no avx2'})" if flags else "")
    limit = os.environ.get("ATEN_CPU_CAPABILITY")
    return text + (f"; PyTorch kernels limited to {limit}" if limit else "")


def current_run_id() -> str:
    """The run id a result row belongs to: ``$MMAR_RUN_ID``, which the runner sets for the notebooks it
    executes; "" outside a run (nbval, by hand), so such rows never claim a run they are not part of."""
    return os.environ.get(RUN_ID_ENV, "")


@dataclass(frozen=True)
class Run:
    """Where a notebook's results go and what they record about their origin, in one object.

    ``profile``: the profile's name in ``mmar/profiles.yaml``; ``dir``: the run folder (absolute);
    ``seed``: the notebook's seed; ``data_source``: the prepared data's source label (None until
    notebook 01 has prepared it); ``run_id``: the ``mmar run`` that executes the notebook ("" outside
    one, e.g. under nbval). Every result row takes ``profile`` and ``run_path`` from it (:meth:`row_fields`).
    """

    profile: str
    dir: Path
    seed: int = 0
    data_source: str | None = None
    run_id: str = ""

    @classmethod
    def open(cls, profile: str, run_dir: str | Path, seed: int = 0) -> "Run":
        """The run at ``run_dir`` (relative paths start at the repository root); its data source is read
        from ``<run_dir>/data/dataset.json`` when notebook 01 has written it."""
        folder = resolve_run_dir(run_dir)
        meta = folder / "data" / "dataset.json"
        source = json.loads(meta.read_text()).get("data_source") if meta.is_file() else None
        return cls(profile, folder, seed, source, current_run_id())

    def with_data_source(self, data_source: str) -> "Run":
        """The same run with the data source of data prepared since :meth:`open`."""
        return replace(self, data_source=data_source)

    def row_fields(self) -> dict[str, str]:
        """What every :class:`mmar.results.ResultRow` records about the run: ``profile`` and ``run_path``."""
        return {"profile": self.profile, "run_path": str(self.dir)}

    def path(self, *parts: str) -> Path:
        """``<run>/<parts...>``, its folder created (e.g. ``run.path("captions", "examples.csv")``)."""
        path = self.dir.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def figure(self, name: str) -> Path:
        """``<run>/figures/<name>`` (the folder is created)."""
        return self.path("figures", name)

    def results_file(self, notebook: str) -> Path:
        """``<run>/results/<notebook>.csv``, where a notebook's result rows go."""
        return self.dir / "results" / f"{notebook}.csv"
