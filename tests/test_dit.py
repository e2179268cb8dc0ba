"""DiT: patches, rotary positions, masks, identity at init, any size, save/load, and a real overfit."""

from __future__ import annotations

import pytest
import torch

from minisora.dit.blocks import DiTBlock
from minisora.dit.config import DiTConfig
from minisora.dit.flops import count_params, describe, forward_flops
from minisora.dit.model import DiT
from minisora.dit.patchify import patchify, unpatchify
from minisora.dit.rope import apply_rope, rope_angles, rope_cos_sin, rope_tables


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tests run many tiny ops: one thread is faster than two and immune to a busy machine."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)



def randomised(model: DiT, seed: int = 0) -> DiT:
    """Give every parameter (including the zero-initialised ones) random values, so outputs are non-trivial."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return model


def text(B: int, L: int = 6, dim: int = 384, valid: int | None = None, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(B, L, dtype=torch.bool)
    if valid is not None:
        mask[:, valid:] = False
    return torch.randn(B, L, dim, generator=g), mask, torch.randn(B, dim, generator=g)


@pytest.mark.parametrize("patch", [(1, 1, 1), (1, 2, 2), (2, 2, 1), (3, 2, 5)])
def test_patchify_is_exact_inverse(patch):
    T, H, W = 2 * patch[0] * 3, patch[1] * 2, patch[2] * 3
    x = torch.randn(2, 5, T, H, W)
    tokens = patchify(x, patch)
    assert tokens.shape == (2, (T // patch[0]) * (H // patch[1]) * (W // patch[2]), 5 * patch[0] * patch[1] * patch[2])
    assert torch.equal(unpatchify(tokens, patch, (T, H, W)), x)
    # a token holds exactly one spacetime box, t-major order
    assert torch.equal(tokens[0, 0].reshape(*patch, 5).permute(3, 0, 1, 2), x[0, :, :patch[0], :patch[1], :patch[2]])


def test_patchify_error_names_nearest_valid_sizes():
    with pytest.raises(ValueError, match=r"H=7 .*nearest valid: 6 or 8"):
        patchify(torch.zeros(1, 4, 5, 7, 8), (1, 2, 2))
    with pytest.raises(ValueError, match=r"W=1 .*nearest valid: 2\)"):
        patchify(torch.zeros(1, 4, 5, 8, 1), (1, 2, 2))


def test_rope_depends_only_on_relative_position():
    dims = (8, 12, 12)  # head_dim 32
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(32, generator=g), torch.randn(32, generator=g)

    def score(pq, pk):
        c, s = rope_tables(rope_angles(torch.tensor([pq, pk], dtype=torch.float32), dims))
        rq = apply_rope(q.view(1, 1, 1, 32), c[:1], s[:1]).flatten()
        rk = apply_rope(k.view(1, 1, 1, 32), c[1:], s[1:]).flatten()
        return float(rq @ rk)

    base = score((1, 2, 3), (4, 0, 5))
    assert score((11, 7, 3), (14, 5, 5)) == pytest.approx(base, abs=1e-4)
    assert score((1, 2, 3), (4, 0, 6)) != pytest.approx(base, abs=1e-3)  # positions do matter
    # rotation keeps norms
    c, s = rope_cos_sin((2, 3, 4), dims, 10000.0)
    x = torch.randn(1, 2, 24, 32)
    assert torch.allclose(apply_rope(x, c, s).norm(dim=-1), x.norm(dim=-1), atol=1e-5)


def test_explicit_attention_equals_sdpa(monkeypatch):
    import torch.nn.functional as F

    from minisora.dit import attention as A

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, n, 16, generator=g) for n in (10, 7, 7))
    bias = torch.zeros(2, 1, 1, 7)
    bias[0, ..., 5:] = float("-inf")
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    assert torch.allclose(A.attention(q, k, v, bias), ref, atol=1e-5)
    monkeypatch.setattr(A, "CPU_EXPLICIT_MAX_TOKENS", 0)  # SDPA path
    assert torch.allclose(A.attention(q, k, v, bias), ref, atol=1e-6)


def test_untrained_block_is_identity_and_untrained_model_outputs_zero():
    block = DiTBlock(64, 4, 256)
    x = torch.randn(2, 10, 64)
    c = torch.randn(2, 64)
    ctx = torch.randn(2, 6, 64)
    c_s = rope_cos_sin((1, 2, 5), (4, 6, 6), 10000.0)  # head_dim 16
    assert torch.equal(block(x, c, ctx, torch.zeros(2, 1, 1, 6), *c_s), x)
    model = DiT(DiTConfig.preset("debug"))
    tok, mask, pooled = text(2)
    assert model(torch.randn(2, 16, 1, 4, 4), torch.rand(2), tok, mask, pooled).abs().max() == 0


def test_padding_text_tokens_change_nothing():
    model = randomised(DiT(DiTConfig.preset("debug"))).eval()
    x, t = torch.randn(2, 16, 3, 4, 4), torch.rand(2)
    tok, mask, pooled = text(2, L=8, valid=5)
    out = model(x, t, tok, mask, pooled)
    tok2 = tok.clone()
    tok2[:, 5:] = torch.randn(2, 3, 384) * 100
    assert torch.equal(model(x, t, tok2, mask, pooled), out)
    tok3 = tok.clone()
    tok3[:, 4] += 1.0  # a real token does change the output
    assert not torch.allclose(model(x, t, tok3, mask, pooled), out)
    with pytest.raises(ValueError, match="at least one unmasked"):
        model(x, t, tok, torch.zeros_like(mask), pooled)


def test_null_text_is_learned_and_masked():
    model = DiT(DiTConfig.preset("debug"))
    tok, mask, pooled = model.null_text(3, length=7)
    assert tok.shape == (3, 7, 384) and mask.shape == (3, 7) and pooled.shape == (3, 384)
    assert mask[:, 0].all() and not mask[:, 1:].any()
    (tok.sum() + pooled.sum()).backward()
    assert model.null_token.grad is not None and model.null_pooled.grad is not None


@pytest.mark.parametrize("thw", [(5, 8, 8), (5, 6, 10), (5, 10, 6), (1, 8, 8), (3, 8, 8)])
def test_one_model_handles_many_sizes(thw):
    """64x64, 48x80, 80x48 at 17 frames and 64x64 at 1 and 9 frames, as latents of the default VAE."""
    model = randomised(DiT(DiTConfig.preset("debug")))
    tok, mask, pooled = text(1)
    x = torch.randn(1, 16, *thw)
    fm = torch.zeros(1, 1, thw[0], 1, 1, dtype=torch.bool)
    fm[:, :, 0] = True
    v = model(x, torch.rand(1), tok, mask, pooled, frame_cond=x, frame_mask=fm)
    assert v.shape == x.shape and torch.isfinite(v).all()


def test_bad_inputs_fail_loudly():
    model = DiT(DiTConfig.preset("debug"))
    tok, mask, pooled = text(1)
    with pytest.raises(ValueError, match="nearest valid"):
        model(torch.zeros(1, 16, 5, 7, 8), torch.rand(1), tok, mask, pooled)
    with pytest.raises(ValueError, match=r"x must be \(B, 16"):
        model(torch.zeros(1, 3, 5, 8, 8), torch.rand(1), tok, mask, pooled)
    with pytest.raises(ValueError, match="unknown DiT preset 'huge'"):
        DiTConfig.preset("huge")


def test_bf16_weights_forward_matches_fp32():
    model = randomised(DiT(DiTConfig.preset("debug")))
    tok, mask, pooled = text(2)
    x, t = torch.randn(2, 16, 3, 4, 4), torch.rand(2)
    ref = model(x, t, tok, mask, pooled)
    out = model.to(torch.bfloat16)(x, t, tok, mask, pooled)
    assert out.dtype == torch.float32
    assert (out - ref).abs().max() < 0.05 * ref.abs().max()


def test_save_load_round_trip(tmp_path):
    model = randomised(DiT(DiTConfig.preset("debug", extra_cond_channels=3)))
    model.save_pretrained(tmp_path / "dit", dtype=torch.float32)
    loaded = DiT.from_pretrained(tmp_path / "dit")
    assert loaded.config == model.config
    tok, mask, pooled = text(1)
    x, t, e = torch.randn(1, 16, 1, 4, 4), torch.rand(1), torch.randn(1, 3, 1, 4, 4)
    assert torch.equal(loaded(x, t, tok, mask, pooled, extra_cond=e), model(x, t, tok, mask, pooled, extra_cond=e))


def test_flops_and_params():
    cfg = DiTConfig.preset("tiny", depth=2)
    assert count_params(cfg) == sum(p.numel() for p in DiT(cfg).parameters())
    f = forward_flops(cfg, 5, 8, 8, 48)
    assert f["tokens"] == 80 and f["total"] == f["linear"] + f["attention"]
    # the analytic count agrees with torch's own FLOP counter on a real forward (on CPU, short sequences
    # take the explicit attention path, whose matmuls the counter sees)
    from torch.utils.flop_counter import FlopCounterMode
    model = DiT(cfg)
    tok, mask, pooled = text(2, L=48)
    with FlopCounterMode(display=False) as counter:
        model(torch.randn(2, 16, 5, 8, 8), torch.rand(2), tok, mask, pooled)
    assert counter.get_total_flops() == pytest.approx(forward_flops(cfg, 5, 8, 8, 48, batch=2)["total"], rel=0.01)
    assert f["attention"] == cfg.depth * (4 * 80 * 80 * 384 + 4 * 80 * 48 * 384)
    text_ = describe(DiTConfig.preset("tiny"), 5, 8, 8, 48)
    assert "80 tokens" in text_ and "M parameters" in text_


def test_debug_model_overfits_fixed_clips():
    """A real training loop: the flow loss on 2 fixed clips falls at least 10x.

    4 latent channels keep the 64-wide debug model from being a bottleneck (a (1,2,2) patch of 16
    channels is 64 values, as many as the width); a narrower timestep density (logit std 0.5) keeps
    the test short by skipping the slow-to-learn ends of the path.
    """
    from minisora.flow.training import FlowTrainConfig, flow_matching_loss

    torch.manual_seed(0)
    model = DiT(DiTConfig.preset("debug", latent_channels=4))
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(2, 4, 2, 4, 4, generator=g)
    tok, mask, pooled = text(2, L=4)
    cfg = FlowTrainConfig(text_drop_prob=0.0, frame_cond_prob=0.0, logit_std=0.5)

    def batch(r):
        return latents.repeat(r, 1, 1, 1, 1), tok.repeat(r, 1, 1), mask.repeat(r, 1), pooled.repeat(r, 1)

    def eval_loss():
        with torch.no_grad():
            return sum(flow_matching_loss(model, *batch(8), cfg, torch.Generator().manual_seed(100 + i))[0].item()
                       for i in range(4)) / 4

    before = eval_loss()
    steps = 400
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    for _ in range(steps):
        loss, _ = flow_matching_loss(model, *batch(4), cfg, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    after = eval_loss()
    assert after < before / 10, (before, after)


def test_packed_sequence_equals_separate_forwards():
    """NaViT-style packing: clips of different sizes in one sequence give the same velocities as alone."""
    model = randomised(DiT(DiTConfig.preset("debug")))
    xs = [torch.randn(1, 16, 5, 8, 8), torch.randn(1, 16, 3, 6, 10), torch.randn(1, 16, 1, 4, 4)]
    t = torch.tensor([0.2, 0.5, 0.9])
    tok, mask, pooled = text(3, L=6)
    mask[1, 3:] = False
    fm = torch.zeros(1, 1, 5, 1, 1, dtype=torch.bool)
    fm[:, :, 0] = True
    packed = model.forward_packed(xs, t, tok, mask, pooled, frame_conds=[xs[0], None, None],
                                  frame_masks=[fm, None, None])
    for i, x in enumerate(xs):
        alone = model(x, t[i:i + 1], tok[i:i + 1], mask[i:i + 1], pooled[i:i + 1],
                      frame_cond=x if i == 0 else None, frame_mask=fm if i == 0 else None)
        assert packed[i].shape == x.shape
        assert torch.allclose(packed[i], alone, atol=1e-5), (i, (packed[i] - alone).abs().max())


def test_text_positions_start_as_identity_and_make_word_order_matter():
    from minisora.dit.config import DiTConfig
    from minisora.dit.model import DiT

    torch.manual_seed(0)
    cfg = dict(latent_channels=4, hidden_size=32, depth=1, num_heads=2, text_dim=16, text_len=6)
    plain, positioned = DiT(DiTConfig(**cfg)), DiT(DiTConfig(**cfg, text_positions=True))
    missing = positioned.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing == ["text_pos"]
    for layer in (*(b.cross.proj for b in plain.blocks), plain.final.linear):  # open the zero-initialised outputs
        torch.nn.init.normal_(layer.weight, std=0.5)
    positioned.load_state_dict(plain.state_dict(), strict=False)
    x, t = torch.randn(1, 4, 1, 4, 4), torch.tensor([0.5])
    tokens, mask, pooled = torch.randn(1, 6, 16), torch.ones(1, 6, dtype=torch.bool), torch.randn(1, 16)
    with torch.no_grad():
        assert torch.equal(plain(x, t, tokens, mask, pooled), positioned(x, t, tokens, mask, pooled))
        swapped = tokens[:, [1, 0, 2, 3, 4, 5]]  # two words swap places
        assert torch.allclose(plain(x, t, tokens, mask, pooled), plain(x, t, swapped, mask, pooled), atol=1e-5)
        positioned.text_pos.normal_()
        assert not torch.allclose(positioned(x, t, tokens, mask, pooled), positioned(x, t, swapped, mask, pooled),
                                  atol=1e-3)
