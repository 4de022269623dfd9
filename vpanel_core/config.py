"""Where things live by default: one data directory, overridable by environment."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """`VPANEL_HOME`, else the XDG data directory; created on first use."""
    explicit = os.environ.get("VPANEL_HOME")
    if explicit:
        path = Path(explicit)
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(base) / "vpanel"
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url() -> str:
    """`VPANEL_DATABASE_URL` (e.g. postgresql://…), else SQLite in the data directory."""
    return os.environ.get("VPANEL_DATABASE_URL") or f"sqlite:///{data_dir() / 'vpanel.db'}"
