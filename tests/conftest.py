"""Shared fixtures live in tests/fixtures/; this file only wires them in."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest_plugins = ["tests.fixtures.databases"]
