"""Where tensors run: the device a setting names, and a warning where reduced precision is slow there.

On a CPU, PyTorch runs bfloat16 and float16 convolutions and matrix products fast only through oneDNN's
reduced-precision kernels, which PyTorch reports through ``torch.ops.mkldnn._is_mkldnn_bf16_supported`` (on x86:
AVX-512) and ``_is_mkldnn_fp16_supported`` (on x86: newer extensions such as AVX-512-FP16). Elsewhere (an
AVX2-only CPU, for both) they fall back to reference kernels. Measured on an AVX2-only AMD EPYC (Zen 3, PyTorch 2.13): a 3x3x3
convolution of (1, 64, 8, 56, 56) took 330 times as long in bf16 or fp16 as in float32, I3D's features of 16
frames 140 s against 0.7 s, and a (512, 1024) x (1024, 512) linear layer 7 times as long.
"""

from __future__ import annotations

import warnings

import torch

#: autocast dtypes by the names the settings use ("bf16" for ExtractConfig.amp and TrainConfig.precision).
REDUCED_PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; any other name as ``torch.device`` reads it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def cpu_has_fast(precision: str) -> bool | None:
    """Whether this CPU runs ``precision`` ("bf16" or "fp16") on oneDNN's reduced-precision kernels;
    None where this PyTorch build does not say."""
    check = getattr(torch.ops.mkldnn, f"_is_mkldnn_{precision}_supported", None)
    try:
        return bool(check()) if check is not None else None
    except RuntimeError:
        return None


def warn_if_slow_precision(device: torch.device, precision: str, setting: str) -> None:
    """A UserWarning when ``precision`` (a key of :data:`REDUCED_PRECISIONS`; others are ignored) would run
    on reference kernels on ``device``: a CPU that :func:`cpu_has_fast` says lacks them. ``setting``
    names the option that chose it, for the message."""
    if precision in REDUCED_PRECISIONS and device.type == "cpu" and cpu_has_fast(precision) is False:
        warnings.warn(f"{setting}={precision!r} on this CPU: PyTorch has no fast {precision} kernels for it and "
                      f"runs reference kernels, measured 7 to 330 times as slow as float32 on a CPU without "
                      f"AVX-512 (mmar/device.py); float32 is faster here", UserWarning, stacklevel=3)
