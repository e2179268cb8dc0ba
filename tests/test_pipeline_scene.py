"""The pipeline parses a prompt once: the scene its rewriter returns builds the text encoder's object
slots, and what the rewriter could not place is reported in the sidecar."""

from __future__ import annotations

import dataclasses

import torch

from minisora.dit.config import DiTConfig
from minisora.dit.model import DiT
from minisora.model_folder import ModelIndex, TextEncoderRef
from minisora.pipeline import Pipeline
from minisora.text.rewriter import NoneRewriter
from minisora.vae.config import VAEConfig
from minisora.vae.model import VideoVAE
from minisora.world.grammar import parse

L, S = 24, 3


class ReportedScene(NoneRewriter):
    """The prompt as its caption, with a scene of two objects: what the slots must then show."""

    def rewrite(self, prompt: str, seed: int = 0):
        res = super().rewrite(prompt, seed)
        return dataclasses.replace(res, scene=parse("a red circle moving left and a blue star bouncing"))


def _pipeline(rewriter) -> Pipeline:
    torch.manual_seed(0)
    vae = VideoVAE(VAEConfig.preset("debug")).eval()
    dit = DiT(DiTConfig.preset("debug", latent_channels=vae.latent_channels, text_len=L + S))
    index = ModelIndex(name="debug", text_encoder=TextEncoderRef(max_length=L, object_slots=S))
    return Pipeline(vae=vae, transformer=dit, rewriter=rewriter, index=index)


def test_slots_come_from_the_rewriters_scene_and_unmapped_words_reach_the_sidecar():
    pipe = _pipeline(ReportedScene())
    scene = pipe.rewriter.rewrite("a zorblax circle").scene
    given = pipe._encode_text(["a zorblax circle"], [scene])
    reparsed = pipe._encode_text(["a zorblax circle"])  # no scene: the text is parsed
    assert given.mask[0, L:].tolist() == [True, True, False]
    assert reparsed.mask[0, L:].tolist() == [True, False, False]
    assert torch.equal(given.tokens[:, :L], reparsed.tokens[:, :L])
    out = pipe("a zorblax circle", num_inference_steps=1, seed=0, progress=False)
    report = out.to_json()["rewrite"]
    assert report["unmapped"] == ["zorblax"]
    assert [o["shape"] for o in report["scene"]["objects"]] == ["circle", "star"]
