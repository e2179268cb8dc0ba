"""The job store: one SQLite file in the data directory, shared by the server and its worker process.

Every accepted request is a row before the server answers, so nothing accepted is ever only in
memory. The worker claims the oldest queued row with a fresh `claim` token; progress, completion
and failure are conditional on that token, so a job that was deleted, or re-queued after a crash
and claimed again, can never be completed twice. Each transition is also appended to `events`
in the same transaction, which is how "completed exactly once" is checked (bench/serve.py).

WAL mode lets the server read while the worker writes; synchronous=NORMAL keeps every committed
transaction across a killed process (only a power cut may lose the last ones).
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

ID_PATTERN = re.compile(r"video_[0-9a-f]{32}")
ACTIVE = ("queued", "in_progress")
DB_NAME = "jobs.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    completed_at INTEGER,
    expires_at INTEGER,
    model TEXT NOT NULL,
    seconds TEXT NOT NULL,
    size TEXT NOT NULL,
    prompt TEXT NOT NULL,
    remixed_from_video_id TEXT,
    error_code TEXT,
    error_message TEXT,
    task TEXT NOT NULL,            -- create | remix | extend
    params TEXT NOT NULL,          -- JSON: the generation settings
    num_frames INTEGER,            -- frames in the finished video
    attempts INTEGER NOT NULL DEFAULT 0,
    claim TEXT                     -- token of the worker run that holds the job
);
CREATE INDEX IF NOT EXISTS videos_status ON videos (status, seq);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id TEXT NOT NULL,
    event TEXT NOT NULL,           -- queued | started | requeued | completed | failed | deleted | expired
    at REAL NOT NULL,
    claim TEXT
);
"""


class QueueFull(Exception):
    pass


def new_video_id() -> str:
    return "video_" + secrets.token_hex(16)


def is_video_id(value: str) -> bool:
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


@dataclass
class Job:
    id: str
    status: str
    progress: int
    created_at: int
    completed_at: int | None
    expires_at: int | None
    model: str
    seconds: str
    size: str
    prompt: str
    remixed_from_video_id: str | None
    error_code: str | None
    error_message: str | None
    task: str
    params: dict[str, Any]
    num_frames: int | None
    attempts: int
    claim: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "Job":
        d = {k: row[k] for k in row.keys() if k != "seq"}
        d["params"] = json.loads(d["params"])
        return cls(**d)

    def to_video(self) -> dict[str, Any]:
        """The API's Video object."""
        error = {"code": self.error_code, "message": self.error_message} if self.status == "failed" else None
        return {"id": self.id, "object": "video", "status": self.status, "progress": self.progress,
                "created_at": self.created_at, "completed_at": self.completed_at, "expires_at": self.expires_at,
                "model": self.model, "seconds": self.seconds, "size": self.size, "prompt": self.prompt,
                "remixed_from_video_id": self.remixed_from_video_id, "error": error}


