"""The prompt rewriter: word mapping, the attribute check, the builtin LM on held-out combinations,
the rule-based fallback, and the CLI."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from minisora.world.grammar import parse
from minisora.world.captions import write_prompt
from minisora.world.scenes import sample_scene
from minisora.text.config import RewriterConfig, RewriterLMConfig
from minisora.text.lm import RewriterLM, WordTokenizer, generate
from minisora.text.backends import load_rewriter
from minisora.text.rewriter import DEFAULT_REWRITER_DIR, BuiltinRewriter, NoneRewriter
from minisora.text.rewriting import RewriteError
from minisora.world.rules import canonical_prompt, check_caption, expand, make_pairs
from minisora.text.color_names import ColorNames
from minisora.world.lexicon import (ADVERBIAL_SLOT, CURATED, MOVE, NOUN_SLOT, OUTSIDE_WORLD, STOP_WORDS, TERM_CATEGORY,
                                    slot_categories)
from minisora.world.normalize import WordMapper

SHIPPED = (DEFAULT_REWRITER_DIR / "model.safetensors").is_file()


# -- word mapping -------------------------------------------------------------------------------

def test_curated_and_form_mapping_without_encoder():
    m = WordMapper(encoder=None)
    n = m.normalize("crimson ball drifting to the left")
    assert n.parsed.attributes() == {("obj0.color", "red"), ("obj0.shape", "circle"),
                                     ("obj0.motion", "left"), ("count", 1)}
    assert [(x.word, x.term, x.how) for x in n.mapped] == [("crimson", "red", "curated")]
    n = m.normalize("a bluish cube rising on a charcoal background")
    assert n.parsed.attributes() >= {("obj0.color", "blue"), ("obj0.shape", "square"),
                                     ("obj0.motion", "up"), ("background", "gray")}
    # "scarlet red" must not become two objects
    assert len(m.normalize("a scarlet red star").parsed.objects) == 1


def test_unmapped_words_are_reported_not_dropped():
    m = WordMapper(encoder=None)
    n = m.normalize("please show a red circle and a zorblax moving left")
    assert n.unmapped == ["zorblax"]  # "please"/"show" are stop-words, ignored
    n = m.normalize("a red background")
    assert n.unmapped == ["red background"]  # not one of the world's backgrounds


def test_embedding_nearest_neighbour():
    from minisora.text.encoder import shared_encoder

    m = WordMapper(encoder=shared_encoder, threshold=0.5, wordnet=None)  # the thesaurus step would come first
    # "globule" is in no table and no word form of one: only MiniLM's neighbours place it
    assert "globule" not in CURATED and m.word_form("globule") is None
    term, how, score = m.map_word("globule", NOUN_SLOT)
    assert (term, how) == ("circle", "embedding") and score > 0.45
    assert m.map_word("torpid", ADVERBIAL_SLOT)[:2] == ("slow", "embedding")
    assert WordMapper(encoder=shared_encoder, threshold=0.99, wordnet=None).map_word("globule", NOUN_SLOT)[1] == "unmapped"


def test_unseen_word_forms_resolve_without_encoder():
    """Derived and compound forms of lexicon words resolve by rule, with no table entry of their own."""
    m = WordMapper(encoder=None)
    cases = {"northbound": "up", "groundward": "down", "downstream": "down", "conical": "triangle",
             "cubelike": "square", "snowball": "circle", "toolbox": "square", "skyblue": "blue",
             "limeish": "green", "crimsonish": "red", "olivey": "green", "tinier": "small", "boxes": "square"}
    for word, term in cases.items():
        assert word not in CURATED, word  # else this would test the table, not the rules
        assert m.map_word(word) == (term, "form", 1.0), word
    # inflected words are not split into compounds: "soaring" does not end in a "ring"
    assert m.word_form("soaring") is None and m.word_form("spring") is None
    n = m.normalize("a crimsonish snowball heading northbound")
    assert n.parsed.attributes() == {("obj0.color", "red"), ("obj0.shape", "circle"), ("obj0.motion", "up"),
                                     ("count", 1)}


def test_made_up_and_out_of_world_words_are_reported():
    from minisora.text.encoder import shared_encoder

    for m in (WordMapper(encoder=None), WordMapper(encoder=shared_encoder)):
        n = m.normalize("a glorbish ball")
        assert n.unmapped == ["glorbish"] and n.parsed.objects[0].shape == "circle"
        assert "glorbish" not in [x.word for x in n.mapped]
        # a shape the world lacks is reported, not guessed from its neighbours
        n = m.normalize("a red hexagon spinning")
        assert set(n.unmapped) == {"hexagon", "spinning"} and not n.mapped


def test_on_color_background_is_not_a_second_object():
    m = WordMapper(encoder=None)
    n = m.normalize("a crimson circle on ivory")
    assert [(o.color, o.shape) for o in n.parsed.objects] == [("red", "circle")]
    assert n.unmapped == ["white background"]  # white is no background the world has: reported
    n = m.normalize("a crimson circle on charcoal")
    assert n.parsed.background == "gray" and len(n.parsed.objects) == 1


def test_colour_shades_stay_one_colour():
    m = WordMapper(encoder=None)
    # a light blue is the world's cyan (its blue is a deep one): one colour all the same
    for prompt, color in (("a light blue ball", "cyan"), ("a cherry red cube", "red"), ("a pale scarlet star", "red")):
        n = m.normalize(prompt)
        assert [o.color for o in n.parsed.objects] == [color], (prompt, n.text)


def test_colour_dictionary_names_are_placed_by_their_colour():
    """Colour names in no table of ours are looked up in the xkcd/CSS dictionaries and placed on the
    palette by their RGB; grey names (no object is grey) and names between two colours are reported."""
    m = WordMapper(encoder=None)
    for prompt, color in (("a celadon cube", "green"), ("an azul star", "blue"), ("a carnation ring", "red"),
                          ("a custard star", "yellow"), ("a terra cotta ball", "orange")):
        n = m.normalize(prompt)
        assert [o.color for o in n.parsed.objects] == [color] and not n.unmapped, (prompt, n.text)
        assert n.mapped[0].how == "color name" and n.mapped[0].word not in CURATED
    assert m.normalize("a bland ball").unmapped == ["bland"]  # an xkcd grey: no object colour
    assert m.normalize("a ball on a bland background").parsed.background == "gray"  # a background colour
    n = m.normalize("a palegoldenrod star")  # its neighbours split between orange and yellow
    assert n.unmapped == ["palegoldenrod"] and n.parsed.objects[0].color is None
    # a dictionary name before a colour word is a shade of it ("burnt sienna"), not a second object
    n = m.normalize("a burnt sienna cube")
    assert [o.color for o in n.parsed.objects] == ["orange"] and not n.unmapped


def test_colour_dictionary_is_consulted_only_where_a_colour_may_stand():
    m = WordMapper(encoder=None)
    assert "dusk" in m.color_names and "earth" in m.color_names  # xkcd colours, but not here:
    for prompt in ("a red ball at dusk", "a red ball falling to earth"):
        n = m.normalize(prompt)
        assert [o.color for o in n.parsed.objects] == ["red"], (prompt, n.text)
        assert not [x for x in n.mapped if x.how == "color name"], n.mapped
    # an unknown word after a colour name is the noun: "a large celadon slab" is a green something
    words = "a large celadon slab gliding left".split()
    assert slot_categories(words, 2, {"celadon", "slab"}) >= {"color"}
    assert slot_categories(words, 3, {"celadon", "slab"}, {"celadon": "green"}) == NOUN_SLOT
    assert m.normalize("a large celadon slab gliding left").parsed.objects[0].color == "green"


def test_colour_dictionary_agrees_with_the_lexicon_leave_one_out():
    """The dictionaries generalise: each lexicon colour word they hold, its own label withheld, is
    placed from the survey's other names mostly as the hand-written lexicon has it (MiniLM's nearest
    neighbours manage under half)."""
    m = WordMapper(encoder=None)
    words = [w for w, t in CURATED.items()
             if TERM_CATEGORY.get(t) in ("color", "background") and w in m.color_names]
    verdicts = [ColorNames(lambda x, w=w: None if x == w else m.palette_term(x)).lookup(w, TERM_CATEGORY)
                for w in words]
    agree = sum(v.term == CURATED[w] for w, v in zip(words, verdicts))
    differ = sum(v.term not in (None, CURATED[w]) for w, v in zip(words, verdicts))
    assert len(words) > 100
    assert agree >= 0.8 * len(words) and differ <= 0.15 * len(words), (agree, differ, len(words))


def test_phrase_words_wait_for_their_neighbours():
    """"upper" is known to the parser only in a phrase; mapped on its own ("up") it would break
    "toward the upper <direction word>"."""
    m = WordMapper(encoder=None)
    for prompt, motion in (("a red star moving toward the upper westward", "up-left"),
                           ("a blue ball drifting toward the lower eastward", "down-right")):
        n = m.normalize(prompt)
        assert n.parsed.objects[0].motion == motion and not n.unmapped, (prompt, n.text)


def test_lexicon_is_consistent():
    assert not (STOP_WORDS | OUTSIDE_WORLD) & set(CURATED)
    assert set(CURATED.values()) <= set(TERM_CATEGORY) | {MOVE}
    assert len(CURATED) > 500  # broad on purpose: users do not type our 30 terms


# -- the check and the rule-based expansion -------------------------------------------------------

def test_check_caption_detects_lost_and_filled_attributes():
    stated = parse("a red star moving up and a blue circle")
    good = "Against a black background, a small blue circle stays still, and a large red star moves slowly upward. Nothing blocks the view."
    c = check_caption(stated, good)
    assert c.ok, c
    assert "obj0.color=red" in c.kept and "obj1.shape=circle" in c.kept
    assert "background=black" in c.filled
    bad = good.replace("red star", "red square")
    c = check_caption(stated, bad)
    assert not c.ok and c.lost == ["obj0.shape=star"]
    invalid = "A small blue circle stays still."  # no background, one object missing
    assert not check_caption(stated, invalid).valid


def test_expand_keeps_every_stated_attribute_on_heldout_prompts():
    rng = np.random.default_rng(3)
    for _ in range(40):
        spec = sample_scene(rng, "heldout")
        stated = parse(write_prompt(spec, rng))
        assert check_caption(stated, expand(stated, seed=int(rng.integers(1000)))).ok


def test_canonical_prompt_is_phrasing_independent():
    a = canonical_prompt(parse("a small red ball going left quickly on a navy background"))
    b = canonical_prompt(parse("small red circle moving toward the left at a fast pace, navy background"))
    assert a == b == "obj small red circle left fast background navy"


# -- the language model ---------------------------------------------------------------------------

def test_kv_cache_matches_full_forward():
    cfg = dataclasses.replace(RewriterLMConfig.preset("debug"), vocab_size=50)
    torch.manual_seed(0)
    model = RewriterLM(cfg).eval()
    ids = torch.randint(5, 50, (2, 12))
    full = model(ids)  # (B,N,V)
    caches = model.new_caches(2, 12, torch.float32, "cpu")
    out = [model(ids[:, :8], caches, 0)]
    for j in range(8, 12):
        out.append(model(ids[:, j:j + 1], caches, j))
    torch.testing.assert_close(torch.cat(out, 1), full, atol=1e-5, rtol=1e-4)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    a = generate(model, [1, 5, 6, 2], num_samples=3, max_new_tokens=6, eos=3, generator=g1)
    b = generate(model, [1, 5, 6, 2], num_samples=3, max_new_tokens=6, eos=3, generator=g2)
    assert a == b  # same seed, same samples


def test_tokenizer_round_trip_with_merges():
    pairs = make_pairs(300, seed=5)
    tok = WordTokenizer.build([p for p, _ in pairs], [c for _, c in pairs], num_merges=60)
    for _, c in pairs[:50]:
        ids = tok.encode(c)
        assert tok.decode(ids) == c
        assert len(ids) < len(tok.encode(c, merge=False))
    assert WordTokenizer.from_state(tok.state()).encode(pairs[0][1]) == tok.encode(pairs[0][1])


def _untrained_rewriter() -> BuiltinRewriter:
    pairs = make_pairs(200, seed=1)
    tok = WordTokenizer.build([canonical_prompt(parse(p)) for p, _ in pairs], [c for _, c in pairs])
    torch.manual_seed(0)
    model = RewriterLM(dataclasses.replace(RewriterLMConfig.preset("debug"), vocab_size=len(tok)))
    return BuiltinRewriter(model=model, tokenizer=tok, mapper=WordMapper(encoder=None),
                           config=RewriterConfig(candidates=2, max_tries=1, max_new_tokens=24))


def test_fallback_path_when_the_lm_fails():
    """An untrained LM writes word salad: every sample is rejected and the rule-based expansion
    takes over, keeping every stated attribute and saying which path was taken."""
    rw = _untrained_rewriter()
    r = rw.rewrite("a large crimson star moving up quickly on a gray background", seed=4)
    assert r.path == "rule-based"
    assert r.attempts == 3 and "rejected" in r.notes[0]
    assert {"obj0.color=red", "obj0.shape=star", "obj0.size=large", "obj0.motion=up", "obj0.speed=fast",
            "background=gray"} <= set(r.kept)
    assert check_caption(parse("a large red star moving up quickly on a gray background"), r.caption).ok
    assert rw.rewrite("a large crimson star moving up quickly on a gray background", seed=4).caption == r.caption


def test_prompts_the_world_cannot_hold_are_fitted_to_it_and_what_went_is_reported():
    """"two blue squares", "five red circles", four objects: the nearest drawable scene, never an
    error, and every attribute given up is in `lost` with the reason in `notes`."""
    rw = _untrained_rewriter()
    r = rw.rewrite("five red circles")
    scene = r.scene
    assert len(scene.objects) == 3 and all(o.shape == "circle" for o in scene.objects)
    assert len({o.color for o in scene.objects}) == 3 and "red" in {o.color for o in scene.objects}
    assert {"obj1.color=red", "obj2.color=red", "count=5"} <= set(r.lost) and "obj0.color=red" in r.kept
    assert any("1 to 3" in n for n in r.adjusted) and any("distinct colours" in n for n in r.adjusted)
    r = rw.rewrite("a red circle, a green square, a blue triangle and a yellow star")
    assert [o.color for o in r.scene.objects] == ["red", "green", "blue"]
    assert {"obj3.color=yellow", "obj3.shape=star"} <= set(r.lost) and "obj2.shape=triangle" in r.kept
    r = rw.rewrite("a red circle and a red star")
    assert sorted(o.shape for o in r.scene.objects) == ["circle", "star"] and r.lost == ["obj1.color=red"]
    assert "object 2 (red) gets another colour" in r.summary()
    from minisora.generate_cli import rewrite_warnings  # what `minisora generate` prints under the caption

    shown = rewrite_warnings(rw.rewrite("a red circle and a red hexagon moving left").to_dict())
    assert shown == ["not understood (ignored): hexagon", "not kept: obj1.color=red",
                     "adjusted: objects in a scene have distinct colours: object 2 (red) gets another colour"], shown
    r = rw.rewrite("two shapes: a red star, a blue circle and a green square")
    assert len(r.scene.objects) == 3 and r.lost == ["count=2"] and "says 2 objects but describes 3" in r.adjusted[0]
    ok = rw.rewrite("a red circle and a blue star")
    assert ok.lost == [] and ok.adjusted == []
    with pytest.raises(ValueError, match="non-empty"):
        rw.rewrite("   ")
    with pytest.raises(ValueError, match="valid: builtin, openai, none"):
        load_rewriter("gpt")


def test_none_backend_passes_the_prompt_through():
    r = NoneRewriter().rewrite("red ball going left")
    assert r.caption == "red ball going left" and r.path == "none" and "obj0.color=red" in r.kept


@pytest.mark.skipif(not SHIPPED, reason="shipped rewriter weights not trained yet")
def test_shipped_rewriter_keeps_attributes_on_heldout_combinations():
    rw = load_rewriter("builtin")
    rng = np.random.default_rng(11)
    lm_ok = 0
    n = 16
    for i in range(n):
        spec = sample_scene(rng, "heldout")  # every scene holds a combination never trained on
        prompt = write_prompt(spec, rng)
        r = rw.rewrite(prompt, seed=i)
        stated = parse(prompt)
        assert check_caption(stated, r.caption).ok, (prompt, r)
        assert not r.unmapped
        lm_ok += r.path == "builtin"
    assert lm_ok >= 0.75 * n  # the LM itself, not the fallback, handles most held-out prompts
    # same seed, same rewrite; another seed, (usually) another phrasing
    p = "red star moving up"
    assert rw.rewrite(p, seed=1).caption == rw.rewrite(p, seed=1).caption
    assert len({rw.rewrite(p, seed=s).caption for s in range(3)}) > 1


@pytest.mark.skipif(not SHIPPED, reason="shipped rewriter weights not trained yet")
def test_unstated_sizes_are_filled_with_the_configured_size():
    """An object whose prompt names no size is shown at `unstated_size` (reported as filled) in scenes
    of up to `unstated_size_up_to` objects; a stated size always wins; "" leaves the choice to the LM,
    as its training captions do, and so do crowded scenes."""
    rw = load_rewriter("builtin")
    prompt = "a yellow star and a small blue circle moving left"
    for seed in range(4):
        r = rw.rewrite(prompt, seed=seed)
        scene = parse(r.caption)
        assert [o.size for o in scene.objects] == ["large", "small"], r.caption
        assert "obj0.size=large" in r.filled and "obj1.size=small" in r.kept
    free = load_rewriter("builtin", unstated_size="")
    sizes = {parse(free.rewrite("a yellow star", seed=s).caption).objects[0].size for s in range(12)}
    assert sizes == {"small", "large"}
    crowded = "a yellow star, a blue circle and a red square"
    sizes = {o.size for s in range(4) for o in parse(rw.rewrite(crowded, seed=s).caption).objects}
    assert sizes == {"small", "large"}
    with pytest.raises(ValueError, match="unstated_size='medium' is not valid"):
        RewriterConfig(unstated_size="medium")
    with pytest.raises(ValueError, match="unstated_size_up_to=-1"):
        RewriterConfig(unstated_size_up_to=-1)


@pytest.mark.skipif(not SHIPPED, reason="shipped rewriter weights not trained yet")
def test_rewrite_cli_prints_kept_filled_unmapped(capsys):
    from minisora.cli import main

    assert main(["rewrite", "crimson ball drifting to the left and a zorblax", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "kept:" in out and "obj0.color=red" in out and "filled:" in out
    assert "unmapped: zorblax" in out and "crimson→red" in out


def test_decode_step_matches_module_forward():
    from minisora.text.lm import decode_step

    cfg = dataclasses.replace(RewriterLMConfig.preset("debug"), vocab_size=40)
    torch.manual_seed(1)
    model = RewriterLM(cfg).eval()
    ids = torch.randint(5, 40, (3, 9))
    full = model(ids)[:, -1]  # (B,V)
    caches = model.new_caches(3, 9, torch.float32, "cpu")
    model(ids[:, :8], caches, 0)
    torch.testing.assert_close(decode_step(model, ids[:, 8:9], caches, 8), full, atol=1e-5, rtol=1e-4)


def test_save_pretrained_round_trip(tmp_path):
    rw = _untrained_rewriter()
    rw.save_pretrained(tmp_path / "rw")
    again = BuiltinRewriter(tmp_path / "rw", mapper=WordMapper(encoder=None), config=rw.config)
    assert again.tokenizer.words == rw.tokenizer.words
    # bf16 release: the reloaded model equals the original rounded to bf16
    for (k, a), (_, b) in zip(rw.model.state_dict().items(), again.model.state_dict().items()):
        torch.testing.assert_close(b, a.to(torch.bfloat16).float(), msg=k)
