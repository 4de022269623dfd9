"""Open the desktop's Users screen offscreen on a database; print the process's RSS.

usage: python -m bench.loadgen.desktop_rss <database URL> <scratch dir>
A separate process so that the figure is the desktop's alone, not the benchmark's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QApplication

from vpanel_core import secretbox
from vpanel_core.runtime import open_database
from vpanel_desktop.context import AppContext
from vpanel_desktop.screens.users import UsersScreen


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> None:
    app = QApplication.instance() or QApplication([])
    db = open_database(sys.argv[1])
    ctx = AppContext(db, secretbox.load(Path(sys.argv[2]), use_keyring=False))
    screen = UsersScreen(ctx)
    screen.show()
    app.processEvents()
    for _ in range(5):  # scroll a few pages, as an operator would
        screen.model.fetchMore()
        app.processEvents()
    QThreadPool.globalInstance().waitForDone()
    app.processEvents()
    print(f"RSS {status_kib('VmRSS')} {status_kib('VmHWM')}")


if __name__ == "__main__":
    main()
