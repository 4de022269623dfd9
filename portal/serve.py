"""`vpanel-portal`: the portal on waitress, configured from the environment.

VPANEL_PORTAL_HOST (127.0.0.1), VPANEL_PORTAL_PORT (8080), VPANEL_PORTAL_THREADS (8),
VPANEL_PORTAL_CONNECTIONS (1000: open client connections, and the listen backlog);
DATABASE_URL or VPANEL_DATABASE_URL for PostgreSQL, else the local SQLite database.
The schema is migrated on start (idempotent, safe with several processes: Alembic runs
in one transaction per process and revisions are skipped once applied).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os

from portal.app import close_app, create_app
from portal.config import PortalConfig
from portal.http_server import serve
from portal.log_writer import move_to_background, tune_logging

log = logging.getLogger("portal")


def database_label(url: str) -> str:
    """Backend and database name only: the URL may carry a password."""
    backend = url.split(":", 1)[0]
    return f"{backend} ({url.rsplit('/', 1)[-1].split('?', 1)[0]})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="vpanel-portal", description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        choices=("serve", "pair-code"),
        default="serve",
        help="serve (default), or print a one-time code to pair the operator's desktop",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("VPANEL_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    tune_logging()
    writer = move_to_background()
    try:
        run(args.command)
    finally:
        writer.stop()


def run(command: str) -> None:
    config = PortalConfig.from_env()
    host = os.environ.get("VPANEL_PORTAL_HOST", "127.0.0.1")
    port = int(os.environ.get("VPANEL_PORTAL_PORT", "8080"))
    threads = int(os.environ.get("VPANEL_PORTAL_THREADS", "8"))
    connections = int(os.environ.get("VPANEL_PORTAL_CONNECTIONS", "1000"))
    app = create_app(config)
    # What the app holds from here on (modules, mappers, templates) lives as long as the
    # process: out of the cyclic collector's reach, a full collection walks only what
    # serving creates (at 100,000 users it paused every thread for 60-90 ms).
    gc.freeze()
    if command == "pair-code":
        print(app.extensions["vpanel_sync"].issue_pairing_code())
        return
    if not config.public_url:
        log.warning("VPANEL_PORTAL_URL is not set; links in e-mails follow the request's Host")
    log.info(
        "portal on http://%s:%d, database %s, captcha %s",
        host,
        port,
        database_label(config.database_url),
        config.captcha.provider,
    )
    # waitress strips X-Forwarded-* by default, so ProxyFix (VPANEL_TRUSTED_PROXY_HOPS)
    # would see every client as the proxy and one rate-limit window would cover them all.
    try:
        serve(
            app,
            host=host,
            port=port,
            threads=threads,
            connection_limit=connections,
            backlog=connections,
            ident="vpanel",
            clear_untrusted_proxy_headers=not config.trusted_proxy_hops,
        )
    finally:
        close_app(app)


if __name__ == "__main__":
    main()
