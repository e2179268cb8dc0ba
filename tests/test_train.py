"""The training engine: bad input stops before any training, NaN/Inf guard, schedule, EMA, the
latent cache round trip, and the command line."""

import json
import math
from pathlib import Path

import pytest
import torch

from conftest import needs_cxx
from minisora.config import ConfigError
from minisora.train.config import TrainConfig, load_config
from minisora.train.data import CacheMeta, CacheWriter, LatentCacheDataset, collate_latents, write_random_cache
from minisora.train.engine import loop_config, train
from minisora.train.harness import lr_factor, micro_generator
from minisora.train.monitor import DivergedError, NaNGuard

TINY = ["model.overrides={latent_channels: 4, text_dim: 32, text_len: 8}", "optim.global_batch_size=2",
        "optim.micro_batch_size=2", "schedule.warmup_steps=1", "logging.progress=false",
        "logging.tensorboard=false", "logging.every=1"]


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _cfg(tmp_path, cache, *extra):
    return load_config(None, [f"run_dir={tmp_path / 'run'}", "data.source=cache", f"data.cache_dir={cache}",
                              "schedule.max_steps=4", *TINY, *extra])


# ---------------------------------------------------------------- bad input, before any training


def _assert_nothing_trained(tmp_path):
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
    assert not list((tmp_path / "run").glob("checkpoints/step_*"))


def test_missing_dataset_folder(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        train(_cfg(tmp_path, tmp_path / "nope"))
    with pytest.raises(ConfigError, match="does not exist"):
        train(load_config(None, [f"run_dir={tmp_path / 'run'}", "data.source=folder",
                                 f"data.folder={tmp_path / 'videos'}", *TINY]))
    _assert_nothing_trained(tmp_path)


def test_empty_datasets(tmp_path):
    CacheWriter(tmp_path / "cache", CacheMeta(4, 8, 4, 32, 8)).close()
    with pytest.raises(ConfigError, match="empty"):
        train(_cfg(tmp_path, tmp_path / "cache"))
    (tmp_path / "videos").mkdir()
    with pytest.raises(ConfigError, match="no videos found"):
        train(load_config(None, [f"run_dir={tmp_path / 'run'}", "data.source=folder",
                                 f"data.folder={tmp_path / 'videos'}", *TINY]))
    _assert_nothing_trained(tmp_path)


def test_sizes_not_divisible_by_patch(tmp_path):
    cache = write_random_cache(tmp_path / "cache", 4, [(4, 3, 8, 9)], text_len=8, text_dim=32)
    with pytest.raises(ConfigError, match=r"W'=9.*not divisible by the DiT patch \(pt=1, ph=2, pw=2\)"):
        train(_cfg(tmp_path, cache))
    _assert_nothing_trained(tmp_path)


def test_pixel_sizes_not_divisible_by_vae_factor(tmp_path):
    from minisora.vae.config import VAEConfig
    from minisora.vae.model import VideoVAE

    vae_dir = VideoVAE(VAEConfig.preset("debug")).save_pretrained(tmp_path / "vae")
    for bucket, pattern in (([9, 36, 32], "36"), ([9, 40, 32], "not divisible by the DiT patch")):
        with pytest.raises(ConfigError, match=pattern):
            train(load_config(None, [f"run_dir={tmp_path / 'run'}", "data.source=synthetic", f"data.vae={vae_dir}",
                                     f"data.buckets=[{bucket}]", "data.num_samples=4", *TINY,
                                     "model.overrides={latent_channels: 8}"]))
    _assert_nothing_trained(tmp_path)


def test_cache_that_does_not_fit_the_model(tmp_path):
    cache = write_random_cache(tmp_path / "cache", 4, [(8, 3, 8, 8)], text_len=8, text_dim=32)
    with pytest.raises(ConfigError, match="latent channels: cache 8, model.latent_channels 4"):
        train(_cfg(tmp_path, cache))


# ---------------------------------------------------------------- NaN / Inf guard


def _cache_with_nan(path, nan_items):
    g = torch.Generator().manual_seed(0)
    w = CacheWriter(path, CacheMeta(4, 8, 4, 32, 8))
    for i in range(8):
        z = torch.randn(4, 3, 8, 8, generator=g)
        if i in nan_items:
            z[0, 0, 0, 0] = float("nan")
        w.add(z, torch.randn(8, 32, generator=g), torch.ones(8, dtype=torch.bool), torch.randn(32, generator=g),
              f"c{i}", f"p{i}", (9, 64, 64))
    return w.close()


def test_nan_step_is_skipped_and_counted(tmp_path):
    cache = _cache_with_nan(tmp_path / "cache", {5})  # 8 items, batch 2: exactly one bad step per epoch
    summary = train(_cfg(tmp_path, cache, "optim.lr=1e-2"))
    assert summary["skipped_steps"] == 1 and summary["steps"] == 4
    from safetensors.torch import load_file

    weights = load_file(Path(summary["checkpoint"]) / "model.safetensors")
    assert all(torch.isfinite(v).all() for v in weights.values())
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert sum(not math.isfinite(r["loss"]) for r in records) == 1 and records[-1]["skipped_steps"] == 1


def test_divergence_stops_with_a_clear_message(tmp_path):
    cache = _cache_with_nan(tmp_path / "cache", set(range(8)))
    with pytest.raises(DivergedError, match="3 consecutive steps"):
        train(_cfg(tmp_path, cache, "nan_guard.max_consecutive=3", "schedule.max_steps=10"))


def test_nan_guard_counts_consecutive_only():
    g = NaNGuard(2)
    assert g.check(1, 1.0, 1.0) and not g.check(2, float("nan"), 1.0) and g.check(3, 1.0, 1.0)
    assert not g.check(4, 1.0, float("inf"))
    with pytest.raises(DivergedError):
        g.check(5, float("inf"), 1.0)
    assert g.skipped == 3


# ---------------------------------------------------------------- schedule, seeding, EMA


def test_warmup_then_cosine():
    cfg = load_config(None, ["schedule.max_steps=100", "schedule.warmup_steps=10", "schedule.min_lr_ratio=0.1"])
    loop = loop_config(cfg)

    def f(step):
        return lr_factor(step, 0.0, loop)

    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0) and f(10) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.55) and f(100) == pytest.approx(0.1)
    assert all(f(s) >= f(s + 1) for s in range(10, 100))
    # with a time budget the cosine follows whichever of steps and minutes is further along
    timed = loop_config(load_config(None, ["schedule.max_steps=100", "schedule.warmup_steps=10",
                                           "schedule.min_lr_ratio=0.1", "schedule.minutes=1"]))
    assert lr_factor(10, 30.0, timed) == pytest.approx(0.55) and lr_factor(10, 60.0, timed) == pytest.approx(0.1)
    assert lr_factor(55, 0.0, timed) == pytest.approx(0.55)


