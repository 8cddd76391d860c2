"""A real ``reelkit studio`` server in a subprocess, for the studio's end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

TOKEN = "test-token-0123456789"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class StudioServer:
    """``reelkit studio`` on a free port with its own data folder; ``kill()`` and ``start()`` again to restart."""

    def __init__(self, data: Path, workers: int = 1, max_upload_mb: float = 50, archive: Path | None = None,
                 words: Path | None = None) -> None:
        self.data, self.workers, self.max_upload_mb, self.archive = data, workers, max_upload_mb, archive
        self.words = words
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log = data.parent / f"{data.name}-server.log"

    def start(self, timeout: float = 60) -> "StudioServer":
        exe = Path(sys.executable).parent / "reelkit"
        command = [str(exe), "studio", "--data", str(self.data), "--port", str(self.port),
                   "--workers", str(self.workers), "--max-upload-mb", str(self.max_upload_mb)]
        if self.archive:
            command += ["--archive", str(self.archive)]
        if self.words:
            command += ["--words", str(self.words)]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, env={**os.environ, "REELKIT_TOKEN": TOKEN}, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"studio exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("studio did not start in time")

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to tidy up, as in a crash or a pulled plug."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def wait_for_job(self, job_id: int, until: tuple[str, ...] = ("done", "failed"), timeout: float = 240) -> dict:
        deadline = time.monotonic() + timeout
        with self.client() as client:
            while time.monotonic() < deadline:
                job = client.get(f"/api/jobs/{job_id}").json()
                if job["status"] in until:
                    return job
                time.sleep(0.3)
        raise TimeoutError(f"job {job_id} still {job['status']} ({job['stage']}) after {timeout} s")
