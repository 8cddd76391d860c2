"""The studio on PostgreSQL: a throwaway cluster (Debian's ``postgresql``) gets the same migrations,
uploads and job recovery as the default SQLite file."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reelkit.studio import StudioSettings, create_app
from reelkit.studio.db import QUEUED, RUNNING, Base, Job, make_engine, migrate, session_factory
from reelkit.studio.jobs import recover_interrupted
from tests.studio_server import TOKEN

BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)), None)


def _as_postgres(command: list[str]) -> list[str]:
    # initdb refuses to run as root; CI and this machine run tests as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def postgres_url():
    assert BIN is not None, "the PostgreSQL test needs Debian's postgresql package (setup.sh installs it)"
    pytest.importorskip("psycopg", reason="pip install 'reelkit[postgres]' for PostgreSQL support")
    folder = Path(tempfile.mkdtemp(prefix="reelkit-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", 5400 + os.getpid() % 500
    subprocess.run(_as_postgres([str(BIN), "-D", str(data), "-U", "reelkit", "--auth=trust", "-E", "UTF8"]),
                   check=True, capture_output=True)
    server = subprocess.Popen(_as_postgres([str(BIN.with_name("postgres")), "-D", str(data), "-p", str(port),
                                            "-k", str(folder), "-c", "listen_addresses="]),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"postgresql+psycopg://reelkit@/postgres?host={folder}&port={port}"
    try:
        engine = make_engine(url)
        for _ in range(100):
            try:
                with engine.connect():
                    break
            except Exception:
                time.sleep(0.1)
        engine.dispose()
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


def test_the_studio_runs_on_postgresql(postgres_url: str, tmp_path: Path, demo_video: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(postgres_url)
    migrate(engine)
    with engine.connect() as connection:
        assert connection.dialect.name == "postgresql"
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    settings = StudioSettings(data_dir=tmp_path / "studio", token=TOKEN, database_url=postgres_url)
    with TestClient(create_app(settings, run_jobs=False)) as client:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        created = client.post("/api/videos", params={"filename": "demo.mp4"}, content=demo_video.read_bytes(), headers=auth)
        assert created.status_code == 201
        video = created.json()
        assert client.get(f"/api/videos/{video['id']}", headers=auth).json()["job"]["status"] == QUEUED
        extra = client.post("/api/videos", params={"filename": "extra.mp4"}, content=demo_video.read_bytes(),
                            headers=auth).json()
        assert client.delete(f"/api/videos/{extra['id']}", headers=auth).status_code == 200
        assert [v["id"] for v in client.get("/api/videos", headers=auth).json()] == [video["id"]]
    sessions = session_factory(engine)
    with sessions.begin() as session:
        session.get(Job, video["job"]["id"]).status = RUNNING
    assert recover_interrupted(sessions, max_attempts=2) == [video["job"]["id"]]
    with sessions() as session:
        assert session.get(Job, video["job"]["id"]).status == QUEUED
    engine.dispose()
