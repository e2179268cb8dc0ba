"""The frozen text encoder: shapes, mask, pooling, caching, and loading another local HF encoder."""

from __future__ import annotations

import shutil

import pytest
import torch

from minisora.text.config import TextEncoderConfig
from minisora.text.encoder import TextEncoder, default_model_path, shared_encoder

L = TextEncoderConfig().max_length


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return shared_encoder()  # the process-wide default encoder (the rewriter tests reuse it)


def test_shapes_mask_and_pooling(encoder):
    texts = ["a red circle moves left", "star", "a small blue square bounces slowly on a navy background"]
    emb = encoder.encode(texts)
    assert encoder.dim == 384
    assert emb.tokens.shape == (3, L, 384) and emb.tokens.dtype == torch.float32
    assert emb.mask.shape == (3, L) and emb.mask.dtype == torch.bool
    assert emb.pooled.shape == (3, 384)
    # the mask covers exactly [CLS] + word pieces + [SEP]
    lengths = [len(encoder.tokenizer(t)["input_ids"]) for t in texts]
    assert emb.mask.sum(1).tolist() == [min(n, L) for n in lengths]
    assert bool(emb.mask[:, 0].all())  # every row has at least one real token
    # padded positions carry nothing; pooled = normalised mean of the real tokens
    assert float(emb.tokens[~emb.mask].abs().max()) == 0.0
    mean = emb.tokens.sum(1) / emb.mask.sum(1, keepdim=True)
    torch.testing.assert_close(emb.pooled, torch.nn.functional.normalize(mean, dim=-1))
    # MiniLM's sentence embedding: related captions are closer than unrelated ones
    a, b, c = encoder.encode(["a red ball moving left", "a red circle going to the left",
                              "the stock market fell sharply"]).pooled
    assert float(a @ b) > float(a @ c) + 0.2


def test_cache_is_per_unique_string_and_batch_independent(encoder):
    encoder.clear_cache()
    hits0, misses0 = encoder.cache_hits, encoder.cache_misses
    first = encoder.encode(["alpha shape", "beta shape", "alpha shape"])
    assert encoder.cache_misses - misses0 == 2  # duplicates inside one call are encoded once
    again = encoder.encode(["beta shape", "alpha shape"])
    assert encoder.cache_misses - misses0 == 2 and encoder.cache_hits - hits0 == 3
    torch.testing.assert_close(again.tokens[1], first.tokens[0])
    torch.testing.assert_close(first.tokens[0], first.tokens[2])
    # padding to a fixed length makes an embedding independent of its batch-mates
    encoder.clear_cache()
    alone = encoder.encode(["beta shape"])
    torch.testing.assert_close(alone.tokens[0], first.tokens[1], atol=1e-5, rtol=1e-4)


def test_truncation_and_bad_input(encoder):
    long = " ".join(["circle"] * 100)
    emb = encoder.encode([long])
    assert emb.tokens.shape == (1, L, 384) and bool(emb.mask.all())
    with pytest.raises(ValueError, match="empty"):
        encoder.encode([])
    with pytest.raises(TypeError):
        encoder.encode([1, 2])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TextEncoder(TextEncoderConfig(model_path="/nonexistent/encoder"))


def test_cache_size_bounds_memory():
    enc = TextEncoder(TextEncoderConfig(max_length=8, cache_size=2))
    enc.encode(["one", "two", "three"])
    assert len(enc._cache) == 2


def test_other_local_encoder_directory_t5(tmp_path):
    """Any local HF encoder directory: here a tiny random T5 (the encoder half is loaded)."""
    from transformers import T5Config, T5EncoderModel

    src = default_model_path()
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(src / name, tmp_path / name)
    cfg = T5Config(vocab_size=30522, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4)
    torch.manual_seed(0)
    T5EncoderModel(cfg).save_pretrained(tmp_path)
    enc = TextEncoder(TextEncoderConfig(model_path=str(tmp_path), max_length=12))
    assert enc.dim == 32 and "T5" in type(enc.model).__name__
    emb = enc.encode(["a red circle", "a blue star moving up"])
    assert emb.tokens.shape == (2, 12, 32) and emb.pooled.shape == (2, 32)
    assert emb.mask.sum(1).tolist() == [len(enc.tokenizer(t)["input_ids"]) for t in ["a red circle", "a blue star moving up"]]


