"""Starting a real `minisora serve` process for the serve tests (not a test module itself)."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Server:
    url: str  # http://127.0.0.1:PORT
    data: Path
    proc: subprocess.Popen
    log: list[str] = field(default_factory=list)

    @property
    def api(self) -> str:
        return self.url + "/v1"


@contextmanager
def running_server(data: Path, *args: str, timeout: float = 120.0):
    """`minisora serve --port 0` in a subprocess; yields once it printed that the model is loaded."""
    cmd = [sys.executable, "-m", "minisora.cli", "serve", "--port", "0", "--data", str(data), *args]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log: list[str] = []
    ready = threading.Event()
    url: list[str] = []

    def drain():  # keeps the pipe empty for the server's whole life
        for line in proc.stdout:
            log.append(line)
            m = re.search(r"ready at (http://\S+?)/? ", line)
            if m and not url:
                url.append(m[1])
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    t0 = time.monotonic()
    while not ready.wait(0.2):
        if time.monotonic() - t0 > timeout:
            proc.kill()
            raise TimeoutError("the server did not start:\n" + "".join(log))
    if not url:
        proc.wait(10)
        raise RuntimeError(f"the server exited ({proc.returncode}):\n" + "".join(log))
    try:
        yield Server(url=url[0].rstrip("/"), data=data, proc=proc, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
