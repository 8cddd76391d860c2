"""The studio's FastAPI application: JSON API (``/api``, OpenAPI at ``/docs``), pages and media.

Every route but ``/login``, ``/healthz``, the API's schema (``/openapi.json``, ``/docs``) and the static
assets needs the studio's token, as
``Authorization: Bearer TOKEN`` (API clients) or the session cookie that ``/login`` sets (browsers).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import tempfile
import threading
import zipfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Callable
from urllib.parse import quote

from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
import swagger_ui_bundle
from sqlalchemy import delete, func, select
from starlette.exceptions import HTTPException as StarletteHTTPException

from reelkit import __version__
from reelkit.errors import ReelkitError, VideoError
from reelkit.studio.db import (DONE, FAILED, QUEUED, RUNNING, Conversation, Job, Video, make_engine, migrate,
                               session_factory)
from reelkit.studio.jobs import JobRunner
from reelkit.studio.settings import StudioSettings
from reelkit.studio.storage import MediaStore, UploadTooLarge

HERE = Path(__file__).parent
logger = logging.getLogger("reelkit.studio")
COOKIE = "reelkit_session"
UPLOAD_BODY = {"requestBody": {"required": True, "description": "The video file's bytes (streamed).",
                               "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


class LoginRequired(Exception):
    """A page was asked for without a session: the browser goes to the login page."""


class HeadlinesIn(BaseModel):
    headlines: list[str] = Field(min_length=1, max_length=200)


class ImproveIn(BaseModel):
    headline: str = Field(min_length=1, max_length=300)
    alternatives: list[str] = Field(default_factory=list, max_length=50)
    n: int = Field(default=8, ge=1, le=30)


class AnalyseIn(BaseModel):
    headline: str | None = Field(default=None, max_length=300)  # given: replaces the video's ("" clears it)


class OverlaysIn(BaseModel):
    job: int  # the analysis whose lines these texts correct (a newer analysis makes the request a conflict)
    # One text per overlay line of that analysis, in its order; an empty text removes the line.
    texts: list[Annotated[str, Field(max_length=500)]] = Field(max_length=10_000)


class AskIn(BaseModel):
    question: str = Field(min_length=1, max_length=500)
    conversation_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")


def _session_value(token: str) -> str:
    # The cookie is derived from the token, so changing the token signs every browser out.
    return hmac.new(token.encode(), b"reelkit studio session", hashlib.sha256).hexdigest()


def job_json(job: Job | None, with_report: bool = False) -> dict[str, Any] | None:
    if job is None:
        return None
    out = {"id": job.id, "video_id": job.video_id, "status": job.status, "stage": job.stage,
           "progress": job.progress, "error": job.error, "attempts": job.attempts,
           "created_at": job.created_at.isoformat() + "Z",
           "finished_at": job.finished_at.isoformat() + "Z" if job.finished_at else None}
    if with_report:
        out["report"] = job.report
    return out


def video_json(video: Video, job: Job | None, with_report: bool = False) -> dict[str, Any]:
    return {"id": video.id, "filename": video.filename, "size": video.size, "sha256": video.sha256,
            "headline": video.headline, "duration": video.duration, "width": video.width, "height": video.height,
            "created_at": video.created_at.isoformat() + "Z", "url": f"/videos/{video.id}",
            "job": job_json(job, with_report)}


class _Lazy:
    """A model built on first use, once, whichever request thread asks first."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self.build, self.value, self.lock = build, None, threading.Lock()

    def __call__(self) -> Any:
        with self.lock:
            if self.value is None:
                self.value = self.build()
            return self.value