def test_other_local_encoder_directory_clip_text(tmp_path):
    """A CLIP text tower directory loads as CLIPTextModel; pooling='model' takes CLIP's own pooled token."""
    from transformers import CLIPTextConfig, CLIPTextModel

    src = default_model_path()
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(src / name, tmp_path / name)
    cfg = CLIPTextConfig(vocab_size=30522, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=4, max_position_embeddings=32)
    torch.manual_seed(0)
    CLIPTextModel(cfg).save_pretrained(tmp_path)
    enc = TextEncoder(TextEncoderConfig(model_path=str(tmp_path), max_length=12, pooling="model"))
    assert enc.dim == 32 and type(enc.model).__name__ == "CLIPTextModel"
    emb = enc.encode(["a red circle", "a blue star moving up"])
    assert emb.tokens.shape == (2, 12, 32) and emb.pooled.shape == (2, 32)
    torch.testing.assert_close(emb.pooled.norm(dim=-1), torch.ones(2))


# --- the native BERT (text/minilm.py) that loads the default MiniLM without transformers ---------

CAPTIONS = ["a red circle moves left", "star", "",
            "Crème brûlée STAR, bouncing!! 日本 -- a navy background (fast)",
            " ".join(["circle"] * 100)]  # longer than L: truncated to [CLS] ... [SEP]


@pytest.fixture(scope="module")
def hf_reference():
    """transformers' own tokenizer and model for the default folder (the slow path we replaced)."""
    from transformers import AutoModel, AutoTokenizer

    path = default_model_path()
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


@pytest.mark.parametrize("padding", ["max_length", True])
def test_native_tokenizer_equals_transformers(encoder, hf_reference, padding):
    hf_tok, _ = hf_reference
    ours = encoder.tokenizer(CAPTIONS, padding=padding, truncation=True, max_length=L, return_tensors="pt")
    ref = hf_tok(CAPTIONS, padding=padding, truncation=True, max_length=L, return_tensors="pt")
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert torch.equal(ours[key], ref[key]), key
    assert ours["input_ids"].shape == (len(CAPTIONS), L)  # padding=True: the truncated caption is the longest
    assert ours["input_ids"][-1, -1] == 102 and ours["input_ids"][2].tolist()[:3] == [101, 102, 0]
    for t in CAPTIONS[:3]:  # one string, no padding or truncation: plain lists, as transformers gives
        assert encoder.tokenizer(t) == dict(hf_tok(t))


def test_native_encoder_equals_transformers(encoder, hf_reference):
    from minisora.text.minilm import BertEncoder

    assert encoder.backend == "native" and isinstance(encoder.model, BertEncoder)
    hf_tok, hf_model = hf_reference
    for padding, max_length in (("max_length", L), (True, L), ("max_length", 8)):
        batch = hf_tok(CAPTIONS, padding=padding, truncation=True, max_length=max_length, return_tensors="pt")
        with torch.no_grad():
            ours = encoder.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            ref = hf_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        # every position, padded ones included (TextEncoder zeroes those afterwards anyway)
        torch.testing.assert_close(ours.last_hidden_state, ref.last_hidden_state, atol=1e-5, rtol=0)
        torch.testing.assert_close(ours.pooler_output, ref.pooler_output, atol=1e-5, rtol=0)
    # and through TextEncoder.encode: tokens are the model's states on real tokens, zero elsewhere
    emb = encoder.encode(CAPTIONS)
    batch = hf_tok(CAPTIONS, padding="max_length", truncation=True, max_length=L, return_tensors="pt")
    with torch.no_grad():
        ref = hf_model(**batch).last_hidden_state * batch["attention_mask"][..., None]
    torch.testing.assert_close(emb.tokens, ref, atol=1e-5, rtol=0)
    assert torch.equal(emb.mask, batch["attention_mask"].bool())


