"""Block-style YAML for the JSON-like documents the Clash formats build (issue #10).

PyYAML, even with the libyaml emitter, spent most of a 100-proxy profile's render time
building nodes and resolving tags. Our documents hold only dicts, lists, str, int and
bool, so writing the text directly is several times faster. A string goes out plain
only when a conservative check proves that YAML 1.1 and 1.2 parsers alike (PyYAML,
libyaml, mihomo's go-yaml) read it back as the same string; anything else is
double-quoted on one line with every break, control or non-character escaped.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# ASCII, starting with a letter, `_` or `/` (so never a number, date, `~`, `<<`, `=` or an
# indicator); no `#`, no `: `, no trailing `:` or space, so never a comment or a key.
_PLAIN = re.compile(r"[A-Za-z_/](?:[\w./@+=,-]|:(?=[^ ]))*(?: (?:[\w./@+=,-]|:(?=[^ ]))+)*", re.A)
# Letter-only words YAML 1.1 reads as bool or null (1.2's are a subset), any case.
_KEYWORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})
# Quote and backslash; C0/C1 controls; NEL, LS, PS (YAML 1.1 line breaks); the BOM and
# the non-characters U+FFFE/U+FFFF; and lone surrogates, to refuse them.
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]')
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Longer keys are written explicitly (`? key`): parsers refuse implicit keys over
# 1,024 characters, and libyaml's own emitter switches at 128.
_MAX_IMPLICIT_KEY = 128


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if "\ud800" <= char <= "\udfff":
        # not Unicode text: neither UTF-8 nor a YAML escape (libyaml, go-yaml) can carry it
        raise ValueError(f"lone surrogate U+{ord(char):04X} cannot be written as YAML")
    return _SHORT_ESCAPES.get(char) or f"\\u{ord(char):04X}"


@lru_cache(maxsize=4096)
def _string(value: str) -> str:
    """`value` as a one-line scalar. Cached: keys and most values repeat across proxies."""
    if _PLAIN.fullmatch(value) and value.lower() not in _KEYWORDS:
        return value
    return '"' + _NEEDS_ESCAPE.sub(_escape, value) + '"'


def _inline(value: Any) -> str | None:
    """The one-line text of a scalar or an empty collection; None for a non-empty one."""
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return None if value else "{}"
    if isinstance(value, list):
        return None if value else "[]"
    raise TypeError(f"cannot dump {type(value).__name__}")


def _block(out: list[str], value: dict[str, Any] | list[Any], first: str, indent: str) -> None:
    """Append a non-empty dict or list as block lines: the first starts with `first`
    (it may continue a `- ` line), the rest with `indent`. Lists under a key are not
    indented, as PyYAML writes them."""
    head = first
    if isinstance(value, dict):
        for key, item in value.items():
            text = _string(key)
            if len(text) > _MAX_IMPLICIT_KEY:
                out.append(f"{head}? {text}\n")
                head, text = indent, ""
            line = _inline(item)
            if line is not None:
                out.append(f"{head}{text}: {line}\n")
            else:
                out.append(f"{head}{text}:\n")
                inner = indent + "  " if isinstance(item, dict) else indent
                _block(out, item, inner, inner)
            head = indent
    else:
        for item in value:
            line = _inline(item)
            if line is not None:
                out.append(f"{head}- {line}\n")
            else:
                _block(out, item, head + "- ", indent + "  ")
            head = indent


def dump_yaml(doc: dict[str, Any]) -> str:
    """`doc` (str keys; dict, list, str, int and bool values) as block-style YAML that
    `yaml.safe_load` and the Clash clients read back as `doc`."""
    if not doc:
        return "{}\n"
    out: list[str] = []
    _block(out, doc, "", "")
    return "".join(out)
