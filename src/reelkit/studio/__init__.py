"""The studio: a web app for a creator team (upload, analysis jobs, results, headline lab, archive bot).

    reelkit studio --data reelkit-studio --port 8000

or from Python, ``uvicorn.run(create_app(StudioSettings(data_dir="reelkit-studio")))``. The JSON API
and its OpenAPI schema are at ``/api`` and ``/docs``.
"""

from reelkit.studio.app import create_app
from reelkit.studio.settings import StudioSettings

__all__ = ["StudioSettings", "create_app"]