def test_micro_generator_depends_on_what_not_where():
    a = torch.rand(4, generator=micro_generator(0, 7, 1))
    assert torch.equal(a, torch.rand(4, generator=micro_generator(0, 7, 1)))
    for other in ((0, 7, 0), (0, 8, 1), (1, 7, 1)):
        assert not torch.equal(a, torch.rand(4, generator=micro_generator(*other)))


def test_ema_update_math():
    from minisora.train.ema import EMA

    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema = EMA(model, decay=0.9, start_step=1)
    with torch.no_grad():
        model.weight.fill_(3.0)
    ema.update(model, step=1)  # before/at start_step: copies
    assert torch.allclose(ema.shadow[0], torch.full((1, 2), 3.0))
    with torch.no_grad():
        model.weight.fill_(13.0)
    ema.update(model, step=2)
    assert torch.allclose(ema.shadow[0], torch.full((1, 2), 0.9 * 3.0 + 0.1 * 13.0))


# ---------------------------------------------------------------- data, cache, CLI


def test_random_cache_round_trip(tmp_path):
    cache = write_random_cache(tmp_path / "cache", 5, [(4, 3, 8, 8), (4, 1, 8, 12)], text_len=8, text_dim=32,
                               shard_size=2)
    ds = LatentCacheDataset(cache)
    assert len(ds) == 5 and len(list(Path(cache).glob("shard_*.safetensors"))) == 3
    assert ds[1]["latents"].shape == (4, 1, 8, 12) and ds[2]["tokens"].shape == (8, 32)
    assert ds.bucket_of(0) != ds.bucket_of(1) and ds.bucket_of(0) == ds.bucket_of(2)
    assert ds[3]["mask"].dtype == torch.bool and ds[3]["caption"] == "random item 3"


