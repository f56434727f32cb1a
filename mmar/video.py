"""Video decoding for I3D with PyAV: fixed frame rate, shorter side resized, centre crop, [-1, 1].

Frames are produced one at a time (:func:`iter_frames`), so a caller can keep memory bounded on
long videos. The preprocessing follows the I3D feature extractors in common use (Carreira &
Zisserman 2017; the authors of the paper used 25 fps RGB frames): resample to ``fps`` by taking,
for each output time ``k / fps``, the latest decoded frame shown at or before it; resize the shorter
side to ``short_side`` (bilinear, aspect ratio kept); centre-crop ``crop`` x ``crop``; and map
uint8 [0, 255] to [-1, 1] with ``x / 127.5 - 1``.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator, TypeVar

import numpy as np
import torch

# Tolerance (seconds) when comparing presentation times with output sample times.
_EPS = 1e-6
T = TypeVar("T")


class VideoError(RuntimeError):
    """A video that cannot be opened or decoded (the message names the file)."""


@dataclass(frozen=True)
class Preprocess:
    """Decoding parameters. ``fps=None`` keeps every decoded frame; ``short_side``/``crop`` None skip that step."""

    fps: float | None = 25.0
    short_side: int | None = 256
    crop: int | None = 224


def _resized_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    if short_side is None:
        return width, height
    scale = short_side / min(width, height)
    return max(short_side, round(width * scale)), max(short_side, round(height * scale))


def _to_array(frame: "object", pre: Preprocess) -> np.ndarray:
    """A decoded av.VideoFrame -> (H, W, 3) uint8, resized and centre-cropped."""
    width, height = _resized_size(frame.width, frame.height, pre.short_side)
    image = frame.to_ndarray(width=width, height=height, format="rgb24", interpolation="BILINEAR")
    if pre.crop is not None:
        if image.shape[0] < pre.crop or image.shape[1] < pre.crop:
            raise ValueError(f"frame {image.shape[:2]} is smaller than the crop {pre.crop}")
        top = (image.shape[0] - pre.crop) // 2
        left = (image.shape[1] - pre.crop) // 2
        image = image[top:top + pre.crop, left:left + pre.crop]
    return np.ascontiguousarray(image)


def _decoded(path: Path) -> Iterator[tuple[float, "object", float]]:
    """Yield (time in seconds from the first frame, av.VideoFrame, nominal frame duration)."""
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as error:
        raise VideoError(f"{path}: cannot open video ({error})") from error
    with container:
        if not container.streams.video:
            raise VideoError(f"{path}: no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        duration = float(1 / rate)
        first: float | None = None
        index = 0
        try:
            for frame in container.decode(stream):
                time = frame.time if frame.time is not None else index * duration
                first = time if first is None else first
                yield time - first, frame, duration
                index += 1
        except av.error.FFmpegError as error:
            raise VideoError(f"{path}: decoding failed after {index} frames ({error})") from error


def iter_frames(path: str | Path, pre: Preprocess = Preprocess()) -> Iterator[np.ndarray]:
    """Yield preprocessed frames (H, W, 3) uint8 of one video at ``pre.fps``, one at a time.

    Raises VideoError for a file that cannot be opened or decoded, or that has no frame.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such video file")
    emitted = 0
    previous: tuple[float, object, float] | None = None
    cached: np.ndarray | None = None

    def convert(frame: object) -> np.ndarray:
        try:
            return _to_array(frame, pre)
        except ValueError as error:
            raise VideoError(f"{path}: {error}") from error

    for time, frame, duration in _decoded(path):
        if pre.fps is None:
            emitted += 1
            yield convert(frame)
            continue
        if previous is not None:
            while emitted / pre.fps < time - _EPS:
                cached = convert(previous[1]) if cached is None else cached
                emitted += 1
                yield cached
        previous, cached = (time, frame, duration), None
    if previous is not None:
        end = previous[0] + previous[2]
        while emitted / pre.fps < end - _EPS:
            cached = convert(previous[1]) if cached is None else cached
            emitted += 1
            yield cached
    if emitted == 0:
        raise VideoError(f"{path}: no decodable video frame")


def read_frames(path: str | Path, pre: Preprocess = Preprocess(), max_frames: int | None = None,
                start: int = 0) -> np.ndarray:
    """Frames ``[start, start + max_frames)`` of a video as (T, H, W, 3) uint8 (for short clips)."""
    frames = []
    for index, frame in enumerate(iter_frames(path, pre)):
        if index < start:
            continue
        if max_frames is not None and len(frames) >= max_frames:
            break
        frames.append(frame)
    if not frames:
        raise VideoError(f"{path}: no frame at or after index {start}")
    return np.stack(frames)


def to_model_input(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (1, 3, T, H, W) float32 in [-1, 1]."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected (T, H, W, 3) uint8 frames, got {frames.shape} {frames.dtype}")
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).unsqueeze(0)
    return x.float().div_(127.5).sub_(1.0)


def write_video(path: str | Path, frames: np.ndarray, fps: float) -> Path:
    """Encode (T, H, W, 3) uint8 frames (H, W even) as an mpeg4 video at ``fps`` (e.g. to cut a clip)."""
    import av

    path = Path(path)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"qscale": "2"}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def prefetch(items: Iterable[T], depth: int) -> Iterator[T]:
    """Iterate ``items`` in a background thread, keeping up to ``depth`` items ready (``depth`` 0: no thread).

    Decoding then overlaps with the consumer's work (PyTorch releases the GIL while the model runs).
    An exception in the producer is raised in the consumer at the position it occurred; when the
    consumer stops early, the producer thread stops at its next item.
    """
    if depth <= 0:
        yield from items
        return
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        ready.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put((done, None))
        except BaseException as error:  # handed over to the consumer
            ready.put((done, error))

    thread = threading.Thread(target=produce, name="mmar-decode", daemon=True)
    thread.start()
    try:
        while True:
            item, error = ready.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                ready.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.1)
