"""Clips longer than the training window: generated window by window (minisora.long_clips)."""

from __future__ import annotations

import numpy as np
import pytest

from minisora.long_clips import new_frames_per_extension
from tests.test_pipeline import STEPS, debug_pipeline


@pytest.fixture(scope="module")
def pipe():
    p = debug_pipeline()
    p.index.defaults.window_frames = 9  # 3 latent frames: windows of 9 frames, 2 of them context
    return p


def gen(pipe, **kw):
    return pipe("a red circle moving right", height=32, width=32, num_inference_steps=STEPS, progress=False,
                seed=kw.pop("seed", 5), **kw)


def test_long_clip_is_first_window_plus_extensions(pipe):
    out = gen(pipe, num_frames=17)
    one = gen(pipe, num_frames=9)
    assert out.frames.shape == (17, 32, 32, 3)
    assert out.settings["windows"] == 3 and out.settings["overlap_frames"] == 5
    assert np.array_equal(out.frames[:9], one.frames)  # window 0 is the plain 9-frame clip of the same seed
    # window 1 is the forward extension of window 0 (its own seed: seed + 1)
    ext = gen(pipe, num_frames=9, video=one.frames, extend="forward", seed=6)
    assert np.array_equal(out.frames[9:13], ext.frames)


def test_long_clip_is_deterministic_and_seed_dependent(pipe):
    a, b, c = gen(pipe, num_frames=13), gen(pipe, num_frames=13), gen(pipe, num_frames=13, seed=6)
    assert np.array_equal(a.frames, b.frames) and not np.array_equal(a.frames, c.frames)


def test_trimmed_to_the_asked_length_and_window_off(pipe):
    assert gen(pipe, num_frames=21).frames.shape[0] == 21  # 9 + 4 + 4 + 4 = 21 exactly
    assert gen(pipe, num_frames=25).frames.shape[0] == 25  # 9 + 4 * 4
    pipe.index.defaults.window_frames = 0  # no limit: one window, as before
    try:
        out = gen(pipe, num_frames=17)
        assert "windows" not in out.settings and out.frames.shape[0] == 17
    finally:
        pipe.index.defaults.window_frames = 9


def test_new_frames_per_extension():
    assert new_frames_per_extension(17, 2, 4) == 12
    assert new_frames_per_extension(9, 2, 4) == 4


class _SeedDependentRewriter:
    """Fills the unstated background by seed, as the real rewriter does; counts its calls."""

    def __init__(self):
        self.calls = []

    def rewrite(self, prompt, seed=0):
        from minisora.text.rewriting import RewriteResult

        self.calls.append(seed)
        bg = ["black", "gray", "navy"][seed % 3]
        return RewriteResult(caption=f"{prompt} on a {bg} background", kept=[], filled=[f"background={bg}"],
                             unmapped=[], path="test", prompt=prompt)


def test_the_prompt_is_rewritten_once_and_every_window_keeps_its_caption():
    # Regression: each window used to rewrite the prompt with its own seed, so an unstated background
    # (black, gray, navy) changed at every joint of a 49-frame clip.
    p = debug_pipeline()
    p.index.defaults.window_frames = 9
    rw = _SeedDependentRewriter()
    p._rewriter = rw
    out = gen(p, num_frames=17)
    assert rw.calls == [5] and out.caption.endswith("on a navy background")
    seen = []
    real = type(p).__call__

    def spy(self, prompt, **kw):
        seen.append((prompt, kw.get("rewrite", True)))
        return real(self, prompt, **kw)

    type(p).__call__, rw.calls = spy, []
    try:
        gen(p, num_frames=17)
    finally:
        type(p).__call__ = real
    assert rw.calls == [5]
    # the caller's call, window 0 (the prompt, rewritten), windows 1 and 2 (the caption as it is)
    assert seen[2:] == [(out.caption, False), (out.caption, False)] and seen[1][1] is True


def test_window_spans_cover_the_clip_with_the_overlap():
    from minisora.long_clips import window_spans

    assert window_spans({"num_frames": 17}) == [(0, 17)]
    spans = window_spans({"num_frames": 49, "windows": 4, "window_frames": 17, "overlap_frames": 5})
    assert spans == [(0, 17), (12, 29), (24, 41), (36, 49)]