class Store:
    def __init__(self, data_dir: str | Path):
        self.data_dir = Path(data_dir)
        self.videos_dir = self.data_dir / "videos"
        self.videos_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.data_dir / DB_NAME
        self._local = threading.local()
        self._conn().executescript(_SCHEMA)

    # ---------------------------------------------------------------------------- plumbing
    def _conn(self) -> sqlite3.Connection:
        """One connection per thread (sqlite3 connections must not cross threads)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken at once (BEGIN IMMEDIATE) so two writers never deadlock."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _event(conn: sqlite3.Connection, video_id: str, event: str, claim: str | None = None) -> None:
        conn.execute("INSERT INTO events (video_id, event, at, claim) VALUES (?, ?, ?, ?)",
                     (video_id, event, time.time(), claim))

    def job_dir(self, video_id: str) -> Path:
        """The folder of a job's files. The id is checked against ID_PATTERN first: no request value
        becomes a path unchecked."""
        if not is_video_id(video_id):
            raise ValueError(f"not a video id: {video_id!r}")
        return self.videos_dir / video_id

    def _remove_files(self, video_id: str) -> None:
        shutil.rmtree(self.job_dir(video_id), ignore_errors=True)

    # ---------------------------------------------------------------------------- the API's side
    def add(self, job: Job, max_active: int) -> Job:
        """Insert a queued job, or raise QueueFull when `max_active` jobs are queued or running."""
        with self._write() as conn:
            active = conn.execute("SELECT COUNT(*) FROM videos WHERE status IN (?, ?)", ACTIVE).fetchone()[0]
            if active >= max_active:
                raise QueueFull(active)
            conn.execute(
                "INSERT INTO videos (id, status, progress, created_at, model, seconds, size, prompt, "
                "remixed_from_video_id, task, params) VALUES (?, 'queued', 0, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job.id, job.created_at, job.model, job.seconds, job.size, job.prompt,
                 job.remixed_from_video_id, job.task, json.dumps(job.params)))
            self._event(conn, job.id, "queued")
        return self.get(job.id)

    def get(self, video_id: str) -> Job | None:
        row = self._conn().execute("SELECT * FROM videos WHERE id = ?", (video_id,)).fetchone()
        return Job.from_row(row) if row else None

    def list(self, after: str | None, limit: int, order: str) -> tuple[list[Job], bool]:
        """A page of jobs by creation order, starting after the job `after`; returns (jobs, has_more).
        Raises KeyError when `after` names no job."""
        op, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
        conn = self._conn()
        if after is None:
            rows = conn.execute(f"SELECT * FROM videos ORDER BY seq {direction} LIMIT ?", (limit + 1,)).fetchall()
        else:
            row = conn.execute("SELECT seq FROM videos WHERE id = ?", (after,)).fetchone()
            if row is None:
                raise KeyError(after)
            rows = conn.execute(f"SELECT * FROM videos WHERE seq {op} ? ORDER BY seq {direction} LIMIT ?",
                                (row["seq"], limit + 1)).fetchall()
        return [Job.from_row(r) for r in rows[:limit]], len(rows) > limit

    def delete(self, video_id: str) -> bool:
        with self._write() as conn:
            gone = conn.execute("DELETE FROM videos WHERE id = ?", (video_id,)).rowcount
            if gone:
                self._event(conn, video_id, "deleted")
        if gone:
            self._remove_files(video_id)
        return bool(gone)

    def count_active(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM videos WHERE status IN (?, ?)", ACTIVE).fetchone()[0]

    # ---------------------------------------------------------------------------- the worker's side
    def claim(self, token: str) -> Job | None:
        """Take the oldest queued job for the worker run `token`."""
        with self._write() as conn:
            row = conn.execute("SELECT id FROM videos WHERE status = 'queued' ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return None
            conn.execute("UPDATE videos SET status = 'in_progress', progress = 0, attempts = attempts + 1, "
                         "claim = ? WHERE id = ?", (token, row["id"]))
            self._event(conn, row["id"], "started", token)
        return self.get(row["id"])

    def set_progress(self, video_id: str, token: str, progress: int) -> bool:
        """False when the job is no longer this run's (deleted meanwhile): the worker then stops."""
        with self._write() as conn:
            return conn.execute("UPDATE videos SET progress = ? WHERE id = ? AND claim = ? AND status = 'in_progress'",
                                (int(progress), video_id, token)).rowcount == 1

    def finish(self, video_id: str, token: str, *, ttl_seconds: int, num_frames: int | None = None,
               seconds: str | None = None, size: str | None = None, error: tuple[str, str] | None = None) -> bool:
        """Mark the job completed (error None) or failed (error = (code, message)), only if the run
        `token` still holds it. Returns whether it did."""
        now = int(time.time())
        status = "failed" if error else "completed"
        code, message = error or (None, None)
        with self._write() as conn:
            done = conn.execute(
                "UPDATE videos SET status = ?, progress = ?, completed_at = ?, expires_at = ?, num_frames = ?, "
                "seconds = COALESCE(?, seconds), size = COALESCE(?, size), error_code = ?, error_message = ?, claim = NULL "
                "WHERE id = ? AND claim = ? AND status = 'in_progress'",
                (status, 100 if not error else 0, now, now + ttl_seconds, num_frames, seconds, size, code, message,
                 video_id, token)).rowcount == 1
            if done:
                self._event(conn, video_id, status, token)
        return done

    # ---------------------------------------------------------------------------- recovery and upkeep
    def requeue_interrupted(self, max_attempts: int, ttl_seconds: int) -> list[str]:
        """Jobs left in_progress by a dead server or worker run again; one that was already tried
        `max_attempts` times (a job that kills the worker) fails instead. Returns the requeued ids."""
        now = int(time.time())
        with self._write() as conn:
            rows = conn.execute("SELECT id, attempts FROM videos WHERE status = 'in_progress'").fetchall()
            requeued = []
            for r in rows:
                if r["attempts"] >= max_attempts:
                    conn.execute("UPDATE videos SET status = 'failed', progress = 0, completed_at = ?, expires_at = ?, "
                                 "error_code = 'worker_crashed', error_message = ?, claim = NULL WHERE id = ?",
                                 (now, now + ttl_seconds, f"the worker stopped during this job {r['attempts']} times",
                                  r["id"]))
                    self._event(conn, r["id"], "failed")
                else:
                    conn.execute("UPDATE videos SET status = 'queued', progress = 0, claim = NULL WHERE id = ?",
                                 (r["id"],))
                    self._event(conn, r["id"], "requeued")
                    requeued.append(r["id"])
        return requeued

    def expire(self, now: float | None = None) -> list[str]:
        """Delete finished jobs past their expires_at, with their files. Returns their ids."""
        now = time.time() if now is None else now
        with self._write() as conn:
            ids = [r["id"] for r in conn.execute("SELECT id FROM videos WHERE expires_at IS NOT NULL AND expires_at <= ?",
                                                 (now,)).fetchall()]
            for video_id in ids:
                conn.execute("DELETE FROM videos WHERE id = ?", (video_id,))
                self._event(conn, video_id, "expired")
        for video_id in ids:
            self._remove_files(video_id)
        return ids

    def event_counts(self, event: str) -> dict[str, int]:
        """{video_id: how many times `event` happened to it} (bench/serve.py checks completions)."""
        rows = self._conn().execute("SELECT video_id, COUNT(*) AS n FROM events WHERE event = ? GROUP BY video_id",
                                    (event,)).fetchall()
        return {r["video_id"]: r["n"] for r in rows}