def create_app(settings: StudioSettings | None = None, run_jobs: bool = True, warm_up: bool = False) -> FastAPI:
    """The studio app; ``run_jobs=False`` queues uploads without analysing them (another server may);
    ``warm_up`` loads the headline and archive models in the background at start, so that the first
    question does not wait for them."""
    settings = settings or StudioSettings()
    engine = make_engine(settings.database_url)
    migrate(engine)
    sessions = session_factory(engine)
    store = MediaStore(settings.media_dir, settings.upload_dir, settings.max_upload_bytes)
    runner = JobRunner(settings, sessions)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    cookie_value = _session_value(settings.token)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if run_jobs:
            runner.start()
        if warm_up:
            threading.Thread(target=app.state.warm_up, name="reelkit-warm-up", daemon=True).start()
        yield
        if run_jobs:
            runner.stop()
        engine.dispose()

    app = FastAPI(title="reelkit studio", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Upload a video, follow its analysis, and read overlays, thumbnails, faces, "
                              "popularity and headline ideas; score headlines; ask the archive bot. "
                              "Send `Authorization: Bearer TOKEN` with every request.")
    app.state.settings, app.state.sessions, app.state.runner = settings, sessions, runner
    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger")
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.get("/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        # Swagger UI from the swagger-ui-bundle wheel: FastAPI's default page loads it from a CDN,
        # which an offline studio cannot reach.
        return get_swagger_ui_html(openapi_url="/openapi.json", title="reelkit studio API",
                                   swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger/swagger-ui.css",
                                   swagger_favicon_url="/static/swagger/favicon-32x32.png")

    def authorised(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer ") and hmac.compare_digest(header[7:].strip().encode(), settings.token.encode()):
            return True
        return hmac.compare_digest(request.cookies.get(COOKIE, "").encode(), cookie_value.encode())

    def require_token(request: Request) -> None:
        if not authorised(request):
            raise HTTPException(401, "a valid token is required (Authorization: Bearer TOKEN, or sign in)",
                                headers={"WWW-Authenticate": "Bearer"})

    def require_login(request: Request) -> None:
        if not authorised(request):
            raise LoginRequired()

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, _error: LoginRequired):
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        if _wants_page(request):  # a browser that followed a link to a page: a page, not JSON
            title = "Not found" if error.status_code == 404 else f"Error {error.status_code}"
            return templates.TemplateResponse(request, "error.html", {
                "version": __version__, "status": error.status_code, "title": title, "message": str(error.detail)},
                status_code=error.status_code)
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, error: RequestValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())[1:]) or "request"
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid')}"}, status_code=422)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception):
        # The traceback goes to the server's log; the client gets one line, never the internals.
        logger.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"error": f"internal error ({type(error).__name__}); the server log has the details"},
                            status_code=500)

    def latest_job(session, video_id: str) -> Job | None:
        return session.scalars(select(Job).where(Job.video_id == video_id).order_by(Job.id.desc()).limit(1)).first()

    def get_video(session, video_id: str) -> Video:
        video = session.get(Video, video_id) if len(video_id) == 32 else None
        if video is None:
            raise HTTPException(404, f"no video {video_id[:40]}")
        return video

    # ---- API: videos and jobs ---------------------------------------------------------------------
    @app.post("/api/videos", status_code=201, dependencies=[Depends(require_token)], openapi_extra=UPLOAD_BODY,
              tags=["videos"], summary="Upload a video (the request body is the file) and queue its analysis")
    async def upload(request: Request, filename: str = Query("upload.mp4", max_length=255),
                     headline: str | None = Query(None, max_length=300)) -> dict[str, Any]:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_upload_bytes:
            raise HTTPException(413, f"upload is larger than the limit of {settings.max_upload_bytes // (1024 * 1024)} MB")
        try:
            stored = await store.save(request.stream(), filename)
        except UploadTooLarge as error:
            raise HTTPException(413, str(error)) from None
        except VideoError as error:
            raise HTTPException(415, f"not a usable video: {error}") from None
        headline = headline.strip() if headline and headline.strip() else None
        with sessions.begin() as session:
            video = Video(id=stored.id, filename=stored.filename, size=stored.size, sha256=stored.sha256,
                          headline=headline, duration=round(stored.info.duration, 3), width=stored.info.width,
                          height=stored.info.height)
            job = Job(video=video, status=QUEUED)
            session.add_all([video, job])
        runner.notify()
        return video_json(video, job)

    @app.get("/api/videos", dependencies=[Depends(require_token)], tags=["videos"], summary="Uploaded videos, newest first")
    def list_videos(limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
        with sessions() as session:
            videos = session.scalars(select(Video).order_by(Video.created_at.desc()).limit(limit)).all()
            return [video_json(video, latest_job(session, video.id)) for video in videos]

    @app.get("/api/videos/{video_id}", dependencies=[Depends(require_token)], tags=["videos"],
             summary="One video, its latest job and, when done, its report")
    def read_video(video_id: str) -> dict[str, Any]:
        with sessions() as session:
            video = get_video(session, video_id)
            return video_json(video, latest_job(session, video.id), with_report=True)

    @app.get("/api/jobs/{job_id}", dependencies=[Depends(require_token)], tags=["videos"], summary="A job's status and progress")
    def read_job(job_id: int) -> dict[str, Any]:
        with sessions() as session:
            job = session.get(Job, job_id)
            if job is None:
                raise HTTPException(404, f"no job {job_id}")
            return job_json(job)

    @app.post("/api/videos/{video_id}/analyse", status_code=201, dependencies=[Depends(require_token)], tags=["videos"],
              summary="Queue the video's analysis again (after a failure, with new models, or with a new headline)")
    def reanalyse(video_id: str, body: AnalyseIn | None = None) -> dict[str, Any]:
        with sessions.begin() as session:
            video = get_video(session, video_id)
            current = latest_job(session, video.id)
            if current is not None and current.status not in (DONE, FAILED):
                raise HTTPException(409, f"video {video_id} is already being analysed (job {current.id})")
            if body is not None and "headline" in body.model_fields_set:
                video.headline = (body.headline or "").strip() or None
            job = Job(video=video, status=QUEUED)
            session.add(job)
        runner.notify()
        return job_json(job)

    @app.put("/api/videos/{video_id}/overlays", dependencies=[Depends(require_token)], tags=["videos"],
             summary="Correct the overlay lines' text: rewrites their SRT, WebVTT and JSON, the report and the "
                     "archive entry")
    def correct_overlays(video_id: str, body: OverlaysIn) -> dict[str, Any]:
        from reelkit.analyze.pipeline import write_report
        from reelkit.studio.worker import index_in_archive
        from reelkit.text.formats import TimedLine, write_results

        with sessions.begin() as session:
            video = get_video(session, video_id)
            job = latest_job(session, video.id)
            if job is None or job.id != body.job or job.status != DONE or not job.report:
                raise HTTPException(409, f"job {body.job} is not video {video_id}'s latest finished analysis; "
                                         "reload the page to correct the current one")
            report = dict(job.report)
            lines = report["overlays"]
            if len(body.texts) != len(lines):
                raise HTTPException(422, f"expected {len(lines)} texts, one per overlay line, got {len(body.texts)}")
            corrected, changed = [], 0
            for line, text in zip(lines, body.texts):
                text = " ".join(text.split())  # a subtitle cue's text is one line; a line break would end the cue
                if text and text != line["text"]:
                    line, changed = {**line, "text": text, "edited": True}, changed + 1
                if text:
                    corrected.append(line)
            report["overlays"] = corrected
            folder = store.report_dir(video.id)
            files = report["files"].get("overlays") or {}
            if files:
                write_results([TimedLine(**{k: line[k] for k in ("text", "start", "end", "box", "confidence")})
                               for line in corrected], folder / Path(next(iter(files.values()))).stem, files)
            write_report(report, folder)
            job.report = report
            response = {"job": job_json(job, with_report=True), "edited": changed, "removed": len(lines) - len(corrected)}
            title, day = video.headline or Path(video.filename).stem, video.created_at.date()
        index_in_archive(settings, folder, title=title, day=day)
        return response

    @app.delete("/api/videos/{video_id}", dependencies=[Depends(require_token)], tags=["videos"],
                summary="Delete a video: its upload, its jobs, every result and its archive entry")
    def delete_video(video_id: str) -> dict[str, Any]:
        with sessions.begin() as session:
            video = get_video(session, video_id)
            # One conditional statement, so that a runner claiming a queued job at this moment either
            # claims it first (and the video stays) or finds it gone.
            session.execute(delete(Job).where(Job.video_id == video.id, Job.status != RUNNING))
            running = session.scalars(select(Job.id).where(Job.video_id == video.id)).first()
            if running is not None:
                raise HTTPException(409, f"video {video_id} is being analysed (job {running}); delete it when the "
                                         "job has finished")
            session.execute(delete(Video).where(Video.id == video.id))
        removed = 0
        if settings.archive.is_file():
            from reelkit.archive import ArchiveIndex

            try:
                archive = ArchiveIndex(settings.archive)
                removed = archive.remove(archive.keys_matching(store.folder(video_id)))
            except ReelkitError as error:  # the video is gone either way; the bot then says so if asked
                logger.warning("video %s not removed from the archive: %s", video_id, error)
        store.delete(video_id)
        return {"deleted": video_id, "archive_entries_removed": removed}

    @app.get("/api/videos/{video_id}/results.zip", dependencies=[Depends(require_token)], tags=["videos"],
             summary="Every file of the video's latest finished analysis, report.html included, as one ZIP")
    def results_zip(video_id: str) -> StreamingResponse:
        with sessions() as session:
            video = get_video(session, video_id)
        try:
            files = sorted(p for p in store.report_dir(video.id).iterdir() if p.is_file())
        except FileNotFoundError:
            files = []
        if not files:
            raise HTTPException(404, f"video {video_id} has no finished analysis yet")
        archive = tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024)
        try:
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
                for path in files:  # names as the analysis wrote them, so that report.html's links still work
                    bundle.write(path, arcname=path.name)
        except FileNotFoundError:  # a new analysis replaced the folder meanwhile
            archive.close()
            raise HTTPException(409, f"video {video_id}'s results were being replaced; try again") from None
        archive.seek(0)

        def chunks():
            with archive:
                while block := archive.read(1 << 16):
                    yield block

        name = f"{Path(video.filename).stem or 'video'}-reelkit.zip"
        return StreamingResponse(chunks(), media_type="application/zip",
                                 headers={"Content-Disposition": f"attachment; filename*=utf-8''{quote(name)}"})

    @app.get("/media/{video_id}/{name}", dependencies=[Depends(require_token)], tags=["videos"],
             summary="A file of a video's analysis (thumbnails, heat maps, SRT/VTT/JSON, report.html)")
    def media(video_id: str, name: str, download: bool = False) -> FileResponse:
        try:
            path = store.report_file(video_id, name)
        except FileNotFoundError:
            raise HTTPException(404, "no such file") from None
        if not download:
            return FileResponse(path)
        with sessions() as session:
            video = get_video(session, video_id)
        # The analysis names its files after the stored "source.*"; downloads carry the uploaded name.
        stem = Path(video.filename).stem or "video"
        return FileResponse(path, filename=stem + name[len("source"):] if name.startswith("source") else name)

    # ---- API: headlines ---------------------------------------------------------------------------
    def _scorer():
        from reelkit.headlines import HeadlineScorer

        return HeadlineScorer()

    def _improver():
        from reelkit.headlines import HeadlineImprover

        return HeadlineImprover(scorer=scorer())

    scorer, improver = _Lazy(_scorer), _Lazy(_improver)
    bot = install_archive_routes(app, settings, sessions, require_token)

    def warm() -> None:
        try:
            improver()
            bot().warm_up()
        except ReelkitError as error:  # e.g. missing weights: the first request reports it
            logger.warning("models not preloaded: %s", error)

    app.state.warm_up = warm

    @app.post("/api/headlines/score", dependencies=[Depends(require_token)], tags=["headlines"],
              summary="Predicted views over the channel's typical views, per headline")
    def score_headlines(body: HeadlinesIn) -> list[dict[str, Any]]:
        headlines = [h.strip() for h in body.headlines if h.strip()]
        if not headlines:
            raise HTTPException(422, "headlines: give at least one non-blank headline")
        try:
            multipliers = scorer().multipliers(headlines)
            scores = scorer()(headlines)
        except ReelkitError as error:
            raise HTTPException(422, str(error)) from None
        return [{"headline": h, "score": round(float(s), 4), "multiplier": round(float(m), 3)}
                for h, s, m in zip(headlines, scores, multipliers)]

    @app.post("/api/headlines/improve", dependencies=[Depends(require_token)], tags=["headlines"],
              summary="Variants of a headline (and your alternatives), ranked, with a reason each")
    def improve_headline(body: ImproveIn) -> dict[str, Any]:
        try:
            variants = improver()(body.headline, alternatives=body.alternatives, n=body.n)
            original = scorer()([body.headline])[0]
        except ReelkitError as error:
            raise HTTPException(422, str(error)) from None
        return {"original": {"headline": body.headline, "score": round(float(original), 4)},
                "variants": [{"headline": v.text, "score": round(v.score, 4), "multiplier": round(v.multiplier, 3),
                              "reason": v.reason} for v in variants]}

    # ---- pages ------------------------------------------------------------------------------------
    def page(request: Request, name: str, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"version": __version__, **context})

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request, next: str = "/", failed: bool = False) -> HTMLResponse:
        return page(request, "login.html", next=_local(next), failed=failed)

    @app.post("/login", include_in_schema=False)
    def login(token: str = Form(...), next: str = Form("/")) -> RedirectResponse:
        if not hmac.compare_digest(token.strip().encode(), settings.token.encode()):
            return RedirectResponse(f"/login?failed=1&next={_local(next)}", status_code=303)
        response = RedirectResponse(_local(next), status_code=303)
        response.set_cookie(COOKIE, cookie_value, httponly=True, samesite="strict", max_age=30 * 24 * 3600)
        return response

    @app.post("/logout", include_in_schema=False)
    def logout() -> RedirectResponse:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/", response_class=HTMLResponse, include_in_schema=False, dependencies=[Depends(require_login)])
    def home(request: Request) -> HTMLResponse:
        with sessions() as session:
            videos = session.scalars(select(Video).order_by(Video.created_at.desc()).limit(200)).all()
            rows = []
            for video in videos:
                job = latest_job(session, video.id)
                thumbnails = (job.report or {}).get("thumbnails") if job is not None and job.status == DONE else None
                rows.append({**video_json(video, job),
                             "thumbnail_url": f"/media/{video.id}/{thumbnails[0]['image']}" if thumbnails else None})
            counts = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
        return page(request, "index.html", videos=rows, counts=counts,
                    max_upload_mb=settings.max_upload_bytes // (1024 * 1024))

    @app.get("/videos/{video_id}", response_class=HTMLResponse, include_in_schema=False,
             dependencies=[Depends(require_login)])
    def video_page(request: Request, video_id: str) -> HTMLResponse:
        with sessions() as session:
            video = get_video(session, video_id)
            data = video_json(video, latest_job(session, video.id), with_report=True)
        return page(request, "video.html", video=data, job=data["job"], report=(data["job"] or {}).get("report"))

    @app.get("/headlines", response_class=HTMLResponse, include_in_schema=False, dependencies=[Depends(require_login)])
    def headlines_page(request: Request) -> HTMLResponse:
        return page(request, "headlines.html")

    @app.get("/archive", response_class=HTMLResponse, include_in_schema=False, dependencies=[Depends(require_login)])
    def archive_page(request: Request) -> HTMLResponse:
        return page(request, "archive.html")

    return app


def _wants_page(request: Request) -> bool:
    """A browser asking for one of the studio's pages (not the API, media, or the API's schema)."""
    path = request.url.path
    return (request.method == "GET" and "text/html" in request.headers.get("accept", "")
            and not path.startswith(("/api/", "/media/", "/static/", "/openapi")))


def _local(target: str) -> str:
    """Only same-site paths after login: no open redirect to another host."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def install_archive_routes(app: FastAPI, settings: StudioSettings, sessions,
                           require_token: Callable[..., None]) -> _Lazy:
    """``/api/archive/ask``: the archive bot, with each conversation's state kept in the database;
    returns the bot's lazy builder."""

    def _bot():
        from reelkit.archive import ArchiveBot, ArchiveIndex

        return ArchiveBot(ArchiveIndex(settings.archive, create=True))

    bot = _Lazy(_bot)

    @app.post("/api/archive/ask", dependencies=[Depends(require_token)], tags=["archive"],
              summary="Ask the archive bot; pass conversation_id back to ask follow-ups")
    def ask(body: AskIn) -> dict[str, Any]:
        with sessions.begin() as session:
            conversation = session.get(Conversation, body.conversation_id) if body.conversation_id else None
            if conversation is None:
                conversation = Conversation(id=secrets.token_hex(16), state={}, messages=[])
                session.add(conversation)
            try:
                if len(bot().index) == 0:  # the bot's own message names the server's file and a CLI command
                    raise HTTPException(422, "the archive has no videos yet: upload one, and it joins the archive "
                                             "when its analysis is done")
                answer = bot().ask(body.question, dict(conversation.state or {}))
            except ReelkitError as error:  # the archive file's path stays on the server
                raise HTTPException(422, str(error).replace(str(settings.archive), settings.archive.name)) from None
            reply = answer.to_dict()
            reply.pop("state", None)
            reply["citations"] = [_public_citation(cited, settings, session) for cited in reply.get("citations", [])]
            conversation.state = answer.state
            conversation.messages = [*conversation.messages, {"role": "user", "text": body.question},
                                     {"role": "bot", **reply}]
            return {"conversation_id": conversation.id, "answer": reply}

    @app.get("/api/archive/conversations/{conversation_id}", dependencies=[Depends(require_token)], tags=["archive"],
             summary="A conversation's messages")
    def conversation(conversation_id: str) -> dict[str, Any]:
        with sessions() as session:
            found = session.get(Conversation, conversation_id) if len(conversation_id) == 32 else None
            if found is None:
                raise HTTPException(404, f"no conversation {conversation_id[:40]}")
            return {"conversation_id": found.id,
                    "messages": [_without_deleted_links(message, session) for message in found.messages]}

    return bot


def _without_deleted_links(message: dict[str, Any], session) -> dict[str, Any]:
    """A stored bot message whose citations of studio videos deleted since are marked ``deleted``, their
    links (which would open the "not found" page) dropped."""
    if message.get("role") != "bot" or not message.get("citations"):
        return message
    citations = []
    for cited in message["citations"]:
        url = cited.get("studio_url")
        if url and session.get(Video, url.rsplit("/", 1)[-1]) is None:
            cited = {key: value for key, value in cited.items() if key not in ("studio_url", "thumbnail_url")}
            cited["deleted"] = True
        citations.append(cited)
    return {**message, "citations": citations}


def _public_citation(cited: dict[str, Any], settings: StudioSettings, session) -> dict[str, Any]:
    """A citation as the browser sees it: studio uploads link to their page and media; no server paths."""
    path, thumbnail = cited.pop("path", None), cited.pop("thumbnail", None)
    if path and Path(path).parent.parent == settings.media_dir:
        video = session.get(Video, Path(path).parent.name)
        if video is not None:
            cited["studio_url"] = f"/videos/{video.id}"
            cited["filename"] = video.filename
            if thumbnail:
                cited["thumbnail_url"] = f"/media/{video.id}/{Path(thumbnail).name}"
    return cited
