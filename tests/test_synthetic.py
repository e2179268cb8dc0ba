"""MovingShapes renderer, scene sampler, dataset and `minisora synth`."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
import torch

from minisora.world import dataset as D, render as R, scenes as S, visibility as VIS
from minisora.world import vocabulary as V
from minisora.world.grammar import parse
from minisora.world.scene import parsed_from_spec
from minisora.world.spec import ObjectSpec, OccluderSpec, SceneSpec


def _obj(**kw) -> ObjectSpec:
    base = dict(color="red", shape="circle", size="large", motion="right", speed="slow", x0=0.3, y0=0.5)
    return ObjectSpec(**{**base, **kw})


def _scenes(n, split="any", seed=0, **kw):
    rng = np.random.default_rng(seed)
    return [S.sample_scene(rng, split, **kw) for _ in range(n)]


def _mask(frames: np.ndarray, background: str) -> np.ndarray:
    """Per-pixel weight of 'not background', (T, H, W) in [0, 1]."""
    diff = np.abs(frames.astype(np.float64) - np.asarray(V.BACKGROUNDS[background])).sum(-1)
    return diff / diff.max()


# -- rendering --------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", V.SHAPES)
@pytest.mark.parametrize("motion", ["right", "up-left", "bouncing", "still", "down"])
def test_trajectory_matches_rendered_centroid(shape, motion):
    obj = _obj(shape=shape, motion=motion, speed="fast", x0=0.45, y0=0.5, heading=(0.6, 0.8))
    spec = SceneSpec((obj,), "black")
    H, W, T = 64, 80, 17
    frames = R.render(spec, H, W, T)
    traj = R.trajectory(obj, T, 8.0, H, W)
    m = _mask(frames, "black")
    ys, xs = np.mgrid[:H, :W]
    r = R.object_radius_px(obj, H, W)
    checked = 0
    for t in range(T):
        x, y = traj[t]
        if not (r + 1 < x < W - 2 - r and r + 1 < y < H - 2 - r):
            continue  # partly outside the frame: the centroid is biased, by design
        w = m[t]
        assert abs((w * xs).sum() / w.sum() - x) < 0.15
        assert abs((w * ys).sum() / w.sum() - y) < 0.15
        checked += 1
    assert checked >= 5


def test_shape_areas_and_antialiasing():
    # Coverage sums to the analytic area; edges carry intermediate values (anti-aliasing).
    H = W = 128
    r = V.SIZES["large"] * H
    n = 5
    areas = {"circle": math.pi * r * r, "square": 2 * r * r,
             "triangle": 3 * math.sqrt(3) / 4 * r * r,
             # star: 10 triangles (centre, tip, inner vertex)
             "star": 10 * 0.5 * r * (R.STAR_INNER_RATIO * r) * math.sin(math.pi / n)}
    for shape, area in areas.items():
        spec = SceneSpec((_obj(shape=shape, motion="still", x0=0.5, y0=0.5),), "black")
        frame = R.render(spec, H, W, 1)[0]
        red = (frame[..., 0].astype(np.float64) - V.BACKGROUNDS["black"][0]) / (V.COLORS["red"][0] - V.BACKGROUNDS["black"][0])
        assert abs(red.sum() - area) / area < 0.01, shape
        partial = ((red > 0.05) & (red < 0.95)).sum()
        assert partial > 0.5 * 2 * math.pi * r * 0.5, shape  # a ring of partial pixels along the edge


def test_render_shapes_dtypes_and_determinism():
    spec = _scenes(1, seed=3, occluder_prob=1.0)[0]
    for (h, w, t, fps) in [(64, 64, 17, 8.0), (33, 47, 5, 3.0), (16, 96, 1, 24.0)]:
        a = R.render(spec, h, w, t, fps)
        assert a.shape == (t, h, w, 3) and a.dtype == np.uint8
        assert np.array_equal(a, R.render(spec, h, w, t, fps))
    # fps changes time, not speed: frame 2 at 16 fps == frame 1 at 8 fps
    obj = _obj(motion="right")
    a = R.render(SceneSpec((obj,), "gray"), 64, 64, 3, fps=16.0)
    b = R.render(SceneSpec((obj,), "gray"), 64, 64, 2, fps=8.0)
    assert np.array_equal(a[2], b[1])


@pytest.mark.parametrize("bad", [dict(height=0), dict(width=-3), dict(num_frames=0), dict(fps=0.0),
                                 dict(fps=float("nan")), dict(height=6.5)])
def test_render_rejects_bad_geometry(bad):
    spec = SceneSpec((_obj(),), "black")
    args = {"height": 64, "width": 64, "num_frames": 4, "fps": 8.0, **bad}
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        R.render(spec, **args)


def test_occluder_is_drawn_on_top():
    occ = OccluderSpec(x=0.5)
    obj = _obj(motion="right", speed="fast", x0=0.25, y0=0.5)
    spec = SceneSpec((obj,), "black", occ)
    frames = R.render(spec, 64, 64, 17)
    assert S.crosses_occluder(obj, occ)
    col = 32  # bar centre column: always the occluder colour, even while the object passes
    assert np.all(frames[:, :, col] == np.asarray(V.OCCLUDER_COLOR, dtype=np.uint8))
    # while the object is behind the bar, less of it is visible than before
    red = lambda f: (f[..., 0].astype(int) > 200).sum()  # noqa: E731
    traj = R.trajectory(obj, 17, 8.0, 64, 64)
    t_behind = int(np.argmin(np.abs(traj[:, 0] - 31.5)))
    assert red(frames[t_behind]) < 0.6 * red(frames[0])


def test_bouncing_reflects_and_stays_inside():
    obj = _obj(motion="bouncing", speed="fast", heading=(0.6, 0.8), x0=0.5, y0=0.5)
    H, W = 48, 64
    traj = R.trajectory(obj, 200, 8.0, H, W)
    r = R.object_radius_px(obj, H, W)
    assert traj[:, 0].min() >= r - 0.5 - 1e-9 and traj[:, 0].max() <= W - 0.5 - r + 1e-9
    assert traj[:, 1].min() >= r - 0.5 - 1e-9 and traj[:, 1].max() <= H - 0.5 - r + 1e-9
    steps = np.diff(traj, axis=0)
    speed = V.SPEEDS["fast"] * min(H, W) / 8.0
    assert np.allclose(np.hypot(*steps.T)[np.all(np.abs(steps) > 0.5, axis=1)].max(), speed, rtol=1e-6)


@pytest.mark.parametrize("hw", VIS.REFERENCE_SHAPES)
def test_sampled_bouncing_objects_bounce_at_every_aspect(hw):
    # The same spec is rendered at 1:1, 3:5 and 5:3: at each, some axis turns between 20% and 65%
    # of the reference clip (seen on the rendered trajectory, frame by frame), running back
    # >= 0.05 min(H, W) after the turn, and no axis turns earlier.
    # The turn also happens in view: the object shows >= half its area in the frames around it.
    H, W = hw
    n = 0
    for spec in _scenes(300, seed=5, occluder_prob=0.5):
        share = VIS.visible_share(spec, H, W)  # (N, T)
        for k, o in enumerate(spec.objects):
            if o.motion != "bouncing":
                continue
            n += 1
            assert VIS.bounce_is_visible(o, H, W)
            xy = R.trajectory(o, 17, 8.0, H, W)
            d = np.diff(xy, axis=0)  # (16, 2)
            firsts, shown = [], False
            for a in (0, 1):
                back = np.flatnonzero(d[:, a] * d[0, a] < 0)  # steps against the initial direction
                if len(back) == 0:
                    continue
                m = int(back[0])  # the wall is met between frames m and m + 1
                firsts.append(m)
                if (0.2 * 16 - 1 <= m <= 0.65 * 16 and abs(xy[-1, a] - xy[m, a]) >= 0.045 * min(H, W)
                        and share[k, m:m + 2].min() >= 0.5):
                    shown = True
            assert shown, (o, hw)
            assert min(firsts) >= 0.2 * 16 - 1, (o, hw)
    assert n > 50


def test_bounce_is_visible_rejects_unplanned_bounces():
    # Heading into the wall from its middle: the turn comes too late in a 64x64 frame; starting
    # at the wall: too early.
    mid = _obj(motion="bouncing", speed="slow", heading=(0.6, 0.8), x0=0.5, y0=0.5)
    assert not VIS.bounce_is_visible(mid, 64, 64)
    early = _obj(motion="bouncing", speed="fast", heading=(0.6, 0.8), x0=0.5, y0=0.8)
    assert not VIS.bounce_is_visible(early, 64, 64)
    # Planned for the short side: turns at 1:1 (both axes) but the long side of 48x80 is too far.
    corner = _obj(motion="bouncing", speed="fast", heading=(0.8, 0.6), x0=0.69, y0=0.69)
    assert VIS.bounce_is_visible(corner, 64, 64)
    assert VIS.bounce_is_visible(corner, 48, 80) and not VIS.bounce_is_visible(_obj(
        motion="bouncing", speed="fast", heading=(0.8, 0.6), x0=0.69, y0=0.3), 48, 80)
    assert not VIS.bounce_is_visible(_obj(motion="right"), 64, 64)


def test_visible_share_matches_the_rendered_pixels():
    # visible_share (area samples) agrees with the rendered pixels: what the white star adds to
    # the clip, relative to what it adds on its own.
    spec = SceneSpec((_obj(color="white", shape="star", size="small", motion="right", speed="fast", x0=0.2),
                      _obj(color="red", shape="square", size="large", motion="still", x0=0.6, y0=0.5)),
                     "black", OccluderSpec(x=0.35))
    H, W = 48, 80
    share = VIS.visible_share(spec, H, W, 17)
    frames = R.render(spec, H, W, 17).astype(np.float64)
    gone = SceneSpec(spec.objects[1:], "black", spec.occluder)
    alone = R.render(SceneSpec(spec.objects[:1], "black"), H, W, 17).astype(np.float64)
    added = np.abs(frames - R.render(gone, H, W, 17)).sum(axis=(1, 2, 3))
    own = np.abs(alone - np.asarray(V.BACKGROUNDS["black"], np.float64)).sum(axis=(1, 2, 3))
    truth = added / own
    assert np.abs(share[0] - truth).max() < 0.06
    assert share[0].min() < 0.5 < share[0].max()  # it does pass behind the bar ...
    assert share[0, -1] < 0.9 and share[0, -3:].max() > share[0, -1]  # ... and under the square
    assert np.allclose(share[1], 1.0)  # the square is drawn last and never reaches the bar


@pytest.mark.parametrize("hw", VIS.REFERENCE_SHAPES)
def test_sampled_objects_are_visible_at_every_aspect(hw):
    # No object sits behind the bar (or under a later object) for most of the clip: each shows
    # at least half its area in >= 35% of the 17 reference frames, at every reference aspect.
    H, W = hw
    scenes = _scenes(150, "any", seed=8, occluder_prob=1.0) + _scenes(150, "any", seed=9, occluder_prob=0.0)
    worst = 1.0
    for s in scenes:
        assert VIS.every_object_visible(s)
        share = VIS.visible_share(s, H, W)  # (N, T)
        worst = min(worst, float((share >= 0.5).mean(axis=1).min()))
    assert worst >= 6 / 17
    # the bar still hides something (scenes are not simply drawn without overlap)
    assert any(VIS.visible_share(s, H, W).min() < 0.5 for s in scenes[:150])


# -- sampling ---------------------------------------------------------------------------------

def test_sample_scene_is_deterministic():
    a = _scenes(20, "heldout", seed=11, occluder_prob=0.5)
    b = _scenes(20, "heldout", seed=11, occluder_prob=0.5)
    assert [s.to_dict() for s in a] == [s.to_dict() for s in b]
    assert a != _scenes(20, "heldout", seed=12, occluder_prob=0.5)


def test_heldout_split_property():
    train = _scenes(400, "train", seed=1, occluder_prob=0.3)
    held = _scenes(400, "heldout", seed=2, occluder_prob=0.3)
    assert not any(s.is_heldout for s in train)
    assert all(s.is_heldout for s in held)
    # the held-out split still varies everything else (not just one frozen combination)
    combos = {(o.color, o.shape, o.motion) for s in held for o in s.objects
              if V.is_heldout_object(o.color, o.shape, o.motion)}
    assert len(combos) > 30


def test_scene_statistics_and_placement():
    scenes = _scenes(600, "any", seed=4, occluder_prob=0.3)
    counts = np.bincount([len(s.objects) for s in scenes], minlength=4)
    assert counts[0] == 0 and min(counts[1:]) > 100
    assert {o.motion for s in scenes for o in s.objects} == set(V.MOTIONS)
    assert {s.background for s in scenes} == set(V.BACKGROUNDS)
    n_occ = sum(s.occluder is not None for s in scenes)
    assert 0.2 < n_occ / len(scenes) < 0.4
    for s in scenes:
        assert len({o.color for o in s.objects}) == len(s.objects)
        for i, a in enumerate(s.objects):
            # whole object inside the frame for the reference clip
            traj = R.trajectory(a, 17, 8.0, 64, 64)
            r = R.object_radius_px(a, 64, 64)
            assert traj.min() - r >= -0.5 - 1e-6 and traj.max() + r <= 63.5 + 1e-6
            if a.motion == "still":
                assert a.speed == "slow" and a.heading == (0.0, 0.0)
            for b in s.objects[i + 1:]:  # no heavy overlap at t = 0
                d = math.hypot(a.x0 - b.x0, a.y0 - b.y0)
                assert d >= S.MIN_START_SEPARATION * (V.SIZES[a.size] + V.SIZES[b.size]) - 1e-9
        if s.occluder is not None:
            assert any(S.crosses_occluder(o, s.occluder) for o in s.objects)


def test_directional_objects_start_near_the_edge_they_leave():
    for s in _scenes(300, "any", seed=9):
        for o in s.objects:
            if o.motion == "right":
                assert o.x0 < 0.5
            if o.motion == "up":
                assert o.y0 > 0.5


def test_sample_scene_rejects_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="split"):
        S.sample_scene(rng, "test")
    with pytest.raises(ValueError, match="max_objects"):
        S.sample_scene(rng, max_objects=4)
    with pytest.raises(ValueError, match="occluder_prob"):
        S.sample_scene(rng, occluder_prob=1.5)


def test_spec_from_parsed_fills_unstated_attributes():
    parsed = parse("a red circle moving right and a blue star bouncing on a navy background")
    spec = S.spec_from_parsed(parsed, np.random.default_rng(0))
    assert spec == S.spec_from_parsed(parsed, np.random.default_rng(0))
    assert spec.background == "navy" and spec.occluder is None
    assert [(o.color, o.shape, o.motion) for o in spec.objects] == [("red", "circle", "right"),
                                                                   ("blue", "star", "bouncing")]
    assert parsed.attributes() <= parsed_from_spec(spec).attributes()
    three = S.spec_from_parsed(parse("three shapes behind a bar"), np.random.default_rng(1))
    assert len(three.objects) == 3 and three.occluder is not None
    with pytest.raises(ValueError, match="1 to 3"):
        S.spec_from_parsed(parse("four red circles"), np.random.default_rng(0))
    with pytest.raises(ValueError, match="distinct colors"):
        S.spec_from_parsed(parse("a red circle and a red star"), np.random.default_rng(0))


# -- dataset, speed, CLI ----------------------------------------------------------------------

def test_dataset_items():
    ds = D.MovingShapesDataset(8, height=32, width=48, num_frames=9, fps=8.0, split="heldout", seed=3)
    item = ds[5]
    assert item["video"].shape == (3, 9, 32, 48) and item["video"].dtype == torch.float32
    assert item["video"].min() >= -1 and item["video"].max() <= 1
    spec = SceneSpec.from_dict(item["spec"])
    assert spec.is_heldout
    frames = R.render(spec, 32, 48, 9)
    assert np.array_equal(ds.frames(5), frames)
    assert torch.equal(item["video"], torch.from_numpy(frames).permute(3, 0, 1, 2).float() / 127.5 - 1)
    assert parse(item["caption"]).attributes() == parsed_from_spec(spec).attributes()
    again = D.MovingShapesDataset(8, height=32, width=48, num_frames=9, split="heldout", seed=3)[5]
    assert again["caption"] == item["caption"] and again["prompt"] == item["prompt"]
    assert ds[4]["spec"] != item["spec"]
    assert D.MovingShapesDataset(8, split="train", seed=3)[5]["spec"] != item["spec"]
    with pytest.raises(IndexError):
        ds[8]


def test_late_windows_are_the_later_frames_of_the_same_scene():
    base = D.MovingShapesDataset(60, height=32, width=32, num_frames=9, seed=2)
    late = D.MovingShapesDataset(60, height=32, width=32, num_frames=9, seed=2, late_share=0.5, late_start_max=24)
    starts = [late.window_start(i) for i in range(60)]
    assert 15 <= sum(s > 0 for s in starts) <= 45 and max(starts) <= 24 and len(set(starts)) > 8
    assert all(base.window_start(i) == 0 for i in range(60))
    images = D.MovingShapesDataset(20, height=32, width=32, num_frames=1, seed=2, late_share=1.0)
    assert all(images.window_start(i) == 0 for i in range(20))  # an image is never a continuation
    for i in range(8):
        a, b = base[i], late[i]
        assert a["spec"] == b["spec"] and a["caption"] == b["caption"]  # the scene and its words unchanged
        assert a["window_start"] == 0 and b["window_start"] == starts[i]
        take = R.render(SceneSpec.from_dict(a["spec"]), 32, 32, 9 + 24)
        s = starts[i]
        assert np.array_equal(late.frames(i), take[s:s + 9]) and np.array_equal(base.frames(i), take[:9])
        assert torch.equal(b["video"], torch.from_numpy(take[s:s + 9]).permute(3, 0, 1, 2).float() / 127.5 - 1)
    for kw, message in (({"late_share": 1.5}, "late_share must be a share in"),
                        ({"late_start_max": 0}, "late_start_max must be an integer >= 1"),
                        ({"late_start_max": 2.5}, "late_start_max must be an integer >= 1")):
        with pytest.raises(ValueError, match=message):
            D.MovingShapesDataset(4, **kw)


def test_render_speed():
    specs = _scenes(30, "any", seed=7, occluder_prob=0.3)
    best = float("inf")
    for _ in range(3):  # best of 3 rounds: the CPU is shared
        t0 = time.perf_counter()
        for s in specs:
            R.render(s, 64, 64, 17)
        best = min(best, (time.perf_counter() - t0) / len(specs))
    print(f"render 64x64x17: {best * 1e3:.2f} ms/clip")
    assert best < 0.020


def test_synth_cli(tmp_path, capsys):
    from minisora.cli import main
    from minisora.io import read_video

    out = tmp_path / "shapes"
    assert main(["synth", "--out", str(out), "--n", "3", "--size", "48x32", "--frames", "9",
                 "--split", "heldout", "--seed", "2"]) == 0
    lines = (out / "captions.jsonl").read_text().splitlines()
    assert len(lines) == 3
    rec = json.loads(lines[1])
    frames, fps = read_video(out / rec["path"])
    assert frames.shape == (9, 32, 48, 3) and fps == 8.0
    ds = D.MovingShapesDataset(3, 32, 48, 9, split="heldout", seed=2)
    assert rec["caption"] == ds[1]["caption"] and rec["spec"] == ds[1]["spec"]
    expect = R.render(SceneSpec.from_dict(rec["spec"]), 32, 48, 9).astype(float)
    assert np.abs(frames - expect).mean() < 6
    assert main(["synth", "--out", str(out), "--n", "3"]) == 2  # refuses to overwrite
    assert main(["synth", "--out", str(tmp_path / "x"), "--n", "1", "--size", "64by64"]) == 2
    err = capsys.readouterr().out
    assert "--overwrite" in err and "WIDTHxHEIGHT" in err


def test_count_probs_weigh_scene_sizes_and_leave_the_default_stream_alone():
    from collections import Counter

    from minisora.world.dataset import MovingShapesDataset

    uniform = MovingShapesDataset(40, seed=5)
    assert [uniform.scene(i)[0] for i in range(5)] == [MovingShapesDataset(40, seed=5, count_probs=None).scene(i)[0]
                                                       for i in range(5)]
    crowded = MovingShapesDataset(60, seed=5, count_probs=(0.0, 0.0, 1.0))
    assert Counter(len(crowded.scene(i)[0].objects) for i in range(60)) == {3: 60}
    with pytest.raises(ValueError, match="count_probs must hold 3 non-negative probabilities"):
        MovingShapesDataset(4, count_probs=(0.5, 0.5))
