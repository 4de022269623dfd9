"""Refresh vpanel_<lang>.ts from the sources and compile it to .qm.

Strings are found with `ast` (calls to a module's `tr = translator("Context")`), so
implicit string concatenation is handled like Python does. Existing translations are
kept; new strings are added as unfinished. Usage:
    .venv/bin/python resources/translations/update_ts.py [zh_CN]
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = HERE.parent.parent / "vpanel_desktop"


def extract() -> dict[str, list[str]]:
    """Context → source strings, in first-seen order."""
    found: dict[str, list[str]] = {}
    for path in sorted(SOURCES.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        context = None
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", "") == "translator"
                and any(getattr(t, "id", "") == "tr" for t in node.targets)
            ):
                context = node.value.args[0].value  # type: ignore[attr-defined]
        if context is None:
            continue
        strings = found.setdefault(context, [])
        for call in ast.walk(tree):
            if (
                isinstance(call, ast.Call)
                and getattr(call.func, "id", "") == "tr"
                and call.args
                and isinstance(call.args[0], ast.Constant)
                and isinstance(call.args[0].value, str)
                and call.args[0].value not in strings
            ):
                strings.append(call.args[0].value)
    return found


def existing(path: Path) -> dict[tuple[str, str], str]:
    if not path.exists():
        return {}
    result = {}
    # Our own checked-in catalog, not untrusted input.
    for context in ET.parse(path).getroot().iter("context"):  # noqa: S314
        name = context.findtext("name", "")
        for message in context.iter("message"):
            text = message.findtext("translation") or ""
            if text:
                result[(name, message.findtext("source", ""))] = text
    return result


def write(lang: str) -> tuple[int, int]:
    path = HERE / f"vpanel_{lang}.ts"
    known = existing(path)
    root = ET.Element("TS", version="2.1", language=lang)
    total = missing = 0
    for context, strings in extract().items():
        node = ET.SubElement(root, "context")
        ET.SubElement(node, "name").text = context
        for source in strings:
            message = ET.SubElement(node, "message")
            ET.SubElement(message, "source").text = source
            translation = ET.SubElement(message, "translation")
            text = known.get((context, source), "")
            total += 1
            if text:
                translation.text = text
            else:
                missing += 1
                translation.set("type", "unfinished")
    ET.indent(root)
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE TS>\n'
        + ET.tostring(root, encoding="unicode")
        + "\n"
    )
    lrelease = shutil.which("pyside6-lrelease") or str(
        Path(sys.executable).with_name("pyside6-lrelease")
    )
    subprocess.run([lrelease, str(path), "-qm", str(path.with_suffix(".qm"))], check=True)
    return total, missing


if __name__ == "__main__":
    for language in sys.argv[1:] or ["zh_CN"]:
        count, todo = write(language)
        print(f"{language}: {count} strings, {todo} untranslated")
