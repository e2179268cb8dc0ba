"""Wan2.1 folders: detection, every bad folder's error (component, key, expected and found shapes),
`minisora convert`, and loading through minisora's own entry points."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

pytest.importorskip("diffusers")

from minisora.wan.folder import WanFolderError, check_wan_folder, is_wan_folder  # noqa: E402
from minisora.wan.pipeline import WanVideoPipeline  # noqa: E402
from minisora.wan.reference import quiet, save_reference_folder  # noqa: E402

TRANSFORMER_FILE = "transformer/diffusion_pytorch_model.safetensors"


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    quiet()
    folder = tmp_path_factory.mktemp("wanf") / "tiny-wan"
    save_reference_folder(folder)
    return folder


@pytest.fixture
def copy(good, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(good, dst)
    return dst


def edit_tensor(path, key, fn):
    state = load_file(str(path))
    state = fn(state, key)
    save_file(state, str(path))


def test_detects_wan_folders(good, tmp_path):
    assert is_wan_folder(good)
    assert not is_wan_folder(tmp_path)
    from minisora.pipeline import DEFAULT_MODEL_DIR

    assert not is_wan_folder(DEFAULT_MODEL_DIR)  # minisora's own bundled model
    assert check_wan_folder(good)["_class_name"] == "WanPipeline"


def test_other_architecture_is_named(copy):
    index = json.loads((copy / "model_index.json").read_text())
    index["_class_name"] = "WanImageToVideoPipeline"
    (copy / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(WanFolderError, match="_class_name is 'WanImageToVideoPipeline'; minisora loads WanPipeline"):
        WanVideoPipeline.from_pretrained(copy)


def test_original_release_layout_is_named(tmp_path):
    (tmp_path / "Wan2.1_VAE.pth").write_bytes(b"")
    assert is_wan_folder(tmp_path)
    with pytest.raises(WanFolderError, match="original Wan release layout"):
        check_wan_folder(tmp_path)


@pytest.mark.parametrize("component", ["vae", "text_encoder", "tokenizer", "transformer"])
def test_missing_component_is_named(copy, component):
    shutil.rmtree(copy / component)
    with pytest.raises(WanFolderError, match=f"component '{component}' is missing"):
        WanVideoPipeline.from_pretrained(copy)


def test_transformer_shape_mismatch_names_key_and_shapes(copy):
    key = "blocks.1.attn1.to_k.weight"
    edit_tensor(copy / TRANSFORMER_FILE, key, lambda s, k: {**s, k: s[k][:16]})
    msg = r"component 'transformer': key 'blocks.1.attn1.to_k.weight' has shape \(16, 32\), expected \(32, 32\)"
    with pytest.raises(WanFolderError, match=msg):
        WanVideoPipeline.from_pretrained(copy)


def test_transformer_missing_and_unexpected_keys_are_named(copy):
    edit_tensor(copy / TRANSFORMER_FILE, "proj_out.bias", lambda s, k: {n: v for n, v in s.items() if n != k})
    missing = r"component 'transformer': key 'proj_out.bias' is missing \(expected shape \(64,\)\)"
    with pytest.raises(WanFolderError, match=missing):
        WanVideoPipeline.from_pretrained(copy)
    edit_tensor(copy / TRANSFORMER_FILE, "extra.weight",
                lambda s, k: {**s, k: torch.zeros(3), "proj_out.bias": torch.zeros(64)})
    with pytest.raises(WanFolderError, match=r"unexpected key\(s\) extra.weight \(found shape \(3,\)\)"):
        WanVideoPipeline.from_pretrained(copy)


def test_vae_and_text_encoder_shape_mismatches_are_named(copy, tmp_path):
    vae_file = copy / "vae/diffusion_pytorch_model.safetensors"
    original = vae_file.read_bytes()
    edit_tensor(vae_file, "decoder.conv_out.weight", lambda s, k: {**s, k: torch.zeros(3, 4, 3, 3, 3)})
    with pytest.raises(WanFolderError, match=r"component 'vae': key 'decoder.conv_out.weight' has shape "
                                             r"\(3, 4, 3, 3, 3\), expected \(3, 8, 3, 3, 3\)"):
        WanVideoPipeline.from_pretrained(copy)
    vae_file.write_bytes(original)
    edit_tensor(copy / "text_encoder/model.safetensors", "shared.weight", lambda s, k: {**s, k: s[k][:10]})
    with pytest.raises(WanFolderError, match=r"component 'text_encoder': key 'shared.weight' has shape \(10, 32\), "
                                             r"expected \(64, 32\)"):
        WanVideoPipeline.from_pretrained(copy)


def test_unsupported_transformer_config_is_named(copy):
    cfg = json.loads((copy / "transformer/config.json").read_text())
    cfg["image_dim"] = 1280
    (copy / "transformer/config.json").write_text(json.dumps(cfg))
    with pytest.raises(WanFolderError, match="component 'transformer': config image_dim=1280 is not supported"):
        WanVideoPipeline.from_pretrained(copy)


def test_convert_writes_a_minisora_folder_that_generates_the_same(good, tmp_path):
    from minisora.cli import main

    dst = tmp_path / "converted"
    assert main(["convert", str(good), str(dst), "--dtype", "fp32"]) == 0
    meta = json.loads((dst / "transformer/config.json").read_text())
    assert meta["model"] == "DiT" and meta["config"]["modulation"] == "shared"
    assert json.loads((dst / "vae/config.json").read_text())["model"] == "WanVAE"
    assert is_wan_folder(dst)
    kw = dict(prompt="a cat jumps over the fence", num_frames=5, height=32, width=32, num_inference_steps=2,
              seed=7, progress=False)
    a = WanVideoPipeline.from_pretrained(good)(**kw).frames
    b = WanVideoPipeline.from_pretrained(dst)(**kw).frames
    assert np.array_equal(a, b)
    assert main(["convert", str(good), str(dst)]) == 2  # never overwrites


def test_generate_cli_runs_a_wan_folder(good, tmp_path):
    """`minisora generate --model DIR` on a Wan folder (through Pipeline.from_pretrained's dispatch)."""
    from minisora.cli import main

    out = tmp_path / "wan.mp4"
    code = main(["generate", "a dog runs on the beach", "--model", str(good), "--frames", "5", "--size", "32x32",
                 "--steps", "2", "-o", str(out), "--quiet"])
    assert code == 0 and out.is_file()
    side = json.loads((tmp_path / "wan.mp4.json").read_text())
    assert side["settings"]["architecture"] == "wan2.1" and side["frames"] == [5, 32, 32, 3]


def test_scheduler_settings_come_from_the_folder(copy):
    from minisora.wan.pipeline import read_schedule

    assert read_schedule(copy) == (3.0, 1000, "euler")  # FlowMatchEulerDiscreteScheduler(shift=3.0)
    unipc = {"_class_name": "UniPCMultistepScheduler", "flow_shift": 5.0, "use_flow_sigmas": True,
             "prediction_type": "flow_prediction", "num_train_timesteps": 1000}
    (copy / "scheduler/scheduler_config.json").write_text(json.dumps(unipc))
    assert read_schedule(copy) == (5.0, 1000, "unipc")  # Wan2.1's release scheduler
    (copy / "scheduler/scheduler_config.json").write_text(json.dumps({**unipc, "prediction_type": "epsilon"}))
    with pytest.raises(WanFolderError, match="component 'scheduler': a UniPC scheduler must have use_flow_sigmas"):
        read_schedule(copy)


def test_pipeline_from_pretrained_dispatches_and_offload_gives_the_same_clip(good):
    from minisora.pipeline import Pipeline

    pipe = Pipeline.from_pretrained(good)
    assert isinstance(pipe, WanVideoPipeline) and not pipe.offload
    kw = dict(prompt="a red ball", num_frames=5, height=32, width=32, num_inference_steps=2, seed=3, progress=False)
    offloaded = Pipeline.from_pretrained(good, offload=True)
    assert offloaded.offload
    assert np.array_equal(pipe(**kw).frames, offloaded(**kw).frames)


def test_sharded_transformer_loads_the_same(good, copy):
    """Released folders shard their weights (diffusion_pytorch_model-0000k-of-0000n + an index)."""
    from minisora.wan.folder import load_wan_transformer

    state = load_file(str(copy / TRANSFORMER_FILE))
    (copy / TRANSFORMER_FILE).unlink()
    keys = sorted(state)
    names = ["diffusion_pytorch_model-00001-of-00002.safetensors", "diffusion_pytorch_model-00002-of-00002.safetensors"]
    halves = {names[0]: keys[: len(keys) // 2], names[1]: keys[len(keys) // 2:]}
    for name, part in halves.items():
        save_file({k: state[k] for k in part}, str(copy / "transformer" / name))
    index = {"metadata": {}, "weight_map": {k: n for n, part in halves.items() for k in part}}
    (copy / "transformer/diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps(index))
    a, b = load_wan_transformer(good / "transformer"), load_wan_transformer(copy / "transformer")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    (copy / "transformer" / names[1]).unlink()
    with pytest.raises(WanFolderError, match="component 'transformer': shard"):
        load_wan_transformer(copy / "transformer")