def test_cache_latents_from_pixels(tmp_path):
    """cache_latents: VAE mean latents + text embeddings per item, captions in the index."""
    from minisora.text.encoder import TextEmbedding
    from minisora.train.data import cache_latents, synthetic_dataset
    from minisora.vae.config import VAEConfig
    from minisora.vae.model import VideoVAE

    from minisora.text.config import TextEncoderConfig

    class FakeText:  # the engine tests need no real text encoder
        config = TextEncoderConfig()  # no object slots

        def encode(self, texts, slots=None):
            n = len(texts)
            return TextEmbedding(torch.full((n, 6, 16), float(len(texts[0]))), torch.ones(n, 6, dtype=torch.bool),
                                 torch.zeros(n, 16))

    torch.manual_seed(0)
    vae = VideoVAE(VAEConfig.preset("debug")).eval()
    ds = synthetic_dataset(3, [(5, 32, 32), (1, 32, 48)], "train", seed=0, counts=[2, 1])
    out = cache_latents(ds, vae, FakeText(), tmp_path / "cache", batch_size=2, progress=False)
    cached = LatentCacheDataset(out)
    assert len(cached) == 3 and cached.meta.text_dim == 16 and cached.meta.latent_channels == 8
    with torch.no_grad():
        expect = vae.encode(ds[2]["video"][None])[0]
    torch.testing.assert_close(cached[2]["latents"], expect, rtol=1e-4, atol=1e-5)
    assert cached[2]["latents"].shape == (8, 1, 4, 6) and cached[0]["caption"] == ds[0]["caption"]
    assert all(cached[i]["window_start"] == 0 for i in range(3))
    # late windows keep their start in the index, for the loss to give them only as continuations
    late = synthetic_dataset(6, [(5, 32, 32)], "train", seed=0, late_share=1.0, late_start_max=9)
    out = cache_latents(late, vae, FakeText(), tmp_path / "late", batch_size=4, progress=False)
    starts = [LatentCacheDataset(out)[i]["window_start"] for i in range(6)]
    assert starts == [late[i]["window_start"] for i in range(6)] and all(1 <= s <= 9 for s in starts)
    assert collate_latents([LatentCacheDataset(out)[i] for i in range(2)])["window_start"].tolist() == starts[:2]


def test_cli_rejects_unknown_key_and_wrong_type(tmp_path, capsys):
    from minisora.cli import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text("optim: {lr: 1e-4}\n")
    assert main(["train", str(cfg), "optim.lrr=1"]) == 2
    err = capsys.readouterr().err
    assert "optim.lrr" in err and "lr" in err and "global_batch_size" in err
    assert main(["train", str(cfg), "parallel.strategy=zero3"]) == 2
    assert "'none', 'ddp', 'fsdp'" in capsys.readouterr().err
    assert main(["train", str(cfg), "--print-config"]) == 0
    assert "lr: 0.0001" in capsys.readouterr().out


def test_shipped_configs_load():
    root = Path(__file__).resolve().parents[1] / "configs"
    names = ["debug.yaml", "default.yaml", "gpu-example.yaml", "late-windows/finetune.yaml"]  # the DiT's
    for name in names:
        cfg = load_config(root / name)
        assert isinstance(cfg, TrainConfig)
    from minisora.config import load_yaml
    from minisora.train.cache_config import CacheConfig, check

    late = load_yaml(CacheConfig, root / "late-windows" / "cache.yaml")
    check(late)
    assert late.late_share == 0.5 and load_config(root / "late-windows" / "finetune.yaml").data.cache_dir == late.out
    gpu = load_config(root / "gpu-example.yaml")
    assert gpu.parallel.strategy == "fsdp" and gpu.precision == "bf16"


def test_old_nested_precision_in_a_yaml_loads_with_a_note(tmp_path, capsys):
    """`precision: {dtype: X}` (before precision became one flat field) reads as `precision: X`; the
    old override form is refused naming the new one."""
    old = tmp_path / "old.yaml"
    old.write_text("seed: 3\nprecision:\n  dtype: bf16\n")
    cfg = load_config(old, ["optim.lr=1e-3"])
    assert cfg.precision == "bf16" and cfg.seed == 3 and cfg.optim.lr == 1e-3
    assert "'precision: {dtype: bf16}' is the old form of 'precision: bf16'" in capsys.readouterr().err
    assert load_config(None, ["precision=auto"]).precision == "auto"
    with pytest.raises(ConfigError, match=r"unknown key 'precision\.dtype': 'precision' is a single value, not a "
                                          r"section; set it as precision=VALUE"):
        load_config(None, ["precision.dtype=fp32"])
    with pytest.raises(ConfigError, match=r"precision: 'fp16' is not valid; choose one of 'auto', 'bf16', 'fp32'"):
        load_config(None, ["precision=fp16"])


