"""Secrets at rest: sealed in the database, master key in a 0600 file without a keyring."""

from __future__ import annotations

import stat

import pytest
from cryptography.fernet import Fernet

from vpanel_core import secretbox, settings
from vpanel_core.errors import ValidationError
from vpanel_core.services import secret_settings
from vpanel_desktop.screens.settings import SettingsScreen

STRIPE = "sk_live_51Hsupersecretvalue"


def test_key_file_is_private_and_reused(tmp_path):
    first = secretbox.load(tmp_path, use_keyring=False)
    key_file = tmp_path / secretbox.KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "key file" in first.key_location
    sealed = first.seal("hunter2")
    assert sealed.startswith("enc:v1:") and "hunter2" not in sealed
    assert secretbox.load(tmp_path, use_keyring=False).open(sealed) == "hunter2"


def test_value_sealed_with_another_key_is_refused(tmp_path):
    sealed = secretbox.load(tmp_path, use_keyring=False).seal("x")
    other = secretbox.SecretBox(Fernet(Fernet.generate_key()), "test")
    with pytest.raises(ValidationError, match="cannot be decrypted"):
        other.open(sealed)


def test_saving_settings_seals_secrets_and_never_shows_them(desktop_ctx, qtbot, tmp_path):
    screen = SettingsScreen(desktop_ctx)
    qtbot.addWidget(screen)
    screen.fields["stripe_secret_key"].setText(STRIPE)
    screen.fields["portal_url"].setText("https://vpn.example.com")
    assert screen.save()
    with desktop_ctx.read() as session:
        stored = settings.get(session, "stripe_secret_key")
        assert settings.get(session, "portal_url") == "https://vpn.example.com"
        assert secret_settings.get(session, desktop_ctx.box, "stripe_secret_key") == STRIPE
    assert stored.startswith("enc:v1:")
    desktop_ctx.database.engine.dispose()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("desktop.db*"))
    assert STRIPE.encode() not in raw
    assert screen.fields["stripe_secret_key"].text() == ""
    assert "stored" in screen.fields["stripe_secret_key"].placeholderText()


def test_invalid_time_zone_is_reported_and_nothing_is_saved(desktop_ctx, qtbot):
    screen = SettingsScreen(desktop_ctx)
    qtbot.addWidget(screen)
    screen.fields["portal_url"].setText("https://changed.example.com")
    screen.fields["timezone"].setText("Mars/Olympus")
    assert not screen.save()
    assert "unknown time zone" in screen.message.text()
    with desktop_ctx.read() as session:
        assert settings.get(session, "portal_url") == settings.DEFAULTS["portal_url"]


def test_the_usage_collection_interval_is_shown_and_saved(desktop_ctx, qtbot):
    screen = SettingsScreen(desktop_ctx)
    qtbot.addWidget(screen)
    assert screen.collect_minutes.text() == "5 min"
    screen.collect_minutes.setValue(15)
    assert screen.save()
    with desktop_ctx.read() as session:
        assert settings.get(session, "usage_collect_minutes") == 15
    screen.collect_minutes.setValue(0)
    assert screen.collect_minutes.text() == "never (only when asked)"


def test_turning_automatic_collection_off_shows_in_the_status_bar(main_window, qtbot):
    line = main_window.usage_state
    qtbot.waitUntil(lambda: line.text().startswith("Usage: no enabled nodes · next "))
    screen = main_window.show_screen(SettingsScreen)
    screen.collect_minutes.setValue(0)
    assert screen.save()
    qtbot.waitUntil(lambda: line.text().endswith(" · automatic collection off"))
