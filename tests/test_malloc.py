"""minisora.malloc: freed memory stays mapped and is reused (no page faults on the next step)."""

import os
import subprocess
import sys

import pytest

PROBE = """
import resource, torch
from minisora.malloc import keep_freed_memory
print(keep_freed_memory())
from minisora.dit.config import DiTConfig
from minisora.dit.model import DiT
torch.manual_seed(0)
torch.set_num_threads(1)
model = DiT(DiTConfig.preset("debug", latent_channels=4, text_dim=32, text_len=8))
B = 8
x, t = torch.randn(B, 4, 5, 16, 16), torch.rand(B)
tok, mask, pooled = torch.randn(B, 8, 32), torch.ones(B, 8, dtype=torch.bool), torch.randn(B, 32)
def step():  # a DiT training step: activations of many sizes, made and freed, forward and backward
    model(x, t, tok, mask, pooled).square().mean().backward()
    model.zero_grad(set_to_none=True)
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(6):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 6)
"""


def _probe(env_extra: dict) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES", "MINISORA_MALLOC"))}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**env, **env_extra}, capture_output=True, text=True,
                         check=True).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_memory_is_reused_without_page_faults():
    applied, faults = _probe({})
    assert applied == "True"
    # The contrast, made deterministic: glibc's initial mmap threshold fixed (no dynamic adjustment,
    # as bench/vae.py's memory probe runs) maps every activation afresh and faults it in each step.
    # glibc's true default adapts its threshold as it goes and lands anywhere between the two.
    applied_mapped, faults_mapped = _probe({"MALLOC_MMAP_THRESHOLD_": "131072"})
    assert applied_mapped == "False"  # the user's own setting is left alone
    assert faults_mapped > 10000, faults_mapped
    assert faults < faults_mapped / 50, (faults, faults_mapped)


def test_opting_out_leaves_glibc_alone():
    applied, _ = _probe({"MINISORA_MALLOC": "system"})
    assert applied == "False"
