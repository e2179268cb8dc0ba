"""Checkpoint contract: named slots, tensors in safetensors and the rest in JSON (nothing to
unpickle), atomic folders, keep-last-K, refusal of a different model config naming the keys,
release export."""

import json
from pathlib import Path

import pytest
import torch

from minisora.train import checkpoint as ckpt
from minisora.train.config import load_config
from minisora.train.data import write_random_cache
from minisora.train.engine import train
from minisora.train.export import export_release


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model: one thread is fastest, and the cores may be shared
    tmp = tmp_path_factory.mktemp("ckpt")
    cache = write_random_cache(tmp / "cache", 8, [(4, 3, 8, 8)], text_len=8, text_dim=32)
    base = [f"run_dir={tmp / 'run'}", "data.source=cache", f"data.cache_dir={cache}",
            "model.overrides={latent_channels: 4, text_dim: 32, text_len: 8}", "optim.global_batch_size=2",
            "optim.micro_batch_size=2", "schedule.max_steps=5", "schedule.warmup_steps=1", "checkpoint.every=1",
            "checkpoint.keep_last=2", "logging.progress=false", "logging.tensorboard=false"]
    summary = train(load_config(None, base))
    yield tmp, base, summary
    torch.set_num_threads(threads)


def test_slots_are_safetensors_and_json_only(trained):
    tmp, _, summary = trained
    folder = Path(summary["checkpoint"])
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["ema.safetensors", "model.safetensors", "optimizer.safetensors", "rng_rank0.json",
                     "rng_rank0.safetensors", "state.json"]
    state = json.loads((folder / "state.json").read_text())
    for slot in ("step", "scheduler", "data", "config", "model_config", "nan_guard", "optimizer_hyper"):
        assert slot in state, slot
    assert state["step"] == 5 and state["scheduler"]["step"] == 4  # the lr of the 5th update was set at 4
    assert state["data"]["position"] >= 1
    # nothing in the folder is a pickle (a torch.save zip or a raw pickle stream)
    for p in folder.iterdir():
        head = p.read_bytes()[:2]
        assert head not in (b"PK", b"\x80\x02", b"\x80\x04", b"\x80\x05"), p


def test_keep_last_and_incomplete_folders_ignored(trained):
    tmp, _, summary = trained
    root = Path(summary["checkpoint"]).parent
    assert [p.name for p in ckpt.list_checkpoints(root)] == ["step_00000004", "step_00000005"]
    # a write interrupted before its rename leaves a .tmp- folder, never a checkpoint
    (root / ".tmp-step_00000006").mkdir()
    (root / "step_00000007").mkdir()  # no state.json: not complete
    assert ckpt.latest_checkpoint(root).name == "step_00000005"


def test_different_model_config_is_refused_naming_keys(trained):
    tmp, base, summary = trained
    cfg = load_config(None, base + ["model.overrides={latent_channels: 4, text_dim: 32, text_len: 8, depth: 3}",
                                    "schedule.max_steps=6"])
    # the run config differs beyond the budget: refused before any set-up, naming the key
    with pytest.raises(ckpt.CheckpointError, match=r"model\.overrides\.depth: checkpoint '<absent>', config 3.*"
                                                   r"--allow-changed"):
        train(cfg)
    # allowed to change, but the weights cannot load into another architecture
    with pytest.raises(ckpt.CheckpointError, match=r"depth: checkpoint 2, config 3"):
        train(cfg, allow_changed=True)


def test_resume_refuses_a_changed_config_but_not_a_longer_budget(trained, capsys):
    tmp, base, summary = trained
    with pytest.raises(ckpt.CheckpointError, match=r"optim\.lr: checkpoint 0\.0003, config 0\.001.*"
                                                   r"schedule\.max_steps"):
        train(load_config(None, base + ["optim.lr=1e-3", "schedule.max_steps=6"]))
    longer = train(load_config(None, base + ["schedule.max_steps=6"]))
    assert longer["steps"] == 6 and longer["steps_this_run"] == 1
    assert f"resumed from {summary['checkpoint']} at step 5" in capsys.readouterr().out


def test_a_run_saved_with_the_old_nested_precision_resumes(trained, tmp_path, capsys):
    """Checkpoints written while precision was a section (`precision: {dtype: fp32}`) resume under
    today's flat `precision`, with a note; a precision that really differs is still refused."""
    import shutil

    tmp, base, _ = trained
    run = tmp_path / "old-run"
    shutil.copytree(tmp / "run", run)
    for state_file in (run / "checkpoints").glob("step_*/state.json"):
        state = json.loads(state_file.read_text())
        assert state["config"]["precision"] == "fp32"
        state["config"]["precision"] = {"dtype": "fp32"}
        state_file.write_text(json.dumps(state))
    last = ckpt.latest_checkpoint(run / "checkpoints")
    step = ckpt.read_state(last)["step"]
    settings = base + [f"run_dir={run}", f"schedule.max_steps={step + 1}"]
    with pytest.raises(ckpt.CheckpointError, match=r"precision: checkpoint 'fp32', config 'bf16'"):
        train(load_config(None, settings + ["precision=bf16"]))
    resumed = train(load_config(None, settings))
    assert resumed["steps"] == step + 1 and resumed["steps_this_run"] == 1
    err = capsys.readouterr().err
    assert f"note: checkpoint {str(last)!r}: 'precision: {{dtype: fp32}}' is the old form of 'precision: fp32'" in err
    # the new checkpoint carries today's form
    assert ckpt.read_state(resumed["checkpoint"])["config"]["precision"] == "fp32"


def test_unwritable_checkpoint_dir_fails_before_training(tmp_path, trained):
    _, base, _ = trained
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")  # a path under a file cannot be created, even by root
    with pytest.raises(ckpt.CheckpointError, match="not writable"):
        train(load_config(None, base + [f"run_dir={tmp_path / 'r'}", f"checkpoint.dir={blocker / 'ckpt'}"]))
    assert not (tmp_path / "r" / "metrics.jsonl").exists()


def test_export_release_loads_as_dit(trained, tmp_path):
    from minisora.dit.model import DiT

    _, _, summary = trained
    out = export_release(summary["checkpoint"], tmp_path / "release")
    model = DiT.from_pretrained(out)
    ema, _ = ckpt.load_weights_only(summary["checkpoint"], "ema")
    assert model.config.depth == 2 and model.config.text_dim == 32
    for k, v in model.state_dict().items():
        if k in ema:  # stored as bf16: equal to the EMA weights rounded to bf16
            assert torch.equal(v, ema[k].to(torch.bfloat16).float()), k
    assert json.loads((out / "config.json").read_text())["model"] == "DiT"
