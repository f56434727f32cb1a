"""mmar.device: the device a setting names, whether this CPU has fast bf16 / fp16 kernels (checked against
the processor's own flags in /proc/cpuinfo), and the warning that a slow reduced precision gives."""

from __future__ import annotations

import platform
import warnings
from pathlib import Path

import pytest
import torch

import mmar.device
from mmar.data.prepared import PreparedDataset
from mmar.device import cpu_has_fast, resolve_device, warn_if_slow_precision
from mmar.extract import ExtractConfig
from mmar.extract import load_model as load_i3d
from mmar.i3d import InceptionI3d
from mmar.provenance import cpu_fields
from mmar.training import TrainConfig, train


def test_auto_takes_cuda_only_where_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


@pytest.mark.skipif(platform.machine() != "x86_64" or not cpu_fields().get("flags"),
                    reason="reads the x86 flags of /proc/cpuinfo (Linux on x86-64 only)")
def test_fast_bf16_follows_the_processor_flags() -> None:
    """oneDNN's bf16 kernels need AVX-512 (or AVX-NE-CONVERT); a processor with bf16 arithmetic has them."""
    flags = set(cpu_fields()["flags"].split())
    if flags & {"avx512_bf16", "amx_bf16"}:
        assert cpu_has_fast("bf16") is True
    elif not flags & {"avx512f", "avx_ne_convert"}:
        assert cpu_has_fast("bf16") is False
        assert cpu_has_fast("fp16") is False
    assert cpu_has_fast("bf16") in (True, False)


def _warnings_of(device: str, precision: str) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_if_slow_precision(torch.device(device), precision, "amp")
    return [str(w.message) for w in caught]


def test_slow_reduced_precision_warns_on_cpu_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mmar.device, "cpu_has_fast", lambda precision: False)
    for precision in ("bf16", "fp16"):
        (message,) = _warnings_of("cpu", precision)
        assert f"amp='{precision}'" in message and "float32 is faster here" in message
        assert _warnings_of("cuda", precision) == []
    assert _warnings_of("cpu", "none") == [] and _warnings_of("cpu", "float32") == []
    for answer in (True, None):  # fast kernels, or a PyTorch build that does not say: no warning
        monkeypatch.setattr(mmar.device, "cpu_has_fast", lambda precision, answer=answer: answer)
        assert _warnings_of("cpu", "bf16") == []


def test_extraction_and_training_warn_where_their_precision_is_slow(monkeypatch: pytest.MonkeyPatch,
                                                                    tiny_prepared: PreparedDataset,
                                                                    tmp_path: Path) -> None:
    monkeypatch.setattr(mmar.device, "cpu_has_fast", lambda precision: False)
    monkeypatch.setattr(InceptionI3d, "from_pretrained", classmethod(lambda cls, weights=None: cls()))  # random init
    with pytest.warns(UserWarning, match="amp='bf16' on this CPU"):
        load_i3d(ExtractConfig(amp="bf16", device="cpu"))
    config = TrainConfig(embed_dim=8, hidden_dim=16, batch_size=8, epochs=1, pretrain_epochs=0, precision="bf16")
    with pytest.warns(UserWarning, match="precision='bf16' on this CPU"):
        train(config, tiny_prepared, tiny_prepared.rows(subset="train")[:16], tmp_path / "bf16", progress=False)
