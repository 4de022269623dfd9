"""The embedded local portal: the portal engineer's Flask app served by waitress in a
daemon thread, on 127.0.0.1 only, sharing the desktop's database."""

from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass
from typing import Any

from vpanel_core.runtime import Database

log = logging.getLogger(__name__)
PREFERRED_PORT = 8080


@dataclass
class EmbeddedPortal:
    url: str
    server: Any
    thread: threading.Thread

    def stop(self) -> None:
        self.server.close()


def start(
    database: Database, host: str = "127.0.0.1", port: int = PREFERRED_PORT
) -> EmbeddedPortal | None:
    """Start the portal if it is installed; 8080 when free, else any free port."""
    try:
        app_module = importlib.import_module("portal.app")
        config_module = importlib.import_module("portal.config")
        from waitress.server import create_server
    except ImportError as exc:
        log.info("portal not available: %s", exc)
        return None
    app = app_module.create_app(config_module.PortalConfig.from_env(), database=database)
    try:
        server = create_server(app, host=host, port=port, threads=4)
    except OSError:
        server = create_server(app, host=host, port=0, threads=4)
    url = f"http://{host}:{server.effective_port}"
    thread = threading.Thread(target=server.run, name="embedded-portal", daemon=True)
    thread.start()
    log.info("embedded portal on %s", url)
    return EmbeddedPortal(url, server, thread)


def serve_foreground() -> int:
    """Headless: the portal alone, as `make portal` runs it."""
    serve = importlib.import_module("portal.serve")
    return int(serve.main() or 0)
