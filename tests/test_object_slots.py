"""Object slots: one token per object of the scene, appended after the caption's tokens."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from minisora.config import ConfigError
from minisora.text.config import TextEncoderConfig
from minisora.text.encoder import shared_encoder
from minisora.text.object_slots import SLOT_NORM, phrase_vectors
from minisora.world import vocabulary as V
from minisora.world.captions import write_caption, write_prompt
from minisora.world.grammar import parse
from minisora.world.scenes import sample_scene
from minisora.world.slots import FIELD_WEIGHTS, field_words, object_fields, scene_slots, text_slots

L = 24


@pytest.fixture(scope="module")
def encoder():
    return shared_encoder(TextEncoderConfig(max_length=L, object_slots=3))


def test_object_fields_follow_the_caption_order():
    text = ("Three shapes on a black background: a small yellow triangle glides quickly toward the lower "
            "right, a large purple square travels slowly up, and a white circle does not move.")
    objs = object_fields(parse(text))
    assert [o["shape"] for o in objs] == ["triangle", "square", "circle"]
    assert [o["motion"] for o in objs] == ["down-right", "up", "still"]
    assert objs[1] == {"size": "large", "color": "purple", "shape": "square", "motion": "up", "speed": "slow"}


def test_slots_follow_the_caption_tokens_and_leave_them_unchanged(encoder):
    texts = ["a red circle moves left", "a red star moves up and a blue square moves down", "hello world"]
    emb = encoder.encode(texts, slots=text_slots(texts))
    plain = shared_encoder(TextEncoderConfig(max_length=L)).encode(texts)
    assert emb.tokens.shape == (3, L + 3, 384) and emb.mask.shape == (3, L + 3)
    assert torch.equal(emb.tokens[:, :L], plain.tokens) and torch.equal(emb.mask[:, :L], plain.mask)
    assert torch.equal(emb.pooled, plain.pooled)
    # one slot per named object; free text outside the vocabulary gets none
    assert emb.mask[:, L:].tolist() == [[True, False, False], [True, True, False], [False, False, False]]
    slots = emb.tokens[:, L:][emb.mask[:, L:]]  # (3, D): the three named objects
    assert torch.allclose(slots.norm(dim=-1), torch.full((3,), SLOT_NORM))
    assert emb.tokens[:, L:][~emb.mask[:, L:]].abs().max() == 0


def test_the_encoder_asks_for_slots_and_refuses_them_without_room(encoder):
    with pytest.raises(ValueError, match="appends 3 object slots: pass slots="):
        encoder.encode(["a red circle moves left"])
    plain = shared_encoder(TextEncoderConfig(max_length=L))
    with pytest.raises(ValueError, match="object_slots=0"):
        plain.encode(["a red circle"], slots=text_slots(["a red circle"]))
    with pytest.raises(ValueError, match="slots are given for 2 texts, the batch has 1"):
        encoder.encode(["a red circle"], slots=text_slots(["a red circle", "a blue star"]))


def test_a_slot_depends_on_the_object_not_on_the_phrasing(encoder):
    def enc(text):
        return encoder.encode(text, slots=text_slots([text]))

    a = enc("On a navy background, a small red circle glides slowly to the left.")
    b = enc("A slow small red circle travels from the right side toward the left. There is no occluder.")
    c = enc("On a navy background, a small red circle glides slowly to the right.")
    assert torch.allclose(a.tokens[0, L], b.tokens[0, L], atol=1e-5)
    # direction weighs enough that left and right slots are far apart (the words' states are not)
    assert torch.nn.functional.cosine_similarity(a.tokens[0, L], c.tokens[0, L], dim=0) < 0.85


def _string_parsing_slots(encoder, texts: list[str], num_slots: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The slots as the encoder built them before the scene was passed in: it parsed each caption
    itself and looked its objects up in a table of the world's vocabulary (the bundled transformer
    was trained on these numbers)."""
    table = {}
    for f, values in {"size": list(V.SIZES), "color": list(V.COLORS), "shape": list(V.SHAPES),
                      "motion": list(V.MOTIONS), "speed": list(V.SPEEDS)}.items():
        v = phrase_vectors(*encoder._phrase_states([field_words(f, x) for x in values]))
        v = v - v.mean(0)
        v = v / v.norm(dim=-1, keepdim=True).clamp(min=1e-6)
        table.update({(f, x): v[i] for i, x in enumerate(values)})
    slots = torch.zeros(len(texts), num_slots, encoder.dim)
    mask = torch.zeros(len(texts), num_slots, dtype=torch.bool)
    for b, text in enumerate(texts):
        k = 0
        for obj in parse(text).objects[:num_slots]:
            fields = {f: getattr(obj, f) for f in ("color", "shape", "size", "motion", "speed") if getattr(obj, f)}
            parts = [FIELD_WEIGHTS[f] * table[(f, v)] for f, v in fields.items() if (f, v) in table]
            if parts:
                v = torch.stack(parts).sum(0)
                slots[b, k], mask[b, k] = v * (SLOT_NORM / v.norm().clamp(min=1e-6)), True
                k += 1
    return slots, mask


def test_slots_from_the_parsed_scene_equal_the_string_parsing_path(encoder):
    rng = np.random.default_rng(7)
    texts = []
    for _ in range(60):
        spec = sample_scene(rng, "any")
        texts += [write_caption(spec, rng), write_prompt(spec, rng)]
    texts += ["a five-pointed star drifting left", "hello world", "two red things and a blue one"]
    new = encoder.encode(texts, slots=scene_slots([parse(t) for t in texts]))
    old_slots, old_mask = _string_parsing_slots(encoder, texts, 3)
    assert torch.equal(new.mask[:, L:], old_mask)
    assert torch.equal(new.tokens[:, L:], old_slots)  # bit for bit
    assert old_mask.sum() > 150  # the texts do name objects


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
