"""`python -m vpanel_desktop`: the operator app with an embedded local portal.

Without a display it says how to work headless and serves the portal in the
foreground; `--self-test` opens every screen offscreen and exits (bundle check).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence

HEADLESS_HELP = """vpanel: no display found (DISPLAY / WAYLAND_DISPLAY unset).
Work headless with:
  vpanel --help          users, plans, nodes and settings from the command line
  make portal            the customer portal alone (waitress)
Starting the portal in the foreground now (Ctrl+C to stop)."""


def has_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal", "vnc"):
        return True
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vpanel-desktop", description=__doc__)
    parser.add_argument("--lang", choices=("en", "zh_CN"), help="interface language")
    parser.add_argument("--self-test", action="store_true", help="open every screen and exit")
    parser.add_argument("--no-portal", action="store_true", help="do not start the local portal")
    return parser.parse_args(argv)


def self_test(lang: str | None) -> int:
    """Open each screen offscreen on a scratch database; print one line per screen."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    scratch = tempfile.mkdtemp(prefix="vpanel-selftest-")
    os.environ["VPANEL_HOME"] = scratch
    from PySide6.QtCore import QThreadPool
    from PySide6.QtWidgets import QApplication

    from vpanel_desktop.app import make_context, start_ui

    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    started = time.perf_counter()
    ctx = make_context(use_keyring=False)
    window = start_ui(app, ctx, lang)
    window.show()
    failures = 0
    for cls, screen in window.screens.items():
        window.show_screen(cls)
        app.processEvents()
        ok = screen.isVisible() and not screen.grab().isNull()
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {cls.__name__}: {screen.title()}")
    window.close()
    QThreadPool.globalInstance().waitForDone(10_000)
    print(
        f"self-test: {len(window.screens) - failures}/{len(window.screens)} screens "
        f"in {time.perf_counter() - started:.2f}s; secrets key: {ctx.box.key_location}"
    )
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.self_test:
        return self_test(args.lang)
    if not has_display():
        print(HEADLESS_HELP, file=sys.stderr)
        from vpanel_desktop.services import portal_embed

        return portal_embed.serve_foreground()
    from PySide6.QtWidgets import QApplication

    from vpanel_desktop.app import make_context, start_ui
    from vpanel_desktop.services import portal_embed

    app = QApplication(sys.argv[:1])
    ctx = make_context()
    auto_backup()
    portal = None if args.no_portal else portal_embed.start(ctx.database)
    ctx.portal_url = portal.url if portal else ""
    window = start_ui(app, ctx, args.lang)
    window.show()
    code = app.exec()
    if portal is not None:
        portal.stop()
    auto_backup()
    return int(code)


def auto_backup() -> None:
    """Daily rotated backup of the local SQLite master copy, at start and at exit."""
    from vpanel_core import config
    from vpanel_core.backup import backup_if_due, sqlite_path
    from vpanel_core.errors import DomainError

    try:
        database = sqlite_path(config.database_url())
    except DomainError:
        return
    backup_if_due(database, config.data_dir() / "backups")


if __name__ == "__main__":
    raise SystemExit(main())
