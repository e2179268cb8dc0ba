"""The job store's exactly-once rules (minisora/serve/store.py), without a server: claim tokens,
recovery after a crash, the attempt cap, deletion during a run, expiry, pages."""

from __future__ import annotations

import time

import pytest

from minisora.serve.store import Job, QueueFull, Store, new_video_id


def job(prompt: str = "a red circle") -> Job:
    return Job(id=new_video_id(), status="queued", progress=0, created_at=int(time.time()), completed_at=None,
               expires_at=None, model="m", seconds="1", size="64x64", prompt=prompt, remixed_from_video_id=None,
               error_code=None, error_message=None, task="create", params={"seed": 1}, num_frames=None, attempts=0,
               claim=None)


def test_a_job_interrupted_by_a_crash_runs_again_and_completes_once(tmp_path):
    store = Store(tmp_path)
    a = store.add(job(), max_active=10)
    assert store.claim("run-1").id == a.id and store.set_progress(a.id, "run-1", 40)
    assert store.requeue_interrupted(max_attempts=3, ttl_seconds=60) == [a.id]  # the server restarted
    assert store.get(a.id).status == "queued" and store.get(a.id).progress == 0
    assert store.claim("run-2").id == a.id
    # the old run (had it survived) can neither report progress nor finish; the new one does, once
    assert not store.set_progress(a.id, "run-1", 90)
    assert not store.finish(a.id, "run-1", ttl_seconds=60, num_frames=9)
    assert store.finish(a.id, "run-2", ttl_seconds=60, num_frames=9, seconds="1", size="64x64")
    assert not store.finish(a.id, "run-2", ttl_seconds=60, num_frames=9)
    assert store.event_counts("completed") == {a.id: 1} and store.event_counts("requeued") == {a.id: 1}
    done = store.get(a.id)
    assert (done.status, done.progress, done.attempts, done.expires_at - done.completed_at) == ("completed", 100, 2, 60)


def test_a_job_that_keeps_killing_the_worker_fails_after_max_attempts(tmp_path):
    store = Store(tmp_path)
    a = store.add(job(), max_active=10)
    for attempt in range(3):
        assert store.claim(f"run-{attempt}").id == a.id
        requeued = store.requeue_interrupted(max_attempts=3, ttl_seconds=60)
    assert requeued == [] and store.get(a.id).status == "failed" and store.get(a.id).error_code == "worker_crashed"


def test_deleting_a_running_job_stops_it(tmp_path):
    store = Store(tmp_path)
    a = store.add(job(), max_active=10)
    store.claim("run")
    (store.job_dir(a.id)).mkdir(parents=True)
    assert store.delete(a.id) and not store.job_dir(a.id).exists()
    assert not store.set_progress(a.id, "run", 50)  # the worker's signal to drop the job
    assert not store.finish(a.id, "run", ttl_seconds=60) and store.get(a.id) is None


def test_queue_limit_expiry_pages_and_id_checks(tmp_path):
    store = Store(tmp_path)
    ids = [store.add(job(f"p{i}"), max_active=3).id for i in range(3)]
    with pytest.raises(QueueFull):
        store.add(job(), max_active=3)
    page, more = store.list(None, 2, "asc")
    assert [j.id for j in page] == ids[:2] and more
    page, more = store.list(ids[1], 2, "asc")
    assert [j.id for j in page] == ids[2:] and not more
    assert [j.id for j in store.list(ids[2], 5, "desc")[0]] == ids[1::-1]
    with pytest.raises(KeyError):
        store.list(new_video_id(), 2, "asc")
    store.claim("run")
    store.finish(ids[0], "run", ttl_seconds=0)
    store.job_dir(ids[0]).mkdir(parents=True)
    assert store.expire() == [ids[0]] and not store.job_dir(ids[0]).exists() and store.get(ids[0]) is None
    for bad in ("../jobs.sqlite3", "video_" + "A" * 32, "video_" + "0" * 31, "video_" + "0" * 32 + "/x"):
        with pytest.raises(ValueError):
            store.job_dir(bad)
