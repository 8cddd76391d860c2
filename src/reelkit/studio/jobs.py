"""Analysis jobs: a queue in the database, run one by one in worker processes, never silently lost.

Each job runs ``reelkit analyze`` in its own process (:mod:`reelkit.studio.worker`), which writes its
progress to the database, so the web server stays responsive and a crash in one analysis cannot take
the server down. When the server starts, a job that was running when it stopped is queued again
(``max_attempts`` times in all, then marked failed with the reason); a worker dies with its server.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from reelkit.studio.db import FAILED, QUEUED, RUNNING, Job, utcnow
from reelkit.studio.settings import StudioSettings

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the worker before exec: the kernel sends it SIGTERM when the server's runner thread exits."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: a restart then finds the job still marked running and queues it again
        pass


def recover_interrupted(sessions: sessionmaker, max_attempts: int) -> list[int]:
    """Queue again the jobs a stopped server left running, or fail those out of attempts; their ids."""
    with sessions.begin() as session:
        jobs = session.scalars(select(Job).where(Job.status == RUNNING)).all()
        for job in jobs:
            job.worker_pid = None
            if job.attempts >= max_attempts:
                job.status, job.finished_at = FAILED, utcnow()
                job.error = f"the server stopped during this analysis {job.attempts} times; retry it or upload again"
            else:
                job.status, job.stage, job.progress = QUEUED, "resumed after a server restart", 0.0
        return [job.id for job in jobs]


class JobRunner:
    """``workers`` threads, each claiming the oldest queued job and running it in a worker process."""

    def __init__(self, settings: StudioSettings, sessions: sessionmaker) -> None:
        self.settings, self.sessions = settings, sessions
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._children: dict[int, subprocess.Popen] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        recover_interrupted(self.sessions, self.settings.max_attempts)
        for number in range(self.settings.workers):
            thread = threading.Thread(target=self._loop, name=f"reelkit-job-runner-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def notify(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Stop taking jobs; jobs in progress are interrupted and queued again for the next start."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            children = dict(self._children)
        for job_id, child in children.items():
            child.terminate()
        for thread in self._threads:
            thread.join(timeout=15)
        with self.sessions.begin() as session:
            session.execute(update(Job).where(Job.id.in_(list(children)), Job.status == RUNNING).values(
                status=QUEUED, stage="interrupted by a server shutdown; resumes at the next start",
                progress=0.0, worker_pid=None))

    def _claim(self) -> int | None:
        with self.sessions.begin() as session:
            for job_id in session.scalars(select(Job.id).where(Job.status == QUEUED).order_by(Job.id).limit(5)):
                # The status check in the WHERE clause makes the claim atomic between runner threads.
                claimed = session.execute(update(Job).where(Job.id == job_id, Job.status == QUEUED).values(
                    status=RUNNING, stage="starting", progress=0.0, attempts=Job.attempts + 1, error=None,
                    started_at=utcnow(), finished_at=None))
                if claimed.rowcount == 1:
                    return job_id
        return None

    def _loop(self) -> None:
        while not self._stop.is_set():
            job_id = self._claim()
            if job_id is None:
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                continue
            self._run(job_id)

    def _run(self, job_id: int) -> None:
        log = self.settings.data_dir / "logs" / f"job-{job_id}.log"
        log.parent.mkdir(exist_ok=True)
        env = {**os.environ, "REELKIT_DATA": str(self.settings.data_dir),
               "REELKIT_DATABASE_URL": self.settings.database_url, "REELKIT_ARCHIVE": str(self.settings.archive)}
        if self.settings.words is not None:
            env["REELKIT_WORDS"] = str(self.settings.words)
        with open(log, "ab") as output:
            child = subprocess.Popen([sys.executable, "-m", "reelkit.studio.worker", str(job_id)], env=env,
                                     stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=_die_with_parent)
            with self._lock:
                self._children[job_id] = child
            with self.sessions.begin() as session:
                session.execute(update(Job).where(Job.id == job_id).values(worker_pid=child.pid))
            code = child.wait()
            with self._lock:
                self._children.pop(job_id, None)
        if self._stop.is_set():
            return  # stop() queues the job again
        with self.sessions.begin() as session:
            job = session.get(Job, job_id)
            if job is not None and job.status == RUNNING:  # the worker died without saying why
                job.status, job.finished_at, job.worker_pid = FAILED, utcnow(), None
                job.error = f"the analysis process stopped unexpectedly (exit code {code}): {_last_line(log)}"


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"
