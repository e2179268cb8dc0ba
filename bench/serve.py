"""Load and fault benchmark of `minisora serve`, on loopback; prints its bars last, exits 1 when one is missed.

Phase 1 (load): N concurrent clients (default 50) each create a job and poll it, at the interval the
server's openai-poll-after-ms header asks for, until it completes, while the worker generates them
one by one. Bars: all N complete, no job is lost or duplicated (the list holds each id once, and
the store's event log has exactly one completion per job), and the p95 latency of
GET /v1/videos/{id} under this load is at most 50 ms. The peer figure, measured in the same run, is
the same GET's p95 with the server idle (no jobs, one client), and the ratio is printed.

Phase 2 (kill and restart): K jobs are accepted, the server is killed with SIGKILL while one job is
in progress and the others are queued (its worker dies with it), then it is restarted on the same
data directory. Bar: every job accepted before the kill completes exactly once after the restart
(one `completed` event each; the interrupted one was re-queued and rerun), and each video decodes.

Bounded: every wait has a deadline (--timeout per phase); clients use a minimal HTTP/1.1 client with
keep-alive on asyncio, so the client's own cost stays small next to the server's.

Usage: python bench/serve.py [--clients 50] [--kill-jobs 12] [--steps 4] [--seconds 1] [--timeout 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
P95_BAR_MS = 50.0


class Http:
    """One keep-alive HTTP/1.1 connection: request() -> (status, headers, parsed JSON body)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body: dict | None = None):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = json.dumps(body).encode() if body is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(data)}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        self.writer.write(head.encode() + b"\r\n" + data)
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        headers = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        payload = await self.reader.readexactly(int(headers.get("content-length", 0)))
        return status, headers, json.loads(payload) if payload else None

    async def close(self):
        if self.writer is not None:
            self.writer.close()


