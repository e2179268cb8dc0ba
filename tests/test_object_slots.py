"""Object slots: one token per object the caption names, appended after the caption's tokens."""

from __future__ import annotations

import pytest
import torch

from minisora.config import ConfigError
from minisora.text.config import TextEncoderConfig
from minisora.text.encoder import shared_encoder
from minisora.text.object_slots import SLOT_NORM, parsed_objects

L = 24


@pytest.fixture(scope="module")
def encoder():
    return shared_encoder(TextEncoderConfig(max_length=L, object_slots=3))


def test_parsed_objects_follow_the_caption_order():
    text = ("Three shapes on a black background: a small yellow triangle glides quickly toward the lower "
            "right, a large purple square travels slowly up, and a white circle does not move.")
    objs = parsed_objects(text, 3)
    assert [o["shape"] for o in objs] == ["triangle", "square", "circle"]
    assert [o["motion"] for o in objs] == ["down-right", "up", "still"]
    assert objs[1] == {"size": "large", "color": "purple", "shape": "square", "motion": "up", "speed": "slow"}
    assert len(parsed_objects(text, 2)) == 2


def test_slots_follow_the_caption_tokens_and_leave_them_unchanged(encoder):
    texts = ["a red circle moves left", "a red star moves up and a blue square moves down", "hello world"]
    emb = encoder.encode(texts)
    plain = shared_encoder(TextEncoderConfig(max_length=L)).encode(texts)
    assert emb.tokens.shape == (3, L + 3, 384) and emb.mask.shape == (3, L + 3)
    assert torch.equal(emb.tokens[:, :L], plain.tokens) and torch.equal(emb.mask[:, :L], plain.mask)
    assert torch.equal(emb.pooled, plain.pooled)
    # one slot per named object; free text outside the vocabulary gets none
    assert emb.mask[:, L:].tolist() == [[True, False, False], [True, True, False], [False, False, False]]
    slots = emb.tokens[:, L:][emb.mask[:, L:]]  # (3, D): the three named objects
    assert torch.allclose(slots.norm(dim=-1), torch.full((3,), SLOT_NORM))
    assert emb.tokens[:, L:][~emb.mask[:, L:]].abs().max() == 0


def test_a_slot_depends_on_the_object_not_on_the_phrasing(encoder):
    a = encoder.encode("On a navy background, a small red circle glides slowly to the left.")
    b = encoder.encode("A slow small red circle travels from the right side toward the left. There is no occluder.")
    c = encoder.encode("On a navy background, a small red circle glides slowly to the right.")
    assert torch.allclose(a.tokens[0, L], b.tokens[0, L], atol=1e-5)
    # direction weighs enough that left and right slots are far apart (the words' states are not)
    assert torch.nn.functional.cosine_similarity(a.tokens[0, L], c.tokens[0, L], dim=0) < 0.85


def test_object_slots_are_validated():
    with pytest.raises(ConfigError, match="object_slots"):
        TextEncoderConfig(object_slots=-1)


def test_model_index_carries_object_slots(tmp_path):
    import json

    from minisora.pipeline import MODEL_INDEX_NAME, ModelIndex, TextEncoderRef

    ModelIndex(text_encoder=TextEncoderRef(max_length=80, object_slots=3)).save(tmp_path)
    config = ModelIndex.load(tmp_path).text_encoder.encoder_config()
    assert (config.max_length, config.object_slots) == (80, 3)
    # an index written before object slots existed loads with none
    data = json.loads((tmp_path / MODEL_INDEX_NAME).read_text())
    del data["text_encoder"]["object_slots"]
    (tmp_path / MODEL_INDEX_NAME).write_text(json.dumps(data))
    assert ModelIndex.load(tmp_path).text_encoder.encoder_config().object_slots == 0
