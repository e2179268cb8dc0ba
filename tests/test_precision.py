"""minisora.precision: bf16 only where the hardware runs it natively; one decision for every component."""

from pathlib import Path

import pytest
import torch

from minisora import precision as P


@pytest.fixture
def flags(monkeypatch):
    """Pretend the CPU reports the given feature flags."""
    def set_flags(*names, machine="x86_64"):
        monkeypatch.setattr(P, "cpu_flags", lambda: frozenset(names))
        monkeypatch.setattr(P.platform, "machine", lambda: machine)
    monkeypatch.delenv(P.ENV_VAR, raising=False)
    return set_flags


def test_auto_is_bf16_only_with_native_bf16(flags):
    flags("avx2", "fma")  # an AVX2-only CPU: torch emulates bf16 there, ~100x slower than fp32
    assert P.resolve("auto") == "fp32" and P.resolve_dtype("auto") == torch.float32
    flags("avx512f", "avx512_bf16")
    assert P.resolve("auto") == "bf16" and P.resolve_dtype("auto") == torch.bfloat16
    flags("amx_bf16", "amx_tile")
    assert P.resolve("auto") == "bf16"
    flags("bf16", machine="aarch64")  # Arm FEAT_BF16
    assert P.resolve("auto") == "bf16"
    flags("bf16", machine="x86_64")  # the Arm flag name means nothing on x86
    assert P.resolve("auto") == "fp32"


def test_explicit_choice_wins_and_env_replaces_auto(flags, monkeypatch):
    flags("avx2")
    assert P.resolve("bf16") == "bf16" and P.resolve("fp32") == "fp32"
    monkeypatch.setenv(P.ENV_VAR, "bf16")
    assert P.resolve("auto") == "bf16"
    assert P.resolve("fp32") == "fp32"  # an explicit argument is not overridden
    monkeypatch.setenv(P.ENV_VAR, "half")
    with pytest.raises(ValueError, match="MINISORA_PRECISION='half'.*bf16, fp32"):
        P.resolve("auto")


def test_bad_precision_names_the_valid_ones():
    with pytest.raises(ValueError, match="'fp16' is not valid; choose one of auto, bf16, fp32"):
        P.resolve("fp16")


def test_autocast_follows_the_resolved_precision(flags):
    flags("avx2")
    with P.autocast("auto", "cpu"):
        assert not torch.is_autocast_enabled("cpu")
    with P.autocast("bf16", "cpu"):
        assert torch.is_autocast_enabled("cpu")
        assert (torch.ones(4, 4) @ torch.ones(4, 4)).dtype == torch.bfloat16


def test_components_default_to_auto(flags):
    from minisora.train.config import load_config
    from minisora.upscale.config import UpscaleTrainConfig
    from minisora.vae.config import VAEConfig, VAETrainConfig
    from minisora.vae.model import VideoVAE

    assert VideoVAE(VAEConfig.preset("debug")).precision == "auto"
    assert VAETrainConfig().precision == "auto"
    assert UpscaleTrainConfig().precision == "auto"
    assert load_config(Path(__file__).resolve().parents[1] / "configs" / "default.yaml").precision == "auto"
    with pytest.raises(ValueError, match="choose one of auto, bf16, fp32"):
        VideoVAE(VAEConfig.preset("debug")).set_precision("fp16")


def test_pipeline_computes_its_convolutions_in_its_dtype(flags):
    from minisora.pipeline import Pipeline

    flags("avx2")
    pipe = Pipeline.from_pretrained()
    assert pipe.dtype == torch.float32 and pipe.vae.precision == "fp32"
    assert Pipeline.from_pretrained(dtype=torch.bfloat16).vae.precision == "bf16"
