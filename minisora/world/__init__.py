"""The MovingShapes world, fenced off: the only package that knows shapes and colours.

- `vocabulary.py`: the world's words and values (colours, shapes, sizes, motions, speeds, backgrounds)
  and the phrasing tables the caption writer and the parser share;
- `spec.py`: `SceneSpec`, the exact ground truth of a clip; `scene.py`: `ParsedScene`, what a text states;
- `grammar.py`: the parser (text -> ParsedScene), `parse_state.py` its state; `captions.py`: the writer
  (SceneSpec -> caption, prompt);
- `render.py`: the renderer; `scenes.py`: scene sampling and completion, `visibility.py` the promises it
  checks (objects in view, bounces seen); `dataset.py`: clips on the fly;
- `phrases.py`: tokens and the phrase table, `rewrites.py` the phrasings said again in plain form before
  the words are split; `corrections.py`, `edits.py`, `comparisons.py`: corrections, edits and comparisons
  said inside a prompt;
- `lexicon.py`, `spelling.py`, `thesaurus.py`, `normalize.py`: the prompt normaliser (user words ->
  the world's words, or reported as unmapped); `rules.py`: the caption check and rule-based rewrite;
- `slots.py`: the objects of a parsed scene as object-slot fields for the (world-free) text encoder;
- `paraphrase.py`: an independent paraphrase test set for the rewriter;
- `judge/`: the weights-free judge (analysis, measurement, scoring, self-test).
"""
