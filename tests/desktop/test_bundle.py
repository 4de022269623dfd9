"""The app's self-test: always from source; from the PyInstaller bundle when asked."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.fixtures.qt import ROOT

ENV = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}


def check_report(output: str) -> None:
    assert "self-test: 8/8 screens" in output
    assert "FAIL" not in output


def test_self_test_from_source_opens_every_screen(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "vpanel_desktop", "--self-test", "--lang", "zh_CN"],
        cwd=ROOT,
        env={**ENV, "VPANEL_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    check_report(result.stdout)
    assert "用户" in result.stdout


def test_without_display_explains_headless_use(tmp_path):
    env = {k: v for k, v in ENV.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(QT_QPA_PLATFORM="", VPANEL_HOME=str(tmp_path))
    code = (
        "import vpanel_desktop.__main__ as m, vpanel_desktop.services.portal_embed as p;"
        "p.serve_foreground = lambda: 7; raise SystemExit(m.main([]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 7
    assert "make portal" in result.stderr and "vpanel --help" in result.stderr


@pytest.mark.skipif(
    os.environ.get("VPANEL_TEST_PACKAGE") != "1", reason="set VPANEL_TEST_PACKAGE=1"
)
def test_pyinstaller_bundle_runs_self_test(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--distpath",
            str(tmp_path / "dist"),
            "--workpath",
            str(tmp_path / "build"),
            "build.spec",
        ],
        cwd=ROOT,
        check=True,
        timeout=1800,
    )
    binary = tmp_path / "dist" / "vpanel" / "vpanel"
    result = subprocess.run(
        [str(binary), "--self-test"],
        env={**ENV, "VPANEL_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    check_report(result.stdout)
