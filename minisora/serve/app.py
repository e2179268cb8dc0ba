"""The ASGI app: OpenAI's Videos API over the job store, plus the web page at `/`.

    POST   /v1/videos                      create (JSON or multipart; input_reference = an image)
    GET    /v1/videos                      list (after, limit, order) -> first_id, last_id, has_more
    GET    /v1/videos/{id}                 retrieve (with the openai-poll-after-ms header while active)
    DELETE /v1/videos/{id}                 delete, files included
    GET    /v1/videos/{id}/content         ?variant=video|thumbnail|spritesheet
    POST   /v1/videos/{id}/remix           SDEdit of a finished video with a new prompt
    POST   /v1/videos/extensions           continue a finished video forward ({"video": {"id": ...}})
    GET    /v1/models                      the loaded model and the seconds and sizes it supports

Routes only check requests and read or write the store; the worker process generates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from minisora.serve import media
from minisora.serve.errors import APIError, api_error_handler, bad_request, http_error_handler, unexpected_error_handler
from minisora.serve.guard import Guard
from minisora.serve.schemas import (CREATE_FIELDS, EXTEND_FIELDS, MAX_SEED, REMIX_FIELDS, UPSCALES, check_model,
                                    common_fields, read_fields)
from minisora.serve.spec import ModelSpec
from minisora.serve.store import Job, QueueFull, Store, is_video_id, new_video_id
from minisora.serve.worker import Supervisor, WorkerConfig

log = logging.getLogger("minisora.serve")
STATIC_DIR = Path(__file__).resolve().parent / "static"
LIST_ORDERS = ("asc", "desc")


@dataclass
class ServeSettings:
    data_dir: Path
    model: str | None = None  # model folder; None = the bundled minisora-tiny
    api_key: str | None = None  # when set, /v1/ needs `Authorization: Bearer <key>`
    threads: int = 1  # torch threads in the worker (1 leaves a core to answer requests)
    max_seconds: int = 4
    max_steps: int = 100
    max_queue: int = 64  # queued + running jobs; more is a 429
    max_request_bytes: int = 8 * 1024 * 1024
    max_image_pixels: int = 4096 * 4096
    ttl_seconds: int = 24 * 3600  # a finished job's files are kept this long, then deleted
    cleanup_every: float = 60.0
    poll_after_ms: int = 500
    max_attempts: int = 3  # a job that stops the worker this many times fails
    remix_strength: float = 0.7
    ready_message: str | None = None  # printed once the model is loaded


class ServeState:
    def __init__(self, settings: ServeSettings):
        self.settings = settings
        self.store = Store(settings.data_dir)
        self.supervisor = Supervisor(WorkerConfig(model=settings.model, data_dir=str(settings.data_dir),
                                                  threads=settings.threads, max_seconds=settings.max_seconds,
                                                  ttl_seconds=settings.ttl_seconds), settings.max_attempts)
        self.spec: ModelSpec | None = None
        self.started_at = int(time.time())


def _state(request: Request) -> ServeState:
    return request.app.state.serve


# -------------------------------------------------------------------------------------------- helpers
def video_object(state: ServeState, job: Job) -> dict:
    """The API's Video object, plus `minisora_rewrite` once the job is done: the caption its prompt
    became and what the video does not show (words not understood, attributes given up)."""
    video = job.to_video()
    if job.status == "completed":
        rewrite = media.read_rewrite(state.store.job_dir(job.id))
        if rewrite is not None:
            video["minisora_rewrite"] = rewrite
    return video


def video_response(state: ServeState, job: Job) -> JSONResponse:
    headers = {"openai-poll-after-ms": str(state.settings.poll_after_ms)} if job.status in ("queued", "in_progress") else {}
    return JSONResponse(video_object(state, job), headers=headers)


def checked_id(value) -> str:
    if not is_video_id(value):
        raise APIError(400, f"{str(value)[:80]!r} is not a video id: ids look like video_ and 32 hex digits",
                       "invalid_video_id", "video_id")
    return value


def find_job(state: ServeState, video_id, param: str = "video_id") -> Job:
    job = state.store.get(checked_id(video_id))
    if job is None:
        raise APIError(404, f"no video with id {video_id!r} (it never existed, was deleted or expired)",
                       "video_not_found", param)
    return job


def finished_source(state: ServeState, video_id, action: str, param: str) -> Job:
    job = find_job(state, video_id, param)
    if job.status != "completed":
        raise APIError(422, f"video {video_id} is {job.status}; only a completed video can be {action}",
                       "video_not_completed", param)
    return job


def accept(state: ServeState, job: Job) -> JSONResponse:
    """Queue the job (its input files are already in its folder) or answer 429 when the queue is full."""
    try:
        job = state.store.add(job, state.settings.max_queue)
    except QueueFull as full:
        shutil.rmtree(state.store.job_dir(job.id), ignore_errors=True)
        raise APIError(429, f"the queue is full ({full.args[0]} jobs queued or running, at most "
                            f"{state.settings.max_queue}); retry later", "queue_full",
                       headers={"retry-after": "5"}) from None
    state.supervisor.wake.set()
    return video_response(state, job)


def new_job(state: ServeState, task: str, prompt: str, seconds: str, size: str, params: dict,
            remixed_from: str | None = None) -> Job:
    if params.get("seed") is None:  # drawn now, so a job re-run after a crash makes the same video
        params["seed"] = secrets.randbelow(MAX_SEED + 1)
    return Job(id=new_video_id(), status="queued", progress=0, created_at=int(time.time()), completed_at=None,
               expires_at=None, model=state.spec.name, seconds=seconds, size=size, prompt=prompt,
               remixed_from_video_id=remixed_from, error_code=None, error_message=None, task=task, params=params,
               num_frames=None, attempts=0, claim=None)


def copy_source(state: ServeState, source: Job, job: Job) -> None:
    try:
        media.copy_source_video(state.store.job_dir(source.id), state.store.job_dir(job.id))
    except FileNotFoundError:  # deleted or expired between the lookup and the copy
        shutil.rmtree(state.store.job_dir(job.id), ignore_errors=True)
        raise APIError(404, f"the video file of {source.id} is gone (deleted or expired)", "video_not_found",
                       "video_id" if job.task == "remix" else "video") from None


async def reference_image(state: ServeState, value):
    """input_reference: an uploaded file, or {"image_url": "data:image/...;base64,..."} -> uint8 (H, W, 3)."""
    limit = state.settings.max_request_bytes
    if hasattr(value, "read") and hasattr(value, "filename"):  # an UploadFile
        data = await value.read()
    elif isinstance(value, dict) and "image_url" in value:
        data = media.decode_data_url(value["image_url"], limit)
    elif isinstance(value, dict) and "file_id" in value:
        raise bad_request("input_reference.file_id is not supported here (there is no files API); upload the "
                          "image itself or give image_url as a data URL", "input_reference")
    else:
        raise bad_request("input_reference must be an image file upload or {\"image_url\": \"data:image/...\"}",
                          "input_reference", "invalid_type")
    return media.decode_reference_image(data, state.settings.max_image_pixels)


# -------------------------------------------------------------------------------------------- routes
async def create_video(request: Request) -> JSONResponse:
    state, spec = _state(request), _state(request).spec
    f = await read_fields(request, CREATE_FIELDS)
    common = common_fields(f, spec, state.settings.max_steps)
    check_model(f, spec)
    seconds = f.choice("seconds", spec.seconds, spec.name) or spec.default_seconds
    size = f.choice("size", spec.sizes, spec.name) or spec.default_size
    upscale = f.integer("upscale", 1, max(UPSCALES))
    if upscale is not None and upscale not in UPSCALES:
        raise bad_request(f"upscale={upscale} is not valid; choose one of {UPSCALES}", "upscale")
    loop = bool(f.flag("loop"))
    ref = f.data.get("input_reference")
    pixels = await reference_image(state, ref) if ref is not None else None
    height, width = spec.height_width(size)
    job = new_job(state, "create", common.prompt, seconds, size, dict(
        num_frames=spec.num_frames(seconds), height=height, width=width, seed=common.seed,
        num_inference_steps=common.num_inference_steps, guidance_scale=common.guidance_scale, loop=loop,
        upscale=upscale or 1, image=pixels is not None))
    if pixels is not None:
        media.save_reference_image(state.store.job_dir(job.id), pixels)
    return accept(state, job)


async def remix_video(request: Request) -> JSONResponse:
    state, spec = _state(request), _state(request).spec
    source = finished_source(state, request.path_params["video_id"], "remixed", "video_id")
    f = await read_fields(request, REMIX_FIELDS)
    common = common_fields(f, spec, state.settings.max_steps)
    strength = f.number("strength", 0.0, 1.0, lo_open=True)
    p = source.params
    # the longest clip the model can make from the source's frames (a loop has one frame fewer)
    num_frames = 1 + (source.num_frames - 1) // spec.frame_step * spec.frame_step
    job = new_job(state, "remix", common.prompt, spec.seconds_for(num_frames), source.size, dict(
        num_frames=num_frames, height=p["height"], width=p["width"],
        seed=p["seed"] if common.seed is None else common.seed,
        num_inference_steps=p["num_inference_steps"] if "num_inference_steps" not in f.data else common.num_inference_steps,
        guidance_scale=p["guidance_scale"] if "guidance_scale" not in f.data else common.guidance_scale,
        strength=state.settings.remix_strength if strength is None else strength), remixed_from=source.id)
    copy_source(state, source, job)
    return accept(state, job)


async def extend_video(request: Request) -> JSONResponse:
    state, spec = _state(request), _state(request).spec
    f = await read_fields(request, EXTEND_FIELDS)
    common = common_fields(f, spec, state.settings.max_steps)
    seconds = f.choice("seconds", spec.seconds, spec.name) or spec.default_seconds
    ref = f.data.get("video")
    if ref is None:
        raise APIError(400, "missing required parameter 'video' ({\"id\": \"video_...\"})", "missing_required_parameter",
                       "video")
    if not isinstance(ref, dict) or set(ref) != {"id"}:
        raise bad_request("video must be {\"id\": \"video_...\"}, a finished video of this server (uploading a "
                          "clip to extend is not supported)", "video", "invalid_type")
    source = finished_source(state, ref["id"], "extended", "video")
    p = source.params
    if p.get("upscale", 1) > 1:  # the new frames come out at the model's size, the source's are larger
        raise APIError(422, f"video {source.id} was upscaled; only a video at the model's own size can be extended",
                       "unsupported_source", "video")
    new_frames = round(float(seconds) * spec.fps)
    job = new_job(state, "extend", common.prompt, spec.seconds_for(source.num_frames + new_frames), source.size, dict(
        # the window repeats the source's last frames as context; the pipeline returns only the new ones
        num_frames=1 + new_frames + spec.extend_context_frames, height=p["height"], width=p["width"],
        seed=common.seed, guidance_scale=common.guidance_scale,
        num_inference_steps=p["num_inference_steps"] if "num_inference_steps" not in f.data else common.num_inference_steps))
    copy_source(state, source, job)
    return accept(state, job)


async def retrieve_video(request: Request) -> JSONResponse:
    state = _state(request)
    return video_response(state, find_job(state, request.path_params["video_id"]))


async def delete_video(request: Request) -> JSONResponse:
    state = _state(request)
    job = find_job(state, request.path_params["video_id"])
    if not state.store.delete(job.id):
        raise APIError(404, f"no video with id {job.id!r}", "video_not_found", "video_id")
    return JSONResponse({"id": job.id, "object": "video.deleted", "deleted": True})


async def video_content(request: Request) -> FileResponse:
    state = _state(request)
    unknown = sorted(set(request.query_params) - {"variant"})
    if unknown:
        raise APIError(400, f"unknown query parameter {unknown[0]!r}; this endpoint takes variant", "unknown_parameter",
                       unknown[0])
    variant = request.query_params.get("variant", "video")
    if variant not in media.VARIANTS:
        raise bad_request(f"variant={variant[:40]!r} is not valid; choose one of {', '.join(media.VARIANTS)}", "variant")
    job = find_job(state, request.path_params["video_id"])
    if job.status != "completed":
        raise APIError(422, f"video {job.id} is {job.status}; its content is ready once it is completed",
                       "video_not_completed", "video_id")
    name, media_type = media.VARIANTS[variant]
    path = state.store.job_dir(job.id) / name
    if not path.is_file():
        raise APIError(404, f"the {variant} of video {job.id} is gone", "content_not_found", "variant")
    return FileResponse(path, media_type=media_type, filename=f"{job.id}{path.suffix}")


async def list_videos(request: Request) -> JSONResponse:
    state, q = _state(request), request.query_params
    unknown = sorted(set(q) - {"after", "limit", "order"})
    if unknown:
        raise APIError(400, f"unknown query parameter {unknown[0]!r}; this endpoint takes after, limit, order",
                       "unknown_parameter", unknown[0])
    order = q.get("order", "desc")
    if order not in LIST_ORDERS:
        raise bad_request(f"order={order[:40]!r} is not valid; choose asc or desc", "order")
    limit = q.get("limit", "20")
    if not limit.isdigit() or not 1 <= int(limit) <= 100:
        raise bad_request(f"limit={limit[:40]!r} is not valid: use an integer from 1 to 100", "limit")
    after = q.get("after")
    try:
        jobs, has_more = state.store.list(checked_id(after) if after is not None else None, int(limit), order)
    except KeyError:
        raise APIError(404, f"after={after!r} names no video", "video_not_found", "after") from None
    data = [video_object(state, j) for j in jobs]
    return JSONResponse({"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                         "last_id": data[-1]["id"] if data else None, "has_more": has_more})


async def list_models(request: Request) -> JSONResponse:
    state = _state(request)
    spec, s = state.spec, state.settings
    return JSONResponse({"object": "list", "data": [{
        "id": spec.name, "object": "model", "created": state.started_at, "owned_by": "minisora",
        "sizes": list(spec.sizes), "seconds": list(spec.seconds), "fps": spec.fps,
        "frames": {sec: spec.num_frames(sec) for sec in spec.seconds}, "default_size": spec.default_size,
        "default_seconds": spec.default_seconds, "default_steps": spec.default_steps, "max_steps": s.max_steps,
        "default_guidance": spec.default_guidance, "max_queue": s.max_queue}]})


async def index(request: Request) -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


# -------------------------------------------------------------------------------------------- lifecycle
async def _upkeep(state: ServeState) -> None:
    """Every second: restart a dead worker (re-queueing its job); every cleanup_every: expire old jobs."""
    s, next_cleanup = state.settings, time.monotonic() + state.settings.cleanup_every
    while True:
        await asyncio.sleep(min(1.0, s.cleanup_every))
        try:
            if not state.supervisor.alive():
                log.warning("the worker stopped (exit code %s); restarting it", state.supervisor.process.exitcode)
                state.store.requeue_interrupted(s.max_attempts, s.ttl_seconds)
                state.supervisor.start()
                await asyncio.to_thread(state.supervisor.wait_ready)
            if time.monotonic() >= next_cleanup:
                state.store.expire()
                next_cleanup = time.monotonic() + s.cleanup_every
        except Exception:
            log.exception("upkeep failed; trying again in a second")


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette):
    state: ServeState = app.state.serve
    s = state.settings
    # a previous server may have died mid-job: its interrupted jobs run again
    state.store.requeue_interrupted(s.max_attempts, s.ttl_seconds)
    state.store.expire()
    state.supervisor.start()  # on the main thread (worker.py says why)
    state.spec = ModelSpec.from_dict(await asyncio.to_thread(state.supervisor.wait_ready))
    task = asyncio.create_task(_upkeep(state))
    if s.ready_message:
        print(s.ready_message.format(model=state.spec.name), flush=True)
    try:
        yield
    finally:
        task.cancel()
        state.supervisor.stop()


def create_app(settings: ServeSettings) -> Guard:
    routes = [
        Route("/", index, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/videos", create_video, methods=["POST"]),
        Route("/v1/videos", list_videos, methods=["GET"]),
        Route("/v1/videos/extensions", extend_video, methods=["POST"]),
        Route("/v1/videos/{video_id}", retrieve_video, methods=["GET"]),
        Route("/v1/videos/{video_id}", delete_video, methods=["DELETE"]),
        Route("/v1/videos/{video_id}/content", video_content, methods=["GET"]),
        Route("/v1/videos/{video_id}/remix", remix_video, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=_lifespan, exception_handlers={
        APIError: api_error_handler, HTTPException: http_error_handler, Exception: unexpected_error_handler})
    app.state.serve = ServeState(settings)
    return Guard(app, settings.api_key, settings.max_request_bytes)