def _dit_grads(parallel, randomise_weights: bool = False) -> dict:
    """Gradients of a debug DiT's loss on fixed inputs, with the model wrapped by apply_parallelism."""
    from minisora.dit.config import DiTConfig
    from minisora.dit.model import DiT
    from minisora.train.distributed import DistInfo, apply_parallelism

    cfg = DiTConfig.preset("debug", latent_channels=4, text_dim=32, text_len=8)
    info = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(2, 4, 3, 8, 8, generator=g), torch.rand(2, generator=g)
    tok, mask = torch.randn(2, 8, 32, generator=g), torch.ones(2, 8, dtype=torch.bool)
    pooled = torch.randn(2, 32, generator=g)  # every input from g: two calls see the same batch
    torch.manual_seed(0)
    model = DiT(cfg)
    if randomise_weights:  # adaLN-Zero starts every block as the identity: make the blocks matter
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0, 0.1)
    model = apply_parallelism(model, parallel, info)
    model(x, t, tok, mask, pooled).square().mean().backward()
    return {n: p.grad for n, p in model.named_parameters()}


def test_activation_checkpointing_keeps_gradients_and_names():
    from minisora.train.config import ParallelConfig

    grads = [_dit_grads(ParallelConfig(activation_checkpointing=ac)) for ac in (False, True)]
    assert grads[0].keys() == grads[1].keys()  # checkpoint keys unchanged by the wrapping
    for n in grads[0]:
        torch.testing.assert_close(grads[1][n], grads[0][n], rtol=1e-5, atol=1e-7)


def test_sample_videos_from_fixed_prompts(tmp_path):
    from minisora.io import read_video
    from minisora.vae.config import VAEConfig
    from minisora.vae.model import VideoVAE

    torch.manual_seed(0)
    vae_dir = VideoVAE(VAEConfig.preset("debug")).save_pretrained(tmp_path / "vae")
    cache = write_random_cache(tmp_path / "cache", 4, [(8, 2, 4, 4)], text_len=48, text_dim=384)
    summary = train(load_config(None, [
        f"run_dir={tmp_path / 'run'}", "data.source=cache", f"data.cache_dir={cache}", f"data.vae={vae_dir}",
        "model.overrides={latent_channels: 8}", "optim.global_batch_size=2", "optim.micro_batch_size=2",
        "schedule.max_steps=2", "schedule.warmup_steps=1", "logging.progress=false", "logging.tensorboard=false",
        "logging.sample_every=2", "logging.sample_steps=2", "logging.sample_prompts=[a red circle, a blue square]"]))
    videos = sorted((tmp_path / "run" / "samples").glob("*.mp4"))
    assert [v.name for v in videos] == ["step_00000002_0.mp4", "step_00000002_1.mp4"]
    frames, _ = read_video(videos[0])
    assert frames.shape == (5, 32, 32, 3)  # latent (2, 4, 4) decoded by the x4 time, x8 space VAE
    assert summary["steps"] == 2 and (tmp_path / "run" / "loss_curve.png").is_file()


# ---------------------------------------------------------------- fine-tuning from released weights


def test_init_from_released_weights(tmp_path):
    from minisora.dit.model import DiT
    from minisora.train.config import dit_config

    cache = write_random_cache(tmp_path / "cache", 4, [(4, 3, 8, 8)], text_len=8, text_dim=32)
    cfg = _cfg(tmp_path, cache)
    torch.manual_seed(123)
    released = DiT(dit_config(cfg.model))
    for p in released.parameters():  # non-zero everywhere, unlike a fresh init's zeroed outputs
        torch.nn.init.normal_(p, std=0.02)
    released.save_pretrained(tmp_path / "released")
    cfg = _cfg(tmp_path, cache, f"model.init_from={tmp_path / 'released'}", "schedule.max_steps=1",
               "optim.lr=1e-12")
    train(cfg)
    from safetensors.torch import load_file

    ckpt_dir = sorted((tmp_path / "run" / "checkpoints").glob("step_*"))[-1]
    weights = load_file(ckpt_dir / "model.safetensors")
    name, ref = next(iter(released.state_dict().items()))
    # Adam moves each weight by about lr per step: the loaded weights, unchanged to 1e-9
    assert torch.allclose(weights[name].float(), ref.bfloat16().float(), atol=1e-9)  # released as bf16
    assert ref.abs().max() > 1e-3


