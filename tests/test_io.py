"""minisora.io: video round trips and the errors users meet."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from minisora.world import render as R, scenes as S
from minisora.frame_reader import probe_video, read_frames
from minisora.io import VideoReadError, contact_sheet, export_to_video, read_video


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    spec = S.sample_scene(np.random.default_rng(0), "any", occluder_prob=1.0)
    return R.render(spec, 64, 64, 17)  # (17, 64, 64, 3)


def _psnr(a, b):
    return 10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - b) ** 2))


@pytest.mark.parametrize("fps", [8.0, 12.5, 30000 / 1001])
def test_mp4_round_trip(tmp_path, clip, fps):
    path = export_to_video(clip, tmp_path / "a.mp4", fps=fps)
    frames, got_fps = read_video(path)
    assert frames.shape == clip.shape and frames.dtype == np.uint8
    assert isinstance(got_fps, float) and abs(got_fps - fps) < 1e-3
    assert _psnr(frames, clip) > 30  # yuv420p halves colour resolution; see io.DEFAULT_CRF
    assert probe_video(path) == (17, pytest.approx(fps, abs=1e-3), 64, 64)
    sub, filled = read_frames(path, [0, 2, 2, 16, 20])
    assert filled == 1 and np.array_equal(sub[1], sub[2]) and np.array_equal(sub[3], frames[16])
    assert np.array_equal(sub[4], frames[16]) and np.array_equal(sub[0], frames[0])
    small, _ = read_frames(path, [0], size=(16, 32))
    assert small.shape == (1, 16, 32, 3)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_the_same_frames_make_the_same_file(tmp_path):
    """x264 once gave one of several files for the same frames, depending on the heap (io._write_mp4)."""
    smooth = torch.nn.functional.interpolate(torch.rand(17, 3, 6, 10, generator=torch.Generator().manual_seed(0)),
                                             size=(96, 160), mode="bicubic", align_corners=False)
    frames = (smooth.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).contiguous().numpy()
    files, heap = set(), []
    for k in range(12):
        heap.append(np.random.default_rng(k).bytes(30000 + 777 * k))  # what the process allocated before
        files.add(export_to_video(frames, tmp_path / f"{k}.mp4", fps=8).read_bytes())
    assert len(files) == 1


def test_gif_round_trip_keeps_repeated_frames(tmp_path, clip):
    video = np.concatenate([np.repeat(clip[:1], 4, axis=0), clip[4:10], np.repeat(clip[10:11], 3, axis=0)])
    frames, fps = read_video(export_to_video(video, tmp_path / "a.gif", fps=8))
    assert frames.shape == video.shape and fps == 8.0
    assert np.abs(frames.astype(int) - video).mean() < 1.0  # palette quantisation only


def test_png_contact_sheet_round_trip(tmp_path, clip):
    path = export_to_video(clip, tmp_path / "sheet.png", fps=6)
    frames, fps = read_video(path)
    assert np.array_equal(frames, clip) and fps == 6.0
    sheet = contact_sheet(clip)
    assert sheet.shape[0] < sheet.shape[1]  # wider than tall
    from PIL import Image

    Image.fromarray(clip[3]).save(tmp_path / "plain.png")
    one, fps = read_video(tmp_path / "plain.png")
    assert one.shape == (1, 64, 64, 3) and np.array_equal(one[0], clip[3])


def test_accepts_tensors_and_lists(tmp_path, clip):
    a, _ = read_video(export_to_video(torch.from_numpy(clip), tmp_path / "t.png"))
    b, _ = read_video(export_to_video(list(clip), tmp_path / "l.png"))
    assert np.array_equal(a, clip) and np.array_equal(b, clip)


@pytest.mark.parametrize("frames,match", [
    ([], "no frames"),
    (np.zeros((0, 8, 8, 3), np.uint8), "non-empty"),
    (np.zeros((2, 8, 8, 3), np.float32), "uint8"),
    (np.zeros((2, 8, 8), np.uint8), r"\(T, H, W, 3\)"),
    (np.zeros((2, 3, 8, 8), np.uint8), r"got \(2, 3, 8, 8\)"),
    ([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 6, 3), np.uint8)], "same shape"),
    ("frames", "numpy array"),
])
def test_export_rejects_bad_frames(tmp_path, frames, match):
    with pytest.raises(ValueError, match=match):
        export_to_video(frames, tmp_path / "x.mp4")


def test_export_errors(tmp_path, clip):
    with pytest.raises(ValueError, match=r"\.avi.*valid: \.mp4, \.gif, \.png"):
        export_to_video(clip, tmp_path / "x.avi")
    with pytest.raises(ValueError, match="fps"):
        export_to_video(clip, tmp_path / "x.mp4", fps=0)
    odd = clip[:, :63, :61]
    with pytest.raises(ValueError, match="even height and width, got 63x61"):
        export_to_video(odd, tmp_path / "x.mp4")
    frames, _ = read_video(export_to_video(odd, tmp_path / "x.mp4", pad_odd=True))
    assert frames.shape == (17, 64, 62, 3)
    frames, _ = read_video(export_to_video(odd, tmp_path / "x.gif"))  # gif takes any size
    assert frames.shape == odd.shape


def test_read_errors(tmp_path, clip):
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        read_video(tmp_path / "nope.mp4")
    with pytest.raises(ValueError, match=r"\.txt.*valid"):
        read_video(tmp_path / "x.txt")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoReadError, match="empty"):
        read_video(tmp_path / "empty.mp4")
    (tmp_path / "junk.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(VideoReadError, match="junk.mp4"):
        read_video(tmp_path / "junk.mp4")
    with pytest.raises(VideoReadError):
        probe_video(tmp_path / "junk.mp4")
    good = export_to_video(clip, tmp_path / "good.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(good[: len(good) // 2])
    with pytest.raises(VideoReadError, match="cut.mp4"):
        read_video(tmp_path / "cut.mp4")
    (tmp_path / "junk.gif").write_bytes(b"GIF89a" + b"\x00" * 10)
    with pytest.raises(VideoReadError, match="junk.gif"):
        read_video(tmp_path / "junk.gif")

