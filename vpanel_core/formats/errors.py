"""Errors of the format engine: values with a machine-readable code (see STYLE.md)."""

from __future__ import annotations


class FormatError(Exception):
    """Base error; `code` is what an API response carries."""

    code = "FORMAT_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownFormat(FormatError):
    """A format name that no generator answers to."""

    code = "INVALID_FORMAT"


class InvalidRule(FormatError):
    """An operator-edited User-Agent rule that cannot be used."""

    code = "INVALID_UA_RULE"


class ParseError(FormatError):
    """Input (link, YAML, JSON) that does not describe a proxy we understand."""

    code = "INVALID_PROXY_CONFIG"
