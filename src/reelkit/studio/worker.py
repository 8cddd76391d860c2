"""One analysis job, run in its own process by :class:`reelkit.studio.jobs.JobRunner`.

``python -m reelkit.studio.worker JOB_ID`` (with ``REELKIT_DATA`` and ``REELKIT_DATABASE_URL`` set by
the runner) runs :class:`reelkit.analyze.VideoAnalyzer` on the job's video into a staging folder,
writes progress to the database as it goes, and moves the results into the video's ``report/``
folder only when the whole report is done, so a resumed job starts clean and a finished one is whole.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
import traceback
from pathlib import Path

from reelkit.errors import ReelkitError
from reelkit.studio.db import DONE, FAILED, RUNNING, Job, make_engine, session_factory, utcnow
from reelkit.studio.settings import StudioSettings
from reelkit.studio.storage import MediaStore

STUDIO_CHANNEL = "studio upload"  # the archive's channel for videos uploaded to the studio


class ProgressWriter:
    """The analyzer's progress callback: writes stage and share to the job, at most twice a second."""

    def __init__(self, sessions, job_id: int) -> None:
        self.sessions, self.job_id = sessions, job_id
        self._last_stage, self._last_time = None, 0.0

    def __call__(self, stage: str, share: float) -> None:
        now = time.monotonic()
        if stage == self._last_stage and now - self._last_time < 0.5:
            return
        self._last_stage, self._last_time = stage, now
        with self.sessions.begin() as session:
            job = session.get(Job, self.job_id)
            job.stage, job.progress = stage, round(min(max(share, 0.0), 0.99), 3)


def run_job(job_id: int, settings: StudioSettings) -> None:
    sessions = session_factory(make_engine(settings.database_url))
    store = MediaStore(settings.media_dir, settings.upload_dir, settings.max_upload_bytes)
    with sessions.begin() as session:
        job = session.get(Job, job_id)
        if job is None or job.status != RUNNING:
            return
        video_id, headline = job.video_id, job.video.headline
        filename, uploaded = job.video.filename, job.video.created_at
    video_name = Path(filename).stem
    progress = ProgressWriter(sessions, job_id)
    final = store.report_dir(video_id)
    staging = final.with_name(f".report-job{job_id}")
    try:
        progress("loading models", 0.0)
        from reelkit.analyze import AnalyzeConfig, VideoAnalyzer
        from reelkit.text.lexicon import read_word_list

        words = tuple(read_word_list(settings.words)) if settings.words else ()
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        analyzer = VideoAnalyzer(AnalyzeConfig(words=words))
        report = analyzer(store.source(video_id), staging, headline, progress=progress)
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
    except (ReelkitError, FileNotFoundError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        _finish(sessions, job_id, FAILED, error=_as_uploaded(str(error), store, video_id, filename))
        return
    except Exception as error:  # the traceback goes to the job's log; the page gets one line
        traceback.print_exc()
        shutil.rmtree(staging, ignore_errors=True)
        _finish(sessions, job_id, FAILED, error=f"internal error ({type(error).__name__}: {error}); see logs/job-{job_id}.log")
        return
    # Indexed while the job still runs, so that the video cannot be deleted before its archive entry exists.
    index_in_archive(settings, final, title=headline or video_name, day=uploaded.date())
    _finish(sessions, job_id, DONE, report=report)


def _as_uploaded(message: str, store: MediaStore, video_id: str, filename: str) -> str:
    """An error as the studio's user sees it: the upload's own name, not the server's paths."""
    folder = str(store.folder(video_id))
    message = re.sub(re.escape(folder) + r"/source\.[a-z0-9]+", lambda _: filename, message)
    return message.replace(folder + "/", "")


def index_in_archive(settings: StudioSettings, report_dir, title: str, day) -> None:
    """Make the finished upload findable by the archive bot; the analysis stands even if this fails."""
    from reelkit.archive import ArchiveIndex

    try:
        ArchiveIndex(settings.archive, create=True).add_report(report_dir, channel=STUDIO_CHANNEL, title=title, day=day)
    except ReelkitError as error:
        print(f"not indexed in the archive: {error}", file=sys.stderr)


def _finish(sessions, job_id: int, status: str, error: str | None = None, report: dict | None = None) -> None:
    with sessions.begin() as session:
        job = session.get(Job, job_id)
        job.status, job.error, job.report, job.finished_at, job.worker_pid = status, error, report, utcnow(), None
        job.stage, job.progress = ("done", 1.0) if status == DONE else ("failed", job.progress)


def main() -> None:
    run_job(int(sys.argv[1]), StudioSettings())


if __name__ == "__main__":
    main()
