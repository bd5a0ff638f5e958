"""``cds serve``: the web app and the CDS Hooks service (docs/it-deployment.md)."""

from cds.server.app import create_app
from cds.server.config import ServerConfig, TokenStore, check_bind, prepare_data_dir

__all__ = ["ServerConfig", "TokenStore", "check_bind", "create_app", "prepare_data_dir"]
