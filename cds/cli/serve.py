"""``cds serve``: the web app and the CDS Hooks service (FastAPI on uvicorn), 127.0.0.1 by default."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer()


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", envvar="CDS_DATA_DIR", help="Uploads, outputs and the decision log (0700).")
    ] = Path("cds-data"),
    dev: Annotated[bool, typer.Option("--dev", help="Local test mode: loopback only, no authentication.")] = False,
    reset_token: Annotated[bool, typer.Option("--reset-token", help="Make a new access token.")] = False,
    public_url: Annotated[
        str | None, typer.Option("--public-url", help="Base URL behind a reverse proxy (for card links).")
    ] = None,
) -> None:
    """Start the server. The access token is made at first start and shown once (only its hash is kept)."""
    import uvicorn

    from cds.errors import CdsError
    from cds.server import ServerConfig, TokenStore, check_bind, create_app, prepare_data_dir

    try:
        check_bind(host, dev)
    except CdsError as exc:
        raise typer.BadParameter(str(exc), param_hint="--dev") from exc
    folder = prepare_data_dir(data_dir)
    token = None if dev else TokenStore(folder).ensure(reset=reset_token)
    if token:
        typer.echo(f"access token (shown once; log in with it, or send 'Authorization: Bearer <token>'): {token}")
    mode = "dev mode (no authentication)" if dev else "token required"
    typer.echo(f"cds serve: http://{host}:{port}/ ({mode}); data in {folder}", err=True)
    config = ServerConfig(data_dir=folder, dev=dev, public_url=public_url)
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning", access_log=False)
