"""Rectified flow: convention, schedules, samplers (vs diffusers), guidance, given frames, SDEdit, loss."""

from __future__ import annotations

import math

import pytest
import torch

from minisora.dit.config import DiTConfig
from minisora.dit.model import DiT
from minisora.flow.conditioning import MODES, frame_mask, random_frame_masks
from minisora.flow.objective import interpolate, predict_data, velocity_target
from minisora.flow.samplers import make_noise, sample
from minisora.flow.schedules import sample_logit_normal, sampling_times, shift_time, token_shift
from minisora.flow.training import FlowTrainConfig, flow_matching_loss


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tests run many tiny ops: one thread is faster than two and immune to a busy machine."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)



def test_convention_endpoints_and_velocity():
    x_data, x_noise = torch.randn(2, 3, 1, 2, 2), torch.randn(2, 3, 1, 2, 2)
    assert torch.equal(interpolate(x_data, x_noise, torch.zeros(2)), x_data)
    assert torch.allclose(interpolate(x_data, x_noise, torch.ones(2)), x_noise)
    t = torch.tensor([0.3, 0.7])
    x_t = interpolate(x_data, x_noise, t)
    v = velocity_target(x_data, x_noise)
    # the velocity is the time derivative of the path, and it recovers the data
    h = 1e-3
    assert torch.allclose((interpolate(x_data, x_noise, t + h) - x_t) / h, v, atol=1e-2)
    assert torch.allclose(predict_data(x_t, t, v), x_data, atol=1e-6)


def test_schedules():
    t = torch.linspace(0, 1, 11)
    assert torch.allclose(shift_time(t, 1.0), t)
    s = shift_time(t, 3.0)
    assert s[0] == 0 and s[-1] == 1 and (s[1:-1] > t[1:-1]).all()  # shift > 1 moves towards noise
    assert token_shift(80) == 1.0 and token_shift(320) == pytest.approx(2.0)
    grid = sampling_times(4, 1.0)
    assert torch.allclose(grid, torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0]))
    u = sample_logit_normal(20000, 0.0, 1.0, torch.Generator().manual_seed(0))
    assert 0 < u.min() and u.max() < 1 and abs(float(u.mean()) - 0.5) < 0.01
    assert abs(float(torch.logit(u).std()) - 1.0) < 0.03


def test_euler_trajectory_matches_diffusers():
    from diffusers import FlowMatchEulerDiscreteScheduler

    target = torch.randn(1, 4, 2, 3, 3, generator=torch.Generator().manual_seed(1))

    def velocity(x, t):  # a nonlinear field, so any mismatch of times or steps shows
        tb = t.reshape(-1, 1, 1, 1, 1)
        return torch.tanh(x) - target * (1 + tb) + 0.3 * torch.sin(3 * tb) * x

    ours = []
    noise = make_noise((1, 4, 2, 3, 3), seed=0)

    def model_fn(x, t):
        ours.append(x.clone())
        return velocity(x, t)

    steps, shift = 12, 3.0
    out = sample(model_fn, noise, steps=steps, shift=shift, cond={}, progress=False)
    ours.append(out)

    sched = FlowMatchEulerDiscreteScheduler(shift=shift)
    sched.set_timesteps(sigmas=torch.linspace(1, 0, steps + 1)[:-1].numpy())
    assert torch.allclose(sched.sigmas, sampling_times(steps, shift), atol=1e-6)
    x, theirs = noise.clone(), [noise.clone()]
    for i, ts in enumerate(sched.timesteps):
        x = sched.step(velocity(x, sched.sigmas[i].reshape(1)), ts, x).prev_sample
        theirs.append(x.clone())
    assert len(ours) == len(theirs) == steps + 1
    for a, b in zip(ours, theirs):
        assert (a - b).abs().max() < 1e-5


def test_euler_exact_on_straight_paths_and_heun_more_accurate_on_curved():
    x_data = torch.randn(1, 2, 1, 2, 2)
    straight = lambda x, t: (x - x_data) / t.reshape(-1, 1, 1, 1, 1)  # exact velocity towards one point
    out = sample(straight, torch.randn(1, 2, 1, 2, 2), steps=3, cond={}, progress=False)
    assert torch.allclose(out, x_data, atol=1e-5)
    # dx/dt = x  =>  x(0) = x(1) / e
    noise = torch.randn(1, 2, 1, 2, 2)
    exact = noise / math.e
    err = {m: (sample(lambda x, t: x, noise, steps=8, method=m, cond={}, progress=False) - exact).abs().max()
           for m in ("euler", "heun")}
    assert err["heun"] < err["euler"] / 5


