"""`minisora serve` limits: the bearer key, the queue length (429) and the expiry of finished jobs.

A server of its own: API key, a queue of one job, finished jobs kept 2 seconds.
"""

from __future__ import annotations

import time

import pytest

from serve_helpers import running_server

openai = pytest.importorskip("openai", minversion="2.27")
httpx = pytest.importorskip("httpx")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
KEY = "sk-local-test-key"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    key_file = tmp_path_factory.mktemp("secret") / "key.txt"
    key_file.write_text(KEY + "\n")  # from a file, not the command line (minisora.secrets)
    with running_server(tmp_path_factory.mktemp("serve-limits"), "--api-key-file", str(key_file), "--max-queue", "1",
                        "--ttl-seconds", "2", "--cleanup-every", "0.5", "--poll-after-ms", "50") as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.api, api_key=KEY, max_retries=0)


def test_the_api_needs_the_key_and_the_page_does_not(server, client):
    with pytest.raises(openai.AuthenticationError) as info:
        openai.OpenAI(base_url=server.api, api_key=KEY + "x", max_retries=0).videos.list()
    assert info.value.body["code"] == "invalid_api_key"
    for headers in ({}, {"Authorization": f"Basic {KEY}"}, {"Authorization": "Bearer sk-other"}, {"Authorization": KEY}):
        r = httpx.get(server.api + "/videos", headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] in ("missing_api_key", "invalid_api_key"), headers
    assert httpx.get(server.url + "/").status_code == 200  # the page itself is public; it asks for the key
    assert client.videos.list().data == []


def test_a_full_queue_answers_429_and_deleting_a_running_job_frees_it(server, client):
    long = client.videos.create(prompt="a red circle moving right", seconds="4", extra_body={"num_inference_steps": 100})
    with pytest.raises(openai.RateLimitError) as info:
        client.videos.create(prompt="a red circle moving right", seconds="1")
    assert info.value.body["code"] == "queue_full" and info.value.response.headers["retry-after"]
    while client.videos.retrieve(long.id).progress == 0:  # running now
        time.sleep(0.05)
    client.videos.delete(long.id)  # the worker drops it at its next step
    quick = client.videos.create_and_poll(prompt="a red circle moving right", seconds="1", extra_body={"num_inference_steps": 1})
    assert quick.status == "completed"
    assert not (server.data / "videos" / long.id).exists()


def test_finished_jobs_expire_with_their_files(server, client):
    video = client.videos.create_and_poll(prompt="a blue square", seconds="1", extra_body={"num_inference_steps": 1})
    assert video.expires_at - video.completed_at == 2
    folder = server.data / "videos" / video.id
    assert (folder / "video.mp4").is_file()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            client.videos.retrieve(video.id)
        except openai.NotFoundError:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the finished job did not expire")
    assert not folder.exists()
