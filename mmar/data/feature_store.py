"""The HDF5 feature store shared by real I3D extraction and the stand-in generators.

Layout (``LAYOUT_VERSION`` 1)::

    /                       file attributes: layout_version, extractor, fps, stride_frames,
                            feature_dim, dtype, source (free text, e.g. "stand-in")
    /features/<video_id>    dataset, shape (T, C), float16 or float32; attribute n_frames (input
                            frames it was computed from, -1 if unknown)
    /incomplete/<video_id>  an entry being written; moved into /features only once complete

One feature per ``stride_frames`` input frames at ``fps`` (I3D Mixed_5c + 2x7x7 average pool: 8
frames at 25 fps, so 3.125 features per second). A video id is written with "/" replaced by "|".

Segmented stores (written by :func:`append_segment`, used by ``python -m mmar extract``): an entry of
``/features`` may be an HDF5 external link to ``/features/<video_id>`` in a segment file
``<store>.segments/<name>.h5`` (path relative to the store's folder). Each append writes the new
entries into a new segment file and then atomically replaces the small index file ``<store>``, so
appending costs time proportional to the new entries (plus one link per existing entry), never a
copy of the feature data. h5py follows the links transparently; keep ``<store>`` and
``<store>.segments/`` together when moving a store.

The reader never loads the whole file: :meth:`FeatureStoreReader.read` slices one entry, so memory
stays flat as the file grows.

The reader checks what it opens and reads, and raises :class:`FeatureStoreError` naming the file (and
the video id) when it does not follow this layout: a folder, a ``.npy``/``.npz`` file or another
non-HDF5 file (convert it with :class:`FeatureStoreWriter`, see :data:`CONVERT_HINT`); missing file
attributes ``feature_dim``/``fps``/``stride_frames``; an entry whose shape is not (T, feature_dim)
(e.g. stored transposed, (feature_dim, T)); NaN or inf values in the steps read.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterable, Iterator

import h5py
import numpy as np

LAYOUT_VERSION = 1
_FEATURES = "features"
_INCOMPLETE = "incomplete"
#: File attributes a store must have to be read.
REQUIRED_ATTRS = ("feature_dim", "fps", "stride_frames")
#: Where the expected layout is described, for error messages.
LAYOUT_HINT = ("expected an mmar HDF5 feature store (layout in mmar/data/feature_store.py): file attributes "
               "feature_dim, fps, stride_frames (and extractor), one dataset /features/<video_id> of shape "
               "(T, feature_dim) per video")
#: How to convert features kept in another format, for error messages.
CONVERT_HINT = ("To convert features kept as NumPy arrays, write each video's (T, C) array with "
                "mmar.data.feature_store.FeatureStoreWriter: `with FeatureStoreWriter('features.h5', "
                "extractor='<what made them>', fps=<the frame rate they were made at>, stride_frames=<frames per "
                "feature step>, feature_dim=C) as store: store.write(video_id, features)` (I3D as the paper uses it: "
                "fps=25, stride_frames=8; for a .npz: `for video_id in npz.files`; for a folder: one <video_id>.npy "
                "per video; for an HDF5 file of one dataset per video: `for video_id in h5file`)")


def _key(video_id: str) -> str:
    return video_id.replace("/", "|")


def _video_id(key: str) -> str:
    return key.replace("|", "/")


class FeatureStoreError(RuntimeError):
    """A feature store that cannot be read or does not match what the caller expects."""


def _file_kind(path: Path) -> str:
    """What a non-HDF5 file looks like, from its first bytes, for error messages."""
    with open(path, "rb") as stream:
        head = stream.read(8)
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy .npy file"
    if head.startswith(b"PK"):
        return "a zip archive (a NumPy .npz file?)" if path.suffix != ".npz" else "a NumPy .npz archive"
    if head.startswith(b"\x80"):
        return "a Python pickle"
    return f"a file with signature {head!r}"


class FeatureStoreWriter:
    """Append entries to a feature store, creating it if needed.

    Example::

        with FeatureStoreWriter("features.h5", extractor="i3d-rgb", fps=25, stride_frames=8,
                                feature_dim=1024) as store:
            if not store.contains("v_abc"):
                store.write("v_abc", feats)       # feats: (T, 1024)

    An existing file is reopened for appending; its attributes must match the ones given. Each entry
    is flushed to disk as it is written, so that an interrupted extraction keeps every finished video;
    ``flush_each=False`` leaves that to ``close`` (for a store that is only ever written whole).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        extractor: str,
        fps: float,
        stride_frames: int,
        feature_dim: int,
        dtype: str = "float16",
        source: str = "",
        flush_each: bool = True,
    ) -> None:
        self.path = Path(path)
        self.flush_each = flush_each
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.dtype = np.dtype(dtype)
        self.feature_dim = int(feature_dim)
        attrs = {
            "layout_version": LAYOUT_VERSION,
            "extractor": extractor,
            "fps": float(fps),
            "stride_frames": int(stride_frames),
            "feature_dim": int(feature_dim),
            "dtype": self.dtype.name,
            "source": source,
        }
        self._file = h5py.File(self.path, "a")
        if "layout_version" in self._file.attrs:
            for name in ("layout_version", "feature_dim", "stride_frames"):
                existing = int(self._file.attrs[name])
                if existing != int(attrs[name]):
                    self._file.close()
                    raise FeatureStoreError(f"{self.path}: existing store has {name}={existing}, asked for {attrs[name]}")
        else:
            self._file.attrs.update(attrs)
        self._file.require_group(_FEATURES)
        incomplete = self._file.require_group(_INCOMPLETE)
        for key in list(incomplete.keys()):  # leftovers of an interrupted write
            del incomplete[key]

    def contains(self, video_id: str) -> bool:
        """True when a complete entry for ``video_id`` is in the store."""
        return _key(video_id) in self._file[_FEATURES]

    def write(self, video_id: str, features: np.ndarray, n_frames: int = -1) -> None:
        """Write one complete entry of shape (T, C); replaces an existing entry."""
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[1] != self.feature_dim:
            raise ValueError(f"{video_id}: features must be (T, {self.feature_dim}), got {features.shape}")
        if features.shape[0] == 0:
            raise ValueError(f"{video_id}: features have zero length")
        if not np.isfinite(features).all():
            raise ValueError(f"{video_id}: features contain NaN or inf")
        key = _key(video_id)
        staging = self._file[_INCOMPLETE]
        if key in staging:
            del staging[key]
        dataset = staging.create_dataset(key, data=features.astype(self.dtype))  # contiguous: fastest slice reads
        dataset.attrs["n_frames"] = int(n_frames)
        final = self._file[_FEATURES]
        if key in final:
            del final[key]
        self._file.move(f"{_INCOMPLETE}/{key}", f"{_FEATURES}/{key}")
        if self.flush_each:
            self._file.flush()

    def close(self) -> None:
        if self._file.id.valid:
            self._file.close()

    def __enter__(self) -> "FeatureStoreWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def as_float32(values: np.ndarray) -> np.ndarray:
    """``values`` as float32: float16 (how stores are written) through PyTorch's vectorised conversion,
    which is exact like NumPy's and, measured on the 2-core AMD EPYC (NumPy 2.4), 3.5x faster than
    ``astype``; anything else through NumPy."""
    if values.dtype == np.float16:
        import torch

        return torch.from_numpy(np.require(values, requirements=("C", "W"))).to(torch.float32).numpy()  # copies only if needed
    return np.asarray(values, dtype=np.float32)