def _randomised_debug(**kw) -> DiT:
    model = DiT(DiTConfig.preset("debug", **kw)).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return model


def _text(model, B, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(text_tokens=torch.randn(B, 5, 384, generator=g), text_mask=torch.ones(B, 5, dtype=torch.bool),
                text_pooled=torch.randn(B, 384, generator=g))


def test_guidance_batched_equals_separate_and_scale_one_is_conditional():
    model = _randomised_debug()
    noise = make_noise((2, 16, 2, 4, 4), seed=3)
    cond = _text(model, 2)
    tok, mask, pooled = model.null_text(2, 5)
    uncond = dict(text_tokens=tok, text_mask=mask, text_pooled=pooled)
    guided = sample(model, noise, steps=3, guidance_scale=4.0, cond=cond, uncond=uncond, progress=False)
    # separate calls (uncond of another length cannot be batched) give the same result
    tok7, mask7, pooled7 = model.null_text(2, 7)
    sep = sample(model, noise, steps=3, guidance_scale=4.0, cond=cond,
                 uncond=dict(text_tokens=tok7, text_mask=mask7, text_pooled=pooled7), progress=False)
    assert torch.allclose(guided, sep, atol=1e-4)
    plain = sample(model, noise, steps=3, cond=cond, progress=False)
    assert torch.allclose(sample(model, noise, steps=3, guidance_scale=1.0, cond=cond, uncond=uncond,
                                 progress=False), plain)
    assert not torch.allclose(guided, plain, atol=1e-3)


@pytest.mark.parametrize("mode,k", [("first", 1), ("first_k", 2), ("last_k", 1), ("first_last", 1)])
def test_given_frames_are_unchanged_by_sampling(mode, k):
    model = _randomised_debug()
    T = 4
    clean = torch.randn(1, 16, T, 4, 4)
    m = frame_mask(mode, T, k)
    for method in ("euler", "heun"):
        out = sample(model, make_noise(clean.shape, 0), steps=3, method=method, cond=_text(model, 1),
                     frame_cond=clean, frame_mask=m, progress=False)
        given = m[0, 0, :, 0, 0]
        assert torch.equal(out[:, :, given], clean[:, :, given])
        assert not torch.allclose(out[:, :, ~given], clean[:, :, ~given])


def test_frame_masks():
    assert frame_mask("first", 5)[0, 0, :, 0, 0].tolist() == [True, False, False, False, False]
    assert frame_mask("first_k", 5, 2)[0, 0, :, 0, 0].tolist() == [True, True, False, False, False]
    assert frame_mask("last_k", 5, 2)[0, 0, :, 0, 0].tolist() == [False, False, False, True, True]
    assert frame_mask("first_last", 5)[0, 0, :, 0, 0].tolist() == [True, False, False, False, True]
    with pytest.raises(ValueError, match="leaves no frame"):
        frame_mask("first_k", 3, 3)
    with pytest.raises(ValueError, match="unknown frame-conditioning mode"):
        frame_mask("middle", 3)
    g = torch.Generator().manual_seed(0)
    for T in (1, 2, 3, 5):
        ms = random_frame_masks(400, T, 0.5, MODES, g)
        assert not ms.all(dim=2).any()  # never everything given
        share = float(ms.any(dim=2).float().mean())
        assert (share == 0.0) if T == 1 else (0.4 < share < 0.6)
    ms = random_frame_masks(400, 5, 1.0, ("first_last",), g)[:, 0, :, 0, 0]
    assert ms[:, 0].all() and ms[:, -1].all()
    # late windows of a scene are always continuations (first_k), whatever the probability and modes
    late = torch.arange(400) % 2 == 0
    ms = random_frame_masks(400, 5, 0.0, ("last_k",), g, continuation=late)[:, 0, :, 0, 0]
    assert ms[late, 0].all() and not ms[late, -1].any() and not ms[~late].any()
    assert len({int(k) for k in ms[late].sum(dim=1)}) == 4  # k = 1..4 latent frames given


def test_sdedit_strength():
    model = _randomised_debug()
    x_init = torch.randn(1, 16, 2, 4, 4)
    noise = make_noise(x_init.shape, 1)
    cond = _text(model, 1)
    full = sample(model, noise, steps=10, cond=cond, progress=False)
    assert torch.equal(sample(model, noise, steps=10, cond=cond, x_init=x_init, strength=1.0, progress=False), full)
    calls = []
    light = sample(lambda x, t, **c: (calls.append(float(t[0])), model(x, t, **c))[1], noise, steps=10, cond=cond,
                   x_init=x_init, strength=0.3, progress=False)
    assert len(calls) == 3 and calls[0] == pytest.approx(0.3)
    assert (light - x_init).abs().mean() < (full - x_init).abs().mean()
    with pytest.raises(ValueError, match="needs x_init"):
        sample(model, noise, steps=10, cond=cond, strength=0.5, progress=False)


def test_loss_is_deterministic_and_ignores_given_frames():
    model = _randomised_debug()
    lat = torch.randn(4, 16, 3, 4, 4)
    c = _text(model, 4)
    cfg = FlowTrainConfig(frame_cond_prob=1.0, frame_cond_modes=("first",))
    args = (lat, c["text_tokens"], c["text_mask"], c["text_pooled"], cfg)
    l1, s1 = flow_matching_loss(model, *args, torch.Generator().manual_seed(5))
    l2, _ = flow_matching_loss(model, *args, torch.Generator().manual_seed(5))
    assert torch.equal(l1, l2) and s1["frame_cond"] == 1.0

    class Wrapped(torch.nn.Module):  # same model, garbage on the given first frame, seen through DDP-like .module
        def __init__(self, m):
            super().__init__()
            self.module = m

        def forward(self, x, *a, **kw):
            v = self.module(x, *a, **kw).clone()
            v[:, :, 0] = 1e3
            return v

    l3, _ = flow_matching_loss(Wrapped(model), *args, torch.Generator().manual_seed(5))
    assert torch.allclose(l1, l3)


def test_text_dropout_uses_null_text():
    model = _randomised_debug()
    lat = torch.randn(2, 16, 1, 4, 4)
    c = _text(model, 2)
    drop_all = FlowTrainConfig(text_drop_prob=1.0, frame_cond_prob=0.0)
    l_drop, st = flow_matching_loss(model, lat, c["text_tokens"], c["text_mask"], c["text_pooled"], drop_all,
                                    torch.Generator().manual_seed(0))
    assert st["text_dropped"] == 1.0
    tok, mask, pooled = model.null_text(2, 5)
    l_null, _ = flow_matching_loss(model, lat, tok, mask, pooled, drop_all, torch.Generator().manual_seed(0))
    assert torch.allclose(l_drop, l_null)
    l_drop.backward()
    assert model.null_token.grad.abs().sum() > 0  # the null text is learned
    with pytest.raises(ValueError, match="text_drop_prob"):
        FlowTrainConfig(text_drop_prob=1.5)


def test_one_checkpoint_samples_every_size(tmp_path):
    """64x64, 48x80, 80x48 at 17 frames and 64x64 at 1 and 9 frames (latents of the default VAE)."""
    _randomised_debug().save_pretrained(tmp_path / "dit")
    model = DiT.from_pretrained(tmp_path / "dit")
    for thw in [(5, 8, 8), (5, 6, 10), (5, 10, 6), (1, 8, 8), (3, 8, 8)]:
        cond = _text(model, 1)
        tok, mask, pooled = model.null_text(1, 5)
        fm = frame_mask("first", thw[0]) if thw[0] > 1 else None
        clean = torch.randn(1, 16, *thw)
        out = sample(model, make_noise((1, 16, *thw), 0), steps=2, guidance_scale=3.0, cond=cond,
                     uncond=dict(text_tokens=tok, text_mask=mask, text_pooled=pooled),
                     frame_cond=clean if fm is not None else None, frame_mask=fm, progress=False)
        assert out.shape == (1, 16, *thw) and torch.isfinite(out).all()


def test_autocast_training_step_runs_and_matches_fp32():
    model = _randomised_debug()
    lat = torch.randn(2, 16, 3, 4, 4)
    c = _text(model, 2)
    cfg = FlowTrainConfig()
    ref, _ = flow_matching_loss(model, lat, *c.values(), cfg, torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = flow_matching_loss(model, lat, *c.values(), cfg, torch.Generator().manual_seed(0))
    loss.backward()
    assert loss.dtype == torch.float32 and abs(loss.item() - ref.item()) < 0.05 * ref.item()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