def test_default_encoder_loads_without_transformers():
    """In a fresh process: importing the encoder and loading and running the default imports no transformers."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from minisora.text.config import TextEncoderConfig\n"
            "from minisora.text.encoder import TextEncoder\n"
            "enc = TextEncoder(TextEncoderConfig())\n"
            "enc.encode(['a red circle moving right'])\n"
            "print(enc.backend, 'transformers' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["native", "False"], out.stdout + out.stderr


def _bert_folder(tmp_path, **config_changes):
    """A copy of the default folder (weights linked, not copied) with config.json edited."""
    import json

    src = default_model_path()
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(src / name, tmp_path / name)
    (tmp_path / "model.safetensors").symlink_to(src / "model.safetensors")
    config = json.loads((src / "config.json").read_text())
    config.update(config_changes)
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


def test_native_encoder_refuses_unsupported_config(tmp_path, monkeypatch):
    from minisora.text import encoder as encoder_module
    from minisora.text.minilm import BertConfig, UnsupportedModel, load_bert

    folder = _bert_folder(tmp_path, hidden_act="gelu_new")
    with pytest.raises(UnsupportedModel, match="hidden_act.*'gelu_new'"):
        load_bert(folder)
    base = dict(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                intermediate_size=16, max_position_embeddings=16, type_vocab_size=2, layer_norm_eps=1e-12)
    with pytest.raises(UnsupportedModel, match="model_type.*'roberta'"):
        BertConfig.from_dict({**base, "model_type": "roberta"})
    with pytest.raises(UnsupportedModel, match="position_embedding_type.*'relative_key'"):
        BertConfig.from_dict({**base, "position_embedding_type": "relative_key"})
    # the default must load natively: a broken default is an error, not a silent slow fallback
    monkeypatch.setattr(encoder_module, "default_model_path", lambda: folder)
    with pytest.raises(UnsupportedModel, match="gelu_new"):
        TextEncoder(TextEncoderConfig(max_length=8))
    # a user-given BERT folder the native encoder cannot run still loads, through transformers
    enc = TextEncoder(TextEncoderConfig(model_path=str(folder), max_length=8))
    assert enc.backend == "transformers" and enc.encode(["a red circle"]).tokens.shape == (1, 8, 384)


def test_native_encoder_names_missing_and_unexpected_weights(tmp_path):
    import json

    from safetensors.torch import save_file

    from minisora.text.minilm import BertConfig, BertEncoder, UnsupportedModel, checkpoint_name, load_bert_weights

    cfg = dict(model_type="bert", vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
               intermediate_size=16, max_position_embeddings=16, type_vocab_size=2, layer_norm_eps=1e-12)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    config = BertConfig.from_folder(tmp_path)
    state = {checkpoint_name(k): torch.randn(v.shape) for k, v in BertEncoder(config).state_dict().items()}
    save_file(state, str(tmp_path / "model.safetensors"))
    model = load_bert_weights(tmp_path, config)  # the complete checkpoint loads, pooler included
    torch.testing.assert_close(model.layers[0].q.weight, state["encoder.layer.0.attention.self.query.weight"])
    assert model(torch.tensor([[1, 2, 3]])).pooler_output.shape == (1, 8)
    # a checkpoint saved without the pooler loads too; it just has no pooled output
    save_file({k: v for k, v in state.items() if not k.startswith("pooler.")}, str(tmp_path / "model.safetensors"))
    assert load_bert_weights(tmp_path, config)(torch.tensor([[1, 2, 3]])).pooler_output is None
    del state["encoder.layer.0.attention.self.key.bias"]
    state["cls.predictions.bias"] = torch.zeros(10)
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(UnsupportedModel, match=r"missing \['encoder.layer.0.attention.self.key.bias'\], "
                                               r"unexpected \['cls.predictions.bias'\]"):
        load_bert_weights(tmp_path, config)