def start_server(data: Path, args) -> tuple[subprocess.Popen, str, int]:
    cmd = [sys.executable, "-m", "minisora.cli", "serve", "--port", "0", "--data", str(data),
           "--max-queue", str(max(args.clients, args.kill_jobs) + 10), "--poll-after-ms", str(args.poll_ms)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    found: list[re.Match] = []
    ready = threading.Event()

    def drain():
        for line in proc.stdout:
            m = re.search(r"ready at http://([\d.]+):(\d+)/", line)
            if m and not found:
                found.append(m)
                ready.set()
            elif "Error" in line or "Traceback" in line:
                sys.stderr.write("server: " + line)
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    if not ready.wait(args.timeout) or not found:
        proc.kill()
        raise SystemExit("the server did not start")
    return proc, found[0][1], int(found[0][2])


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


async def wait_done(http: Http, video_id: str, deadline: float, latencies: list[float] | None = None) -> dict:
    while True:
        t0 = time.perf_counter()
        status, headers, video = await http.request("GET", f"/v1/videos/{video_id}")
        if latencies is not None:
            latencies.append((time.perf_counter() - t0) * 1000)
        if status != 200:
            raise RuntimeError(f"GET {video_id}: HTTP {status} {video}")
        if video["status"] in ("completed", "failed"):
            return video
        if time.monotonic() > deadline:
            raise TimeoutError(f"{video_id} still {video['status']} at the deadline")
        await asyncio.sleep(int(headers.get("openai-poll-after-ms", "1000")) / 1000)


def job_body(args, i: int) -> dict:
    return {"prompt": "a red circle moving right", "seconds": args.seconds, "num_inference_steps": args.steps, "seed": i}


async def idle_latency(host: str, port: int, video_id: str, n: int = 300, warmup: int = 20) -> list[float]:
    http, out = Http(host, port), []
    for i in range(warmup + n):
        t0 = time.perf_counter()
        await http.request("GET", f"/v1/videos/{video_id}")
        if i >= warmup:
            out.append((time.perf_counter() - t0) * 1000)
        await asyncio.sleep(0.01)  # one client at a modest rate: the server's answer time, not a burst
    await http.close()
    return out


async def load_phase(host: str, port: int, args) -> dict:
    deadline = time.monotonic() + args.timeout
    latencies: list[float] = []
    start = asyncio.Event()

    async def client(i: int):
        http = Http(host, port)
        await start.wait()
        status, _, video = await http.request("POST", "/v1/videos", job_body(args, i))
        if status != 200:
            raise RuntimeError(f"client {i}: create answered {status} {video}")
        done = await wait_done(http, video["id"], deadline, latencies)
        await http.close()
        return done

    tasks = [asyncio.create_task(client(i)) for i in range(args.clients)]
    t0 = time.perf_counter()
    start.set()  # all clients send their create at once
    results = await asyncio.gather(*tasks)
    return {"videos": results, "latencies": latencies, "wall": time.perf_counter() - t0}


def completions(data: Path) -> dict[str, int]:
    with sqlite3.connect(data / "jobs.sqlite3") as db:
        return dict(db.execute("SELECT video_id, COUNT(*) FROM events WHERE event = 'completed' GROUP BY video_id"))


def requeued(data: Path) -> set[str]:
    with sqlite3.connect(data / "jobs.sqlite3") as db:
        return {r[0] for r in db.execute("SELECT video_id FROM events WHERE event = 'requeued'")}


def worker_pids(server_pid: int) -> list[int]:
    pids = []
    for task in Path(f"/proc/{server_pid}/task").glob("*/children"):
        pids += [int(p) for p in task.read_text().split()]
    return pids


async def list_all(host: str, port: int) -> list[str]:
    http, ids, after = Http(host, port), [], None
    while True:
        _, _, page = await http.request("GET", "/v1/videos?limit=100&order=asc" + (f"&after={after}" if after else ""))
        ids += [v["id"] for v in page["data"]]
        if not page["has_more"]:
            break
        after = page["last_id"]
    await http.close()
    return ids


async def kill_phase(data: Path, args) -> dict:
    proc, host, port = start_server(data, args)
    http = Http(host, port)
    accepted = []
    for i in range(args.kill_jobs):
        body = {**job_body(args, 1000 + i), "seconds": args.kill_seconds, "num_inference_steps": args.kill_steps}
        status, _, video = await http.request("POST", "/v1/videos", body)
        assert status == 200, video
        accepted.append(video["id"])
    deadline = time.monotonic() + args.timeout
    while True:  # kill once the worker is inside a job (progress > 0), with others still queued behind it
        _, _, page = await http.request("GET", "/v1/videos?limit=100")
        states = {v["id"]: (v["status"], v["progress"]) for v in page["data"]}
        running = [i for i, (s, p) in states.items() if s == "in_progress" and p > 0]
        if running or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    await http.close()
    workers = worker_pids(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    orphans = [p for p in workers if Path(f"/proc/{p}").exists() and "zombie" not in Path(f"/proc/{p}/status").read_text()]
    snapshot = {s for s, _ in states.values()}
    t0 = time.perf_counter()
    proc, host, port = start_server(data, args)
    try:
        http = Http(host, port)
        deadline = time.monotonic() + args.timeout
        done = [await wait_done(http, vid, deadline) for vid in accepted]
        await http.close()
        listed = await list_all(host, port)
    finally:
        proc.terminate()
        proc.wait(30)
    return {"accepted": accepted, "done": done, "running_at_kill": running, "states_at_kill": snapshot,
            "orphans": orphans, "workers": workers, "listed": listed, "recovery_wall": time.perf_counter() - t0}


def decodes(path: Path, frames: int) -> bool:
    import av

    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0)) == frames


