"""Shared fixtures live in tests/fixtures/; this file only wires them in."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.stripe_emulator",
    "tests.fixtures.tron_emulator",
    "tests.fixtures.qt",
    "tests.fixtures.smtp",
    "tests.fixtures.portal",
    "tests.fixtures.browser",
    "tests.fixtures.sshd",
    "tests.fixtures.singbox_api",
]
