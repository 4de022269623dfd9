"""The killable portal process and captcha stub (tests/fixtures/portal_process.py) here."""

from tests.fixtures.portal_process import portal_process, siteverify

__all__ = ["portal_process", "siteverify"]
