"""Hostile inputs against model folders: flipped bytes, truncation, NaN weights, pickles, bad JSON.

Every case asserts the specific error (naming the file, key or tensor) and that nothing outside the
command's named output changed (the bundled package tree included).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil

import pytest
import torch

from hostile import PACKAGE_DIR, bundled_models_unchanged, changed, flip_byte, model, snapshot  # noqa: F401 (fixtures)
from minisora.cli import main as cli_main
from minisora.config import ConfigError
from minisora.model_folder import ModelIndex
from minisora.weights import (CHECKSUMS_NAME, UnverifiedWeightsWarning, WeightsError, load_weights, main as weights_main,
                              save_weights, verification)

ASSETS = PACKAGE_DIR / "assets"
BUNDLED = sorted(p.parent.relative_to(ASSETS) for p in ASSETS.rglob("model.safetensors"))


@pytest.fixture
def copy(model, tmp_path):
    return shutil.copytree(model, tmp_path / "m")


def test_every_bundled_folder_has_a_checksum_record_that_matches():
    assert len(BUNDLED) >= 5  # minisora-tiny's vae, transformer, rewriter, upscaler + vae-default
    for rel in BUNDLED:
        line = (ASSETS / rel / CHECKSUMS_NAME).read_text().split()
        assert line[1] == "model.safetensors"
        assert line[0] == hashlib.sha256((ASSETS / rel / "model.safetensors").read_bytes()).hexdigest()


@pytest.mark.parametrize("rel", BUNDLED, ids=str)
def test_one_flipped_byte_in_any_bundled_weights_file_is_refused(rel, tmp_path):
    folder = shutil.copytree(ASSETS / rel, tmp_path / "c")
    before = snapshot(ASSETS)
    flip_byte(folder / "model.safetensors")
    with pytest.raises(WeightsError, match=rf"{folder / 'model.safetensors'} is corrupt or was altered.*--no-verify"):
        load_weights(folder)
    assert not changed(before, ASSETS)


@pytest.mark.parametrize("component", ["vae", "transformer", "upscaler"])
def test_flipped_byte_refused_by_each_component_loader(copy, component):
    from minisora.dit.model import DiT
    from minisora.upscale.model import Upscaler
    from minisora.vae.model import VideoVAE

    flip_byte(copy / component / "model.safetensors", offset_from_end=7)
    loader = {"vae": VideoVAE.from_pretrained, "transformer": DiT.from_pretrained,
              "upscaler": Upscaler.from_pretrained}[component]
    with pytest.raises(WeightsError, match=rf"{copy / component / 'model.safetensors'} is corrupt"):
        loader(copy / component)


def test_no_verify_loads_an_altered_file_and_the_default_comes_back(copy):
    flip_byte(copy / "vae" / "model.safetensors")
    state, _ = load_weights(copy / "vae", verify=False)
    with verification(False):
        assert load_weights(copy / "vae")[0].keys() == state.keys()
    with pytest.raises(WeightsError):
        load_weights(copy / "vae")


def test_generate_refuses_corrupt_transformer_naming_it_and_writes_nothing(copy, tmp_path, capsys):
    flip_byte(copy / "transformer" / "model.safetensors")
    before = snapshot(tmp_path)
    rc = cli_main(["generate", "a red circle", "-o", str(tmp_path / "x.mp4"), "--model", str(copy),
                   "--steps", "1", "--frames", "1", "--quiet"])
    assert rc == 2
    assert f"{copy / 'transformer' / 'model.safetensors'} is corrupt" in capsys.readouterr().err
    assert not changed(before, tmp_path)


def test_generate_no_verify_flag_accepts_the_altered_model(copy, tmp_path):
    flip_byte(copy / "transformer" / "model.safetensors")
    out = tmp_path / "x.gif"
    assert cli_main(["generate", "a red circle", "-o", str(out), "--model", str(copy), "--steps", "1",
                     "--frames", "1", "--quiet", "--no-verify"]) == 0
    assert out.is_file() and (tmp_path / "x.gif.json").is_file()


def test_truncated_safetensors_names_the_file(copy):
    path = copy / "vae" / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(WeightsError, match=rf"{path} is not a readable safetensors file .*truncated"):
        load_weights(copy / "vae", verify=False)  # the structural check runs even without verification


def test_non_finite_weights_name_the_file_and_tensor(tmp_path):
    folder = save_weights(tmp_path / "w", {"a.weight": torch.tensor([1.0, float("nan"), float("inf")])}, {})
    with pytest.raises(WeightsError, match=r"model.safetensors: tensor 'a.weight' holds 2 non-finite"):
        load_weights(folder)


def test_pickle_in_place_of_weights_is_refused_unexecuted(copy, tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (copy / "vae" / "model.safetensors").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        load_weights(copy / "vae", verify=False)
    assert not marker.exists()


def test_invalid_json_in_config_names_the_file_line_and_column(copy):
    (copy / "vae" / "config.json").write_text('{"latent_channels": 4,\n  "patch_size": }\n')
    with pytest.raises(ConfigError, match=rf"{copy / 'vae' / 'config.json'}:2:17: not valid JSON"):
        load_weights(copy / "vae")


def test_invalid_json_in_model_index_names_the_file(copy, tmp_path, capsys):
    (copy / "model_index.json").write_text("{not json")
    with pytest.raises(ConfigError, match=rf"{copy / 'model_index.json'}:1:2: not valid JSON"):
        ModelIndex.load(copy)
    before = snapshot(tmp_path)
    assert cli_main(["generate", "a red circle", "-o", str(tmp_path / "x.mp4"), "--model", str(copy)]) == 2
    err = capsys.readouterr().err
    assert f"{copy / 'model_index.json'}" in err and "not valid JSON" in err and "Traceback" not in err
    assert not changed(before, tmp_path)


def test_non_finite_default_in_model_index_names_the_key(copy):
    data = json.loads((copy / "model_index.json").read_text())
    data["defaults"]["guidance_scale"] = float("nan")
    (copy / "model_index.json").write_text(json.dumps(data))  # json writes NaN, which Python's reader accepts
    with pytest.raises(ConfigError, match=r"model_index.json: defaults.guidance_scale: nan is not a finite number"):
        ModelIndex.load(copy)


def test_missing_checksum_record_warns_and_loads(copy):
    (copy / "vae" / CHECKSUMS_NAME).unlink()
    with pytest.warns(UnverifiedWeightsWarning, match=rf"{copy / 'vae'} has no {CHECKSUMS_NAME}"):
        state, _ = load_weights(copy / "vae")
    assert state


def test_malformed_checksum_record_is_an_error(copy):
    (copy / "vae" / CHECKSUMS_NAME).write_text("deadbeef model.safetensors\n")
    with pytest.raises(WeightsError, match=rf"{CHECKSUMS_NAME}:1: not a sha256sum line"):
        load_weights(copy / "vae")


def test_verify_command_names_the_altered_file(copy, capsys):
    assert weights_main(["verify", str(copy)]) == 0
    flip_byte(copy / "upscaler" / "model.safetensors")
    assert weights_main(["verify", str(copy)]) == 1
    assert f"{copy / 'upscaler' / 'model.safetensors'} is corrupt" in capsys.readouterr().err


def test_record_command_writes_only_checksum_files(copy):
    for p in copy.rglob(CHECKSUMS_NAME):
        p.unlink()
    before = snapshot(copy)
    assert weights_main(["record", str(copy)]) == 0
    assert changed(before, copy) == {f"{c}/{CHECKSUMS_NAME}" for c in ("vae", "transformer", "upscaler")}
    load_weights(copy / "vae")  # verifies against the new record


def test_saved_record_is_what_sha256sum_reads(tmp_path):
    folder = save_weights(tmp_path / "w", {"x": torch.arange(6.0)}, {"k": 1})
    digest, name = (folder / CHECKSUMS_NAME).read_text().split()
    assert name == "model.safetensors"
    assert digest == hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
