"""The studio's API, storage, database and job runner: real server, real database, real videos."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reelkit.studio import StudioSettings, create_app
from reelkit.studio.db import FAILED, QUEUED, RUNNING, Base, Job, Video, make_engine, migrate, session_factory
from reelkit.studio.jobs import recover_interrupted
from tests.studio_server import TOKEN, StudioServer

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def studio(tmp_path: Path):
    """The app in-process with its job runner off: uploads are stored and queued, not analysed."""
    settings = StudioSettings(data_dir=tmp_path / "studio", token=TOKEN, max_upload_bytes=2 * 1024 * 1024)
    with TestClient(create_app(settings, run_jobs=False)) as client:
        client.settings = settings
        yield client


def upload(client, data: bytes, filename: str = "clip.mp4", headers=AUTH, **params):
    return client.post("/api/videos", params={"filename": filename, **params}, content=data,
                       headers={**headers, "Content-Type": "application/octet-stream"})


def test_migrations_build_the_models_schema_on_sqlite_in_wal_mode(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(f"sqlite:///{tmp_path / 'studio.sqlite'}")
    migrate(engine)
    migrate(engine)  # a second start finds the schema current
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0001"


def test_every_route_but_login_needs_the_token(studio, demo_video: Path) -> None:
    assert studio.get("/api/videos").status_code == 401
    assert studio.get("/api/videos", headers={"Authorization": "Bearer wrong"}).status_code == 401
    refused = upload(studio, demo_video.read_bytes(), headers={})
    assert refused.status_code == 401 and "token" in refused.json()["error"]
    assert list(studio.settings.media_dir.iterdir()) == []  # nothing stored for a refused upload
    video = upload(studio, demo_video.read_bytes()).json()
    assert studio.get(f"/media/{video['id']}/report.json").status_code == 401
    page = studio.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert studio.post("/login", data={"token": "wrong", "next": "/"}, follow_redirects=False).headers["location"].startswith("/login?failed=1")
    signed_in = studio.post("/login", data={"token": TOKEN, "next": "//evil.example/"}, follow_redirects=False)
    assert signed_in.headers["location"] == "/"  # no open redirect off the site
    assert studio.get("/").status_code == 200  # the session cookie now opens the pages
    assert video["filename"] in studio.get("/").text


def test_bad_uploads_get_one_line_errors_and_leave_nothing_behind(studio, bad_videos: dict[str, Path]) -> None:
    expected = {"empty": "empty", "truncated": "not a readable video", "not_a_video": "corrupt or truncated",
                "text_file": "a .txt file is not a video format", "audio_with_cover": "only a cover picture"}
    for kind, words in expected.items():
        response = upload(studio, bad_videos[kind].read_bytes(), filename=bad_videos[kind].name)
        error = response.json()["error"]
        assert response.status_code == 415, (kind, error)
        assert words in error and "\n" not in error and str(studio.settings.data_dir) not in error
    too_large = upload(studio, os.urandom(3 * 1024 * 1024))
    assert too_large.status_code == 413 and "limit of 2 MB" in too_large.json()["error"]
    assert list(studio.settings.media_dir.iterdir()) == [] and list(studio.settings.upload_dir.iterdir()) == []
    assert studio.get("/api/videos", headers=AUTH).json() == []


def test_an_upload_streamed_without_a_length_is_cut_off_at_the_limit(studio) -> None:
    def chunks():
        for _ in range(64):
            yield os.urandom(64 * 1024)  # 4 MB in all, no Content-Length header

    response = studio.post("/api/videos", params={"filename": "big.mp4"}, content=chunks(), headers=AUTH)
    assert response.status_code == 413
    assert list(studio.settings.upload_dir.iterdir()) == []


def test_media_paths_cannot_leave_the_video_folder(studio, demo_video: Path) -> None:
    video = upload(studio, demo_video.read_bytes(), filename="../../etc/passwd.mp4").json()
    assert video["filename"] == "passwd.mp4"
    stored = list((studio.settings.media_dir / video["id"]).iterdir())
    assert [p.name for p in stored] == ["source.mp4"]
    report = studio.settings.media_dir / video["id"] / "report"
    report.mkdir()
    (report / "source.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    ok = studio.get(f"/media/{video['id']}/source.srt?download=1", headers=AUTH)
    assert ok.status_code == 200 and "hello" in ok.text
    assert 'filename="passwd.srt"' in ok.headers["content-disposition"]
    attempts = [f"/media/{video['id']}/..%2Fsource.mp4", f"/media/{video['id']}/..%2F..%2Fstudio.sqlite",
                f"/media/{video['id']}/%2e%2e%2ftoken", f"/media/{video['id']}/.%2E/.%2E/token",
                "/media/..%2F..%2F/token", f"/media/{video['id']}/%2Fetc%2Fpasswd", "/media/../token",
                f"/media/{video['id'][:-1]}x/source.srt", f"/media/{video['id']}/..", "/media/%2e%2e/studio.sqlite"]
    for path in attempts:
        response = studio.get(path, headers=AUTH)
        assert response.status_code == 404, path
        assert b"SQLite" not in response.content and TOKEN.encode() not in response.content


def test_the_openapi_schema_covers_the_api(studio) -> None:
    paths = studio.get("/openapi.json").json()["paths"]
    for path in ["/api/videos", "/api/videos/{video_id}", "/api/jobs/{job_id}", "/api/videos/{video_id}/analyse",
                 "/media/{video_id}/{name}", "/api/headlines/score", "/api/headlines/improve",
                 "/api/archive/ask", "/api/archive/conversations/{conversation_id}"]:
        assert path in paths, path
    assert "application/octet-stream" in paths["/api/videos"]["post"]["requestBody"]["content"]
    assert "delete" in paths["/api/videos/{video_id}"]
    assert "put" in paths["/api/videos/{video_id}/overlays"]
    docs = studio.get("/docs").text
    assert "/static/swagger/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()  # works offline
    assert studio.get("/static/swagger/swagger-ui-bundle.js").status_code == 200


def test_headline_lab_api_scores_and_improves(studio) -> None:
    scores = studio.post("/api/headlines/score", json={"headlines": ["i tried 5 viral hacks", "video"]}, headers=AUTH).json()
    assert [s["headline"] for s in scores] == ["i tried 5 viral hacks", "video"]
    assert all(abs(s["multiplier"] - 2.718281828 ** s["score"]) < 0.01 for s in scores)
    improved = studio.post("/api/headlines/improve", json={"headline": "i tried viral hacks", "alternatives": ["Viral hacks, tested"]},
                           headers=AUTH).json()
    texts = [v["headline"] for v in improved["variants"]]
    assert "Viral hacks, tested" in texts and all(v["reason"] for v in improved["variants"])
    assert [v["score"] for v in improved["variants"]] == sorted((v["score"] for v in improved["variants"]), reverse=True)
    blank = studio.post("/api/headlines/score", json={"headlines": ["  "]}, headers=AUTH)
    assert blank.status_code == 422 and "non-blank" in blank.json()["error"]
    wrong_type = studio.post("/api/headlines/improve", json={"headline": 5}, headers=AUTH)
    assert wrong_type.status_code == 422 and wrong_type.json()["error"].startswith("headline")


def test_interrupted_jobs_are_queued_again_then_failed_when_out_of_attempts(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'studio.sqlite'}")
    migrate(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        video = Video(id="a" * 32, filename="x.mp4", size=1, sha256="0" * 64, duration=1, width=2, height=2)
        session.add_all([video, Job(video=video, status=RUNNING, attempts=1), Job(video=video, status=RUNNING, attempts=2),
                         Job(video=video, status=QUEUED)])
    assert recover_interrupted(sessions, max_attempts=2) == [1, 2]
    with sessions() as session:
        first, second, third = (session.get(Job, i) for i in (1, 2, 3))
    assert first.status == QUEUED and "restart" in first.stage
    assert second.status == FAILED and "2 times" in second.error
    assert third.status == QUEUED


def test_twenty_concurrent_uploads_are_all_kept(tmp_path: Path, demo_video: Path) -> None:
    server = StudioServer(tmp_path / "studio", workers=0).start()
    try:
        payloads = [demo_video.read_bytes() + b"\0" * n for n in range(20)]  # trailing bytes: distinct files
        results: list = [None] * 20

        def send(n: int) -> None:
            with server.client() as client:
                results[n] = upload(client, payloads[n], filename=f"clip{n}.mp4", headers={}, headline=f"take {n}")

        threads = [threading.Thread(target=send, args=(n,)) for n in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [r.status_code for r in results] == [201] * 20, [r.text for r in results if r.status_code != 201]
        with server.client() as client:
            listed = client.get("/api/videos").json()
        assert len(listed) == 20 and len({v["id"] for v in listed}) == 20
        assert {v["headline"] for v in listed} == {f"take {n}" for n in range(20)}
        assert all(v["job"]["status"] == "queued" for v in listed)
        for n, result in enumerate(results):
            video = result.json()
            stored = (tmp_path / "studio" / "media" / video["id"] / "source.mp4").read_bytes()
            assert stored == payloads[n] and video["sha256"] == hashlib.sha256(payloads[n]).hexdigest()
        assert list((tmp_path / "studio" / "uploads").iterdir()) == []
    finally:
        server.stop()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead too
        return stat.read().split()[2] != "Z"


def test_a_server_killed_during_a_job_resumes_it_after_the_restart(tmp_path: Path, demo_video: Path) -> None:
    server = StudioServer(tmp_path / "studio", workers=1).start()
    try:
        with server.client() as client:
            video = upload(client, demo_video.read_bytes(), filename="demo.mp4", headers={}).json()
        job_id = video["job"]["id"]
        server.wait_for_job(job_id, until=("running",))
        database = sqlite3.connect(tmp_path / "studio" / "studio.sqlite")
        deadline = time.monotonic() + 60
        while (pid := database.execute("SELECT worker_pid FROM jobs WHERE id=?", (job_id,)).fetchone()[0]) is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        server.kill()
        deadline = time.monotonic() + 20
        while _pid_alive(pid):  # the worker dies with its server
            assert time.monotonic() < deadline, "the worker outlived its server"
            time.sleep(0.1)
        assert database.execute("SELECT status FROM jobs WHERE id=?", (job_id,)).fetchone()[0] == "running"
        database.close()
        server.start()
        job = server.wait_for_job(job_id)
        assert job["status"] == "done" and job["attempts"] == 2, job
        with server.client() as client:
            report = client.get(f"/api/videos/{video['id']}").json()["job"]["report"]
            assert report["video"]["duration"] > 0 and report["thumbnails"]
            srt = client.get(f"/media/{video['id']}/{report['files']['overlays']['srt']}")
        assert srt.status_code == 200 and "-->" in srt.text
        assert not any(p.name.startswith(".report") for p in (tmp_path / "studio" / "media" / video["id"]).iterdir())
    finally:
        server.stop()


def test_studio_command_fails_in_one_line_on_a_busy_port_or_bad_folder(tmp_path: Path) -> None:
    import socket

    from tests.conftest import run_cli

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run_cli("studio", "--data", str(tmp_path / "studio"), "--port", str(busy.getsockname()[1]))
    assert result.returncode == 2 and result.stderr.startswith("error: cannot listen on")
    assert len(result.stderr.strip().splitlines()) == 1
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli("studio", "--data", str(blocker / "studio"))
    assert result.returncode == 2 and "cannot use data folder" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_archive_bot_api_keeps_each_conversation(studio, tmp_path: Path) -> None:
    from reelkit.archive import ArchiveIndex
    from tests.test_archive import ROWS, write_csv

    empty = studio.post("/api/archive/ask", json={"question": "iphone"}, headers=AUTH)
    assert empty.status_code == 422 and "no videos yet" in empty.json()["error"]
    assert str(studio.settings.data_dir) not in empty.json()["error"]
    ArchiveIndex(studio.settings.archive, create=True).add_csv(write_csv(tmp_path / "trending.csv", ROWS))
    first = studio.post("/api/archive/ask", json={"question": "videos about the iPhone X"}, headers=AUTH).json()
    conversation = first["conversation_id"]
    assert first["answer"]["citations"] and "state" not in first["answer"]
    assert all("path" not in cited for cited in first["answer"]["citations"])  # no server paths leave the studio
    follow_up = studio.post("/api/archive/ask", json={"question": "what are its tags?", "conversation_id": conversation},
                            headers=AUTH).json()
    assert follow_up["conversation_id"] == conversation and "Face ID" in follow_up["answer"]["text"]
    other = studio.post("/api/archive/ask", json={"question": "what are its tags?"}, headers=AUTH).json()
    assert other["conversation_id"] != conversation  # a new conversation has no "it" to refer to
    messages = studio.get(f"/api/archive/conversations/{conversation}", headers=AUTH).json()["messages"]
    assert [m["role"] for m in messages] == ["user", "bot", "user", "bot"]
    bad = studio.post("/api/archive/ask", json={"question": "x", "conversation_id": "../../etc"}, headers=AUTH)
    assert bad.status_code == 422


def test_deleting_a_video_removes_its_jobs_files_and_archive_entry(studio, demo_video: Path, tmp_path: Path) -> None:
    import datetime as dt

    from reelkit.archive import ArchiveIndex
    from reelkit.archive.search import search
    from reelkit.studio.worker import index_in_archive
    from tests.test_archive import ROWS, write_csv, write_report

    settings = studio.settings
    busy = upload(studio, demo_video.read_bytes(), filename="busy.mp4").json()
    done = upload(studio, demo_video.read_bytes(), filename="done.mp4").json()
    report_dir = settings.media_dir / done["id"] / "report"
    report = json.loads(write_report(report_dir).read_text())  # a finished analysis, indexed as the worker does
    report["video"]["path"] = str(settings.media_dir / done["id"] / "source.mp4")  # what the worker analysed
    (report_dir / "report.json").write_text(json.dumps(report))
    index_in_archive(settings, report_dir, title="Cat piano lessons", day=dt.date(2026, 12, 1))
    archive = ArchiveIndex(settings.archive)
    archive.add_csv(write_csv(tmp_path / "trending.csv", ROWS))  # the archive's own videos must stay
    before = len(archive)

    def sources() -> list[str]:
        return [hit.record.source for hit in search(archive, "my cat learns piano", mode="hybrid", limit=10)]

    assert "local" in sources()
    asked = studio.post("/api/archive/ask", json={"question": "my cat learns piano"}, headers=AUTH).json()
    assert f"/videos/{done['id']}" in [cited.get("studio_url") for cited in asked["answer"]["citations"]]
    with studio.app.state.sessions.begin() as session:
        session.get(Job, done["job"]["id"]).status = "done"
        session.get(Job, busy["job"]["id"]).status = RUNNING

    refused = studio.delete(f"/api/videos/{busy['id']}", headers=AUTH)
    assert refused.status_code == 409 and f"job {busy['job']['id']}" in refused.json()["error"]
    assert (settings.media_dir / busy["id"] / "source.mp4").is_file()
    assert studio.get(f"/api/jobs/{busy['job']['id']}", headers=AUTH).status_code == 200
    assert studio.delete(f"/api/videos/{done['id']}").status_code == 401

    deleted = studio.delete(f"/api/videos/{done['id']}", headers=AUTH)
    assert deleted.status_code == 200 and deleted.json() == {"deleted": done["id"], "archive_entries_removed": 1}
    assert studio.get(f"/api/videos/{done['id']}", headers=AUTH).status_code == 404
    assert studio.get(f"/api/jobs/{done['job']['id']}", headers=AUTH).status_code == 404
    assert studio.get(f"/media/{done['id']}/report.json", headers=AUTH).status_code == 404
    assert sorted(p.name for p in settings.media_dir.iterdir()) == [busy["id"]]
    assert len(archive) == before - 1
    assert sources() and "local" not in sources()
    with sqlite3.connect(settings.archive) as database:  # its embedding went with it (ON DELETE CASCADE)
        assert database.execute("SELECT count(*) FROM embeddings").fetchone()[0] == len(archive)
    assert [v["id"] for v in studio.get("/api/videos", headers=AUTH).json()] == [busy["id"]]
    assert studio.delete(f"/api/videos/{done['id']}", headers=AUTH).status_code == 404
    # The conversation that cited it keeps the citation, marked deleted and without its dead links.
    stored = studio.get(f"/api/archive/conversations/{asked['conversation_id']}", headers=AUTH).json()["messages"]
    cited = [c for c in stored[1]["citations"] if c.get("filename") == "done.mp4"]
    assert len(cited) == 1 and cited[0]["deleted"] is True and "studio_url" not in cited[0]
    assert "thumbnail_url" not in cited[0]
    assert not any(c.get("deleted") for c in stored[1]["citations"] if c is not cited[0])
    studio.post("/login", data={"token": TOKEN, "next": "/"})
    page = studio.get(f"/videos/{done['id']}", headers={"Accept": "text/html"})  # an old link, in a browser
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert f"no video {done['id']}" in page.text and "Back to the videos" in page.text
    api = studio.get(f"/api/videos/{done['id']}", headers={**AUTH, "Accept": "text/html"})
    assert api.status_code == 404 and api.json() == {"error": f"no video {done['id']}"}


def test_the_teams_word_list_is_checked_at_start_and_read_by_each_analysis(tmp_path: Path, demo_video: Path) -> None:
    from tests.conftest import run_cli
    from tests.studio_server import free_port

    missing = run_cli("studio", "--data", str(tmp_path / "none"), "--port", str(free_port()),
                      "--words", str(tmp_path / "none.txt"))
    assert missing.returncode == 2 and missing.stderr.startswith("error: word list"), missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    words = tmp_path / "words.txt"
    words.write_text("caterpillar\n")
    server = StudioServer(tmp_path / "studio", workers=1, words=words).start()
    try:
        words.unlink()  # taken away after the start: the worker, which reads it for each analysis, says so
        with server.client() as client:
            video = upload(client, demo_video.read_bytes(), filename="demo.mp4", headers={}).json()
        job = server.wait_for_job(video["job"]["id"])
        assert job["status"] == FAILED and job["error"].startswith("word list") and "not found" in job["error"], job
    finally:
        server.stop()


def test_a_failed_analysis_names_the_upload_not_the_servers_paths(studio, demo_video: Path) -> None:
    from reelkit.studio.worker import run_job

    video = upload(studio, demo_video.read_bytes(), filename="my clip.mp4").json()
    source = studio.settings.media_dir / video["id"] / "source.mp4"
    source.write_bytes(source.read_bytes()[: source.stat().st_size // 3])  # damaged on disk after the upload
    with studio.app.state.sessions.begin() as session:
        session.get(Job, video["job"]["id"]).status = RUNNING
    run_job(video["job"]["id"], studio.settings)
    job = studio.get(f"/api/jobs/{video['job']['id']}", headers=AUTH).json()
    assert job["status"] == FAILED and job["error"].startswith("my clip.mp4: not a readable video"), job
    assert str(studio.settings.data_dir) not in job["error"] and "source.mp4" not in job["error"]


def test_analyse_again_with_a_new_headline(studio, demo_video: Path) -> None:
    video = upload(studio, demo_video.read_bytes(), headline="my old headline").json()
    busy = studio.post(f"/api/videos/{video['id']}/analyse", json={"headline": "too early"}, headers=AUTH)
    assert busy.status_code == 409  # its first analysis is still queued
    assert studio.get(f"/api/videos/{video['id']}", headers=AUTH).json()["headline"] == "my old headline"
    with studio.app.state.sessions.begin() as session:
        session.get(Job, video["job"]["id"]).status = "done"
    job = studio.post(f"/api/videos/{video['id']}/analyse", json={"headline": "  I tried 5 viral hacks "}, headers=AUTH)
    assert job.status_code == 201 and job.json()["status"] == QUEUED
    stored = studio.get(f"/api/videos/{video['id']}", headers=AUTH).json()
    assert stored["headline"] == "I tried 5 viral hacks" and stored["job"]["id"] == job.json()["id"]
    with studio.app.state.sessions.begin() as session:
        session.get(Job, job.json()["id"]).status = FAILED
    assert studio.post(f"/api/videos/{video['id']}/analyse", headers=AUTH).status_code == 201  # no body: kept
    assert studio.get(f"/api/videos/{video['id']}", headers=AUTH).json()["headline"] == "I tried 5 viral hacks"
    too_long = studio.post(f"/api/videos/{video['id']}/analyse", json={"headline": "x" * 301}, headers=AUTH)
    assert too_long.status_code == 422 and too_long.json()["error"].startswith("headline")


def test_results_download_as_one_zip(studio, demo_video: Path) -> None:
    import io
    import zipfile

    video = upload(studio, demo_video.read_bytes(), filename="my clip.mp4").json()
    early = studio.get(f"/api/videos/{video['id']}/results.zip", headers=AUTH)
    assert early.status_code == 404 and "no finished analysis" in early.json()["error"]
    report = studio.settings.media_dir / video["id"] / "report"
    report.mkdir()
    files = {"report.html": b"<img src='source_thumb1.jpg'>", "source_thumb1.jpg": os.urandom(5000),
             "source.srt": b"1\n00:00:00,000 --> 00:00:01,000\nhello\n"}
    for name, data in files.items():
        (report / name).write_bytes(data)
    assert studio.get(f"/api/videos/{video['id']}/results.zip").status_code == 401
    response = studio.get(f"/api/videos/{video['id']}/results.zip", headers=AUTH)
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == "attachment; filename*=utf-8''my%20clip-reelkit.zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as bundle:
        assert {name: bundle.read(name) for name in bundle.namelist()} == files  # names kept: the links work


def test_corrected_overlay_text_rewrites_subtitles_report_and_archive(studio, demo_video: Path) -> None:
    import datetime as dt

    import jsonschema

    from reelkit.analyze import REPORT_SCHEMA
    from reelkit.archive import ArchiveIndex
    from reelkit.archive.search import search
    from reelkit.studio.worker import index_in_archive
    from reelkit.text import from_json, parse_cues
    from tests.test_archive import write_report

    settings = studio.settings
    video = upload(studio, demo_video.read_bytes(), filename="cat.mp4").json()
    report_dir = settings.media_dir / video["id"] / "report"
    report = json.loads(write_report(report_dir).read_text())
    report["files"]["overlays"] = {"json": "source.json", "srt": "source.srt", "vtt": "source.vtt"}
    (report_dir / "report.json").write_text(json.dumps(report))
    index_in_archive(settings, report_dir, title="Cat piano lessons", day=dt.date(2026, 12, 1))
    assert search(ArchiveIndex(settings.archive), "day 12 of practice", mode="bm25", limit=5)
    job_id = video["job"]["id"]

    def correct(texts, job=job_id):
        return studio.put(f"/api/videos/{video['id']}/overlays", json={"job": job, "texts": texts}, headers=AUTH)

    assert correct(["a", "b", "c"]).status_code == 409  # its analysis has not finished
    with studio.app.state.sessions.begin() as session:
        job = session.get(Job, job_id)
        job.status, job.report = "done", report
    assert correct(["a", "b", "c"], job=job_id + 1).status_code == 409  # not the analysis on the page
    wrong = correct(["only one"])
    assert wrong.status_code == 422 and wrong.json()["error"] == "expected 3 texts, one per overlay line, got 1"
    assert correct(["x" * 501, "b", "c"]).status_code == 422
    wrong_type = studio.put(f"/api/videos/{video['id']}/overlays", json={"job": job_id, "texts": "abc"}, headers=AUTH)
    assert wrong_type.status_code == 422 and "\n" not in wrong_type.json()["error"]
    assert studio.put(f"/api/videos/{'0' * 32}/overlays", json={"job": job_id, "texts": []}, headers=AUTH).status_code == 404
    assert studio.put(f"/api/videos/{video['id']}/overlays", json={"job": job_id, "texts": ["a"] * 3}).status_code == 401

    done = correct(["@whiskers", "my cat learns\npiano  jazz", ""])
    assert done.status_code == 200 and (done.json()["edited"], done.json()["removed"]) == (1, 1)
    expected = [("@whiskers", 0.0, 8.0, False), ("my cat learns piano jazz", 0.5, 3.0, True)]
    stored = studio.get(f"/api/videos/{video['id']}", headers=AUTH).json()["job"]["report"]["overlays"]
    assert [(l["text"], l["start"], l["end"], l.get("edited", False)) for l in stored] == expected
    on_disk = json.loads((report_dir / "report.json").read_text())["overlays"]
    assert [(l["text"], l.get("edited", False)) for l in on_disk] == [(t, e) for t, _, _, e in expected]
    assert "my cat learns piano jazz <span class=\"meta\">(corrected by hand)" in (report_dir / "report.html").read_text()
    jsonschema.validate(json.loads((report_dir / "report.json").read_text()), REPORT_SCHEMA)
    assert [(l.text, l.start, l.end) for l in from_json((report_dir / "source.json").read_text())] == \
        [(t, s, e) for t, s, e, _ in expected]
    for name in ("source.srt", "source.vtt"):
        assert [(text, start, end) for start, end, text in parse_cues((report_dir / name).read_text())] == \
            [(t, s, e) for t, s, e, _ in expected]
    hits = search(ArchiveIndex(settings.archive), "piano jazz", mode="bm25", limit=5)
    assert hits and "my cat learns piano jazz" in hits[0].record.overlay_text
    assert not search(ArchiveIndex(settings.archive), "day 12 of practice", mode="bm25", limit=5)
    quoted = correct(['say "hi" <b>', "my cat learns piano jazz"], job=job_id)
    assert quoted.status_code == 200 and quoted.json()["edited"] == 1
    studio.post("/login", data={"token": TOKEN, "next": "/"})
    page = studio.get(f"/videos/{video['id']}").text
    assert 'value="say &#34;hi&#34; &lt;b&gt;"' in page and "<b>" not in page
