"""The worker: one process that loads the model once and runs queued jobs, one at a time.

It runs in its own process so that generation (CPU-bound, holding the GIL between torch ops) never
slows the server's answers, and so that even a crash inside native code costs one job, not the
server: the `Supervisor` in the server process starts it again, and the job it held is re-queued
(or failed, once it has stopped the worker `max_attempts` times). A Python exception during a job
is a `failed` job with its message, and the worker goes on to the next.

The worker dies with the server (Linux PR_SET_PDEATHSIG, plus a parent check), so a killed server
never leaves a worker behind that could finish a job the restarted server runs again; the store's
claim tokens make that impossible anyway.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import os
import secrets
import shutil
import signal
import time
from dataclasses import dataclass

log = logging.getLogger("minisora.serve")


@dataclass
class WorkerConfig:
    model: str | None  # model folder; None = the bundled minisora-tiny
    data_dir: str
    threads: int
    max_seconds: int
    ttl_seconds: int


class JobCancelled(Exception):
    """The job was deleted while it ran."""


def _die_with_parent(parent_pid: int) -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the loop's parent check still ends the worker
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(0)


def worker_main(cfg: WorkerConfig, conn, wake, parent_pid: int) -> None:
    """Process entry: load the model, report its spec (or the error) through `conn`, then run jobs."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which stops us in order
    try:
        import torch

        from minisora.pipeline import Pipeline
        from minisora.serve.spec import ModelSpec
        from minisora.serve.store import Store

        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        pipe = Pipeline.from_pretrained(cfg.model)
        spec = ModelSpec.from_pipeline(pipe, cfg.max_seconds)
        store = Store(cfg.data_dir)
    except Exception as e:  # the server reports it and exits: a model that does not load is fatal
        conn.send({"error": f"{type(e).__name__}: {e}"})
        return
    conn.send({"spec": spec.to_dict(), "pid": os.getpid()})
    token = f"{os.getpid()}-{secrets.token_hex(8)}"
    while os.getppid() == parent_pid:
        job = store.claim(token)
        if job is None:
            wake.wait(0.5)
            wake.clear()
            continue
        run_job(pipe, spec, store, job, token, cfg.ttl_seconds)


def run_job(pipe, spec, store, job, token: str, ttl_seconds: int) -> None:
    """Generate one job's video and record the outcome (completed, failed, or dropped if deleted)."""
    import numpy as np

    from minisora.io import read_video
    from minisora.serve.media import SOURCE_NAME, load_reference_image, write_outputs, write_rewrite

    folder = store.job_dir(job.id)
    p = job.params
    # a loop without an image samples twice (minisora.pipeline: the first pass picks the loop frame)
    total = p["num_inference_steps"] * (2 if p.get("loop") and not p.get("image") else 1)

    def on_step(i, t, x):
        if not store.set_progress(job.id, token, min(99, int(100 * (i + 1) / total))):
            raise JobCancelled(job.id)

    try:
        kw = dict(num_frames=p["num_frames"], height=p["height"], width=p["width"],
                  num_inference_steps=p["num_inference_steps"], guidance_scale=p["guidance_scale"], seed=p["seed"],
                  callback=on_step, progress=False)
        source = read_video(folder / SOURCE_NAME)[0] if job.task in ("remix", "extend") else None
        if job.task == "create":
            kw.update(loop=bool(p.get("loop")), upscale=p.get("upscale", 1))
            if p.get("image"):
                kw["image"] = load_reference_image(folder)
        elif job.task == "remix":  # SDEdit from the original clip
            kw.update(video=source[:p["num_frames"]], strength=p["strength"])
        else:  # extension: continue the clip forward, then stitch it after the original
            kw.update(video=source, extend="forward")
        out = pipe(job.prompt, **kw)
        frames = np.concatenate([source, out.frames]) if job.task == "extend" else out.frames
        write_outputs(folder, frames, out.fps)
        write_rewrite(folder, out.rewrite)
    except JobCancelled:
        shutil.rmtree(folder, ignore_errors=True)
        return
    except Exception as e:
        log.warning("job %s failed: %s: %s", job.id, type(e).__name__, e)
        store.finish(job.id, token, ttl_seconds=ttl_seconds,
                     error=("generation_failed", f"{type(e).__name__}: {e}"[:2000]))
        return
    # what was made: a loop drops its closing frame (= its first); upscale enlarges the size
    seconds = spec.seconds_for(len(frames) + (1 if job.params.get("loop") else 0))
    size = f"{frames.shape[2]}x{frames.shape[1]}"
    if not store.finish(job.id, token, ttl_seconds=ttl_seconds, num_frames=len(frames), seconds=seconds, size=size):
        shutil.rmtree(folder, ignore_errors=True)  # deleted while it was being written


class Supervisor:
    """Starts the worker process, waits for its model spec, and restarts it when it dies."""

    def __init__(self, cfg: WorkerConfig, max_attempts: int, load_timeout: float = 600.0):
        self.cfg, self.max_attempts, self.load_timeout = cfg, max_attempts, load_timeout
        self._ctx = mp.get_context("spawn")  # a fresh interpreter: no state forked from the server
        self.wake = self._ctx.Event()
        self.process = None
        self.spec_dict: dict | None = None
        self.restarts = 0

    def start(self) -> None:
        """Spawn the worker. Must run on the server's main thread: PR_SET_PDEATHSIG fires when the
        spawning *thread* exits."""
        parent, child = self._ctx.Pipe(duplex=False)
        self._conn = parent
        self.process = self._ctx.Process(target=worker_main, args=(self.cfg, child, self.wake, os.getpid()),
                                         name="minisora-worker", daemon=True)
        self.process.start()
        child.close()

    def wait_ready(self) -> dict:
        """Block until the worker reports its model spec; raise with its error if it could not load."""
        t0 = time.monotonic()
        while not self._conn.poll(0.2):
            if not self.process.is_alive():
                raise RuntimeError(f"the worker exited (code {self.process.exitcode}) while loading the model")
            if time.monotonic() - t0 > self.load_timeout:
                raise RuntimeError(f"the worker did not load the model within {self.load_timeout:.0f} s")
        msg = self._conn.recv()
        if "error" in msg:
            raise RuntimeError(f"the model could not be loaded: {msg['error']}")
        self.spec_dict = msg["spec"]
        return msg["spec"]

    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def stop(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(5)

