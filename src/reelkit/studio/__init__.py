"""The studio: a web app for a creator team (upload, analysis jobs, results, headline lab, archive bot).

    reelkit studio --data reelkit-studio --port 8000

or from Python, ``uvicorn.run(create_app(StudioSettings(data_dir="reelkit-studio")))``. The JSON API
and its OpenAPI schema are at ``/api`` and ``/docs``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["StudioSettings", "create_app"]


def __getattr__(name: str) -> Any:
    # Imported on first use: FastAPI and SQLAlchemy cost every other reelkit command a second at start-up.
    if name == "create_app":
        from reelkit.studio.app import create_app

        return create_app
    if name == "StudioSettings":
        from reelkit.studio.settings import StudioSettings

        return StudioSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
