"""The API's seconds and sizes <-> a pipeline's frames and (height, width) (minisora/serve/spec.py)."""

from __future__ import annotations

import sys
import types

from minisora.pipeline import Pipeline
from minisora.serve.spec import ModelSpec


def test_the_bundled_model_maps_whole_seconds_onto_1_plus_4k_frames():
    spec = ModelSpec.from_pipeline(Pipeline.from_pretrained(None), max_seconds=4)
    assert spec.sizes == ("64x64", "80x48", "48x80") and spec.default_size == "64x64"
    assert spec.seconds == ("1", "2", "3", "4") and spec.default_seconds == "2"  # 17 frames at 8 fps
    assert [spec.num_frames(s) for s in spec.seconds] == [9, 17, 25, 33]
    assert spec.seconds_for(13) == "1.5" and ModelSpec.height_width("80x48") == (48, 80)
    assert ModelSpec.from_dict(spec.to_dict()) == spec  # what the worker sends the server


def test_a_pipeline_without_an_index_uses_its_modules_defaults(monkeypatch):
    """Wan2.1's pipeline (minisora/wan/pipeline.py) keeps DEFAULTS and EXTEND_CONTEXT at module level."""
    module = types.ModuleType("wan_like")
    module.DEFAULTS = dict(num_frames=81, height=480, width=832, num_inference_steps=50, guidance_scale=5.0, fps=16.0)
    module.EXTEND_CONTEXT = 2
    monkeypatch.setitem(sys.modules, "wan_like", module)
    WanLike = type("WanLike", (), {"__module__": "wan_like"})
    pipe = WanLike()
    pipe.vae = types.SimpleNamespace(temporal_factor=4)
    pipe.transformer = types.SimpleNamespace(config=types.SimpleNamespace(patch_size=(1, 2, 2)))
    pipe.folder = "/models/Wan2.1-T2V-1.3B"
    spec = ModelSpec.from_pipeline(pipe, max_seconds=6)
    assert (spec.name, spec.sizes, spec.default_seconds) == ("Wan2.1-T2V-1.3B", ("832x480",), "5")  # 81 frames
    assert spec.seconds == ("1", "2", "3", "4", "5", "6") and spec.extend_context_frames == 4
