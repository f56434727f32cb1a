"""Video decoding and the feature-extraction pipeline (chunking, resuming after kill -9, failures, shards,
failed and preempted shards, segmented merging)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from mmar.data.feature_store import FeatureStoreReader, FeatureStoreWriter, segments_dir_for
from mmar.extract import (EXTRACTOR_NAME, ExtractConfig, ShardJob, list_videos, merge_parts, parts_dir_for, part_ids,
                          run_extraction, video_features, write_part)
from mmar.i3d import InceptionI3d
from mmar.paths import PROJECT_ROOT
from mmar.video import Preprocess, VideoError, prefetch, read_frames, to_model_input

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
from make_test_videos import GRAY_FPS, LEVEL0, LEVEL_STEP, moving_pattern, write_video  # noqa: E402

sys.path.remove(str(FIXTURES))
pytestmark = pytest.mark.heavy  # starts and kills extraction processes: scheduled first (tests/conftest.py)
GRAY = FIXTURES / "gray_levels_10fps.mp4"


def _source_index(frames: np.ndarray) -> list[int]:
    """Which source frame of the grey-level fixture each decoded frame shows."""
    return [int(round((f.mean() - LEVEL0) / LEVEL_STEP)) for f in frames]


@pytest.mark.parametrize("fps", [25.0, 5.0, 10.0])
def test_resampling_takes_the_latest_frame_at_each_output_time(fps: float) -> None:
    frames = read_frames(GRAY, Preprocess(fps=fps, short_side=None, crop=None))
    n_out = int(round(1.0 * fps))  # 10 frames at 10 fps = 1 s
    assert _source_index(frames) == [int(k * GRAY_FPS // fps) for k in range(n_out)]


def test_native_rate_resize_and_crop() -> None:
    assert _source_index(read_frames(GRAY, Preprocess(fps=None, short_side=None, crop=None))) == list(range(10))
    frames = read_frames(GRAY, Preprocess(fps=None, short_side=40, crop=32), max_frames=3)
    assert frames.shape == (3, 32, 32, 3) and frames.dtype == np.uint8  # 64x48 -> 53x40 -> 32x32
    x = to_model_input(np.array([[[[0, 255, 0]]]], dtype=np.uint8))
    assert x.shape == (1, 3, 1, 1, 1) and x.flatten().tolist() == [-1.0, 1.0, -1.0]


def test_unreadable_videos_raise_video_error(tmp_path: Path) -> None:
    (tmp_path / "bad.mp4").write_bytes(b"not a video" * 50)
    with pytest.raises(VideoError, match="bad.mp4"):
        read_frames(tmp_path / "bad.mp4")
    with pytest.raises(VideoError, match="no such video"):
        read_frames(tmp_path / "absent.mp4")


def test_list_videos_from_folder_and_list_file(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    for name in ("a/v_1.mp4", "v_2.avi", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [v for v, _ in list_videos(tmp_path)] == ["v_1", "v_2"]
    listing = tmp_path / "list.txt"
    listing.write_text("a/v_1.mp4\n# comment\n\nv_2.avi\n")
    assert list_videos(listing) == [("v_1", tmp_path / "a/v_1.mp4"), ("v_2", tmp_path / "v_2.avi")]
    (tmp_path / "v_1.mkv").write_bytes(b"")
    with pytest.raises(ValueError, match="two videos with id 'v_1'"):
        list_videos(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty: no video files \(\.mp4, .*\) in this folder or below"):
        list_videos(tmp_path / "empty")
    (tmp_path / "none.txt").write_text("# nothing yet\n")
    with pytest.raises(ValueError, match=r"none\.txt: lists no video path \(one per line; # starts a comment\)"):
        list_videos(tmp_path / "none.txt")


class WindowProbe(torch.nn.Module):
    """A cheap stand-in for I3D with its output length: feature j of a window of T frames is the
    mean of the window's frames [8j, 8j + 16) in every channel (T' = ceil(T / 8) - 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def extract_features(self, x: torch.Tensor) -> torch.Tensor:
        steps = math.ceil(x.shape[2] / 8) - 1
        means = [x[:, :, 8 * j:8 * j + 16].mean(dim=(1, 2, 3, 4)) for j in range(steps)]
        return torch.stack(means, dim=-1)[:, None, :].expand(-1, 1024, -1)


