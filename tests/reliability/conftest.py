"""Fixtures of this folder: the killable portal process, the captcha stub and a private
PostgreSQL cluster (tests/fixtures/portal_process.py, tests/fixtures/private_postgres.py)."""

from tests.fixtures.portal_process import portal_process, siteverify
from tests.fixtures.private_postgres import private_postgres

__all__ = ["portal_process", "private_postgres", "siteverify"]
