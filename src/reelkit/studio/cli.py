"""``reelkit studio``: start the web app, registered on the main app by :mod:`reelkit.cli`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def studio_command(
    data: Path = typer.Option(Path("reelkit-studio"), "--data", envvar="REELKIT_DATA",
                              help="Folder for the database, uploads, results and the token."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 for every interface)."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, min=0, max=16, help="Analyses run at once (0: queue uploads, analyse nothing)."),
    max_upload_mb: float = typer.Option(500, min=1, help="Largest upload accepted, in MB."),
    archive: Optional[Path] = typer.Option(None, envvar="REELKIT_ARCHIVE",
                                           help="Archive for the bot (from `reelkit archive index`); default DATA/archive.sqlite."),
    words: Optional[Path] = typer.Option(None, envvar="REELKIT_WORDS",
                                         help="A text file of your names, brands and slang for the overlay reader's word "
                                              "list; each analysis reads it again."),
) -> None:
    """Start the studio web app: uploads, analysis jobs, results, headline lab and archive bot."""
    import uvicorn
    from rich.console import Console

    from reelkit.studio import StudioSettings, create_app
    from reelkit.text.lexicon import read_word_list

    _check_port(host, port)
    if words is not None:
        read_word_list(words)  # a bad list fails now; each analysis reads it again, so edits need no restart
    settings = StudioSettings(data_dir=data, max_upload_bytes=int(max_upload_mb * 1024 * 1024),
                              workers=workers, archive=archive, words=words)
    app = create_app(settings, run_jobs=workers > 0, warm_up=True)
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(f"reelkit studio on http://{host}:{port}/  data: {settings.data_dir}  "
                  f"token: {settings.token}  (sign in with it, or send Authorization: Bearer TOKEN)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _check_port(host: str, port: int) -> None:
    """Fail in one line before the database and models are touched, rather than in uvicorn's log."""
    import socket

    from reelkit.errors import StudioError

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        raise StudioError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