class FeatureStoreReader:
    """Stream entries of a feature store. Opens the file lazily, once per process (DataLoader-safe)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            n_npy = sum(1 for _ in self.path.glob("*.npy"))
            held = f" ({n_npy} .npy files)" if n_npy else ""
            raise FeatureStoreError(f"{self.path} is a folder{held}, not a feature store file; {LAYOUT_HINT}. {CONVERT_HINT}")
        if not self.path.is_file():
            raise FeatureStoreError(f"feature store not found: {self.path}")
        if not h5py.is_hdf5(self.path):
            raise FeatureStoreError(f"{self.path}: {_file_kind(self.path)}, not an HDF5 file; {LAYOUT_HINT}. {CONVERT_HINT}")
        first: tuple[str, tuple[int, ...]] | None = None
        try:
            with h5py.File(self.path, "r") as f:
                if _FEATURES not in f:
                    names = list(f.keys())
                    found = (f"its top level holds {len(names):,} entries, e.g. {names[0]!r}" if names
                             else "it is empty")
                    raise FeatureStoreError(f"{self.path}: no /{_FEATURES} group ({found}); not an mmar feature store; "
                                            f"{LAYOUT_HINT}. {CONVERT_HINT}")
                self.attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
                self._ids = [_video_id(k) for k in f[_FEATURES].keys()]
                missing = [name for name in REQUIRED_ATTRS if name not in self.attrs]
                if missing and self._ids:
                    entry = f[_FEATURES][_key(self._ids[0])]
                    first = (self._ids[0], tuple(getattr(entry, "shape", ())))
        except OSError as error:
            raise FeatureStoreError(f"{self.path}: cannot read HDF5 file ({error})") from error
        if missing:
            example = f"; its first entry, video {first[0]!r}, has shape {first[1]}" if first else ""
            raise FeatureStoreError(f"{self.path}: file attribute(s) {missing} missing (has {sorted(self.attrs)}){example}; "
                                    f"{LAYOUT_HINT}. Rewrite it with mmar.data.feature_store.FeatureStoreWriter, or add "
                                    "the attributes with h5py (`f.attrs['feature_dim'] = C`, ...)")
        for name in REQUIRED_ATTRS:
            try:
                ok = float(self.attrs[name]) > 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise FeatureStoreError(f"{self.path}: file attribute {name}={self.attrs[name]!r} is not a positive number; "
                                        f"{LAYOUT_HINT}")
        self._id_set = set(self._ids)
        self._finite: set[tuple[str, int, int]] = set()  # (video id, start, stop) already found finite
        self._lengths: dict[str, int] = {}  # video id -> T, asked once (the file is only read)
        self._file: h5py.File | None = None
        self._pid: int | None = None

    @property
    def feature_dim(self) -> int:
        return int(self.attrs["feature_dim"])

    @property
    def fps(self) -> float:
        return float(self.attrs["fps"])

    @property
    def stride_frames(self) -> int:
        return int(self.attrs["stride_frames"])

    @property
    def features_per_second(self) -> float:
        """Temporal resolution of the features (3.125 for I3D at 25 fps)."""
        return self.fps / self.stride_frames

    def _handle(self) -> h5py.File:
        import os

        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file

    def ids(self) -> list[str]:
        """Video ids with a complete entry, in file order."""
        return list(self._ids)

    def __contains__(self, video_id: str) -> bool:
        return video_id in self._id_set

    def __len__(self) -> int:
        return len(self._ids)

    def missing(self, video_ids: Iterable[str]) -> list[str]:
        """The ids in ``video_ids`` that have no entry, in the order given."""
        return [v for v in video_ids if v not in self._id_set]

    def length(self, video_id: str) -> int:
        """Number of feature steps T of one entry."""
        if video_id not in self._lengths:
            self._lengths[video_id] = int(self._dataset(video_id).shape[0])
        return self._lengths[video_id]

    def _dataset(self, video_id: str) -> h5py.Dataset:
        """The entry of ``video_id``, its shape checked against (T, feature_dim) (metadata only: cheap)."""
        try:
            dataset = self._handle()[_FEATURES][_key(video_id)]
        except KeyError:
            raise KeyError(f"{self.path}: no features for video id {video_id!r}") from None
        shape = getattr(dataset, "shape", None)
        dim = self.feature_dim
        if shape is None or len(shape) != 2 or shape[1] != dim or shape[0] < 1:
            what = "is not a dataset" if shape is None else f"has shape {tuple(shape)}"
            transposed = (" (it looks transposed: stored as (feature_dim, T); write it as features.T)"
                          if shape is not None and len(shape) == 2 and shape[0] == dim and shape[1] != dim else "")
            raise FeatureStoreError(f"{self.path}: video {video_id!r}: entry /{_FEATURES}/{_key(video_id)} {what}, "
                                    f"expected (T, {dim}) with T >= 1 (feature_dim={dim}){transposed}; {LAYOUT_HINT}")
        return dataset

    def read(self, video_id: str, start: int | None = None, stop: int | None = None) -> np.ndarray:
        """Features of one video, steps ``[start, stop)``, as float32 of shape (T, C).

        FeatureStoreError when the entry is not (T, feature_dim) or the steps read hold NaN or inf (one
        float64 sum over the slice: a NaN or inf anywhere makes it non-finite; each distinct slice is checked
        once, since training and its probes read the same segments every epoch).
        """
        dataset = self._dataset(video_id)
        features = as_float32(dataset[start:stop])
        span = (video_id, *slice(start, stop).indices(int(dataset.shape[0]))[:2])
        if span in self._finite:
            return features
        if features.size and not np.isfinite(features.sum(dtype=np.float64)):
            bad = ~np.isfinite(features)
            step, channel = (int(i[0]) for i in np.nonzero(bad))
            raise FeatureStoreError(f"{self.path}: video {video_id!r}: {int(bad.sum())} NaN/inf value(s) in the steps "
                                    f"read, first at step {span[1] + step}, channel {channel} "
                                    f"({features[step, channel]}); features must be finite; {LAYOUT_HINT}")
        self._finite.add(span)
        return features

    def iter_items(self, video_ids: Iterable[str] | None = None) -> Iterator[tuple[str, np.ndarray]]:
        """Yield ``(video_id, features (T, C))`` one at a time."""
        for video_id in self._ids if video_ids is None else video_ids:
            yield video_id, self.read(video_id)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"] = None
        state["_pid"] = None
        return state


# ------------------------------------------------------------------------------- segmented stores
def segments_dir_for(store: Path) -> Path:
    """The folder of a segmented store's segment files: ``<store>.segments``."""
    return store.with_name(store.name + ".segments")


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as stream:
        os.fsync(stream.fileno())


