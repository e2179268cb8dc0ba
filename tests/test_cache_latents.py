"""`minisora cache-latents [CONFIG.yaml] key=value ...`: a YAML file plus overrides fill a CacheConfig,
the flags are aliases of its fields, the cache holds what the config says, and a bad key or value is
refused naming it and what would be valid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from minisora.cli import main
from minisora.config import ConfigError, load_yaml, parse_yaml
from minisora.train.cache_config import CacheConfig, check

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def vae(tmp_path_factory) -> Path:
    from minisora.vae.config import VAEConfig
    from minisora.vae.model import VideoVAE

    torch.manual_seed(0)
    return VideoVAE(VAEConfig.preset("debug")).save_pretrained(tmp_path_factory.mktemp("vae") / "vae")


def test_the_recipes_stage_file_holds_todays_values():
    cfg = load_yaml(CacheConfig, ROOT / "configs" / "minisora-tiny" / "cache.yaml")
    assert (cfg.data, cfg.num_samples, cfg.captions, cfg.max_length, cfg.object_slots) == ("synthetic", 6000, 3, 80, 3)
    assert cfg.buckets == ["17x64x64", "17x48x80", "17x80x48", "1x64x64=1500"]
    check(CacheConfig(**{**vars(cfg), "out": "/tmp/never-written"}))


def test_yaml_then_overrides_then_a_cache_that_holds_them(vae, tmp_path, capsys):
    stage = tmp_path / "cache.yaml"
    stage.write_text("num_samples: 50\nbuckets: [9x32x32]\ncaptions: 2\nmax_length: 12\nobject_slots: 2\n")
    out = tmp_path / "cache"
    rc = main(["cache-latents", str(stage), f"vae={vae}", f"out={out}", "num_samples=3",
               "buckets=[5x16x16, 1x16x16=1]", "threads=1"])
    assert rc == 0, capsys.readouterr().err
    assert f"wrote 3 clips to {out}" in capsys.readouterr().out
    index = json.loads((out / "index.json").read_text())
    assert index["meta"]["text_len"] == 12 + 2  # max_length caption tokens + object slots
    buckets = [tuple(item["bucket"]) for item in index["items"]]
    # 3 samples: the fixed 1 image, the other 2 in the 5-frame bucket; each clip stored once per caption
    assert sorted(buckets) == [(1, 16, 16)] * 2 + [(5, 16, 16)] * 4
    assert len({item["caption"] for item in index["items"]}) > 3


def test_flags_are_aliases_and_key_value_wins(tmp_path, capsys):
    stage = tmp_path / "cache.yaml"
    stage.write_text("buckets: [17x64x64]\nnum_samples: 9\n")
    args = ["cache-latents", str(stage), "batch_size=3", "--bucket", "5x16x16", "--bucket", "1x16x16=2",
            "--num-samples", "4", "--out", "~", "--batch-size", "2", "--print-config"]
    assert main(args) == 0
    printed = parse_yaml(capsys.readouterr().out)
    assert printed["buckets"] == ["5x16x16", "1x16x16=2"] and printed["num_samples"] == 4
    assert printed["batch_size"] == 3 and printed["out"] == "~"  # a flag's path stays the string it is


@pytest.mark.parametrize("settings,message", [
    (["bucket=[5x16x16]"], "unknown key 'bucket'; valid here: vae, data, out, buckets, num_samples, split,"),
    (["buckets=[5x16]"], "buckets[0]: bucket '5x16' must look like FRAMESxHEIGHTxWIDTH, optionally =COUNT"),
    (["captions=0"], "captions=0 is not valid: must be >= 1"),
    (["dtype=int8"], "dtype: 'int8' is not valid; choose one of 'float32', 'bfloat16', 'float16'"),
    (["data=videos/", "buckets=[5x16x16=3]"], "=COUNT in buckets applies to synthetic data only"),
    (["late_start_max=0"], "late_start_max=0 is not valid: must be >= 1"),
    (["late_share=2"], "late_share=2.0 is not valid: must be a share in [0, 1]"),
    (["data=videos/", "late_share=0.5"], "late_share applies to synthetic data only"),
    (["out=" + str(ROOT / "minisora" / "assets" / "cache")], "lies inside the installed minisora package"),
])
def test_bad_settings_are_refused_naming_the_key(settings, message, tmp_path, capsys):
    assert main(["cache-latents", *settings]) == 2
    err = capsys.readouterr().err
    assert "minisora cache-latents: config error: " in err and message in err, err
    assert not (ROOT / "minisora" / "assets" / "cache").exists()


def test_a_bad_key_in_the_yaml_names_the_file_and_the_valid_keys(tmp_path, capsys):
    stage = tmp_path / "cache.yaml"
    stage.write_text("num_sample: 3\n")
    assert main(["cache-latents", str(stage)]) == 2
    err = capsys.readouterr().err
    assert f"{stage}: unknown key(s) num_sample; valid keys for CacheConfig: vae, data, out, buckets" in err
    with pytest.raises(ConfigError, match="vae='/nowhere': no such folder"):
        check(CacheConfig(vae="/nowhere"))
