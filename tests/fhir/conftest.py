"""A dev-mode server app on a temporary data directory, and a FHIR server stand-in (httpx.MockTransport)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from fastapi.testclient import TestClient

    from cds.server import ServerConfig, create_app

    app = create_app(ServerConfig(data_dir=tmp_path_factory.mktemp("srv") / "data", dev=True))
    with TestClient(app) as client:
        yield client