def _fsync_dir(path: Path) -> None:
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def index_entries(store: Path) -> dict[str, tuple[str | None, str]]:
    """Where each entry of ``store`` lives: ``{video_id: (segment file relative to the store's folder
    or None for a dataset inside the store file itself, path of the dataset in that file)}``."""
    entries: dict[str, tuple[str | None, str]] = {}
    with h5py.File(store, "r") as f:
        group = f[_FEATURES]
        for key in group.keys():
            link = group.get(key, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                entries[_video_id(key)] = (link.filename, link.path)
            else:
                entries[_video_id(key)] = (None, f"/{_FEATURES}/{key}")
    return entries


def referenced_segments(store: Path) -> set[str]:
    """Segment files (relative to the store's folder) the index ``store`` links to."""
    if not store.is_file():
        return set()
    return {segment for segment, _ in index_entries(store).values() if segment is not None}


def recover_segments(store: Path) -> list[Path]:
    """Delete what an interrupted :func:`append_segment` left behind (temporary files, segment files
    no index entry refers to); returns the deleted paths. Call only while no append is running."""
    segments = segments_dir_for(store)
    removed: list[Path] = []
    stale_index = store.with_name(store.name + ".index-partial")
    if stale_index.exists():
        stale_index.unlink()
        removed.append(stale_index)
    if not segments.is_dir():
        return removed
    keep = {segments.parent / name for name in referenced_segments(store)}
    for path in sorted(segments.iterdir()):
        if path not in keep:
            path.unlink()
            removed.append(path)
    if not any(segments.iterdir()):
        segments.rmdir()
    return removed


def append_segment(store: str | Path, items: Iterable[tuple[str, np.ndarray, int]], *, extractor: str, fps: float,
                   stride_frames: int, feature_dim: int, dtype: str = "float16", source: str = "") -> list[str]:
    """Append ``(video_id, features (T, C), n_frames)`` items to the segmented store ``store``, crash-safely.

    1. The items go into a new segment file (written as ``*.partial``, fsynced, renamed).
    2. A new index file with the store's attributes and one external link per entry (the existing
       ones, then the new ones; a new entry replaces an old one with the same id) is written beside
       ``store``, fsynced, and atomically renamed over it. Entries that are datasets inside an older,
       non-segmented store file are kept by hard-linking that file into the segments folder (copied
       only where hard links are unsupported), so they are not copied either.
    3. Segment files no entry refers to any more are deleted.

    A kill at any moment leaves ``store`` either as it was or with all the new items; the leftovers
    are removed by :func:`recover_segments` (called first here). Returns the ids appended.
    """
    store = Path(store)
    store.parent.mkdir(parents=True, exist_ok=True)
    recover_segments(store)
    segments = segments_dir_for(store)
    segments.mkdir(exist_ok=True)
    name = f"seg-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**9:09d}.h5"
    partial = segments / (name + ".partial")
    attrs = dict(extractor=extractor, fps=fps, stride_frames=stride_frames, feature_dim=feature_dim, dtype=dtype,
                 source=source)
    written: list[str] = []
    with FeatureStoreWriter(partial, **attrs) as segment:
        for video_id, features, n_frames in items:
            segment.write(video_id, features, n_frames)
            written.append(video_id)
    if not written:
        partial.unlink()
        return written
    _fsync_file(partial)
    partial.replace(segments / name)
    _fsync_dir(segments)

    entries: dict[str, tuple[str | None, str]] = {}
    file_attrs: dict = {}
    if store.is_file():
        entries = index_entries(store)
        with h5py.File(store, "r") as f:
            file_attrs = dict(f.attrs.items())
        if any(segment is None for segment, _ in entries.values()):  # a store written in place: keep its file as a segment
            legacy = segments / f"legacy-{name}"
            try:
                os.link(store, legacy)
            except OSError:
                import shutil

                shutil.copyfile(store, legacy)
                _fsync_file(legacy)
            entries = {v: (seg if seg is not None else f"{segments.name}/{legacy.name}", path)
                       for v, (seg, path) in entries.items()}
    for video_id in written:
        entries[video_id] = (f"{segments.name}/{name}", f"/{_FEATURES}/{_key(video_id)}")
    index = store.with_name(store.name + ".index-partial")
    with h5py.File(index, "w") as f:
        f.attrs.update(file_attrs or {"layout_version": LAYOUT_VERSION, **attrs, "dtype": np.dtype(dtype).name})
        group = f.create_group(_FEATURES)
        f.create_group(_INCOMPLETE)
        for video_id, (segment, path) in entries.items():
            group[_key(video_id)] = h5py.ExternalLink(segment, path)
    _fsync_file(index)
    os.replace(index, store)
    _fsync_dir(store.parent)
    recover_segments(store)
    return written