async def main_async(args) -> int:
    bars: list[tuple[str, bool, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        data = Path(tmp) / "load"
        proc, host, port = start_server(data, args)
        try:
            http = Http(host, port)
            _, _, first = await http.request("POST", "/v1/videos", job_body(args, 10_000))
            await wait_done(http, first["id"], time.monotonic() + args.timeout)
            await http.close()
            idle = await idle_latency(host, port, first["id"])
            load = await load_phase(host, port, args)
            listed = await list_all(host, port)
        finally:
            proc.terminate()
            proc.wait(30)
        ids = [v["id"] for v in load["videos"]]
        statuses = {v["status"] for v in load["videos"]}
        counts = completions(data)
        lost_or_dup = (len(set(ids)) != args.clients or statuses != {"completed"}
                       or sorted(listed) != sorted(ids + [first["id"]]) or len(listed) != len(set(listed))
                       or any(counts.get(i) != 1 for i in ids))
        lat_p95, idle_p95 = p95(load["latencies"]), p95(idle)
        bars.append((f"load: {args.clients} concurrent clients, all complete, none lost or duplicated", not lost_or_dup,
                     f"{sum(v['status'] == 'completed' for v in load['videos'])}/{args.clients} completed, "
                     f"{len(set(ids))} distinct ids, listed {len(listed)} (incl. 1 warm-up), completions per job "
                     f"{sorted(set(counts.get(i, 0) for i in ids))}, {args.clients / load['wall']:.2f} jobs/s"))
        bars.append((f"load: p95 GET /v1/videos/{{id}} <= {P95_BAR_MS:g} ms", lat_p95 <= P95_BAR_MS,
                     f"p95 {lat_p95:.1f} ms, p50 {statistics.median(load['latencies']):.1f} ms over "
                     f"{len(load['latencies'])} GETs; idle peer (one client, no jobs) p95 {idle_p95:.1f} ms, p50 "
                     f"{statistics.median(idle):.1f} ms (p95 ratio load/idle {lat_p95 / idle_p95:.2f}x)"))

        data = Path(tmp) / "kill"
        kill = await kill_phase(data, args)
        counts, req = completions(data), requeued(data)
        exactly_once = all(counts.get(i) == 1 for i in kill["accepted"])
        all_done = all(v["status"] == "completed" for v in kill["done"])
        files_ok = all(decodes(data / "videos" / v["id"] / "video.mp4", 1 + int(args.kill_seconds) * 8)
                       for v in kill["done"] if v["status"] == "completed")
        bars.append(("kill -9 and restart: every accepted job completes exactly once",
                     exactly_once and all_done and files_ok and bool(kill["running_at_kill"])
                     and sorted(kill["listed"]) == sorted(kill["accepted"]) and not kill["orphans"],
                     f"{len(kill['accepted'])} accepted; at the kill: {len(kill['running_at_kill'])} in progress, states "
                     f"{sorted(kill['states_at_kill'])}; after restart {sum(v['status'] == 'completed' for v in kill['done'])} "
                     f"completed, completions per job {sorted(set(counts.get(i, 0) for i in kill['accepted']))}, re-queued "
                     f"{len(req & set(kill['accepted']))}, videos decode: {files_ok}, worker left alive after "
                     f"the kill: {len(kill['orphans'])} of {len(kill['workers'])}, recovery {kill['recovery_wall']:.1f} s"))

    print(f"\nbench/serve.py: minisora serve, bundled model, seconds={args.seconds} steps={args.steps}, "
          f"poll-after {args.poll_ms} ms, {os.cpu_count()} CPUs")
    for name, ok, figures in bars:
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}\n         {figures}")
    return 0 if all(ok for _, ok, _ in bars) else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--steps", type=int, default=4, help="sampling steps of each load job")
    ap.add_argument("--seconds", default="1", help="clip length of each load job")
    ap.add_argument("--poll-ms", type=int, default=250, help="the server's openai-poll-after-ms")
    ap.add_argument("--kill-jobs", type=int, default=12)
    ap.add_argument("--kill-steps", type=int, default=8)
    ap.add_argument("--kill-seconds", default="2")
    ap.add_argument("--timeout", type=float, default=300, help="deadline of each phase, seconds")
    return asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