def test_init_from_a_training_run_takes_its_latest_ema_weights(tmp_path):
    """A recipe stage fine-tunes the previous stage's run directly (no export in between)."""
    from minisora.train.export import checkpoint_dit

    cache = write_random_cache(tmp_path / "cache", 4, [(4, 3, 8, 8)], text_len=8, text_dim=32)
    first = _cfg(tmp_path / "first", cache, "schedule.max_steps=2", "checkpoint.every=1")
    train(first)
    latest = sorted((tmp_path / "first" / "run" / "checkpoints").glob("step_*"))[-1]
    ema = checkpoint_dit(latest).state_dict()
    second = _cfg(tmp_path / "second", cache, f"model.init_from={tmp_path / 'first' / 'run'}", "schedule.max_steps=1",
                  "optim.lr=1e-12")
    train(second)
    from safetensors.torch import load_file

    weights = load_file(sorted((tmp_path / "second" / "run" / "checkpoints").glob("step_*"))[-1] / "model.safetensors")
    moved = [n for n, w in ema.items() if n in weights and not torch.allclose(weights[n].float(), w, atol=1e-6)]
    assert not moved, f"weights not taken from the run's latest EMA: {moved[:3]}"
    with pytest.raises(ConfigError, match="neither a checkpoint nor a training run folder"):
        train(_cfg(tmp_path / "third", cache, f"model.init_from={tmp_path / 'cache'}"))


def test_init_from_a_different_architecture_is_refused(tmp_path):
    from minisora.dit.model import DiT
    from minisora.train.config import dit_config

    cache = write_random_cache(tmp_path / "cache", 4, [(4, 3, 8, 8)], text_len=8, text_dim=32)
    other = load_config(None, ["model.overrides={latent_channels: 4, text_dim: 32, text_len: 8, depth: 1}"])
    DiT(dit_config(other.model)).save_pretrained(tmp_path / "other")
    with pytest.raises(ConfigError, match="depth"):
        train(_cfg(tmp_path, cache, f"model.init_from={tmp_path / 'other'}"))
    _assert_nothing_trained(tmp_path)


def test_init_from_may_switch_text_positions_on(tmp_path):
    """A release without text positions fine-tunes into a model with them (the embedding starts at 0)."""
    from minisora.dit.model import DiT
    from minisora.train.config import dit_config

    cache = write_random_cache(tmp_path / "cache", 4, [(4, 3, 8, 8)], text_len=8, text_dim=32)
    released = DiT(dit_config(_cfg(tmp_path, cache).model))
    released.save_pretrained(tmp_path / "released")
    with_positions = "model.overrides={latent_channels: 4, text_dim: 32, text_len: 8, text_positions: true}"
    cfg = _cfg(tmp_path, cache, with_positions, f"model.init_from={tmp_path / 'released'}", "schedule.max_steps=1")
    assert train(cfg)["steps"] == 1
    from safetensors.torch import load_file

    weights = load_file(sorted((tmp_path / "run" / "checkpoints").glob("step_*"))[-1] / "model.safetensors")
    assert "text_pos" in weights and weights["text_pos"].shape == (8, released.config.hidden_size)


def test_init_from_may_change_the_text_length(tmp_path):
    """A release without text positions fine-tunes on longer text (object slots appended): text_len
    only sets the null text's length there. With text positions, a length change is refused."""
    from minisora.dit.model import DiT
    from minisora.train.config import dit_config

    cache = write_random_cache(tmp_path / "cache", 4, [(4, 3, 8, 8)], text_len=11, text_dim=32)
    short = load_config(None, ["model.overrides={latent_channels: 4, text_dim: 32, text_len: 8}"])
    DiT(dit_config(short.model)).save_pretrained(tmp_path / "released")
    longer = "model.overrides={latent_channels: 4, text_dim: 32, text_len: 11}"
    cfg = _cfg(tmp_path, cache, longer, f"model.init_from={tmp_path / 'released'}", "schedule.max_steps=1")
    assert train(cfg)["steps"] == 1

    positioned = load_config(None, ["model.overrides={latent_channels: 4, text_dim: 32, text_len: 8, text_positions: true}"])
    DiT(dit_config(positioned.model)).save_pretrained(tmp_path / "positioned")
    longer_positioned = "model.overrides={latent_channels: 4, text_dim: 32, text_len: 11, text_positions: true}"
    with pytest.raises(ConfigError, match="text_len"):
        train(_cfg(tmp_path / "b", cache, longer_positioned, f"model.init_from={tmp_path / 'positioned'}"))


@needs_cxx
def test_compiled_blocks_match_eager_and_keep_names():
    """parallel.compile=true (what bench/dit.py's compiled row measures) gives the eager gradients."""
    from minisora.train.config import ParallelConfig

    grads = [_dit_grads(ParallelConfig(compile=c), randomise_weights=True) for c in (False, True)]
    assert grads[0].keys() == grads[1].keys()  # checkpoint keys unchanged by compiling
    for n in grads[0]:
        torch.testing.assert_close(grads[1][n], grads[0][n], rtol=1e-4, atol=1e-6)
