"""`minisora serve` against the official openai SDK: every Videos call, typed errors, hostile input.

One real server process (bundled model, few sampling steps) serves the module; a second one, with an
API key, a one-job queue and a 2-second lifetime, tests auth, 429 and expiry.
"""

from __future__ import annotations

import io
import json
import time

import av
import numpy as np
import pytest
from PIL import Image

from minisora.io import contact_sheet
from serve_helpers import running_server

openai = pytest.importorskip("openai", minversion="2.27")  # client.videos.extend arrived in 2.27
httpx = pytest.importorskip("httpx")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK marks the Videos API deprecated
FAST = {"num_inference_steps": 2}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("serve"), "--max-request-mb", "1", "--max-seconds", "2",
                        "--poll-after-ms", "50") as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.api, api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def raw(server):
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def finished(client):
    video = client.videos.create_and_poll(prompt="a red circle moving right", seconds="1", size="80x48",
                                          extra_body={**FAST, "seed": 3})
    assert video.status == "completed", video.error
    return video


def decode_mp4(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def download(client, video_id: str, variant: str = "video") -> bytes:
    return client.videos.download_content(video_id, variant=variant).read()


def test_create_and_poll_then_download_every_variant(client, finished):
    assert (finished.size, finished.seconds, finished.progress, finished.model) == ("80x48", "1", 100, "minisora-tiny")
    assert finished.prompt == "a red circle moving right" and finished.completed_at >= finished.created_at
    assert finished.expires_at > finished.completed_at
    assert client.videos.retrieve(finished.id).model_dump() == finished.model_dump()
    frames = decode_mp4(download(client, finished.id))
    assert frames.shape == (9, 48, 80, 3)  # "1" second at 8 fps = 1 + 8 frames
    with Image.open(io.BytesIO(download(client, finished.id, "thumbnail"))) as im:
        assert (im.format, im.size) == ("WEBP", (80, 48))
        assert np.abs(np.asarray(im.convert("RGB"), float) - frames[0]).mean() < 12  # the first frame
    with Image.open(io.BytesIO(download(client, finished.id, "spritesheet"))) as im:
        assert im.format == "JPEG"
        assert im.size[::-1] == contact_sheet(frames).shape[:2]  # all 9 frames, in the io module's grid


def test_same_seed_makes_the_same_video(client, finished):
    again = client.videos.create_and_poll(prompt=finished.prompt, seconds="1", size="80x48", extra_body={**FAST, "seed": 3})
    assert download(client, again.id) == download(client, finished.id)


def test_progress_is_reported_at_each_step_with_a_poll_header(client, raw):
    video = client.videos.create(prompt="a green square moving down", seconds="1", extra_body={"num_inference_steps": 16})
    seen, headers = set(), set()
    while True:
        r = raw.get(f"/v1/videos/{video.id}")
        body = r.json()
        seen.add(body["progress"])
        if body["status"] == "completed":
            break
        headers.add(r.headers["openai-poll-after-ms"])
        time.sleep(0.02)
    assert headers == {"50"} and "openai-poll-after-ms" not in r.headers
    assert len({p for p in seen if 0 < p < 100}) >= 3, seen  # several intermediate steps were seen


def test_list_pages_through_every_video_once(client, raw, finished):
    for i in range(3):
        client.videos.create(prompt="a blue triangle moving up", seconds="1", extra_body={"num_inference_steps": 1})
    everything = [v["id"] for v in raw.get("/v1/videos", params={"limit": 100, "order": "asc"}).json()["data"]]
    assert len(everything) >= 4 and finished.id in everything
    first = client.videos.list(limit=2, order="asc")
    assert first.has_more and [v.id for v in first.data] == everything[:2]
    page = raw.get("/v1/videos", params={"limit": 2, "order": "asc", "after": everything[1]}).json()
    assert page["first_id"] == everything[2] and page["last_id"] == everything[3]
    assert [v.id for v in client.videos.list(limit=1, order="asc")] == everything  # the SDK follows after=last_id
    assert [v.id for v in client.videos.list(limit=3)] == everything[::-1]  # desc is the default


def test_remix_regenerates_from_the_original(client, finished):
    remix = client.videos.remix(finished.id, prompt="a red circle moving left")
    remix = client.videos.poll(remix.id)
    assert remix.status == "completed" and remix.remixed_from_video_id == finished.id
    assert (remix.size, remix.seconds, remix.prompt) == ("80x48", "1", "a red circle moving left")
    frames, original = decode_mp4(download(client, remix.id)), decode_mp4(download(client, finished.id))
    assert frames.shape == original.shape and not np.array_equal(frames, original)


def extend(client, video_id: str, prompt: str, seconds: str):
    """POST /videos/extensions with video={"id": ...}. Through the SDK's generic post: its `videos.extend`
    (3.63) accepts only an uploaded file for `video` and raises on the {"id": ...} form client-side."""
    from openai.types import Video

    return client.post("/videos/extensions", body={"prompt": prompt, "seconds": seconds, "video": {"id": video_id}},
                       cast_to=Video)


def test_extension_continues_a_finished_video(client, finished):
    ext = client.videos.poll(extend(client, finished.id, "a red circle moving left", "1").id)
    assert ext.status == "completed", ext.error
    assert ext.seconds == "2"  # the stitched total: 1 s + 1 s
    frames, original = decode_mp4(download(client, ext.id)), decode_mp4(download(client, finished.id))
    assert frames.shape == (17, 48, 80, 3)
    assert np.abs(frames[:9].astype(float) - original).mean() < 2  # the original, then the new frames


def test_image_to_video_starts_from_the_reference(client):
    yy, xx = np.mgrid[0:64, 0:64]
    image = np.stack([xx * 4, yy * 4, np.full_like(xx, 128)], -1).astype(np.uint8)  # a colour ramp
    image[16:40, 20:44] = (250, 30, 30)  # with a red block on it
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    video = client.videos.create_and_poll(prompt="a white square", seconds="1", size="64x64",
                                          input_reference=("ramp.png", buf.getvalue(), "image/png"), extra_body=FAST)
    assert video.status == "completed", video.error
    first = decode_mp4(download(client, video.id))[0]
    assert np.abs(first.astype(float) - image).mean() < 10  # frame 0 is the given image (through H.264)


def test_loop_ends_where_it_starts(client):
    video = client.videos.create_and_poll(prompt="a yellow star moving right", seconds="1", extra_body={**FAST, "loop": True})
    assert video.status == "completed" and video.seconds == "1"
    frames = decode_mp4(download(client, video.id))
    assert frames.shape[0] == 8  # the loop's closing frame (= its first) is dropped so it repeats seamlessly


def test_upscale_runs_the_cascade_and_reports_the_size_made(client):
    video = client.videos.create_and_poll(prompt="a red circle moving right", seconds="1", size="64x64",
                                          extra_body={"num_inference_steps": 1, "upscale": 2})
    assert video.status == "completed", video.error
    assert video.size == "128x128"
    assert decode_mp4(download(client, video.id)).shape == (9, 128, 128, 3)


def test_delete_removes_the_job_and_its_files(client, server):
    video = client.videos.create_and_poll(prompt="a circle", seconds="1", extra_body={"num_inference_steps": 1})
    folder = server.data / "videos" / video.id
    assert (folder / "video.mp4").is_file()
    deleted = client.videos.delete(video.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (video.id, True, "video.deleted")
    assert not folder.exists()
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    with pytest.raises(openai.NotFoundError):
        client.videos.delete(video.id)


@pytest.fixture(scope="module")
def failed(client, server):
    """A real failure inside the worker: the clip an extension starts from is unreadable on disk."""
    source = client.videos.create_and_poll(prompt="a square", seconds="1", extra_body={"num_inference_steps": 1})
    (server.data / "videos" / source.id / "video.mp4").write_bytes(b"not a video at all")
    return client.videos.poll(extend(client, source.id, "a red square", "1").id)


def test_failed_generation_is_a_failed_job_and_the_worker_goes_on(client, failed):
    assert failed.status == "failed" and failed.error.code == "generation_failed"
    assert "VideoReadError" in failed.error.message or "decode" in failed.error.message, failed.error.message
    # a prompt the world cannot hold as stated is fitted to it (not refused), and the worker goes on
    fitted = client.videos.create_and_poll(prompt="two blue circles", seconds="1", extra_body={"num_inference_steps": 1})
    assert fitted.status == "completed", fitted.error
    report = fitted.model_extra["minisora_rewrite"]  # what the video shows of the prompt, and what it does not
    assert report["lost"] == ["obj1.color=blue"] and "distinct colours" in report["adjusted"][0], report
    assert "circle" in report["caption"] and client.videos.retrieve(fitted.id).model_extra["minisora_rewrite"] == report
    after = client.videos.create_and_poll(prompt="a circle", seconds="1", extra_body={"num_inference_steps": 1})
    assert after.status == "completed"


def test_bad_requests_raise_the_sdks_typed_errors(client, finished, failed):
    cases = [
        (openai.BadRequestError, "seconds", lambda: client.videos.create(prompt="x", seconds="12")),
        (openai.BadRequestError, "size", lambda: client.videos.create(prompt="x", size="720x1280")),
        (openai.BadRequestError, "model", lambda: client.videos.create(prompt="x", model="veo-3")),
        (openai.BadRequestError, "num_inference_steps",
         lambda: client.videos.create(prompt="x", extra_body={"num_inference_steps": 0})),
        (openai.BadRequestError, "colour", lambda: client.videos.create(prompt="x", extra_body={"colour": "red"})),
        (openai.BadRequestError, "video_id", lambda: client.videos.retrieve("video_ZZZ")),
        (openai.NotFoundError, "video_id", lambda: client.videos.retrieve("video_" + "0" * 32)),
        (openai.NotFoundError, "video_id", lambda: client.videos.remix("video_" + "1" * 32, prompt="x")),
        (openai.UnprocessableEntityError, "video_id", lambda: client.videos.remix(failed.id, prompt="x")),
        (openai.UnprocessableEntityError, "video_id", lambda: client.videos.download_content(failed.id)),
    ]
    for error, param, call in cases:
        with pytest.raises(error) as info:
            call()
        assert info.value.body["param"] == param and info.value.body["message"], info.value.body
    # the valid values are listed
    with pytest.raises(openai.BadRequestError, match="valid values: '1', '2'"):
        client.videos.create(prompt="x", seconds="4")
    with pytest.raises(openai.BadRequestError, match="'64x64', '80x48', '48x80'"):
        client.videos.create(prompt="x", size="1280x720")


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("1", (width, height)).save(buf, format="PNG")  # a bilevel image compresses to almost nothing
    return buf.getvalue()


def test_hostile_requests_get_4xx_json_errors_and_the_server_keeps_serving(raw, finished):
    vid, missing = finished.id, "video_" + "f" * 32
    post_json = lambda path, body: raw.post(path, content=body, headers={"content-type": "application/json"})
    create = lambda body: post_json("/v1/videos", json.dumps(body))
    form = lambda data=None, files=None: raw.post("/v1/videos", data=data, files=files)
    huge = b"{" + b" " * (2 * 2**20) + b"}"
    requests = [
        ("bad JSON", lambda: post_json("/v1/videos", '{"prompt": "x",')),
        ("JSON array", lambda: post_json("/v1/videos", '["prompt"]')),
        ("JSON NaN", lambda: post_json("/v1/videos", '{"prompt": "x", "guidance_scale": NaN}')),
        ("not UTF-8", lambda: post_json("/v1/videos", b'{"prompt": "\xff\xfe"}')),
        ("huge body by Content-Length", lambda: post_json("/v1/videos", huge)),
        ("huge body, chunked", lambda: raw.post("/v1/videos", content=iter([huge[:2**20], huge[2**20:]]),
                                                 headers={"content-type": "application/json"})),
        ("text/plain", lambda: raw.post("/v1/videos", content=b"prompt=x", headers={"content-type": "text/plain"})),
        ("no body", lambda: raw.post("/v1/videos")),
        ("missing prompt", lambda: create({"seconds": "1"})),
        ("empty prompt", lambda: create({"prompt": "   "})),
        ("prompt is a number", lambda: create({"prompt": 42})),
        ("prompt too long", lambda: create({"prompt": "x" * 5000})),
        ("seed is a string", lambda: create({"prompt": "x", "seed": "abc"})),
        ("seed is a bool", lambda: create({"prompt": "x", "seed": True})),
        ("negative seed", lambda: create({"prompt": "x", "seed": -1})),
        ("steps absurd", lambda: create({"prompt": "x", "num_inference_steps": 10**9})),
        ("guidance below 1", lambda: create({"prompt": "x", "guidance_scale": 0.5})),
        ("loop is a string", lambda: create({"prompt": "x", "loop": "yes"})),
        ("upscale 3", lambda: create({"prompt": "x", "upscale": 3})),
        ("seconds as a number", lambda: create({"prompt": "x", "seconds": 4})),
        ("size path", lambda: create({"prompt": "x", "size": "../../etc/passwd"})),
        ("unknown field", lambda: create({"prompt": "x", "__proto__": {}})),
        ("form: prompt as a file", lambda: form(files={"prompt": ("p.txt", b"x", "text/plain")})),
        ("form: seed not a number", lambda: form(data={"prompt": "x", "seed": "1e999"})),
        ("form: duplicate field", lambda: raw.post("/v1/videos", files=[("prompt", (None, "a")), ("prompt", (None, "b"))])),
        ("reference not an image", lambda: form(data={"prompt": "x"}, files={"input_reference": ("a.png", b"GIF89a junk", "image/png")})),
        ("reference too many pixels", lambda: form(data={"prompt": "x"}, files={"input_reference": ("big.png", _png(5000, 5000), "image/png")})),
        ("reference remote URL", lambda: create({"prompt": "x", "input_reference": {"image_url": "http://169.254.169.254/"}})),
        ("reference file_id", lambda: create({"prompt": "x", "input_reference": {"file_id": "file-123"}})),
        ("traversal id", lambda: raw.get("/v1/videos/..%2F..%2Fjobs.sqlite3")),
        ("traversal id, dots", lambda: raw.get("/v1/videos/video_..%2f..")),
        ("NUL in id", lambda: raw.get("/v1/videos/video_%00")),
        ("very long id", lambda: raw.get("/v1/videos/video_" + "a" * 5000)),
        ("unknown id", lambda: raw.get(f"/v1/videos/{missing}")),
        ("traversal variant", lambda: raw.get(f"/v1/videos/{vid}/content", params={"variant": "../../jobs.sqlite3"})),
        ("content of unknown id", lambda: raw.get(f"/v1/videos/{missing}/content")),
        ("list limit 0", lambda: raw.get("/v1/videos", params={"limit": 0})),
        ("list limit text", lambda: raw.get("/v1/videos", params={"limit": "ten"})),
        ("list order", lambda: raw.get("/v1/videos", params={"order": "sideways"})),
        ("list after bad id", lambda: raw.get("/v1/videos", params={"after": "'; DROP TABLE videos; --"})),
        ("list after unknown id", lambda: raw.get("/v1/videos", params={"after": missing})),
        ("delete unknown", lambda: raw.delete(f"/v1/videos/{missing}")),
        ("wrong method", lambda: raw.put(f"/v1/videos/{vid}")),
        ("unknown route", lambda: raw.get("/v1/images")),
        ("remix unknown", lambda: post_json(f"/v1/videos/{missing}/remix", '{"prompt": "x"}')),
        ("remix strength 2", lambda: post_json(f"/v1/videos/{vid}/remix", '{"prompt": "x", "strength": 2}')),
        ("extend: video is a string", lambda: post_json("/v1/videos/extensions", json.dumps({"prompt": "x", "seconds": "1", "video": vid}))),
        ("extend: no video", lambda: post_json("/v1/videos/extensions", '{"prompt": "x", "seconds": "1"}')),
        ("extend: upload", lambda: raw.post("/v1/videos/extensions", data={"prompt": "x", "seconds": "1"},
                                            files={"video": ("a.mp4", b"\x00" * 100, "video/mp4")})),
        ("bad Content-Length", lambda: raw.post("/v1/videos", content=b"{}", headers={"content-length": "-5", "content-type": "application/json"})),
    ]
    before = raw.get("/v1/videos", params={"limit": 100}).json()["data"]
    statuses = {}
    for name, send in requests:
        try:
            r = send()
        except httpx.HTTPError as e:  # e.g. the server refusing a malformed header outright
            statuses[name] = type(e).__name__
            continue
        statuses[name] = r.status_code
        assert 400 <= r.status_code < 500, (name, r.status_code, r.text[:300])
        if name != "bad Content-Length":  # malformed HTTP itself: uvicorn's parser answers a plain 400 first
            err = r.json()["error"]
            assert set(err) == {"message", "type", "param", "code"} and err["message"], (name, err)
    assert len([s for s in statuses.values() if isinstance(s, int)]) >= 45, statuses
    assert {statuses["huge body by Content-Length"], statuses["huge body, chunked"], statuses["reference too many pixels"]} == {413}
    assert statuses["reference not an image"] == 422 and statuses["unknown id"] == 404
    # nothing was queued, and the server still answers
    assert raw.get("/v1/videos", params={"limit": 100}).json()["data"] == before
    assert raw.get(f"/v1/videos/{vid}").json()["status"] == "completed"
