"""Rewriting through any OpenAI-compatible chat-completions endpoint (the official `openai` SDK).

OpenAI itself, or local servers that speak the same protocol (Ollama: base URL
http://localhost:11434/v1, vLLM: http://localhost:8000/v1, llama.cpp server, ...). Base URL, model
and key come from `OpenAIConfig`, else from MINISORA_OPENAI_BASE_URL / MINISORA_OPENAI_MODEL /
MINISORA_OPENAI_API_KEY, else from the SDK's OPENAI_BASE_URL / OPENAI_API_KEY.

The request carries a system message describing the world's vocabulary and few-shot (prompt,
caption) pairs written from training-split scenes, so the model answers in the caption language the
video model knows. Each reply gets the builtin rewriter's check (valid caption, every stated
attribute kept); a reply that fails it is re-requested, and after `max_tries` the rule-based
expansion is used. Network errors, timeouts and malformed replies raise `RewriteError` with a clear
message, or fall back to the builtin rewriter when `fallback_to_builtin` is set.
"""

from __future__ import annotations

import os
import time

from minisora.world import vocabulary as V
from minisora.text.config import OpenAIConfig
from minisora.text.rewriter import BuiltinRewriter
from minisora.text.rewriting import (RewriteError, RewriteResult, default_mapper, fallback_rewrite, fit_prompt,
                                     result_from_check, with_fit)
from minisora.world.rules import check_caption, make_pairs
from minisora.world.normalize import WordMapper

# Few-shot examples are drawn from this seed's training pairs (fixed: the same request every time).
FEW_SHOT_SEED = 1234


def system_message() -> str:
    return (
        "You rewrite short prompts for a text-to-video model into one dense, descriptive caption.\n"
        "The world: 1 to 3 flat shapes on a plain background, seen by a static camera.\n"
        f"Colours: {', '.join(V.COLORS)}. Shapes: {', '.join(V.SHAPES)}. Sizes: {', '.join(V.SIZES)}.\n"
        f"Motions: moving {', '.join(V.DIRECTIONAL_MOTIONS)}, bouncing, or staying still. "
        f"Speeds: {', '.join(V.SPEEDS)}.\n"
        f"Backgrounds: {', '.join(V.BACKGROUNDS)}. Optionally a brown vertical bar in the foreground.\n"
        "Rules: keep every attribute the prompt states; choose the unstated ones (size, colour, "
        "motion, speed, background, whether a bar is present) plausibly; each object has a "
        "different colour; use only the words of the examples; answer with the caption only."
    )


class OpenAIRewriter:
    def __init__(self, config: OpenAIConfig = OpenAIConfig(), mapper: WordMapper | None = None,
                 builtin_path=None, client=None):
        self.config = config
        self.base_url = config.base_url or os.environ.get("MINISORA_OPENAI_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
        self.model = config.model or os.environ.get("MINISORA_OPENAI_MODEL")
        api_key = config.api_key or os.environ.get("MINISORA_OPENAI_API_KEY") or os.environ.get("OPENAI_API_KEY")
        if not self.model:
            raise RewriteError("the openai rewriter needs a model name: --openai-model NAME or "
                               "MINISORA_OPENAI_MODEL (for example gpt-4o-mini, or llama3.2 on Ollama)")
        if not api_key:
            if self.base_url is None:
                raise RewriteError("the openai rewriter needs an API key for api.openai.com: --openai-api-key-file "
                                   "PATH or MINISORA_OPENAI_API_KEY / OPENAI_API_KEY (or --openai-base-url for a "
                                   "local server)")
            api_key = "not-needed"  # local servers ignore the key, but the SDK requires one
        if client is None:
            import openai

            client = openai.OpenAI(base_url=self.base_url, api_key=api_key, timeout=config.timeout,
                                   max_retries=config.max_retries)
        self.client = client
        self.mapper = mapper if mapper is not None else default_mapper()
        self.builtin_path = builtin_path
        self._builtin = None
        self.examples = make_pairs(config.few_shot, seed=FEW_SHOT_SEED, split="train")

    def messages(self, prompt: str, normalized: str) -> list[dict]:
        msgs = [{"role": "system", "content": system_message()}]
        for p, c in self.examples:
            msgs += [{"role": "user", "content": p}, {"role": "assistant", "content": c}]
        user = prompt if normalized.strip() == prompt.strip().lower() else \
            f"{prompt}\n(in the world's words: {normalized})"
        msgs.append({"role": "user", "content": user})
        return msgs

    def _where(self) -> str:
        return f"{self.base_url or 'https://api.openai.com/v1'} (model {self.model})"

    def _request(self, messages: list[dict], seed: int) -> str:
        """One chat completion; returns the reply text or raises RewriteError naming what went wrong."""
        import openai

        try:
            resp = self.client.chat.completions.create(model=self.model, messages=messages,
                                                       temperature=self.config.temperature, seed=seed,
                                                       max_tokens=300)
        except openai.APITimeoutError:
            raise RewriteError(f"openai rewriter: no reply from {self._where()} within "
                               f"{self.config.timeout:g} s (raise --openai-timeout, or check the server)") from None
        except openai.APIConnectionError as e:
            raise RewriteError(f"openai rewriter: cannot reach {self._where()}: {e.__cause__ or e}") from None
        except openai.APIStatusError as e:
            raise RewriteError(f"openai rewriter: {self._where()} answered HTTP {e.status_code}: "
                               f"{str(e.message)[:300]}") from None
        except (openai.APIResponseValidationError, ValueError) as e:
            raise RewriteError(f"openai rewriter: malformed reply from {self._where()}: {e}") from None
        try:
            content = resp.choices[0].message.content
        except (AttributeError, IndexError, KeyError, TypeError):
            raise RewriteError(f"openai rewriter: malformed reply from {self._where()}: no "
                               f"choices[0].message.content in {str(resp)[:300]!r}") from None
        if not isinstance(content, str) or not content.strip():
            raise RewriteError(f"openai rewriter: malformed reply from {self._where()}: empty content")
        return _clean(content)

    def rewrite(self, prompt: str, seed: int = 0) -> RewriteResult:
        t0 = time.perf_counter()
        norm, fit = fit_prompt(self.mapper.normalize(prompt))
        messages = self.messages(prompt, norm.text)
        notes: list[str] = []
        try:
            for attempt in range(self.config.max_tries):
                caption = self._request(messages, seed + attempt)
                check = check_caption(norm.parsed, caption)
                if check.ok:
                    return with_fit(result_from_check(caption, check, norm, "openai", attempt + 1, notes, t0), fit)
                notes.append(f"reply {attempt + 1} rejected: " +
                             "; ".join(check.problems + [f"lost {x}" for x in check.lost]))
        except RewriteError as e:
            if not self.config.fallback_to_builtin:
                raise
            result = self.builtin().rewrite(prompt, seed)
            result.path = f"openai failed → {result.path}"
            result.notes = [str(e)] + result.notes
            return result
        return with_fit(fallback_rewrite(norm, seed, t0, self.config.max_tries, notes), fit)

    def builtin(self):
        if self._builtin is None:
            self._builtin = BuiltinRewriter(self.builtin_path, mapper=self.mapper)
        return self._builtin


def _clean(text: str) -> str:
    """Strip what chat models wrap answers in: quotes, a 'Caption:' label, extra paragraphs."""
    text = text.strip().split("\n\n")[0].strip()
    for label in ("caption:", "rewritten caption:", "rewrite:"):
        if text.lower().startswith(label):
            text = text[len(label):].strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        text = text[1:-1].strip()
    return text
