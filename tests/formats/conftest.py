"""pytest wrappers around the reusable process helpers in tests/fixtures/clients.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import clients
from tests.formats.schema_lite import SchemaValidator


@pytest.fixture(scope="session")
def http_origin() -> Iterator[str]:
    with clients.http_origin() as url:
        yield url


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return clients.self_signed_cert(tmp_path_factory.mktemp("cert"))


@pytest.fixture(scope="session")
def sing_box_schema() -> SchemaValidator:
    return SchemaValidator(clients.sing_box_schema())


@pytest.fixture
def start_process() -> Iterator[Callable[[AbstractContextManager[Any]], Any]]:
    """Enter a process context manager (run_sing_box / run_mihomo) until the test ends."""
    with ExitStack() as stack:
        yield stack.enter_context
