"""Qt translations: compiled .qm catalogs from resources/translations, switchable live.

Strings are marked with `translator("Context")` helpers (one context per screen) that
call `QCoreApplication.translate`, so they work in plain functions and models too.
Installing a translator makes Qt send LanguageChange to every widget, and each
screen re-reads its labels in `retranslate_ui`.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QTranslator

from vpanel_desktop.paths import translations_dir

LANGUAGES = {"en": "English", "zh_CN": "简体中文"}
_installed: list[QTranslator] = []


def translator(context: str) -> Callable[[str], str]:
    def tr(text: str) -> str:
        return QCoreApplication.translate(context, text)

    return tr


def set_language(lang: str) -> bool:
    """Switch the running app's language; returns False if no catalog was found."""
    app = QCoreApplication.instance()
    if app is None:
        raise RuntimeError("create the QApplication before choosing a language")
    for old in _installed:
        app.removeTranslator(old)
    _installed.clear()
    if lang == "en":
        return True
    catalog = QTranslator(app)
    if not catalog.load(f"vpanel_{lang}", str(translations_dir())):
        return False
    app.installTranslator(catalog)
    _installed.append(catalog)
    return True


def normalize(lang: str) -> str:
    """'zh-CN', 'zh_cn', 'zh' → 'zh_CN'; anything else unknown → 'en'."""
    key = lang.replace("-", "_").lower()
    if key.startswith("zh"):
        return "zh_CN"
    return "en"
