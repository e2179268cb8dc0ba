"""The openai backend against a local HTTP server on 127.0.0.1 speaking the chat-completions protocol."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from minisora.world.grammar import parse
from minisora.text.config import OpenAIConfig
from minisora.text.openai_backend import OpenAIRewriter
from minisora.text.rewriting import RewriteError
from minisora.world.rules import check_caption
from minisora.world.normalize import WordMapper

GOOD = "A small red circle glides slowly to the left across a black background. Nothing blocks the view."
LOSES_COLOR = "A small blue circle glides slowly to the left across a black background. Nothing blocks the view."


class ChatServer:
    """A scripted chat-completions server: each request pops the next behaviour from `script`."""

    def __init__(self):
        self.script: list[tuple[str, object]] = []
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "body": body,
                                        "auth": self.headers.get("Authorization")})
                kind, value = server.script.pop(0) if server.script else ("reply", GOOD)
                if kind == "sleep":
                    time.sleep(value)
                    kind, value = "reply", GOOD
                if kind == "reply":
                    payload = json.dumps({
                        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": value}}],
                    }).encode()
                    status = 200
                elif kind == "json":
                    payload, status = json.dumps(value).encode(), 200
                elif kind == "raw":
                    payload, status = value.encode(), 200
                else:  # ("status", code)
                    payload, status = json.dumps({"error": {"message": "model overloaded"}}).encode(), value
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # port 0: a free random port
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = ChatServer()
    yield s
    s.close()


def make(server: ChatServer, **kw) -> OpenAIRewriter:
    cfg = OpenAIConfig(base_url=server.url, model="tiny-local", api_key="sk-test", timeout=kw.pop("timeout", 5.0),
                       **kw)
    return OpenAIRewriter(cfg, mapper=WordMapper(encoder=None))


def test_reply_is_checked_and_accepted(server):
    r = make(server).rewrite("crimson ball drifting to the left", seed=3)
    assert r.path == "openai" and r.caption == GOOD
    assert {"obj0.color=red", "obj0.shape=circle", "obj0.motion=left"} <= set(r.kept)
    assert "background=black" in r.filled
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-test"
    body = req["body"]
    assert body["model"] == "tiny-local" and body["seed"] == 3
    msgs = body["messages"]
    assert msgs[0]["role"] == "system" and "circle" in msgs[0]["content"]
    # few-shot pairs from training captions: user prompt / assistant caption, then the real prompt
    assert len(msgs) == 1 + 2 * OpenAIConfig().few_shot + 1
    assert all(check_caption(parse(msgs[i]["content"]), msgs[i + 1]["content"]).ok for i in range(1, len(msgs) - 1, 2))
    assert "crimson ball" in msgs[-1]["content"] and "red" in msgs[-1]["content"]


def test_reply_that_loses_an_attribute_is_retried_then_falls_back(server):
    server.script = [("reply", LOSES_COLOR), ("reply", GOOD)]
    r = make(server).rewrite("red ball going left")
    assert r.path == "openai" and r.attempts == 2 and "lost obj0.color=red" in r.notes[0]
    server.script = [("reply", LOSES_COLOR), ("reply", "Sure! Here is a caption about a red thing.")]
    r = make(server).rewrite("red ball going left", seed=1)
    assert r.path == "rule-based" and len(r.notes) == 2
    assert check_caption(parse("red ball going left"), r.caption).ok


def test_timeout_gives_a_clear_error(server):
    server.script = [("sleep", 2.0)]
    t0 = time.time()
    with pytest.raises(RewriteError, match=r"no reply from http://127\.0\.0\.1:\d+/v1 \(model tiny-local\) within 0\.5 s"):
        make(server, timeout=0.5).rewrite("red ball going left")
    assert time.time() - t0 < 1.9  # gave up at the timeout, did not wait for the reply


def test_malformed_replies_give_a_clear_error(server):
    server.script = [("json", {"unexpected": "shape"})]
    with pytest.raises(RewriteError, match="malformed reply"):
        make(server).rewrite("red ball going left")
    server.script = [("raw", "this is not json")]
    with pytest.raises(RewriteError, match="malformed reply"):
        make(server).rewrite("red ball going left")
    server.script = [("status", 503)]
    with pytest.raises(RewriteError, match="HTTP 503"):
        make(server).rewrite("red ball going left")


def test_connection_refused_and_fallback_to_builtin_when_asked(server, monkeypatch):
    url = server.url
    server.close()  # nothing listens there any more
    cfg = OpenAIConfig(base_url=url, model="m", timeout=2.0)
    with pytest.raises(RewriteError, match="cannot reach"):
        OpenAIRewriter(cfg, mapper=WordMapper(encoder=None)).rewrite("red ball going left")

    class FakeBuiltin:  # stands in for the shipped weights, which this test does not need
        def rewrite(self, prompt, seed=0):
            from minisora.text.rewriting import fallback_rewrite
            return fallback_rewrite(WordMapper(encoder=None).normalize(prompt), seed, time.perf_counter(), 0, [])

    rw = OpenAIRewriter(OpenAIConfig(base_url=url, model="m", timeout=2.0, fallback_to_builtin=True),
                        mapper=WordMapper(encoder=None))
    monkeypatch.setattr(rw, "builtin", lambda: FakeBuiltin())
    r = rw.rewrite("red ball going left")
    assert r.path.startswith("openai failed → ") and "cannot reach" in r.notes[0]
    assert "obj0.color=red" in r.kept


def test_missing_model_name_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("MINISORA_OPENAI_MODEL", raising=False)
    with pytest.raises(RewriteError, match="needs a model name"):
        OpenAIRewriter(OpenAIConfig(base_url="http://127.0.0.1:9/v1"), mapper=WordMapper(encoder=None))
