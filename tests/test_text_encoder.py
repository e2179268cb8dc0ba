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