def test_windows_give_exactly_the_features_of_their_frame_ranges() -> None:
    """72 frames (ceil(72 / 8) - 1 = 8 features), chunk 16, context 8: features 0-1 come from frames
    [0, 24); features 2-3 from [8, 40) (its local features 1-2, as local feature j starts at frame
    8 + 8j); features 4-5 from [24, 56); features 6-7 from [40, 72)."""
    frames = np.random.default_rng(0).integers(0, 256, size=(72, 4, 4, 3), dtype=np.uint8)
    probe = WindowProbe()
    features, n_frames = video_features(probe, iter(frames), ExtractConfig(chunk_frames=16, context_frames=8))
    windows = [(0, 24, 0, 2), (8, 40, 1, 3), (24, 56, 1, 3), (40, 72, 1, 3)]  # (first, stop, local from, local to)
    expected = np.concatenate([probe.extract_features(to_model_input(frames[a:b]))[0].T[i:j].numpy()
                               for a, b, i, j in windows])
    assert n_frames == 72 and features.shape == (8, 1024)
    np.testing.assert_array_equal(features, expected)
    # the whole clip in one window gives the single-pass features
    whole, _ = video_features(probe, iter(frames), ExtractConfig(chunk_frames=128, context_frames=8))
    np.testing.assert_array_equal(whole, probe.extract_features(to_model_input(frames))[0].T.numpy())


def test_short_video_gives_one_feature(pretrained: InceptionI3d) -> None:
    frames = np.random.default_rng(1).integers(0, 256, size=(5, 224, 224, 3), dtype=np.uint8)
    features, n_frames = video_features(pretrained, iter(frames), ExtractConfig())
    padded = np.concatenate([frames, np.repeat(frames[-1:], 4, axis=0)])  # repeat the last frame up to 9
    with torch.inference_mode():
        expected = pretrained.extract_features(to_model_input(padded))[0].T.numpy()
    assert n_frames == 5 and features.shape == (1, 1024)
    np.testing.assert_allclose(features, expected, rtol=0, atol=1e-4)


def _make_videos(folder: Path, lengths: list[int]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for i, n in enumerate(lengths):
        write_video(folder / f"v_{i}.mp4", moving_pattern(n, seed=i), 25)
    return [f"v_{i}" for i in range(len(lengths))]


@pytest.mark.usefixtures("pretrained")  # its extraction loads the weights (skips offline)
def test_extraction_writes_store_lists_failures_and_resumes(tmp_path: Path) -> None:
    ids = _make_videos(tmp_path / "videos", [16, 33])
    (tmp_path / "videos" / "v_corrupt.mp4").write_bytes(b"\x00" * 1000)
    out = tmp_path / "features.h5"
    summary = run_extraction(tmp_path / "videos", out, progress=False)
    assert (summary.total, summary.extracted, summary.failed, summary.merged) == (3, 2, 1, 2)
    store = FeatureStoreReader(out)
    assert sorted(store.ids()) == ids
    assert [store.length(v) for v in ids] == [1, 4]  # ceil(T / 8) - 1 with T = 16, 33 frames at 25 fps
    assert store.attrs["extractor"] == EXTRACTOR_NAME and store.fps == 25.0 and store.stride_frames == 8
    assert store.feature_dim == 1024
    failures = (tmp_path / "features.h5.failures.tsv").read_text().splitlines()
    assert failures[0] == "video_id\tpath\terror\tlog" and failures[1].startswith("v_corrupt\t")
    assert not parts_dir_for(out).exists()

    again = run_extraction(tmp_path / "videos", out, progress=False)
    assert (again.already_done, again.extracted, again.failed) == (2, 0, 1)


#: ``python -m mmar extract`` that kills itself with SIGKILL at a fixed point of its first video, whatever the
#: machine's load: "written", right after the part file is complete; "writing", once the features are in the
#: part's temporary file, before it is renamed.
EXTRACT_KILLED_IN_FIRST_PART = """
import os, signal, sys
from mmar import extract

stage = sys.argv[1]

def die_after(function):
    def wrapper(*args, **kwargs):
        result = function(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return result
    return wrapper

if stage == "written":
    extract.write_part = die_after(extract.write_part)
else:
    extract.np.savez = die_after(extract.np.savez)
sys.exit(extract.main(sys.argv[2:]))
"""


@pytest.mark.usefixtures("pretrained")  # its extraction loads the weights (skips offline)
@pytest.mark.parametrize("stage", ["written", "writing"])
def test_kill_9_leaves_no_half_entry_and_the_run_resumes(tmp_path: Path, stage: str) -> None:
    """An extraction killed with SIGKILL in its first video leaves that video's complete part ("written") or
    only an ignored temporary file ("writing"), and no store; the same command then merges all videos."""
    ids = _make_videos(tmp_path / "videos", [16, 16, 16])
    out = tmp_path / "features.h5"
    parts = parts_dir_for(out)
    arguments = [str(tmp_path / "videos"), "--out", str(out), "--no-progress"]
    killed = subprocess.run([sys.executable, "-c", EXTRACT_KILLED_IN_FIRST_PART, stage, *arguments],
                            cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    temporary = [p.name for p in parts.iterdir() if p.name.startswith(".")]
    if stage == "written":
        assert part_ids(parts) == {ids[0]} and not temporary  # videos are extracted in listed order
    else:
        assert part_ids(parts) == set() and len(temporary) == 1 and temporary[0].startswith(".tmp-")
    assert not out.exists()  # nothing merged yet: the store is only ever replaced atomically

    subprocess.run([sys.executable, "-m", "mmar", "extract", *arguments], cwd=PROJECT_ROOT, check=True,
                   capture_output=True)
    store = FeatureStoreReader(out)
    assert sorted(store.ids()) == ids
    assert all(store.length(v) == 1 and np.isfinite(store.read(v)).all() for v in ids)
    assert not parts.exists()


@pytest.mark.usefixtures("pretrained")  # its extraction loads the weights (skips offline)
def test_local_submitit_shards_are_merged_into_one_store(tmp_path: Path) -> None:
    ids = _make_videos(tmp_path / "videos", [16, 16])
    out = tmp_path / "features.h5"
    summary = run_extraction(tmp_path / "videos", out, shards=2, executor="local", progress=False)
    assert (summary.extracted, summary.merged, summary.failed) == (2, 2, 0)
    assert sorted(FeatureStoreReader(out).ids()) == ids
    assert len(list((tmp_path / "features.h5.logs").glob("*_result.pkl"))) == 2  # one submitit job per shard


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="chunk_frames"):
        ExtractConfig(chunk_frames=20)
    with pytest.raises(ValueError, match="context_frames"):
        ExtractConfig(context_frames=0)


def test_refuses_to_append_to_a_store_of_another_extractor(tmp_path: Path) -> None:
    from mmar.data.feature_store import FeatureStoreError, FeatureStoreWriter

    _make_videos(tmp_path / "videos", [16])
    out = tmp_path / "features.h5"
    with FeatureStoreWriter(out, extractor="stand-in", fps=25.0, stride_frames=64, feature_dim=1024) as store:
        store.write("x", np.zeros((2, 1024), dtype=np.float32))
    with pytest.raises(FeatureStoreError, match="extractor='stand-in'"):
        run_extraction(tmp_path / "videos", out, progress=False)
    assert not parts_dir_for(out).exists()


def test_part_files_round_trip_and_ignore_interrupted_writes(tmp_path: Path) -> None:
    from mmar.extract import write_part

    parts = tmp_path / "features.h5.parts"
    for video_id in ("v_a", "dir/v_b", ".hidden"):
        write_part(parts, video_id, np.ones((2, 1024), dtype=np.float32), 20)
    (parts / ".tmp-abc123.partial").write_bytes(b"PK\x03\x04 truncated")  # a write killed half-way
    assert part_ids(parts) == {"v_a", "dir/v_b", ".hidden"}


# --------------------------------------------------------------------------- failed and preempted shards
@pytest.fixture
def fault_shards(monkeypatch: pytest.MonkeyPatch):
    """tests/fixtures/fault_shards.py, importable here and in submitit's local job processes."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(FIXTURES), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.syspath_prepend(str(FIXTURES))
    import fault_shards

    return fault_shards


@pytest.mark.usefixtures("pretrained")  # its extraction loads the weights (skips offline)
def test_failed_and_killed_shards_are_contained(tmp_path: Path, fault_shards) -> None:
    """Shard 1 raises, shard 2 is killed (SIGKILL): shard 0's video is merged, the other two are listed
    with their shard's error and log file, and the summary counts 1 shard ok and 2 failed."""
    _make_videos(tmp_path / "videos", [16, 16, 16])
    out = tmp_path / "features.h5"
    summary = run_extraction(tmp_path / "videos", out, shards=3, executor="local", progress=False,
                             shard_job=fault_shards.FaultyShards())
    assert (summary.shards_ok, summary.shards_failed, summary.extracted, summary.merged, summary.failed) == (1, 2, 1, 1, 2)
    assert FeatureStoreReader(out).ids() == ["v_0"]
    rows = [line.split("\t") for line in (tmp_path / "features.h5.failures.tsv").read_text().splitlines()]
    assert rows[0] == ["video_id", "path", "error", "log"]
    by_id = {row[0]: row for row in rows[1:]}
    assert sorted(by_id) == ["v_1", "v_2"]
    assert "shard 1" in by_id["v_1"][2] and "injected failure in shard 1" in by_id["v_1"][2]
    assert "shard 2" in by_id["v_2"][2] and "without a result" in by_id["v_2"][2]
    for row in by_id.values():
        assert Path(row[3]).is_file() and row[3].endswith(".err")
    assert "injected failure in shard 1" in Path(by_id["v_1"][3]).read_text()

    again = run_extraction(tmp_path / "videos", out, shards=3, executor="local", progress=False)  # the retry
    assert (again.shards_failed, again.already_done, again.extracted) == (0, 1, 2)
    assert sorted(FeatureStoreReader(out).ids()) == ["v_0", "v_1", "v_2"]
    assert not (tmp_path / "features.h5.failures.tsv").exists()


def test_exit_status_and_summary_of_failed_shards(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from mmar import extract

    summary = extract.ExtractionSummary(total=3, already_done=0, extracted=1, failed=2, merged=1, seconds=1.0,
                                        failures_file=Path("f.tsv"), shards_ok=1, shards_failed=2)
    monkeypatch.setattr(extract, "run_extraction", lambda *a, **k: summary)
    assert extract.main(["videos", "--out", "x.h5", "--shards", "3"]) == 1
    assert "1 shards ok, 2 failed; rerun the same command to retry" in capsys.readouterr().err
    monkeypatch.setattr(extract, "run_extraction", lambda *a, **k: extract.ExtractionSummary(3, 0, 3, 0, 3, 1.0, None))
    assert extract.main(["videos", "--out", "x.h5"]) == 0


@pytest.mark.usefixtures("pretrained")  # its extraction loads the weights (skips offline)
def test_preempted_shard_requeues_itself_and_skips_finished_videos(tmp_path: Path, fault_shards) -> None:
    """submitit's local executor: the job gets the preemption signal after its first video, checkpoints,
    is requeued by submitit (no driver involved) and extracts only the remaining videos."""
    import submitit

    ids = _make_videos(tmp_path / "videos", [16, 16])
    out = tmp_path / "features.h5"
    videos = [(v, str(p)) for v, p in list_videos(tmp_path / "videos")]
    executor = submitit.AutoExecutor(folder=tmp_path / "logs", cluster="local")
    executor.update_parameters(timeout_min=10)
    config = asdict(ExtractConfig())
    job = executor.submit(fault_shards.PreemptedOnce(), videos, str(out), config, 0)
    result = job.result()
    assert (result.skipped, result.done) == (1, 1)  # the requeued run found the first video's part
    assert part_ids(parts_dir_for(out)) == set(ids)
    log_text = Path(job.paths.stderr).read_text() + Path(job.paths.stdout).read_text()
    assert "requeueing it" in log_text and "Requeued job" in log_text


def test_checkpoint_resubmits_the_same_shard(tmp_path: Path) -> None:
    out = tmp_path / "features.h5"
    write_part(parts_dir_for(out), "v_0", np.ones((1, 1024), np.float32), 16)
    job = ShardJob()
    videos = [("v_0", "a.mp4"), ("v_1", "b.mp4")]
    delayed = job.checkpoint(videos, str(out), {"fps": 25.0}, 4)
    assert delayed.function is job and delayed.args == (videos, str(out), {"fps": 25.0}, 4) and not delayed.kwargs


def test_prefetch_keeps_order_and_raises_errors_where_they_happen() -> None:
    assert list(prefetch(iter(range(50)), 4)) == list(range(50))
    assert list(prefetch(iter(range(5)), 0)) == list(range(5))

    def failing():
        yield 1
        yield 2
        raise VideoError("decoding failed after 2 frames")

    seen = []
    with pytest.raises(VideoError, match="after 2 frames"):
        for item in prefetch(failing(), 1):
            seen.append(item)
    assert seen == [1, 2]
    stream = prefetch(iter(range(10**6)), 2)  # a consumer that stops early does not hang
    assert next(stream) == 0
    stream.close()


# ------------------------------------------------------------------------------------ segmented merging
def _write_parts(out: Path, ids: list[str], value: float = 1.0) -> None:
    for i, video_id in enumerate(ids):
        write_part(parts_dir_for(out), video_id, np.full((2 + i % 3, 1024), value + i, np.float32), 16 + 8 * i)


def _expected(ids: list[str], value: float = 1.0) -> dict[str, np.ndarray]:
    return {v: np.full((2 + i % 3, 1024), value + i, np.float32) for i, v in enumerate(ids)}


def test_merging_appends_a_segment_without_rewriting_the_store(tmp_path: Path) -> None:
    out = tmp_path / "features.h5"
    first, second = [f"a{i}" for i in range(4)], [f"b{i}" for i in range(3)]
    _write_parts(out, first)
    assert merge_parts(out, ExtractConfig()) == 4
    segments = segments_dir_for(out)
    (segment,) = list(segments.iterdir())
    before = segment.stat()
    _write_parts(out, second, value=10.0)
    assert merge_parts(out, ExtractConfig()) == 3
    after = segment.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    assert len(list(segments.iterdir())) == 2
    store = FeatureStoreReader(out)
    assert sorted(store.ids()) == sorted(first + second)
    for video_id, features in {**_expected(first), **_expected(second, 10.0)}.items():
        np.testing.assert_array_equal(store.read(video_id), features)
    assert store.attrs["extractor"] == EXTRACTOR_NAME and not parts_dir_for(out).exists()


def test_merging_into_a_store_written_in_place_keeps_its_entries_without_copying(tmp_path: Path) -> None:
    out = tmp_path / "features.h5"
    with FeatureStoreWriter(out, extractor=EXTRACTOR_NAME, fps=25.0, stride_frames=8, feature_dim=1024) as store:
        store.write("old", np.full((3, 1024), 7.0, np.float32), 24)
    inode = out.stat().st_ino
    _write_parts(out, ["new"])
    assert merge_parts(out, ExtractConfig()) == 1
    (legacy,) = [p for p in segments_dir_for(out).iterdir() if p.name.startswith("legacy-")]
    assert legacy.stat().st_ino == inode  # hard link: the old file's data are not copied
    store = FeatureStoreReader(out)
    assert sorted(store.ids()) == ["new", "old"]
    np.testing.assert_array_equal(store.read("old"), np.full((3, 1024), 7.0, np.float32))


def test_a_second_merge_into_the_same_store_is_refused_while_one_runs(tmp_path: Path) -> None:
    import fcntl

    from mmar.data.feature_store import FeatureStoreError

    out = tmp_path / "features.h5"
    _write_parts(out, ["a0"])
    with open(tmp_path / "features.h5.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process merging (flock locks are per open file)
        with pytest.raises(FeatureStoreError, match="another process is merging"):
            merge_parts(out, ExtractConfig())
    assert merge_parts(out, ExtractConfig()) == 1


MERGE_SCRIPT = """
import os, signal, sys
from pathlib import Path
import h5py
from mmar import extract
from mmar.data import feature_store

out, stage, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
calls = {"n": 0}

def die_after(function):
    def wrapper(*args, **kwargs):
        result = function(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] >= count:
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    return wrapper

if stage == "segment":  # while writing the new segment
    feature_store.FeatureStoreWriter.write = die_after(feature_store.FeatureStoreWriter.write)
elif stage == "index":  # while writing the new index (after the segment is complete)
    original = h5py.Group.__setitem__
    h5py.Group.__setitem__ = die_after(original)
elif stage == "replaced":  # after the n-th os.replace: 1 = segment renamed, 2 = index replaced the store
    feature_store.os.replace = die_after(os.replace)
extract.merge_parts(out, extract.ExtractConfig())
"""


@pytest.mark.parametrize("stage, count", [("segment", 2), ("replaced", 1), ("index", 3), ("index", 7), ("replaced", 2)])
def test_kill_9_during_a_merge_never_corrupts_the_store(tmp_path: Path, stage: str, count: int) -> None:
    """A first merge of 4 parts, then a second merge of 3 parts killed with SIGKILL at a given point: the
    store holds exactly the first 4 or all 7 entries, and the next merge completes it with no leftovers."""
    out = tmp_path / "features.h5"
    first, second = [f"a{i}" for i in range(4)], [f"b{i}" for i in range(3)]
    _write_parts(out, first)
    merge_parts(out, ExtractConfig())
    _write_parts(out, second, value=10.0)
    process = subprocess.run([sys.executable, "-c", MERGE_SCRIPT, str(out), stage, str(count)], cwd=PROJECT_ROOT,
                             capture_output=True, text=True)
    assert process.returncode == -signal.SIGKILL, process.stderr
    store = FeatureStoreReader(out)
    expected = {**_expected(first), **_expected(second, 10.0)}
    assert sorted(store.ids()) in (sorted(first), sorted(first + second))
    for video_id in store.ids():
        np.testing.assert_array_equal(store.read(video_id), expected[video_id])
    store.close()
    assert part_ids(parts_dir_for(out)) | set(store.ids()) == set(expected)  # nothing lost

    merge_parts(out, ExtractConfig())
    store = FeatureStoreReader(out)
    assert sorted(store.ids()) == sorted(expected)
    for video_id, features in expected.items():
        np.testing.assert_array_equal(store.read(video_id), features)
    assert not parts_dir_for(out).exists()
    referenced = {p.name for p in segments_dir_for(out).iterdir()}
    assert len(referenced) == 2 and not any(name.endswith(".partial") for name in referenced)
    assert not out.with_name(out.name + ".index-partial").exists()
